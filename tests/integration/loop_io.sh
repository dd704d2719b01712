#!/usr/bin/env bash
# loop_io.sh - fd watches and posts (scenario 8 of the loop tracker), and
# loop-thread-only calls made from other threads, which must be refused
# with -EPERM and logged while the loop goes on.
set -euo pipefail
source "$(dirname "$0")/loop_common.bash" "$@"

# 8. The watch runs between pending and check, once per poll phase
# (level-triggered: an unread pipe is reported again in the next
# iteration, after the immediate); revents says what is ready; a post
# from a plugin thread runs on the loop thread in the poll phase.
watch_and_post() {
	run_loopd watch_post --plugin "$(plugin lt_watch_post)"
	expect_status watch_post 0
	expect_output watch_post <<-'EOF_'
	timer
	deferred
	io pipe call 1 revents=READ
	immediate
	io pipe call 2 revents=READ
	io socketpair revents=WRITE
	socketpair watch closed
	posted callback, on the loop thread: yes
	post: immediate
	post: timer
	post: deferred
	poster thread joined
	EOF_
}

# Calls from a plugin thread and from a pool thread.
wrong_thread() {
	run_loopd wrong_thread --plugin "$(plugin lt_wrong_thread)"
	expect_status wrong_thread 0
	expect_output wrong_thread <<-'EOF_'
	timer from a plugin thread: -EPERM
	immediate from a plugin thread: -EPERM
	defer from a plugin thread: -EPERM
	watch from a plugin thread: -EPERM
	submit from a plugin thread: -EPERM
	cancel from a plugin thread: -EPERM
	close from a plugin thread: -EPERM
	ref from a plugin thread: -EPERM
	keepalive close from the loop thread: 0
	timer from a pool thread: -EPERM
	timer from the loop thread fired
	thread joined
	EOF_
	local call
	for call in timer immediate defer watch submit cancel close ref; do
		expect_stderr wrong_thread \
			"$call called from a thread other than the loop thread"
	done
}

scenario "8. watch and post: poll phase, revents, loop thread" watch_and_post
scenario "calls from other threads: -EPERM, logged, loop unharmed" wrong_thread
finish
