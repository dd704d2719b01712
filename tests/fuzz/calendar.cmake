# The schedule parser.  calendar.c and tzfile.c are compiled into the
# target (as ctl_server.c is into fuzz_ctl) so they carry the fuzzer's
# coverage instrumentation: linked from loopd_core, they were fuzzed blind
# (coverage 25 instead of about 700).
loopd_fuzz_target(fuzz_calendar fuzz_calendar.c
  ${PROJECT_SOURCE_DIR}/daemon/calendar.c ${PROJECT_SOURCE_DIR}/daemon/tzfile.c)
