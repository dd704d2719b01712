/*
 * test_sched.c - the scheduler (daemon/sched.c) with an injected wall
 * clock, a real loop and a real store in a temp directory, and a test
 * kind whose runs the test finishes by hand.
 *
 * The wall clock is the test's: it steps forward and back (30 min, 2 h,
 * 5 h), and "suspends" (jumps while the monotonic clock does not), and the
 * scheduler is poked as its clock timerfd would.  What is checked is
 * what the store recorded: runs, triggers, results.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "jbuf.h"
#include "loop.h"
#include "plugin.h"
#include "scheduler.h"
#include "store.h"
#include "testseed.h"

#define T0   1794988000000000LL /* 2026-11-18 07:46:40 UTC */
#define SEC  1000000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)

static struct loop *L;
static struct store *ST;
static struct sched *S;
static struct events *EV;
static loopd_plugin *P;
static char dir[256];
static uint64_t lead_ms = SCHED_LEAD_MS; /* setup's sched_opts.lead_ms */

/* ---- the test kind: records its runs; the test finishes them ---- */

#define MAX_RUNS 4096
static loopd_run *started[MAX_RUNS];
static uint64_t started_ms[MAX_RUNS], finished_ms[MAX_RUNS]; /* loop time */
static bool finished[MAX_RUNS]; /* by the test kind: the pointer is gone */
static unsigned nstarted, nstopped;
static bool finish_at_once;   /* finish ok inside start */
static bool finish_prev;      /* in a start, finish the run started before */
static int finish_older = -1; /* in a start, then finish run i, so */
static int finish_older_status;
static bool finish_on_stop;
static char last_args[256];            /* the args of the latest start */
static int64_t started_real[MAX_RUNS]; /* the injected clock then */
static int64_t started_id[MAX_RUNS];   /* the run's id */
static int64_t clock_now;

static int k_start(loopd_plugin *p, loopd_run *run, const char *args)
{
	assert_true(nstarted < MAX_RUNS);
	finished[nstarted] = finish_at_once;
	started_ms[nstarted] = loop_update_time(L);
	started_real[nstarted] = clock_now;
	started_id[nstarted] = sched_run_id(run);
	snprintf(last_args, sizeof(last_args), "%s", args);
	started[nstarted++] = run;
	if (finish_at_once)
		sched_finish(run, 0, "ok\n", 3);
	if (finish_older >= 0 && (unsigned)finish_older < nstarted - 1 &&
	    !finished[finish_older]) {
		finished[finish_older] = true;
		assert_int_equal(sched_finish(started[finish_older],
					      finish_older_status, NULL, 0),
				 0);
		finish_older = -1;
	}
	if (finish_prev && nstarted > 1 && !finished[nstarted - 2]) {
		finished[nstarted - 2] = true;
		assert_int_equal(
			sched_finish(started[nstarted - 2], 0, NULL, 0), 0);
		/* Ended, if not yet recorded (in a burst): not again. */
		assert_int_equal(
			sched_finish(started[nstarted - 2], 1, NULL, 0),
			-EALREADY);
	}
	return 0;
}

static void k_stop(loopd_plugin *p, loopd_run *run)
{
	nstopped++;
	for (unsigned i = 0; i < nstarted; i++)
		if (started[i] == run && !finished[i] && finish_on_stop) {
			finished[i] = true;
			sched_finish(run, 143, NULL, 0);
		}
}

static int k_validate(loopd_plugin *p, const char *args, char *err, size_t len)
{
	if (strstr(args, "\"bad\"")) {
		snprintf(err, len, "args.bad is not allowed");
		return -1;
	}
	return 0;
}

static const struct loopd_kind kind = {
	.size = sizeof(struct loopd_kind),
	.name = "t",
	.validate = k_validate,
	.start = k_start,
	.stop = k_stop,
};

static int64_t fake_clock(void *ctx)
{
	return clock_now;
}

/* ---- set-up ---- */

static int setup(void **state)
{
	char err[512], db[300];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/loopd-sched.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/loopd.db", dir);
	clock_now = T0;
	nstarted = nstopped = 0;
	finish_at_once = finish_on_stop = finish_prev = false;
	finish_older = -1;
	struct sched_opts o;
	sched_opts_default(&o);
	o.realtime = fake_clock;
	o.no_clock_watch = true;
	o.kill_grace_ms = 100;
	o.lead_ms = lead_ms;
	if (loop_new(&L, 1) < 0 ||
	    store_open(&ST, L, db, NULL, err, sizeof(err)) < 0 ||
	    events_new(&EV, 64) < 0 || sched_new(&S, L, ST, EV, &o) < 0)
		return -1;
	P = calloc(1, sizeof(*P));
	snprintf(P->name, sizeof(P->name), "tplug");
	assert_int_equal(sched_add_kind(S, P, &kind), 0);
	assert_int_equal(sched_load(S), 0);
	sched_plugin_up(S, P);
	sched_start(S);
	return 0;
}

static void settle(void);

