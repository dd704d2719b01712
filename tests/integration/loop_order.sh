#!/usr/bin/env bash
# loop_order.sh - the order of the loop's phases as plugins see it
# (ARCHITECTURE.md "The loop, one iteration"): scenarios 1, 2, 3 and 6 of
# the loop tracker.  Each test plugin prints its callbacks as they run;
# the header of each tests/plugins/lt_*.c says why a broken loop changes
# its sequence.
set -euo pipefail
source "$(dirname "$0")/loop_common.bash" "$@"

# 1. From init: timers, then pending, then check.
from_init() {
	run_loopd order_init --plugin "$(plugin lt_order_init)"
	expect_status order_init 0
	expect_output order_init <<-'EOF_'
	init
	timer
	deferred
	immediate
	EOF_
}

# 2. From a blocking job's done (poll phase): the immediate in this
# iteration's check phase; the 0 ms timer, then the deferred callback, in
# the next iteration.
from_done() {
	run_loopd order_done --plugin "$(plugin lt_order_done)"
	expect_status order_done 0
	expect_output order_done <<-'EOF_'
	done 7
	immediate
	timer
	deferred
	EOF_
}

# 3. From a timer: the immediate first, the new 0 ms timer next
# iteration.  From an immediate: the new immediate after the next
# iteration's timers.
from_timer() {
	run_loopd order_timer --plugin "$(plugin lt_order_timer)"
	expect_status order_timer 0
	expect_output order_timer <<-'EOF_'
	timer A
	immediate I1
	timer B
	timer C
	immediate I2
	EOF_
}

# 6. Close callbacks after the check callbacks of the same iteration.
close_after_check() {
	run_loopd close_order --plugin "$(plugin lt_close_order)"
	expect_status close_order 0
	expect_output close_order <<-'EOF_'
	timer T1
	immediate I
	close callback C
	timer T2
	EOF_
}

scenario "1. from init: timer, deferred, immediate" from_init
scenario "2. from done: immediate, timer, deferred" from_done
scenario "3. from a timer and an immediate: A, I1, B, C, I2" from_timer
scenario "6. close callbacks after check callbacks" close_after_check
finish
