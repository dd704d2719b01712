#!/usr/bin/env bash
# diskfull.sh - issue 6 item 4 through the real daemon: a full disk at
# runtime and at start.  The state directory is a 4 MiB tmpfs mounted in
# a private mount namespace (the script runs itself again under
# `unshare -m`, so nothing outside sees the mount), filled by a filler
# file; where mount namespaces are not allowed it falls back to
# RLIMIT_FSIZE (SIGXFSZ ignored, so writes get EFBIG; `prlimit --pid`
# sets and lifts it on the running daemon).  ROBUST_DISKFULL=rlimit
# forces the fallback.
# At runtime: jobs.Add until it fails with io.loopd.daemon.StorageFailed;
# meanwhile status, jobs and runs answer, a Trigger is refused (nothing
# recorded), a run that started before the disk filled ends; space comes
# back and writes resume without a restart; after a restart every
# acknowledged job is there, none that failed, no run left running,
# integrity ok.
# At start (existing database, and a new state directory): exit 1 with a
# message that says the disk is full and what to do, loopd.db byte for
# byte unchanged; a later start with space works.
#
#   bash diskfull.sh BUILD_DIR SOURCE_DIR
if [ -z "${ROBUST_DISKFULL_NS:-}" ] && [ "${ROBUST_DISKFULL:-}" != rlimit ] &&
	unshare -m --propagation private true 2>/dev/null; then
	ROBUST_DISKFULL_NS=1 exec unshare -m --propagation private \
		bash "$0" "$@"
fi
source "$(dirname "$0")/robust.bash" "$@"
db=$state/loopd.db
mkdir -p "$state"
mode=rlimit
if [ -n "${ROBUST_DISKFULL_NS:-}" ] &&
	mount -t tmpfs -o size=4m loopd-full "$state" 2>/dev/null; then
	mode=tmpfs
	on_exit "umount -l '$state'"
else
	command -v prlimit >/dev/null || { echo "SKIP: diskfull.sh needs unshare -m and mount, or prlimit"; exit 0; }
fi
echo "diskfull: $mode"
# SIGXFSZ ignored (inherited by loopd): a write past RLIMIT_FSIZE gets
# EFBIG instead of killing the process.
trap '' XFSZ

# full_on FREE: from now on writes find FREE bytes at most: tmpfs: a
# filler file takes all but FREE; rlimit: no file may grow more than
# FREE past the largest database file.
full_on() {
	if [ $mode = tmpfs ]; then
		local avail
		avail=$(df -B1 --output=avail "$state" | tail -1)
		[ "$avail" -gt "$1" ] || return 0
		dd if=/dev/zero of="$state/filler" bs=4096 \
			count=$(((avail - $1) / 4096)) 2>/dev/null ||
			[ "$1" = 0 ] || fail "could not write the filler"
	else
		local big
		big=$(stat -c %s "$db" "$db-wal" 2>/dev/null | sort -n | tail -1)
		prlimit --pid "$pid" --fsize=$((big + $1)):unlimited ||
			fail "prlimit --pid $pid"
	fi
}
full_off() {
	if [ $mode = tmpfs ]; then
		rm -f "$state/filler"
	elif [ -n "$pid" ]; then # (at start the limit was the subshell's)
		prlimit --pid "$pid" --fsize=unlimited || fail "prlimit --pid $pid"
	fi
}

# add NAME: loopctl add of an exec job; its exit code, stderr in $tmp/e.
add() {
	"$ctl" add "$1" -e '@yearly' -- /bin/echo "$1" >/dev/null 2>"$tmp/e"
}
listed() { # listed NAME: is NAME among the jobs?
	grep -qx "$1" "$tmp/names"
}
names() {
	"$ctl" -o json jobs >"$tmp/jobs" || fail "loopctl jobs failed ($1)"
	"$py" -c 'import json,sys
for j in json.load(open(sys.argv[1]))["jobs"]: print(j["name"])' \
		"$tmp/jobs" >"$tmp/names"
}

# ---- At runtime ----
start_loopd /dev/null -p exec
acked=()
for i in $(seq 5); do
	add "pre$i" || fail "add pre$i with space: $(cat "$tmp/e")"
	acked+=("pre$i")