static int teardown(void **state)
{
	char cmd[300];
	sched_stop_starting(S);
	settle();
	sched_free(S);
	while (!store_idle(ST))
		loop_run_once(L);
	store_close(ST);
	events_free(EV);
	loop_free(L);
	free(P);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void noop(loopd_plugin *p, void *ud)
{
}

/* One iteration that does not block in poll (the scheduler's timer may
 * be a minute away). */
static void spin(void)
{
	loop_immediate(L, NULL, noop, NULL);
	loop_run_once(L);
}

/* Runs the loop until the store has nothing queued or in flight. */
static void settle(void)
{
	for (int i = 0; i < 4; i++) {
		while (!store_idle(ST))
			loop_run_once(L);
		spin(); /* immediates: early answers */
	}
}

/* ---- requests ---- */

static struct sched_result last;
static bool answered;

static void done_cb(void *ud, struct sched_result *res)
{
	json_decref(last.job);
	last = *res;
	res->job = NULL; /* taken */
	answered = true;
}

static int add(const char *json)
{
	json_t *p = json_loads(json, 0, NULL);
	assert_non_null(p);
	answered = false;
	sched_job_add(S, p, done_cb, NULL);
	json_decref(p);
	while (!answered)
		loop_run_once(L);
	settle();
	return last.status;
}

/* The wall clock moves by d; the scheduler looks (as at a timer wake or
 * a clock-set notification). */
static void step(int64_t d)
{
	clock_now += d;
	sched_poke(S);
	settle();
}

struct runs {
	struct store_run *v;
	size_t n;
	struct store_req req;
};

static void runs_done(struct store_req *r, int status)
{
	assert_int_equal(status, 0);
	answered = true;
}

/* The job's runs (every job's for NULL), oldest first. */
static void runs_of(const char *job, struct runs *out)
{
	settle();
	store_req_init(&out->req, STORE_RUN_LIST);
	out->req.filter.job = job ? strdup(job) : NULL; /* NULL: all */
	out->req.filter.limit = 1000;
	out->req.done = runs_done;
	answered = false;
	assert_int_equal(store_submit(ST, &out->req), 0);
	while (!answered)
		loop_run_once(L);
	out->n = out->req.nruns;
	out->v = out->req.runs;
	for (size_t i = 0; i < out->n / 2; i++) { /* newest first: flip */
		struct store_run t = out->v[i];
		out->v[i] = out->v[out->n - 1 - i];
		out->v[out->n - 1 - i] = t;
	}
}

static void runs_free(struct runs *r)
{
	store_req_clear(&r->req);
}

static unsigned count(const struct runs *r, enum store_result res,
		      enum store_trigger trig)
{
	unsigned n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->v[i].result == res && r->v[i].trigger == trig;
	return n;
}

/* The test kind finishes run i. */
static int tfinish(unsigned i, int status, const char *out)
{
	assert_false(finished[i]);
	finished[i] = true;
	finished_ms[i] = loop_update_time(L);
	return sched_finish(started[i], status, out, out ? strlen(out) : 0);
}

static void finish_all(int status)
{
	for (unsigned i = 0; i < nstarted; i++)
		if (!finished[i])
			tfinish(i, status, NULL);
	settle();
}

/* ---- tests ---- */

static void test_every_runs_on_time(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"e\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	step(59 * 1000000LL);
	assert_int_equal(nstarted, 0);
	step(1000000LL);
	assert_int_equal(nstarted, 1);
	struct runs r;
	runs_of("e", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].result, STORE_RESULT_OK);
	assert_int_equal(r.v[0].trigger, STORE_TRIGGER_SCHEDULE);
	assert_int_equal(r.v[0].scheduled_usec, T0 + MIN);
	runs_free(&r);
}

/* A 30-minute jump forward (or a suspend): catch-up once runs one and
 * records the others as missed; skip runs none; all runs each. */
static void catchup_case(const char *policy, unsigned runs_expected,
			 unsigned missed_expected)
{
	char j[200];
	finish_at_once = true;
	snprintf(j, sizeof(j),
		 "{\"name\":\"c\",\"kind\":\"t\",\"schedule\":\"every 1m\","
		 "\"catchup\":\"%s\"}",
		 policy);
	assert_int_equal(add(j), 0);
	step(30 * MIN);
	struct runs r;
	runs_of("c", &r);
	assert_int_equal(count(&r, STORE_RESULT_MISSED, STORE_TRIGGER_SCHEDULE),
			 missed_expected);
	assert_int_equal(count(&r, STORE_RESULT_OK, STORE_TRIGGER_CATCHUP),
			 runs_expected);
	assert_int_equal(nstarted, runs_expected);
	runs_free(&r);
	/* Then back on schedule. */
	step(MIN);
	assert_int_equal(nstarted, runs_expected + 1);
}

static void test_catchup_once(void **state)
{
	catchup_case("once", 1, 29);
}

static void test_catchup_skip(void **state)
{
	catchup_case("skip", 0, 30);
}

static void test_catchup_all(void **state)
{
	catchup_case("all", 30, 0);
}

/* Cron's rule: a step back of under 3 hours never runs a job twice. */
static void test_step_back_2h_no_rerun(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"h\",\"kind\":\"t\","
			     "\"schedule\":\"0 * * * *\",\"tz\":\"UTC\"}"),
			 0);
	step(14 * MIN); /* 08:00:40: the 08:00 run */
	assert_int_equal(nstarted, 1);
	step(-2 * HOUR); /* 06:00:40 */
	step(HOUR);      /* 07:00:40: 07:00 ran before the step, not again */
	step(HOUR);      /* 08:00:40 */
	assert_int_equal(nstarted, 1);
	step(HOUR); /* 09:00:40: the next new one */
	assert_int_equal(nstarted, 2);
}

/* A step back of 5 hours re-anchors: the job runs at the new times. */
static void test_step_back_5h_reanchors(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"h\",\"kind\":\"t\","
			     "\"schedule\":\"0 * * * *\",\"tz\":\"UTC\"}"),
			 0);
	step(14 * MIN); /* 08:00:40 */
	assert_int_equal(nstarted, 1);
	step(-5 * HOUR); /* 03:00:40 */
	step(HOUR);      /* 04:00:40 */
	assert_int_equal(nstarted, 2);
}

static void test_forward_2h_catchup_once(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"h\",\"kind\":\"t\","
			     "\"schedule\":\"0 * * * *\",\"tz\":\"UTC\"}"),
			 0);
	step(2 * HOUR + 14 * MIN); /* 10:00:40: 08, 09, 10 were due */
	struct runs r;
	runs_of("h", &r);
	assert_int_equal(count(&r, STORE_RESULT_MISSED, STORE_TRIGGER_SCHEDULE),
			 2);
	assert_int_equal(count(&r, STORE_RESULT_OK, STORE_TRIGGER_CATCHUP), 1);
	runs_free(&r);
}

static void test_overlap_skip(void **state)
{
	assert_int_equal(add("{\"name\":\"o\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	step(MIN);
	assert_int_equal(nstarted, 1); /* still running */
	step(MIN);
	assert_int_equal(nstarted, 1);
	struct runs r;
	runs_of("o", &r);
	assert_int_equal(
		count(&r, STORE_RESULT_SKIPPED, STORE_TRIGGER_SCHEDULE), 1);
	assert_int_equal(
		count(&r, STORE_RESULT_RUNNING, STORE_TRIGGER_SCHEDULE), 1);
	runs_free(&r);
	finish_all(0);
}

static void test_overlap_queue_and_allow(void **state)
{
	assert_int_equal(
		add("{\"name\":\"q\",\"kind\":\"t\","
		    "\"schedule\":\"every 1m\",\"overlap\":\"queue\"}"),
		0);
	assert_int_equal(
		add("{\"name\":\"a\",\"kind\":\"t\","
		    "\"schedule\":\"every 1m\",\"overlap\":\"allow\"}"),
		0);
	step(MIN);
	step(MIN);
	assert_int_equal(nstarted, 3); /* q once, a twice */
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(sched_run_job(started[i]), "q") == 0)
			tfinish(i, 0, NULL);
	settle();
	assert_int_equal(nstarted, 4); /* q's queued run, now */
	assert_string_equal(sched_run_job(started[3]), "q");
	finish_all(0);
}

static void test_overlap_replace(void **state)
{
	finish_on_stop = true;
	assert_int_equal(add("{\"name\":\"r\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1m\",\"overlap\":\"replace\"}"),
			 0);
	step(MIN);
	step(MIN);
	assert_int_equal(nstopped, 1);
	assert_int_equal(nstarted, 2);
	struct runs r;
	runs_of("r", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[0].result, STORE_RESULT_CANCELLED);
	assert_int_equal(r.v[1].result, STORE_RESULT_RUNNING);
	runs_free(&r);
	finish_all(0);
}

static void run_for_ms(unsigned ms)
{
	uint64_t end = loop_update_time(L) + ms;
	while (loop_update_time(L) < end) {
		usleep(1000);
		spin();
	}
	settle();
}

static void test_timeout_then_host_finishes(void **state)
{
	assert_int_equal(add("{\"name\":\"to\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1h\",\"timeout_ms\":50}"),
			 0);
	step(HOUR);
	assert_int_equal(nstarted, 1);
	run_for_ms(80); /* timeout: stop asked; the kind ignores it */
	assert_int_equal(nstopped, 1);
	run_for_ms(150); /* the kill grace (100 ms) passes */
	struct runs r;
	runs_of("to", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].result, STORE_RESULT_TIMEOUT);
	runs_free(&r);
	/* A late finish from the kind is refused, not a crash. */
	assert_int_equal(tfinish(0, 0, NULL), -EALREADY);
}

