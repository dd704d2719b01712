/*
 * pool.c - the worker pool: nthreads work threads sharing one queue, one
 * store-lane thread with a queue of its own, and the done list through
 * which finished and cancelled items go back to the loop thread.
 *
 * Lock order.  There are two locks and no thread ever holds both:
 *
 *   1. pool->lock       both lanes' queues, idle and wake-up counts, item
 *                       states and stuck marks, each thread's running
 *                       item, busy, the counters and histograms, stop.
 *   2. pool->done_lock  the done list and whether the eventfd was written.
 *
 * If a future change must nest them, take them in this order.  A worker
 * takes pool->lock once per job: in one critical section it accounts the
 * job it ran and takes the next one.  It then pushes the finished job on
 * the done list under done_lock alone.  Since the accounting comes first,
 * pool_stats counts an item as completed before its done() can run.
 *
 * Wake-ups of the loop: the eventfd is written, with no lock held, by the
 * thread whose push made the done list go from empty to non-empty, and
 * only by the first one since pool_deliver last drained it (done_signalled,
 * like libuv's async pending flag): a loop that empties the list quickly
 * then costs workers no write(2) per job.  pool_deliver drains the eventfd
 * before it clears the flag and swaps the list out, so every item pushed
 * after a swap is covered by a write that comes after the drain.
 *
 * The loop thread alone, unlocked: inflight, and an item from the moment
 * pool_deliver takes it off the done list.
 *
 * Stuck work: each thread's running item is published under pool->lock,
 * so that pool_take_stuck (loop thread) can look at every running item's
 * start in one short critical section, O(threads), and pool_stats can give
 * the oldest one's age.  Workers pay one pointer store per job for it.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

/* pool_work.state.  0 is idle so that a zeroed item is a fresh one. */
enum {
	ITEM_IDLE = 0,
	ITEM_QUEUED,
	ITEM_RUNNING,
	ITEM_DONE
};

/*
 * pool_deliver swaps the done list out at most this many times per call:
 * enough to catch up with workers finishing short jobs without another
 * trip through poll, few enough that a stream of completions cannot keep
 * the loop from its other phases.
 */
#define DELIVER_ROUNDS 8

#define CACHE_LINE 64

struct lane {
	struct pool_work *head, *tail;
	uint64_t len;
	unsigned idle;    /* workers of this lane in pthread_cond_wait */
	unsigned wakeups; /* signals not yet matched by a waiter's return */
	pthread_cond_t cond;
};

struct pool_thread {
	pthread_t tid;
	struct pool *pool;
	struct lane *lane;
	struct pool_work *running; /* under pool->lock */
};

/* The padding before done_lock and efd is the point. */
struct pool { /* NOLINT(clang-analyzer-optin.performance.Padding) */
	/* Under lock. */
	pthread_mutex_t lock;
	struct lane lane[2];
	unsigned busy;
	bool stop;
	uint64_t completed, cancelled;
	uint64_t stuck, stuck_total; /* reported: still running, in all */
	struct hist wait, run;

	/* Under done_lock, on lines of their own: the loop takes it while
	 * workers take the one above. */
	_Alignas(CACHE_LINE) pthread_mutex_t done_lock;
	struct pool_work *done_head, *done_tail;
	/* Written under done_lock; read unlocked by pool_has_done. */
	atomic_bool done_signalled;

	/* Set by pool_new, then read-only. */
	_Alignas(CACHE_LINE) int efd;
	unsigned nthreads; /* the store-lane thread included */
	struct pool_thread *threads;

	/* The loop thread's. */
	uint64_t inflight;
};

static void mutex_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) != 0)
		abort();
}

static void mutex_unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m) != 0)
		abort();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void notify(struct pool *p)
{
	uint64_t one = 1;

	while (write(p->efd, &one, sizeof(one)) < 0) {
		if (errno == EAGAIN) /* counter saturated: readable anyway */
			return;
		if (errno != EINTR)
			abort();
	}
}

static void drain(struct pool *p)
{
	uint64_t n;

	while (read(p->efd, &n, sizeof(n)) < 0) {
		if (errno == EAGAIN)
			return;
		if (errno != EINTR)
			abort();
	}
}

/*
 * Appends the chain first..last (linked by next) to the done list.
 * Returns true if the caller must write the eventfd, once it holds no
 * lock: the list was empty and nobody has written it since the last drain.
 */
static bool done_push(struct pool *p, struct pool_work *first,
		      struct pool_work *last)
{
	bool must_notify;

