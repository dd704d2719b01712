#!/usr/bin/env bash
# run.sh - the loop benchmarks of the tracker issue: the same workloads
# through loopd's plugin API (loop_bench.so), libuv (uv_bench) and Node.js
# (node_bench.js), in one run; medians, ratios and the tracker's targets.
# Then the scheduler's benchmark of issue 3 (sched_bench: 1M jobs cold
# start, 10,000 jobs due in one second, 10,000 jobs every second), once,
# with --seconds 10 instead of its 60 to keep this script's time sane.
# Then the control socket's benchmark of issue 4 (ctl_bench against a
# private loopd next to redis-benchmark against a private redis-server:
# GetStatus vs PING on 1, 16, 200 connections; 10,000 Jobs.Add; their List).
# Then exec start latency and 1,000 short jobs a second (issue 5:
# exec_bench.sh --quick, loopd's exec kind next to a bare posix_spawn loop;
# about 50 s).
#
# usage: tests/bench/run.sh BUILD_DIR [--quick] [--impl LIST] [--only LIST]
#                           [--threads N]
#   --quick        one run per workload and implementation (default 5)
#   --impl LIST    comma-separated subset of loopd,libuv,node (default all)
#   --only LIST    comma-separated subset of the workloads: timers-spread,
#                  timers-shuffle, timers-zero, timers-same, immediates,
#                  immediates-watch, pool, pingpong, sched, ctl, exec
#                  (default all)
#   --threads N    loopd --threads and UV_THREADPOOL_SIZE (default 4)
# Environment: NODE (default node), BENCH_TIMEOUT seconds per run (120),
# BENCH_SCHED_TIMEOUT seconds for sched_bench's one run (900),
# BENCH_CTL_SECONDS per control-socket row (5), BENCH_CTL_REPS (3; 1 --quick).
#
# Prints progress (every raw result line) on stderr, a table per workload
# on stdout, then the same tables in Markdown for tests/bench/RESULTS.md.
# Raw lines and the Markdown are also left in BUILD_DIR/tests/bench/.
# The targets are printed, never checked: a missed target is not a failure.
# Exit: 0 all runs ok, 1 some run failed (its stderr is shown),
# 2 bad usage or a missing peer (with how to get it).
set -u

usage() {
	sed -n '15,26p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

die() {
	printf 'run.sh: %s\n' "$@" >&2
	exit 2
}

# --- arguments --------------------------------------------------------------

[ $# -ge 1 ] || usage
case $1 in -*) usage ;; esac
BUILD=$1
shift
REPS=5
IMPLS=loopd,libuv,node
ONLY=
THREADS=4
while [ $# -gt 0 ]; do
	case $1 in
	--quick) REPS=1 ;;
	--impl) [ $# -ge 2 ] || usage; IMPLS=$2; shift ;;
	--only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
	--threads) [ $# -ge 2 ] || usage; THREADS=$2; shift ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	shift
done
[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist (configure with: cmake -S . -B $BUILD)"
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")" && pwd)
case $THREADS in '' | *[!0-9]* | 0) die "--threads wants a positive number, not '$THREADS'" ;; esac
NODE=${NODE:-node}
RUN_TIMEOUT=${BENCH_TIMEOUT:-120}

LOOPD=$BUILD/daemon/loopd
PLUGIN=$BUILD/tests/bench/loop_bench.so
UVB=$BUILD/tests/bench/uv_bench
NODEJS=$SRC/node_bench.js
SCHEDB=$BUILD/tests/bench/sched_bench
# sched_bench's arguments here, and how long its one run may take.
SCHED_ARGS=(--seconds 10)
SCHED_TIMEOUT=${BENCH_SCHED_TIMEOUT:-900}
CTLB=$BUILD/tests/bench/ctl_bench
CTL_SECONDS=${BENCH_CTL_SECONDS:-5}
CTL_REPS=${BENCH_CTL_REPS:-3}
[ "$REPS" = 1 ] && CTL_REPS=1

# The workloads: id, LOOPD_BENCH, LOOPD_BENCH_PATTERN, LOOPD_BENCH_N, and
# extra environment for loopd's run ("-": none).
ALL_WORKLOADS=(
	"timers-spread timers spread 1000000 -"
	"timers-shuffle timers shuffle 1000000 -"
	"timers-zero timers zero 1000000 -"
	"timers-same timers same 1000000 -"
	"immediates immediates - 10000000 -"
	"immediates-watch immediates - 1000000 LOOPD_BENCH_WATCH=1"
	"pool pool - 100000 -"
	"pingpong pingpong - 100000 -"
)
# immediates-watch differs only on loopd's side (one idle fd watched, so
# loopd polls the kernel every turn as libuv and Node always do): its peer
# columns are those of immediates, not run twice.  1M turns, not 10M, as
# a turn that polls the kernel costs µs here and a rate needs no more.
declare -A PEERS_FROM=([immediates-watch]=immediates)

