#!/usr/bin/env bash
# exec_bench.sh - exec start latency and short-job throughput (issue 5):
# loopd's exec kind against a bare posix_spawn loop (spawn_peer), on the
# same machine in the same run.
#
# usage: tests/bench/exec_bench.sh BUILD_DIR [--quick] [--only LIST]
#                                  [--seconds S]
#   --quick       short windows (one 4 s, fifty 3 s, thousand 3 s): what
#                 run.sh uses, about 50 s in all
#   --only LIST   comma-separated subset of the scenarios: one, fifty,
#                 thousand (default all)
#   --seconds S   every scenario's window, in seconds
#
# Scenarios: N jobs, each `* * * * * *` (due at every whole second) running
# exec_stamp, which prints CLOCK_REALTIME as its first act: one job for
# 20 s, 50 jobs for 10 s, 1,000 jobs for 10 s, each window after a warm-up
# (1 s; 3 s for 1,000).  Then spawn_peer spawns the same N children of
# exec_stamp at each whole second, with the same warm-up and window.
#
# latency = the child's stamp - its due second.  loopd's stamps are the
# runs' output in STATE/loopd.db, next to scheduled_usec and started_usec
# (when the scheduler began the run: due -> started is the wake, started
# -> stamp the store's commit, the spawn and the exec); the peer's are
# appended to one file.  Percentiles are nearest rank over every child of
# the window.  loopd's figures over the window come from `loopctl -o json
# stats` at its two edges: utilization, loop phase times, store commits and
# rows (batch sizes), pool waits.
#
# Each loopd side: the jobs are added paused over the control socket,
# loopd is restarted (so its stats hold the window, not the adds), the jobs
# are resumed together, the warm-up, then the window; then, once every
# occurrence of the window is handled (20 s at most), SIGTERM (SIGKILL
# after 20 s) and the database is read.
# Prints a table per scenario, then the same in Markdown.  A benchmark
# measures: no time is checked.  Exit: 0 ok, 1 a run failed, 2 bad usage or
# something missing (with what to build).
set -u

usage() {
	sed -n '6,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

die() {
	printf 'exec_bench.sh: %s\n' "$@" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -*) usage ;; esac
BUILD=$1
shift
QUICK=
ONLY=one,fifty,thousand
SECONDS_ALL=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
	--seconds) [ $# -ge 2 ] || usage; SECONDS_ALL=$2; shift ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	shift
done
[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist"
BUILD=$(cd "$BUILD" && pwd)
case $SECONDS_ALL in '' | [1-9] | [1-9][0-9] | [1-9][0-9][0-9]) ;;
*) die "--seconds wants 1 to 999, not '$SECONDS_ALL'" ;; esac

LOOPD=$BUILD/daemon/loopd
LOOPCTL=$BUILD/ctl/loopctl
PLUGINS=$BUILD/plugins
STAMP=$BUILD/tests/bench/exec_stamp
PEER=$BUILD/tests/bench/spawn_peer