/* Timing is checked by lower bounds only (a timer never fires early),
 * so a loaded machine cannot fail it. */
static void wait_started(unsigned n)
{
	for (int i = 0; i < 5000 && nstarted < n; i++)
		run_for_ms(1);
	assert_int_equal(nstarted, n);
}

static void test_retries_with_backoff(void **state)
{
	assert_int_equal(add("{\"name\":\"rt\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1h\",\"retries\":2,"
			     "\"retry_backoff_ms\":20}"),
			 0);
	step(HOUR);
	tfinish(0, 3, "boom\n");
	wait_started(2); /* attempt 2, 20 ms later */
	assert_true(started_ms[1] - finished_ms[0] >= 20);
	tfinish(1, 3, NULL);
	wait_started(3); /* attempt 3: the backoff doubled */
	assert_true(started_ms[2] - finished_ms[1] >= 40);
	tfinish(2, 3, NULL);
	run_for_ms(200);
	assert_int_equal(nstarted, 3); /* retries used up */
	struct runs r;
	runs_of("rt", &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[1].trigger, STORE_TRIGGER_RETRY);
	assert_int_equal(r.v[1].attempt, 2);
	assert_int_equal(r.v[2].attempt, 3);
	assert_int_equal(r.v[0].exit_code, 3);
	runs_free(&r);
}

static void test_one_shot_done(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"once\",\"kind\":\"t\",\"schedule\":"
			     "\"at 2026-11-18T08:00:00Z\"}"),
			 0);
	step(14 * MIN);
	assert_int_equal(nstarted, 1);
	json_t *j = sched_job_get(S, "once");
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "done");
	assert_true(json_is_null(json_object_get(j, "next_usec")));
	assert_non_null(json_string_value(json_object_get(j, "next_reason")));
	json_decref(j);
}

static void test_pause_resume(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"p\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	answered = false;
	sched_job_pause(S, "p", true, done_cb, NULL);
	while (!answered)
		loop_run_once(L);
	assert_int_equal(last.status, 0);
	step(5 * MIN);
	assert_int_equal(nstarted, 0);
	answered = false;
	sched_job_pause(S, "p", false, done_cb, NULL);
	while (!answered)
		loop_run_once(L);
	step(MIN); /* from the resume on; nothing caught up */
	assert_int_equal(nstarted, 1);
	struct runs r;
	runs_of("p", &r);
	assert_int_equal(r.n, 1);
	runs_free(&r);
}

/* The job's time comes while an update of it is still being written:
 * the occurrence runs once, not again when the update (whose next time
 * was worked out before) commits. */
static void test_update_in_flight(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"f\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	json_t *p = json_loads("{\"name\":\"f\",\"timeout_ms\":5000}", 0, NULL);
	answered = false;
	sched_job_update(S, p, done_cb, NULL); /* not yet committed... */
	json_decref(p);
	clock_now += MIN;
	sched_poke(S); /* ...when its 1 min comes */
	while (!answered)
		loop_run_once(L);
	assert_int_equal(last.status, 0);
	step(SEC);
	assert_int_equal(nstarted, 1);
	struct runs r;
	runs_of("f", &r);
	assert_int_equal(r.n, 1);
	runs_free(&r);
	json_t *j = sched_job_get(S, "f");
	assert_int_equal(json_integer_value(json_object_get(j, "next_usec")),
			 T0 + 2 * MIN);
	json_decref(j);
}

static void test_add_errors_and_retry(void **state)
{
	const char *j = "{\"name\":\"x\",\"kind\":\"t\",\"schedule\":"
			"\"*/5 * * * *\"}";
	assert_int_equal(add(j), 0);
	assert_int_equal(add(j), 0); /* identical: a safe retry */
	assert_int_equal(add("{\"name\":\"x\",\"kind\":\"t\",\"schedule\":"
			     "\"*/6 * * * *\"}"),
			 -EEXIST);
	assert_int_equal(add("{\"name\":\"y\",\"kind\":\"t\",\"schedule\":"
			     "\"0 0 30 2 *\"}"),
			 -EDOM);
	assert_int_equal(add("{\"name\":\"y\",\"kind\":\"nope\",\"schedule\":"
			     "\"@daily\"}"),
			 -ENOKEY);
	assert_int_equal(add("{\"name\":\"y\",\"kind\":\"t\",\"schedule\":"
			     "\"@daily\",\"args\":{\"bad\":1}}"),
			 -EBADMSG);
	assert_int_equal(add("{\"name\":\"y y\",\"kind\":\"t\","
			     "\"schedule\":\"@daily\"}"),
			 -EINVAL);
	assert_int_equal(add("{\"name\":\"y\",\"kind\":\"t\",\"schedule\":"
			     "\"@daily\",\"tz\":\"Mars/Olympus\"}"),
			 -EINVAL);
	assert_string_equal(last.param, "tz");
	assert_int_equal(add("{\"name\":\"y\",\"kind\":\"t\",\"schedule\":"
			     "\"@daily\",\"overlap\":\"sometimes\"}"),
			 -EINVAL);
	assert_string_equal(last.param, "overlap");
	struct jbuf b;
	jb_init(&b);
	sched_job_list(S, NULL, NULL, NULL, &b);
	json_t *l = json_loads(jb_text(&b), 0, NULL); /* valid JSON text */
	assert_non_null(l);
	assert_int_equal(json_array_size(json_object_get(l, "jobs")), 1);
	json_t *x = json_array_get(json_object_get(l, "jobs"), 0);
	assert_string_equal(json_string_value(json_object_get(x, "schedule")),
			    "*/5 * * * *");
	assert_true(json_is_object(json_object_get(x, "args")));
	json_decref(l);
	jb_free(&b);
}

