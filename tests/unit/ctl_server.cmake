# The varlink control socket (daemon/ctl_server.c): framing, limits,
# levels, the socket file's rules and org.varlink.service.
loopd_unit_test(test_ctl_server test_ctl_server.c)
