loopd_unit_test(test_sched test_sched.c)
