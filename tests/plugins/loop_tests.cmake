# Loop test plugins: one per scenario of tests/integration/loop_*.sh and
# plugin_refuse.sh, which run them through `loopd --no-socket` and compare
# what they print.  lt.h holds their shared helpers.
foreach(t order_init order_done order_timer timers unref empty close_order
    pool_cancel watch_post wrong_thread init_fail many_jobs stuck post_fail
    far_timer slow crash)
  loopd_test_plugin(lt_${t} ${CMAKE_CURRENT_LIST_DIR}/lt_${t}.c)
endforeach()
find_package(Threads REQUIRED)
target_link_libraries(lt_pool_cancel PRIVATE Threads::Threads)
target_link_libraries(lt_watch_post PRIVATE Threads::Threads)
target_link_libraries(lt_wrong_thread PRIVATE Threads::Threads)

# lt_refuse.c, spoilt one way per copy (see its header).  lt_dup_a and
# lt_dup_b are two files with one plugin name.
set(lt_refuse_variants
  "lt_refuse_abi\;LT_ABI_MAJOR=2"
  "lt_refuse_magic\;LT_MAGIC=0xdeadbeefu"
  "lt_refuse_nosym\;LT_NO_SYMBOL"
  "lt_refuse_name\;LT_NAME=\"Bad-Name\""
  "lt_dup_a\;LT_NAME=\"lt_dup\""
  "lt_dup_b\;LT_NAME=\"lt_dup\"")
foreach(v ${lt_refuse_variants})
  list(GET v 0 name)
  list(GET v 1 def)
  loopd_test_plugin(${name} ${CMAKE_CURRENT_LIST_DIR}/lt_refuse.c)
  target_compile_definitions(${name} PRIVATE ${def} LT_TARGET="${name}")
endforeach()
