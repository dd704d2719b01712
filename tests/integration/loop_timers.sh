#!/usr/bin/env bash
# loop_timers.sh - timers (scenarios 4 and 5 of the loop tracker): equal
# deadlines fire in start order, nothing fires early, a closed interval
# stops; an unreferenced timer neither keeps loopd alive nor fires after
# the last referenced handle, and a plugin that registers nothing lets
# loopd exit at once.
set -euo pipefail
source "$(dirname "$0")/loop_common.bash" "$@"

# 4. Checked inside lt_timers.so and summed up at its shutdown; an early
# timer also prints an EARLY line of its own.
order_and_timeliness() {
	run_loopd timers --plugin "$(plugin lt_timers)"
	expect_status timers 0
	expect_output timers <<-'EOF_'
	same-duration timers fired in start order: yes (64 of 64)
	equal-deadline timers fired in start order: yes (8 of 8)
	timers fired: 100 of 100, early: 0
	interval calls: 5, close callbacks: 1
	EOF_
}

# 5a. The unreferenced 1 ms interval must let loopd go right after the
# 50 ms referenced timer: 2 s is ample even under ASan, and an interval
# that kept the loop alive would never let it go at all.
unreferenced() {
	run_loopd unref --plugin "$(plugin lt_unref)"
	expect_status unref 0
	expect_output unref <<-'EOF_'
	referenced timer fired
	last referenced handle ran
	unreferenced timer ticked before: yes
	unreferenced timer ticks after: 0
	EOF_
	expect_faster_than unref 2000
}

# 5b. Nothing registered: nothing to wait for.
empty_loop() {
	run_loopd empty --plugin "$(plugin lt_empty)"
	expect_status empty 0
	expect_output empty <<-'EOF_'
	init
	shutdown
	EOF_
	expect_faster_than empty 2000
}

scenario "4. equal deadlines in start order, none early, interval stops" \
	order_and_timeliness
scenario "5. unreferenced interval: no late tick, prompt exit" \
	unreferenced
scenario "5. empty loop: prompt exit" empty_loop
finish