# id, jobs, seconds, quick seconds, warm-up seconds (the first second of
# 1,000 spawns takes two or three here: the window starts after it)
ALL_SCEN=("one 1 20 4 1" "fifty 50 10 3 1" "thousand 1000 10 3 3")
SCEN=()
for s in ${ONLY//,/ }; do
	found=
	for spec in "${ALL_SCEN[@]}"; do
		[ "${spec%% *}" = "$s" ] && SCEN+=("$spec") && found=1
	done
	[ -n "$found" ] || die "--only: unknown scenario '$s' (one, fifty, thousand)"
done

missing=()
for f in "$LOOPD" "$LOOPCTL" "$STAMP" "$PEER"; do
	[ -x "$f" ] || missing+=("$f")
done
[ -f "$PLUGINS/exec.so" ] || missing+=("$PLUGINS/exec.so")
if [ ${#missing[@]} -gt 0 ]; then
	printf 'exec_bench.sh: not built: %s\n' "${missing[@]}" >&2
	printf '  configure with -DLOOPD_BENCH=ON and build: cmake --build %s\n' "$BUILD" >&2
	exit 2
fi
for t in sqlite3 python3; do
	command -v $t >/dev/null 2>&1 || die "$t not found (apt-get install $t)"
done
# The interpreter itself: a version manager's shim can take a second a call.
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/exec-bench.XXXXXX") || die "mktemp failed"
DPID=
# shellcheck disable=SC2317 # the EXIT trap calls it
cleanup() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || die "cd $TMP failed"
NFAIL=0

# --- helpers ------------------------------------------------------------------

now() { date +%s.%N; }

T_START=$(date +%s.%N)
progress() {
	awk -v a="$T_START" -v b="$(now)" -v m="$*" \
		'BEGIN { printf "[%6.1fs] %s\n", b - a, m }' >&2
}

# sleep_until T: sleeps until the wall clock reads T (seconds, fractional).
sleep_until() {
	local d
	d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')
	sleep "$d"
}

# p50, p99 and max (nearest rank) of the numbers on stdin, one a line:
# "p50 p99 max n", or "- - - 0".
pcts() {
	sort -g | awk '{ v[NR] = $1 }
		function r(q,  k) { k = int(q * NR); if (k < q * NR) k++
			return v[k < 1 ? 1 : k] }
		END { if (!NR) { print "- - - 0"; exit }
		      printf "%.2f %.2f %.2f %d\n", r(0.5), r(0.99), v[NR], NR }'
}

# The stats of the daemon at SOCK, flattened: one "a.b.c value" a line.
# A loop held for seconds answers late: 20 s at most, then no figures.
stats_flat() {
	timeout 20 "$LOOPCTL" -s "$1" -o json stats | "$PY" -c '
import json, sys
def walk(p, v):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(p + [k], x)
    else:
        print(".".join(p), v)
try:
    walk([], json.load(sys.stdin))
except ValueError:
    pass'
}

# proc_cpu PID: "SELF CHILDREN", user + sys seconds of the process (every
# thread) and of its reaped children, from /proc/PID/stat.
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, "")
		printf "%.3f %.3f\n", ($12 + $13) / hz, ($14 + $15) / hz }' "/proc/$1/stat"
}

# sval FILE KEY: a value from a stats_flat file.
sval() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }

# vcall SOCK METHOD N [PROGRAM]: METHOD (Add, Resume) for the jobs x1..xN,
# every call pipelined on one connection (PROTOCOL.md: replies come in call
# order) and sent at once by a thread while the replies are read, so that
# they commit in a batch or two and the jobs resume together.  List prints
# the earliest next_usec of the jobs.  loopctl makes one process and one
# commit round trip per job: 1,000 adds take 12 s here (8 in parallel),
# and `loopctl resume` of 1,000 names 7 s, during which the first resumed
# jobs already run.
vcall() {
	timeout "${VCALL_TIMEOUT:-60}" "$PY" - "$@" <<'PY'
import json, socket, sys, threading
path, method, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
def params(i):
    p = {"name": "x%d" % i}
    if method == "Add":
        p.update(schedule="* * * * * *", kind="exec", state="paused",
                 args={"argv": [sys.argv[4]]})
    return p
if method == "List":
    calls = [{"method": "io.loopd.jobs.List", "parameters": {}}]
else:
    calls = [{"method": "io.loopd.jobs." + method, "parameters": params(i)}
             for i in range(1, n + 1)]
out = b"".join(json.dumps(c).encode() + b"\0" for c in calls)
threading.Thread(target=s.sendall, args=(out,), daemon=True).start()
buf, bad, replies = b"", 0, []
while len(replies) < len(calls):
    while b"\0" not in buf:
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("vcall: loopd closed the connection")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    reply = json.loads(msg)
    replies.append(reply)
    if "error" in reply:
        bad += 1
        if bad == 1:
            print("vcall: %s: %s" % (method, msg.decode()[:300]), file=sys.stderr)
if method == "List" and not bad:
    jobs = replies[0]["parameters"]["jobs"]
    print(min((j.get("next_usec") or 1 << 62) for j in jobs))
sys.exit(1 if bad else 0)
PY
}

