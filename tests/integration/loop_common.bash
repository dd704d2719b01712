# loop_common.bash - sourced by the loop_*.sh and plugin_refuse.sh
# integration tests (not a test itself: ctest runs *.sh only).  They run
# `loopd --no-socket` with the test plugins of tests/plugins/lt_*.c and
# compare what the plugins print with the expected sequence.
#
#   source "$(dirname "$0")/loop_common.bash" "$@"    # BUILD_DIR SOURCE_DIR
#   scenario NAME FUNCTION            # runs FUNCTION in a subshell; a
#                                     # failure is counted, the rest runs
#   finish                            # exit 1 if a scenario failed
# and inside a scenario:
#   run_loopd TAG [LOOPD OPTION...]   # output in $WORK/TAG.out, .err;
#                                     # $STATUS, $ELAPSED_MS
#   expect_status TAG N
#   expect_output TAG <<'EOF'         # stdout, line by line
#   expect_stderr TAG FIXED-STRING
#   expect_faster_than TAG MS
#   plugin NAME                       # path of a test plugin

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
# SOURCE_DIR is part of the ctest calling convention; these tests only
# need what the build made.
BUILD=$(cd "$1" && pwd)
LOOPD=$BUILD/daemon/loopd
# A run that hangs fails after this long instead of holding ctest.
LOOPD_TIMEOUT=${LOOPD_TIMEOUT:-120}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loopd-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

[ -x "$LOOPD" ] || { echo "FAIL: no loopd at $LOOPD: build first" >&2; exit 1; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

plugin() {
	local p=$BUILD/tests/plugins/$1.so
	[ -f "$p" ] || fail "test plugin $p was not built"
	echo "$p"
}

# Shows what a failed run left, then fails.
fail_run() {
	local tag=$1
	shift
	{
		echo "FAIL: $tag: $*"
		echo "--- loopd stdout ($tag):"
		cat "$WORK/$tag.out"
		echo "--- loopd stderr ($tag):"
		cat "$WORK/$tag.err"
	} >&2
	exit 1
}

run_loopd() {
	local tag=$1 t0 t1
	shift
	mkdir -p "$WORK/state-$tag"
	t0=$(date +%s%N)
	set +e
	timeout -k 5 "$LOOPD_TIMEOUT" "$LOOPD" --no-socket \
		--state-dir "$WORK/state-$tag" "$@" \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err"
	STATUS=$?
	set -e
	t1=$(date +%s%N)
	ELAPSED_MS=$(((t1 - t0) / 1000000))
	if [ "$STATUS" -eq 124 ] || [ "$STATUS" -eq 137 ]; then
		fail_run "$tag" "loopd did not exit within ${LOOPD_TIMEOUT}s"
	fi
	# Under ASan a leak makes loopd exit 1, which a refusal test expects
	# anyway: look for the report itself.
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer' \
		"$WORK/$tag.err"; then
		fail_run "$tag" "sanitizer report"
	fi
	return 0
}

expect_status() {
	[ "$STATUS" -eq "$2" ] ||
		fail_run "$1" "loopd exited with status $STATUS, expected $2"
}

expect_output() {
	local tag=$1
	cat >"$WORK/$tag.expected"
	if ! diff -u --label expected --label actual "$WORK/$tag.expected" \
		"$WORK/$tag.out" >"$WORK/$tag.diff"; then
		{
			echo "FAIL: $tag: stdout is not the expected sequence:"
			cat "$WORK/$tag.diff"
			echo "--- loopd stderr ($tag):"
			cat "$WORK/$tag.err"
		} >&2
		exit 1
	fi
}

expect_stderr() {
	grep -qF -- "$2" "$WORK/$1.err" ||
		fail_run "$1" "stderr does not say: $2"
}

expect_faster_than() {
	[ "$ELAPSED_MS" -lt "$2" ] ||
		fail_run "$1" "loopd took ${ELAPSED_MS} ms, more than $2 ms"
}

FAILED=()

scenario() {
	local name=$1 rc
	shift
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		echo "ok: $name"
	else
		echo "FAIL: $name" >&2
		FAILED+=("$name")
	fi
}

finish() {
	if [ "${#FAILED[@]}" -gt 0 ]; then
		echo "FAILED scenarios: ${FAILED[*]}" >&2
		exit 1
	fi
}
