/*
 * test_timer.c - unit tests for the timer queue (daemon/timer.c).
 *
 * Small hand-written cases pin the contract; a seeded random test checks
 * every pop against a sorted array (LOOPD_TEST_SEED reproduces a run); a
 * 1M-timer test catches anything quadratic.
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

#include "testseed.h"

#include "timer.h"

static unsigned test_seed;

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct timer_queue *q = malloc(sizeof(*q));

	if (!q || timer_queue_init(q) < 0) {
		free(q);
		return -1;
	}
	*state = q;
	return 0;
}

static int teardown(void **state)
{
	struct timer_queue *q = *state;

	assert_int_equal(timer_queue_check(q), 0);
	timer_queue_free(q);
	free(q);
	return 0;
}

static void add_ok(struct timer_queue *q, struct timer_node *n, uint64_t now,
		   uint64_t timeout)
{
	assert_int_equal(timer_queue_add(q, n, now, timeout), 0);
	assert_true(timer_node_queued(n));
}

static void expect_pops(struct timer_queue *q, uint64_t now,
			struct timer_node **want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		assert_int_equal(timer_queue_check(q), 0);
		assert_ptr_equal(timer_queue_peek(q), want[i]);
		assert_ptr_equal(timer_queue_pop_due(q, now, UINT64_MAX),
				 want[i]);
		assert_false(timer_node_queued(want[i]));
	}
	assert_null(timer_queue_pop_due(q, now, UINT64_MAX));
}

static void test_empty(void **state)
{
	struct timer_queue *q = *state;

	assert_null(timer_queue_peek(q));
	assert_null(timer_queue_pop_due(q, UINT64_MAX, UINT64_MAX));
	assert_int_equal(q->count, 0);
}

/* Equal deadlines fire in start order, across lists of different durations. */
static void test_order(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 };
	struct timer_node *want[] = { &d, &a, &b, &c, &e };

	add_ok(q, &a, 0, 10);
	add_ok(q, &b, 0, 10);
	add_ok(q, &c, 5, 5); /* due 10 too, started later */
	add_ok(q, &d, 5, 3); /* due 8 */
	add_ok(q, &e, 5, 6); /* due 11 */
	assert_int_equal(a.due, 10);
	assert_true(a.seq < b.seq && b.seq < c.seq && c.seq < d.seq);
	assert_int_equal(q->count, 5);
	expect_pops(q, 11, want, 5);
	assert_int_equal(q->count, 0);
}

static void test_not_due(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 };

	add_ok(q, &a, 100, 0);
	add_ok(q, &b, 100, 50);
	assert_null(timer_queue_pop_due(q, 99, UINT64_MAX));
	assert_ptr_equal(timer_queue_pop_due(q, 100, UINT64_MAX), &a);
	assert_null(timer_queue_pop_due(q, 149, UINT64_MAX));
	assert_ptr_equal(timer_queue_peek(q), &b);
	assert_ptr_equal(timer_queue_pop_due(q, 150, UINT64_MAX), &b);
	assert_null(timer_queue_pop_due(q, UINT64_MAX, UINT64_MAX));
}

/* A timer started during the timers phase waits for the next phase. */
static void test_seq_limit(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 }, c = { 0 };
	uint64_t limit;

	add_ok(q, &a, 0, 0);
	add_ok(q, &b, 0, 0);
	limit = q->next_seq;
	assert_ptr_equal(timer_queue_pop_due(q, 0, limit), &a);
	add_ok(q, &c, 0, 0); /* started by a's callback */
	assert_ptr_equal(timer_queue_pop_due(q, 0, limit), &b);
	assert_null(timer_queue_pop_due(q, 0, limit));
	assert_ptr_equal(timer_queue_peek(q), &c);
	assert_null(timer_queue_pop_due(q, 0, c.seq));
	assert_ptr_equal(timer_queue_pop_due(q, 0, c.seq + 1), &c);
}

