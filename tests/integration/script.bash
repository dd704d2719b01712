# script.bash - the common start of the standalone integration scripts
# (config.sh, loop_edges.sh, signals.sh, store_start.sh), sourced, not run
# (ctest runs *.sh only): BUILD_DIR is $1; $loopd the daemon; $tmp a
# temporary directory removed at exit, when $pid (a loopd left running)
# is killed too; fail prints its reason and $tmp/err if there is one.
set -euo pipefail
build=$1
loopd=$build/daemon/loopd
tmp=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	cat "$tmp/err" >&2 2>/dev/null || true
	exit 1
}
