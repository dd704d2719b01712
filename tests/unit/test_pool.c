/*
 * test_pool.c - unit tests for the worker pool (daemon/pool.c).
 *
 * The test's main thread plays the loop thread: it submits, waits with
 * poll() on pool_fd and calls pool_deliver.  Every wait has a timeout, so
 * a lost wake-up fails a test instead of hanging it.  Work that must stay
 * "running" blocks on a gate the test opens.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pool.h"

#define WAIT_MS 10000

static pthread_t loop_thread;

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void spin_us(unsigned us)
{
	double end = now_sec() + us * 1e-6;

	while (now_sec() < end)
		;
}

/* Work blocks here until the test opens it. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned entered;
	bool open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

static void gate_reset(void)
{
	pthread_mutex_lock(&gate.m);
	gate.entered = 0;
	gate.open = false;
	pthread_mutex_unlock(&gate.m);
}

static void gate_pass(void)
{
	pthread_mutex_lock(&gate.m);
	gate.entered++;
	pthread_cond_broadcast(&gate.c);
	while (!gate.open)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.m);
	gate.open = true;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
}

static unsigned gate_entered(void)
{
	unsigned n;

	pthread_mutex_lock(&gate.m);
	n = gate.entered;
	pthread_mutex_unlock(&gate.m);
	return n;
}

/* Until n works are blocked in the gate, that is, running. */
static void gate_wait_entered(unsigned n)
{
	double end = now_sec() + WAIT_MS / 1000.0;

	while (gate_entered() < n) {
		if (now_sec() > end)
			fail_msg("only %u of %u works started", gate_entered(),
				 n);
		sleep_ms(1);
	}
}

struct job {
	struct pool_work w; /* first: the pool hands it back */
	int ret;
	bool block;
	unsigned sleep_ms;
	unsigned spin_us;
	sem_t *go; /* if set, work waits for it */
	/* Written by work (a worker), read after done. */
	unsigned ran;
	bool ran_on_loop;
	/* Written by done (the loop). */
	unsigned done_calls;
	int status;
	bool done_off_loop;
	bool stuck_at_done; /* pool_work_stuck, from done */
	unsigned seq;
	void (*then)(struct job *j);
	void *arg;
};

static unsigned done_seq;

#define JOB(w) ((struct job *)((char *)(w)-offsetof(struct job, w)))

static int job_work(struct pool_work *w)
{
	struct job *j = JOB(w);

	if (pthread_equal(pthread_self(), loop_thread))
		j->ran_on_loop = true;
	j->ran++;
	if (j->block)
		gate_pass();
	if (j->go != NULL)
		while (sem_wait(j->go) != 0)
			;
	if (j->sleep_ms)
		sleep_ms(j->sleep_ms);
	if (j->spin_us)
		spin_us(j->spin_us);
	return j->ret;
}

static void job_done(struct pool_work *w, int status)
{
	struct job *j = JOB(w);

	if (!pthread_equal(pthread_self(), loop_thread))
		j->done_off_loop = true;
	j->done_calls++;
	j->stuck_at_done = pool_work_stuck(w);
	j->status = status;
	j->seq = done_seq++;
	if (j->then != NULL)
		j->then(j);
}

static void job_init(struct job *j, int ret)
{
	memset(j, 0, sizeof(*j));
	j->w.work = job_work;
	j->w.done = job_done;
	j->ret = ret;
}

static void submit(struct pool *p, struct job *j, enum pool_lane lane)
{
	assert_int_equal(pool_submit(p, &j->w, lane), 0);
}

/* One wait for the eventfd; a timeout is a lost wake-up. */
static void wait_fd(struct pool *p)
{
	struct pollfd pfd = { .fd = pool_fd(p), .events = POLLIN };
	int rc;

	while ((rc = poll(&pfd, 1, WAIT_MS)) < 0 && errno == EINTR)
		;
	if (rc != 1)
		fail_msg("pool fd not readable after %d ms (rc %d), %llu "
			 "in flight",
			 WAIT_MS, rc, (unsigned long long)pool_inflight(p));
}

/* Polls and delivers until *count reaches want. */
static void deliver_until(struct pool *p, const unsigned *count, unsigned want)
{
	while (*count < want) {
		wait_fd(p);
		pool_deliver(p);
	}
}

