#!/usr/bin/env bash
# exec.sh - the exec plugin end to end.  Jobs are written into the
# database with sqlite3, `loopd --no-socket` runs them (one-shot `at` jobs:
# it exits once all are done), and the runs and outputs tables are
# checked: exit codes, output order and capping, UTF-8 repair, the child's
# hygiene as tests/plugins/exec_probe reports it (descriptors, environment
# without loopd's, signal mask and dispositions, process group, umask,
# stdin), a timeout that needs SIGKILL to the process group, an orphan
# reaped while loopd runs, a process group that holds the output open.
# Then, through tests/plugins/exec_harness (the plugin under the real loop,
# no scheduler): the args' refusals and the kill of every run at shutdown.
source "$(dirname "$0")/script.bash" "$@"
plugins=$build/plugins
probe=$build/tests/plugins/exec_probe
harness=$build/tests/plugins/exec_harness
[ -f "$plugins/exec.so" ] && [ -x "$probe" ] && [ -x "$harness" ] ||
	fail "build plugins/exec, exec_probe and exec_harness first"
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3"; exit 0; }
root=0
[ "$(id -u)" = 0 ] && root=1

state=$tmp/state
db=$state/loopd.db
printf '[plugin.exec]\nkill_grace = 1s\n' >"$tmp/loopd.conf"
run_loopd() {
	# loopd's own environment holds what a job must never see.
	NOTIFY_SOCKET=/nonexistent/notify LISTEN_FDS=3 LISTEN_PID=1 \
		FOO_LEAK=1 LD_PRELOAD= \
		timeout 120 "$loopd" -c "$tmp/loopd.conf" --no-socket -S "$state" \
		-P "$plugins" -p exec "$@"
}
q() { sqlite3 "$db" "$1"; }
# An ASan/UBSan build reports into stderr: any report fails the test.
clean() {
	! grep -E "Sanitizer|runtime error" "$1" >&2 || fail "sanitizer report above"
}
json_str() { # a shell string as a JSON string (no control characters)
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}
# add NAME SECONDS_FROM_T0 ARGS_JSON [TIMEOUT_MS]: a one-shot job, due
# with next_usec as jobs.Add would set it, so a loopd slow to start still
# runs it (catch-up) instead of finding its time already gone.
t0=$(date +%s)
add() {
	local at=$((t0 + $2)) args=${3//\'/\'\'}
	q "INSERT INTO jobs (name, kind, plugin, schedule, tz, args, timeout_ms,
		next_usec, created_usec, updated_usec) VALUES ('$1', 'exec',
		'exec', 'at $(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)', 'UTC',
		'$args', ${4:-0}, $((at * 1000000)), $((t0 * 1000000)),
		$((t0 * 1000000)))"
}
# The last run of job NAME: result|exit_code|started_usec|finished_usec
run_of() {
	q "SELECT result, ifnull(exit_code, 'null'), started_usec, finished_usec
		FROM runs JOIN jobs ON jobs.id = job_id WHERE name = '$1'
		ORDER BY runs.id DESC LIMIT 1"
}
output_of() {
	q "SELECT data FROM outputs JOIN runs ON runs.id = run_id
		JOIN jobs ON jobs.id = job_id WHERE name = '$1'
		ORDER BY runs.id DESC LIMIT 1"
}
expect_run() { # NAME RESULT EXIT_CODE
	local r
	r=$(run_of "$1" | cut -d'|' -f1,2)
	[ "$r" = "$2|$3" ] || fail "$1: run is '$r', not '$2|$3': $(output_of "$1")"
}
expect_line() { # NAME LINE: a whole line of the output
	output_of "$1" | grep -qxF -- "$2" ||
		fail "$1: no line '$2' in its output: $(output_of "$1")"
}
elapsed_ms() { # NAME: finished - started
	local r
	r=$(run_of "$1")
	echo $((($(echo "$r" | cut -d'|' -f4) - $(echo "$r" | cut -d'|' -f3)) / 1000))
}

