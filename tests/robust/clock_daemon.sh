#!/usr/bin/env bash
# clock_daemon.sh - issue 6 item 6 through the real daemon (socket,
# loopctl, the hello kind) on a faked wall clock: libfaketime with
# FAKETIME_DONT_FAKE_MONOTONIC=1 and a timestamp file holding an offset
# from the real clock, so the test can step the wall clock of the
# running daemon while CLOCK_MONOTONIC goes on untouched.
#
# 1. Autumn: Berlin's 2026-10-25, 02:00-03:00 twice (CEST until
#    01:00:00Z, then CET).  CLI.md: a fixed time in the repeated hour runs
#    on the first pass only; a job whose minute or hour field starts with
#    `*` follows real time and runs on both.  loopd starts at 00:29:55Z;
#    at 00:30Z (02:30 CEST) F `30 2 * * *`, W `*/30 2 * * *` and H
#    `30 * * * *` run.  The clock is then stepped ~1 h forward to just
#    before 01:30Z (02:30 CET, the second pass), noticed at the wake of a
#    one-shot T at 00:30:06Z (the timer of the old timeline: libfaketime
#    cannot fire TFD_TIMER_CANCEL_ON_SET, which a real clock_settime
#    would).  W's 01:00Z falls in the step (catch-up skip: recorded
#    missed); at 01:30Z W and H run again, F does not (next: 02:30 CET
#    the next day).
# 2. Suspend: what a process sees of a suspend is the wall clock jumping
#    forward while CLOCK_MONOTONIC (which stops during a suspend) did not
#    move: loopd starts at 05:59:54Z with S and K `*/30 * * * *`; before
#    06:00 the wall clock jumps 2 h 10 min.  When the 06:00 timer fires
#    (its monotonic deadline), it is 08:10: 06:00-08:00 were slept
#    through.  S (catch-up once): one run, trigger catchup, for 08:00,
#    the four others missed; K (skip): five missed, no run.  No burst, no
#    duplicate.
# 3. Back: B `30 10 * * *` runs at 10:30:00Z; the wall clock steps back
#    30 min (seen at the timer of a one-shot X at 10:30:06Z), then forward
#    to 10:29:58, so 10:30:00 comes round again: B does not run twice (cron's
#    rule for steps back under three hours: its next stays the next
#    day's), X runs at its time, a one-shot Z jumped over by the forward
#    step is caught up once.
#
#   bash clock_daemon.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/robust.bash" "$@"
ft=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$ft" ] || fail "libfaketime is not installed (apt-get install libfaketime)"
command -v sqlite3 >/dev/null || fail "needs the sqlite3 shell"

# fake_at EPOCH: from now the faked wall clock reads EPOCH (to the
# second); fake_step SECONDS: steps it.  libfaketime reads the file again
# at most once a second (FAKETIME_CACHE_DURATION).
fake_at() {
	printf '%+d\n' $(($1 - $(date +%s))) >"$tmp/ft.new"
	mv "$tmp/ft.new" "$tmp/ft"
}
fake_step() {
	printf '%+d\n' $(($(cat "$tmp/ft") + $1)) >"$tmp/ft.new"
	mv "$tmp/ft.new" "$tmp/ft"
}

# start_fake DIR: loopd on state dir DIR under the faked clock.  Under
# ASan, libfaketime preloaded ahead of ASan's runtime is fine: it only
# wraps clock calls.
start_fake() {
	db=$1/loopd.db
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		LD_PRELOAD=$ft FAKETIME_TIMESTAMP_FILE=$tmp/ft \
		FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC \
		"$loopd" -s "$sock" -S "$1" -P "$build/plugins" -p hello \
		2>>"$tmp/err" &
	pid=$!
	wait_socket
}

# hadd NAME EXPR TZ [OPTION...]: a hello job saying "NAME ran".
hadd() {
	local n=$1 e=$2 z=$3
	shift 3
	"$ctl" add "$n" -e "$e" --tz "$z" --kind hello \
		--args "{\"message\":\"$n ran\"}" "$@" >/dev/null ||
		fail "loopctl add $n failed"
}

# wait_for SQL N SECONDS: until SQL (a count) reaches N.
wait_for() {
	local _ n=0
	for _ in $(seq $(($3 * 10))); do
		n=$(sqlite3 -readonly "$db" "$1" 2>/dev/null || echo 0)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "waited $3 s for [$1] to reach $2: $n; runs: $(rows)"
}

# rows: every run as JOB|scheduled (UTC)|result|trigger, by job and time.
rows() {
	sqlite3 -readonly "$db" "SELECT j.name,
		strftime('%H:%M:%S', r.scheduled_usec / 1000000, 'unixepoch'),
		r.result, r.trigger FROM runs r JOIN jobs j ON j.id = r.job_id
		ORDER BY j.name, r.scheduled_usec, r.id"
}

# finish PART WANT STEP: stops loopd (exit 0, no sanitizer report); the
# runs must be exactly WANT (as rows prints them) and the log must say
# the wall clock moved STEP (a grep pattern) seconds.
finish() {
	stop_loopd
	local got
	got=$(rows)
	[ "$got" = "$2" ] || fail "$1: the runs were
$got
expected
$2"
	grep -q "the wall clock moved +$3 s against the monotonic clock" "$tmp/err" ||
		fail "$1: the step was not noticed"
}

