#!/usr/bin/env bash
# loopctl against a fake daemon (loopctl_fake.py: varlink framing, canned
# replies): the tables and lines each command prints, -o json, the calls'
# parameters as the daemon receives them, error replies mapped to exit
# statuses (NoSuchJob/Run/Plugin 5, PermissionDenied 4, others 1), a
# streaming Trigger with wait, the event stream ended by SIGINT, and a
# daemon that hangs up.  The real daemon's end-to-end test is separate.
source "$(dirname "$0")/script.bash" "$@"
loopctl=$build/ctl/loopctl
[ -x "$loopctl" ] || fail "no loopctl at $loopctl: build first"
if ! command -v python3 >/dev/null; then
	echo "skipped: loopctl_fake needs python3"
	exit 0
fi
export LOOPD_SOCKET=$tmp/loopd.sock TZ=UTC
unset NO_COLOR
python3 "$(dirname "$0")/loopctl_fake.py" "$LOOPD_SOCKET" "$tmp/calls" 2>"$tmp/fake.err" &
# shellcheck disable=SC2034 # script.bash kills $pid at exit
pid=$!
for _ in $(seq 100); do
	[ -S "$LOOPD_SOCKET" ] && break
	sleep 0.05
done
[ -S "$LOOPD_SOCKET" ] || fail "the fake daemon did not start: $(cat "$tmp/fake.err")"

# run STATUS ARGS...: loopctl exits STATUS; stdout in $tmp/out, stderr in
# $tmp/err.
run() {
	local want=$1 rc=0
	shift
	"$loopctl" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	[ "$rc" = "$want" ] || fail "loopctl $* exited $rc, not $want: $(cat "$tmp/out")"
}
has() { grep -qF -- "$1" "$tmp/out" || fail "stdout lacks '$1': $(cat "$tmp/out")"; }
says() { grep -qxF -- "$1" "$tmp/err" || fail "stderr is not '$1': $(cat "$tmp/err")"; }
# The last call: "METHOD PARAMETERS more", the parameters' keys sorted.
last_call() { tail -n 1 "$tmp/calls"; }
call_is() {
	local got
	got=$(last_call)
	[ "$got" = "$1" ] || fail "the call was '$got', not '$1'"
}

# ---- status ----
run 0 status
has "State:     running"
has "PID:       4242"
has "Uptime:    1h 2min (since "
has "Socket:    $LOOPD_SOCKET"
has "Jobs:      3 total, 1 active, 1 paused, 0 running, 1 failing"
has "Plugins:   2 loaded, 0 failed"
has "Loop:      utilization 2.3%, timer lag p99 120us"
grep -q $'\033' "$tmp/out" && fail "colours on a pipe"
touch "$LOOPD_SOCKET.degraded"
run 1 status
has "State:     degraded"
run 1 -o json status
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["state"] == "degraded"' "$tmp/out" ||
	fail "status -o json: $(cat "$tmp/out")"
rm "$LOOPD_SOCKET.degraded"
run 0 -o json status

# ---- stats ----
run 0 stats
has "loop:"
has "  utilization: 2.3%"
has "  lag_p99_us:  120us"
has "  db_bytes:  3.0M"
call_is "io.loopd.daemon.GetStats {} "

# --watch: again and again until SIGINT, which ends it with 0.
"$loopctl" -o json stats --watch 0.1 >"$tmp/st" 2>"$tmp/err" &
st=$!
for _ in $(seq 100); do
	[ "$(wc -l <"$tmp/st")" -ge 3 ] && break
	sleep 0.05
done
kill -INT $st
rc=0
wait $st || rc=$?
[ $rc = 0 ] || fail "stats --watch ended by SIGINT exited $rc: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/st")" -ge 3 ] || fail "stats --watch -o json: one line each time"

# ---- jobs: sorted by next run, the reason across NEXT and LEFT ----
run 0 jobs
head -n 1 "$tmp/out" | grep -qE '^NEXT +LEFT +LAST +PASSED +RESULT +JOB +KIND +SCHEDULE$' ||
	fail "jobs header: $(head -n 1 "$tmp/out")"
