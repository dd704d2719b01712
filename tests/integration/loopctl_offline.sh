#!/usr/bin/env bash
# loopctl with no daemon to talk to: every command's --help (the list
# taken from `loopctl --help`, checked against CLI.md's commands), usage
# errors exit 2, no daemon at the socket exits 3 with CLI.md's message,
# the socket's precedence (-s, $LOOPD_SOCKET, the default), the bash
# completion script (bash -n, the same text as ctl/loopctl.bash, and it
# completes commands, options and values), and the man pages.
source "$(dirname "$0")/script.bash" "$@"
src=$2
loopctl=$build/ctl/loopctl
export LOOPD_SOCKET=$tmp/none.sock
[ -x "$loopctl" ] || fail "no loopctl at $loopctl: build first"

# expect STATUS STDERR-SUBSTRING ARGS...: loopctl exits STATUS and says it.
expect() {
	local want=$1 msg=$2 rc=0
	shift 2
	"$loopctl" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	[ "$rc" = "$want" ] || fail "loopctl $* exited $rc, not $want"
	[ -z "$msg" ] || grep -qF -- "$msg" "$tmp/err" ||
		fail "loopctl $*: stderr lacks '$msg'"
}

# ---- Help: every command of the table, as --help lists them ----
"$loopctl" --help >"$tmp/help" || fail "loopctl --help exited $?"
cmds=$(sed -n '/^Commands:/,/^$/p' "$tmp/help" | awk 'NR > 1 && NF { print $1 }')
for c in status stats jobs show add edit rm pause resume run runs output \
	next plugins events shutdown call completion help; do
	grep -qx "$c" <<<"$cmds" || fail "loopctl --help does not list $c"
done
for c in $cmds; do
	"$loopctl" "$c" --help >"$tmp/out" 2>"$tmp/err" || fail "loopctl $c --help exited $?"
	grep -q "^Usage: loopctl $c" "$tmp/out" || fail "loopctl $c --help: no usage line"
	grep -q -- "--socket SOCKET" "$tmp/out" || fail "loopctl $c --help: no global options"
	[ -s "$tmp/err" ] && fail "loopctl $c --help wrote to stderr"
	"$loopctl" help "$c" | cmp -s - "$tmp/out" || fail "loopctl help $c differs from $c --help"
	"$loopctl" "$c" -h | cmp -s - "$tmp/out" || fail "loopctl $c -h differs from --help"
	# --help wins over missing arguments and never connects.
	"$loopctl" -s /nonexistent "$c" --help >/dev/null || fail "loopctl $c --help connected"
done
"$loopctl" help | cmp -s - "$tmp/help" || fail "loopctl help differs from --help"
"$loopctl" -h | cmp -s - "$tmp/help" || fail "loopctl -h differs from --help"
grep -q __complete "$tmp/help" && fail "the hidden __complete is listed"
"$loopctl" --version | grep -qE '^loopctl [0-9]+\.[0-9]+' || fail "--version"
grep -q $'\033' "$tmp/help" && fail "escape sequences in output that is not a terminal"

# ---- Usage errors: 2, before any connection ----
expect 2 "Usage: loopctl"
expect 2 "unknown command 'bogus'" bogus
expect 2 "unknown option '--bogus'" --bogus status
expect 2 "needs a value" -s
expect 2 "-o takes table or json" -o yaml jobs
expect 2 "-o takes table or json" jobs -o yaml
expect 2 "missing argument" show
expect 2 "unexpected argument 'b'" show a b
expect 2 "unexpected argument" status now
expect 2 "unknown option '--bogus'" jobs --bogus
expect 2 "option '--state' needs S" jobs --state
expect 2 "a schedule is required" add x -- /bin/true
expect 2 "--timeout forever" add x -e @daily --timeout forever
expect 2 "skip, allow, queue or replace" add x -e @daily --overlap never
expect 2 "once, skip or all" add x -e @daily --catchup twice
expect 2 "--retries" add x -e @daily --retries many
expect 2 "JSON object" add x -e @daily --args '[1]'
expect 2 "followed by a command" add x -e @daily --
expect 2 "not both" add x -e @daily --args '{"command": "ls"}' -- ls
expect 2 "--kind exec" add x -e @daily --kind sql -- ls
expect 2 "takes no value" add x -e @daily --paused=yes
expect 2 "nothing to change" edit x
expect 2 "-n takes a count" next @daily -n 0
expect 2 "-n takes a count" next @daily -n 1001
expect 2 "unknown time zone 'Mars/Olympus'" next @daily --tz Mars/Olympus
expect 2 "--from yesterday" next @daily --from yesterday
expect 2 "--limit takes a count" runs --limit 0
expect 2 "RUN_ID" output abc
expect 2 "--watch takes seconds" stats --watch 0
expect 2 "--timeout soon" shutdown --timeout soon
expect 2 "not load, unload or reload" plugins frobnicate x
expect 2 "takes one PATH" plugins load
expect 2 "takes one NAME" plugins unload
expect 2 "unexpected argument 'b'" plugins unload a b
expect 2 "JSON object" call io.loopd.jobs.List '[1]'
expect 2 "only bash" completion zsh
expect 2 "unknown command 'nope'" help nope