declare -A WANT_IMPL=()
for i in ${IMPLS//,/ }; do
	case $i in loopd | libuv | node) WANT_IMPL[$i]=1 ;;
	*) die "--impl: unknown implementation '$i' (want loopd, libuv, node)" ;;
	esac
done
IMPL_ORDER=()
for i in loopd libuv node; do
	[ -n "${WANT_IMPL[$i]:-}" ] && IMPL_ORDER+=("$i")
done
[ ${#IMPL_ORDER[@]} -gt 0 ] || die "--impl: nothing selected"

WORKLOADS=()
# sched_bench is loopd's alone: it runs when loopd is among --impl.
RUN_SCHED=
# So is the control socket's (ctl_bench, with redis-server as its peer).
RUN_CTL=
# And exec_bench.sh (with spawn_peer as its peer).
RUN_EXEC=
if [ -z "$ONLY" ]; then
	WORKLOADS=("${ALL_WORKLOADS[@]}")
	[ -n "${WANT_IMPL[loopd]:-}" ] && RUN_SCHED=1 && RUN_CTL=1 && RUN_EXEC=1
else
	for w in ${ONLY//,/ }; do
		if [ "$w" = exec ]; then
			[ -n "${WANT_IMPL[loopd]:-}" ] ||
				die "--only exec: exec_bench.sh is loopd's; add loopd to --impl"
			RUN_EXEC=1
			continue
		fi
		if [ "$w" = ctl ]; then
			[ -n "${WANT_IMPL[loopd]:-}" ] ||
				die "--only ctl: ctl_bench is loopd's; add loopd to --impl"
			RUN_CTL=1
			continue
		fi
		if [ "$w" = sched ]; then
			[ -n "${WANT_IMPL[loopd]:-}" ] ||
				die "--only sched: sched_bench is loopd's; add loopd to --impl"
			RUN_SCHED=1
			continue
		fi
		found=
		for spec in "${ALL_WORKLOADS[@]}"; do
			[ "${spec%% *}" = "$w" ] && WORKLOADS+=("$spec") && found=1
		done
		[ -n "$found" ] || die "--only: unknown workload '$w'"
	done
fi

# --- the peers: each missing one is an error that says how to get it ---------

missing=()
if [ -n "$RUN_SCHED" ] && [ ! -x "$SCHEDB" ]; then
	missing+=("sched: $SCHEDB is not built. Build it:
    cmake --build $BUILD --target sched_bench
  (or leave it out: --only with the loop workloads you want)")
fi
if [ -n "$RUN_CTL" ]; then
	[ -x "$CTLB" ] && [ -x "$LOOPD" ] && [ -f "$BUILD/plugins/hello.so" ] ||
		missing+=("ctl: $CTLB, $LOOPD or $BUILD/plugins/hello.so is not built:
    cmake --build $BUILD
  (or leave it out: --only with the workloads you want)")
	for t in redis-server redis-benchmark redis-cli; do
		command -v $t >/dev/null 2>&1 && continue
		missing+=("ctl: '$t' not found on PATH: the control socket's peer is
  Debian's redis,
    sudo apt-get install redis-server redis-tools
  (the script starts its own on a private socket; or leave ctl out:
  --only with the workloads you want)")
		break
	done
fi
if [ -n "$RUN_EXEC" ] && { [ ! -x "$BUILD/tests/bench/spawn_peer" ] ||
	[ ! -x "$BUILD/tests/bench/exec_stamp" ] || [ ! -f "$BUILD/plugins/exec.so" ]; }; then
	missing+=("exec: spawn_peer, exec_stamp or plugins/exec.so is not built:
    cmake --build $BUILD
  (or leave it out: --only with the workloads you want)")
fi
if [ ${#WORKLOADS[@]} -eq 0 ]; then
	: # --only sched/ctl/exec: none of the loop workloads' programs are needed
elif [ -n "${WANT_IMPL[loopd]:-}" ]; then
	[ -x "$LOOPD" ] || missing+=("loopd: $LOOPD not found. Build the daemon:
    cmake --build $BUILD
  (or leave loopd out for now: --impl libuv,node)")
	[ -f "$PLUGIN" ] || missing+=("loopd: the benchmark plugin $PLUGIN is not built:
    cmake --build $BUILD --target loop_bench")
fi
if [ ${#WORKLOADS[@]} -gt 0 ] && [ -n "${WANT_IMPL[libuv]:-}" ] && [ ! -x "$UVB" ]; then
	missing+=("libuv: $UVB is not built. It needs libuv's development files,
  found through pkg-config when $BUILD was configured. On Debian/Ubuntu:
    sudo apt-get install libuv1-dev pkg-config
    cmake $BUILD && cmake --build $BUILD --target uv_bench
  (or leave libuv out: --impl loopd,node)")
fi
if [ ${#WORKLOADS[@]} -gt 0 ] && [ -n "${WANT_IMPL[node]:-}" ]; then
	if ! command -v "$NODE" >/dev/null 2>&1; then
		missing+=("node: '$NODE' not found on PATH. Node.js 20 or later is needed
  (Debian 12's own nodejs package is 18): install it from NodeSource,
    curl -fsSL https://deb.nodesource.com/setup_20.x | sudo bash -
    sudo apt-get install nodejs
  or with nvm (nvm install 20), or point NODE=/path/to/node at one.
  (or leave node out: --impl loopd,libuv)")
	else
		nv=$("$NODE" -p 'process.versions.node' 2>/dev/null)
		if [ "${nv%%.*}" -lt 20 ] 2>/dev/null || [ -z "$nv" ]; then
			missing+=("node: $(command -v "$NODE") is version '${nv:-unknown}'; Node.js 20 or later is
  needed: install it from NodeSource (https://deb.nodesource.com, setup_20.x)
  or with nvm (nvm install 20), or point NODE=/path/to/node at one.")
		fi
	fi
fi
if [ ${#missing[@]} -gt 0 ]; then
	printf 'run.sh: cannot run the benchmarks:\n' >&2
	printf -- '- %s\n' "${missing[@]}" >&2
	exit 2
fi

# Numbers from a debug or sanitizer build mean nothing: say so loudly.
cache=$BUILD/CMakeCache.txt
if [ -f "$cache" ]; then
	bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
	case $bt in Release | RelWithDebInfo) ;;
	*) echo "run.sh: WARNING: $BUILD is a '${bt:-no build type}' build; use Release or RelWithDebInfo" >&2 ;;
	esac
	if grep -Eq '^LOOPD_(SANITIZE|TSAN):BOOL=ON' "$cache"; then
		echo "run.sh: WARNING: $BUILD is a sanitizer build; its numbers are not comparable" >&2
	fi
fi
# A busy machine skews every column; the ratios suffer less than the times.
read -r load _ </proc/loadavg
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
	echo "run.sh: WARNING: load average is $load; other work on this machine will skew the numbers" >&2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/loopd-bench.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$TMP"' EXIT
RAW=$BUILD/tests/bench/bench-raw.txt
MDOUT=$BUILD/tests/bench/bench-results.md
mkdir -p "$BUILD/tests/bench"
: >"$RAW"

# --- running ----------------------------------------------------------------

declare -A VALS=()   # "id|impl|key" -> space-separated values of every run
declare -A FAILED=() # "id|impl" -> 1
NFAIL=0

# run_one IMPL BENCH PATTERN N EXTRA_ENV: one process, one result line
# into LINE.
run_one() {
	local impl=$1 bench=$2 pat=$3 n=$4 extra=$5 rc state=
	local out=$TMP/out err=$TMP/err
	# Set every knob, so none leaks in from the caller's environment; a
	# later assignment (the extra) wins.
	local envs=(LOOPD_BENCH="$bench" LOOPD_BENCH_PATTERN="$pat"
		LOOPD_BENCH_N="$n" LOOPD_BENCH_WATCH=0
		UV_THREADPOOL_SIZE="$THREADS")
	[ "$impl" = loopd ] && [ "$extra" != - ] && envs+=("$extra")
	local to=(timeout --foreground -k 5 "$RUN_TIMEOUT")

	case $impl in
	loopd)
		# A fresh state directory each time: an empty database, no lock.
		state=$(mktemp -d "$TMP/state.XXXXXX")
		env "${envs[@]}" "${to[@]}" "$LOOPD" --no-socket \
			--state-dir "$state" --plugin "$PLUGIN" \
			--threads "$THREADS" >"$out" 2>"$err" </dev/null
		;;
	libuv) env "${envs[@]}" "${to[@]}" "$UVB" >"$out" 2>"$err" </dev/null ;;
	node) env "${envs[@]}" "${to[@]}" "$NODE" "$NODEJS" >"$out" 2>"$err" </dev/null ;;
	esac
	rc=$?
	[ -n "$state" ] && rm -rf "$state"
	LINE=$(grep -m1 "^$impl $bench " "$out")
	if [ $rc -eq 0 ] && [ -n "$LINE" ] && [[ $LINE == *" errors=0"* ]]; then
		return 0
	fi
	{
		case $rc in
		0) why="exited 0 without a clean result line" ;;
		124 | 137) why="did not finish within ${RUN_TIMEOUT}s (killed)" ;;
		*) why="exited with status $rc" ;;
		esac
		printf 'run.sh: FAILED: %s %s %s n=%s %s\n' "$impl" "$bench" "$pat" "$n" "$why"
		[ -n "$LINE" ] && printf '  result: %s\n' "$LINE"
		if [ -s "$err" ]; then
			printf '  last lines of its stderr:\n'
			tail -n 15 "$err" | sed 's/^/    /'
		else
			printf '  (its stderr was empty)\n'
		fi
	} >&2
	return 1
}

selected() {
	local spec
	for spec in "${WORKLOADS[@]}"; do
		[ "${spec%% *}" = "$1" ] && return 0
	done
	return 1
}

# "id|impl" -> the workload whose results stand in for this one.
declare -A FROM=()
for spec in "${WORKLOADS[@]}"; do
	id=${spec%% *}
	src=${PEERS_FROM[$id]:-}
	if [ -z "$src" ] || ! selected "$src"; then
		continue
	fi
	for impl in libuv node; do FROM[$id|$impl]=$src; done
done

for spec in "${WORKLOADS[@]}"; do
	read -r id bench pat n extra <<<"$spec"
	for ((rep = 1; rep <= REPS; rep++)); do
		# Implementations take turns within a repetition, so a burst of
		# noise on the machine lands on all of them alike.
		for impl in "${IMPL_ORDER[@]}"; do
			[ -n "${FAILED[$id|$impl]:-}" ] && continue
			[ -n "${FROM[$id|$impl]:-}" ] && continue
			if ! run_one "$impl" "$bench" "$pat" "$n" "$extra"; then
				FAILED[$id|$impl]=1
				NFAIL=$((NFAIL + 1))
				continue
			fi
			printf '[%d/%d] %s: %s\n' "$rep" "$REPS" "$id" "$LINE" >&2
			printf '%s: %s\n' "$id" "$LINE" >>"$RAW"
			for kv in $LINE; do
				case $kv in *=*) ;; *) continue ;; esac
				key="$id|$impl|${kv%%=*}"
				VALS[$key]+="${kv#*=} "
			done
		done
	done
done

# --- tables -----------------------------------------------------------------

median() {
	[ -n "$1" ] || { echo -; return; }
	# shellcheck disable=SC2086 # split into one value per line on purpose
	printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]
		      else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a < 0 || b <= 0) print "-"
		else printf "%.2f\n", a / b }'
}

metrics_for() {
	case $1 in
	timers-shuffle) echo start_s run_s fire_s wall_s cpu_s rss_mb late_ms ;;
	timers-*) echo start_s run_s fire_s wall_s cpu_s rss_mb ;;
	immediates*) echo ns_per_turn wall_s cpu_s rss_mb ;;
	pool) echo wall_s start_s run_s cpu_s rss_mb ;;
	pingpong) echo us_per_trip wall_s cpu_s rss_mb ;;
	esac
}

# The tracker's targets for loopd (medians), with its libuv and Node
# references where it gives them.  Printed only.
target_for() {
	case $1:$2 in
	timers-*:start_s) echo "<= 0.10" ;;
	timers-zero:fire_s) echo "<= 0.25 (libuv 0.6, node 0.14)" ;;
	timers-shuffle:wall_s) echo "<= 1.15" ;;
	timers-shuffle:cpu_s) echo "<= 0.8" ;;
	timers-*:rss_mb) echo "<= 100 (libuv 147, node 222)" ;;
	immediates*:ns_per_turn) echo "<= 300 (libuv 200, node 830)" ;;
	pool:wall_s) echo "<= 0.04 (libuv 0.04, node 0.45)" ;;
	*) echo "" ;;
	esac
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
uv_version=-
[ -x "$UVB" ] && uv_version=$("$UVB" --version | awk '{ print $2 }')
node_version=-
command -v "$NODE" >/dev/null 2>&1 && node_version=$("$NODE" --version)
loopd_version=-
[ -x "$LOOPD" ] && loopd_version=$("$LOOPD" --version 2>/dev/null |
	head -n 1 | sed 's/^loopd //')
