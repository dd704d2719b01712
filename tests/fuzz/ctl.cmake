# The control socket's framing, parsing and dispatch.  ctl_server.c is
# compiled into the target itself (its symbols then win over the core
# library's copy) so that libFuzzer's coverage instruments it.
loopd_fuzz_target(fuzz_ctl fuzz_ctl.c ${PROJECT_SOURCE_DIR}/daemon/ctl_server.c)