/* A job of a kind whose plugin went away waits, then catches up. */
static void test_waiting_for_plugin(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"w\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	sched_plugin_down(S, P);
	json_t *j = sched_job_get(S, "w");
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "waiting-for-plugin");
	json_decref(j);
	step(3 * MIN);
	assert_int_equal(nstarted, 0);
	sched_plugin_gone(S, P);
	assert_int_equal(sched_add_kind(S, P, &kind), 0);
	sched_plugin_up(S, P);
	settle();
	assert_int_equal(nstarted, 1); /* once, for the three it missed */
	struct runs r;
	runs_of("w", &r);
	assert_int_equal(count(&r, STORE_RESULT_MISSED, STORE_TRIGGER_SCHEDULE),
			 2);
	runs_free(&r);
}

static void test_jitter_fixed(void **state)
{
	finish_at_once = true;
	assert_int_equal(add("{\"name\":\"j\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1h\",\"jitter_ms\":600000}"),
			 0);
	step(HOUR);
	unsigned first = nstarted;
	step(10 * MIN);
	assert_int_equal(nstarted, 1); /* by now, whatever the jitter */
	assert_true(first <= 1);
	/* The same delay each hour: it starts at the same offset. */
	struct runs r;
	runs_of("j", &r);
	int64_t off = r.v[0].started_usec - r.v[0].scheduled_usec;
	runs_free(&r);
	step(HOUR);
	runs_of("j", &r);
	assert_int_equal(r.n, 2);
	assert_true(off >= 0 && off <= 10 * MIN);
	runs_free(&r);
}

/* ---- run events: built only when read ---- */

static json_t *seen_events;

static void collect(void *ud, json_t *e)
{
	json_array_append(seen_events, e);
}

static void check_run_event(json_t *e, const char *type, const char *result)
{
	json_t *run = json_object_get(e, "run");
	assert_string_equal(json_string_value(json_object_get(e, "type")),
			    type);
	assert_true(json_integer_value(json_object_get(e, "time_usec")) > 0);
	assert_string_equal(json_string_value(json_object_get(run, "job")),
			    "ev");
	assert_string_equal(json_string_value(json_object_get(run, "result")),
			    result);
	assert_true(json_integer_value(json_object_get(run, "id")) > 0);
}

/* Run events emitted with nobody subscribed are built on replay, the
 * same as those a live subscriber gets at once. */
static void test_run_events_replayed(void **state)
{
	finish_at_once = true;
	uint64_t since = events_seq(EV);
	assert_int_equal(add("{\"name\":\"ev\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	step(MIN); /* nobody subscribed: kept unbuilt */
	seen_events = json_array();
	uint64_t tok = events_subscribe(EV, collect, NULL);
	step(MIN); /* a subscriber: built at once */
	events_unsubscribe(EV, tok);
	assert_int_equal(json_array_size(seen_events), 2);
	check_run_event(json_array_get(seen_events, 0), "run.started",
			"running");
	check_run_event(json_array_get(seen_events, 1), "run.finished", "ok");
	json_array_clear(seen_events);
	assert_int_equal(events_replay(EV, since, collect, NULL), 5);
	/* job.added, then the first run's two events, then the second's. */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(seen_events, 0), "type")),
			    "job.added");
	check_run_event(json_array_get(seen_events, 1), "run.started",
			"running");
	check_run_event(json_array_get(seen_events, 2), "run.finished", "ok");
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(
			json_integer_value(json_object_get(
				json_array_get(seen_events, i), "seq")),
			since + 1 + i);
	json_decref(seen_events);
}

/* Runs of every job left `starting`; n (unless -1): how many runs in
 * all there must be. */
static unsigned starting_left(long n)
{
	struct runs r;
	unsigned left = 0;
	runs_of(NULL, &r);
	if (n >= 0)
		assert_int_equal(r.n, (size_t)n);
	for (int t = 0; t < STORE_TRIGGER_COUNT; t++)
		left += count(&r, STORE_RESULT_STARTING, (enum store_trigger)t);
	runs_free(&r);
	return left;
}

/* Every run of every job: n of them, none left `starting`. */
static void no_starting_left(size_t n)
{
	assert_int_equal(starting_left((long)n), 0);
}

/* ---- sched_counts against a full recount ---- */

#define NCJ 12
static bool cj_exists[NCJ];

/* sched_counts (kept at each change) and the walk over every job agree. */
static void counts_agree(unsigned op, const char *what)
{
	struct sched_counts a, b;
	sched_counts(S, &a);
	sched_counts_recount(S, &b);
	const uint64_t *pa = &a.total, *pb = &b.total;
	static const char *const names[] = { "total",   "active",
					     "paused",  "running",
					     "waiting", "done",
					     "failing", "runs_inflight" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (pa[i] != pb[i])
			fail_msg("after op %u (%s): %s is %" PRIu64
				 ", a recount says %" PRIu64,
				 op, what, names[i], pa[i], pb[i]);
	if (a.runs_prepared != b.runs_prepared)
		fail_msg("after op %u (%s): runs_prepared is %" PRIu64
			 ", a recount says %" PRIu64,
			 op, what, a.runs_prepared, b.runs_prepared);
}

static void wait_answer(void)
{
	while (!answered)
		loop_run_once(L);
	settle();
}

static void op_add(unsigned i)
{
	char json[256], at[32];
	time_t t = (time_t)(clock_now / 1000000 + 60 + (int64_t)(rng() % 240));
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "at %Y-%m-%dT%H:%M:%SZ", &tm);
	static const char *const sch[] = { "every 1m", "every 3m",
					   "*/2 * * * *", NULL };
	const char *sc = sch[rng() % 4];
	snprintf(json, sizeof(json),
		 "{\"name\":\"c%u\",\"kind\":\"t\",\"schedule\":\"%s\","
		 "\"overlap\":\"%s\",\"retries\":%u,"
		 "\"retry_backoff_ms\":60000}",
		 i, sc ? sc : at, rng() % 2 ? "allow" : "skip",
		 (unsigned)(rng() % 2));
	if (add(json) == 0)
		cj_exists[i] = true;
}

static void op_pause(unsigned i)
{
	char name[8];
	snprintf(name, sizeof(name), "c%u", i);
	answered = false;
	sched_job_pause(S, name, rng() % 2, done_cb, NULL);
	wait_answer();
}

static void op_remove(unsigned i)
{
	char name[8];
	snprintf(name, sizeof(name), "c%u", i);
	answered = false;
	sched_job_remove(S, name, done_cb, NULL);
	wait_answer();
	cj_exists[i] = false;
}

