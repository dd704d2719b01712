#!/usr/bin/env bash
# fuzz.sh - issue 6, item 1, and issue 5's args parsers: each libFuzzer
# target of tests/fuzz, one per seed corpus tests/fuzz/corpus/NAME
# (fuzz_ctl: the request path, framing to dispatch; fuzz_calendar: the
# schedule parser and next-fire; fuzz_sql_args, fuzz_files_args,
# fuzz_exec_args: the bundled kinds' validate), first replays its whole
# corpus (every input once: -runs=0), then fuzzes for ROBUST_FUZZ_SECS
# (60) seconds starting from that corpus, with tests/fuzz/NAME.dict as
# its dictionary when there is one.  ROBUST_FUZZ_JOBS (2) targets run at
# once.  Any crash, leak, timeout (10 s per input), out-of-memory (2 GiB)
# or UBSan report fails, and the input is kept in ROBUST_FUZZ_ARTIFACTS
# (default BUILD_DIR/fuzz-artifacts) to replay with `TARGET FILE`.  New
# inputs go to a scratch corpus thrown away at the end, unless
# ROBUST_FUZZ_CORPUS_OUT names a directory to merge them into.
#
# It needs a fuzz build, which a normal one is not: `make fuzz` makes
# build-fuzz, or by hand
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLOOPD_FUZZ=ON \
#         -DLOOPD_SANITIZE=ON && cmake --build build-fuzz --target loopd_fuzz
# then  bash tests/robust/fuzz.sh build-fuzz .  (or point
# LOOPD_FUZZ_BUILD at it from any build's ctest; `make test` does).
# Without the targets it says so and passes (SKIP), except when
# LOOPD_FUZZ_BUILD is set or under CI (CI=true): then it fails.
#
#   bash fuzz.sh BUILD_DIR SOURCE_DIR
#   env: ROBUST_FUZZ_SECS (60), ROBUST_FUZZ_JOBS (2), LOOPD_FUZZ_BUILD,
#        ROBUST_FUZZ_ARTIFACTS, ROBUST_FUZZ_CORPUS_OUT
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
src=$(cd "$2" && pwd)
secs=${ROBUST_FUZZ_SECS:-60}
njobs=${ROBUST_FUZZ_JOBS:-2}
[[ "$njobs" =~ ^[1-9][0-9]*$ ]] || { echo "ROBUST_FUZZ_JOBS=$njobs: not a count of 1 or more" >&2; exit 2; }
targets=$(find "$src/tests/fuzz/corpus" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# No fuzz build: SKIP, unless one was asked for (LOOPD_FUZZ_BUILD, CI).
missing() {
	local why="$1 (make fuzz; or cmake -DCMAKE_C_COMPILER=clang -DLOOPD_FUZZ=ON -DLOOPD_SANITIZE=ON and set LOOPD_FUZZ_BUILD)"
	if [ -n "${LOOPD_FUZZ_BUILD:-}" ]; then
		fail "LOOPD_FUZZ_BUILD=$LOOPD_FUZZ_BUILD: $why"
	elif [ "${CI:-}" = true ]; then
		fail "under CI (CI=true) the fuzz build is required: $why"
	fi
	echo "SKIP: $why"
	exit 0
}

[ -d "${LOOPD_FUZZ_BUILD:-$1}" ] || missing "no directory ${LOOPD_FUZZ_BUILD:-$1}"
fbuild=$(cd "${LOOPD_FUZZ_BUILD:-$1}" && pwd)
for t in $targets; do
	[ -x "$fbuild/tests/fuzz/fuzz_$t" ] ||
		missing "no fuzz_$t in $fbuild/tests/fuzz: not a fuzz build"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
artifacts=${ROBUST_FUZZ_ARTIFACTS:-$fbuild/fuzz-artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: its replay, then its fuzzing; the summary line on stdout.
run_target() {
	local t=$1 bin=$fbuild/tests/fuzz/fuzz_$1 seeds=$src/tests/fuzz/corpus/$1
	local opts=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-")
	[ "$t" = ctl ] && opts+=(-max_len=8192)
	[ -f "$src/tests/fuzz/$t.dict" ] && opts+=(-dict="$src/tests/fuzz/$t.dict")
	local n runs rate cov added
	n=$(find "$seeds" -type f | wc -l)
	# 1. The corpus, every input once.
	"$bin" "${opts[@]}" -runs=0 "$seeds" >"$tmp/$t.replay" 2>&1 ||
		{ tail -40 "$tmp/$t.replay" >&2; fail "fuzz_$t: replaying its corpus ($n inputs)"; }
	# 2. Fuzzing from it; new inputs into a scratch corpus.
	mkdir -p "$tmp/new-$t"
	"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
		"$tmp/new-$t" "$seeds" >"$tmp/$t.log" 2>&1 ||
		{ tail -60 "$tmp/$t.log" >&2; fail "fuzz_$t: see above; the input is in $artifacts"; }
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$tmp/$t.log" | tail -1)
	added=$(find "$tmp/new-$t" -type f | wc -l)
	if [ -n "${ROBUST_FUZZ_CORPUS_OUT:-}" ]; then
		mkdir -p "$ROBUST_FUZZ_CORPUS_OUT/$t"
		"$bin" "${opts[@]}" -merge=1 "$ROBUST_FUZZ_CORPUS_OUT/$t" "$tmp/new-$t" >/dev/null 2>&1 ||
			fail "fuzz_$t: merging into $ROBUST_FUZZ_CORPUS_OUT/$t"
	fi
	echo "fuzz_$t: corpus of $n replayed; ${secs} s: $runs runs ($rate/s), $cov, $added new inputs; no crash, leak, timeout or UBSan report"
}

# njobs at a time; each one's status in $tmp/NAME.rc, its output in .out.
for t in $targets; do
	while [ "$(jobs -rp | wc -l)" -ge "$njobs" ]; do
		wait -n || true
	done
	{
		if (run_target "$t") >"$tmp/$t.out" 2>&1; then
			echo 0 >"$tmp/$t.rc"
		else
			echo $? >"$tmp/$t.rc"
		fi
	} &
done
wait
failed=0
for t in $targets; do
	if [ "$(cat "$tmp/$t.rc")" = 0 ]; then
		cat "$tmp/$t.out"
	else
		cat "$tmp/$t.out" >&2
		failed=1
	fi
done
[ "$failed" = 0 ] || fail "fuzz: see above"
echo "PASS: fuzz"