done
"$ctl" add slow -e '@yearly' -- /bin/sh -c \
	"echo \$\$ >$tmp/slow.pid; sleep 1; head -c 200000 /dev/zero | tr '\\0' x" \
	>/dev/null || fail "add slow"
acked+=(slow)
# A run that starts before the disk fills and ends after; `run --wait`
# is answered only once its end is committed, which it cannot be.
"$ctl" run slow --wait >"$tmp/slowwait" 2>&1 &
slowwait=$!
for _ in $(seq 100); do [ -s "$tmp/slow.pid" ] && break; sleep 0.02; done
[ -s "$tmp/slow.pid" ] || fail "the slow run did not start"

full_on 65536
failed=()
for i in $(seq 2000); do
	if add "j$i"; then
		acked+=("j$i")
		continue
	fi
	grep -q '(io.loopd.daemon.StorageFailed)' "$tmp/e" ||
		fail "add j$i failed, but not with StorageFailed: $(cat "$tmp/e")"
	failed+=("j$i")
	break
done
[ ${#failed[@]} = 1 ] || fail "2000 adds on a full disk and none failed"
nfull=$((${#acked[@]} - 6))
echo "runtime: $nfull adds acknowledged into the last 64 KiB, then StorageFailed: $(cat "$tmp/e")"
full_on 0
for i in 1 2 3; do
	add "late$i" && fail "add late$i succeeded on a full disk"
	grep -q StorageFailed "$tmp/e" || fail "add late$i: $(cat "$tmp/e")"
	failed+=("late$i")
done
# Reads go on.
"$ctl" -o json status >"$tmp/status" || fail "status failed on a full disk"
grep -q '"state": "running"' "$tmp/status" || fail "status: $(cat "$tmp/status")"
names "on a full disk"
for n in "${acked[@]}"; do listed "$n" || fail "acknowledged $n not listed on a full disk"; done
for n in "${failed[@]}"; do ! listed "$n" || fail "failed add $n is listed"; done
"$ctl" runs >/dev/null || fail "runs failed on a full disk"
"$ctl" -o json stats >"$tmp/stats" || fail "stats failed on a full disk"
fb=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["store"]["failed_batches"])' "$tmp/stats")
[ "$fb" -ge 4 ] || fail "GetStats store.failed_batches is $fb after 4 failed adds"
# A Trigger needs its run recorded first: refused, nothing recorded.
rc=0
"$ctl" run pre1 --wait >/dev/null 2>"$tmp/e" || rc=$?
[ $rc = 1 ] && grep -q StorageFailed "$tmp/e" ||
	fail "run pre1 on a full disk: exit $rc, $(cat "$tmp/e")"
# The slow run ends while the disk is full (its result cannot be written).
for _ in $(seq 150); do
	[ "$("$ctl" -o json jobs --state running | grep -c '"slow"')" = 0 ] && break
	sleep 0.05
done
grep -q 'store: writing .* failed' "$tmp/err" || fail "no store failure logged"
rc=0
wait $slowwait || rc=$?
[ $rc = 1 ] && grep -q 'ended ok, but that was not recorded' "$tmp/slowwait" ||
	fail "run slow --wait on a full disk: exit $rc, $(cat "$tmp/slowwait")"
if [ $mode = tmpfs ]; then
	grep -q 'free space on its file system' "$tmp/err" ||
		fail "the log does not say to free space"
fi
kill -0 "$pid" || fail "loopd died on a full disk"

# Space again: writes resume, no restart.
full_off
add after || fail "add after space came back: $(cat "$tmp/e")"
acked+=(after)
"$ctl" run pre1 --wait >/dev/null 2>"$tmp/e" || fail "run pre1 after space came back: $(cat "$tmp/e")"
grep -q 'writes to .* succeed again' "$tmp/err" || fail "no 'succeed again' line"
# The result of the run that ended on the full disk is written again
# (every 5 s) until the store takes it: ok, without a restart.
for _ in $(seq 100); do
	"$ctl" -o json runs slow >"$tmp/slowruns" || fail "runs slow"
	grep -q '"result": "ok"' "$tmp/slowruns" && break
	sleep 0.1
done
grep -q '"result": "ok"' "$tmp/slowruns" ||
	fail "the slow run's result was not written when space came back: $(cat "$tmp/slowruns")"
grep -q 'writing it again until the store takes it' "$tmp/err" ||
	fail "no log line for the slow run's unwritten result"
echo "runtime: reads answered while full; $fb failed batches; writes resumed without a restart"
stop_loopd

# After a restart: what was acknowledged is there, nothing that failed.
start_loopd /dev/null -p exec
names "after the restart"
for n in "${acked[@]}"; do listed "$n" || fail "acknowledged $n lost after the restart"; done
for n in "${failed[@]}"; do ! listed "$n" || fail "failed add $n present after the restart"; done
"$ctl" -o json runs pre1 >"$tmp/runs" || fail "runs pre1"
[ "$(grep -c '"result": "ok"' "$tmp/runs")" = 1 ] ||
	fail "pre1 should have exactly one ok run (the refused Trigger none): $(cat "$tmp/runs")"
stop_loopd
# Read a copy: sqlite3 would leave a -shm and a -wal beside the database,
# which a clean stop does not.
sq() {
	cp "$db" "$tmp/copy.db"
	sqlite3 -readonly "$tmp/copy.db" "$1"
}
left=$(sq "SELECT count(*) FROM runs WHERE result IN ('starting', 'running')")
[ "$left" = 0 ] || fail "$left runs left starting/running after a clean stop"
slow=$(sq "SELECT r.result FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'slow'")
[ "$slow" = ok ] || fail "the slow run is '$slow' after the restart, not ok"
[ "$(sq 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
echo "restart: ${#acked[@]} acknowledged jobs present, ${#failed[@]} failed absent; the run whose end fell on the full disk: $slow; integrity ok"

# ---- At start ----
# start_full DIR: loopd on DIR with no space (tmpfs: 0 bytes free;
# rlimit: ulimit -f 8, 4 KiB a file): must exit 1.  Its stderr in $tmp/e.
start_full() {
	local rc=0
	if [ $mode = tmpfs ]; then
		full_on 0
		timeout 20 "$loopd" -s "$sock" -S "$1" -P "$build/plugins" -p exec \
			2>"$tmp/e" || rc=$?
	else
		(ulimit -f 8 && exec timeout 20 "$loopd" -s "$sock" -S "$1" \
			-P "$build/plugins" -p exec) 2>"$tmp/e" || rc=$?
	fi
	[ $rc = 1 ] || fail "loopd on a full disk at start ($1) exited $rc, not 1: $(cat "$tmp/e")"
	if [ $mode = tmpfs ]; then
		grep -q 'free space on its file system and start again' "$tmp/e" ||
			fail "the start failure does not say the disk is full: $(cat "$tmp/e")"
	else
		grep -q 'raise it and start again' "$tmp/e" ||
			fail "the start failure does not name the file-size limit: $(cat "$tmp/e")"
	fi
	cat "$tmp/e"
}
[ ! -e "$db-shm" ] || fail "a -shm is left beside the database after a clean stop"
sum=$(sha256sum <"$db")
start_full "$state"
[ "$(sha256sum <"$db")" = "$sum" ] || fail "loopd.db changed by a start on a full disk"
full_off
start_loopd /dev/null -p exec
names "after a failed start"
for n in "${acked[@]}"; do listed "$n" || fail "$n lost after a failed start"; done
stop_loopd
echo "start, existing database: exit 1, told; loopd.db unchanged; started once space came back"

# A new state directory: the first migration cannot be written.
mkdir -p "$state/new"
start_full "$state/new"
full_off
start_loopd /dev/null -p exec -S "$state/new"
stop_loopd
[ "$(sqlite3 -readonly "$state/new/loopd.db" 'PRAGMA user_version')" = 1 ] ||
	fail "the new database is not at schema version 1 after a start with space"
echo "start, new state directory: exit 1, told; started once space came back"
echo "PASS: diskfull ($mode)"