static void op_trigger(unsigned i)
{
	char name[8];
	snprintf(name, sizeof(name), "c%u", i);
	answered = false;
	if (sched_job_trigger(S, name, done_cb, NULL, NULL))
		wait_answer();
	settle();
}

/* A run the test kind still holds ends: ok or failed. */
static void op_finish(void)
{
	unsigned open = 0;
	for (unsigned i = 0; i < nstarted; i++)
		open += !finished[i];
	if (!open)
		return;
	unsigned pick = (unsigned)(rng() % open);
	for (unsigned i = 0; i < nstarted; i++)
		if (!finished[i] && pick-- == 0) {
			tfinish(i, rng() % 2 ? 1 : 0, NULL);
			break;
		}
	settle();
}

/* The plugin goes (its jobs wait, its runs are interrupted) and comes
 * back. */
static void op_plugin_cycle(unsigned op)
{
	sched_plugin_down(S, P);
	settle();
	counts_agree(op, "plugin down");
	sched_plugin_gone(S, P);
	for (unsigned i = 0; i < nstarted; i++)
		finished[i] = true; /* the run pointers are gone */
	counts_agree(op, "plugin gone");
	assert_int_equal(sched_add_kind(S, P, &kind), 0);
	sched_plugin_up(S, P);
	settle();
}

/* The operations, each done on job c<i> (or the whole scheduler), as a
 * table of weights out of 100. */
static const char *do_add_or_trigger(unsigned i, unsigned op)
{
	if (!cj_exists[i]) {
		op_add(i);
		return "add";
	}
	op_trigger(i);
	return "trigger";
}

static const char *do_remove(unsigned i, unsigned op)
{
	op_remove(i);
	return "remove";
}

static const char *do_pause(unsigned i, unsigned op)
{
	op_pause(i);
	return "pause/resume";
}

static const char *do_finish(unsigned i, unsigned op)
{
	op_finish();
	return "finish";
}

/* Whole minutes, or half a second either way: the jobs due on the
 * minute are then prepared ahead (the lead is 1 s) while the other
 * operations go on, or start on their records. */
static const char *do_step(unsigned i, unsigned op)
{
	static const int64_t half[] = { SEC / 2, -SEC / 2 };
	if (rng() % 3 == 0)
		step(half[rng() % 2]);
	else
		step((int64_t)(1 + rng() % 3) * MIN);
	return "clock step";
}

static const char *do_plugin_cycle(unsigned i, unsigned op)
{
	op_plugin_cycle(op);
	return "plugin cycle";
}

static const struct {
	unsigned weight;
	const char *(*fn)(unsigned i, unsigned op);
} ops[] = {
	{ 25, do_add_or_trigger }, { 10, do_remove }, { 15, do_pause },
	{ 30, do_finish },         { 17, do_step },   { 3, do_plugin_cycle },
};

static const char *random_op(unsigned op)
{
	unsigned i = (unsigned)(rng() % NCJ), r = (unsigned)(rng() % 100);
	size_t k = 0;
	while (r >= ops[k].weight) /* the weights add up to 100 */
		r -= ops[k++].weight;
	return ops[k].fn(i, op);
}

/* A seeded random sequence of adds, removes, pauses, runs (manual and
 * scheduled), failures and plugin cycles: after each, sched_counts must
 * equal a full recount. */
static void test_counts_kept(void **state)
{
	rng_state = test_seed_pick();
	memset(cj_exists, 0, sizeof(cj_exists));
	bool seen_fail = false, seen_run = false, seen_prep = false;
	for (unsigned op = 0; op < 600; op++) {
		const char *what = random_op(op);
		counts_agree(op, what);
		struct sched_counts c;
		sched_counts(S, &c);
		seen_fail |= c.failing > 0;
		seen_run |= c.running > 0 && c.runs_inflight > 0;
		seen_prep |= c.runs_prepared > 0;
	}
	assert_true(seen_fail && seen_run && seen_prep);
	finish_all(0);
	counts_agree(600, "finish all");
	sched_stop_starting(S); /* prepared runs go: no record lingers */
	settle();
	assert_int_equal(starting_left(-1), 0);
	counts_agree(601, "stop");
}

/* Adds job `name` (schedule sched) and deletes its row from under the
 * scheduler: its runs' records cannot be written. */
static void add_unrecordable(const char *name, const char *sched)
{
	char j[200];
	struct store_req del;
	snprintf(j, sizeof(j),
		 "{\"name\":\"%s\",\"kind\":\"t\",\"schedule\":\"%s\"}", name,
		 sched);
	assert_int_equal(add(j), 0);
	store_req_init(&del, STORE_JOB_DELETE);
	del.job.name = strdup(name);
	del.done = runs_done;
	answered = false;
	assert_int_equal(store_submit(ST, &del), 0);
	while (!answered)
		loop_run_once(L);
	store_req_clear(&del);
}

/* A run whose `starting` record cannot be written (its job's row went
 * from under the scheduler) leaves the counts as they were. */
static void test_counts_failed_record(void **state)
{
	add_unrecordable("gone", "every 1h");
	answered = false;
	sched_job_trigger(S, "gone", done_cb, NULL, NULL);
	while (!answered)
		loop_run_once(L);
	settle();
	assert_true(last.status < 0); /* the run was not recorded */
	assert_int_equal(nstarted, 0);
	counts_agree(0, "a run that could not be recorded");
	struct sched_counts c;
	sched_counts(S, &c);
	assert_int_equal(c.running, 0);
	assert_int_equal(c.active, 1);
}

/* ---- runs prepared ahead of their time (the lead, 1 s here) ---- */

static struct sched_counts counts_now(void)
{
	struct sched_counts c, r;
	sched_counts(S, &c);
	sched_counts_recount(S, &r);
	assert_int_equal(c.runs_prepared, r.runs_prepared);
	assert_int_equal(c.runs_inflight, r.runs_inflight);
	return c;
}

static const char *state_of(const char *name)
{
	static char st[32];
	json_t *j = sched_job_get(S, name);
	assert_non_null(j);
	snprintf(st, sizeof(st), "%s",
		 json_string_value(json_object_get(j, "state")));
	json_decref(j);
	return st;
}

/* Job `name`, every minute from T0, prepared: the clock is half a second
 * before its first time (T0 + 1 min).  Returns its prepared run's id. */
static int64_t add_prepared(const char *name, const char *extra)
{
	char j[300];
	snprintf(j, sizeof(j),
		 "{\"name\":\"%s\",\"kind\":\"t\",\"schedule\":\"every 1m\"%s}",
		 name, extra);
	assert_int_equal(add(j), 0);
	step(MIN - SEC / 2);
	struct runs r;
	runs_of(name, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].result, STORE_RESULT_STARTING);
	assert_int_equal(r.v[0].trigger, STORE_TRIGGER_SCHEDULE);
	assert_int_equal(r.v[0].scheduled_usec, T0 + MIN);
	assert_true(r.v[0].started_usec == STORE_NULL);
	int64_t id = r.v[0].id;
	runs_free(&r);
	return id;
}

