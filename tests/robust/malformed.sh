#!/usr/bin/env bash
# malformed.sh - issue 6, item 2 (and issue 4's raw-socket test): 1,000
# malformed frames in ten classes over the real socket (malformed.py has
# the classes and what each must get).  After every ten, GetStatus on a
# fresh connection within 200 ms; at the end descriptors equal and VmRSS
# within +5 MiB of the warm-up's, nothing changed, and loopd still stops
# cleanly.  message-timeout and idle-timeout are 1 s here so that the
# slow classes (slowloris, never-reads) take seconds, not minutes.
#
#   bash malformed.sh BUILD_DIR SOURCE_DIR
#   env: LOOPD_TEST_SEED, ROBUST_PROBE_MS (200), ROBUST_RSS_SLACK_KB (5120)
source "$(dirname "$0")/robust.bash" "$@"
seed malformed
cat >"$tmp/loopd.conf" <<'EOF'
[loopd]
log-level = info
[ctl]
message-timeout = 1s
idle-timeout = 1s
[plugin.hello]
ticks = 1
EOF
probe_ms=${ROBUST_PROBE_MS:-200}
# A sanitizer build allocates through its own allocator (redzones,
# quarantine): memory is not comparable, only descriptors are.
rss_slack=${ROBUST_RSS_SLACK_KB:-5120}
[ "$sanitized" = yes ] && rss_slack=${ROBUST_RSS_SLACK_KB:-1000000}
start_loopd "$tmp/loopd.conf"
"$ctl" add rb-keep -e '@daily' --kind hello --args '{"message":"kept"}' >/dev/null ||
	fail "could not add the sentinel job"
rc=0
"$py" "$here/malformed.py" --socket "$sock" --pid "$pid" --seed "$SEED" \
	--probe-ms "$probe_ms" --rss-slack-kb "$rss_slack" \
	--message-timeout-ms 1000 --idle-timeout-ms 1000 || rc=$?
kill -0 "$pid" 2>/dev/null || fail "loopd is gone"
[ "$rc" = 0 ] || fail "malformed.py: exit $rc (seed $SEED)"
stop_loopd
echo "PASS: malformed"
