#!/usr/bin/env bash
# loopctl against a real loopd on a private socket: every command, its
# exit code, table and JSON output (CLI.md), and access levels with
# setpriv (PROTOCOL.md): a uid that cannot reach the socket gets exit 4,
# a read-level uid can read but not write.
source "$(dirname "$0")/script.bash" "$@"
ctl=$build/ctl/loopctl
sock=$tmp/run/loopd.sock
export LOOPD_SOCKET=$sock NO_COLOR=1
"$loopd" -s "$sock" -S "$tmp/state" -P "$build/plugins" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "loopd did not create its socket"

expect() { # expect CODE CMD...: runs loopctl, checks the exit code
	local want=$1 rc=0
	shift
	"$ctl" "$@" >"$tmp/out" 2>"$tmp/stderr" || rc=$?
	[ "$rc" = "$want" ] || fail "loopctl $*: exit $rc, not $want: $(cat "$tmp/out" "$tmp/stderr")"
}
has() { grep -q -- "$1" "$tmp/out" || fail "output of the last command lacks '$1': $(cat "$tmp/out")"; }
jq_() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); print($1)"; }

expect 0 status
has "State: *running"
expect 0 -o json status
[ "$(jq_ 'd["state"]')" = running ] || fail "status -o json"
expect 0 stats
expect 0 metrics
has "loopd_loop_iterations_total"
expect 0 plugins
has "hello"
has "exec"

# add: the hello kind and an exec job; identical again is fine.
expect 0 add greet -e 'every 1h' --kind hello --args '{"message":"hi"}'
expect 0 add greet -e 'every 1h' --kind hello --args '{"message":"hi"}'
expect 1 add greet -e 'every 2h' --kind hello --args '{"message":"hi"}'
grep -q "JobExists" "$tmp/stderr" || fail "JobExists not named: $(cat "$tmp/stderr")"
expect 0 add fails -e '@daily' -- /bin/sh -c 'echo out; echo err >&2; exit 3'
expect 0 add shell -e '*/5 * * * *' --tz Europe/Berlin --args '{"command":"echo $((6*7))"}' --timeout 30s --retries 2 --backoff 1s --jitter 10s
expect 1 add bad -e '0 0 30 2 *' --kind hello --args '{"message":"x"}'
grep -q "InvalidSchedule" "$tmp/stderr" || fail "0 0 30 2 * not refused as InvalidSchedule"
expect 1 add bad -e '@daily' --kind nosuchkind
grep -q "UnknownKind" "$tmp/stderr" || fail "unknown kind: $(cat "$tmp/stderr")"
expect 1 add bad -e '@daily' --kind hello --args '{"nomessage":1}'
grep -q "ArgsRejected" "$tmp/stderr" || fail "bad args: $(cat "$tmp/stderr")"
expect 2 add
expect 2 add x -e '@daily' --overlap sometimes

expect 0 jobs
has "NEXT.*LEFT.*LAST.*PASSED.*RESULT.*JOB.*KIND.*SCHEDULE"
has "greet"
expect 0 -o json jobs
[ "$(jq_ 'len(d["jobs"])')" = 3 ] || fail "jobs -o json: $(cat "$tmp/out")"
expect 0 show shell
has "Europe/Berlin"
expect 5 show nosuchjob

# run --wait: ok exits 0, a failing job 1, with its output kept.
expect 0 run greet --wait
expect 1 run fails --wait
expect 0 run shell --wait
expect 0 runs
has "greet"
expect 0 -o json runs fails
id=$(jq_ 'd["runs"][0]["id"]')
[ "$(jq_ 'd["runs"][0]["exit_code"]')" = 3 ] || fail "exit code not recorded"
expect 0 output "$id"
[ "$(cat "$tmp/out")" = "out
err" ] || fail "output of run $id: $(cat "$tmp/out")"
expect 0 runs --failed
has "fails"
expect 5 output 999999
expect 0 -o json runs shell
sid=$(jq_ 'd["runs"][0]["id"]')
expect 0 output "$sid"
has "42"

# edit, pause, resume, rm.
expect 0 edit greet -e 'every 2h'
expect 0 -o json show greet
[ "$(jq_ 'd["job"]["schedule"]')" = "every 2h" ] || fail "edit did not change the schedule"
expect 0 pause greet
expect 0 -o json show greet
[ "$(jq_ 'd["job"]["state"]')" = paused ] || fail "pause"
expect 0 resume greet
expect 5 pause nosuchjob
expect 0 rm fails
expect 5 rm fails

# next: Jobs.Preview, RFC 3339 in the zone.
expect 0 next '30 2 * * *' --tz Europe/Berlin --from '2026-03-28 00:00' -n 2
[ "$(cat "$tmp/out")" = "2026-03-28T02:30:00+01:00
2026-03-29T03:00:00+02:00" ] || fail "next: $(cat "$tmp/out")"
expect 1 next 'not a schedule'

# call: raw varlink, and the org.varlink.service interface.
expect 0 call io.loopd.jobs.Get '{"name":"greet"}'
expect 0 call org.varlink.service.GetInfo
has "io.loopd.jobs"
expect 1 call io.loopd.jobs.Nope
expect 0 completion bash
bash -n "$tmp/out" || fail "completion script does not parse"

# events: a stream, followed until interrupted.  --foreground: timeout
# signals loopctl alone, not its process group too; under ASan the group
# signal could reach LeakSanitizer's tracer (a clone in the group) while
# it stops the exiting loopctl, which then spins for ever.
timeout --foreground -k 10 -s INT 3 "$ctl" events >"$tmp/events" 2>&1 &
ev=$!
sleep 0.5
expect 0 run greet
wait "$ev" || true
grep -q "run.started" "$tmp/events" || fail "events saw no run: $(cat "$tmp/events")"

# plugins unload / load / reload: hello's job waits, then runs again.
expect 0 plugins unload hello
expect 0 -o json show greet
[ "$(jq_ 'd["job"]["state"]')" = waiting-for-plugin ] || fail "job of an unloaded kind: $(cat "$tmp/out")"
expect 0 plugins load hello
expect 0 plugins reload hello
expect 5 plugins unload nosuchplugin
expect 1 plugins load /etc/passwd

# Access: another uid cannot reach the socket; a read-level uid can
# read but not write (the socket opened to it by hand).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	rc=0; nobody "$ctl" status >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" = 4 ] || fail "nobody reached the 0750 socket directory: exit $rc"
	chmod o+x "$tmp/run" "$tmp"; chmod o+rw "$sock"
	rc=0; nobody "$ctl" status >/dev/null 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "a read-level uid could not read: exit $rc"
	rc=0; nobody "$ctl" pause greet 2>"$tmp/out" || rc=$?
	[ "$rc" = 4 ] || fail "a read-level uid could write: exit $rc"
	grep -q PermissionDenied "$tmp/out" || fail "no PermissionDenied: $(cat "$tmp/out")"
	grep -q "uid 65534 pid [0-9]* calls" "$tmp/err" && fail "a refused call was logged as made"
	grep -q "uid 65534 .*denied" "$tmp/err" || fail "the refused call was not logged"
fi

expect 0 shutdown
wait "$pid" || fail "loopd did not exit 0 after shutdown"
pid=
expect 3 status
echo "ok: every command against a real loopd"
