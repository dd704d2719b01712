#!/usr/bin/env bash
# exec_many.sh - issue 5: "200 long-running exec jobs at once delay
# neither other jobs' starts nor the store's acknowledgements".  loopd
# (exec and hello, its socket) runs a hello and an exec job every second;
# exec_many.py times a jobs.Add every 100 ms and reads the ticks' lateness
# from the database, for 6 s without, then for 6 s from the moment 200
# exec jobs (`sleep 30.PID`, EXEC_MANY_JOBS changes the count) are resumed
# to start together at the next second.  Bounds that only a real stall
# breaks (a loop held for seconds): an Add over 2 s, a tick started over
# 2 s late or missed, tick-exec done over 3 s after its due time, the
# long jobs' processes not all running within 60 s.  Then loopctl
# shutdown stops them all: exit 0, no `sleep 30.PID` left.  The
# figures, without a bound, come from tests/bench/exec_many.sh.
#
#   bash exec_many.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/../robust/robust.bash" "$@"
n=${EXEC_MANY_JOBS:-200}
mark=30.$$ # the long jobs' sleep, a duration no other test uses
[ -f "$build/plugins/exec.so" ] && [ -f "$build/plugins/hello.so" ] ||
	fail "build the exec and hello plugins first"
# 200 children hold a pidfd and a pipe each, loopd its database and socket.
[ "$(ulimit -n)" -ge $((3 * n + 100)) ] || ulimit -n $((3 * n + 100)) ||
	fail "needs $((3 * n + 100)) descriptors"
printf '[loopd]\nthreads = 4\ndrain-timeout = 20s\n[plugin.exec]\nkill_grace = 5s\n' >"$tmp/conf"
start_loopd "$tmp/conf" -p exec -p hello
rc=0
"$py" "$(dirname "$0")/exec_many.py" "$sock" "$state/loopd.db" "$pid" --jobs "$n" \
	--sleep "$mark" --check >"$tmp/out" 2>"$tmp/why" || rc=$?
cat "$tmp/out"
[ "$rc" = 0 ] || fail "$(cat "$tmp/why")"
stop_loopd
for _ in $(seq 40); do pgrep -f "sleep $mark" >/dev/null || break; sleep 0.05; done
! pgrep -f "sleep $mark" >/dev/null || fail "a long job's process outlived loopd"
echo "PASS: exec_many ($n long exec jobs)"