/* Polls and delivers until nothing is in flight. */
static void drain_all(struct pool *p)
{
	while (pool_inflight(p) > 0) {
		wait_fd(p);
		pool_deliver(p);
	}
}

static void check_ran_once(const struct job *j)
{
	assert_int_equal(j->ran, 1);
	assert_int_equal(j->done_calls, 1);
	assert_int_equal(j->status, j->ret);
	assert_false(j->ran_on_loop);
	assert_false(j->done_off_loop);
}

static void check_cancelled(const struct job *j)
{
	assert_int_equal(j->ran, 0);
	assert_int_equal(j->done_calls, 1);
	assert_int_equal(j->status, -ECANCELED);
	assert_false(j->done_off_loop);
}

static int setup(void **state)
{
	(void)state;
	gate_reset();
	done_seq = 0;
	return 0;
}

static void test_invalid(void **state)
{
	struct pool *p = (struct pool *)1;
	struct job j;

	(void)state;
	assert_int_equal(pool_new(&p, 0), -EINVAL);
	assert_null(p);
	assert_int_equal(pool_new(&p, POOL_MAX_THREADS + 1), -EINVAL);
	assert_int_equal(pool_new(&p, 1), 0);
	job_init(&j, 0);
	j.w.work = NULL;
	assert_int_equal(pool_submit(p, &j.w, POOL_LANE_WORK), -EINVAL);
	job_init(&j, 0);
	j.w.done = NULL;
	assert_int_equal(pool_submit(p, &j.w, POOL_LANE_WORK), -EINVAL);
	job_init(&j, 0);
	assert_int_equal(pool_submit(p, &j.w, (enum pool_lane)7), -EINVAL);
	assert_int_equal(pool_inflight(p), 0);
	/* Never submitted: zeroed, so idle, so not cancellable. */
	assert_int_equal(pool_cancel(p, &j.w), -EBUSY);
	assert_int_equal(pool_deliver(p), 0);
	pool_free(p);
}

/* work on a worker, done on the loop, statuses passed through, once. */
static void test_threads_and_status(void **state)
{
	enum {
		N = 64
	};
	struct job j[N];
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, 4), 0);
	for (int i = 0; i < N; i++) {
		job_init(&j[i], i - N / 2);
		submit(p, &j[i], i % 4 ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	assert_int_equal(pool_inflight(p), N);
	drain_all(p);
	for (int i = 0; i < N; i++)
		check_ran_once(&j[i]);
	pool_free(p);
}

/* One worker finishes in submission order; done follows that order. */
static void test_fifo(void **state)
{
	enum {
		N = 1000
	};
	struct job *j = calloc(N, sizeof(*j));
	struct pool *p;

	(void)state;
	assert_non_null(j);
	assert_int_equal(pool_new(&p, 1), 0);
	for (int i = 0; i < N; i++) {
		job_init(&j[i], i);
		submit(p, &j[i], POOL_LANE_WORK);
	}
	drain_all(p);
	for (int i = 0; i < N; i++) {
		check_ran_once(&j[i]);
		assert_int_equal(j[i].seq, i);
	}
	pool_free(p);
	free(j);
}

static void test_cancel_queued(void **state)
{
	struct job a, b;
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, 1), 0);
	job_init(&a, 7);
	a.block = true;
	submit(p, &a, POOL_LANE_WORK);
	gate_wait_entered(1);
	job_init(&b, 8);
	submit(p, &b, POOL_LANE_WORK);
	assert_int_equal(pool_cancel(p, &b.w), 0);
	/* done runs from pool_deliver, never inside pool_cancel. */
	assert_int_equal(b.done_calls, 0);
	assert_int_equal(pool_cancel(p, &b.w), -EBUSY);
	assert_int_equal(pool_inflight(p), 2);
	deliver_until(p, &b.done_calls, 1);
	check_cancelled(&b);
	assert_int_equal(a.done_calls, 0);
	gate_open();
	drain_all(p);
	check_ran_once(&a);
	pool_free(p);
}

