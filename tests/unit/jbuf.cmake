loopd_unit_test(test_jbuf test_jbuf.c)
