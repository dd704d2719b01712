#!/usr/bin/env bash
# The scheduler on a faked wall clock (libfaketime, monotonic left real):
# loopd starts three seconds before Berlin's 2026 spring-forward gap with
# a job at 02:30 Europe/Berlin, a time the gap skips.  CLI.md: it runs at
# the first instant after the gap, 03:00 CEST = 01:00:00Z, once.  A job
# at 21:00 America/New_York (EDT since March 8: UTC-4) fires at the same
# instant, and one at 22:00 New York does not: each job has its zone.
source "$(dirname "$0")/script.bash" "$@"
ft=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$ft" ] || fail "libfaketime is not installed (apt-get install libfaketime)"
state=$tmp/state
db=$state/loopd.db
"$loopd" --no-socket -S "$state" -p hello -P "$build/plugins" \
	>/dev/null 2>"$tmp/err" || fail "could not create the database"
now=1774745997000000 # 2026-03-29T00:59:57Z
ins() { # ins NAME SCHEDULE TZ
	sqlite3 "$db" "INSERT INTO jobs (name, kind, plugin, schedule, tz, args,
		created_usec, updated_usec) VALUES ('$1', 'hello', 'hello', '$2',
		'$3', '{\"message\":\"$1 ran\"}', $now, $now);"
}
ins gap '30 2 * * *' Europe/Berlin
ins ny '0 21 * * *' America/New_York
ins ny22 '0 22 * * *' America/New_York
# Under ASan, libfaketime preloaded ahead of ASan's runtime is fine: it
# only wraps clock calls.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	LD_PRELOAD=$ft FAKETIME="@2026-03-29 00:59:57" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	TZ=UTC "$loopd" --no-socket -S "$state" -p hello -P "$build/plugins" \
	2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
	n=$(sqlite3 "$db" "SELECT count(*) FROM runs WHERE result = 'ok'" 2>/dev/null || echo 0)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done
sleep 1 # nothing more may run
kill -TERM "$pid"
wait "$pid" || fail "loopd did not stop cleanly"
pid=
rows=$(sqlite3 "$db" "SELECT j.name, r.scheduled_usec, r.result, r.trigger
	FROM runs r JOIN jobs j ON j.id = r.job_id ORDER BY r.id")
want="gap|1774746000000000|ok|schedule
ny|1774746000000000|ok|schedule"
[ "$rows" = "$want" ] || [ "$rows" = "$(printf '%s\n' "$want" | tac)" ] ||
	fail "runs were: [$rows], expected gap and ny at 01:00:00Z, once each"
out=$(sqlite3 "$db" "SELECT data FROM outputs ORDER BY data")
[ "$out" = "gap ran
ny ran" ] || fail "output was [$out]"
next=$(sqlite3 "$db" "SELECT next_usec FROM jobs WHERE name = 'gap'")
# The next 02:30 Berlin is 2026-03-30T00:30:00Z (CEST).
[ "$next" = 1774830600000000 ] || fail "gap's next_usec is $next"
echo "ok: a job in the spring-forward gap ran once at 03:00 CEST"
