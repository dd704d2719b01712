#!/usr/bin/env bash
# store_crash.sh - kill -9 at random moments while 10,000 jobs are added
# (tests/store/crash_adds.c), then reopen: every add that was acknowledged
# must be there exactly once, integrity_check must pass, and the runs the
# kills left unfinished must be marked interrupted.  The kill times come
# from a seed printed first; LOOPD_TEST_SEED=N replays them.
#
#   bash store_crash.sh BUILD_DIR SOURCE_DIR
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
PROG=$1/tests/store/store_crash_adds
[ -x "$PROG" ] || { echo "FAIL: no $PROG: build first" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/loopd-store-crash.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DB=$WORK/loopd.db
ACKED=$WORK/acked
COUNT=10000
ROUNDS=20

SEED=${LOOPD_TEST_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
echo "store_crash: seed $SEED (LOOPD_TEST_SEED=$SEED replays the kill times)"
RANDOM=$SEED

fail() {
	echo "FAIL: $*" >&2
	echo "stderr of the last runs:" >&2
	tail -n 20 "$WORK/err" >&2
	exit 1
}

: >"$ACKED"
lines() {
	wc -l <"$ACKED"
}

# Until the add program has its first acknowledgement (or has exited).
wait_first_ack() {
	local before=$2 i
	for i in $(seq 1000); do
		[ "$(lines)" -gt "$before" ] && return
		kill -0 "$1" 2>/dev/null || return
		sleep 0.01
	done
}

# Round r aims at r/ROUNDS of the jobs.  One round in four is killed at a
# blind moment, which may fall in the open, the check or the first
# migration; the others after their first acknowledgement, among adds.
for round in $(seq 1 $ROUNDS); do
	before=$(lines)
	"$PROG" add "$DB" $(( COUNT * round / ROUNDS )) >>"$ACKED" 2>>"$WORK/err" &
	pid=$!
	if [ $(( round % 4 )) -eq 1 ]; then
		when="blind"
		delay_ms=$(( RANDOM % 100 ))
	else
		wait_first_ack $pid "$before"
		when="after the first ack"
		delay_ms=$(( RANDOM % 30 ))
	fi
	sleep "$(printf '0.%03d' $delay_ms)"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	status=$?
	# 137: killed; 0: it had finished before the kill.
	[ $status -eq 137 ] || [ $status -eq 0 ] || fail "add exited $status"
	out=$("$PROG" verify "$DB" "$ACKED" 2>>"$WORK/err") ||
		fail "round $round (kill $delay_ms ms $when): $out"
	echo "round $round: kill $delay_ms ms $when: $out"
done

# Then without a kill: all of the adds end up there, each once.
"$PROG" add "$DB" $COUNT >>"$ACKED" 2>>"$WORK/err" || fail "the last add run"
out=$("$PROG" verify "$DB" "$ACKED" $COUNT 2>>"$WORK/err") || fail "$out"
echo "final: $out"

# A second opinion, not through the store.
if command -v sqlite3 >/dev/null; then
	r=$(sqlite3 "$DB" "PRAGMA integrity_check; SELECT count(*), count(DISTINCT name) FROM jobs;")
	[ "$r" = "ok
$COUNT|$COUNT" ] || fail "sqlite3 says: $r"
fi
echo "PASS: store_crash"
