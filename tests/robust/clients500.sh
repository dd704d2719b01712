#!/usr/bin/env bash
# clients500.sh - issue 6, item 5.  (1) 500 clients at once for
# ROBUST_CLIENTS_SECS (15 here, 30 for the issue's figure) calling
# GetStatus and jobs.List, one call per client every 100 ms, with
# [ctl] max-clients and max-clients-per-uid raised to 512: no error, p99
# at most ROBUST_P99_MS (50).  (2) With the default limits (256 clients,
# 64 per uid): 100 clients of one uid get 64 accepted and 36 told, before
# the close, io.loopd.daemon.Busy naming [ctl] max-clients-per-uid and
# 64, and loopctl, one more, exits 1 with that message; as root, 5 x 60
# clients of five other uids (setpriv) get 256 accepted and 44 told Busy
# naming max-clients and 256.  A client refused without a word fails.
#
#   bash clients500.sh BUILD_DIR SOURCE_DIR
#   env: ROBUST_CLIENTS_SECS (15), ROBUST_P99_MS (50; 200 in a sanitizer
#   build), LOOPD_TEST_SEED
source "$(dirname "$0")/robust.bash" "$@"
seed clients500
secs=${ROBUST_CLIENTS_SECS:-15}
p99=${ROBUST_P99_MS:-50}
[ "$sanitized" = yes ] && p99=${ROBUST_P99_MS:-200}
ulimit -n 4096 2>/dev/null || true
[ "$(ulimit -n)" -ge 1100 ] || fail "needs 1100 descriptors (ulimit -n is $(ulimit -n))"

# (1) The load, with room for 500.
cat >"$tmp/load.conf" <<'CONF'
[ctl]
max-clients = 512
max-clients-per-uid = 512
CONF
start_loopd "$tmp/load.conf"
for i in $(seq 10); do
	"$ctl" add "rb-list-$i" -e '@daily' --kind hello --args '{"message":"listed"}' >/dev/null ||
		fail "add rb-list-$i"
done
rc=0
"$py" "$here/clients500.py" --socket "$sock" --clients 500 --seconds "$secs" \
	--interval-ms 100 --p99-ms "$p99" --seed "$SEED" || rc=$?
[ "$rc" = 0 ] || fail "500 clients: see above"
stop_loopd

# (2) The default limits.
: >"$tmp/default.conf"
start_loopd "$tmp/default.conf"
mkfifo "$tmp/hold"
exec 7<>"$tmp/hold"
holders=
on_exit 'exec 7>&-; if [ -n "$holders" ]; then kill $holders 2>/dev/null; fi'

# holder OUT N [SETPRIV...]: N connections held until fd 7 closes; waits
# for its line in OUT.
holder() {
	local out=$1 n=$2 _
	shift 2
	"$@" "$py_any" "$here/clients500.py" --socket "$sock" --hold "$n" <"$tmp/hold" >"$out" 7>&- &
	holders="$holders $!"
	for _ in $(seq 200); do
		grep -q '^accepted' "$out" && return 0
		sleep 0.05
	done
	fail "a holder did not report within 10 s: $(cat "$out")"
}
field() { # field OUT NAME: the count after NAME
	sed -n "s/.*$2 \([0-9]*\).*/\1/p" "$1"
}
py_any=$py
holder "$tmp/uid0" 100
cat "$tmp/uid0"
[ "$(field "$tmp/uid0" accepted)" = 64 ] || fail "one uid: not 64 accepted: $(cat "$tmp/uid0")"
[ "$(field "$tmp/uid0" refused)" = 36 ] || fail "one uid: not 36 refused: $(cat "$tmp/uid0")"
[ "$(field "$tmp/uid0" untold)" = 0 ] || fail "one uid: refused without a word: $(cat "$tmp/uid0")"
grep -q 'io.loopd.daemon.Busy: too many clients of uid [0-9]*: loopd serves at most 64 per uid (\[ctl\] max-clients-per-uid)' "$tmp/uid0" ||
	fail "one uid: not told Busy, max-clients-per-uid, 64: $(cat "$tmp/uid0")"
rc=0
"$ctl" status >/dev/null 2>"$tmp/ctl.err" || rc=$?
[ "$rc" = 1 ] && grep -q 'max-clients-per-uid.*(io.loopd.daemon.Busy)' "$tmp/ctl.err" ||
	fail "loopctl over the limit: exit $rc (not 1), $(cat "$tmp/ctl.err")"
exec 7>&-
for h in $holders; do wait "$h" || fail "a holder failed"; done
holders=
echo "per uid: 100 clients of one uid: 64 accepted, 36 told io.loopd.daemon.Busy (max-clients-per-uid 64); loopctl: exit 1, $(cat "$tmp/ctl.err")"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -x /usr/bin/python3 ]; then
	# Other uids need to reach the socket (as loopctl_daemon.sh does), and
	# an interpreter outside /root.
	chmod o+x "$tmp" "$tmp/run"
	chmod o+rw "$sock"
	py_any=/usr/bin/python3
	exec 7<>"$tmp/hold"
	# The clients of the first holders must be counted before the next.
	for u in 1 2 3 4 5; do
		holder "$tmp/uid$u" 60 setpriv --reuid=$((20000 + u)) --regid=$((20000 + u)) --clear-groups
	done
	acc=0 ref=0 unt=0
	for u in 1 2 3 4 5; do
		acc=$((acc + $(field "$tmp/uid$u" accepted)))
		ref=$((ref + $(field "$tmp/uid$u" refused)))
		unt=$((unt + $(field "$tmp/uid$u" untold)))
	done
	cat "$tmp"/uid[1-5]
	[ "$acc" = 256 ] && [ "$ref" = 44 ] && [ "$unt" = 0 ] ||
		fail "5 uids x 60: $acc accepted, $ref refused, $unt untold; not 256/44/0"
	grep -q 'io.loopd.daemon.Busy: too many clients: loopd serves at most 256 at once (\[ctl\] max-clients)' "$tmp/uid5" ||
		fail "not told Busy, max-clients, 256: $(cat "$tmp/uid5")"
	"$ctl" status >/dev/null 2>&1 && fail "a 257th client (loopctl) got an answer"
	exec 7>&-
	for h in $holders; do wait "$h" || fail "a holder failed"; done
	holders=
	echo "total: 5 uids x 60 clients: 256 accepted, 44 told io.loopd.daemon.Busy (max-clients 256)"
else
	echo "SKIP: the 256-client total needs root and setpriv (other uids)"
fi
wait_socket
stop_loopd
echo "PASS: clients500"
