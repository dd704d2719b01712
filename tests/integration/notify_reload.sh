#!/usr/bin/env bash
# Operations: systemd's notify protocol and SIGHUP.  loopd runs with
# NOTIFY_SOCKET pointing at a datagram socket this test reads (as
# systemd's would be) and WATCHDOG_USEC set: READY=1 once the socket
# serves, WATCHDOG=1 keep-alives, RELOADING=1 and READY=1 around a
# SIGHUP, STOPPING=1 at SIGTERM.  A SIGHUP with a valid file applies it;
# one with a broken file keeps the configuration in use, says why in the
# log and in `loopctl status`, and the daemon goes on serving.
source "$(dirname "$0")/script.bash" "$@"
loopctl=$build/ctl/loopctl
sock=$tmp/run/loopd.sock
conf=$tmp/loopd.conf
python3 - "$tmp/notify" "$tmp/notes" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
listener=$!
trap 'kill $listener 2>/dev/null; if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null; fi; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.1; done
printf '[loopd]\nlog-level = info\n' >"$conf"
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=200000 "$loopd" -c "$conf" \
	-s "$sock" -S "$tmp/state" -P "$build/plugins" -p hello 2>"$tmp/err" &
pid=$!
wait_for() { # wait_for PATTERN FILE
	for _ in $(seq 100); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
	fail "no '$1' in $2: $(cat "$2" 2>/dev/null)"
}
wait_for "READY=1" "$tmp/notes"
"$loopctl" -s "$sock" status >/dev/null || fail "READY=1 came before the socket served"
wait_for "WATCHDOG=1" "$tmp/notes"
result() { "$loopctl" -s "$sock" -o json status | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["config"]["result"])'; }
[ "$(result)" = ok ] || fail "config result at start: $(result)"

printf '[loopd]\nlog-level = debug\n' >"$conf"
kill -HUP "$pid"
wait_for "configuration reloaded" "$tmp/err"
wait_for "RELOADING=1" "$tmp/notes"
[ "$(result)" = ok ] || fail "a valid reload: $(result)"
"$loopctl" -s "$sock" status >/dev/null
grep -q "debug" "$tmp/err" || fail "log-level = debug was not applied"

printf '[loopd]\nlog-level = loud\n' >"$conf"
kill -HUP "$pid"
wait_for "configuration in use is unchanged" "$tmp/err"
case "$(result)" in
"error: "*"log-level = loud"*) ;;
*) fail "a broken reload was reported as: $(result)" ;;
esac
"$loopctl" -s "$sock" status >/dev/null || fail "the daemon stopped serving after a bad reload"

# A file that has gone, then one that cannot be read (a directory in its
# place): each refused with the file named, the configuration in use kept.
mv "$conf" "$conf.away"
kill -HUP "$pid"
for _ in $(seq 100); do
	case "$(result)" in *"$conf"*) break ;; esac
	sleep 0.05
done
case "$(result)" in
"error: "*"$conf"*) ;;
*) fail "a reload with the file gone was reported as: $(result)" ;;
esac
mkdir "$conf"
n=$(grep -c "configuration in use is unchanged" "$tmp/err")
kill -HUP "$pid"
for _ in $(seq 100); do
	[ "$(grep -c "configuration in use is unchanged" "$tmp/err")" -gt "$n" ] && break
	sleep 0.05
done
[ "$(grep -c "configuration in use is unchanged" "$tmp/err")" -gt "$n" ] ||
	fail "a reload with a directory for the file was not refused"
case "$(result)" in
"error: "*"$conf"*) ;;
*) fail "a reload with a directory for the file was reported as: $(result)" ;;
esac
rmdir "$conf"
mv "$conf.away" "$conf"
"$loopctl" -s "$sock" status >/dev/null || fail "the daemon stopped serving after the unreadable reloads"

kill -TERM "$pid"
wait "$pid" || fail "loopd did not exit 0 after SIGTERM"
pid=
wait_for "STOPPING=1" "$tmp/notes"
echo "ok: READY, WATCHDOG, RELOADING, STOPPING; reloads valid and invalid"
