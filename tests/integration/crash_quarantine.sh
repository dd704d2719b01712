#!/usr/bin/env bash
# A plugin that crashes loopd: the fatal-signal handler names it and its
# callback on stderr and records the crash in STATE_DIR/crashes; after
# three crashes within ten minutes the next start quarantines it (loopd
# starts without it, status and plugins say so) until `loopctl plugins
# load` enables it again, which forgets its crashes.
source "$(dirname "$0")/script.bash" "$@"
ctl=$build/ctl/loopctl
pdir=$build/tests/plugins
if ldd "$loopd" | grep libasan >/dev/null; then # not -q: pipefail
	echo "skipped: under ASan, ASan's own handler reports crashes"
	exit 0
fi
state=$tmp/state
for i in 1 2 3; do
	rc=0
	"$loopd" -s "$tmp/s.sock" -S "$state" -P "$pdir" -p lt_crash \
		2>"$tmp/err" >/dev/null || rc=$?
	[ "$rc" = 139 ] || fail "crash $i: exit $rc, not 139 (SIGSEGV)"
	grep -q "fatal signal SIGSEGV in plugin lt_crash, in its timer callback" \
		"$tmp/err" || fail "crash $i was not attributed to lt_crash"
done
[ "$(grep -c ' lt_crash$' "$state/crashes")" = 3 ] || fail "crashes not recorded: $(cat "$state/crashes")"

printf '[plugin.lt_crash]\ncrash = no\n' >"$tmp/conf"
"$loopd" -c "$tmp/conf" -s "$tmp/s.sock" -S "$state" -P "$pdir" \
	-p lt_crash -p lt_empty 2>"$tmp/err" &
pid=$!
# The crashed runs left their socket file: wait for the new one to serve.
for _ in $(seq 200); do grep -q "listening on" "$tmp/err" && break; sleep 0.05; done
grep -q "lt_crash.so refused: quarantined" "$tmp/err" || fail "no quarantine at the 4th start"
"$ctl" -s "$tmp/s.sock" plugins >"$tmp/out"
grep -q "lt_crash.*quarantined" "$tmp/out" || fail "plugins does not show the quarantine: $(cat "$tmp/out")"
"$ctl" -s "$tmp/s.sock" -o json status >"$tmp/out"
grep -q '"quarantined": 1' "$tmp/out" || fail "status does not count it: $(cat "$tmp/out")"

"$ctl" -s "$tmp/s.sock" plugins load lt_crash >/dev/null || fail "enabling it again failed"
"$ctl" -s "$tmp/s.sock" plugins >"$tmp/out"
grep -q "lt_crash.*active" "$tmp/out" || fail "not active after load: $(cat "$tmp/out")"
grep -q lt_crash "$state/crashes" && fail "its crashes were not forgotten"
sleep 0.3
grep -q "crash: behaving" "$tmp/err" || true
"$ctl" -s "$tmp/s.sock" shutdown >/dev/null
wait "$pid" || fail "loopd did not stop cleanly"
pid=
echo "ok: crashes attributed, recorded, quarantined, enabled again"