/* The record is committed before the time; at the time the same run
 * starts (no second record), with started_usec set then. */
static void test_prepared_starts_at_its_time(void **state)
{
	int64_t id = add_prepared("pa", "");
	struct sched_counts c = counts_now();
	assert_int_equal(nstarted, 0);
	assert_int_equal(c.runs_prepared, 1);
	assert_int_equal(c.runs_inflight, 0);
	assert_int_equal(c.running, 0);
	assert_string_equal(state_of("pa"), "active");
	step(SEC / 2); /* T0 + 1 min: a half-second step is no clock step */
	assert_int_equal(nstarted, 1);
	assert_int_equal(started_real[0], T0 + MIN);
	c = counts_now();
	assert_int_equal(c.runs_prepared, 0);
	assert_int_equal(c.runs_inflight, 1);
	assert_string_equal(state_of("pa"), "running");
	tfinish(0, 0, "ok\n");
	struct runs r;
	runs_of("pa", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].id, id);
	assert_int_equal(r.v[0].result, STORE_RESULT_OK);
	assert_int_equal(r.v[0].started_usec, T0 + MIN);
	runs_free(&r);
}

/* With lead 0 nothing is recorded before the time (as before). */
static void test_lead_zero_records_when_due(void **state)
{
	assert_int_equal(add("{\"name\":\"z\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	step(MIN - SEC / 2);
	no_starting_left(0);
	assert_int_equal(counts_now().runs_prepared, 0);
	step(SEC / 2);
	assert_int_equal(nstarted, 1);
	finish_all(0);
	no_starting_left(1);
}

static int setup_no_lead(void **state)
{
	lead_ms = 0;
	int r = setup(state);
	lead_ms = SCHED_LEAD_MS;
	return r;
}

static void prep_pause(const char *name)
{
	answered = false;
	sched_job_pause(S, name, true, done_cb, NULL);
	wait_answer();
	assert_int_equal(last.status, 0);
}

static void prep_remove(const char *name)
{
	answered = false;
	sched_job_remove(S, name, done_cb, NULL);
	wait_answer();
	assert_int_equal(last.status, 0);
}

static void prep_plugin_down(const char *name)
{
	sched_plugin_down(S, P);
	settle();
	sched_plugin_gone(S, P);
}

/* Paused, removed, or its plugin gone while its run is prepared: the run
 * does not start and its record goes. */
static void test_prepared_dropped(void **state)
{
	static void (*const what[])(const char *) = { prep_pause, prep_remove,
						      prep_plugin_down };
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		char name[8];
		snprintf(name, sizeof(name), "d%zu", i);
		clock_now = T0;
		add_prepared(name, "");
		what[i](name);
		settle();
		no_starting_left(0);
		assert_int_equal(counts_now().runs_prepared, 0);
		step(SEC / 2);
		step(MIN);
		assert_int_equal(nstarted, 0);
		no_starting_left(0);
		if (what[i] == prep_pause)
			prep_remove(name);
	}
}

/* Updated while prepared: that run goes; the one prepared again starts
 * with the new args, and it is the only record. */
static void test_prepared_update(void **state)
{
	int64_t id = add_prepared("u", ",\"args\":{\"v\":1}");
	json_t *p = json_loads("{\"name\":\"u\",\"args\":{\"v\":2}}", 0, NULL);
	answered = false;
	sched_job_update(S, p, done_cb, NULL);
	json_decref(p);
	wait_answer();
	assert_int_equal(last.status, 0);
	assert_int_equal(counts_now().runs_prepared, 1); /* again */
	struct runs r;
	runs_of("u", &r);
	assert_int_equal(r.n, 1);
	assert_true(r.v[0].id > id);
	runs_free(&r);
	step(SEC / 2);
	assert_int_equal(nstarted, 1);
	assert_string_equal(last_args, "{\"v\":2}");
	finish_all(0);
	runs_of("u", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].result, STORE_RESULT_OK);
	runs_free(&r);
}

/* Overlap at the time: skip makes the prepared run `skipped` (its own
 * record); queue deletes it and records the queued run when it starts. */
static void test_prepared_overlap(void **state)
{
	assert_int_equal(add("{\"name\":\"s\",\"kind\":\"t\","
			     "\"schedule\":\"every 1m\"}"),
			 0);
	assert_int_equal(add("{\"name\":\"q\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1m\",\"overlap\":\"queue\"}"),
			 0);
	step(MIN); /* both start, and keep running */
	assert_int_equal(nstarted, 2);
	step(MIN - SEC / 2);
	assert_int_equal(counts_now().runs_prepared, 2);
	struct runs r;
	runs_of("s", &r);
	int64_t prep_id = r.v[1].id;
	runs_free(&r);
	step(SEC / 2);
	assert_int_equal(nstarted, 2);
	runs_of("s", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[1].id, prep_id);
	assert_int_equal(r.v[1].result, STORE_RESULT_SKIPPED);
	assert_int_equal(r.v[1].scheduled_usec, T0 + 2 * MIN);
	runs_free(&r);
	runs_of("q", &r);
	assert_int_equal(r.n, 1); /* the prepared one went; one is queued */
	runs_free(&r);
	for (unsigned i = 0; i < 2; i++)
		if (strcmp(sched_run_job(started[i]), "q") == 0)
			tfinish(i, 0, NULL);
	settle();
	assert_int_equal(nstarted, 3); /* q's queued run */
	runs_of("q", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[1].scheduled_usec, T0 + 2 * MIN);
	assert_int_equal(r.v[1].result, STORE_RESULT_RUNNING);
	runs_free(&r);
	finish_all(0);
	no_starting_left(4);
}

/* Clock steps while a run is prepared (step() is also what a suspend
 * looks like): a step back of 2 h (no re-run, cron's rule) or 5 h
 * (re-anchored) drops it, as does a step forward of 30 min (catch-up);
 * a step forward of 5 s still starts it, on its record. */
