#!/usr/bin/env bash
# loopd's start with its database, as a user meets it: a new state dir
# gets a migrated loopd.db; a corrupt, foreign or newer database stops the
# start with exit 65, a message saying how to recover, and the file left
# byte for byte as it was; a second loopd on the same state dir exits 75.
source "$(dirname "$0")/script.bash" "$@"
empty=$build/tests/plugins/lt_empty.so

run() { # run STATE_DIR: loopd with a plugin that registers nothing
	local rc=0
	timeout 30 "$loopd" --no-socket -S "$1" -p "$empty" >/dev/null 2>"$tmp/err" || rc=$?
	echo $rc
}

[ "$(run "$tmp/new")" = 0 ] || fail "a new state dir did not start"
[ -f "$tmp/new/loopd.db" ] || fail "no loopd.db was created"
grep -q "schema 1, 0 jobs" "$tmp/err" || fail "start did not report the database"
[ "$(run "$tmp/new")" = 0 ] || fail "a second start on the same database failed"

expect_65() { # expect_65 NAME MESSAGE: $tmp/NAME/loopd.db must be refused
	local db=$tmp/$1/loopd.db before after rc
	before=$(sha256sum "$db")
	rc=$(run "$tmp/$1")
	after=$(sha256sum "$db")
	[ "$rc" = 65 ] || fail "$1: exit $rc, not 65"
	grep -qi -- "$2" "$tmp/err" || fail "$1: stderr lacks '$2'"
	[ "$before" = "$after" ] || fail "$1: the database file was changed"
}

mkdir -p "$tmp/foreign" "$tmp/text" "$tmp/corrupt" "$tmp/newer"
sqlite3 "$tmp/foreign/loopd.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
expect_65 foreign "not a loopd database"
head -c 5000 /dev/urandom >"$tmp/text/loopd.db"
expect_65 text "loopd"
cp "$tmp/new/loopd.db" "$tmp/corrupt/loopd.db"
size=$(stat -c %s "$tmp/corrupt/loopd.db")
# Overwrite everything after the first page (the header stays loopd's).
dd if=/dev/zero of="$tmp/corrupt/loopd.db" bs=4096 seek=1 \
	count=$(((size - 4096) / 4096)) conv=notrunc status=none
printf 'junk' | dd of="$tmp/corrupt/loopd.db" bs=1 seek=5000 conv=notrunc status=none
expect_65 corrupt "corrupt"
cp "$tmp/new/loopd.db" "$tmp/newer/loopd.db"
sqlite3 "$tmp/newer/loopd.db" "PRAGMA user_version = 999;"
expect_65 newer "newer"

# An empty database with a WAL beside it was truncated from outside: the
# WAL may be the only copy, so it is refused, not replayed into nothing.
mkdir -p "$tmp/emptywal"
: >"$tmp/emptywal/loopd.db"
head -c 8192 /dev/urandom >"$tmp/emptywal/loopd.db-wal"
walsum=$(sha256sum "$tmp/emptywal/loopd.db-wal")
expect_65 emptywal "non-empty -wal"
[ "$walsum" = "$(sha256sum "$tmp/emptywal/loopd.db-wal")" ] || fail "emptywal: the -wal was changed"

# Another process holding a write transaction: a start failure (1) that
# says who is in the way and what to do, after the busy timeout.
(echo "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS held(x);"; sleep 9) |
	sqlite3 "$tmp/new/loopd.db" &
holder=$!
sleep 0.5
rc=$(run "$tmp/new")
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$rc" = 1 ] || fail "a locked database: exit $rc, not 1"
grep -q "another process (an open sqlite3 shell?) holds a write transaction" "$tmp/err" ||
	fail "a locked database: the message does not say what is in the way"
[ "$(run "$tmp/new")" = 0 ] || fail "the database did not start again once released"

# A second instance: the first holds the lock while hello ticks forever.
printf '[plugin.hello]\nticks = 0\n' >"$tmp/c.conf"
"$loopd" --no-socket -c "$tmp/c.conf" -S "$tmp/new" -p "$build/plugins/hello.so" 2>/dev/null &
pid=$!
sleep 0.5
[ "$(run "$tmp/new")" = 75 ] || fail "a second instance did not exit 75"
grep -q "another loopd holds" "$tmp/err" || fail "no message for the held lock"
kill -TERM "$pid"
wait "$pid" || fail "the first instance did not stop cleanly"
pid=
echo "ok: database start checks"