# The database, then the jobs: all due in 2 s, but `keep` at 10 s keeps
# loopd running while the orphan is checked.
run_loopd 2>"$tmp/err" || fail "loopd did not create its database"
t0=$(date +%s)
P=$(json_str "$probe")
add hygiene 2 "{\"argv\": [$P, \"fds\", \"stdin\", \"env\", \"signals\", \"pgid\", \"umask\", \"cwd\"], \"env\": {\"JOB_VAR\": \"job value\"}}"
add cwd 2 "{\"argv\": [$P, \"cwd\"], \"cwd\": \"/tmp\"}"
add ok 2 '{"command": "true"}'
add exit3 2 '{"command": "echo on stdout; echo on stderr >&2; exit 3"}'
add signal 2 "{\"argv\": [$P, \"raise\", \"15\"]}"
add interleave 2 "{\"argv\": [$P, \"interleave\", \"500\"]}"
add big 2 "{\"argv\": [$P, \"mib\", \"10\"]}"
add utf8 2 "{\"command\": \"printf 'a\\\\377b\\\\342\\\\202c\\\\n'\"}"
add notfound 2 '{"argv": ["/nonexistent/program"]}'
add badcwd 2 '{"argv": ["/bin/true"], "cwd": "/nonexistent/dir"}'
add badargs 2 '{"argv": ["/bin/true"], "bogus": 1}'
add timeout 2 "{\"command\": \"trap '' TERM; $probe ignore-term sleep 37.25\"}" 500
add orphan 2 "{\"argv\": [$P, \"orphan\", \"1.5\", \"exit\", \"0\"]}"
add holder 2 "{\"argv\": [$P, \"holder\", \"30\", \"lines\", \"2\", \"exit\", \"4\"]}"
[ $root = 1 ] && add user 2 "{\"argv\": [$P, \"uid\", \"env\", \"cwd\"], \"user\": \"nobody\"}"
add keep 10 '{"command": "true"}'

run_loopd 2>"$tmp/err" &
pid=$!
# The orphan: exited 1.5 s after its job, then reaped by loopd (not left
# a zombie), while loopd still runs.
for _ in $(seq 100); do
	orphan=$(output_of orphan | sed -n 's/^orphan: //p')
	[ -n "$orphan" ] && break
	sleep 0.1
done
[ -n "$orphan" ] || fail "the orphan job did not run: $(run_of orphan)"
for _ in $(seq 60); do
	[ -e "/proc/$orphan" ] || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null || fail "loopd exited before the orphan was checked"
[ -e "/proc/$orphan" ] &&
	fail "orphan $orphan not reaped 6 s after it exited: $(cat /proc/$orphan/stat)"
zombies=$(ps -o pid=,stat= --ppid "$pid" | awk '$2 ~ /^Z/' | wc -l)
[ "$zombies" = 0 ] || fail "zombies under loopd: $(ps -o pid,stat,cmd --ppid "$pid")"
wait "$pid" || fail "loopd failed: exit $?"
pid=
clean "$tmp/err"
q "SELECT name, state FROM jobs WHERE state != 'done'" | grep . &&
	fail "jobs left undone"

# Hygiene.
expect_run hygiene ok 0
expect_line hygiene "fds: 0 1 2"
expect_line hygiene "stdin: /dev/null"
expect_line hygiene "$(printf 'SigBlk:\t0000000000000000')"
expect_line hygiene "$(printf 'SigIgn:\t0000000000000000')"
expect_line hygiene "pgid: own"
expect_line hygiene "umask: 0022"
home=$(getent passwd "$(id -u)" | cut -d: -f6)
[ -d "$home" ] || home=/
expect_line hygiene "cwd: $home"
expect_line hygiene "env: SHELL=/bin/sh"
expect_line hygiene "env: HOME=$home"
expect_line hygiene "env: LOGNAME=$(id -un)"
expect_line hygiene "env: USER=$(id -un)"
if [ $root = 1 ]; then
	expect_line hygiene "env: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