MACHINE="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu_model), Linux $(uname -r)"
VERSIONS="loopd ${loopd_version:--}, libuv $uv_version, Node.js $node_version"
SETUP="median of $REPS run(s); loopd --threads $THREADS, UV_THREADPOOL_SIZE=$THREADS"

MD="Measured with \`tests/bench/run.sh $BUILD$([ "$REPS" = 1 ] && echo ' --quick')\`"
MD+=$'\n\n'"- machine: $MACHINE"$'\n'"- versions: $VERSIONS"$'\n'"- $SETUP"$'\n'

echo "loop benchmarks: $SETUP"
echo "machine: $MACHINE"
echo "versions: $VERSIONS"
for spec in "${WORKLOADS[@]}"; do
	read -r id bench pat n extra <<<"$spec"
	title="$bench (n=$n)"
	[ "$pat" != - ] && title="$bench, $pat (n=$n)"
	[ "$extra" != - ] && title="$title, loopd with $extra"
	[ -n "${FROM[$id|libuv]:-}" ] && title="$title (peers: the ${FROM[$id|libuv]} runs)"
	printf '\n%s\n' "$title"
	printf '  %-12s %10s %10s %10s %12s %11s  %s\n' metric loopd libuv node \
		loopd/libuv loopd/node target
	MD+=$'\n'"### $title"$'\n\n'
	MD+="| metric | loopd | libuv | node | loopd/libuv | loopd/node | target |"$'\n'
	MD+="|---|--:|--:|--:|--:|--:|---|"$'\n'
	for m in $(metrics_for "$id"); do
		declare -A med=()
		for impl in loopd libuv node; do
			src=${FROM[$id|$impl]:-$id}
			if [ -n "${FAILED[$src|$impl]:-}" ]; then
				med[$impl]=FAIL
			else
				med[$impl]=$(median "${VALS[$src|$impl|$m]:-}")
			fi
		done
		rl=- rn=-
		# A ratio of latenesses near zero says nothing.
		if [ "$m" != late_ms ]; then
			rl=$(ratio "${med[loopd]/FAIL/-}" "${med[libuv]/FAIL/-}")
			rn=$(ratio "${med[loopd]/FAIL/-}" "${med[node]/FAIL/-}")
		fi
		tg=$(target_for "$id" "$m")
		printf '  %-12s %10s %10s %10s %12s %11s  %s\n' "$m" \
			"${med[loopd]}" "${med[libuv]}" "${med[node]}" "$rl" "$rn" "$tg"
		MD+="| $m | ${med[loopd]} | ${med[libuv]} | ${med[node]} | $rl | $rn | $tg |"$'\n'
		unset med
	done
