loopd_unit_test(test_loop test_loop.c)
