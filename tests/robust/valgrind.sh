#!/usr/bin/env bash
# valgrind.sh - issue 6, item 8 (the valgrind half; the ASan+UBSan half
# is `make test`'s second pass): loopd under valgrind memcheck with
# --leak-check=full --track-fds=yes --error-exitcode=99, through start,
# jobs.Add (loopctl, an exec and a hello job), run --wait of both, a
# SIGHUP reload, loopctl shutdown.  Passes when loopd exits 0 (no memory
# error, no definite leak: --errors-for-leak-kinds=definite) and
# valgrind's descriptor report at exit lists nothing but 0-2 and what
# loopd inherited.  No suppressions are used.  Skipped in an ASan/TSan
# build (the sanitizers and valgrind cannot share a process).
#
#   bash valgrind.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/robust.bash" "$@"
if [ "$sanitized" = yes ]; then
	echo "SKIP: valgrind cannot run a sanitizer build"
	exit 0
fi
command -v valgrind >/dev/null || fail "valgrind is not installed (make deps installs it)"

# Descriptors loopd may keep until exit on purpose, each with the
# reason it is not a leak.  None today: even the crash log, open for the
# fatal-signal handler, is closed at a clean exit (crash_fini).
allowed_fd() {
	return 1
}

printf '[loopd]\nlog-level = info\n' >"$tmp/loopd.conf"
t0=${EPOCHREALTIME/./}
valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--track-fds=yes --error-exitcode=99 --log-file="$tmp/vg.log" \
	"$loopd" -c "$tmp/loopd.conf" -s "$sock" -S "$state" -P "$build/plugins" 2>"$tmp/err" &
pid=$!
for _ in $(seq 600); do "$ctl" status >/dev/null 2>&1 && break; sleep 0.1; done
"$ctl" status >/dev/null || fail "loopd under valgrind did not answer within 60 s: $(tail -20 "$tmp/vg.log")"
"$ctl" add vg-exec -e '@daily' -- /bin/sh -c 'echo from exec' >/dev/null || fail "add vg-exec"
"$ctl" add vg-hello -e '@daily' --kind hello --args '{"message":"from hello"}' >/dev/null ||
	fail "add vg-hello"
"$ctl" run vg-exec --wait >/dev/null || fail "run vg-exec --wait"
"$ctl" run vg-hello --wait >/dev/null || fail "run vg-hello --wait"
printf '[loopd]\nlog-level = debug\n' >"$tmp/loopd.conf"
kill -HUP "$pid"
for _ in $(seq 100); do grep -q "configuration reloaded" "$tmp/err" && break; sleep 0.1; done
grep -q "configuration reloaded" "$tmp/err" || fail "no reload after SIGHUP"
"$ctl" -o json status | grep -q '"result": *"ok"' || fail "status after the reload"
"$ctl" shutdown >/dev/null || fail "loopctl shutdown"
rc=0
wait "$pid" || rc=$?
pid=
secs=$(((${EPOCHREALTIME/./} - t0) / 1000000))
[ "$rc" = 0 ] || fail "loopd under valgrind exited $rc (99: valgrind found errors): $(grep -A30 'ERROR SUMMARY\|definitely lost\|Invalid' "$tmp/vg.log" | head -60)"

# The descriptors open at exit: "Open file descriptor N: PATH" (or "Open
# AF_UNIX socket N: ..."), then
# "<inherited from parent>" for those loopd did not open.
"$py" - "$tmp/vg.log" >"$tmp/fds" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
for i, l in enumerate(lines):
    m = re.search(r"Open (?:file descriptor|\w+ socket) (\d+):\s*(.*)", l)
    if not m or int(m.group(1)) <= 2:
        continue
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if "inherited from parent" in nxt:
        continue
    print("%s %s" % (m.group(1), m.group(2) or "?"))
PY
bad=
while read -r fd path; do
	allowed_fd "$path" && continue
	bad="$bad fd $fd ($path)"
done <"$tmp/fds"
[ -z "$bad" ] || fail "descriptors left open at exit:$bad; $(grep -A4 '== Open ' "$tmp/vg.log")"
summary=$(grep -m1 "FILE DESCRIPTORS" "$tmp/vg.log" | sed 's/^==[0-9]*== //')
leaks=$(grep -m1 "definitely lost" "$tmp/vg.log" | sed 's/^==[0-9]*== *//')
errors=$(grep -m1 "ERROR SUMMARY" "$tmp/vg.log" | sed 's/^==[0-9]*== //')
[ -n "$leaks" ] || leaks="no leak summary (nothing allocated at exit)"
echo "valgrind: start, add x2, run --wait x2, SIGHUP, shutdown in $secs s: exit 0;" \
	"$errors; $leaks; $summary (beyond 0-2 and inherited: $(tr '\n' ' ' <"$tmp/fds"))"
echo "PASS: valgrind"
