# The bundled kinds' args parsers, the path of each kind's validate.  As
# with ctl.cmake and calendar.cmake, each parser's source is compiled into
# its target so that libFuzzer's coverage instruments it (the plugins are
# MODULEs: nothing links their objects).  fuzz_args.c is the checks the
# three share.
foreach(kind sql files exec)
  set(dir ${PROJECT_SOURCE_DIR}/plugins/${kind})
  if(kind STREQUAL exec)
    set(parser ${dir}/args.c)
  else()
    set(parser ${dir}/${kind}_args.c)
  endif()
  loopd_fuzz_target(fuzz_${kind}_args fuzz_${kind}_args.c fuzz_args.c
    ${parser})
  target_include_directories(fuzz_${kind}_args PRIVATE ${dir})
endforeach()