static void test_cancel_running(void **state)
{
	struct job a, c;
	struct pool_stats st;
	struct pool *p;
	double end;

	(void)state;
	assert_int_equal(pool_new(&p, 2), 0);
	job_init(&a, 1);
	a.block = true;
	submit(p, &a, POOL_LANE_WORK);
	gate_wait_entered(1);
	assert_int_equal(pool_cancel(p, &a.w), -EBUSY);
	gate_open();
	/* Finished but not delivered yet: still -EBUSY. */
	job_init(&c, 2);
	submit(p, &c, POOL_LANE_WORK);
	end = now_sec() + WAIT_MS / 1000.0;
	do {
		assert_true(now_sec() < end);
		sleep_ms(1);
		pool_stats(p, &st);
	} while (st.completed < 2);
	assert_int_equal(pool_cancel(p, &c.w), -EBUSY);
	drain_all(p);
	check_ran_once(&a);
	check_ran_once(&c);
	/* Delivered: still -EBUSY. */
	assert_int_equal(pool_cancel(p, &a.w), -EBUSY);
	pool_free(p);
}

/* Every thread blocked: whatever is queued can be cancelled. */
static void test_cancel_saturated(void **state)
{
	enum {
		T = 4,
		N = 16
	};
	struct job blk[T + 1], q[N], r[N];
	struct pool_stats st;
	struct pool *p;
	unsigned cancelled = 0;

	(void)state;
	assert_int_equal(pool_new(&p, T), 0);
	for (int i = 0; i <= T; i++) {
		job_init(&blk[i], 100 + i);
		blk[i].block = true;
		submit(p, &blk[i], i < T ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	gate_wait_entered(T + 1);
	for (int i = 0; i < N; i++) {
		job_init(&q[i], i);
		submit(p, &q[i], POOL_LANE_WORK);
	}
	pool_stats(p, &st);
	assert_int_equal(st.busy, T + 1);
	assert_int_equal(st.queued, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(pool_cancel(p, &q[i].w), 0);
	while (cancelled < N) {
		wait_fd(p);
		cancelled += pool_deliver(p);
	}
	for (int i = 0; i < N; i++)
		check_cancelled(&q[i]);

	/* pool_cancel_all takes both lanes. */
	for (int i = 0; i < N; i++) {
		job_init(&r[i], i);
		submit(p, &r[i], i % 2 ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	assert_int_equal(pool_cancel_all(p), N);
	assert_int_equal(pool_cancel_all(p), 0);
	for (cancelled = 0; cancelled < N;) {
		wait_fd(p);
		cancelled += pool_deliver(p);
	}
	for (int i = 0; i < N; i++)
		check_cancelled(&r[i]);
	pool_stats(p, &st);
	assert_int_equal(st.cancelled, 2 * N);
	assert_int_equal(st.queued, 0);
	gate_open();
	drain_all(p);
	for (int i = 0; i <= T; i++)
		check_ran_once(&blk[i]);
	pool_free(p);
}

/* 100,000 at once: each done exactly once, no wake-up lost. */
static void test_batch(void **state)
{
	enum {
		N = 100000,
		T = 4
	};
	struct job *j = calloc(N, sizeof(*j));
	struct pool_stats st;
	struct pool *p;
	double t0, t;

	(void)state;
	assert_non_null(j);
	for (int i = 0; i < N; i++)
		job_init(&j[i], i & 0xff);
	assert_int_equal(pool_new(&p, T), 0);
	t0 = now_sec();
	for (int i = 0; i < N; i++)
		submit(p, &j[i], POOL_LANE_WORK);
	drain_all(p);
	t = now_sec() - t0;
	/* No time assertion (sanitizers, loaded CI); the figure is shown. */
	printf("batch: %d no-op jobs, %d threads: %.4f s\n", N, T, t);
	for (int i = 0; i < N; i++)
		check_ran_once(&j[i]);
	pool_stats(p, &st);
	assert_int_equal(st.completed, N);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.queued, 0);
	pool_free(p);
	free(j);
}

/* done spins j->arg microseconds, as a slow callback would. */
static void slow_done(struct job *j)
{
	spin_us((unsigned)(uintptr_t)j->arg);
}

/*
 * Workers finish jobs while the loop is inside pool_deliver.  With a slow
 * done the list never empties and pool_deliver runs out of rounds; with a
 * fast one it empties often and the loop goes back to poll.  Either way
 * nothing may be lost or delivered twice.
 */
static void test_complete_while_delivering(void **state)
{
	enum {
		N = 10000
	};
	static const unsigned done_us[] = { 20, 6, 1 };
	struct job *j = calloc(N, sizeof(*j));
	struct pool *p;

	(void)state;
	assert_non_null(j);
	assert_int_equal(pool_new(&p, 3), 0);
	for (unsigned c = 0; c < 3; c++) {
		unsigned calls = 0;

		for (int i = 0; i < N; i++) {
			job_init(&j[i], i);
			j[i].spin_us = (unsigned)i % 16;
			j[i].then = slow_done;
			j[i].arg = (void *)(uintptr_t)(done_us[c] * (i % 2));
			submit(p, &j[i],
			       i % 8 ? POOL_LANE_WORK : POOL_LANE_STORE);
		}
		while (pool_inflight(p) > 0) {
			wait_fd(p);
			pool_deliver(p);
			calls++;
		}
		printf("complete_while_delivering: done %u us: %u "
		       "pool_deliver calls\n",
		       done_us[c], calls);
		for (int i = 0; i < N; i++)
			check_ran_once(&j[i]);
	}
	pool_free(p);
	free(j);
}

/*
 * A chain where each done() lets the next job run and waits until it has
 * finished: every round of pool_deliver then finds exactly one item, and
 * pool_deliver runs out of rounds with the list non-empty.  The eventfd
 * must still be readable then, or the next wait times out.
 */
enum {
	CHAIN = 20
};
static sem_t chain_go[CHAIN];

static void chain_next(struct job *j)
{
	struct pool *p = j->arg;
	struct pool_stats st;
	double end = now_sec() + WAIT_MS / 1000.0;
	int next = j->ret + 1;

	if (next == CHAIN)
		return;
	sem_post(&chain_go[next]);
	do {
		assert_true(now_sec() < end);
		spin_us(50);
		pool_stats(p, &st);
	} while (st.completed < (uint64_t)next + 1);
	sleep_ms(2); /* for the push that follows the accounting */
}

static void test_deliver_rounds(void **state)
{
	struct job j[CHAIN];
	struct pool *p;
	unsigned calls = 0;

	(void)state;
	assert_int_equal(pool_new(&p, 1), 0);
	for (int i = 0; i < CHAIN; i++) {
		assert_int_equal(sem_init(&chain_go[i], 0, 0), 0);
		job_init(&j[i], i);
		j[i].go = &chain_go[i];
		j[i].then = chain_next;
		j[i].arg = p;
		submit(p, &j[i], POOL_LANE_WORK);
	}
	sem_post(&chain_go[0]);
	while (pool_inflight(p) > 0) {
		wait_fd(p);
		pool_deliver(p);
		calls++;
	}
	printf("deliver_rounds: %d chained jobs in %u pool_deliver calls\n",
	       CHAIN, calls);
	for (int i = 0; i < CHAIN; i++) {
		check_ran_once(&j[i]);
		assert_int_equal(j[i].seq, i);
		sem_destroy(&chain_go[i]);
	}
	pool_free(p);
}

/* A pool full of long work does not hold up the store lane. */
static void test_store_lane(void **state)
{
	enum {
		T = 2
	};
	struct job blk[T], s[3];
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, T), 0);
	for (int i = 0; i < T; i++) {
		job_init(&blk[i], i);
		blk[i].block = true;
		submit(p, &blk[i], POOL_LANE_WORK);
	}
	gate_wait_entered(T);
	for (int i = 0; i < 3; i++) {
		job_init(&s[i], 10 + i);
		submit(p, &s[i], POOL_LANE_STORE);
	}
	deliver_until(p, &s[2].done_calls, 1);
	for (int i = 0; i < 3; i++)
		check_ran_once(&s[i]);
	/* Serialized: the store lane finished them in order. */
	assert_true(s[0].seq < s[1].seq && s[1].seq < s[2].seq);
	assert_int_equal(gate_entered(), T);
	for (int i = 0; i < T; i++)
		assert_int_equal(blk[i].done_calls, 0);
	gate_open();
	drain_all(p);
	for (int i = 0; i < T; i++)
		check_ran_once(&blk[i]);
	pool_free(p);
}

/* done() calls back into the pool: submit, resubmit itself, cancel. */
struct reentry {
	struct pool *p;
	struct job *y, *z;
	int cancel_rc;
	unsigned z_calls_at_cancel;
};

static void resubmit(struct job *j)
{
	struct pool *p = j->arg;

	if (j->done_calls < 100)
		assert_int_equal(pool_submit(p, &j->w, POOL_LANE_STORE), 0);
}

static void submit_and_cancel(struct job *j)
{
	struct reentry *r = j->arg;

	r->cancel_rc = pool_cancel(r->p, &r->z->w);
	r->z_calls_at_cancel = r->z->done_calls;
	submit(r->p, r->y, POOL_LANE_STORE);
}

static void test_reentrant(void **state)
{
	struct job blk, x, y, z, self;
	struct reentry r;
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, 1), 0);
	job_init(&blk, 0);
	blk.block = true;
	submit(p, &blk, POOL_LANE_WORK);
	gate_wait_entered(1);
	job_init(&z, 3);
	submit(p, &z, POOL_LANE_WORK); /* queued behind blk */
	job_init(&y, 2);
	job_init(&x, 1);
	r = (struct reentry){ .p = p, .y = &y, .z = &z };
	x.then = submit_and_cancel;
	x.arg = &r;
	submit(p, &x, POOL_LANE_STORE);
	job_init(&self, 4);
	self.then = resubmit;
	self.arg = p;
	submit(p, &self, POOL_LANE_STORE);
	deliver_until(p, &z.done_calls, 1);
	deliver_until(p, &y.done_calls, 1);
	deliver_until(p, &self.done_calls, 100);
	assert_int_equal(r.cancel_rc, 0);
	assert_int_equal(r.z_calls_at_cancel, 0);
	check_cancelled(&z);
	check_ran_once(&x);
	check_ran_once(&y);
	assert_int_equal(self.ran, 100);
	assert_int_equal(self.status, 4);
	assert_false(self.done_off_loop);
	gate_open();
	drain_all(p);
	check_ran_once(&blk);
	assert_int_equal(pool_inflight(p), 0);
	pool_free(p);
}

