#!/usr/bin/env bash
# The config file as loopd reads it: [loopd] options, the command line
# winning over the file, [plugin.NAME] handed to the plugin, and a clear
# error naming the file, section and key for every kind of mistake.
source "$(dirname "$0")/script.bash" "$@"
hello=$build/plugins/hello.so

# Expects exit status $1 and stderr containing $2 from loopd -c FILE.
expect_error() {
	local want_rc=$1 want_msg=$2 rc=0
	"$loopd" -c "$tmp/c.conf" -S "$tmp/state" -p "$hello" 2>"$tmp/err" >/dev/null || rc=$?
	[ "$rc" = "$want_rc" ] || fail "exit $rc, not $want_rc, for: $(cat "$tmp/c.conf")"
	grep -qF -- "$want_msg" "$tmp/err" || fail "stderr lacks '$want_msg': $(cat "$tmp/err")"
}

printf '[loopd]\nthreadz = 2\n' >"$tmp/c.conf"
expect_error 1 "$tmp/c.conf: [loopd] threadz: unknown option"
printf '[loopd]\nthreads = many\n' >"$tmp/c.conf"
expect_error 1 "$tmp/c.conf: [loopd] threads = many: 'many' is not a number"
printf '[loopd]\nno-socket = perhaps\n' >"$tmp/c.conf"
expect_error 1 "no-socket = perhaps: 'perhaps' is not yes or no"
printf '[loopd]\nno-socket = yes\n[bogus]\nx = 1\n' >"$tmp/c.conf"
expect_error 1 "unknown section [bogus]"
printf '[loopd]\nno-socket = yes\nnot an ini line\n' >"$tmp/c.conf"
expect_error 1 "$tmp/c.conf:3: not INI syntax"
rc=0
"$loopd" -c "$tmp/missing.conf" --no-socket -S "$tmp/state" 2>"$tmp/err" || rc=$?
[ $rc = 1 ] && grep -q "cannot read the config file $tmp/missing.conf" "$tmp/err" ||
	fail "a missing --config file is not a clear start failure"

# A good file: [plugin.hello] ticks reaches the plugin (2 ticks, then it
# stops by itself), log-level from the file applies.
printf '[loopd]\nno-socket = yes\nlog-level = debug\nthreads = 2\n[plugin.hello]\nticks = 2\n' >"$tmp/c.conf"
timeout 20 "$loopd" -c "$tmp/c.conf" -S "$tmp/state" -p "$hello" 2>"$tmp/err" >/dev/null ||
	fail "loopd with a good config failed: $(cat "$tmp/err")"
grep -q "loopd\[debug\]" "$tmp/err" || fail "log-level = debug from the file was not applied"
grep -q "tick 2" "$tmp/err" || fail "hello did not tick twice: $(cat "$tmp/err")"
grep -q "tick 3" "$tmp/err" && fail "hello ticked more than the configured 2"

# The command line wins over the file.
timeout 20 "$loopd" -c "$tmp/c.conf" --log-level info -S "$tmp/state" -p "$hello" 2>"$tmp/err" >/dev/null
grep -q "loopd\[debug\]" "$tmp/err" && fail "--log-level on the command line did not win over the file"
echo "ok: config file"
