# The exec plugin's output buffer (plugins/exec/output.c), compiled in:
# the plugin is a MODULE, so its pure parts are tested from source.
loopd_unit_test(test_exec_output test_exec_output.c
  ${PROJECT_SOURCE_DIR}/plugins/exec/output.c)
target_include_directories(test_exec_output PRIVATE
  ${PROJECT_SOURCE_DIR}/plugins/exec)