else
	expect_line hygiene "env: PATH=/usr/local/bin:/usr/bin:/bin"
fi
expect_line hygiene "env: JOB_VAR=job value"
n=$(output_of hygiene | grep -c '^env: ')
[ "$n" = 6 ] || fail "hygiene: $n variables, not 6: $(output_of hygiene | grep '^env: ')"

expect_run cwd ok 0
expect_line cwd "cwd: /tmp"

# Status: exit codes as they are, a signal N as 128 + N; stdout and
# stderr both captured.
expect_run ok ok 0
expect_run exit3 failed 3
[ "$(output_of exit3)" = "$(printf 'on stdout\non stderr')" ] ||
	fail "exit3: output '$(output_of exit3)'"
expect_run signal failed 143

# stdout and stderr through one pipe, in the order written.
want=$(for i in $(seq 500); do echo "out $i"; echo "err $i"; done)
[ "$(output_of interleave)" = "$want" ] || fail "interleave: order lost"

# 10 MiB drained (the job does not stall) and kept head + tail: the
# first bytes, "[loopd: N bytes dropped]" on a line of its own, the last
# bytes, in at most 64 KiB.
expect_run big ok 0
q "SELECT writefile('$tmp/big.out', data) FROM outputs JOIN runs ON runs.id =
	run_id JOIN jobs ON jobs.id = job_id WHERE name = 'big'" >/dev/null
"$probe" mib 10 >"$tmp/big.want"
len=$(stat -c %s "$tmp/big.out")
[ "$len" -le 65536 ] && [ "$len" -gt 60000 ] || fail "big: $len bytes kept"
mark=$(grep -a '^\[loopd: [0-9]* bytes dropped\]$' "$tmp/big.out") ||
	fail "big: no dropped-bytes line"