	last->next = NULL;
	mutex_lock(&p->done_lock);
	if (p->done_head == NULL)
		p->done_head = first;
	else
		p->done_tail->next = first;
	p->done_tail = last;
	must_notify =
		p->done_head == first &&
		!atomic_load_explicit(&p->done_signalled, memory_order_relaxed);
	if (must_notify)
		atomic_store_explicit(&p->done_signalled, true,
				      memory_order_release);
	mutex_unlock(&p->done_lock);
	return must_notify;
}

static void lane_append(struct lane *l, struct pool_work *w)
{
	w->next = NULL;
	w->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	l->len++;
}

static void lane_unlink(struct lane *l, struct pool_work *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->prev = w->next = NULL;
	l->len--;
}

/*
 * pool->lock held.  Returns when the lane has work or the pool stops.
 *
 * Out of work, a worker first gives up its CPU once.  With more threads
 * than CPUs the thread that wants it is usually the loop, submitting; the
 * worker then often finds more work on its second look instead of paying
 * for a futex sleep and a wake-up per job.  Measured on 2 CPUs, 4 workers,
 * 100,000 no-op jobs: about a third off the median time.
 */
static void wait_locked(struct pool *p, struct lane *l)
{
	bool yielded = false;

	while (l->head == NULL && !p->stop) {
		if (!yielded) {
			yielded = true;
			mutex_unlock(&p->lock);
			sched_yield();
			mutex_lock(&p->lock);
			continue;
		}
		l->idle++;
		if (pthread_cond_wait(&l->cond, &p->lock) != 0)
			abort();
		l->idle--;
		/* Spurious wake-ups make this undercount: more signals,
		 * never fewer than needed. */
		if (l->wakeups > 0)
			l->wakeups--;
	}
}

/*
 * pool->lock held.  t's lane's first item, now t's running one, or NULL.
 * `now` is when the worker's previous job ended, or 0 if unknown: reusing
 * it saves a clock read under the lock, and moves the few nanoseconds it
 * took to get the lock from the wait figure to the run figure.
 */
static struct pool_work *take_locked(struct pool *p, struct pool_thread *t,
				     uint64_t now)
{
	struct lane *l = t->lane;
	struct pool_work *w = l->head;

	if (w == NULL)
		return NULL;
	lane_unlink(l, w);
	w->state = ITEM_RUNNING;
	t->running = w;
	if (now == 0)
		now = now_ns();
	w->started_ns = now > w->queued_ns ? now : w->queued_ns;
	hist_add(&p->wait, w->started_ns - w->queued_ns);
	p->busy++;
	return w;
}

/* pool->lock held.  Accounts t's running item w, which ran until `end`. */
static void finish_locked(struct pool *p, struct pool_thread *t,
			  struct pool_work *w, uint64_t end)
{
	t->running = NULL;
	if (w->stuck)
		p->stuck--;
	p->busy--;
	p->completed++;
	hist_add(&p->run, end - w->started_ns);
	w->state = ITEM_DONE;
}

static void *pool_thread_main(void *arg)
{
	struct pool_thread *t = arg;
	struct pool *p = t->pool;
	struct pool_work *w = NULL, *next;
	uint64_t end = 0;

	for (;;) {
		bool stop;

		mutex_lock(&p->lock);
		if (w != NULL) {
			finish_locked(p, t, w, end);
		} else {
			wait_locked(p, t->lane);
			end = 0;
		}
		stop = p->stop;
		next = stop ? NULL : take_locked(p, t, end);
		mutex_unlock(&p->lock);
		if (w != NULL && done_push(p, w, w))
			notify(p);
		if ((w = next) != NULL) {
			w->status = w->work(w);
			end = now_ns();
		} else if (stop) {
			return NULL;
		}
	}
}

/* Workers take no signals: those are the loop's, through libevent. */
static int start_thread(struct pool *p, struct pool_thread *t, struct lane *l)
{
	sigset_t all, old;
	int rc;

	t->pool = p;
	t->lane = l;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->tid, NULL, pool_thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		pthread_setname_np(t->tid, l == &p->lane[POOL_LANE_STORE]
						   ? "loopd-store"
						   : "loopd-work");
	return -rc;
}

/* Stops and joins the first n threads. */
static void stop_threads(struct pool *p, unsigned n)
{
	mutex_lock(&p->lock);
	p->stop = true;
	for (unsigned i = 0; i < 2; i++)
		pthread_cond_broadcast(&p->lane[i].cond);
	mutex_unlock(&p->lock);
	for (unsigned i = 0; i < n; i++)
		if (pthread_join(p->threads[i].tid, NULL) != 0)
			abort();
}

