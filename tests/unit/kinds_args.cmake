# The sql and files kinds' args, the files kind's durations and the output
# escaping (plugins/sql/sql_args.c, plugins/files/files_args.c and
# plugins/common/sbuf.c), compiled in: the plugins are MODULEs, so their pure parts are
# tested from source.
loopd_unit_test(test_sql_args test_sql_args.c
  ${PROJECT_SOURCE_DIR}/plugins/sql/sql_args.c)
target_include_directories(test_sql_args PRIVATE
  ${PROJECT_SOURCE_DIR}/plugins/sql ${PROJECT_SOURCE_DIR}/plugins/common)
loopd_unit_test(test_files_args test_files_args.c
  ${PROJECT_SOURCE_DIR}/plugins/files/files_args.c
  ${PROJECT_SOURCE_DIR}/plugins/common/sbuf.c)
target_include_directories(test_files_args PRIVATE
  ${PROJECT_SOURCE_DIR}/plugins/files ${PROJECT_SOURCE_DIR}/plugins/common)
