#!/usr/bin/env bash
# kill9_runs.sh - issue 6, item 3 at the daemon level: kill -9 loopd at
# random moments while exec jobs run ('every 1s', 0.3 s each) and
# pipelined jobs.Add calls stream in (adder.py), restart, ROUNDS times.
# (The store alone under kill -9 during 10,000 adds is store_crash.sh.)
#
# Checked after every kill (loopd dead, the database read with sqlite3
# -readonly, so the crash state is not touched) and after every restart:
#   - every acknowledged add is in the jobs table;
#   - "ran but not recorded" does not happen: each exec job appends a line
#     to ran.JOB before it sleeps and to done.JOB after, so for every job
#       lines(ran.JOB)  <= its runs that were started (result starting,
#                          running, ok, failed, timeout or interrupted)
#       its ok runs     <= lines(done.JOB)
#   - the runs the kill left 'starting' or 'running' are exactly the ones
#     the restart marks 'interrupted' (its log line gives the count), and
#     no run older than the restart is 'starting'/'running' after it;
#     among them the runs prepared ahead of their time (started_usec
#     null: committed up to 1 s early), which the kills must have caught
#     at least once;
# and at the end, after a clean shutdown: no 'starting'/'running' run at
# all, PRAGMA integrity_check = ok, and the same checks once more.
# One restart in four is also killed blindly, 0-150 ms after it began (in
# the database checks, the marking, the plugins' load).
#
#   bash kill9_runs.sh BUILD_DIR SOURCE_DIR
#   env: LOOPD_TEST_SEED, ROBUST_KILL_ROUNDS (10)
source "$(dirname "$0")/robust.bash" "$@"
command -v sqlite3 >/dev/null || fail "needs the sqlite3 CLI"
seed kill9_runs
rounds=${ROBUST_KILL_ROUNDS:-10}
db=$state/loopd.db
jobs="x1 x2 x3 x4 x5 x6"
jobs_sql="'x1','x2','x3','x4','x5','x6'"
cat >"$tmp/loopd.conf" <<'EOF'
[loopd]
log-level = info
[store]
runs-keep = 0
[plugin.hello]
ticks = 1
EOF
: >"$tmp/acked"
adders=
on_exit 'if [ -n "$adders" ]; then kill -9 $adders; fi'

q() { # q SQL: the crash state, read only
	sqlite3 -readonly -batch "$db" "$1"
}

# Whatever the previous instance's children still do (they outlive a
# kill -9: their own process group), wait for them.
wait_children() {
	local _
	for _ in $(seq 40); do
		pgrep -f "$tmp/ran" >/dev/null || return 0
		sleep 0.05
	done
}

check_adds() {
	q "SELECT name FROM jobs" | sort >"$tmp/have"
	sort -u "$tmp/acked" >"$tmp/want"
	comm -23 "$tmp/want" "$tmp/have" >"$tmp/lost"
	nlines "$tmp/lost"
	[ "$N" = 0 ] || fail "$1: $N acknowledged adds are missing: $(head -5 "$tmp/lost")"
}

# nlines FILE: its number of lines in $N, without a fork (forks are
# slow enough on some CI machines to matter here).
nlines() {
	local -a l=()
	[ -f "$1" ] && mapfile -t l <"$1"
	N=${#l[@]}
}

check_runs() {
	local j started ok
	local -A ran=()
	# In this order, as loopd may be running: a line in ran.JOB comes
	# after its run's row, a line in done.JOB before the run is ok.
	for j in $jobs; do
		nlines "$tmp/ran.$j"
		ran[$j]=$N
	done
	q "SELECT j.name, count(r.id) FILTER (WHERE r.result IN ('starting',
		'running','ok','failed','timeout','interrupted')),
		count(r.id) FILTER (WHERE r.result = 'ok')
		FROM jobs j LEFT JOIN runs r ON r.job_id = j.id
		WHERE j.name IN ($jobs_sql) GROUP BY j.name" >"$tmp/counts"
	nlines "$tmp/counts"
	[ "$N" = 6 ] || fail "$1: the exec jobs are not all there: $(cat "$tmp/counts")"
	while IFS='|' read -r j started ok; do
		nlines "$tmp/done.$j"
		[ "${ran[$j]}" -le "$started" ] ||
			fail "$1: job $j ran ${ran[$j]} times, only $started runs recorded"
		[ "$ok" -le "$N" ] ||
			fail "$1: job $j has $ok ok runs but finished only $N times"
	done <"$tmp/counts"
}

# Starts loopd; its stderr in $tmp/err (and all of them in err.all).
launch() {
	[ -f "$tmp/err" ] && cat "$tmp/err" >>"$tmp/err.all"
	"$loopd" -c "$tmp/loopd.conf" -s "$sock" -S "$state" -P "$build/plugins" \
		2>"$tmp/err" &
	pid=$!
}

