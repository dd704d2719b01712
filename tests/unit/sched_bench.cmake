# The scheduler's benchmark of issue 3 (1M jobs cold start, 10,000 jobs due
# in one second, 10,000 jobs every second): not a test, run by hand
# (build/tests/bench/sched_bench) or by tests/bench/run.sh.  Built in every
# build, like store_bench, so it never rots.  The --wrap options route
# loopd's own allocations through the bench's tally (--alloc).
add_executable(sched_bench ${PROJECT_SOURCE_DIR}/tests/bench/sched_bench.c)
target_link_libraries(sched_bench PRIVATE loopd_core)
target_link_options(sched_bench PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free)
set_target_properties(sched_bench PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/bench)