static void test_remove(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node n[6] = { { 0 } };
	struct timer_node *want[] = { &n[1], &n[3], &n[5] };
	int i;

	for (i = 0; i < 5; i++)
		add_ok(q, &n[i], 0, 10);
	add_ok(q, &n[5], 0, 20);      /* another list */
	timer_queue_remove(q, &n[0]); /* head: re-keys the list */
	assert_int_equal(timer_queue_check(q), 0);
	timer_queue_remove(q, &n[2]); /* middle */
	assert_int_equal(timer_queue_check(q), 0);
	timer_queue_remove(q, &n[4]); /* tail */
	assert_int_equal(timer_queue_check(q), 0);
	timer_queue_remove(q, &n[4]); /* not queued: no-op */
	assert_false(timer_node_queued(&n[0]));
	assert_false(timer_node_queued(&n[2]));
	assert_int_equal(q->count, 3);
	expect_pops(q, 100, want, 3);
}

/* Removing the only node of a list frees the list; the queue stays sound. */
static void test_remove_last_of_list(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 }, c = { 0 };
	struct timer_node *want[] = { &b, &c };

	add_ok(q, &a, 0, 5);
	add_ok(q, &b, 0, 7);
	add_ok(q, &c, 0, 9);
	timer_queue_remove(q, &a);
	assert_int_equal(q->heap_len, 2);
	assert_int_equal(q->map_len, 2);
	expect_pops(q, 100, want, 2);
	assert_int_equal(q->heap_len, 0);
	assert_int_equal(q->map_len, 0);
}

static void test_readd(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 };
	struct timer_node *want[] = { &b, &a };
	uint64_t seq;

	add_ok(q, &a, 0, 10);
	add_ok(q, &b, 0, 10);
	timer_queue_remove(q, &a);
	add_ok(q, &a, 0, 10); /* same deadline, now after b */
	expect_pops(q, 10, want, 2);

	/* Adding a queued node restarts it. */
	add_ok(q, &a, 10, 5);
	seq = a.seq;
	add_ok(q, &a, 12, 5);
	assert_int_equal(q->count, 1);
	assert_int_equal(a.due, 17);
	assert_true(a.seq > seq);
	assert_null(timer_queue_pop_due(q, 16, UINT64_MAX));
	assert_ptr_equal(timer_queue_pop_due(q, 17, UINT64_MAX), &a);
}

static void test_saturate(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 }, c = { 0 };
	struct timer_node *want[] = { &a, &b, &c };

	add_ok(q, &a, 10, UINT64_MAX);
	add_ok(q, &b, 20, UINT64_MAX - 5);
	add_ok(q, &c, 20, UINT64_MAX - 20);
	assert_int_equal(a.due, UINT64_MAX);
	assert_int_equal(b.due, UINT64_MAX);
	assert_int_equal(c.due, UINT64_MAX);
	assert_null(timer_queue_pop_due(q, UINT64_MAX - 1, UINT64_MAX));
	/* All due at UINT64_MAX: start order, whatever the duration. */
	expect_pops(q, UINT64_MAX, want, 3);
}

/*
 * Callers promise `now` never decreases; if it does anyway, the queue
 * still fires in (due, seq) order rather than corrupting the list.
 */
static void test_now_backwards(void **state)
{
	struct timer_queue *q = *state;
	struct timer_node a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct timer_node *want[] = { &c, &a, &d, &b };

	add_ok(q, &a, 100, 10); /* 110 */
	add_ok(q, &b, 105, 10); /* 115 */
	add_ok(q, &c, 50, 10);  /* 60: new head of the list */
	add_ok(q, &d, 101, 10); /* 111: between a and b */
	assert_int_equal(timer_queue_check(q), 0);
	expect_pops(q, 200, want, 4);
}

/* Freeing the queue leaves the caller's nodes unqueued. */
static void test_free_unqueues(void **state)
{
	struct timer_queue q2;
	struct timer_node a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(timer_queue_init(&q2), 0);
	add_ok(&q2, &a, 0, 1);
	add_ok(&q2, &b, 0, 2);
	timer_queue_free(&q2);
	assert_false(timer_node_queued(&a));
	assert_false(timer_node_queued(&b));
}

