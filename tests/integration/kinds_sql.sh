#!/usr/bin/env bash
# kinds_sql.sh - the sql kind (plugins/sql) end to end: a real loopd on a
# private socket, jobs added and run with loopctl.  The summary of a run
# with its changes and rows, VACUUM, a failing statement (exit 1, the
# statement and SQLite's message), a transaction rolled back, a missing
# database (never created), a read-only run refusing a write, SQL from a
# file, a long statement interrupted by the job's timeout, and the
# refusals of validate at `loopctl add`.
source "$(dirname "$0")/script.bash" "$@"
ctl=$build/ctl/loopctl
sock=$tmp/s.sock
[ -f "$build/plugins/sql.so" ] || fail "build plugins/sql first"
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3"; exit 0; }
export NO_COLOR=1
"$loopd" -s "$sock" -S "$tmp/state" -P "$build/plugins" 2>"$tmp/err" &
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
add() { # add NAME ARGS_JSON [loopctl add options]
	local name=$1 args=$2
	shift 2
	expect 0 add "$name" -e '@daily' --kind sql --args "$args" "$@"
}
# run NAME CODE: runs it and waits; its output in $tmp/output, its
# result in $result.
run() {
	expect "$2" run "$1" --wait
	c -o json runs "$1" >"$tmp/runs" || fail "runs $1"
	local id
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
refused() { # refused ARGS_JSON MESSAGE: loopctl add exits 1, ArgsRejected
	expect 1 add bad -e '@daily' --kind sql --args "$1"
	grep -q "ArgsRejected" "$tmp/stderr" || fail "$1: not ArgsRejected: $(cat "$tmp/stderr")"
	grep -qF -- "$2" "$tmp/stderr" || fail "$1: the refusal does not say '$2': $(cat "$tmp/stderr")"
}

db=$tmp/app.db
sqlite3 "$db" "CREATE TABLE log (id INTEGER PRIMARY KEY, ts INTEGER, msg TEXT);
	WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
	INSERT INTO log (ts, msg) SELECT x, 'line ' || x FROM n;"

# The nightly cleanup: a DELETE with its changes, VACUUM, and rows.
add cleanup "{\"database\": \"$db\", \"statements\": \"-- old rows\\nDELETE FROM log WHERE ts <= 1500;\\nVACUUM;\\nSELECT count(*), min(ts) FROM log;\\nSELECT id, msg, NULL FROM log WHERE id > 1997 ORDER BY id\"}"
run cleanup 0
[ "$result" = ok ] || fail "cleanup: result $result"
has "^database $db\$"
has "^ +1  DELETE FROM log WHERE ts <= 1500 +1500 changes +[0-9.]+ ms\$"
has "^ +2  VACUUM +0 changes +[0-9.]+ ms\$"
has "^ +3  SELECT count\(\*\), min\(ts\) FROM log +1 row "
has "^ +4  SELECT id, msg, NULL FROM log WHERE id > 1997 ORDER BY id +3 rows "
has "^4 statements ok, 1500 changes in total, [0-9.]+ ms\$"
has "^500	1501\$"
has "^1998	line 1998	NULL\$"
has "^2000	line 2000	NULL\$"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM log')" = 500 ] || fail "the DELETE did not happen"
[ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after VACUUM"

# Rows are capped at 1000 a statement, with a note; a long statement's
# summary shows its first 60 characters.
add many "{\"database\": \"$db\", \"statements\": \"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1500) SELECT x FROM n\"}"
run many 0
[ "$(grep -cE '^[0-9]+$' "$tmp/output")" = 1000 ] || fail "not 1000 rows shown"
has "^\[statement 1: 500 more rows not shown\]\$"
has "^ +1  WITH RECURSIVE n\(x\) AS \(SELECT 1 UNION ALL SELECT x \+ 1 FROM\.\.\. +1500 rows "

# RETURNING: rows and changes; tabs and newlines in values escaped.
add ret "{\"database\": \"$db\", \"statements\": \"UPDATE log SET msg = 'a' || char(9) || 'b' || char(10) WHERE id = 2000 RETURNING id, msg\"}"
run ret 0
has '^2000	a\\tb\\n$'
has "1 row, 1 change "

# A failing statement: exit 1, the statement and SQLite's message; what
# ran before it stays, the transaction it was in is rolled back.
add broken "{\"database\": \"$db\", \"statements\": \"INSERT INTO log (ts) VALUES (1); BEGIN; DELETE FROM log; INSERT INTO nosuch VALUES (1); COMMIT\"}"
run broken 1
[ "$result" = failed ] || fail "broken: result $result"
has "^ +4  INSERT INTO nosuch VALUES \(1\) +FAILED "
has "^error in statement 4: no such table: nosuch\$"
has "^the transaction it was in is rolled back\$"
has "^statement 4 failed after 3 ok; "
hasnt "COMMIT"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM log')" = 501 ] || fail "broken: the rollback or the first INSERT went wrong"
expect 0 -o json runs broken
grep -q '"exit_code": 1' "$tmp/out" || fail "broken: exit code not 1: $(cat "$tmp/out")"

# A missing database is an error, and is not created.
add missing "{\"database\": \"$tmp/nosuch.db\", \"statements\": \"VACUUM\"}"
run missing 1
has "^cannot open the database: .*No such file or directory \(the sql kind never creates a database\)\$"
[ ! -e "$tmp/nosuch.db" ] || fail "the missing database was created"

# readonly: reads work, writes are refused.
add ro "{\"database\": \"$db\", \"readonly\": true, \"statements\": \"SELECT count(*) FROM log; DELETE FROM log\"}"
run ro 1
has "^database $db \(read-only\)\$"
has "^501\$"
has "^error in statement 2: attempt to write a readonly database\$"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM log')" = 501 ] || fail "readonly: rows deleted"

# SQL from a file; a missing file fails the run.
printf 'DELETE FROM log WHERE id = 2000;\n/* a comment */\nPRAGMA user_version = 7;\n' >"$tmp/nightly.sql"
add fromfile "{\"database\": \"$db\", \"file\": \"$tmp/nightly.sql\", \"timeout_ms\": 100}"
run fromfile 0
has "^ +1  DELETE FROM log WHERE id = 2000 +1 change "
has "^ +2  PRAGMA user_version = 7 +0 changes "
[ "$(sqlite3 "$db" 'PRAGMA user_version')" = 7 ] || fail "fromfile: the PRAGMA did not run"
add nofile "{\"database\": \"$db\", \"file\": \"$tmp/nosuch.sql\"}"
run nofile 1
has "^the SQL file $tmp/nosuch.sql: No such file or directory\$"

# A lock held by another connection: the busy timeout, then SQLITE_BUSY.
(sqlite3 "$db" "BEGIN EXCLUSIVE; SELECT 1; " ".system sleep 2" "COMMIT;" >/dev/null 2>&1 &)
sleep 0.5
add busy "{\"database\": \"$db\", \"timeout_ms\": 200, \"statements\": \"DELETE FROM log WHERE id = 1\"}"
run busy 1
has "^error in statement 1: database is locked\$"
sleep 2

# stop: a statement that never ends is interrupted by the job's timeout.
add forever "{\"database\": \"$db\", \"statements\": \"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n\"}" --timeout 1s
t0=$(date +%s%N)
run forever 1
t1=$(date +%s%N)
[ "$result" = timeout ] || fail "forever: result $result"
has "interrupted"
has "^stopped: loopd asked the run to end\$"
(( (t1 - t0) / 1000000 < 5000 )) || fail "forever: took $(( (t1 - t0) / 1000000 )) ms to stop"

# validate: the shape of the args.
refused '{"statements": "VACUUM"}' "args.database: missing"
refused '{"database": "app.db", "statements": "VACUUM"}' 'args.database: "app.db" is not an absolute path'
refused '{"database": "/x.db"}' "args: neither statements"
refused '{"database": "/x.db", "statements": "VACUUM", "file": "/x.sql"}' "args: statements and file together"
refused '{"database": "/x.db", "file": "x.sql"}' 'args.file: "x.sql" is not an absolute path'
refused '{"database": "/x.db", "statements": " "}' "args.statements: empty"
refused '{"database": "/x.db", "statements": 1}' "args.statements: not a string"
refused '{"database": "/x.db", "statements": "VACUUM", "timeout_ms": -1}' "args.timeout_ms: -1 is not from 0"
refused '{"database": "/x.db", "statements": "VACUUM", "timeout_ms": "5s"}' "args.timeout_ms: not an integer"
refused '{"database": "/x.db", "statements": "VACUUM", "readonly": 1}' "args.readonly: not true or false"
refused '{"database": "/x.db", "statements": "VACUUM", "vacuum": true}' "args.vacuum: unknown key"
refused '{"database": 5, "statements": "VACUUM"}' "args.database: not a string"

expect 0 shutdown
wait "$pid" || fail "loopd did not exit 0 after shutdown"
pid=
! grep -E "Sanitizer|runtime error|leak" "$tmp/err" >&2 || fail "sanitizer report above"
echo "ok: the sql kind"
