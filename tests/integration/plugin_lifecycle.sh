#!/usr/bin/env bash
# Unload and reload while jobs run (PLUGIN-API.md rule 4, issue 5): a
# running exec job is told to stop and its run is recorded, not lost;
# the job waits as waiting-for-plugin while exec is gone and is not
# deleted; after `plugins load` it is active and runs again; a reload
# while a job runs does the same in one call.  A plugin that fails to
# load leaves the daemon serving.
source "$(dirname "$0")/script.bash" "$@"
ctl=$build/ctl/loopctl
sock=$tmp/s.sock
export LOOPD_SOCKET=$sock
"$loopd" -s "$sock" -S "$tmp/state" -P "$build/plugins" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
state() { "$ctl" -o json show "$1" | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["job"]["state"])'; }
last_result() { "$ctl" -o json runs "$1" | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["runs"][0]["result"])'; }

"$ctl" add long -e '@daily' -- /bin/sleep 30 >/dev/null
"$ctl" run long >/dev/null
for _ in $(seq 50); do [ "$(state long)" = running ] && break; sleep 0.1; done
[ "$(state long)" = running ] || fail "the job did not start"
t0=$(date +%s%N)
"$ctl" plugins unload exec >/dev/null || fail "unload exec failed"
t1=$(date +%s%N)
echo "unload with a running job took $(((t1 - t0) / 1000000)) ms"
r=$(last_result long)
case $r in interrupted | cancelled) ;; *) fail "the stopped run is '$r'" ;; esac
[ "$(state long)" = waiting-for-plugin ] || fail "job state after unload: $(state long)"
pgrep -f "/bin/sleep 30" >/dev/null && fail "the job's process outlived the unload"
"$ctl" add other -e '@daily' -- /bin/true >/dev/null 2>&1 &&
	fail "an exec job was accepted with exec unloaded"

"$ctl" plugins load exec >/dev/null || fail "load exec failed"
[ "$(state long)" = active ] || fail "job state after load: $(state long)"
"$ctl" add quick -e '@daily' -- /bin/echo back >/dev/null
"$ctl" run quick --wait >/dev/null || fail "exec does not run after the reload"

"$ctl" run long >/dev/null
for _ in $(seq 50); do [ "$(state long)" = running ] && break; sleep 0.1; done
"$ctl" plugins reload exec >/dev/null || fail "reload exec failed"
[ "$(state long)" = active ] || fail "job state after reload: $(state long)"
"$ctl" run quick --wait >/dev/null || fail "exec does not run after reload"

# A plugin that fails to load: the daemon goes on.
"$ctl" plugins load "$build/tests/plugins/lt_init_fail.so" >/dev/null 2>&1 &&
	fail "a plugin outside the plugin directory was loaded"
"$ctl" status >/dev/null || fail "the daemon stopped serving"

"$ctl" shutdown >/dev/null
wait "$pid" || fail "loopd did not stop cleanly"
pid=
echo "ok: unload, load and reload while jobs run"