static void test_stats_counters(void **state)
{
	enum {
		T = 2
	};
	struct job blk[T + 1], q[3];
	struct pool_stats st;
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, T), 0);
	pool_stats(p, &st);
	assert_int_equal(st.threads, T + 1);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.completed, 0);
	assert_int_equal(st.cancelled, 0);
	assert_int_equal(st.wait_p99_ns, 0);
	assert_int_equal(st.run_p99_ns, 0);
	for (int i = 0; i <= T; i++) {
		job_init(&blk[i], i);
		blk[i].block = true;
		submit(p, &blk[i], i < T ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	gate_wait_entered(T + 1);
	for (int i = 0; i < 3; i++) {
		job_init(&q[i], i);
		submit(p, &q[i], i < 2 ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	pool_stats(p, &st);
	assert_int_equal(st.busy, T + 1);
	assert_int_equal(st.queued, 3);
	assert_int_equal(pool_cancel(p, &q[0].w), 0);
	pool_stats(p, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.cancelled, 1);
	gate_open();
	drain_all(p);
	pool_stats(p, &st);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.completed, T + 1 + 2);
	assert_int_equal(st.cancelled, 1);
	assert_true(st.wait_p50_ns <= st.wait_p99_ns);
	assert_true(st.run_p50_ns <= st.run_p99_ns);
	pool_free(p);
}

/* Ten 2 ms jobs on one thread: known lower bounds for the figures. */
static void test_stats_times(void **state)
{
	enum {
		N = 10,
		MS = 2
	};
	struct job j[N];
	struct pool_stats st;
	struct pool *p;

	(void)state;
	assert_int_equal(pool_new(&p, 1), 0);
	for (int i = 0; i < N; i++) {
		job_init(&j[i], 0);
		j[i].sleep_ms = MS;
		submit(p, &j[i], POOL_LANE_WORK);
	}
	drain_all(p);
	pool_stats(p, &st);
	assert_int_equal(st.completed, N);
	assert_true(st.run_p50_ns >= MS * 1000000ull);
	assert_true(st.run_p50_ns < 10ull * 1000000000);
	/* The last one waited for the nine before it. */
	assert_true(st.wait_p99_ns >= (N - 1) * MS * 1000000ull);
	assert_true(st.wait_p50_ns <= st.wait_p99_ns);
	pool_free(p);
}

static void test_free_prompt(void **state)
{
	struct job j[8];
	struct pool *p;
	double t0;

	(void)state;
	assert_int_equal(pool_new(&p, 8), 0);
	t0 = now_sec();
	pool_free(p);
	assert_true(now_sec() - t0 < 1.0);

	assert_int_equal(pool_new(&p, 3), 0);
	for (int i = 0; i < 8; i++) {
		job_init(&j[i], i);
		submit(p, &j[i], i % 2 ? POOL_LANE_WORK : POOL_LANE_STORE);
	}
	drain_all(p);
	t0 = now_sec();
	pool_free(p);
	assert_true(now_sec() - t0 < 1.0);
	pool_free(NULL);
}

#define MS_NS 1000000ull

/* Running items past the limit are reported once each, both lanes, as
 * room allows; the stats count them until they finish. */
static void test_stuck(void **state)
{
	struct job a, b, c;
	struct pool_stuck out[4];
	struct pool_stats st;
	struct pool *p;
	uint64_t next;

	(void)state;
	assert_int_equal(pool_new(&p, 2), 0);
	job_init(&a, 1);
	a.block = true;
	job_init(&c, 3);
	c.block = true;
	submit(p, &a, POOL_LANE_WORK);
	submit(p, &c, POOL_LANE_STORE);
	gate_wait_entered(2);
	job_init(&b, 2);
	submit(p, &b, POOL_LANE_WORK);
	deliver_until(p, &b.done_calls, 1);
	assert_false(b.stuck_at_done);

	/* Not yet: the next check is due when the first may pass. */
	assert_int_equal(pool_take_stuck(p, 0, out, 4, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(pool_take_stuck(p, 3600000 * MS_NS, out, 4, &next), 0);
	assert_true(next <= 3600000 * MS_NS && next > 3590000 * MS_NS);
	pool_stats(p, &st);
	assert_int_equal(st.stuck, 0);

	/* Past 20 ms, with room for one: the other is due at once. */
	sleep_ms(30);
	assert_int_equal(pool_take_stuck(p, 20 * MS_NS, out, 1, &next), 1);
	assert_int_equal(next, 0);
	assert_true(out[0].running_ns >= 20 * MS_NS);
	assert_int_equal(pool_take_stuck(p, 20 * MS_NS, out + 1, 3, &next), 1);
	assert_true((out[0].w == &a.w && out[1].w == &c.w) ||
		    (out[0].w == &c.w && out[1].w == &a.w));
	assert_true(pool_work_stuck(&a.w) && pool_work_stuck(&c.w));
	/* Once only; nothing left to come but new work. */
	assert_int_equal(pool_take_stuck(p, 20 * MS_NS, out, 4, &next), 0);
	assert_int_equal(next, 20 * MS_NS);
	pool_stats(p, &st);
	assert_int_equal(st.stuck, 2);
	assert_int_equal(st.stuck_total, 2);
	assert_true(st.oldest_running_ns >= 30 * MS_NS);

	gate_open();
	drain_all(p);
	check_ran_once(&a);
	check_ran_once(&c);
	assert_true(a.stuck_at_done && c.stuck_at_done);
	pool_stats(p, &st);
	assert_int_equal(st.stuck, 0);
	assert_int_equal(st.stuck_total, 2);
	assert_int_equal(st.oldest_running_ns, 0);

	/* Submitted again, the item starts afresh. */
	a.block = false;
	submit(p, &a, POOL_LANE_WORK);
	deliver_until(p, &a.done_calls, 2);
	assert_false(a.stuck_at_done);
	pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_invalid, setup),
		cmocka_unit_test_setup(test_threads_and_status, setup),
		cmocka_unit_test_setup(test_fifo, setup),
		cmocka_unit_test_setup(test_cancel_queued, setup),
		cmocka_unit_test_setup(test_cancel_running, setup),
		cmocka_unit_test_setup(test_cancel_saturated, setup),
		cmocka_unit_test_setup(test_batch, setup),
		cmocka_unit_test_setup(test_complete_while_delivering, setup),
		cmocka_unit_test_setup(test_deliver_rounds, setup),
		cmocka_unit_test_setup(test_store_lane, setup),
		cmocka_unit_test_setup(test_reentrant, setup),
		cmocka_unit_test_setup(test_stats_counters, setup),
		cmocka_unit_test_setup(test_stats_times, setup),
		cmocka_unit_test_setup(test_free_prompt, setup),
		cmocka_unit_test_setup(test_stuck, setup),
	};

	loop_thread = pthread_self();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