sed -n 2p "$tmp/out" | grep -qE '^[A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} UTC  5min  .* UTC  1h 1min ago  ok +backup +exec +30 3 \* \* \* \(Europe/Berlin\)$' ||
	fail "jobs row 1: $(sed -n 2p "$tmp/out")"
sed -n 3p "$tmp/out" | grep -qE '^one-shot done +- +- +- +once +exec +at 2026-01-01 10:00$' ||
	fail "jobs row 2: $(sed -n 3p "$tmp/out")"
sed -n 4p "$tmp/out" | grep -qE '^paused +[A-Z][a-z]{2} .* UTC  2 days ago +failed +report' ||
	fail "jobs row 3: $(sed -n 4p "$tmp/out")"
has "3 jobs listed."
run 0 jobs --state paused
call_is 'io.loopd.jobs.List {"state": "paused"} '
has "1 job listed."
run 0 -o json jobs
python3 -c 'import json, sys; assert len(json.load(open(sys.argv[1]))["jobs"]) == 3' "$tmp/out" ||
	fail "jobs -o json"

# ---- show ----
run 0 show backup
has "Name:          backup"
has "Time zone:     Europe/Berlin"
has 'Args:          {"argv":["/bin/true"]}'
has "Timeout:       1h"
has "Retry backoff: 1m30s"
has "Next reason:   -"
has "Next:"
has "  Sat 2026-03-28 01:30:00 UTC; "
has "Last runs:"
grep -qE '^  ID +TRIGGER +STARTED +DURATION +RESULT +EXIT$' "$tmp/out" || fail "show: runs header"
grep -qE '^  42 +schedule +Mon 2025-11-24 16:00:00 UTC +1.25s +ok +0$' "$tmp/out" || fail "show: run 42"
grep -qxF 'io.loopd.jobs.Preview {"count": 5, "schedule": "30 3 * * *", "tz": "Europe/Berlin"} ' "$tmp/calls" ||
	fail "show: the Preview call"
call_is 'io.loopd.runs.List {"job": "backup", "limit": 5} '
run 5 show missing
says "loopctl: no job named 'missing' (io.loopd.jobs.NoSuchJob)"
run 4 show locked
says "loopctl: this call needs admin rights (org.varlink.service.PermissionDenied)"

# ---- add and edit: the parameters on the wire ----
run 0 add j -e '*/5 * * * *' --tz Europe/Berlin --timeout 1h30m --retries 2 \
	--backoff 90s --jitter 2s --overlap queue --catchup all --paused \
	--args '{"cwd": "/tmp"}' -- ls -l '/a dir'
call_is 'io.loopd.jobs.Add {"args": {"argv": ["ls", "-l", "/a dir"], "cwd": "/tmp"}, "catchup": "all", "jitter_ms": 2000, "kind": "exec", "name": "j", "overlap": "queue", "retries": 2, "retry_backoff_ms": 90000, "schedule": "*/5 * * * *", "state": "paused", "timeout_ms": 5400000, "tz": "Europe/Berlin"} '
grep -qE '^Added job j; next run .* UTC; (59min|1h) left$' "$tmp/out" || fail "add: $(cat "$tmp/out")"
run 0 add sh -e @daily --args '{"command": "echo hi | wc -c"}'
call_is 'io.loopd.jobs.Add {"args": {"command": "echo hi | wc -c"}, "kind": "exec", "name": "sh", "schedule": "@daily"} '
run 1 add exists -e @daily -- true
says "loopctl: a different job named 'exists' exists (io.loopd.jobs.JobExists)"
run 1 add x -e bad -- true
says "loopctl: expression: not a schedule at position 1 (io.loopd.jobs.InvalidSchedule)"
run 0 edit backup --timeout 0s
call_is 'io.loopd.jobs.Update {"name": "backup", "timeout_ms": 0} '
has "Updated job backup; next run"
run 5 edit missing -e @hourly
run 0 -o json edit backup -- /bin/echo hi
call_is 'io.loopd.jobs.Update {"args": {"argv": ["/bin/echo", "hi"]}, "kind": "exec", "name": "backup"} '
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["job"]["args"]["argv"][0] == "/bin/echo"' "$tmp/out" ||
	fail "edit -o json"