/* Many distinct durations: map growth, deletion and spare lists. */
static void test_many_lists(void **state)
{
	struct timer_queue *q = *state;
	enum {
		N = 5000
	};
	struct timer_node *n = calloc(N, sizeof(*n));
	uint64_t prev_due = 0;
	int i;

	assert_non_null(n);
	for (i = 0; i < N; i++)
		add_ok(q, &n[i], 0, (uint64_t)(N - i) * 1000);
	assert_int_equal(q->map_len, N);
	assert_int_equal(timer_queue_check(q), 0);
	for (i = 0; i < N; i += 2)
		timer_queue_remove(q, &n[i]);
	assert_int_equal(timer_queue_check(q), 0);
	for (i = 0; i < N / 2; i++) {
		struct timer_node *p =
			timer_queue_pop_due(q, UINT64_MAX, UINT64_MAX);

		assert_non_null(p);
		assert_true(p->due > prev_due);
		prev_due = p->due;
	}
	assert_null(timer_queue_peek(q));
	assert_int_equal(q->map_len, 0);
	assert_true(q->spare_len > 0);
	free(n);
}

/* The reference model: a sorted array of (due, seq, node). */
struct model_ent {
	uint64_t due, seq;
	struct timer_node *n;
};

struct model {
	struct model_ent *e;
	size_t len;
};

static int ent_lt(uint64_t due, uint64_t seq, const struct model_ent *e)
{
	return due < e->due || (due == e->due && seq < e->seq);
}