static void test_prepared_clock_steps(void **state)
{
	static const int64_t steps[] = { -2 * HOUR, -5 * HOUR, 30 * MIN,
					 5 * SEC };
	finish_at_once = true;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char name[8];
		snprintf(name, sizeof(name), "c%zu", i);
		clock_now = T0;
		nstarted = 0;
		int64_t id = add_prepared(name, ",\"tz\":\"UTC\"");
		step(steps[i]);
		struct runs r;
		runs_of(name, &r);
		for (size_t k = 0; k < r.n; k++) {
			if (r.v[k].scheduled_usec > clock_now)
				continue; /* the next one, prepared */
			assert_int_not_equal(r.v[k].result,
					     STORE_RESULT_STARTING);
			assert_true((r.v[k].id == id) == (steps[i] == 5 * SEC));
		}
		if (steps[i] == 5 * SEC) {
			assert_int_equal(r.n, 1);
			assert_int_equal(r.v[0].result, STORE_RESULT_OK);
			assert_int_equal(r.v[0].trigger,
					 STORE_TRIGGER_SCHEDULE);
		} else if (steps[i] > 0) { /* catch-up once: 29 missed, 1 run,
					    * then the next, prepared */
			assert_int_equal(count(&r, STORE_RESULT_OK,
					       STORE_TRIGGER_CATCHUP),
					 1);
			assert_int_equal(r.n, 31);
			assert_int_equal(r.v[30].scheduled_usec, T0 + 31 * MIN);
		} else {
			assert_int_equal(r.n, 0);
			assert_int_equal(nstarted, 0);
		}
		runs_free(&r);
		prep_remove(name);
	}
	/* Back 2 h: the run comes again at its old time, once. */
	clock_now = T0;
	nstarted = 0;
	add_prepared("b", "");
	step(-2 * HOUR);
	step(2 * HOUR); /* half a second before it again: prepared again */
	assert_int_equal(counts_now().runs_prepared, 1);
	step(SEC / 2);
	assert_int_equal(nstarted, 1);
	no_starting_left(1); /* the others went with their jobs */
}

/* Stopping drops prepared runs: their records are deleted. */
static void test_prepared_shutdown(void **state)
{
	add_prepared("sd", "");
	sched_stop_starting(S);
	settle();
	no_starting_left(0);
	assert_int_equal(counts_now().runs_prepared, 0);
	assert_int_equal(sched_running(S), 0);
}

/* The prepared run's commit fails (its job's row went from under the
 * scheduler): at its time it is not started, and nothing is counted. */
static void test_prepared_commit_fails(void **state)
{
	add_unrecordable("cf", "every 1m");
	step(MIN - SEC / 2);
	assert_int_equal(counts_now().runs_prepared, 1);
	step(SEC / 2);
	assert_int_equal(nstarted, 0);
	struct sched_counts c = counts_now();
	assert_int_equal(c.runs_prepared, 0);
	assert_int_equal(c.runs_inflight, 0);
	assert_int_equal(c.running, 0);
	assert_string_equal(state_of("cf"), "active");
	json_t *j = sched_job_get(S, "cf");
	assert_int_equal(json_integer_value(json_object_get(j, "next_usec")),
			 T0 + 2 * MIN); /* on to the next */
	json_decref(j);
}

/* A manual trigger is never prepared: it starts at once, and the
 * prepared run still starts at its time (overlap allow). */
static void test_prepared_and_manual(void **state)
{
	add_prepared("m", ",\"overlap\":\"allow\"");
	answered = false;
	assert_true(sched_job_trigger(S, "m", done_cb, NULL, NULL) > 0);
	wait_answer();
	assert_int_equal(last.status, 0);
	assert_int_equal(nstarted, 1);
	assert_int_equal(counts_now().runs_prepared, 1);
	step(SEC / 2);
	assert_int_equal(nstarted, 2);
	finish_all(0);
	struct runs r;
	runs_of("m", &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(count(&r, STORE_RESULT_OK, STORE_TRIGGER_MANUAL), 1);
	assert_int_equal(count(&r, STORE_RESULT_OK, STORE_TRIGGER_SCHEDULE), 1);
	runs_free(&r);
}

/* ---- many runs due at once (the burst) ---- */

static int64_t next_of(const char *name)
{
	json_t *j = sched_job_get(S, name);
	assert_non_null(j);
	int64_t n = json_integer_value(json_object_get(j, "next_usec"));
	json_decref(j);
	return n;
}

/* NB jobs every minute, all prepared and due at T0 + 1 min: started in
 * one wake, whose writes and events wait until the last has started. */
#define NB 150

static void add_burst(void)
{
	char j[160];
	for (unsigned i = 0; i < NB; i++) {
		snprintf(j, sizeof(j),
			 "{\"name\":\"b%03u\",\"kind\":\"t\","
			 "\"schedule\":\"every 1m\"}",
			 i);
		assert_int_equal(add(j), 0);
	}
	step(MIN - SEC / 2);
	assert_int_equal(counts_now().runs_prepared, NB);
}

/* Every run of the burst: one record, ended ok, with its times in order;
 * each job's record says so; run.started before run.finished, once each,
 * for every run. */
static void check_burst(json_t *events, int64_t at)
{
	struct runs r;
	runs_of(NULL, &r);
	assert_int_equal(r.n, NB);
	for (size_t i = 0; i < r.n; i++) {
		assert_int_equal(r.v[i].result, STORE_RESULT_OK);
		assert_int_equal(r.v[i].scheduled_usec, at);
		assert_int_equal(r.v[i].started_usec, at);
		assert_true(r.v[i].finished_usec >= r.v[i].started_usec);
		assert_true(r.v[i].finished_usec <= at + 10 * SEC);
		json_t *j = sched_job_get(S, r.v[i].job);
		assert_string_equal(
			json_string_value(json_object_get(j, "last_result")),
			"ok");
		assert_int_equal(
			json_integer_value(json_object_get(j, "last_run")),
			r.v[i].id);
		json_decref(j);
	}
	for (size_t i = 0; i < r.n; i++) {
		int started_at = -1, finished_at = -1;
		for (size_t e = 0; e < json_array_size(events); e++) {
			json_t *ev = json_array_get(events, e);
			json_t *run = json_object_get(ev, "run");
			if (json_integer_value(json_object_get(run, "id")) !=
			    r.v[i].id)
				continue;
			const char *t =
				json_string_value(json_object_get(ev, "type"));
			int *slot = strcmp(t, "run.started") == 0
					    ? &started_at
					    : &finished_at;
			assert_int_equal(*slot, -1); /* once */
			*slot = (int)e;
		}
		assert_true(started_at >= 0);
		assert_true(finished_at > started_at);
	}
	runs_free(&r);
	struct sched_counts c = counts_now();
	assert_int_equal(c.runs_inflight, 0);
	assert_int_equal(c.runs_started, NB);
	assert_int_equal(c.runs_finished, NB);
	counts_agree(0, "burst");
}

/* The events of a step of the clock by d, and of then() after it (may
 * be NULL).  Caller frees. */
static json_t *watch_step(int64_t d, void (*then)(void))
{
	seen_events = json_array();
	uint64_t tok = events_subscribe(EV, collect, NULL);
	step(d);
	if (then)
		then();
	settle();
	events_unsubscribe(EV, tok);
	return seen_events;
}

/* Runs their kind finishes inside its start. */
static void test_burst_finish_inside_start(void **state)
{
	add_burst();
	finish_at_once = true;
	json_t *ev = watch_step(SEC / 2, NULL);
	assert_int_equal(nstarted, NB);
	check_burst(ev, T0 + MIN);
	json_decref(ev);
	/* Each is prepared again, and the next burst goes the same way. */
	step(MIN - SEC / 2);
	assert_int_equal(counts_now().runs_prepared, NB);
	step(SEC / 2);
	assert_int_equal(nstarted, 2 * NB);
	no_starting_left(2 * NB);
}

static void finish_last(void)
{
	assert_int_equal(nstarted, NB);
	tfinish(NB - 1, 0, NULL); /* after the burst */
}

/* A kind that ends another run of the burst from a later start (not
 * inside that run's own start): that run's end is taken when it
 * happens, and a second finish of it is refused (k_start). */
static void test_burst_finish_other(void **state)
{
	add_burst();
	finish_prev = true;
	json_t *ev = watch_step(SEC / 2, finish_last);
	check_burst(ev, T0 + MIN);
	json_decref(ev);
}

/* A run of the burst ends inside its start, then, still inside it, the
 * kind ends an older run of the same job (overlap allow): the ends take
 * effect in that order, so the job's last run is the older one, which
 * ended last, and the events say so. */
static void test_burst_end_order(void **state)
{
	assert_int_equal(add("{\"name\":\"a\",\"kind\":\"t\",\"schedule\":"
			     "\"every 1m\",\"overlap\":\"allow\"}"),
			 0);
	step(MIN - SEC / 2);
	step(SEC / 2); /* R0 runs */
	assert_int_equal(nstarted, 1);
	step(MIN - SEC / 2); /* R1 prepared */
	finish_at_once = true;
	finish_older = 0; /* then R0 fails */
	finish_older_status = 1;
	json_t *ev = watch_step(SEC / 2, NULL);
	assert_int_equal(nstarted, 2);
	json_t *j = sched_job_get(S, "a");
	assert_int_equal(json_integer_value(json_object_get(j, "last_run")),
			 started_id[0]);
	assert_string_equal(
		json_string_value(json_object_get(j, "last_result")), "failed");
	json_decref(j);
	static const char *const want[][2] = { { "run.started", "1" },
					       { "run.finished", "1" },
					       { "run.finished", "0" } };
	assert_int_equal(json_array_size(ev), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_array_get(ev, i);
		assert_string_equal(
			json_string_value(json_object_get(e, "type")),
			want[i][0]);
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(e, "run"), "id")),
				 started_id[want[i][1][0] - '0']);
	}
	json_decref(ev);
	counts_agree(0, "end order");
}

