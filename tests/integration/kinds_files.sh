#!/usr/bin/env bash
# kinds_files.sh - the files kind (plugins/files) end to end: a real loopd
# on a private socket, jobs added and run with loopctl.  Old and new
# files (mtimes set with touch -d), globs, durations, a dry run that
# changes nothing, delete, not recursive, remove_empty_dirs, move to an
# archive (on the same filesystem and, where /dev/shm is another one,
# across), a name taken in the archive, symlinks never followed (a link
# out of the tree goes as a link, its target stays; a link to a directory
# is not walked), the output capped, errors counted (exit 1), a walk
# stopped by the job's timeout, and the refusals of validate.
#
# An undeletable file: a file in a chmod 555 directory.  Root ignores
# permissions, so as root loopd runs without CAP_DAC_OVERRIDE,
# CAP_DAC_READ_SEARCH and CAP_FOWNER (setpriv --bounding-set); where that
# cannot be done, that one check is skipped, saying so.
source "$(dirname "$0")/script.bash" "$@"
ctl=$build/ctl/loopctl
sock=$tmp/s.sock
[ -f "$build/plugins/files.so" ] || fail "build plugins/files first"
export NO_COLOR=1

drop=()
perm_check=1
if [ "$(id -u)" = 0 ]; then
	caps=-dac_override,-dac_read_search,-fowner
	if command -v setpriv >/dev/null &&
		setpriv --bounding-set=$caps -- true 2>/dev/null; then
		drop=(setpriv --bounding-set=$caps --)
	else
		perm_check=0
	fi
fi
"${drop[@]}" "$loopd" -s "$sock" -S "$tmp/state" -P "$build/plugins" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "loopd did not create its socket"

