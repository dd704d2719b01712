# The exec plugin's test helpers (tests/integration/exec.sh runs them):
# exec_probe, a job that reports how it was started, and exec_harness,
# which runs plugins/exec under the real loop without the scheduler.
add_executable(exec_probe ${CMAKE_CURRENT_LIST_DIR}/exec_probe.c)
add_executable(exec_harness ${CMAKE_CURRENT_LIST_DIR}/exec_harness.c)
target_link_libraries(exec_harness PRIVATE loopd_core)
set_target_properties(exec_probe exec_harness PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/plugins)
# The tests need the plugin itself built too.
add_dependencies(exec_harness exec)