start_loopd() {
	"$LOOPD" -c "$TMP/loopd.conf" -s "$SOCK" -S "$STATE" -P "$PLUGINS" \
		-p exec >>"$TMP/loopd.log" 2>&1 </dev/null &
	DPID=$!
	for _ in $(seq 1 100); do
		"$LOOPCTL" -s "$SOCK" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "exec_bench.sh: loopd did not come up; its log:" >&2
	tail -n 20 "$TMP/loopd.log" >&2
	return 1
}

# SIGTERM (drain), 20 s at most, then SIGKILL: the window's runs are
# committed by then (synchronous=FULL), and a loopd that fell far behind
# may not finish its drain in any useful time.
stop_loopd() {
	kill -TERM "$DPID" 2>/dev/null
	for _ in $(seq 1 400); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$DPID" 2>/dev/null; then
		R[killed]=1
		kill -KILL "$DPID" 2>/dev/null
	fi
	wait "$DPID" 2>/dev/null
	DPID=
}

# The figures of one side, KEY VALUE lines in $TMP/res.IMPL.
declare -A R=()

# --- loopd's side -------------------------------------------------------------

# loopd_side ID N SECONDS WARMUP
loopd_side() {
	local id=$1 n=$2 secs=$3 warm=$4 s0 t
	STATE=$TMP/$id/state SOCK=$TMP/$id/s.sock
	mkdir -p "$STATE"
	: >"$TMP/loopd.log"
	start_loopd || return 1
	t=$(now)
	if ! vcall "$SOCK" Add "$n" "$STAMP"; then
		echo "exec_bench.sh: $id: adding the jobs failed" >&2
		stop_loopd
		return 1
	fi
	R[add_s]=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	stop_loopd
	start_loopd || return 1
	# Resume early in a second; then one whole second of warm-up.
	sleep_until "$(awk -v n="$(now)" 'BEGIN { printf "%d.05", int(n) + 1 }')"
	t=$(now)
	if ! vcall "$SOCK" Resume "$n"; then
		echo "exec_bench.sh: $id: resuming the jobs failed" >&2
		stop_loopd
		return 1
	fi
	R[resume_s]=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	s0=$(awk -v n="$(now)" -v w="$warm" 'BEGIN { printf "%d", int(n) + 1 + w }')
	sleep_until "$s0"
	proc_cpu "$DPID" >"$TMP/$id/cpu0"
	stats_flat "$SOCK" >"$TMP/$id/stats0"
	sleep_until "$((s0 + secs))"
	proc_cpu "$DPID" >"$TMP/$id/cpu1"
	stats_flat "$SOCK" >"$TMP/$id/stats1"
	# Until every occurrence of the window is handled (run, skipped or
	# missed: a job behind still has one due), 20 s at most; then stop.
	progress "$id: window over; waiting for loopd to handle all of it"
	R[behind_s]=">20"
	for _ in $(seq 1 200); do
		t=$(VCALL_TIMEOUT=10 vcall "$SOCK" List 0) || continue
		if [ "$t" -ge $(((s0 + secs) * 1000000)) ]; then
			R[behind_s]=$(awk -v a="$((s0 + secs))" -v b="$(now)" \
				'BEGIN { printf "%.1f", b - a }')
			break
		fi
		[ "$(now | cut -d. -f1)" -ge $((s0 + secs + 20)) ] && break
		sleep 0.1
	done
	sleep 0.5 # the last children exit
	progress "$id: stopping loopd"
	stop_loopd
	loopd_analyse "$id" "$n" "$secs" "$s0"
}

