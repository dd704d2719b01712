#!/usr/bin/env bash
# fuzz.sh - issue 6, item 1: each libFuzzer target of tests/fuzz
# (fuzz_ctl: the request path, framing to dispatch; fuzz_calendar: the
# schedule parser and next-fire) first replays its whole corpus
# (tests/fuzz/corpus/NAME, every input once: -runs=0), then fuzzes for
# ROBUST_FUZZ_SECS (60) seconds starting from that corpus.  Any crash,
# leak, timeout (10 s per input), out-of-memory (2 GiB) or UBSan report
# fails, and the input is kept in ROBUST_FUZZ_ARTIFACTS (default
# BUILD_DIR/fuzz-artifacts) to replay with `TARGET FILE`.  New inputs
# go to a scratch corpus thrown away at the end, unless
# ROBUST_FUZZ_CORPUS_OUT names a directory to merge them into.
#
# It needs a fuzz build, which a normal one is not: without the targets
# it says so and passes (SKIP).  Make one with
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLOOPD_FUZZ=ON \
#         -DLOOPD_SANITIZE=ON && cmake --build build-fuzz
# and run  bash tests/robust/fuzz.sh build-fuzz .  (or point
# LOOPD_FUZZ_BUILD at it from any build's ctest).
#
#   bash fuzz.sh BUILD_DIR SOURCE_DIR
#   env: ROBUST_FUZZ_SECS (60), LOOPD_FUZZ_BUILD, ROBUST_FUZZ_ARTIFACTS,
#        ROBUST_FUZZ_CORPUS_OUT
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
fbuild=$(cd "${LOOPD_FUZZ_BUILD:-$1}" && pwd)
src=$(cd "$2" && pwd)
secs=${ROBUST_FUZZ_SECS:-60}
targets="ctl calendar"
for t in $targets; do
	if [ ! -x "$fbuild/tests/fuzz/fuzz_$t" ]; then
		echo "SKIP: no fuzz_$t in $fbuild/tests/fuzz: not a fuzz build" \
			"(cmake -DCMAKE_C_COMPILER=clang -DLOOPD_FUZZ=ON -DLOOPD_SANITIZE=ON;" \
			"or set LOOPD_FUZZ_BUILD)"
		exit 0
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
artifacts=${ROBUST_FUZZ_ARTIFACTS:-$fbuild/fuzz-artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

for t in $targets; do
	bin=$fbuild/tests/fuzz/fuzz_$t
	seeds=$src/tests/fuzz/corpus/$t
	[ -d "$seeds" ] || fail "no corpus $seeds"
	opts=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-")
	[ "$t" = ctl ] && opts+=(-max_len=8192)
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
done
echo "PASS: fuzz"
