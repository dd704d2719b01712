#!/usr/bin/env bash
# loop_pool.sh - blocking jobs (scenarios 7 and 10 of the loop tracker):
# the threads work and done run on, cancel of queued and running jobs,
# and 100,000 jobs in one batch with no lost wake-up.
set -euo pipefail
source "$(dirname "$0")/loop_common.bash" "$@"

# 7. Two workers, both held by blockers: the 16 jobs behind them are
# cancelled while still queued.
threads_and_cancel() {
	run_loopd pool_cancel --threads 2 --plugin "$(plugin lt_pool_cancel)"
	expect_status pool_cancel 0
	expect_output pool_cancel <<-'EOF_'
	cancel of a queued job returned 0: 16 of 16
	done of a cancelled job got -ECANCELED: 16 of 16 (other 0)
	cancel of a running job returned -EBUSY: 2 of 2
	done of a running job got its status: 2 of 2
	quick jobs done: 32 of 32
	dones: 50, off the loop thread: 0
	works on the loop thread: 0
	EOF_
}

# 10. A lost wake-up leaves loopd asleep in poll (the run times out) or
# short of dones.
many_jobs() {
	run_loopd many_jobs --plugin "$(plugin lt_many_jobs)"
	expect_status many_jobs 0
	expect_output many_jobs <<-'EOF_'
	submitted 100000
	done 100000, wrong status 0
	EOF_
	echo "100000 jobs took ${ELAPSED_MS} ms"
}

scenario "7. work off, done on the loop thread; cancel queued, running" \
	threads_and_cancel
scenario "10. 100000 jobs in one batch all done" many_jobs
finish