# loopd_analyse ID N SECONDS S0: the window's runs from the database and
# the stats at its edges.
loopd_analyse() {
	local id=$1 n=$2 secs=$3 s0=$4 f0 f1 q
	local lo=$((s0 * 1000000)) hi=$(((s0 + secs) * 1000000))
	# Every run from a minute before the window: a child of an earlier
	# due time may start inside it.
	q="SELECT r.scheduled_usec, r.started_usec, r.result,
		  CAST(o.data AS TEXT)
	   FROM runs r LEFT JOIN outputs o ON o.run_id = r.id
	   WHERE r.scheduled_usec >= $((lo - 60000000))"
	sqlite3 -separator ' ' "$STATE/loopd.db" "$q" | tr -d '\r' |
		awk 'NF >= 3' >"$TMP/$id/all"
	awk -v lo="$lo" -v hi="$hi" '$1 >= lo && $1 < hi' "$TMP/$id/all" >"$TMP/$id/runs"
	sqlite3 -separator ' ' "$STATE/loopd.db" \
		"SELECT result, count(*) FROM runs WHERE scheduled_usec >= $lo
		 AND scheduled_usec < $hi GROUP BY result" >"$TMP/$id/results"
	# latency, wake and start->stamp, in ms, of the runs with a stamp
	awk '$3 == "ok" && NF >= 4 { print ($4 / 1000 - $1) / 1000 }' \
		"$TMP/$id/runs" | pcts >"$TMP/$id/lat"
	awk '$2 != "" { print ($2 - $1) / 1000 }' "$TMP/$id/runs" | pcts >"$TMP/$id/wake"
	awk '$3 == "ok" && NF >= 4 { print ($4 / 1000 - $2) / 1000 }' \
		"$TMP/$id/runs" | pcts >"$TMP/$id/spawn"
	read -r 'R[lat_p50]' 'R[lat_p99]' 'R[lat_max]' 'R[stamped]' <"$TMP/$id/lat"
	read -r 'R[wake_p50]' 'R[wake_p99]' 'R[wake_max]' _ <"$TMP/$id/wake"
	read -r 'R[tostamp_p50]' 'R[tostamp_p99]' 'R[tostamp_max]' _ <"$TMP/$id/spawn"
	R[expected]=$((n * secs))
	R[results]=$(awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $1, $2 }' \
		"$TMP/$id/results")
	# Children that started inside the window, whatever their due time.
	R[per_s]=$(awk -v lo="$lo" -v hi="$hi" -v s="$secs" \
		'$3 == "ok" && NF >= 4 && $4 / 1000 >= lo && $4 / 1000 < hi { c++ }
		END { printf "%.1f", c / s }' "$TMP/$id/all")
	R[cpu]=$(paste "$TMP/$id/cpu0" "$TMP/$id/cpu1" |
		awk '{ printf "%.3f %.3f", $3 - $1, $4 - $2 }')
	f0=$TMP/$id/stats0 f1=$TMP/$id/stats1
	if [ ! -s "$f0" ] || [ ! -s "$f1" ]; then
		R[stats_note]="; loopd's stats did not answer within 20 s at an edge of the window: no figures"
		return 0
	fi
	R[util]=$(awk -v u0="$(sval "$f0" loop.uptime_us)" -v u1="$(sval "$f1" loop.uptime_us)" \
		-v i0="$(sval "$f0" loop.idle_us)" -v i1="$(sval "$f1" loop.idle_us)" \
		'BEGIN { printf "%.1f", (u1 > u0 ? 100 * (1 - (i1 - i0) / (u1 - u0)) : 0) }')
	R[loop_ms]=""
	for ph in timers pending poll check close; do
		R[loop_ms]+="$ph $(awk -v a="$(sval "$f0" "loop.phases.$ph.time_us")" \
			-v b="$(sval "$f1" "loop.phases.$ph.time_us")" \
			'BEGIN { printf "%.0f", (b - a) / 1000 }') "
	done
	R[commits]=$(($(sval "$f1" store.commits) - $(sval "$f0" store.commits)))
	R[writes]=$(($(sval "$f1" store.writes) - $(sval "$f0" store.writes)))
	R[batch_mean]=$(awk -v w="${R[writes]}" -v c="${R[commits]}" \
		'BEGIN { printf "%.1f", c ? w / c : 0 }')
	for k in store.batch_p50 store.batch_p99 store.batch_max \
		store.commit_p50_us store.commit_p99_us loop.lag_p50_us \
		loop.lag_p99_us loop.lag_max_us pool.wait_p99_us \
		loop.slowest_callback.time_us loop.slowest_callback.what \
		loop.slowest_callback.plugin scheduler.skipped scheduler.missed; do
		R[$k]=$(sval "$f1" "$k")
	done
	R[started]=$(($(sval "$f1" scheduler.runs_started) - $(sval "$f0" scheduler.runs_started)))
}

# --- the peer -----------------------------------------------------------------

peer_side() {
	local id=$1 n=$2 secs=$3 warm=$4 line from
	: >"$TMP/$id/peer.stamps"
	line=$("$PEER" "$n" "$secs" "$TMP/$id/peer.stamps" "$STAMP" "$warm") ||
		return 1
	echo "$line" >"$TMP/$id/peer.line"
	# shellcheck disable=SC2086 # one key=value a line, on purpose
	from=$(printf '%s\n' $line | sed -n 's/^window_from=//p')
	# The children due in the window, as loopd's.
	awk -v lo="$from" -v hi="$((from + secs))" '$1 >= lo && $1 < hi {
		print ($2 / 1e6 - $1 * 1000) }' "$TMP/$id/peer.stamps" |
		pcts >"$TMP/$id/peer.lat"
	read -r 'R[lat_p50]' 'R[lat_p99]' 'R[lat_max]' 'R[stamped]' <"$TMP/$id/peer.lat"
	R[expected]=$((n * secs))
	# Children that started inside the window, whatever their due second.
	R[per_s]=$(awk -v lo="$from" -v s="$secs" '$2 / 1e9 >= lo && $2 / 1e9 < lo + s { c++ }
		END { printf "%.1f", c / s }' "$TMP/$id/peer.stamps")
	for kv in $line; do
		case $kv in *=*) R[peer.${kv%%=*}]=${kv#*=} ;; esac
	done
}

# --- running and the tables ---------------------------------------------------

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b <= 0) print "-"
		else printf "%.2f\n", a / b }'
}

