loopd_unit_test(test_pool test_pool.c)
loopd_unit_test(test_hist test_hist.c)