done

# --- the scheduler: sched_bench, once --------------------------------------

if [ -n "$RUN_SCHED" ]; then
	printf '[sched] %s %s (its set-up writes 1M jobs: a minute or two)\n' \
		"$SCHEDB" "${SCHED_ARGS[*]}" >&2
	sout=$TMP/sched.out serr=$TMP/sched.err
	timeout --foreground -k 5 "$SCHED_TIMEOUT" "$SCHEDB" "${SCHED_ARGS[@]}" \
		--threads "$THREADS" --dir "$TMP" >"$sout" 2>"$serr" </dev/null
	rc=$?
	sed 's/^/sched: /' "$sout" >>"$RAW"
	printf '\nscheduler: sched_bench %s --threads %s\n' "${SCHED_ARGS[*]}" "$THREADS"
	sed 's/^/  /' "$sout"
	MD+=$'\n'"### scheduler: \`sched_bench ${SCHED_ARGS[*]} --threads $THREADS\`"$'\n\n```\n'
	MD+="$(cat "$sout")"$'\n```\n'
	if [ $rc -ne 0 ]; then
		NFAIL=$((NFAIL + 1))
		{
			case $rc in
			124 | 137) printf 'run.sh: FAILED: sched_bench did not finish within %ss (killed)\n' "$SCHED_TIMEOUT" ;;
			*) printf 'run.sh: FAILED: sched_bench exited with status %s\n' "$rc" ;;
			esac
			printf '  last lines of its stderr:\n'
			tail -n 15 "$serr" | sed 's/^/    /'
		} >&2
	fi
