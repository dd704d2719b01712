#!/usr/bin/env bash
# ctl_varlink_go.sh - loopd's varlink interfaces checked by an independent
# implementation, the Go varlink library (Debian's
# golang-github-varlink-go-dev), with tests/varlink-go:
#   (a) every daemon/varlink/*.varlink parses with its IDL parser, names
#       the interface of its file name, defines every type it uses, gives
#       every error a "message: string", and declares every method and
#       error daemon/include/loopd/protocol.h names;
#   (b) against a real loopd on a private socket: GetInfo,
#       GetInterfaceDescription of every interface (parsed again, and
#       byte for byte the file for io.loopd.*), InterfaceNotFound, and
#       io.loopd.daemon.GetStatus.
# Skipped (exit 0, "skipped: ...") only when go is not installed; the
# library missing is a failure (make deps installs both).
source "$(dirname "$0")/script.bash" "$@"
src=$(cd "$2" && pwd)

if ! command -v go >/dev/null 2>&1; then
	echo "skipped: go is not installed (apt-get install golang-go golang-github-varlink-go-dev)"
	exit 0
fi
# Debian's Go libraries, offline: GOPATH mode over /usr/share/gocode.
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$tmp/gocache GOFLAGS=
[ -d "$GOPATH/src/github.com/varlink/go/varlink" ] ||
	fail "the Go varlink library is missing: apt-get install golang-github-varlink-go-dev"
(cd "$src/tests/varlink-go" && go build -o "$tmp/varlink-check" .) 2>"$tmp/err" ||
	fail "building tests/varlink-go failed"
rm -f "$tmp/err"

# (a) The interface files.
"$tmp/varlink-check" idl "$src/daemon/include/loopd/protocol.h" \
	"$src"/daemon/varlink/*.varlink || fail "the .varlink files do not check out"

# (b) A running loopd.
if ! "$loopd" --help 2>&1 | grep -qE -- '(^|[[:space:],])--socket([[:space:]=]|$)'; then
	echo "part (b) not run: loopd --help does not offer --socket yet"
	exit 0
fi
sock=$tmp/s/loopd.sock
"$loopd" --socket "$sock" --state-dir "$tmp/state" --plugin-dir "$build/plugins" \
	2>"$tmp/err" &
pid=$!
for _ in $(seq 200); do
	[ -S "$sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "loopd exited at start"
	sleep 0.05
done
[ -S "$sock" ] || fail "loopd did not create $sock within 10 s"
[ "$(stat -c %a "$sock")" = 660 ] || fail "$sock has mode $(stat -c %a "$sock"), not 660"
[ "$(stat -c %a "$tmp/s")" = 750 ] || fail "$tmp/s has mode $(stat -c %a "$tmp/s"), not 750"
"$tmp/varlink-check" call "$sock" "$src/daemon/varlink" || fail "the Go client's calls failed"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "loopd exited $rc after SIGTERM"
[ ! -e "$sock" ] || fail "loopd left $sock behind"
echo "ok: the Go varlink library parses the interfaces and talks to loopd"
