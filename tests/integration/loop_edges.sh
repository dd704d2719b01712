#!/usr/bin/env bash
# Edges found in review: a post queued by a plugin whose init then fails
# runs before the plugin is unloaded (no use-after-free, no crash); a
# timer centuries away makes the poll wait instead of spinning; api->now
# is read afresh in the poll phase; a callback that holds the loop past
# the limit is logged with its plugin and kind.
source "$(dirname "$0")/script.bash" "$@"

rc=0
timeout 20 "$loopd" --no-socket -S "$tmp/s" -p "$build/tests/plugins/lt_post_fail.so" \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "a failing init: exit $rc, not 1"
grep -q "init failed" "$tmp/err" || fail "the failed init was not reported"
grep -q "post ran" "$tmp/out" || fail "the post queued in init did not run"
grep -q "ERROR: AddressSanitizer" "$tmp/err" && fail "ASan report"

rc=0
timeout 20 "$loopd" --no-socket -S "$tmp/s" -p "$build/tests/plugins/lt_far_timer.so" \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] || fail "lt_far_timer: exit $rc"
grep -q "the far timer fired" "$tmp/out" && fail "a timer centuries away fired"
cpu=$(sed -n 's/^cpu_ms=//p' "$tmp/out")
# Spinning for 300 ms would use ~300 ms of CPU; waiting uses almost none
# (the bound leaves room for a sanitizer build's start-up).
[ -n "$cpu" ] && [ "$cpu" -lt 150 ] || fail "cpu_ms=$cpu with a far timer pending: the poll spins"
lag=$(sed -n 's/^now_lag_ms=//p' "$tmp/out")
[ -n "$lag" ] && [ "$lag" -le 5 ] || fail "api->now lags the clock by ${lag} ms in done"
rc=0
timeout 20 "$loopd" --no-socket -S "$tmp/s" -p "$build/tests/plugins/lt_slow.so" \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] || fail "lt_slow: exit $rc"
grep -q "lt_slow: a timer callback held the loop for [0-9]* ms" "$tmp/err" ||
	fail "a callback holding the loop 1.2 s was not logged with its plugin"
# The watchdog names it while it still runs: that line comes first.
first=$(grep -m1 -n "lt_slow: a timer callback" "$tmp/err" | cut -d: -f1)
[ "$(sed -n "${first}p" "$tmp/err" | grep -c "and still runs")" = 1 ] ||
	fail "the watchdog did not name the callback while it still ran"
late=$(sed -n "${first}s/.*held the loop for \([0-9]*\) ms.*/\1/p" "$tmp/err")
[ "$late" -lt 900 ] || fail "the watchdog named it only after ${late} ms"
# --watchdog sets the limit; 0s turns it off.
timeout 20 "$loopd" --no-socket --watchdog 100ms -S "$tmp/s" \
	-p "$build/tests/plugins/lt_slow.so" >/dev/null 2>"$tmp/err"
grep -q "still runs (watchdog limit 100 ms)" "$tmp/err" || fail "--watchdog 100ms was not applied"
timeout 20 "$loopd" --no-socket --watchdog 0s -S "$tmp/s" \
	-p "$build/tests/plugins/lt_slow.so" >/dev/null 2>"$tmp/err"
grep -q "held the loop" "$tmp/err" && fail "--watchdog 0s still logged"
echo "ok: loop edges (cpu ${cpu} ms, now lag ${lag} ms)"