/* Jobs due at different times, found in one wake (the loop was late):
 * started earliest first, whatever their order in the heap. */
static void test_burst_earliest_first(void **state)
{
	char j[200];
	unsigned n = 60;
	rng_state = test_seed_pick();
	finish_at_once = true;
	for (unsigned i = 0; i < n; i++) { /* T0 is 07:46:40 */
		snprintf(j, sizeof(j),
			 "{\"name\":\"o%02u\",\"kind\":\"t\","
			 "\"schedule\":\"at 2026-11-18T07:46:%02uZ\"}",
			 i, 41 + (unsigned)(rng() % 9));
		assert_int_equal(add(j), 0);
	}
	step(10 * SEC); /* all due, none missed (late by 10 s or less) */
	assert_int_equal(nstarted, n);
	struct runs r;
	runs_of(NULL, &r);
	assert_int_equal(r.n, n);
	int64_t prev = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t k = 0;
		while (k < r.n && r.v[k].id != started_id[i])
			k++;
		assert_true(k < r.n);
		assert_int_equal(r.v[k].result, STORE_RESULT_OK);
		assert_true(r.v[k].scheduled_usec >= prev);
		prev = r.v[k].scheduled_usec;
	}
	runs_free(&r);
}

/* Next fire times are remembered (one cal_next answers every job of a
 * schedule due at the same second); jobs that differ in zone or, for
 * `every`, in anchor must not share the answer. */
static void test_next_not_shared(void **state)
{
	assert_int_equal(add("{\"name\":\"u\",\"kind\":\"t\",\"tz\":\"UTC\","
			     "\"schedule\":\"0 3 * * *\"}"),
			 0);
	assert_int_equal(add("{\"name\":\"ny\",\"kind\":\"t\","
			     "\"tz\":\"America/New_York\","
			     "\"schedule\":\"0 3 * * *\"}"),
			 0);
	assert_int_equal(add("{\"name\":\"e1\",\"kind\":\"t\","
			     "\"schedule\":\"every 1h\"}"),
			 0);
	step(30 * SEC);
	assert_int_equal(add("{\"name\":\"e2\",\"kind\":\"t\","
			     "\"schedule\":\"every 1h\"}"),
			 0);
	/* From 07:47 UTC (02:47 in New York): 03:00 UTC tomorrow; 03:00
	 * EST today, 08:00 UTC. */
	assert_int_equal(next_of("u"), 1795057200000000LL);
	assert_int_equal(next_of("ny"), 1794988800000000LL);
	/* A step back of 5 h, to 02:47 UTC (21:47 the day before in New
	 * York): every schedule from the same instant. */
	step(-5 * HOUR);
	assert_int_equal(next_of("u"), 1794970800000000LL);
	assert_int_equal(next_of("ny"), 1794988800000000LL);
	assert_int_equal(next_of("e2") - next_of("e1"), 30 * SEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_every_runs_on_time),
		T(test_catchup_once),
		T(test_catchup_skip),
		T(test_catchup_all),
		T(test_step_back_2h_no_rerun),
		T(test_step_back_5h_reanchors),
		T(test_forward_2h_catchup_once),
		T(test_overlap_skip),
		T(test_overlap_queue_and_allow),
		T(test_overlap_replace),
		T(test_timeout_then_host_finishes),
		T(test_retries_with_backoff),
		T(test_one_shot_done),
		T(test_pause_resume),
		T(test_add_errors_and_retry),
		T(test_waiting_for_plugin),
		T(test_jitter_fixed),
		T(test_counts_kept),
		T(test_counts_failed_record),
		T(test_run_events_replayed),
		T(test_prepared_starts_at_its_time),
		cmocka_unit_test_setup_teardown(test_lead_zero_records_when_due,
						setup_no_lead, teardown),
		T(test_prepared_dropped),
		T(test_prepared_update),
		T(test_prepared_overlap),
		T(test_prepared_clock_steps),
		T(test_prepared_shutdown),
		T(test_prepared_commit_fails),
		T(test_prepared_and_manual),
		T(test_update_in_flight),
		T(test_burst_finish_inside_start),
		T(test_burst_finish_other),
		T(test_burst_end_order),
		T(test_burst_earliest_first),
		T(test_next_not_shared),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
