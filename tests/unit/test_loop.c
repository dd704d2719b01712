/*
 * test_loop.c - the loop's own API, without plugins: ids and their error
 * answers, liveness, posts from other threads, cancellation and stats.
 * Also runs under ThreadSanitizer (label tsan), which is where the post
 * queue and the pool's completion path are checked for races.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

/* The daemon's own handles have no plugin; these hooks are never reached
 * with a plugin here, but the core library needs them defined once, in
 * plugin.c, which this test links. */

static struct loop *L;
static char trace[256];

static void append(const char *s)
{
	strncat(trace, s, sizeof(trace) - strlen(trace) - 1);
}

static int setup(void **state)
{
	trace[0] = 0;
	return loop_new(&L, 2);
}

static int teardown(void **state)
{
	loop_free(L);
	L = NULL;
	return 0;
}

static void cb_append(loopd_plugin *p, void *ud)
{
	append(ud);
}

static void test_empty_loop_exits(void **state)
{
	assert_false(loop_alive(L));
	assert_int_equal(loop_run(L), 0);
}

static void test_ids(void **state)
{
	loopd_id t = loop_timer(L, NULL, 0, 0, cb_append, "t");
	loopd_id i = loop_immediate(L, NULL, cb_append, "i");
	assert_true(t > 0 && i > 0 && t != i);
	assert_int_equal(loop_close(L, NULL, 999999, NULL), -ENOENT);
	assert_int_equal(loop_ref(L, NULL, -5, 0), -ENOENT);
	assert_int_equal(loop_cancel(L, NULL, t), -ENOENT); /* not a job */
	loop_run(L);
	assert_string_equal(trace, "ti");
	/* Fired one-shots are gone. */
	assert_int_equal(loop_close(L, NULL, t, NULL), -ENOENT);
	assert_int_equal(loop_close(L, NULL, i, NULL), -ENOENT);
}

static int work_ok(void *ud)
{
	return 7;
}

static void done_record(loopd_plugin *p, void *ud, int status)
{
	*(int *)ud = status;
}

static void test_job_ids(void **state)
{
	int status = 0;
	loopd_id j = loop_submit(L, NULL, work_ok, done_record, &status);
	assert_true(j > 0);
	assert_int_equal(loop_close(L, NULL, j, NULL), -EINVAL);
	assert_int_equal(loop_ref(L, NULL, j, 0), -EINVAL);
	loop_run(L);
	assert_int_equal(status, 7);
	/* A finished job is busy, not unknown. */
	assert_int_equal(loop_cancel(L, NULL, j), -EBUSY);
	assert_int_equal(loop_cancel(L, NULL, j + 8 * 1000), -ENOENT);
}

static void test_unref_does_not_keep_alive(void **state)
{
	loopd_id t = loop_timer(L, NULL, 10, 10, cb_append, "x");
	assert_true(loop_alive(L));
	assert_int_equal(loop_ref(L, NULL, t, 0), 0);
	assert_false(loop_alive(L));
	assert_int_equal(loop_run(L), 0);
	assert_string_equal(trace, "");
	assert_int_equal(loop_ref(L, NULL, t, 1), 0);
	assert_true(loop_alive(L));
	assert_int_equal(loop_close(L, NULL, t, cb_append), 0);
	assert_true(loop_alive(L)); /* until its close callback has run */
	loop_run(L);
	assert_string_equal(trace, "x");
}

static void *poster(void *arg)
{
	for (int i = 0; i < 1000; i++)
		assert_int_equal(loop_post(L, NULL, cb_append, ""), 0);
	return NULL;
}

static int posts_seen;
static pthread_t loop_thread;

static void count_post(loopd_plugin *p, void *ud)
{
	assert_true(pthread_equal(pthread_self(), loop_thread));
	if (++posts_seen == 4000)
		loop_close(L, NULL, *(loopd_id *)ud, NULL);
}

static void *poster_count(void *arg)
{
	for (int i = 0; i < 1000; i++)
		assert_int_equal(loop_post(L, NULL, count_post, arg), 0);
	return NULL;
}

static void test_posts_from_threads(void **state)
{
	pthread_t th[4];
	loop_thread = pthread_self();
	/* A referenced timer keeps the loop up while the threads post. */
	static loopd_id keep;
	keep = loop_timer(L, NULL, 60000, 0, cb_append, "never");
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, poster_count, &keep);
	loop_run(L);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(posts_seen, 4000);
	assert_false(loop_alive(L));
	(void)poster;
}

static int block_fd[2];

static int work_block(void *ud)
{
	char c;
	return (int)read(block_fd[0], &c, 1);
}

static void test_cancel(void **state)
{
	int st[8] = { 0 };
	loopd_id ids[8];
	assert_int_equal(pipe(block_fd), 0);
	/* Two workers: block both, then queue six more and cancel them. */
	for (int i = 0; i < 8; i++)
		ids[i] = loop_submit(L, NULL, work_block, done_record, &st[i]);
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	nanosleep(&ts, NULL); /* let both workers take a job */
	for (int i = 2; i < 8; i++)
		assert_int_equal(loop_cancel(L, NULL, ids[i]), 0);
	assert_int_equal(loop_cancel(L, NULL, ids[0]), -EBUSY);
	assert_int_equal(loop_cancel(L, NULL, ids[1]), -EBUSY);
	assert_int_equal(write(block_fd[1], "ab", 2), 2);
	loop_run(L);
	assert_int_equal(st[0], 1);
	assert_int_equal(st[1], 1);
	for (int i = 2; i < 8; i++)
		assert_int_equal(st[i], -ECANCELED);
	close(block_fd[0]);
	close(block_fd[1]);
}

