#!/usr/bin/env bash
# run.sh - the loop benchmarks of the tracker issue: the same workloads
# through loopd's plugin API (loop_bench.so), libuv (uv_bench) and Node.js
# (node_bench.js), in one run; medians, ratios and the tracker's targets.
#
# usage: tests/bench/run.sh BUILD_DIR [--quick] [--impl LIST] [--only LIST]
#                           [--threads N]
#   --quick        one run per workload and implementation (default 5)
#   --impl LIST    comma-separated subset of loopd,libuv,node (default all)
#   --only LIST    comma-separated subset of the workloads: timers-spread,
#                  timers-shuffle, timers-zero, timers-same, immediates,
#                  immediates-watch, pool, pingpong (default all)
#   --threads N    loopd --threads and UV_THREADPOOL_SIZE (default 4)
# Environment: NODE (default node), BENCH_TIMEOUT seconds per run (120).
#
# Prints progress (every raw result line) on stderr, a table per workload
# on stdout, then the same tables in Markdown for tests/bench/RESULTS.md.
# Raw lines and the Markdown are also left in BUILD_DIR/tests/bench/.
# The targets are printed, never checked: a missed target is not a failure.
# Exit: 0 all runs ok, 1 some run failed (its stderr is shown),
# 2 bad usage or a missing peer (with how to get it).
set -u

usage() {
	sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2
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
if [ -z "$ONLY" ]; then
	WORKLOADS=("${ALL_WORKLOADS[@]}")
else
	for w in ${ONLY//,/ }; do
		found=
		for spec in "${ALL_WORKLOADS[@]}"; do
			[ "${spec%% *}" = "$w" ] && WORKLOADS+=("$spec") && found=1
		done
		[ -n "$found" ] || die "--only: unknown workload '$w'"
	done
fi

# --- the peers: each missing one is an error that says how to get it ---------

missing=()
if [ -n "${WANT_IMPL[loopd]:-}" ]; then
	[ -x "$LOOPD" ] || missing+=("loopd: $LOOPD not found. Build the daemon:
    cmake --build $BUILD
  (or leave loopd out for now: --impl libuv,node)")
	[ -f "$PLUGIN" ] || missing+=("loopd: the benchmark plugin $PLUGIN is not built:
    cmake --build $BUILD --target loop_bench")
fi
if [ -n "${WANT_IMPL[libuv]:-}" ] && [ ! -x "$UVB" ]; then
	missing+=("libuv: $UVB is not built. It needs libuv's development files,
  found through pkg-config when $BUILD was configured. On Debian/Ubuntu:
    sudo apt-get install libuv1-dev pkg-config
    cmake $BUILD && cmake --build $BUILD --target uv_bench
  (or leave libuv out: --impl loopd,node)")
fi
if [ -n "${WANT_IMPL[node]:-}" ]; then
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

printf '%s' "$MD" >"$MDOUT"
printf '\n----- Markdown (for tests/bench/RESULTS.md; also in %s) -----\n\n' "$MDOUT"
printf '%s' "$MD"
printf '\nraw result lines: %s\n' "$RAW"

if [ $NFAIL -gt 0 ]; then
	echo "run.sh: $NFAIL workload/implementation pair(s) FAILED; see the messages above" >&2
	exit 1
fi
exit 0