fi

# --- the control socket: ctl_bench against loopd, redis-benchmark ----------
# (and ctl_bench) against redis-server, on private Unix sockets in $TMP/ctl.

# ctl_kv LINE KEY: the value of KEY=... in a result line, or -.
ctl_kv() {
	local kv
	for kv in $1; do
		case $kv in "$2"=*) echo "${kv#*=}" && return ;; esac
	done
	echo -
}

# ctl_ms US: microseconds as milliseconds, 3 significant digits.
ctl_ms() {
	awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.3g\n", u / 1000 }'
}

# ctl_cpu PID: the user + system CPU seconds of a process so far.
ctl_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' \
		"/proc/$1/stat" 2>/dev/null
}

ctl_cleanup() {
	[ -n "${CTL_LPID:-}" ] && kill -TERM "$CTL_LPID" 2>/dev/null && wait "$CTL_LPID"
	[ -n "${CTL_RPID:-}" ] && kill -TERM "$CTL_RPID" 2>/dev/null && wait "$CTL_RPID"
	CTL_LPID= CTL_RPID=
}

# ctl_fail WHAT LOG: counts a failure and shows the end of LOG.
ctl_fail() {
	NFAIL=$((NFAIL + 1))
	printf 'run.sh: FAILED: %s\n  last lines of its stderr:\n' "$1" >&2
	tail -n 15 "$2" 2>/dev/null | sed 's/^/    /' >&2
}

# ctl_loopd_start NAME: a fresh loopd (empty state) in $CTL_DIR/NAME;
# sets CTL_LPID and CTL_SOCK.
ctl_loopd_start() {
	local d=$CTL_DIR/$1 i
	mkdir -p "$d"
	"$LOOPD" -c "$CTL_DIR/loopd.conf" -s "$d/s.sock" -S "$d/state" \
		-P "$BUILD/plugins" </dev/null >/dev/null 2>"$d/loopd.log" &
	CTL_LPID=$! CTL_SOCK=$d/s.sock
	for ((i = 0; i < 100; i++)); do
		[ -S "$CTL_SOCK" ] && return 0
		kill -0 "$CTL_LPID" 2>/dev/null || break
		sleep 0.1
	done
	ctl_fail "loopd did not start on $CTL_SOCK" "$d/loopd.log"
	ctl_cleanup
	return 1
}

ctl_loopd_stop() {
	kill -TERM "$CTL_LPID" 2>/dev/null && wait "$CTL_LPID"
	CTL_LPID=
}

