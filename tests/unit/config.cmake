loopd_unit_test(test_config test_config.c)
