#!/usr/bin/env bash
# exec_inflight.sh - exec starts its children on the worker pool (issue 5):
# a stop or a shutdown that comes while starts are still queued or being
# spawned.  Through tests/plugins/exec_harness (the plugin under the real
# loop, two pool threads, no scheduler), 100 runs of `sleep` started at
# once:
#   -s 0: every run stopped at the first turn of the loop.  Each finishes
#         exactly once: -125 (ECANCELED, "stopped before it started") if
#         its start was still queued, 143 (its SIGTERM) if it had been
#         spawned; no sleep left.
#   -x 5: the loop ends 5 ms in and the plugin is shut down as loopd's
#         drain does it (queued starts cancelled, running ones awaited).
#         The cancelled runs finish with -125, the others are left to the
#         host (unfinished) and their children killed; no sleep left, no
#         sanitizer report.
source "$(dirname "$0")/script.bash" "$@"
plugins=$build/plugins
harness=$build/tests/plugins/exec_harness
[ -f "$plugins/exec.so" ] && [ -x "$harness" ] ||
	fail "build plugins/exec and exec_harness first"
n=100
# A duration no other test uses, to find what is left.
mark=7.7$$
args=()
for _ in $(seq $n); do args+=("{\"argv\": [\"sleep\", \"$mark\"]}"); done
clean() { # an ASan/UBSan/TSan build reports into stderr
	! grep -E "Sanitizer|runtime error" "$1" >&2 || fail "sanitizer report above"
}
left() { # processes of ours still running sleep $mark
	for _ in $(seq 40); do pgrep -f "sleep $mark" >/dev/null || return 1; sleep 0.05; done
}
count() { grep -c "$1" "$tmp/got" || true; }

rc=0
mkdir "$tmp/out"
timeout 60 "$harness" -s 0 -o "$tmp/out" "$plugins/exec.so" "${args[@]}" \
	>"$tmp/got" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] || fail "stop in flight: exit $rc: $(grep -v ': status' "$tmp/got")"
cancelled=$(count ": status -125, ")
termed=$(count ": status 143, ")
[ $((cancelled + termed)) = $n ] ||
	fail "stop in flight: $cancelled cancelled + $termed SIGTERM'd of $n: $(grep -v 'status -125,\|status 143,' "$tmp/got" | head -5)"
# Two pool threads cannot have spawned 100 children before the loop's
# first turn: some starts were still queued, and were cancelled.
[ "$cancelled" -ge 1 ] || fail "stop in flight: no queued start was cancelled"
grep -qx "loopd exec: stopped before it started" "$tmp"/out/*.out ||
	fail "stop in flight: no output says 'stopped before it started'"
clean "$tmp/err"
! left || fail "stop in flight left sleep $mark running"
echo "ok: stop in flight: $cancelled cancelled before their spawn, $termed stopped with SIGTERM"

rc=0
timeout 60 "$harness" -x 5 "$plugins/exec.so" "${args[@]}" >"$tmp/got" \
	2>"$tmp/err" || rc=$?
unfinished=$(sed -n 's/^unfinished: //p' "$tmp/got")
cancelled=$(count ": status -125, ")
[ $((cancelled + ${unfinished:-0})) = $n ] ||
	fail "shutdown in flight: $cancelled cancelled + ${unfinished:-0} unfinished of $n: $(grep -v 'status -125,' "$tmp/got" | head -5)"
[ "$cancelled" -ge 1 ] || fail "shutdown in flight: no queued start was cancelled"
[ "$rc" = $(( ${unfinished:-0} > 0 ? 1 : 0 )) ] || fail "shutdown in flight: exit $rc"
! grep -q "finished twice" "$tmp/got" || fail "shutdown in flight: a run finished twice"
clean "$tmp/err"
! left || fail "shutdown in flight left sleep $mark running"
echo "ok: shutdown in flight: $cancelled cancelled, ${unfinished:-0} spawned and killed at shutdown"
