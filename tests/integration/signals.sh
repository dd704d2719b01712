#!/usr/bin/env bash
# SIGTERM and SIGINT: the first drains (handles closed, plugins shut down,
# exit 0); while a job that never returns holds the drain, loopd stays up
# until --drain-timeout, or until a second signal, then exits 1 naming the
# plugin left running.
source "$(dirname "$0")/script.bash" "$@"

# Waits up to $2 seconds for process $1 to end; its status in $rc.
wait_exit() {
	local pid=$1 n=$(($2 * 20))
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
	kill -0 "$pid" 2>/dev/null && return 1
	rc=0; wait "$pid" || rc=$?
}

# A clean drain: hello ticking forever, SIGTERM, exit 0 after unloading.
printf '[plugin.hello]\nticks = 0\n' >"$tmp/c.conf"
"$loopd" --no-socket -c "$tmp/c.conf" -S "$tmp/s1" -p "$build/plugins/hello.so" 2>"$tmp/err" &
pid=$!
sleep 0.5
kill -TERM "$pid"
wait_exit "$pid" 10 || fail "loopd did not stop within 10 s of SIGTERM"
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM, not 0"
grep -q "hello: unloaded" "$tmp/err" || fail "hello was not unloaded"
for sig in INT; do
	"$loopd" --no-socket -c "$tmp/c.conf" -S "$tmp/s1" -p "$build/plugins/hello.so" 2>"$tmp/err" &
	pid=$!
	sleep 0.3
	kill -"$sig" "$pid"
	wait_exit "$pid" 10 || fail "loopd did not stop on SIG$sig"
	[ "$rc" = 0 ] || fail "exit status $rc after SIG$sig"
done

# A stuck job: the first SIGTERM drains and waits, the second cuts it short.
"$loopd" --no-socket -S "$tmp/s2" -p "$build/tests/plugins/lt_stuck.so" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "stuck: working" "$tmp/out" && break; sleep 0.05; done
grep -q "stuck: working" "$tmp/out" || fail "the stuck job never started"
kill -TERM "$pid"
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "loopd exited although a job was still running"
kill -TERM "$pid"
wait_exit "$pid" 5 || fail "a second SIGTERM did not stop loopd"
[ "$rc" = 1 ] || fail "exit status $rc after a second SIGTERM, not 1"
grep -q "SIGTERM again: not waiting for running jobs" "$tmp/err" ||
	fail "no message for the second SIGTERM"
grep -q "stuck: shutdown" "$tmp/out" && fail "shutdown ran while its job was still running"
grep -q "lt_stuck: not shut down: 1 jobs still running" "$tmp/err" ||
	fail "the plugin left running was not named"

# The drain deadline: a stuck job is waited for --drain-timeout, no more.
start=$(date +%s%N)
"$loopd" --no-socket --drain-timeout 1s -S "$tmp/s3" -p "$build/tests/plugins/lt_stuck.so" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "stuck: working" "$tmp/out" && break; sleep 0.05; done
kill -TERM "$pid"
wait_exit "$pid" 10 || fail "loopd did not stop after its 1 s drain timeout"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 1 ] || fail "exit status $rc after the drain timeout, not 1"
[ "$ms" -ge 1000 ] || fail "stopped after $ms ms, before the 1 s drain timeout"
grep -q "stopped with 1 plugins' jobs still running" "$tmp/err" || fail "no message at the drain timeout"
echo "ok: signals"
