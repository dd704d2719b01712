loopd_unit_test(test_calendar test_calendar.c)