# ---- 1. Autumn: the repeated hour ----
fake_at 1792888195 # 2026-10-25T00:29:55Z = 02:29:55 CEST
start_fake "$tmp/autumn"
hadd F '30 2 * * *' Europe/Berlin
hadd W '*/30 2 * * *' Europe/Berlin --catchup skip
hadd H '30 * * * *' Europe/Berlin
hadd T 'at 2026-10-25T00:30:06Z' UTC
# 00:30Z: F, W and H run (first pass).
wait_for "SELECT count(*) FROM runs WHERE result = 'ok'" 3 15
[ "$(sqlite3 -readonly "$db" "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'T'")" = 0 ] ||
	fail "T ran before the step: the machine was too slow for this test"
# To 01:29:58Z at T's old deadline (00:30:06Z): +3592 s.
fake_step 3592
wait_for "SELECT count(*) FROM runs WHERE result = 'ok' AND scheduled_usec = 1792891800000000" 2 25
sleep 1.5 # F must not follow
next_f=$(sqlite3 -readonly "$db" "SELECT next_usec FROM jobs WHERE name = 'F'")
finish autumn "F|00:30:00|ok|schedule
H|00:30:00|ok|schedule
H|01:30:00|ok|schedule
T|00:30:06|ok|catchup
W|00:30:00|ok|schedule
W|01:00:00|missed|schedule
W|01:30:00|ok|schedule" '35[89][0-9]'
# 02:30 CET on 2026-10-26 is 01:30:00Z.
[ "$next_f" = 1792978200000000 ] || fail "autumn: F's next_usec is $next_f, not 2026-10-26T01:30:00Z"
echo "autumn: 02:30 Berlin ran once (02:30 CEST); */30 2 and 30 * ran on both passes (02:30 CEST and CET); W's 02:00 CET in the step recorded missed"

# ---- 2. Suspend: the wall clock jumps, the monotonic clock does not ----
fake_at 1796104794 # 2026-12-01T05:59:54Z
start_fake "$tmp/suspend"
hadd S '*/30 * * * *' UTC
hadd K '*/30 * * * *' UTC --catchup skip
fake_step 7800 # 2 h 10 min, before the 06:00 timer fires
wait_for "SELECT count(*) FROM runs WHERE result = 'ok'" 1 20
sleep 1.5 # nothing more may run
finish suspend "K|06:00:00|missed|schedule
K|06:30:00|missed|schedule
K|07:00:00|missed|schedule
K|07:30:00|missed|schedule
K|08:00:00|missed|schedule
S|06:00:00|missed|schedule
S|06:30:00|missed|schedule
S|07:00:00|missed|schedule
S|07:30:00|missed|schedule
S|08:00:00|ok|catchup" '7[78][0-9][0-9]'
grep -q 'job S: 5 occurrences missed; catch-up once' "$tmp/err" ||
	fail "suspend: no catch-up line for S"
echo "suspend: 2 h 10 min slept through: S ran once (catchup, for 08:00), 4 missed; K 5 missed, no run"

# ---- 3. A step back of 30 min, then forward again ----
e=1796207400 # 2026-12-02T10:30:00Z
fake_at $((e - 5))
start_fake "$tmp/back"
hadd B '30 10 * * *' UTC
hadd X 'at 2026-12-02T10:30:06Z' UTC # its timer sees the step back
wait_for "SELECT count(*) FROM runs WHERE result = 'ok'" 1 15
fake_step -1800
for _ in $(seq 200); do
	grep -q 'the wall clock moved -1[78][0-9][0-9] s' "$tmp/err" && break
	sleep 0.1
done
grep -q 'the wall clock moved -1[78][0-9][0-9] s' "$tmp/err" ||
	fail "back: the step back was not noticed"
# Z: a one-shot 4 s ahead on the new timeline; the clock then steps
# forward to 10:29:58, past Z (caught up once at its timer, ~10:30:02),
# so that 10:30:00 comes round again, which B must not run a second time;
# X runs at its 10:30:06.
now=$(($(date +%s) + $(cat "$tmp/ft")))
z=$((now + 4))
hadd Z "at $(date -u -d @$z +%Y-%m-%dT%H:%M:%SZ)" UTC
fake_step $((e - 2 - now))
wait_for "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'X' AND r.result = 'ok'" 1 40
sleep 1.5
next_b=$(sqlite3 -readonly "$db" "SELECT next_usec FROM jobs WHERE name = 'B'")
finish back "B|10:30:00|ok|schedule
X|10:30:06|ok|schedule
Z|$(date -u -d @$z +%H:%M:%S)|ok|catchup" '1[67][0-9][0-9]'
[ "$next_b" = $(((e + 86400) * 1000000)) ] ||
	fail "back: B's next_usec is $next_b, not the next day's 10:30"
echo "back: a 30 min step back did not run B's 10:30 twice (its next stays the next day's); Z, jumped over by the step forward, ran once (catchup)"
echo "PASS: clock_daemon"
