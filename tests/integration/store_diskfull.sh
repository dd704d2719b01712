#!/usr/bin/env bash
# store_diskfull.sh - the store on a full disk: a 4 MiB tmpfs mounted in a
# private mount namespace (unshare -m, so nothing outside sees it) is
# filled up; adds must then fail with ENOSPC and acknowledge nothing, reads
# must go on, and adds must work again once space is freed
# (`store_crash_adds diskfull`, tests/store/crash_adds.c).  Where mount
# namespaces are not allowed (no root, a locked-down container) the test
# says so and passes: the unit test covers the same path with
# RLIMIT_FSIZE.
#
#   bash store_diskfull.sh BUILD_DIR SOURCE_DIR
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
PROG=$(cd "$1" && pwd)/tests/store/store_crash_adds
[ -x "$PROG" ] || { echo "FAIL: no $PROG: build first" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/loopd-store-full.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if ! unshare -m --propagation private true 2>/dev/null; then
	echo "SKIP: store_diskfull needs unshare -m (root or user namespaces)"
	exit 0
fi
unshare -m --propagation private bash -c '
	set -e
	mount -t tmpfs -o size=4m loopd-full "$1"
	"$2" diskfull "$1"
' sh "$WORK" "$PROG"
status=$?
[ $status -eq 0 ] || { echo "FAIL: store_diskfull (exit $status)" >&2; exit 1; }
echo "PASS: store_diskfull"
