/*
 * cmd-metrics.c - loopctl metrics: daemon.GetStats and GetStatus in the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector (`loopctl metrics > /var/lib/node_exporter/loopd.prom`)
 * or a scrape job behind a small exporter.
 *
 * One table maps reply fields to metric names, types and units, so the
 * figures are the same ones `loopctl stats` shows.  Units are
 * Prometheus's base units: microseconds become seconds, counters end in
 * _total.  A field the daemon does not send is left out.
 */
#include <string.h>

#include "loopctl.h"

enum mtype {
	GAUGE,
	COUNTER
};

static const struct metric {
	const char *obj, *key; /* obj NULL: top level of GetStatus */
	const char *name;
	enum mtype type;
	double scale;
	const char *help;
} metrics[] = {
	{ "loop", "iterations", "loopd_loop_iterations_total", COUNTER, 1,
	  "Loop iterations since start." },
	{ "loop", "callbacks", "loopd_loop_callbacks_total", COUNTER, 1,
	  "Callbacks run, all phases." },
	{ "loop", "utilization", "loopd_loop_utilization", GAUGE, 1,
	  "Share of time the loop was not idle in poll, since start." },
	{ "loop", "lag_p50_us", "loopd_loop_timer_lag_p50_seconds", GAUGE, 1e-6,
	  "Timer lateness, median." },
	{ "loop", "lag_p99_us", "loopd_loop_timer_lag_p99_seconds", GAUGE, 1e-6,
	  "Timer lateness, 99th percentile." },
	{ "loop", "lag_max_us", "loopd_loop_timer_lag_max_seconds", GAUGE, 1e-6,
	  "Timer lateness, worst." },
	{ "loop", "handles", "loopd_loop_handles", GAUGE, 1,
	  "Live loop handles." },
	{ "loop", "watchdog_reports", "loopd_loop_watchdog_reports_total",
	  COUNTER, 1, "Callbacks that held the loop past the watchdog limit." },
	{ "pool", "threads", "loopd_pool_threads", GAUGE, 1,
	  "Worker threads, the store lane's included." },
	{ "pool", "busy", "loopd_pool_busy", GAUGE, 1,
	  "Workers running a job now." },
	{ "pool", "queued", "loopd_pool_queued", GAUGE, 1,
	  "Blocking jobs waiting for a worker." },
	{ "pool", "completed", "loopd_pool_completed_total", COUNTER, 1,
	  "Blocking jobs completed." },
	{ "pool", "cancelled", "loopd_pool_cancelled_total", COUNTER, 1,
	  "Blocking jobs cancelled." },
	{ "pool", "wait_p99_us", "loopd_pool_wait_p99_seconds", GAUGE, 1e-6,
	  "Queue wait before a worker took a job, 99th percentile." },
	{ "pool", "run_p99_us", "loopd_pool_run_p99_seconds", GAUGE, 1e-6,
	  "Blocking job run time, 99th percentile." },
	{ "store", "commits", "loopd_store_commits_total", COUNTER, 1,
	  "Store transactions committed (group commits)." },
	{ "store", "failed_batches", "loopd_store_failed_batches_total",
	  COUNTER, 1, "Store batches whose writes failed." },
	{ "store", "rows", "loopd_store_rows_total", COUNTER, 1,
	  "Rows changed by committed batches." },
	{ "store", "batch_p99", "loopd_store_batch_size_p99", GAUGE, 1,
	  "Writes per commit, 99th percentile." },
	{ "store", "commit_p99_us", "loopd_store_commit_p99_seconds", GAUGE,
	  1e-6, "Commit time, 99th percentile." },
	{ "store", "db_bytes", "loopd_store_database_bytes", GAUGE, 1,
	  "Size of the database file." },
	{ "store", "wal_bytes", "loopd_store_wal_bytes", GAUGE, 1,
	  "Size of the write-ahead log." },
	{ "ctl", "clients", "loopd_ctl_clients", GAUGE, 1,
	  "Control socket clients connected." },
	{ "ctl", "calls", "loopd_ctl_calls_total", COUNTER, 1,
	  "Control calls dispatched." },
	{ "ctl", "errors", "loopd_ctl_errors_total", COUNTER, 1,
	  "Control calls answered with an error." },
	{ "ctl", "rejected", "loopd_ctl_rejected_total", COUNTER, 1,
	  "Connections refused or closed for malformed input." },
	{ "scheduler", "runs_inflight", "loopd_runs_inflight", GAUGE, 1,
	  "Runs in flight." },
	{ "scheduler", "runs_started", "loopd_runs_started_total", COUNTER, 1,
	  "Runs started since loopd started." },
	{ "scheduler", "runs_finished", "loopd_runs_finished_total", COUNTER, 1,
	  "Runs finished since loopd started." },
	{ "scheduler", "missed", "loopd_runs_missed_total", COUNTER, 1,
	  "Occurrences missed (downtime, suspend, clock steps)." },
	{ "scheduler", "skipped", "loopd_runs_skipped_total", COUNTER, 1,
	  "Occurrences skipped by the overlap policy." },
	{ "scheduler", "clock_steps", "loopd_clock_steps_total", COUNTER, 1,
	  "Wall-clock steps noticed." },
};

static void print_metric(const struct metric *m, double v)
{
	printf("# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", m->name, m->help,
	       m->name, m->type == COUNTER ? "counter" : "gauge", m->name,
	       v * m->scale);
}

/* loopd_jobs{state="active"} 3, ... from GetStatus's jobs object. */
static void print_jobs(const json_t *status)
{
	const char *key;
	json_t *v;
	json_t *jobs = json_object_get(status, "jobs");
	printf("# HELP loopd_jobs Jobs by state (total: all of them).\n"
	       "# TYPE loopd_jobs gauge\n");
	json_object_foreach(jobs, key, v)
	{
		if (json_is_integer(v))
			printf("loopd_jobs{state=\"%s\"} %lld\n", key,
			       (long long)json_integer_value(v));
	}
	const char *state = jget_str(status, "state");
	printf("# HELP loopd_up 1 while the daemon is running and not degraded."
	       "\n# TYPE loopd_up gauge\nloopd_up %d\n",
	       state && !strcmp(state, "running"));
}

static int metrics_exec(const struct cmd_entry *e, struct client *c,
			struct args *a)
{
	json_t *stats, *status;
	int rc = client_call(c, LOOPD_M_GET_STATS, NULL, &stats);
	if (rc)
		return rc;
	if ((rc = client_call(c, LOOPD_M_GET_STATUS, NULL, &status))) {
		json_decref(stats);
		return rc;
	}
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		json_t *v = json_object_get(
			json_object_get(stats, metrics[i].obj), metrics[i].key);
		if (json_is_number(v))
			print_metric(&metrics[i], json_number_value(v));
	}
	print_jobs(status);
	json_decref(stats);
	json_decref(status);
	return fflush(stdout) == 0 ? LC_EXIT_OK : LC_EXIT_FAILED;
}

const struct cmd_entry cmd_metrics_entry = {
	.name = "metrics",
	.usage = "",
	.summary = "the daemon's figures in the Prometheus text format",
	.help = "The figures of `loopctl stats` and the job counts of "
		"`loopctl status`,\nin Prometheus's text format (base units: "
		"seconds, bytes; counters end\nin _total).  For "
		"node_exporter's textfile collector:\n"
		"  loopctl metrics > /var/lib/node_exporter/textfile/loopd.prom"
		"\n",
	.min_args = 0,
	.max_args = 0,
	.exec = metrics_exec,
};
