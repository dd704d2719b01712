# loopctl's unit tests link loopctl_core (ctl/CMakeLists.txt), not
# loopd_core: both hold calendar.c and tzfile.c, and a client's tests
# should see the client's build of them.
if(TARGET loopctl_core)
  add_executable(test_loopctl test_loopctl.c)
  target_include_directories(test_loopctl PRIVATE ${CMOCKA_INCLUDE})
  target_link_libraries(test_loopctl PRIVATE loopctl_core ${CMOCKA_LIB})
  add_test(NAME unit.test_loopctl COMMAND test_loopctl)
  set_tests_properties(unit.test_loopctl PROPERTIES LABELS unit TIMEOUT 300)
endif()
