# robust.bash - the common start of the robustness scripts, sourced, not
# run (ctest runs the scripts tests/robust/CMakeLists.txt names).  It
# sources tests/integration/script.bash (BUILD_DIR is $1; $loopd, $tmp
# removed at exit, $pid killed at exit, fail) and adds:
#   $ctl $sock $state $here $sanitized   loopctl, the socket, the state
#                                        dir, this directory, "yes" in an
#                                        ASan/TSan build
#   $py                                  python3's own path
#   start_loopd CONF [OPTION...]         loopd on $sock with the bundled
#                                        plugins; $pid; stderr in $tmp/err
#   wait_socket                          until GetStatus answers (10 s)
#   stop_loopd                           loopctl shutdown, exit 0 expected
#   seed NAME                            $SEED from LOOPD_TEST_SEED or the
#                                        clock, printed; RANDOM seeded
#   on_exit CMD                          also run CMD at exit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../integration/script.bash" "$@"
build=$(cd "$build" && pwd)
loopd=$build/daemon/loopd
ctl=$build/ctl/loopctl
sock=$tmp/run/loopd.sock
state=$tmp/state
export LOOPD_SOCKET=$sock NO_COLOR=1 PYTHONDONTWRITEBYTECODE=1
# The interpreter itself: a version manager's shim (pyenv) can take most
# of a second to start one, which would skew the timings.
py=$(python3 -c 'import sys; print(sys.executable)') || fail "needs python3"
[ -x "$loopd" ] || fail "no loopd at $loopd: build first"
[ -x "$ctl" ] || fail "no loopctl at $ctl: build first"
sanitized=no
if grep -qE '^LOOPD_(SANITIZE|TSAN):BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
	sanitized=yes
fi

exit_cmds=()
on_exit() {
	exit_cmds+=("$1")
}
robust_exit() {
	local c
	for c in "${exit_cmds[@]}"; do eval "$c" || true; done
	if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap robust_exit EXIT

seed() {
	SEED=${LOOPD_TEST_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
	echo "$1: seed $SEED (LOOPD_TEST_SEED=$SEED replays it)"
	RANDOM=$SEED
}

wait_socket() {
	local _
	for _ in $(seq 200); do
		"$ctl" status >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || fail "loopd exited at start"
		sleep 0.05
	done
	fail "loopd did not answer on $sock within 10 s"
}

start_loopd() {
	local conf=$1
	shift
	"$loopd" -c "$conf" -s "$sock" -S "$state" -P "$build/plugins" "$@" \
		2>>"$tmp/err" &
	pid=$!
	wait_socket
}

stop_loopd() {
	local rc=0
	"$ctl" shutdown >/dev/null || fail "loopctl shutdown failed"
	wait "$pid" || rc=$?
	pid=
	[ "$rc" = 0 ] || fail "loopd exited $rc after shutdown, not 0"
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer' "$tmp/err"; then
		fail "sanitizer report"
	fi
}