c() { "$ctl" -s "$sock" "$@"; }
expect() { # expect CODE CMD...: runs loopctl, checks the exit code
	local want=$1 rc=0
	shift
	c "$@" >"$tmp/out" 2>"$tmp/stderr" || rc=$?
	[ "$rc" = "$want" ] || fail "loopctl $*: exit $rc, not $want: $(cat "$tmp/out" "$tmp/stderr")"
}
n=0
# job CODE ARGS_JSON [loopctl add options]: adds a new job and runs it;
# its output in $tmp/output, its result in $result.
job() {
	local want=$1 args=$2 id
	shift 2
	n=$((n + 1))
	expect 0 add "j$n" -e '@daily' --kind files --args "$args" "$@"
	expect "$want" run "j$n" --wait
	c -o json runs "j$n" >"$tmp/runs" || fail "runs j$n"
	id=$(json_field id)
	result=$(json_field result)
	c output "$id" >"$tmp/output" || fail "output of run $id"
}
# json_field KEY: the first "KEY": value of $tmp/runs (the newest run),
# without its quotes (python takes seconds to start on some machines).
json_field() {
	grep -m1 -oE "\"$1\": (\"[^\"]*\"|[0-9-]+)" "$tmp/runs" | sed -E 's/^"[^"]*": "?//; s/"$//'
}
has() { grep -qE -- "$1" "$tmp/output" || fail "output lacks /$1/: $(cat "$tmp/output")"; }
hasnt() { ! grep -qE -- "$1" "$tmp/output" || fail "output has /$1/: $(cat "$tmp/output")"; }
exists() { for f; do [ -e "$f" ] || [ -L "$f" ] || fail "$f is gone"; done; }
gone() { for f; do [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there"; done; }
refused() { # refused ARGS_JSON MESSAGE: loopctl add exits 1, ArgsRejected
	expect 1 add bad -e '@daily' --kind files --args "$1"
	grep -q "ArgsRejected" "$tmp/stderr" || fail "$1: not ArgsRejected: $(cat "$tmp/stderr")"
	grep -qF -- "$2" "$tmp/stderr" || fail "$1: the refusal does not say '$2': $(cat "$tmp/stderr")"
}
old() { touch -h -d '40 days ago' "$@"; }
snapshot() { (cd "$1" && find . -printf '%p %y %s %T@\n' | sort); }

# The tree: old and new files at three levels, a symlink to a file out of
# the tree and one to a directory out of it, both old and matching.
out=$tmp/outside
d=$tmp/tree
make_tree() {
	rm -rf "$d" "$out"
	mkdir -p "$d/a/b" "$d/keep" "$out"
	for f in old.log old.tmp old.txt new.log a/old.log a/new.tmp a/b/old.log \
		a/b/old.tmp keep/new.log; do
		printf '%s\n' "$f" >"$d/$f"
	done
	echo secret >"$out/secret.log"
	ln -s "$out/secret.log" "$d/link.log"
	ln -s "$out" "$d/linkdir.log"
	old "$d"/old.* "$d"/a/old.log "$d"/a/b/old.* "$out/secret.log" \
		"$d/link.log" "$d/linkdir.log"
}

# A dry run reports and changes nothing.
make_tree
before=$(snapshot "$d")
job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.log\", \"*.tmp\"], \"dry_run\": true, \"remove_empty_dirs\": true}"
has "^delete files under $d older than 30d, matching \*\.log \*\.tmp \(dry run\)\$"
has "^would delete old\.log \(8 bytes\)\$"
has "^would delete a/b/old\.tmp \(12 bytes\)\$"
has "^would delete link\.log \(symlink\)\$"
has "^would remove empty directory a/b/\$"
has "^7 files would be deleted \(50 bytes\), 3 skipped, 0 errors, 1 empty directory would be removed\$"
hasnt "new|old\.txt|secret"
[ "$(snapshot "$d")" = "$before" ] || fail "the dry run changed the tree"

# Delete: the old matching files go, symlinks as links (their targets
# stay; the directory link is not walked), the rest stays.
job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.log\", \"*.tmp\"]}"
[ "$result" = ok ] || fail "delete: result $result"
gone "$d/old.log" "$d/old.tmp" "$d/a/old.log" "$d/a/b/old.log" "$d/a/b/old.tmp" \
	"$d/link.log" "$d/linkdir.log"
exists "$d/old.txt" "$d/new.log" "$d/a/new.tmp" "$d/keep/new.log" "$d/a/b" \
	"$out/secret.log"
has "^deleted a/b/old\.log \(12 bytes\)\$"
has "^deleted linkdir\.log \(symlink\)\$"
has "^7 files deleted \(50 bytes\), 3 skipped, 0 errors\$"
[ "$(cat "$out/secret.log")" = secret ] || fail "the symlink's target changed"

# A symlink to a directory is never walked, even when it is not a
# candidate itself; not recursive stays at the top.
make_tree
rm "$d/linkdir.log"
ln -s "$out" "$d/linkdir"
old "$out" "$d/linkdir"
job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"recursive\": false}"
exists "$out/secret.log" "$d/a/old.log" "$d/a/b/old.log" "$d/new.log"
gone "$d/old.log" "$d/old.txt" "$d/link.log" "$d/linkdir"
has "^5 files deleted \(24 bytes\), 1 skipped, 0 errors\$"
hasnt "a/|secret"

# Durations: 1h30m takes a file of 2 hours, not one of 1 hour; so does
# older_than_ms.
make_tree
touch -d '2 hours ago' "$d/new.log"
touch -d '1 hour ago' "$d/keep/new.log"
job 0 "{\"dir\": \"$d\", \"older_than\": \"1h30m\", \"match\": [\"new.*\"]}"
gone "$d/new.log"
exists "$d/keep/new.log" "$d/a/new.tmp"
has "^1 file deleted \(8 bytes\), 2 skipped, 0 errors\$"
touch -d '2 hours ago' "$d/a/new.tmp"
job 0 "{\"dir\": \"$d\", \"older_than_ms\": 5400000, \"match\": [\"new.*\"]}"
gone "$d/a/new.tmp"
exists "$d/keep/new.log"

# remove_empty_dirs: a directory this run emptied goes, and an old empty
# one; a new empty one stays (an application may just have made it),
# and so does args.dir itself.
make_tree
mkdir "$d/fresh" "$d/stale" "$d/a/b/c" "$d/a/b/new"
old "$d/stale" "$d/a/b/c"
job 0 "{\"dir\": \"$d/a\", \"older_than\": \"30d\", \"remove_empty_dirs\": true}"
gone "$d/a/b/c" "$d/a/b/old.log"
exists "$d/a" "$d/a/new.tmp" "$d/a/b/new"
has "^removed empty directory b/c/\$"
has "^3 files deleted \(34 bytes\), 1 skipped, 0 errors, 1 empty directory removed\$"
rmdir "$d/a/b/new"
rm "$d/a/new.tmp"
old "$d/a/b" # a, emptied by this run when b goes, goes too
job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.tmp\"], \"remove_empty_dirs\": true}"
gone "$d/stale" "$d/a" "$d/old.tmp"
exists "$d/fresh" "$d/keep" "$d"
has "^removed empty directory stale/\$"
has "^removed empty directory a/b/\$"
has "^removed empty directory a/\$"
has "^1 file deleted \(8 bytes\), 0 skipped, 0 errors, 3 empty directories removed\$"

# Move, on the same filesystem: the layout is kept, a name already in
# the archive is an error for that file (and the run's status 1), an
# archive inside the tree is not walked into.
make_tree
arch=$d/archive
mkdir -p "$arch/a"
echo taken >"$arch/a/old.log"
old "$arch/a/old.log"
job 1 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.log\"], \"action\": \"move\", \"archive\": \"$arch\", \"remove_empty_dirs\": true}"
[ "$result" = failed ] || fail "move: result $result"
exists "$arch/old.log" "$arch/a/b/old.log" "$arch/link.log" "$d/a/old.log" "$d/old.tmp"
gone "$d/old.log" "$d/a/b/old.log" "$d/link.log"
[ "$(cat "$arch/a/old.log")" = taken ] || fail "move replaced a file in the archive"
[ "$(readlink "$arch/link.log")" = "$out/secret.log" ] || fail "the moved symlink changed"
has "^moved a/b/old\.log \(12 bytes\)\$"
has "^error: a/old\.log: not moved: the archive already has that name\$"
has "^4 files moved \(20 bytes\), 2 skipped, 1 error, 0 empty directories removed\$"
hasnt "archive/"

# Move across filesystems (copy, then unlink): contents, mode and mtime.
shm=$(mktemp -d /dev/shm/loopd-files.XXXXXX 2>/dev/null) || shm=
if [ -n "$shm" ] && [ "$(stat -c %d "$shm")" != "$(stat -c %d "$tmp")" ]; then
	make_tree
	chmod 640 "$d/a/b/old.log"
	mt=$(stat -c %Y "$d/a/b/old.log")
	job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.log\"], \"action\": \"move\", \"archive\": \"$shm\"}"
	gone "$d/a/b/old.log" "$d/link.log"
	[ "$(cat "$shm/a/b/old.log")" = a/b/old.log ] || fail "EXDEV move: contents"
	[ "$(stat -c '%a %Y' "$shm/a/b/old.log")" = "640 $mt" ] || fail "EXDEV move: mode or mtime: $(stat -c '%a %Y' "$shm/a/b/old.log"), not 640 $mt"
	[ "$(readlink "$shm/link.log")" = "$out/secret.log" ] || fail "EXDEV move: the symlink"
	has "^5 files moved \(30 bytes\), 2 skipped, 0 errors\$"
	rm -rf "$shm"
else
	[ -n "$shm" ] && rm -rf "$shm"
	echo "note: /dev/shm is not another filesystem here; the EXDEV move is not tested"
fi

# Names are shown escaped: a newline in a name cannot forge a line.
make_tree
nl=$'evil\ndeleted fake.log (1 bytes)'
echo x >"$d/$nl"
old "$d/$nl"
job 0 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"evil*\"]}"
has '^deleted evil\\ndeleted fake\.log \(1 bytes\) \(2 bytes\)$'
hasnt "^deleted fake"

# The output is capped at 500 lines; the summary counts them all.
make_tree
mkdir "$d/many"
(cd "$d/many" && seq 1 600 | sed 's/$/.tmp/' | xargs touch -d '40 days ago')
job 0 "{\"dir\": \"$d/many\", \"older_than\": \"30d\"}"
[ "$(grep -c '^deleted ' "$tmp/output")" = 500 ] || fail "not 500 lines"
has "^\[100 more lines not shown\]\$"
has "^600 files deleted \(0 bytes\), 0 skipped, 0 errors\$"

# Errors: a file that cannot be deleted (its directory is read-only) is
# reported and counted, the rest goes on; the status is 1.
if [ "$perm_check" = 1 ]; then
	make_tree
	chmod 555 "$d/a/b"
	job 1 "{\"dir\": \"$d\", \"older_than\": \"30d\", \"match\": [\"*.log\"]}"
	chmod 755 "$d/a/b"
	[ "$result" = failed ] || fail "errors: result $result"
	has "^error: a/b/old\.log: cannot delete: Permission denied\$"
	has "^4 files deleted \(18 bytes\), 2 skipped, 1 error\$"
	exists "$d/a/b/old.log"
	gone "$d/a/old.log" "$d/old.log"
else
	echo "note: running as root without setpriv: the read-only directory check is skipped"
fi

# A missing directory is an error.
job 1 "{\"dir\": \"$tmp/nosuch\", \"older_than\": \"1d\"}"
has "^error: dir $tmp/nosuch: cannot open: No such file or directory\$"
has "^0 files deleted \(0 bytes\), 0 skipped, 1 error\$"

# stop: a long walk (a dry run over 50,000 files) ends at the job's
# timeout.  On a machine fast enough to finish first, that is said.
mkdir -p "$tmp/big"
(cd "$tmp/big" && seq 1 50000 | xargs touch)
job 1 "{\"dir\": \"$tmp\", \"older_than\": \"0s\", \"dry_run\": true}" --timeout 20ms
if [ "$result" = timeout ]; then
	has "^stopped: loopd asked the run to end\$"
else
	echo "note: the walk of 50,000 files ended before its 20 ms timeout ($result)"
fi
rm -rf "$tmp/big"

# validate: the shape of the args.
refused '{"older_than": "1d"}' "args.dir: missing"
refused '{"dir": "tmp", "older_than": "1d"}' 'args.dir: "tmp" is not an absolute path'
refused '{"dir": "/", "older_than": "1d"}' 'args.dir: "/" is refused'
refused '{"dir": "/tmp/../etc", "older_than": "1d"}' "has an empty, . or .. component"
refused '{"dir": "/tmp/x"}' "args: neither older_than"
refused '{"dir": "/tmp/x", "older_than": "1d", "older_than_ms": 5}' "older_than and older_than_ms together"
refused '{"dir": "/tmp/x", "older_than": "30"}' 'args.older_than: "30" is not a duration'
refused '{"dir": "/tmp/x", "older_than": "1h30x"}' 'args.older_than: "1h30x" is not a duration'
refused '{"dir": "/tmp/x", "older_than": "999999w"}' "is over 100 years"
refused '{"dir": "/tmp/x", "older_than_ms": -1}' "args.older_than_ms: not an integer"
refused '{"dir": "/tmp/x", "older_than": "1d", "match": "*.log"}' "args.match: not an array"
refused '{"dir": "/tmp/x", "older_than": "1d", "match": ["*.log", 3]}' "args.match[1]: not a string"
refused '{"dir": "/tmp/x", "older_than": "1d", "match": ["a/*.log"]}' "globs match base names only"
refused '{"dir": "/tmp/x", "older_than": "1d", "match": []}' "args.match: empty"
refused '{"dir": "/tmp/x", "older_than": "1d", "action": "shred"}' 'args.action: "shred" is not'
refused '{"dir": "/tmp/x", "older_than": "1d", "action": "move"}' "args.archive: missing"
refused '{"dir": "/tmp/x", "older_than": "1d", "archive": "/tmp/y"}' "args.archive: only with"
refused '{"dir": "/tmp/x", "older_than": "1d", "action": "move", "archive": "y"}' 'args.archive: "y" is not an absolute path'
refused '{"dir": "/tmp/x", "older_than": "1d", "action": "move", "archive": "/tmp/x/"}' "the same directory as args.dir"
refused '{"dir": "/tmp/x", "older_than": "1d", "dry_run": "yes"}' "args.dry_run: not true or false"
refused '{"dir": "/tmp/x", "older_than": "1d", "recursive": 0}' "args.recursive: not true or false"
refused '{"dir": "/tmp/x", "older_than": "1d", "follow_symlinks": true}' "args.follow_symlinks: unknown key"

expect 0 shutdown
wait "$pid" || fail "loopd did not exit 0 after shutdown"
pid=
! grep -E "Sanitizer|runtime error|leak" "$tmp/err" >&2 || fail "sanitizer report above"
echo "ok: the files kind"