static void destroy(struct pool *p)
{
	if (p->efd >= 0)
		close(p->efd);
	for (unsigned i = 0; i < 2; i++)
		pthread_cond_destroy(&p->lane[i].cond);
	pthread_mutex_destroy(&p->done_lock);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

static int init_sync(struct pool *p)
{
	/* glibc's never fail; elsewhere only for want of memory. */
	if (pthread_mutex_init(&p->lock, NULL) != 0 ||
	    pthread_mutex_init(&p->done_lock, NULL) != 0 ||
	    pthread_cond_init(&p->lane[0].cond, NULL) != 0 ||
	    pthread_cond_init(&p->lane[1].cond, NULL) != 0)
		abort();
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return p->efd < 0 ? -errno : 0;
}

int pool_new(struct pool **out, unsigned nthreads)
{
	struct pool *p;
	int rc;

	*out = NULL;
	if (nthreads < 1 || nthreads > POOL_MAX_THREADS)
		return -EINVAL;
	/* aligned_alloc: calloc does not promise the cache-line alignment. */
	if ((p = aligned_alloc(_Alignof(struct pool), sizeof(*p))) == NULL)
		abort();
	memset(p, 0, sizeof(*p));
	if ((p->threads = calloc(nthreads + 1, sizeof(*p->threads))) == NULL)
		abort();
	p->efd = -1;
	hist_reset(&p->wait);
	hist_reset(&p->run);
	if ((rc = init_sync(p)) < 0) {
		destroy(p);
		return rc;
	}
	for (unsigned i = 0; i <= nthreads; i++) {
		rc = start_thread(p, &p->threads[i],
				  &p->lane[i < nthreads ? POOL_LANE_WORK
							: POOL_LANE_STORE]);
		if (rc < 0) {
			stop_threads(p, i);
			destroy(p);
			return rc;
		}
	}
	p->nthreads = nthreads + 1;
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	stop_threads(p, p->nthreads);
	destroy(p);
}

int pool_fd(const struct pool *p)
{
	return p->efd;
}

/*
 * pool->lock held, an item just queued on l.  Wakes an idle worker unless
 * enough are already on their way: one per queued item at most.  Busy
 * workers are not counted, since their job may be long.
 *
 * The signal is sent with the lock held, as libuv does.  The decision and
 * the signal are then one step, which keeps wakeups easy to reason about,
 * and a woken worker that preempts the loop thread blocks on the lock at
 * once, so the loop goes on submitting and the worker later finds a batch.
 * (Signalled after unlocking, without the yield in wait_locked, the
 * slowest bursts of short jobs took several times as long.)
 */
static void wake_locked(struct lane *l)
{
	if (l->idle > l->wakeups && l->len > l->wakeups) {
		l->wakeups++;
		pthread_cond_signal(&l->cond);
	}
}

int pool_submit(struct pool *p, struct pool_work *w, enum pool_lane lane)
{
	struct lane *l;

	if (w == NULL || w->work == NULL || w->done == NULL ||
	    (lane != POOL_LANE_WORK && lane != POOL_LANE_STORE))
		return -EINVAL;
	l = &p->lane[lane];
	w->lane = (uint8_t)lane;
	w->stuck = false;
	w->status = 0;
	w->queued_ns = now_ns();
	mutex_lock(&p->lock);
	lane_append(l, w);
	w->state = ITEM_QUEUED;
	wake_locked(l);
	mutex_unlock(&p->lock);
	p->inflight++;
	return 0;
}

int pool_cancel(struct pool *p, struct pool_work *w)
{
	mutex_lock(&p->lock);
	if (w->state != ITEM_QUEUED) {
		mutex_unlock(&p->lock);
		return -EBUSY;
	}
	lane_unlink(&p->lane[w->lane], w);
	w->state = ITEM_DONE;
	w->status = -ECANCELED;
	p->cancelled++;
	mutex_unlock(&p->lock);
	if (done_push(p, w, w))
		notify(p);
	return 0;
}

/* pool->lock held.  Marks every item of l cancelled, appends the lane's
 * chain to first..last and empties the lane.  Returns how many. */
static unsigned cancel_lane_locked(struct lane *l, struct pool_work **first,
				   struct pool_work **last)
{
	unsigned n = 0;

	if (l->head == NULL)
		return 0;
	for (struct pool_work *w = l->head; w != NULL; w = w->next, n++) {
		w->state = ITEM_DONE;
		w->status = -ECANCELED;
	}
	if (*last != NULL)
		(*last)->next = l->head;
	else
		*first = l->head;
	*last = l->tail;
	l->head = l->tail = NULL;
	l->len = 0;
	return n;
}

unsigned pool_cancel_all(struct pool *p)
{
	struct pool_work *first = NULL, *last = NULL;
	unsigned n;

	mutex_lock(&p->lock);
	n = cancel_lane_locked(&p->lane[POOL_LANE_WORK], &first, &last);
	n += cancel_lane_locked(&p->lane[POOL_LANE_STORE], &first, &last);
	p->cancelled += n;
	mutex_unlock(&p->lock);
	if (n > 0 && done_push(p, first, last))
		notify(p);
	return n;
}

/* The whole done list.  `rearm` after a drain: the next push writes the
 * eventfd again. */
static struct pool_work *done_take(struct pool *p, bool rearm)
{
	struct pool_work *list;

	mutex_lock(&p->done_lock);
	list = p->done_head;
	p->done_head = p->done_tail = NULL;
	if (rearm)
		atomic_store_explicit(&p->done_signalled, false,
				      memory_order_relaxed);
	mutex_unlock(&p->done_lock);
	return list;
}

/* Calls done() for each item of the list, in order.  done() may submit or
 * cancel, even the item it was given, so next is read first. */
static unsigned deliver_list(struct pool *p, struct pool_work *w)
{
	struct pool_work *next;
	unsigned n = 0;

	for (; w != NULL; w = next, n++) {
		next = w->next;
		w->prev = w->next = NULL;
		w->state = ITEM_IDLE;
		p->inflight--;
		w->done(w, w->status);
	}
	return n;
}

/*
 * If the rounds run out with items left, no write is owed: each was pushed
 * after the first swap, so it was announced by a write after the drain
 * and the eventfd is still readable.
 */
unsigned pool_deliver(struct pool *p)
{
	struct pool_work *list;
	unsigned n = 0;

	drain(p);
	list = done_take(p, true);
	for (unsigned round = 1; list != NULL; round++) {
		n += deliver_list(p, list);
		if (round == DELIVER_ROUNDS)
			break;
		list = done_take(p, false);
	}
	return n;
}

bool pool_has_done(struct pool *p)
{
	return atomic_load_explicit(&p->done_signalled, memory_order_acquire);
}

uint64_t pool_inflight(const struct pool *p)
{
	return p->inflight;
}

/* pool->lock held.  How long running w has run at `now`, read before the
 * lock was taken: w may have started a little later. */
static uint64_t ran_ns(const struct pool_work *w, uint64_t now)
{
	return now > w->started_ns ? now - w->started_ns : 0;
}

void pool_stats(struct pool *p, struct pool_stats *out)
{
	uint64_t now = now_ns();

	mutex_lock(&p->lock);
	out->threads = p->nthreads;
	out->busy = p->busy;
	out->queued = p->lane[0].len + p->lane[1].len;
	out->completed = p->completed;
	out->cancelled = p->cancelled;
	out->wait_p50_ns = hist_quantile(&p->wait, 0.50);
	out->wait_p99_ns = hist_quantile(&p->wait, 0.99);
	out->run_p50_ns = hist_quantile(&p->run, 0.50);
	out->run_p99_ns = hist_quantile(&p->run, 0.99);
	out->stuck = p->stuck;
	out->stuck_total = p->stuck_total;
	out->oldest_running_ns = 0;
	for (unsigned i = 0; i < p->nthreads; i++) {
		const struct pool_work *w = p->threads[i].running;
		if (w != NULL && ran_ns(w, now) > out->oldest_running_ns)
			out->oldest_running_ns = ran_ns(w, now);
	}
	mutex_unlock(&p->lock);
}

/* pool->lock held.  How long until w, which has run `ran`, is stuck. */
static uint64_t stuck_in(const struct pool_work *w, uint64_t ran,
			 uint64_t limit_ns)
{
	return w->stuck ? limit_ns : ran >= limit_ns ? 0 : limit_ns - ran;
}

unsigned pool_take_stuck(struct pool *p, uint64_t limit_ns,
			 struct pool_stuck *out, unsigned max,
			 uint64_t *next_ns)
{
	uint64_t now = now_ns(), next = limit_ns;
	unsigned n = 0;

	mutex_lock(&p->lock);
	for (unsigned i = 0; limit_ns > 0 && i < p->nthreads; i++) {
		struct pool_work *w = p->threads[i].running;
		uint64_t ran;

		if (w == NULL)
			continue;
		ran = ran_ns(w, now);
		if (!w->stuck && ran >= limit_ns && n < max) {
			w->stuck = true;
			p->stuck++;
			p->stuck_total++;
			out[n++] = (struct pool_stuck){ w, ran };
		}
		if (stuck_in(w, ran, limit_ns) < next)
			next = stuck_in(w, ran, limit_ns);
	}
	mutex_unlock(&p->lock);
	if (next_ns != NULL)
		*next_ns = next;
	return n;
}

bool pool_work_stuck(const struct pool_work *w)
{
	return w->stuck;
}