cat >"$TMP/loopd.conf" <<'EOF'
; exec_bench.sh: loopd's defaults, written out so that no
; /etc/loopd/loopd.conf of this machine applies.
[loopd]
threads = 4
log-level = warn
[store]
; No count limit: a job that falls behind records up to 100 missed
; occurrences per catch-up, which would prune the window's runs.
runs-keep = 0
EOF

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
read -r load _ </proc/loadavg
MACHINE="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu_model), Linux $(uname -r), load average $load at the start"
STAMP_KIND=dynamic
file -L "$STAMP" 2>/dev/null | grep -q 'statically linked' && STAMP_KIND=static
echo "exec benchmarks: $MACHINE"
echo "exec_stamp: $STAMP_KIND; loopd --threads 4"
MD="Measured with \`tests/bench/exec_bench.sh $BUILD${QUICK:+ --quick}${SECONDS_ALL:+ --seconds $SECONDS_ALL}\`"
MD+=$'\n\n'"- machine: $MACHINE"$'\n'"- exec_stamp linked $STAMP_KIND"$'\n'

for spec in "${SCEN[@]}"; do
	read -r id n secs qsecs warm <<<"$spec"
	[ -n "$QUICK" ] && secs=$qsecs
	[ -n "$SECONDS_ALL" ] && secs=$SECONDS_ALL
	mkdir -p "$TMP/$id"
	progress "$id: loopd, $n job(s) every second, $secs s window"
	R=()
	if ! loopd_side "$id" "$n" "$secs" "$warm"; then
		NFAIL=$((NFAIL + 1))
		continue
	fi
	declare -A L=()
	for k in "${!R[@]}"; do L[$k]=${R[$k]}; done
	progress "$id: spawn_peer, $n child(ren) every second, $secs s"
	R=()
	if ! peer_side "$id" "$n" "$secs" "$warm"; then
		echo "exec_bench.sh: $id: spawn_peer failed" >&2
		NFAIL=$((NFAIL + 1))
		unset L
		continue
	fi
	declare -A P=()
	for k in "${!R[@]}"; do P[$k]=${R[$k]}; done

	title="$id: $n job(s) '* * * * * *' running exec_stamp, $secs s window"
	printf '\n%s\n' "$title"
	printf '  %-30s %10s %10s %12s\n' metric loopd peer loopd/peer
	MD+=$'\n'"#### $title"$'\n\n'"| metric | loopd | peer | loopd/peer |"$'\n'"|---|--:|--:|--:|"$'\n'
	for m in "latency p50 (ms) lat_p50" "latency p99 (ms) lat_p99" \
		"latency max (ms) lat_max" "children started per second per_s" \
		"due occurrences run (of N x s) stamped"; do
		key=${m##* } label=${m% *}
		a=${L[$key]:--} b=${P[$key]:--}
		r=$(ratio "$a" "$b")
		printf '  %-30s %10s %10s %12s\n' "$label" "$a" "$b" "$r"
		MD+="| $label | $a | $b | $r |"$'\n'
	done
	detail="loopd: expected ${L[expected]} runs; results of those due in the window: ${L[results]:-none}; runs started over the window (stats) ${L[started]:--}${L[stats_note]:-}${L[killed]:+; loopd did not stop within 20 s of SIGTERM: killed}
loopd: due -> started (wake) p50/p99/max ms ${L[wake_p50]}/${L[wake_p99]}/${L[wake_max]}; started -> stamp (commit + spawn + exec) ${L[tostamp_p50]}/${L[tostamp_p99]}/${L[tostamp_max]}
loopd, over the window: loop utilization ${L[util]}%; phase ms: ${L[loop_ms]}; store ${L[commits]} commits, ${L[writes]} writes (mean batch ${L[batch_mean]}); CPU: loopd ${L[cpu]% *} s, its reaped children ${L[cpu]#* } s
loopd, since its restart (resume, warm-up, window): loop lag p50/p99/max us ${L[loop.lag_p50_us]}/${L[loop.lag_p99_us]}/${L[loop.lag_max_us]}; slowest callback ${L[loop.slowest_callback.time_us]} us (${L[loop.slowest_callback.plugin]} ${L[loop.slowest_callback.what]}); store batch p50/p99/max ${L[store.batch_p50]}/${L[store.batch_p99]}/${L[store.batch_max]} writes, commit p50/p99 us ${L[store.commit_p50_us]}/${L[store.commit_p99_us]}; pool wait p99 ${L[pool.wait_p99_us]} us
loopd: set-up: ${n} adds in ${L[add_s]} s, resume in ${L[resume_s]} s; all of the window handled ${L[behind_s]} s after its end
peer: $(cat "$TMP/$id/peer.line")"
	printf '%s\n' "$detail" | sed 's/^/  /'
	MD+=$'\n'"$(printf '%s\n' "$detail" | sed 's/^/- /')"$'\n'
	unset L P
done

printf '\n----- Markdown -----\n\n%s' "$MD"
[ $NFAIL -gt 0 ] && { echo "exec_bench.sh: $NFAIL scenario(s) FAILED" >&2; exit 1; }
exit 0