dropped=$(echo "$mark" | tr -dc 0-9)
at=$(grep -abo '\[loopd: ' "$tmp/big.out" | cut -d: -f1)
tail_len=$((len - at - ${#mark} - 1))
cmp -n $((at - 1)) "$tmp/big.out" "$tmp/big.want" || fail "big: head differs"
cmp <(tail -c "$tail_len" "$tmp/big.out") <(tail -c "$tail_len" "$tmp/big.want") ||
	fail "big: tail differs"
# The head ends at "\n" before the marker: the job's, or one added.
[ $((at + tail_len + dropped)) = 10485760 ] ||
	[ $((at - 1 + tail_len + dropped)) = 10485760 ] ||
	fail "big: $at + $tail_len kept and $dropped dropped is not 10 MiB"
big_ms=$(elapsed_ms big)
[ "$big_ms" -lt 10000 ] || fail "big: 10 MiB took $big_ms ms"

# Not UTF-8: each maximal ill-formed part becomes one U+FFFD.
[ "$(q "SELECT hex(data) FROM outputs JOIN runs ON runs.id = run_id
	JOIN jobs ON jobs.id = job_id WHERE name = 'utf8'")" = 61EFBFBD62EFBFBD630A ] ||
	fail "utf8: output $(output_of utf8 | od -c)"

# Could not start: failed, no exit code, the reason as the output.
expect_run notfound failed null
output_of notfound | grep -qF "cannot run /nonexistent/program: No such file or directory" ||
	fail "notfound: output '$(output_of notfound)'"
expect_run badcwd failed null
output_of badcwd | grep -qF "cwd /nonexistent/dir: No such file or directory" ||
	fail "badcwd: output '$(output_of badcwd)'"
expect_run badargs failed null
output_of badargs | grep -qF "args.bogus: unknown key" ||
	fail "badargs: output '$(output_of badargs)'"

# Timeout at 500 ms: SIGTERM is ignored, SIGKILL to the group after the
# kill grace (1 s here); nothing of it left.
expect_run timeout timeout 137
tmo_ms=$(elapsed_ms timeout)
[ "$tmo_ms" -ge 1400 ] && [ "$tmo_ms" -lt 6000 ] || fail "timeout: ended after $tmo_ms ms"
pgrep -f "ignore-term sleep 37.25" && fail "timeout: processes left running"

# A process left behind holding the output: the run ends 1 s after its
# child, with its status and output, the group killed.
expect_run holder failed 4
expect_line holder "line 00000002"
holder=$(output_of holder | sed -n 's/^holder: //p')
[ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null ||
	fail "holder: process $holder still running"
t=$(elapsed_ms holder)
[ "$t" -ge 900 ] && [ "$t" -lt 5000 ] || fail "holder: ended after $t ms"

if [ $root = 1 ]; then
	expect_run user ok 0
	expect_line user "uid: $(id -u nobody) gid: $(id -g nobody) groups: $(id -G nobody | wc -w)"
	expect_line user "env: USER=nobody"
	expect_line user "env: PATH=/usr/local/bin:/usr/bin:/bin"
fi
echo "ok: exec through loopd (10 MiB in $big_ms ms, timeout $tmo_ms ms)"

# The args' refusals, word for word (validate).
cat >"$tmp/want" <<EOF
rejected: args: not an object
rejected: args.bogus: unknown key; exec takes command, argv, env, cwd and user
rejected: args: neither command (a shell command line) nor argv (an array) given
rejected: args: command and argv together; give one of them
rejected: args.command: empty
rejected: args.argv: empty; it needs at least the program to run
rejected: args.argv[2]: not a string
rejected: args.env: "1X" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)
rejected: args.env.A: not a string
rejected: args.cwd: "rel/dir" is not an absolute path
rejected: args: not valid JSON: end of file expected near ']' (line 1, column 13)
ok
EOF
"$harness" -V "$plugins/exec.so" '[]' '{"argv": ["x"], "bogus": 1}' '{}' \
	'{"command": "x", "argv": ["x"]}' '{"command": ""}' '{"argv": []}' \
	'{"argv": ["a", "b", 3]}' '{"argv": ["a"], "env": {"1X": "v"}}' \
	'{"argv": ["a"], "env": {"A": 1}}' '{"argv": ["a"], "cwd": "rel/dir"}' \
	'{"argv": []}]' '{"argv": ["a"], "env": {"A": "1"}, "cwd": "/"}' \
	>"$tmp/got" 2>"$tmp/err" || fail "exec_harness -V failed"
diff "$tmp/want" "$tmp/got" >&2 || fail "validate's messages differ"
clean "$tmp/err"
"$harness" -V "$plugins/exec.so" '{"argv": ["a"], "user": "nobody"}' >"$tmp/got" 2>"$tmp/err"
if [ $root = 1 ]; then
	grep -qx ok "$tmp/got" || fail "user refused as root: $(cat "$tmp/got")"
else
	grep -q "rejected: args.user: loopd does not run as root" "$tmp/got" ||
		fail "user not refused without root: $(cat "$tmp/got")"
fi

# The plugin's shutdown with runs going: every process group killed,
# nothing left, no zombie.
rc=0
"$harness" -x 500 "$plugins/exec.so" \
	"{\"command\": \"$probe ignore-term sleep 41.5 & $probe sleep 41.5\"}" \
	"{\"argv\": [$P, \"ignore-term\", \"sleep\", \"41.5\"]}" \
	>"$tmp/got" 2>"$tmp/err" || rc=$?
grep -qx "unfinished: 2" "$tmp/got" || fail "shutdown: $(cat "$tmp/got")"
clean "$tmp/err"
sleep 0.2
pgrep -f "sleep 41.5" && fail "shutdown left processes running"
echo "ok: exec validate and shutdown"