# ---- rm, pause, resume: every name tried, the first failure's status ----
run 0 rm backup
call_is 'io.loopd.jobs.Remove {"name": "backup"} '
[ -s "$tmp/out" ] && fail "rm printed: $(cat "$tmp/out")"
n=$(wc -l <"$tmp/calls")
run 5 rm missing backup
[ $(($(wc -l <"$tmp/calls") - n)) = 2 ] || fail "rm did not try every name"
call_is 'io.loopd.jobs.Remove {"name": "backup"} '
run 4 rm locked backup
run 0 pause backup
call_is 'io.loopd.jobs.Pause {"name": "backup"} '
run 0 -o json resume backup report
[ "$(wc -l <"$tmp/out")" = 2 ] || fail "resume -o json of two names: $(cat "$tmp/out")"

# ---- run ----
run 0 run backup
call_is 'io.loopd.jobs.Trigger {"name": "backup"} '
has "run 43 (backup, manual): running Mon 2025-11-24 16:00:00 UTC"
run 0 run backup --wait
call_is 'io.loopd.jobs.Trigger {"name": "backup", "wait": true} more'
has "run 43 (backup, manual): running Mon 2025-11-24 16:00:00 UTC"
has "run 43 (backup, manual): ok, exit 0, after 2.50s"
run 1 run failing --wait
[ "$(cat "$tmp/out")" = "run 43 (failing, manual): running Mon 2025-11-24 16:00:00 UTC
run 43 (failing, manual): failed, exit 3, after 2.50s" ] || fail "run failing --wait: $(cat "$tmp/out")"
run 1 -o json run failing --wait
[ "$(wc -l <"$tmp/out")" = 3 ] || fail "run --wait -o json: one line a reply"
run 5 run missing --wait
says "loopctl: no job named 'missing' (io.loopd.jobs.NoSuchJob)"

# ---- runs and output ----
run 0 runs
head -n 1 "$tmp/out" | grep -qE '^ID +JOB +TRIGGER +STARTED +DURATION +RESULT +EXIT$' || fail "runs header"
grep -qE '^41 +report +manual +Mon 2025-11-24 15:59:00 UTC +2min 5s +failed +2$' "$tmp/out" || fail "runs: run 41"
grep -qE '^40 +report +catchup +- +- +missed +-$' "$tmp/out" || fail "runs: run 40"
call_is "io.loopd.runs.List {} "
run 0 runs report --limit 1 --failed
call_is 'io.loopd.runs.List {"job": "report", "limit": 1, "result": "failed"} '
[ "$(wc -l <"$tmp/out")" = 2 ] || fail "runs --limit 1"
run 0 output 42
[ "$(cat "$tmp/out")" = $'hello\nworld' ] || fail "output 42: $(cat "$tmp/out")"
call_is 'io.loopd.runs.Get {"id": 42} '
run 5 output 999
says "loopctl: no run 999 (io.loopd.runs.NoSuchRun)"

# ---- next: RFC 3339 with the zone's offset at each instant ----
run 0 next '30 2 * * *' --tz Europe/Berlin --from '2026-03-28 00:00' -n 3
[ "$(cat "$tmp/out")" = "2026-03-28T02:30:00+01:00
2026-03-29T03:30:00+02:00
2026-03-30T03:30:00+02:00" ] || fail "next --tz Europe/Berlin: $(cat "$tmp/out")"
call_is 'io.loopd.jobs.Preview {"count": 3, "from_usec": 1774652400000000, "schedule": "30 2 * * *", "tz": "Europe/Berlin"} '
TZ=America/New_York run 0 next @daily -n 1
[ "$(cat "$tmp/out")" = "2026-03-27T21:30:00-04:00" ] || fail "next in the local zone: $(cat "$tmp/out")"
call_is 'io.loopd.jobs.Preview {"count": 1, "schedule": "@daily"} '
run 0 next @daily --from 2026-03-28T00:00:00Z
call_is 'io.loopd.jobs.Preview {"count": 5, "from_usec": 1774656000000000, "schedule": "@daily"} '
run 1 next bad
says "loopctl: minute field: value 61 out of range 0-59 at position 1 (io.loopd.jobs.InvalidSchedule)"

# ---- plugins ----
run 0 plugins
head -n 1 "$tmp/out" | grep -qE '^NAME +VERSION +STATE +KINDS +HANDLES +INFLIGHT +ERRORS +DESCRIPTION$' || fail "plugins header"
grep -qE '^exec +1.0.0 +loaded +exec +3 +0 +0 +runs commands$' "$tmp/out" || fail "plugins: exec"
grep -qE '^hello +1.0.0 +failed +- +3 +0 +2 +runs commands$' "$tmp/out" || fail "plugins: hello"
run 0 plugins load exec.so
call_is 'io.loopd.plugins.Load {"path": "exec.so"} '
has "Loaded plugin exec 1.0.0"
run 0 plugins reload exec
call_is 'io.loopd.plugins.Reload {"name": "exec"} '
run 5 plugins unload nope
says "loopctl: no plugin named 'nope' (io.loopd.plugins.NoSuchPlugin)"

# ---- events: a stream that goes on until SIGINT, which ends it with 0 ----
"$loopctl" events --type 'run.*,daemon.*' --type job.added >"$tmp/ev" 2>"$tmp/err" &
ev=$!
for _ in $(seq 100); do
	[ "$(wc -l <"$tmp/ev")" -ge 3 ] && break
	sleep 0.05
done
kill -INT $ev
rc=0
wait $ev || rc=$?
[ $rc = 0 ] || fail "events ended by SIGINT exited $rc"
grep -qE '^[A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} UTC run.started job=backup id=44$' "$tmp/ev" ||
	fail "events: $(cat "$tmp/ev")"
grep -qF 'daemon.warning message="slow callback in hello"' "$tmp/ev" || fail "events: a quoted value"
grep -qE 'UTC run.finished id=44 job=backup result=ok exit_code=0$' "$tmp/ev" || fail "events: a wrapped event"
grep -q '"io.loopd.events.Subscribe", "parameters": {"types": \["run.\*", "daemon.\*", "job.added"\]}, "more": true' "$tmp/calls.raw" ||
	fail "events: the Subscribe call"
"$loopctl" -o json events >"$tmp/ev" 2>"$tmp/err" &
ev=$!
for _ in $(seq 100); do
	[ "$(wc -l <"$tmp/ev")" -ge 4 ] && break
	sleep 0.05
done
kill -TERM $ev
rc=0
wait $ev || rc=$?
[ $rc = 0 ] || fail "events ended by SIGTERM exited $rc"
[ "$(head -n 1 "$tmp/ev")" = '{"seq":10}' ] || fail "events -o json: $(cat "$tmp/ev")"

# ---- shutdown, call, and a daemon that hangs up ----
run 0 shutdown --timeout 1m
call_is 'io.loopd.daemon.Shutdown {"timeout_ms": 60000} '
run 0 call org.varlink.service.GetInfo
has '"vendor": "loopd"'
run 0 call io.loopd.jobs.Get '{"name": "backup"}'
call_is 'io.loopd.jobs.Get {"name": "backup"} '
run 1 call io.loopd.jobs.Frob '{}'
says "loopctl: no method io.loopd.jobs.Frob (org.varlink.service.MethodNotFound)"
run 0 call io.loopd.jobs.Trigger '{"name": "backup", "wait": true}' --more
[ "$(wc -l <"$tmp/out")" = 2 ] || fail "call --more: $(cat "$tmp/out")"
run 1 call io.loopd.test.Close
says "loopctl: the daemon at $LOOPD_SOCKET closed the connection"

# ---- completion names from the daemon ----
got=$("$loopctl" __complete jobs | tr '\n' ' ')
[ "$got" = "report backup once " ] || fail "__complete jobs: '$got'"
got=$("$loopctl" __complete plugins | tr '\n' ' ')
[ "$got" = "exec hello " ] || fail "__complete plugins: '$got'"
got=$("$loopctl" __complete kinds | tr '\n' ' ')
[ "$got" = "exec " ] || fail "__complete kinds: '$got'"
echo "ok: loopctl against a fake daemon"