/* First index whose key is not below (due, seq). */
static size_t model_lower(const struct model *m, uint64_t due, uint64_t seq)
{
	size_t lo = 0, hi = m->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ent_lt(due, seq, &m->e[mid]) ||
		    (due == m->e[mid].due && seq == m->e[mid].seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void model_insert(struct model *m, struct timer_node *n)
{
	size_t i = model_lower(m, n->due, n->seq);

	memmove(&m->e[i + 1], &m->e[i], (m->len - i) * sizeof(m->e[0]));
	m->e[i] = (struct model_ent){ n->due, n->seq, n };
	m->len++;
}

static void model_erase(struct model *m, const struct timer_node *n)
{
	size_t i = model_lower(m, n->due, n->seq);

	assert_true(i < m->len);
	assert_ptr_equal(m->e[i].n, n);
	memmove(&m->e[i], &m->e[i + 1], (m->len - i - 1) * sizeof(m->e[0]));
	m->len--;
}

static uint64_t random_duration(void)
{
	static const uint64_t small[] = { 0, 1, 2, 5, 10, 100, 1000, 60000 };
	uint64_t r = rng_below(100);

	if (r < 55)
		return small[rng_below(sizeof(small) / sizeof(small[0]))];
	if (r < 97)
		return rng_below(UINT64_C(1) << 20);
	return UINT64_MAX - rng_below(1000); /* saturates */
}

struct model_run {
	struct timer_queue *q;
	struct model m;
	struct timer_node *nodes;
	size_t nnodes;
	uint64_t now;
	uint64_t pops;
};

static void model_add(struct model_run *r)
{
	struct timer_node *n = &r->nodes[rng_below(r->nnodes)];

	if (timer_node_queued(n))
		model_erase(&r->m, n); /* add restarts it */
	add_ok(r->q, n, r->now, random_duration());
	model_insert(&r->m, n);
}

static void model_remove(struct model_run *r)
{
	struct timer_node *n;

	if (r->m.len && rng_below(4))
		n = r->m.e[rng_below(r->m.len)].n; /* a queued one, mostly */
	else
		n = &r->nodes[rng_below(r->nnodes)];
	if (timer_node_queued(n))
		model_erase(&r->m, n);
	timer_queue_remove(r->q, n);
	assert_false(timer_node_queued(n));
}

static uint64_t random_seq_limit(struct model_run *r)
{
	uint64_t r4 = rng_below(4);

	if (r4 == 0 && r->m.len)
		return r->m.e[rng_below(r->m.len)].seq + rng_below(2);
	if (r4 == 1)
		return r->q->next_seq;
	return UINT64_MAX;
}

/* Pops as the loop does, up to a random number of nodes. */
static void model_pop(struct model_run *r)
{
	uint64_t limit = random_seq_limit(r);
	uint64_t k = rng_below(8);

	r->now += rng_below(10) ? rng_below(4) : rng_below(200000);
	while (k--) {
		struct timer_node *n = timer_queue_pop_due(r->q, r->now, limit);
		const struct model_ent *e = r->m.len ? &r->m.e[0] : NULL;

		if (!e || e->due > r->now || e->seq >= limit) {
			assert_null(n);
			return;
		}
		if (n != e->n)
			fail_msg("seed=%u: popped %p, model says %p "
				 "(due %" PRIu64 " seq %" PRIu64 ")",
				 test_seed, (void *)n, (void *)e->n, e->due,
				 e->seq);
		assert_false(timer_node_queued(n));
		model_erase(&r->m, n);
		r->pops++;
	}
}

static void model_step(struct model_run *r, uint64_t i)
{
	uint64_t op = rng_below(100);

	if (op < 45)
		model_add(r);
	else if (op < 65)
		model_remove(r);
	else
		model_pop(r);
	assert_int_equal(r->q->count, r->m.len);
	assert_ptr_equal(timer_queue_peek(r->q), r->m.len ? r->m.e[0].n : NULL);
	if (i % 1024 == 0)
		assert_int_equal(timer_queue_check(r->q), 0);
}

static void model_drain(struct model_run *r)
{
	size_t i;

	for (i = 0; i < r->m.len; i++)
		assert_ptr_equal(
			timer_queue_pop_due(r->q, UINT64_MAX, UINT64_MAX),
			r->m.e[i].n);
	r->m.len = 0;
	assert_null(timer_queue_peek(r->q));
	assert_int_equal(r->q->count, 0);
}

static void run_model(struct timer_queue *q, size_t nnodes, uint64_t ops)
{
	struct model_run r = { .q = q, .nnodes = nnodes };
	uint64_t i;

	r.nodes = calloc(nnodes, sizeof(*r.nodes));
	r.m.e = calloc(nnodes + 1, sizeof(*r.m.e));
	assert_non_null(r.nodes);
	assert_non_null(r.m.e);
	for (i = 0; i < ops; i++)
		model_step(&r, i);
	assert_int_equal(timer_queue_check(q), 0);
	model_drain(&r);
	assert_true(r.pops > ops / 20);
	free(r.m.e);
	free(r.nodes);
}

static void test_model(void **state)
{
	rng_state = test_seed;
	run_model(*state, 2000, 200000);
}

/* Few nodes: lists empty and refill all the time (spare-list path). */
static void test_model_small(void **state)
{
	rng_state = (uint64_t)test_seed * 31 + 7;
	run_model(*state, 12, 200000);
}

/* 1M timers per pattern: add, remove a third, pop the rest in order. */
static uint64_t pattern_duration(int pattern, uint32_t i)
{
	switch (pattern) {
	case 0: return 1000;
	case 1: return 1 + i % 1000;
	case 2: return 1 + ((uint64_t)i * 7919) % 1000;
	default: return 0;
	}
}

static void run_big(struct timer_node *n, uint32_t nn, int pattern, int advance)
{
	struct timer_queue q;
	struct timer_node *p, *prev = NULL;
	uint64_t popped = 0;
	uint32_t i;

	assert_int_equal(timer_queue_init(&q), 0);
	for (i = 0; i < nn; i++)
		add_ok(&q, &n[i], advance ? i / 1000 : 0,
		       pattern_duration(pattern, i));
	for (i = 1; i < nn; i += 3)
		timer_queue_remove(&q, &n[i]);
	assert_int_equal(timer_queue_check(&q), 0);
	while ((p = timer_queue_pop_due(&q, UINT64_MAX, UINT64_MAX))) {
		if (prev)
			assert_true(
				p->due > prev->due ||
				(p->due == prev->due && p->seq > prev->seq));
		prev = p;
		popped++;
	}
	assert_int_equal(popped, nn - nn / 3);
	assert_int_equal(q.count, 0);
	timer_queue_free(&q);
}

static void test_million(void **state)
{
	enum {
		NN = 1000000
	};
	struct timer_node *n = calloc(NN, sizeof(*n));
	double t0 = now_sec();
	int pattern, advance;

	(void)state;
	assert_non_null(n);
	for (pattern = 0; pattern < 4; pattern++)
		for (advance = 0; advance < 2; advance++)
			run_big(n, NN, pattern, advance);
	/* No time assertion (sanitizers, loaded CI); quadratic would hang. */
	printf("million: 8 runs of 1M timers in %.3f s\n", now_sec() - t0);
	free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_last_of_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saturate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_now_backwards, setup,
						teardown),
		cmocka_unit_test(test_free_unqueues),
		cmocka_unit_test_setup_teardown(test_many_lists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_small, setup,
						teardown),
		cmocka_unit_test(test_million),
	};

	test_seed = test_seed_pick();
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
