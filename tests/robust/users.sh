#!/usr/bin/env bash
# users.sh - issue 6 item 9 through the real daemon, as root: `[ctl]
# admin-group` end to end, and exec jobs running as the user who added
# them (PROTOCOL.md: admin is uid 0, loopd's uid or a member of the admin
# group; an exec job's `user` defaults to the adding client's uid).
# A temporary group and user are made (and removed at exit):
#   - a member by a supplementary group (setpriv --init-groups) and one by
#     its primary gid can Add; the member with its groups dropped
#     (--clear-groups, a process outside the group: SO_PEERGROUPS) and
#     nobody get PermissionDenied (exit 4) and can still read;
#   - the member's job runs as the member (`id -u` in its output), also
#     after the member edits its command, and root's as root;
#   - nobody cannot Trigger it either.
# Without root (or setpriv, groupadd, useradd) it prints SKIP and passes.
#
#   bash users.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/robust.bash" "$@"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: users.sh needs root (setpriv, a temporary user and group)"
	exit 0
fi
for t in setpriv groupadd useradd userdel groupdel; do
	command -v "$t" >/dev/null || { echo "SKIP: users.sh needs $t"; exit 0; }
done

grp=lpdt$$
usr=lpdt$$u
groupadd "$grp" || fail "groupadd $grp"
on_exit "groupdel $grp"
useradd -M -N -g nogroup -G "$grp" -s /usr/sbin/nologin -d /nonexistent \
	"$usr" || fail "useradd $usr"
exit_cmds=("userdel $usr" "${exit_cmds[@]}") # the user before its group
uid=$(id -u "$usr")
gid=$(getent group "$grp" | cut -d: -f3)
nogroup=$(getent group nogroup | cut -d: -f3)

# as WHO CMD...: CMD with WHO's credentials: member (the group as a
# supplementary one), primary (the group as the process's gid), nogroups
# (the member, its groups dropped), nobody.
as() {
	local who=$1
	shift
	case $who in
	member) setpriv --reuid="$usr" --regid=nogroup --init-groups "$@" ;;
	primary) setpriv --reuid="$usr" --regid="$grp" --clear-groups "$@" ;;
	nogroups) setpriv --reuid="$usr" --regid=nogroup --clear-groups "$@" ;;
	nobody) setpriv --reuid=nobody --regid=nogroup --clear-groups "$@" ;;
	esac
}

# expect CODE WHO LOOPCTL-ARGS...: loopctl as WHO exits CODE; output in
# $tmp/out, errors in $tmp/stderr.
expect() {
	local want=$1 who=$2 rc=0
	shift 2
	as "$who" "$ctl" "$@" >"$tmp/out" 2>"$tmp/stderr" || rc=$?
	[ "$rc" = "$want" ] ||
		fail "loopctl $* as $who: exit $rc, not $want: $(cat "$tmp/out" "$tmp/stderr")"
}

# output_of NAME: the output of the job's newest run.
output_of() {
	"$ctl" -o json runs "$1" --limit 1 >"$tmp/runs" || fail "runs $1"
	local id
	id=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["id"])' "$tmp/runs") ||
		fail "no run of $1: $(cat "$tmp/runs")"
	"$ctl" output "$id" || fail "output $id"
}

printf '[ctl]\nadmin-group = %s\n' "$grp" >"$tmp/loopd.conf"
start_loopd "$tmp/loopd.conf" -p exec
# Let the other uids reach the socket (its directory is 0750, root's).
chmod o+x "$tmp" "$tmp/run"
chmod o+rw "$sock"

# Admin by the group: supplementary, then primary.
expect 0 member add mine -e '@yearly' -- /bin/sh -c 'echo "uid $(id -u) gid $(id -g)"'
expect 0 primary add viagid -e '@yearly' -- /bin/sh -c 'echo "uid $(id -u)"'
grep -q "uid $uid pid [0-9]* calls io.loopd.jobs.Add" "$tmp/err" ||
	fail "the member's Add was not logged with its uid"
"$ctl" add rootjob -e '@yearly' -- /bin/sh -c 'echo "uid $(id -u)"' >/dev/null ||
	fail "root's add failed"

# Read level: PermissionDenied for a change, reads still work.
for who in nobody nogroups; do
	expect 4 "$who" add "by$who" -e '@yearly' -- /bin/true
	grep -q 'PermissionDenied' "$tmp/stderr" ||
		fail "$who's add: no PermissionDenied named: $(cat "$tmp/stderr")"
	expect 4 "$who" run mine
	expect 4 "$who" rm mine
	expect 0 "$who" jobs
	grep -q mine "$tmp/out" || fail "$who cannot list the jobs: $(cat "$tmp/out")"
	expect 0 "$who" status
done
"$ctl" -o json jobs >"$tmp/jobs"
for who in nobody nogroups; do
	! grep -q "\"by$who\"" "$tmp/jobs" || fail "a job added by $who exists"
done

# Jobs run as the uid that added them.
expect 0 member run mine --wait
[ "$(output_of mine)" = "uid $uid gid $nogroup" ] ||
	fail "the member's job ran as [$(output_of mine)], not uid $uid"
expect 0 primary run viagid --wait
[ "$(output_of viagid)" = "uid $uid" ] ||
	fail "the primary-gid member's job ran as [$(output_of viagid)], not uid $uid"
"$ctl" run rootjob --wait >/dev/null || fail "root's run failed"
[ "$(output_of rootjob)" = "uid 0" ] || fail "root's job ran as [$(output_of rootjob)]"
# The member changes its job's command: it still runs as the member.
expect 0 member edit mine -- /bin/sh -c 'echo "edited uid $(id -u)"'
expect 0 member run mine --wait
[ "$(output_of mine)" = "edited uid $uid" ] ||
	fail "after the member's edit its job ran as [$(output_of mine)], not uid $uid"
echo "ok: admin group $grp (gid $gid): member and primary-gid Add; nobody and the member without the group get exit 4 and read; jobs ran as uid $uid (also after an edit), root's as 0"
stop_loopd
echo "PASS: users"