static uint64_t fired_at[64], started_at[64], timeouts[64];

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void record_fire(loopd_plugin *p, void *ud)
{
	fired_at[(intptr_t)ud] = mono_ms();
}

static void test_never_early_and_stats(void **state)
{
	for (intptr_t i = 0; i < 64; i++) {
		timeouts[i] = (uint64_t)(i % 16) * 3;
		started_at[i] = mono_ms();
		assert_true(loop_timer(L, NULL, timeouts[i], 0, record_fire,
				       (void *)i) > 0);
	}
	loop_run(L);
	for (int i = 0; i < 64; i++)
		assert_true(fired_at[i] >= started_at[i] + timeouts[i]);
	struct loop_stats st;
	loop_stats(L, &st);
	assert_true(st.iterations > 1);
	assert_int_equal(st.phase_callbacks[PHASE_TIMERS], 64);
	assert_int_equal(st.events, 64);
	assert_true(st.lag_max_us >= st.lag_p99_us);
	assert_int_equal(st.timers, 0);
	assert_int_equal(st.handles, 0);
	assert_string_equal(st.slowest_owner, "loopd");
}

static void closing_in_close(loopd_plugin *p, void *ud)
{
	append("c");
	loopd_id id = loop_immediate(L, NULL, cb_append, "never");
	assert_int_equal(loop_close(L, NULL, id, cb_append), 0);
}

static void test_close_inside_close_waits(void **state)
{
	loopd_id t = loop_timer(L, NULL, 1000, 0, cb_append, "t");
	assert_int_equal(loop_close(L, NULL, t, closing_in_close), 0);
	loop_run(L);
	/* The immediate closed from a close callback never ran; its own
	 * close callback (appending its ud) ran in the next iteration. */
	assert_string_equal(trace, "cnever");
	struct loop_stats st;
	loop_stats(L, &st);
	assert_int_equal(st.iterations, 2);
}

static void hold_loop(loopd_plugin *p, void *ud)
{
	struct timespec ts = { 0, 800 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

/* The watchdog thread names a callback that holds the loop past 500 ms,
 * once, and not a quick one. */
static void test_watchdog(void **state)
{
	assert_true(loop_timer(L, NULL, 0, 0, cb_append, "quick") > 0);
	assert_true(loop_timer(L, NULL, 1, 0, hold_loop, NULL) > 0);
	loop_run(L);
	struct loop_stats st;
	loop_stats(L, &st);
	assert_int_equal(st.watchdog_reports, 1);
}

static struct {
	unsigned calls;
	struct loop_stuck s;
	char plugin[16], work[128];
} stuck_rec;

static void on_stuck(void *ud, const struct loop_stuck *s)
{
	stuck_rec.calls++;
	stuck_rec.s = *s;
	snprintf(stuck_rec.plugin, sizeof(stuck_rec.plugin), "%s", s->plugin);
	snprintf(stuck_rec.work, sizeof(stuck_rec.work), "%s", s->work);
}

static void unblock(loopd_plugin *p, void *ud)
{
	assert_int_equal(write(block_fd[1], "a", 1), 1);
}

/* A job past stuck-after is reported once, with its id, while it runs;
 * the check keeps no loop alive; 0 turns it off. */
static void test_stuck(void **state)
{
	int st[2] = { 0 };
	memset(&stuck_rec, 0, sizeof(stuck_rec));
	assert_int_equal(pipe(block_fd), 0);
	loop_set_stuck_after(L, 50, on_stuck, NULL);
	loopd_id quick = loop_submit(L, NULL, work_ok, done_record, &st[0]);
	loopd_id slow = loop_submit(L, NULL, work_block, done_record, &st[1]);
	assert_true(quick > 0 && slow > 0);
	assert_true(loop_timer(L, NULL, 300, 0, unblock, NULL) > 0);
	uint64_t t0 = mono_ms();
	assert_int_equal(loop_run(L), 0);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(st[0], 7);
	assert_int_equal(st[1], 1);
	assert_int_equal(stuck_rec.calls, 1);
	assert_int_equal(stuck_rec.s.job, slow);
	assert_null(stuck_rec.s.owner);
	assert_string_equal(stuck_rec.plugin, "loopd");
	assert_true(stuck_rec.work[0] != 0);
	/* Checked before the unblocking timer, due later, runs. */
	assert_true(stuck_rec.s.running_ms >= 50);
	assert_int_equal(stuck_rec.s.limit_ms, 50);

	loop_set_stuck_after(L, 0, on_stuck, NULL);
	assert_true(loop_submit(L, NULL, work_block, done_record, &st[1]) > 0);
	assert_true(loop_timer(L, NULL, 150, 0, unblock, NULL) > 0);
	assert_int_equal(loop_run(L), 0);
	assert_int_equal(stuck_rec.calls, 1);
	close(block_fd[0]);
	close(block_fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_loop_exits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unref_does_not_keep_alive,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_posts_from_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_early_and_stats,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_inside_close_waits,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
