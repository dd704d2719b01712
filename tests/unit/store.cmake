# The store's tests: the cmocka unit test, and two programs that are not
# tests by themselves: store_crash_adds (driven by
# tests/integration/store_crash.sh and store_diskfull.sh) and store_bench
# (the group-commit benchmark, run by hand: build/tests/bench/store_bench).
loopd_unit_test(test_store test_store.c)

add_executable(store_crash_adds ${PROJECT_SOURCE_DIR}/tests/store/crash_adds.c)
target_link_libraries(store_crash_adds PRIVATE loopd_core)
set_target_properties(store_crash_adds PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/store)

add_executable(store_bench ${PROJECT_SOURCE_DIR}/tests/bench/store_bench.c)
target_link_libraries(store_bench PRIVATE loopd_core)
set_target_properties(store_bench PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/bench)