ctl_redis_start() {
	local i
	CTL_RSOCK=$CTL_DIR/redis.sock
	redis-server --port 0 --unixsocket "$CTL_RSOCK" --save '' \
		--appendonly no --logfile "$CTL_DIR/redis.log" </dev/null >/dev/null 2>&1 &
	CTL_RPID=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -s "$CTL_RSOCK" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	ctl_fail "redis-server did not start on $CTL_RSOCK" "$CTL_DIR/redis.log"
	ctl_cleanup
	return 1
}

# ctl_load: appends the 1-minute load average to LINE (load1=) and
# widens CTL_LOADS (LOW-HIGH) with it: the machine's other work during
# the rows, printed with their table.
ctl_load() {
	local l
	read -r l _ </proc/loadavg
	LINE+=" load1=$l"
	CTL_LOADS=$(awk -v r="${CTL_LOADS:-}" -v l="$l" 'BEGIN {
		if (r == "") { print l "-" l; exit }
		split(r, a, "-")
		print (l < a[1] ? l : a[1]) "-" (l > a[2] ? l : a[2]) }')
}

# ctl_bench SOCKET PID ARGS...: one ctl_bench run; its result line in LINE.
ctl_bench() {
	local sock=$1 pid=$2 rc
	shift 2
	LINE=$(timeout --foreground -k 5 "$RUN_TIMEOUT" "$CTLB" -s "$sock" \
		-p "$pid" "$@" 2>"$CTL_DIR/err")
	rc=$?
	[ -n "$LINE" ] && ctl_load
	printf 'ctl: %s\n' "$LINE" >>"$RAW"
	[ -n "$LINE" ] && printf '[ctl] %s\n' "$LINE" >&2
	[ $rc -eq 0 ] && return 0
	ctl_fail "ctl_bench $* exited with status $rc" "$CTL_DIR/err"
	return 1
}

