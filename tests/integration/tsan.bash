#!/usr/bin/env bash
# tsan.bash COMMAND... - runs COMMAND (an integration script, in the TSan
# build: tests/integration/CMakeLists.txt) with ThreadSanitizer's reports
# written to files, and fails if there is any.  A report in a loopd whose
# exit status the script does not check (or one during its stop) would
# otherwise pass unseen: halt_on_error only ends that process.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$dir/tsan"
rc=0
"$@" || rc=$?
if compgen -G "$dir/tsan.*" >/dev/null; then
	cat "$dir"/tsan.* >&2
	echo "FAIL: ThreadSanitizer reported (above)" >&2
	exit 1
fi
exit "$rc"
