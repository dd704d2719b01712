loopd_unit_test(test_timer test_timer.c)