# ctl_redis CONNS DEPTH N: one redis-benchmark -t ping run; its
# PING_MBULK figures, as a line like ctl_bench's, in LINE.  The CSV's
# times are ms: "PING_MBULK","rps","avg","min","p50","p95","p99","max".
ctl_redis() {
	local c0 c1 t0 t1 out rc
	c0=$(ctl_cpu "$CTL_RPID") t0=$(date +%s.%N)
	out=$(timeout --foreground -k 5 "$RUN_TIMEOUT" redis-benchmark \
		-s "$CTL_RSOCK" -t ping -c "$1" -P "$2" -n "$3" --csv \
		2>"$CTL_DIR/err")
	rc=$?
	c1=$(ctl_cpu "$CTL_RPID") t1=$(date +%s.%N)
	# srv_cpu: over the whole run; srv_us_call: over its 2n PINGs
	# (-t ping is PING_INLINE and PING_MBULK, n each).
	LINE=$(printf '%s\n' "$out" | awk -F'"' -v c="$1" -v p="$2" -v n="$3" \
		-v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" '
		$2 == "PING_MBULK" { printf "redis-benchmark ping conns=%s " \
			"depth=%s n=%s rate=%.0f p50_us=%.1f p99_us=%.1f " \
			"max_us=%.1f srv_cpu=%.2f srv_us_call=%.1f errors=0\n",
			c, p, n, $4, $10 * 1000, $14 * 1000, $16 * 1000,
			(c1 - c0) / (t1 - t0), (c1 - c0) * 1e6 / (2 * n) }')
	[ -n "$LINE" ] && ctl_load
	printf 'ctl: %s\n' "${LINE:-redis-benchmark -c $1 -P $2: no PING_MBULK line}" >>"$RAW"
	[ -n "$LINE" ] && printf '[ctl] %s\n' "$LINE" >&2
	[ $rc -eq 0 ] && [ -n "$LINE" ] && return 0
	ctl_fail "redis-benchmark -c $1 -P $2 -n $3 (status $rc)" "$CTL_DIR/err"
	return 1
}

# ctl_redis_n CONNS DEPTH: into CN[CONNS|DEPTH], how many PINGs take
# redis-benchmark about CTL_SECONDS, from a short run (at least 10,000;
# empty: that run failed).
ctl_redis_n() {
	CN[$1|$2]=
	ctl_redis "$1" "$2" $((20000 * $2)) || return 1
	CN[$1|$2]=$(awk -v r="$(ctl_kv "$LINE" rate)" -v s="$CTL_SECONDS" 'BEGIN {
		n = int(r * s / 1000) * 1000; print (n < 10000 ? 10000 : n) }')
}

# ctl_keep SERVER CONNS DEPTH: the figures of LINE, for the medians.
ctl_keep() {
	local k
	for k in rate p50_us p99_us srv_cpu srv_us_call; do
		CV[$1|$2|$3|$k]+="$(ctl_kv "$LINE" $k) "
	done
}

if [ -n "$RUN_CTL" ]; then
	CTL_DIR=$TMP/ctl
	mkdir -p "$CTL_DIR"
	trap 'ctl_cleanup; rm -rf "$TMP"' EXIT
	# 200 connections from one uid: over the default limits of 64 per
	# uid and 256 in all.
	cat >"$CTL_DIR/loopd.conf" <<-'CONF'
		[ctl]
		max-clients = 512
		max-clients-per-uid = 512
	CONF
	# "conns depth": request/response on 1, 16 and 200 connections,
	# then 16 connections with 16 calls in flight each (pipelined).
	CTL_CONFIGS=("1 1" "16 1" "200 1" "16 16")
	# The servers (and clients) of each row: loopd's GetStatus with
	# ctl_bench; redis's PING with redis-benchmark, then with ctl_bench.
	CTL_SERVERS=(loopd redis-benchmark redis-ctl_bench)
	declare -A CV=() # "server|conns|depth|key" -> values of every run
	declare -A CN=() # "conns|depth" -> redis-benchmark's -n
	printf '[ctl] GetStatus vs PING: %s run(s) of %ss per row\n' \
		"$CTL_REPS" "$CTL_SECONDS" >&2
	if ctl_redis_start && ctl_loopd_start status; then
		for cfg in "${CTL_CONFIGS[@]}"; do
			ctl_redis_n $cfg
		done
		for ((rep = 1; rep <= CTL_REPS; rep++)); do
			for cfg in "${CTL_CONFIGS[@]}"; do
				read -r c p <<<"$cfg"
				# Back to back, so that noise on the machine
				# lands on all three alike.
				ctl_bench "$CTL_SOCK" "$CTL_LPID" -c "$c" -P "$p" \
					-d "$CTL_SECONDS" status && ctl_keep loopd "$c" "$p"
				[ -n "${CN[$c|$p]}" ] &&
					ctl_redis "$c" "$p" "${CN[$c|$p]}" &&
					ctl_keep redis-benchmark "$c" "$p"
				ctl_bench "$CTL_RSOCK" "$CTL_RPID" -c "$c" -P "$p" \
					-d "$CTL_SECONDS" ping && ctl_keep redis-ctl_bench "$c" "$p"
			done
		done
		ctl_loopd_stop
	fi
	ctl_cleanup

	# 10,000 jobs: added over 4 connections, 64 calls in flight each;
	# then their List; then GetStatus with them.
	ADD= LIST= STATUS10K= ADD64=
	if ctl_loopd_start jobs; then
		ctl_bench "$CTL_SOCK" "$CTL_LPID" -c 4 -P 64 -n 10000 add && ADD=$LINE
		ctl_bench "$CTL_SOCK" "$CTL_LPID" -n 10 list && LIST=$LINE
		ctl_bench "$CTL_SOCK" "$CTL_LPID" -c 16 -d "$CTL_SECONDS" status &&
			STATUS10K=$LINE
		ctl_loopd_stop
	fi
	# The same adds over 64 connections: loopd handles one call per
	# connection at a time, so a commit holds at most one add per
	# connection, however many are in flight.
	if ctl_loopd_start jobs64; then
		ctl_bench "$CTL_SOCK" "$CTL_LPID" -c 64 -P 4 -n 10000 add && ADD64=$LINE
		ctl_loopd_stop
	fi
	ctl_cleanup

	redis_version=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
	ctl_title="control socket: loopd GetStatus vs redis-server $redis_version PING, Unix sockets, median of $CTL_REPS run(s) of ${CTL_SECONDS}s per row, load average ${CTL_LOADS:--} (1 min, at the end of each run)"
	printf '\n%s\n' "$ctl_title"
	printf '  %-11s %-24s %9s %9s %9s %8s %8s  %s\n' "conns×depth" \
		"server (client)" calls/s p50_us p99_us cpu_us loopd/it target
	MD+=$'\n'"### $ctl_title"$'\n\n'
	MD+="loopd runs with \`[ctl] max-clients = 512, max-clients-per-uid = 512\` (the defaults, 256 and 64, refuse 200 connections of one uid). redis: \`redis-server --port 0 --unixsocket S --save ''\`; its PING is \`redis-benchmark -s S -t ping -c C -P D -n N --csv\` (PING_MBULK; N for about ${CTL_SECONDS}s), then ctl_bench's own client (\`ctl_bench ping\`, RESP). CPU µs/call: the server process's CPU time, all threads, per call answered. loopd/it: loopd's rate over the row's."$'\n\n'
	MD+="| connections × in flight | server (client) | calls/s | p50 µs | p99 µs | CPU µs/call | loopd/it | target |"$'\n'
	MD+="|---|---|--:|--:|--:|--:|--:|---|"$'\n'
	for cfg in "${CTL_CONFIGS[@]}"; do
		read -r c p <<<"$cfg"
		for srv in "${CTL_SERVERS[@]}"; do
			declare -A m=()
			for k in rate p50_us p99_us srv_us_call; do
				m[$k]=$(median "${CV[$srv|$c|$p|$k]:-}")
			done
			case $srv in
			loopd) name="loopd GetStatus (ctl_bench)" r=- tg=
				[ "$c" = 200 ] && [ "$p" = 1 ] && tg="p99 <= 5000 µs"
				lrate=${m[rate]} ;;
			redis-benchmark) name="redis PING (redis-benchmark)"
				r=$(ratio "$lrate" "${m[rate]}")
				tg="loopd/it >= 0.5" ;;
			*) name="redis PING (ctl_bench)"
				r=$(ratio "$lrate" "${m[rate]}") tg= ;;
			esac
			[ "$p" != 1 ] && tg="(pipelined)"
			printf '  %-11s %-24s %9s %9s %9s %8s %8s  %s\n' \
				"${c}×${p}" "$name" "${m[rate]}" "${m[p50_us]}" \
				"${m[p99_us]}" "${m[srv_us_call]}" "$r" "$tg"
			MD+="| $c × $p | $name | ${m[rate]} | ${m[p50_us]} | ${m[p99_us]} | ${m[srv_us_call]} | $r | $tg |"$'\n'
			unset m
		done
	done

	printf '\ncontrol socket: 10,000 jobs (kind hello, every 1h)\n'
	MD+=$'\n'"### control socket: 10,000 jobs (kind hello, schedule \`every 1h\`)"$'\n\n'
	MD+="| what | result | target |"$'\n'"|---|---|---|"$'\n'
	for row in "Jobs.Add, 4 connections × 64 in flight|ADD|" \
		"Jobs.Add, 64 connections × 4 in flight|ADD64|" \
		"Jobs.List of 10,000 jobs, 10 round trips|LIST|<= 50 ms" \
		"GetStatus with 10,000 jobs, 16 connections|STATUS10K|"; do
		IFS='|' read -r what var tg <<<"$row"
		l=${!var}
		case $var in
		ADD*) res="$(ctl_kv "$l" rate) adds/s in $(ctl_kv "$l" secs) s, reply p50 $(ctl_ms "$(ctl_kv "$l" p50_us)") ms, p99 $(ctl_ms "$(ctl_kv "$l" p99_us)") ms, loopd CPU $(ctl_kv "$l" srv_us_call) µs per add; store: $(ctl_kv "$l" store_commits) commits, batch p50 $(ctl_kv "$l" store_batch_p50), max $(ctl_kv "$l" store_batch_max), commit p50 $(ctl_ms "$(ctl_kv "$l" store_commit_p50_us)") ms" ;;
		LIST) res="median $(ctl_kv "$l" median_ms) ms, min $(ctl_kv "$l" min_ms), max $(ctl_kv "$l" max_ms) (first $(ctl_kv "$l" first_ms)); $(ctl_kv "$l" jobs) jobs, $(ctl_kv "$l" bytes) bytes; loopd CPU $(ctl_kv "$l" srv_cpu_ms) ms per call" ;;
		*) res="$(ctl_kv "$l" rate) calls/s, p50 $(ctl_ms "$(ctl_kv "$l" p50_us)") ms, p99 $(ctl_ms "$(ctl_kv "$l" p99_us)") ms, loopd CPU $(ctl_kv "$l" srv_us_call) µs per call" ;;
		esac
		[ -n "$l" ] || res=FAILED
		printf '  %-44s %s%s\n' "$what" "$res" "${tg:+  (target $tg)}"
		MD+="| $what | $res | $tg |"$'\n'
	done
