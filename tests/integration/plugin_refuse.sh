#!/usr/bin/env bash
# plugin_refuse.sh - plugins loopd must refuse (scenario 9 of the loop
# tracker, PLUGIN-API.md "The descriptor"): another ABI major, a bad
# magic, no loopd_plugin_v1, a failing init (whose registrations are all
# undone), a bad name and a duplicate name.  Each makes loopd exit 1 with
# "plugin PATH refused: REASON" on stderr.
set -euo pipefail
source "$(dirname "$0")/loop_common.bash" "$@"

# refused TAG REASON [LOOPD OPTION...]: loopd exits 1 and says why on one
# line that names the file; the last option is the refused plugin's path.
refused() {
	local tag=$1 reason=$2 path
	shift 2
	run_loopd "$tag" "$@"
	expect_status "$tag" 1
	path=${*: -1}
	grep -F "plugin $path refused: " "$WORK/$tag.err" |
		grep -qF -- "$reason" ||
		fail_run "$tag" "no stderr line 'plugin $path refused: ...$reason...'"
}

abi_major() {
	refused abi "built for plugin ABI 2.0, this loopd speaks 1." \
		--plugin "$(plugin lt_refuse_abi)"
	expect_output abi </dev/null
}

magic() {
	refused magic "bad magic 0xdeadbeef" \
		--plugin "$(plugin lt_refuse_magic)"
	expect_output magic </dev/null
}

no_symbol() {
	refused nosym "no loopd_plugin_v1 symbol" \
		--plugin "$(plugin lt_refuse_nosym)"
	expect_output nosym </dev/null
}

bad_name() {
	refused name "bad plugin name" --plugin "$(plugin lt_refuse_name)"
	expect_output name </dev/null
}

# The first lt_dup loads, runs and is shut down; the second file, with
# the same plugin name, is refused.
duplicate_name() {
	refused dup "a plugin named 'lt_dup' is already loaded" \
		--plugin "$(plugin lt_dup_a)" --plugin "$(plugin lt_dup_b)"
	expect_output dup <<-'EOF_'
	init lt_dup_a
	shutdown lt_dup_a
	EOF_
}

# The timer and the immediate registered by the failing init never run,
# its shutdown is not called, the job that was running finishes and the
# seven queued behind it (one worker) are cancelled.  Under ASan a
# callback run after the undo is a use after free, and anything left
# unfreed is a leak.
failing_init() {
	refused init_fail "init failed (returned -5)" --threads 1 \
		--plugin "$(plugin lt_init_fail)"
	expect_output init_fail <<-'EOF_'
	init returns -5
	dones: 8, -ECANCELED: 7, ran: 1, other: 0
	EOF_
}

scenario "9. another ABI major" abi_major
scenario "9. bad magic" magic
scenario "9. no loopd_plugin_v1" no_symbol
scenario "9. bad name" bad_name
scenario "9. duplicate name" duplicate_name
scenario "9. failing init, everything undone" failing_init
finish