# Kills loopd (and the adder); then the checks of the crash state.
kill_now() {
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
	local a
	for a in $adders; do
		wait "$a" || fail "round $round: an adder got an error reply: $(cat "$tmp"/adder.*.err)"
	done
	adders=
	[ -f "$db" ] || return 0
	IFS='|' read -r inflight maxid prepared < <(q "SELECT count(*) FILTER (WHERE result IN
		('starting','running')), coalesce(max(id), 0), count(*) FILTER
		(WHERE result = 'starting' AND started_usec IS NULL) FROM runs")
	prepared_total=$((prepared_total + ${prepared:-0}))
	check_adds "round $round, after the kill"
}

after_restart() {
	local n stale
	n=$(sed -n 's/.*jobs, \([0-9]*\) runs interrupted by the last stop.*/\1/p' "$tmp/err")
	[ "$n" = "$inflight" ] ||
		fail "round $round: $inflight runs were unfinished at the kill, the restart marked '${n:-?}' interrupted"
	stale=$(q "SELECT count(*) FROM runs WHERE id <= $maxid AND result IN ('starting','running')")
	[ "$stale" = 0 ] || fail "round $round: $stale runs from before the restart are still starting/running"
	check_adds "round $round, after the restart"
	check_runs "round $round, after the restart"
}

t0=${EPOCHREALTIME/./}
ts() { # $TS: the elapsed seconds, for the log
	local us=$((${EPOCHREALTIME/./} - t0))
	printf -v TS '[%d.%01ds]' $((us / 1000000)) $((us / 100000 % 10))
}
msleep() { # msleep MS
	local s
	printf -v s '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
	sleep "$s"
}
inflight=0
maxid=0
prepared_total=0
round=0
blind=0
launch
wait_socket
for j in $jobs; do
	"$ctl" add "$j" -e 'every 1s' --args \
		"{\"command\":\"echo . >>$tmp/ran.$j; sleep 0.3; echo . >>$tmp/done.$j\"}" \
		>/dev/null || fail "add $j"
done
echo "$jobs" | tr ' ' '\n' >>"$tmp/acked"
sleep 1.5
for round in $(seq 1 "$rounds"); do
	if [ "$round" -gt 1 ]; then
		launch
		if [ $((round % 4)) = 2 ]; then
			when=$((RANDOM % 150))
			msleep "$when"
			kill_now
			blind=$((blind + 1))
			ts
			echo "$TS round $round: kill -9 ${when} ms after the start (blind): $inflight runs unfinished"
			wait_children
			check_runs "round $round, after the blind kill"
			launch
		fi
		wait_socket
		after_restart
	fi
	# Four connections: the store's group commit batches across them
	# (one connection's calls are answered one at a time).
	nlines "$tmp/acked"
	before=$N
	for a in 1 2 3 4; do
		"$py" "$here/adder.py" "$sock" "r$round-$a" 3000 32 >>"$tmp/acked" 2>"$tmp/adder.$a.err" &
		adders="$adders $!"
	done
	for _ in $(seq 500); do
		nlines "$tmp/acked"
		[ "$N" -gt "$before" ] && break
		sleep 0.01
	done
	[ "$N" -gt "$before" ] || fail "round $round: no add acknowledged within 5 s"
	when=$((100 + RANDOM % 1200))
	msleep "$when"
	kill_now
	nlines "$tmp/acked"
	ts
	echo "$TS round $round: kill -9 $when ms after the first ack, among adds and runs: $inflight runs unfinished," \
		"$N adds acknowledged so far"
	wait_children
	check_runs "round $round, after the kill"
done

# The end: a restart, a clean stop, then the whole database.
round=end
launch
wait_socket
after_restart
sleep 1.2
stop_loopd
wait_children
left=$(q "SELECT count(*) FROM runs WHERE result IN ('starting','running')")
[ "$left" = 0 ] || fail "$left runs left starting/running after a clean stop"
ic=$(q "PRAGMA integrity_check")
[ "$ic" = ok ] || fail "integrity_check: $ic"
check_adds "the end"
check_runs "the end"
[ "$prepared_total" -gt 0 ] ||
	fail "no kill caught a run prepared ahead of its time (seed $SEED)"
runs=$(q "SELECT count(*) FROM runs")
interrupted=$(q "SELECT count(*) FROM runs WHERE result = 'interrupted'")
njobs=$(q "SELECT count(*) FROM jobs")
started=$(cat "$tmp"/ran.* | wc -l)
echo "kill9_runs: $((rounds + blind)) kills, $blind of them blind (seed $SEED): $(sort -u "$tmp/acked" | wc -l) acknowledged adds all present ($njobs jobs)," \
	"$started exec runs started, $runs runs recorded, $interrupted interrupted" \
	"(of which $prepared_total prepared ahead, not yet started), integrity_check ok"
echo "PASS: kill9_runs"