fi

# --- exec start latency: exec_bench.sh --quick, once ----------------------

if [ -n "$RUN_EXEC" ]; then
	printf '[exec] %s/exec_bench.sh --quick (about 50 s)\n' "$SRC" >&2
	eout=$TMP/exec.out
	timeout --foreground -k 5 300 "$SRC/exec_bench.sh" "$BUILD" --quick \
		>"$eout" 2>"$TMP/exec.err" </dev/null
	rc=$?
	sed -n '/^----- Markdown -----$/q; p' "$eout"
	sed -n '/^exec benchmarks:/p' "$eout" | sed 's/^/exec: /' >>"$RAW"
	MD+=$'\n'"### exec start latency and 1,000 short jobs a second (\`exec_bench.sh --quick\`)"$'\n\n'
	MD+="$(sed '1,/^----- Markdown -----$/d' "$eout")"$'\n'
	if [ $rc -ne 0 ]; then
		NFAIL=$((NFAIL + 1))
		printf 'run.sh: FAILED: exec_bench.sh exited with status %s\n' "$rc" >&2
		tail -n 15 "$TMP/exec.err" | sed 's/^/    /' >&2
	fi
fi

printf '%s' "$MD" >"$MDOUT"
printf '\n----- Markdown (for tests/bench/RESULTS.md; also in %s) -----\n\n' "$MDOUT"
printf '%s' "$MD"
printf '\nraw result lines: %s\n' "$RAW"

if [ $NFAIL -gt 0 ]; then
	echo "run.sh: $NFAIL workload/implementation pair(s) FAILED; see the messages above" >&2
	exit 1
fi
exit 0
