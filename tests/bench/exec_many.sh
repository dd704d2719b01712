#!/usr/bin/env bash
# exec_many.sh - "200 long-running exec jobs at once delay neither other
# jobs' starts nor the store's acknowledgements" (issue 5), measured: the
# same driver as tests/integration/exec_many.sh (exec_many.py), without its
# bounds.  loopd (exec and hello plugins, its own socket and state) runs a
# hello and an exec /bin/true job every second; for S seconds without and
# S seconds from the moment N exec jobs (`sleep 30.25`) are resumed to
# start together, the driver times one jobs.Add every 100 ms and reads the
# ticks' lateness (started - due) and tick-exec's due -> finished from the
# database.  Then loopd's own stats (loop lag, slowest callback, pool
# waits) and CPU.  Nothing is asserted.
#
# usage: tests/bench/exec_many.sh BUILD_DIR [--jobs N] [--seconds S]
#                                 [--runs R]
#   --jobs N      long jobs (default 200)
#   --seconds S   each window (default 6, at least 3)
#   --runs R      repeat the whole measurement R times (default 1)
set -u
die() {
	printf 'exec_many.sh: %s\n' "$*" >&2
	exit 2
}
[ $# -ge 1 ] || die "usage: exec_many.sh BUILD_DIR [--jobs N] [--seconds S] [--runs R]"
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
shift
JOBS=200 SECS=6 RUNS=1
while [ $# -gt 0 ]; do
	case $1 in
	--jobs) JOBS=${2:?}; shift ;;
	--seconds) SECS=${2:?}; shift ;;
	--runs) RUNS=${2:?}; shift ;;
	*) die "unknown option '$1'" ;;
	esac
	shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
DRIVER=$HERE/../integration/exec_many.py
LOOPD=$BUILD/daemon/loopd
LOOPCTL=$BUILD/ctl/loopctl
for f in "$LOOPD" "$LOOPCTL" "$BUILD/plugins/exec.so" "$BUILD/plugins/hello.so"; do
	[ -e "$f" ] || die "not built: $f (cmake --build $BUILD)"
done
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
ulimit -n $((3 * JOBS + 200)) 2>/dev/null || die "needs $((3 * JOBS + 200)) descriptors (ulimit -n)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/exec-many.XXXXXX") || die "mktemp failed"
DPID=
trap '[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null; rm -rf "$TMP"' EXIT
printf '[loopd]\nthreads = 4\nlog-level = warn\ndrain-timeout = 20s\n' >"$TMP/conf"

echo "exec_many: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
echo "command: tests/bench/exec_many.sh $BUILD --jobs $JOBS --seconds $SECS --runs $RUNS"
for r in $(seq "$RUNS"); do
	rm -rf "$TMP/state"
	"$LOOPD" -c "$TMP/conf" -s "$TMP/s.sock" -S "$TMP/state" -P "$BUILD/plugins" \
		-p exec -p hello 2>>"$TMP/err" &
	DPID=$!
	for _ in $(seq 200); do "$LOOPCTL" -s "$TMP/s.sock" status >/dev/null 2>&1 && break; sleep 0.05; done
	echo
	echo "run $r of $RUNS: $(uptime | sed 's/.*load/load/')"
	"$PY" "$DRIVER" "$TMP/s.sock" "$TMP/state/loopd.db" "$DPID" --jobs "$JOBS" \
		--seconds "$SECS" | grep -v '^with\(out\)\?\.' || echo "exec_many: the driver failed"
	"$LOOPCTL" -s "$TMP/s.sock" -o json stats | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
l, p = s["loop"], s["pool"]
print("loopd since its start: loop lag p50/p99/max us %s/%s/%s; slowest callback %s us (%s %s); pool wait p99 %s us"
      % (l.get("lag_p50_us"), l.get("lag_p99_us"), l.get("lag_max_us"),
         l["slowest_callback"]["time_us"], l["slowest_callback"]["plugin"],
         l["slowest_callback"]["what"], p.get("wait_p99_us")))'
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, "")
		printf "loopd CPU %.2f s (all threads), reaped children %.2f s\n", ($12 + $13) / hz, ($14 + $15) / hz }' "/proc/$DPID/stat"
	"$LOOPCTL" -s "$TMP/s.sock" shutdown >/dev/null
	wait "$DPID"
	DPID=
done
echo "(afterwards: $(uptime | sed 's/.*load/load/'))"
