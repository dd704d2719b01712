#!/usr/bin/env bash
# drain_exec.sh - issue 6 item 11: SIGTERM drains real exec jobs (the
# daemon with its socket, the bundled exec plugin, `[loopd] drain-timeout`
# from the config file).  Three stops on one state directory:
#   1. drain-timeout 10s, a job running `sleep 2`: loopd waits for it, the
#      run ends ok with its output, exit 0, after the job and not before;
#   2. drain-timeout 1s, `sleep 60` and `sleep 0.3` running: the short one
#      ends ok, the long one is recorded interrupted (exit_code 143, its
#      SIGTERM), its process is gone, exit 0 soon after the timeout;
#   3. drain-timeout 30s, `sleep 60`: a second SIGTERM during the drain
#      stops at once; the run is recorded interrupted, the process gone,
#      and loopd exits 1 (loopd --help: "1 on ... a stop that left jobs
#      running (drain timeout, second signal)").
#
#   bash drain_exec.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/robust.bash" "$@"
db=$state/loopd.db

conf() { # conf DRAIN: a config file with that drain timeout
	printf '[loopd]\ndrain-timeout = %s\n' "$1" >"$tmp/loopd.conf"
}

# add NAME SHELL-COMMAND: an exec job that never fires by itself.
add() {
	"$ctl" add "$1" -e '@yearly' -- /bin/sh -c "$2" >/dev/null ||
		fail "loopctl add $1 failed"
}

# start_run NAME: triggers it and waits for its command to have started
# (it writes its shell's pid to $tmp/NAME.pid, then execs).
start_run() {
	rm -f "$tmp/$1.pid"
	"$ctl" run "$1" >/dev/null || fail "loopctl run $1 failed"
	local _
	for _ in $(seq 200); do
		[ -s "$tmp/$1.pid" ] && return 0
		sleep 0.025
	done
	fail "the run of $1 did not start within 5 s"
}

# gone PID: the process has ended (no such pid, or a zombie whose parent
# has not reaped it yet: it runs no more).
gone() {
	[ -r "/proc/$1/stat" ] || return 0
	[ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]
}

# stop_term [SECOND-AFTER]: SIGTERM (and a second one SECOND-AFTER
# seconds later, checking loopd still drains then); sets $rc and $ms
# (from the last signal to the exit).
stop_term() {
	local t0 r=0
	t0=$(date +%s%N)
	kill -TERM "$pid"
	if [ -n "${1:-}" ]; then
		sleep "$1"
		kill -0 "$pid" 2>/dev/null ||
			fail "loopd did not wait for its running job before the second SIGTERM"
		t0=$(date +%s%N)
		kill -TERM "$pid"
	fi
	wait "$pid" || r=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	rc=$r
	pid=
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/err"; then
		fail "sanitizer report"
	fi
}

# run_of NAME: "result|exit_code|output" of the job's last run.
run_of() {
	sqlite3 -readonly "$db" "SELECT r.result, r.exit_code,
		coalesce((SELECT group_concat(o.data, '') FROM outputs o
			WHERE o.run_id = r.id), '')
		FROM runs r JOIN jobs j ON j.id = r.job_id
		WHERE j.name = '$1' ORDER BY r.id DESC LIMIT 1"
}

# 1. The job ends within the drain timeout: loopd waits for it.
conf 10s
start_loopd "$tmp/loopd.conf" -p exec
add two "echo \$\$ >$tmp/two.pid; sleep 2; echo finished"
start_run two
stop_term
[ "$rc" = 0 ] || fail "1: loopd exited $rc after draining a finished job, not 0"
[ "$(run_of two)" = "ok|0|finished" ] ||
	fail "1: the drained run is [$(run_of two)], not ok|0|finished"
[ "$ms" -ge 1500 ] || fail "1: loopd exited after $ms ms: it did not wait for sleep 2"
[ "$ms" -lt 9000 ] || fail "1: loopd exited after $ms ms: it waited for the timeout, not the job"
grep -q 'waiting up to 10000 ms for 1 running jobs' "$tmp/err" ||
	fail "1: no 'waiting up to 10000 ms' line: drain-timeout not applied"
echo "1: sleep 2 drained: exit 0 after $ms ms, the run ok"

# 2. The drain timeout passes: the long run is interrupted, the short one
# finishes.
conf 1s
start_loopd "$tmp/loopd.conf" -p exec
add long "echo \$\$ >$tmp/long.pid; exec sleep 60"
add short "echo \$\$ >$tmp/short.pid; sleep 0.3; echo short done"
start_run long
start_run short
cpid=$(cat "$tmp/long.pid")
stop_term
[ "$rc" = 0 ] || fail "2: loopd exited $rc after the drain timeout, not 0"
[ "$(run_of long)" = "interrupted|143|" ] ||
	fail "2: the long run is [$(run_of long)], not interrupted|143|"
[ "$(run_of short)" = "ok|0|short done" ] ||
	fail "2: the short run is [$(run_of short)], not ok|0|short done"
gone "$cpid" || fail "2: the long job's process $cpid still runs after loopd exited"
[ "$ms" -ge 900 ] || fail "2: loopd exited after $ms ms, before the 1 s drain timeout"
[ "$ms" -lt 6000 ] || fail "2: loopd took $ms ms to stop with a 1 s drain timeout"
echo "2: sleep 60 past a 1 s drain: exit 0 after $ms ms, interrupted (143), process gone; sleep 0.3 ok"

# 3. A second SIGTERM during a 30 s drain stops at once.
conf 30s
start_loopd "$tmp/loopd.conf" -p exec
add again "echo \$\$ >$tmp/again.pid; exec sleep 60"
start_run again
cpid=$(cat "$tmp/again.pid")
stop_term 0.5
[ "$rc" = 1 ] || fail "3: loopd exited $rc after a second SIGTERM, not 1"
[ "$ms" -lt 2000 ] || fail "3: loopd took $ms ms after a second SIGTERM"
grep -q 'SIGTERM again: not waiting for running jobs' "$tmp/err" ||
	fail "3: the second SIGTERM was not logged"
[ "$(run_of again)" = "interrupted||" ] || [ "$(run_of again)" = "interrupted|143|" ] ||
	fail "3: the run is [$(run_of again)], not interrupted"
for _ in $(seq 40); do gone "$cpid" && break; sleep 0.05; done
gone "$cpid" || fail "3: the job's process $cpid still runs after loopd exited"
echo "3: second SIGTERM 0.5 s into a 30 s drain: exit 1 $ms ms after it, the run $(run_of again), process gone"
[ "$(sqlite3 -readonly "$db" "SELECT count(*) FROM runs WHERE result IN ('starting', 'running')")" = 0 ] ||
	fail "a run was left starting/running"
echo "PASS: drain_exec"