# ---- No daemon: 3, with the socket and the reason ----
msg="loopctl: no daemon at $tmp/none.sock: No such file or directory"
for args in status stats jobs "show x" "add x -e @daily -- true" \
	"edit x --jitter 1s" "rm x y" "pause x" "resume x" "run x" \
	"run x --wait" runs "runs x --failed" "output 1" "next @daily" plugins \
	"plugins load x.so" "plugins unload x" "plugins reload x" events \
	shutdown "call io.loopd.jobs.List" "call io.loopd.events.Subscribe --more" \
	"stats --watch 1"; do
	# shellcheck disable=SC2086
	expect 3 "$msg" $args
	[ "$(wc -l <"$tmp/err")" = 1 ] || fail "loopctl $args: more than one line on stderr"
done
expect 3 "no daemon at $tmp/none.sock" -o json status
# The socket: -s before or after the command wins over $LOOPD_SOCKET.
expect 3 "no daemon at $tmp/a.sock" -s "$tmp/a.sock" status
expect 3 "no daemon at $tmp/b.sock" --socket="$tmp/b.sock" jobs
expect 3 "no daemon at $tmp/c.sock" jobs -s "$tmp/c.sock"
# Not a socket, and a directory on the way that is a file.
: >"$tmp/file"
expect 3 "no daemon at $tmp/file: " -s "$tmp/file" status
expect 3 "no daemon at $tmp/file/x.sock: " -s "$tmp/file/x.sock" status
# The default: loopd_default_socket() (protocol.h).
if [ "$(id -u)" = 0 ]; then
	want=/run/loopd/loopd.sock
else
	want=$tmp/rt/loopd/loopd.sock
fi
rc=0
LOOPD_SOCKET='' XDG_RUNTIME_DIR=$tmp/rt "$loopctl" status 2>"$tmp/err" || rc=$?
[ $rc = 3 ] || [ $rc = 4 ] || fail "default socket: exit $rc"
grep -qF "$want" "$tmp/err" || fail "the default socket is not $want"
# Permission denied on connect: 4 (root passes every permission check).
if [ "$(id -u)" != 0 ]; then
	mkdir "$tmp/locked" && : >"$tmp/locked/s" && chmod 000 "$tmp/locked"
	expect 4 "PermissionDenied" -s "$tmp/locked/s" status
	chmod 700 "$tmp/locked"
fi

# ---- Bash completion ----
"$loopctl" completion bash >"$tmp/c.bash" || fail "completion bash exited $?"
bash -n "$tmp/c.bash" || fail "the completion script does not parse"
cmp -s "$tmp/c.bash" "$src/ctl/loopctl.bash" || fail "completion bash is not ctl/loopctl.bash"
# complete WORD...: what the script offers for the last word.
complete_words() {
	PATH=$build/ctl:$PATH bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_loopctl
		((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ "$tmp/c.bash" loopctl "$@"
}
got=$(complete_words st)
[ "$got" = "stats status " ] || fail "completing 'st': '$got'"
got=$(complete_words add x --ov)
[ "$got" = "--overlap " ] || fail "completing 'add x --ov': '$got'"
got=$(complete_words add x --overlap "")
[ "$got" = "allow queue replace skip " ] || fail "completing --overlap: '$got'"
got=$(complete_words -o "")
[ "$got" = "json table " ] || fail "completing -o: '$got'"
got=$(complete_words -s /tmp/x plugins "")
[ "$got" = "load reload unload " ] || fail "completing plugins: '$got'"
got=$(complete_words help sh)
[ "$got" = "show shutdown " ] || fail "completing help: '$got'"
got=$(complete_words call io.loopd.jobs.Li)
[ "$got" = "io.loopd.jobs.List " ] || fail "completing call: '$got'"
got=$(complete_words next x --tz Europe/Berl)
[ "$got" = "Europe/Berlin " ] || fail "completing --tz: '$got'"
got=$(complete_words show "")
[ "$got" = "" ] || fail "job names without a daemon: '$got'"
"$loopctl" __complete options next | grep -qx -- "-n N" || fail "__complete options next"

# ---- Man pages: every command documented; groff warnings are bugs ----
for c in $cmds; do
	grep -qE "^\.BI? \"?$c( |\"|\$)" "$src/ctl/loopctl.1" ||
		fail "loopctl.1 does not document $c"
done
if command -v groff >/dev/null; then
	for m in "$src/ctl/loopctl.1" "$src/ctl/loopd.8"; do
		w=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
		[ -z "$w" ] || fail "groff warns about $m: $w"
	done
fi
echo "ok: loopctl offline"
