/*
 * loop.c - the event loop.  One iteration is five phases, in the Node.js
 * order (ARCHITECTURE.md):
 *
 *   1. timers   Run due timers in (due, start seq) order.  Timers started
 *               during this phase, even with timeout 0, wait for the next
 *               iteration.
 *   2. pending  Run callbacks deferred before this phase began.
 *   3. poll     One libevent pass: fd watches, signals, pool completions
 *               and posts from other threads.  It blocks until the next
 *               timer is due; not at all if immediates, deferred or
 *               closing callbacks are queued; forever if there are none
 *               of these and no timer.
 *   4. check    Run immediates queued before this phase began.
 *   5. close    Run close callbacks of handles stopped before this phase
 *               began, and free the handles.
 *
 * The loop goes round while something referenced is left: an active
 * referenced handle, a job in the pool, a queued post, or a handle that
 * is closing.  Time is read before the timers phase and when poll returns,
 * and cached in between, so every callback of a phase sees the same now;
 * a new timer counts from a fresh reading, so it never fires early.
 *
 * Timers are loopd's own (timer.c), not one libevent event each: libevent
 * keeps time with CLOCK_MONOTONIC_COARSE by default and a heap per event.
 * libevent is used for what it does best: readiness of fds and signals.
 *
 * Handles never die inside their own callback.  Closing unlinks a handle
 * from wherever it waits, takes it out of the id table and queues it for
 * the close phase, which runs its on_close and frees it.
 */
#include "loop.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "slab.h"
#include "timer.h"
#include "watchdog.h"

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

const char *const loop_phase_names[PHASE_COUNT] = {
	"timers", "pending", "poll", "check", "close",
};

/* An id is (sequence << 3) | type, so a finished job's id can still be
 * told from an unknown one (cancel answers -EBUSY, not -ENOENT). */
enum htype {
	H_TIMER = 1,
	H_IMMEDIATE,
	H_DEFER,
	H_WATCH,
	H_WORK
};
#define ID_TYPE_BITS 3
#define ID_TYPE(id)  ((int)((id) & ((1 << ID_TYPE_BITS) - 1)))
#define ID_SEQ(id)   ((uint64_t)(id) >> ID_TYPE_BITS)

/* A callback that holds the loop this long is logged (PLUGIN-API rule 5),
 * unless loop_set_watchdog says otherwise. */
#define LOOP_SLOW_CALLBACK_MS 500u

enum {
	HF_REF = 1,
	HF_ACTIVE = 2
};

struct handle {
	loopd_id id;
	loopd_plugin *owner;
	union {
		loopd_cb cb;
		loopd_io_cb io;
		loopd_done_fn done;
	} fn; /* on_close once closing */
	void *ud;
	uint8_t type, flags;
};

/* Circular doubly-linked list node, for the immediate and defer queues. */
struct qnode {
	struct qnode *prev, *next;
};

struct timer_handle {
	struct handle h;
	struct timer_node node;
	uint64_t repeat;
};

struct queue_handle { /* immediate or defer */
	struct handle h;
	struct qnode q;
};

struct watch_handle {
	struct handle h;
	struct event *ev;
	struct loop *loop;
};

struct work_handle {
	struct handle h;
	struct pool_work w;
	loopd_work_fn work;
	struct loop *loop;
};

struct post {
	struct post *next;
	loopd_plugin *owner;
	loopd_cb cb;
	void *ud;
};

/*
 * id -> handle: open addressing with Robin Hood linear probing, keyed by
 * the id's sequence.  Ids are allocated in order, so nearly every handle
 * sits in its home slot, and deletion stops at the first entry that is
 * home: plain linear probing would scan the whole run of live handles.
 */
struct htable {
	struct handle **slot;
	size_t cap, len;
};

struct hvec {
	struct handle **v;
	size_t len, cap;
};

struct loop {
	struct event_base *base;
	struct event *timer_ev, *pool_ev, *post_ev;
	int timer_fd;      /* ends a poll when the next timer is due */
	uint64_t armed_ns; /* what timer_fd is set to; 0: not armed */
	struct pool *pool;

	uint64_t now_ms, now_ns, start_ns, last_poll_ns;
	uint64_t nwatch;      /* active fd watches */
	bool poll_time_fresh; /* now was read since this poll began */
	uint64_t next_seq;
	uint64_t active_refs;
	enum loop_phase phase;
	bool stop;

	struct timer_queue timers;
	struct qnode immediates, defers;
	struct hvec closing, closing_run;
	struct htable table;
	struct slab slabs[H_WORK + 1]; /* handle memory, by type */

	pthread_mutex_t post_lock;
	struct post *post_head, **post_tail;
	atomic_uint_fast64_t posts_pending;
	int post_fd;

	struct watchdog wd;
	uint64_t stuck_ms; /* loop_set_stuck_after; 0: off */
	loopd_id stuck_timer;
	loop_stuck_fn stuck_fn;
	void *stuck_ud;
	struct loop_account core; /* the daemon's own handles */
	struct loop_stats st;
	uint64_t poll_cb_ns; /* callback time inside the current poll */
	struct hist lag_us;
};

static _Thread_local bool on_loop_thread;

/* ---- time ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_update_time(struct loop *l)
{
	l->now_ns = mono_ns();
	l->now_ms = l->now_ns / 1000000u;
	return l->now_ms;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now_ms;
}

/*
 * A fresh reading for starting a timer.  Rounded up to the next ms, so
 * that due = start + timeout never comes before start + timeout in real
 * time; but for timeout 0 rounded down, so that a 0 ms timer is due in
 * the very next timers phase.  Each duration has its own list in the
 * timer queue, and each sees its readings in order either way.
 */
static uint64_t start_ms(uint64_t timeout)
{
	uint64_t ns = mono_ns();
	return timeout ? (ns + 999999u) / 1000000u : ns / 1000000u;
}

bool loop_on_thread(void)
{
	return on_loop_thread;
}

struct event_base *loop_base(struct loop *l)
{
	return l->base;
}

struct pool *loop_pool(struct loop *l)
{
	return l->pool;
}

/* ---- the id table ---- */

static size_t ht_index(const struct htable *t, loopd_id id)
{
	return (size_t)ID_SEQ(id) & (t->cap - 1);
}

/* How far slot i is from the home of the handle in it. */
static size_t ht_dist(const struct htable *t, size_t i)
{
	return (i - ht_index(t, t->slot[i]->id)) & (t->cap - 1);
}

static struct handle *ht_get(const struct htable *t, loopd_id id)
{
	if (id <= 0)
		return NULL;
	size_t i = ht_index(t, id);
	for (size_t d = 0;; d++, i = (i + 1) & (t->cap - 1)) {
		struct handle *h = t->slot[i];
		if (!h || ht_dist(t, i) < d)
			return NULL; /* Robin Hood: it would have been here */
		if (h->id == id)
			return h;
	}
}

/* Places h, displacing entries closer to their home than h would be. */
static void ht_put_slot(struct htable *t, struct handle *h)
{
	size_t i = ht_index(t, h->id);
	for (size_t d = 0;; d++, i = (i + 1) & (t->cap - 1)) {
		if (!t->slot[i]) {
			t->slot[i] = h;
			return;
		}
		size_t dh = ht_dist(t, i);
		if (dh < d) {
			struct handle *evicted = t->slot[i];
			t->slot[i] = h;
			h = evicted;
			d = dh;
		}
	}
}

static int ht_grow(struct htable *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	struct handle **old = t->slot;
	size_t ocap = t->cap;
	t->slot = calloc(ncap, sizeof(*t->slot));
	if (!t->slot) {
		t->slot = old;
		return -ENOMEM;
	}
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			ht_put_slot(t, old[i]);
	free(old);
	return 0;
}

static int ht_put(struct htable *t, struct handle *h)
{
	/* Grow at 7/8 full: sequential keys rarely collide. */
	if ((t->len + 1) * 8 > t->cap * 7 && ht_grow(t) < 0)
		return -ENOMEM;
	ht_put_slot(t, h);
	t->len++;
	return 0;
}

/* Removes h and shifts the entries after it back until one is home. */
static void ht_del(struct htable *t, struct handle *h)
{
	size_t mask = t->cap - 1, i = ht_index(t, h->id);
	while (t->slot[i] != h)
		i = (i + 1) & mask;
	for (size_t j = (i + 1) & mask; t->slot[j] && ht_dist(t, j) > 0;
	     i = j, j = (j + 1) & mask)
		t->slot[i] = t->slot[j];
	t->slot[i] = NULL;
	t->len--;
}

/* ---- small containers ---- */

static void q_init(struct qnode *q)
{
	q->prev = q->next = q;
}

static bool q_empty(const struct qnode *q)
{
	return q->next == q;
}

static void q_push(struct qnode *head, struct qnode *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void q_unlink(struct qnode *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Moves every node of from to the (empty) to. */
static void q_move(struct qnode *from, struct qnode *to)
{
	q_init(to);
	if (q_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	q_init(from);
}

static int hvec_push(struct hvec *v, struct handle *h)
{
	if (v->len == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 64;
		struct handle **n = realloc(v->v, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		v->v = n;
		v->cap = ncap;
	}
	v->v[v->len++] = h;
	return 0;
}

/* ---- handles and accounting ---- */

static struct loop_account *account_of(struct loop *l, loopd_plugin *owner)
{
	return owner ? loop_owner_account(owner) : &l->core;
}

static bool h_counts(const struct handle *h)
{
	return (h->flags & (HF_REF | HF_ACTIVE)) == (HF_REF | HF_ACTIVE);
}

/* Changes h's flags, keeping the count of referenced active handles. */
static void h_flags(struct loop *l, struct handle *h, uint8_t set,
		    uint8_t clear)
{
	bool was = h_counts(h);
	h->flags = (uint8_t)((h->flags | set) & ~clear);
	l->active_refs += (uint64_t)h_counts(h) - (uint64_t)was;
}

/* Allocates a handle of size bytes with a fresh id, in the id table. */
static struct handle *h_new(struct loop *l, size_t size, int type,
			    loopd_plugin *owner, void *ud)
{
	struct handle *h = slab_alloc(&l->slabs[type]);
	if (!h)
		return NULL;
	h->id = (loopd_id)((++l->next_seq << ID_TYPE_BITS) | (uint64_t)type);
	h->owner = owner;
	h->ud = ud;
	h->type = (uint8_t)type;
	h->flags = HF_REF;
	if (ht_put(&l->table, h) < 0) {
		slab_free(&l->slabs[type], h);
		return NULL;
	}
	account_of(l, owner)->handles++;
	l->st.handles++;
	return h;
}

static void check_released(struct loop *l, loopd_plugin *owner)
{
	struct loop_account *a = account_of(l, owner);
	if (owner && a->handles == 0 && a->inflight == 0 &&
	    atomic_load(&a->posts) == 0)
		loop_owner_released(l, owner);
}

/* Frees a handle that has already left the id table. */
static void h_free(struct loop *l, struct handle *h)
{
	loopd_plugin *owner = h->owner;
	h_flags(l, h, 0, HF_ACTIVE);
	account_of(l, owner)->handles--;
	l->st.handles--;
	if (h->type == H_WATCH && container_of(h, struct watch_handle, h)->ev)
		event_free(container_of(h, struct watch_handle, h)->ev);
	slab_free(&l->slabs[h->type], h);
	check_released(l, owner);
}

/* The handle named id if owner owns it. */
static struct handle *h_find(struct loop *l, loopd_plugin *owner, loopd_id id)
{
	struct handle *h = ht_get(&l->table, id);
	return h && h->owner == owner ? h : NULL;
}

/* Books one callback's time to its owner, the phase and the loop. */
static void account_cb(struct loop *l, loopd_plugin *owner, const char *what,
		       uint64_t ns)
{
	struct loop_account *a = account_of(l, owner);
	a->callbacks++;
	a->total_ns += ns;
	if (ns > a->max_ns) {
		a->max_ns = ns;
		a->max_what = what;
	}
	l->st.events++;
	l->st.phase_callbacks[l->phase]++;
	l->st.phase_ns[l->phase] += ns;
	if (l->phase == PHASE_POLL)
		l->poll_cb_ns += ns;
	if (ns > l->st.slowest_ns) {
		l->st.slowest_ns = ns;
		l->st.slowest_what = what;
		snprintf(l->st.slowest_owner, sizeof(l->st.slowest_owner), "%s",
			 owner ? loop_owner_name(owner) : "loopd");
	}
	/* PLUGIN-API rule 5, once the callback has returned: a watchdog
	 * thread that names a callback still holding the loop is issue 5's. */
	uint64_t limit =
		atomic_load_explicit(&l->wd.limit_ns, memory_order_relaxed);
	if (limit && ns >= limit)
		log_msg(LOGL_WARN, owner ? loop_owner_name(owner) : NULL,
			"a %s callback held the loop for %llu ms (limit %llu "
			"ms): nothing else ran meanwhile",
			what, (unsigned long long)(ns / 1000000),
			(unsigned long long)(limit / 1000000));
}

#define TIMED(l, owner, what, call)                                     \
	do {                                                            \
		uint64_t t0_ = mono_ns();                               \
		watchdog_enter(&(l)->wd,                                \
			       (owner) ? loop_owner_name(owner) : NULL, \
			       (what), t0_);                            \
		call;                                                   \
		watchdog_leave(&(l)->wd);                               \
		account_cb((l), (owner), (what), mono_ns() - t0_);      \
	} while (0)

/* ---- phase 1: timers ---- */

loopd_id loop_timer(struct loop *l, loopd_plugin *owner, uint64_t timeout_ms,
		    uint64_t repeat_ms, loopd_cb cb, void *ud)
{
	if (!cb)
		return -EINVAL;
	struct timer_handle *t =
		(struct timer_handle *)h_new(l, sizeof(*t), H_TIMER, owner, ud);
	if (!t)
		return -ENOMEM;
	t->h.fn.cb = cb;
	t->repeat = repeat_ms;
	t->node.list = NULL;
	if (timer_queue_add(&l->timers, &t->node, start_ms(timeout_ms),
			    timeout_ms) < 0) {
		ht_del(&l->table, &t->h);
		h_free(l, &t->h);
		return -ENOMEM;
	}
	h_flags(l, &t->h, HF_ACTIVE, 0);
	l->st.timers++;
	return t->h.id;
}

static void fire_timer(struct loop *l, struct timer_handle *t)
{
	uint64_t due_ns = t->node.due * 1000000u;
	hist_add(&l->lag_us,
		 l->now_ns > due_ns ? (l->now_ns - due_ns) / 1000 : 0);
	if (t->repeat) {
		/* Re-armed from a fresh reading before the callback runs, so
		 * the callback may close it; a late timer does not burst. */
		if (timer_queue_add(&l->timers, &t->node, start_ms(t->repeat),
				    t->repeat) < 0) {
			log_warnx("timer %lld: out of memory, not re-armed",
				  (long long)t->h.id);
			t->repeat = 0;
		}
	}
	if (!t->repeat) { /* a one-shot is gone once it fires */
		ht_del(&l->table, &t->h);
		h_flags(l, &t->h, 0, HF_ACTIVE);
		l->st.timers--;
	}
	TIMED(l, t->h.owner, "timer", t->h.fn.cb(t->h.owner, t->h.ud));
	if (!t->repeat)
		h_free(l, &t->h);
}

static void run_timers(struct loop *l)
{
	uint64_t limit = l->timers.next_seq;
	struct timer_node *n;
	while ((n = timer_queue_pop_due(&l->timers, l->now_ms, limit)))
		fire_timer(l, container_of(n, struct timer_handle, node));
}

/* ---- phases 2 and 4: defers and immediates ---- */

static loopd_id queue_new(struct loop *l, int type, struct qnode *queue,
			  loopd_plugin *owner, loopd_cb cb, void *ud)
{
	if (!cb)
		return -EINVAL;
	struct queue_handle *q =
		(struct queue_handle *)h_new(l, sizeof(*q), type, owner, ud);
	if (!q)
		return -ENOMEM;
	q->h.fn.cb = cb;
	q_push(queue, &q->q);
	h_flags(l, &q->h, HF_ACTIVE, 0);
	return q->h.id;
}

loopd_id loop_immediate(struct loop *l, loopd_plugin *owner, loopd_cb cb,
			void *ud)
{
	return queue_new(l, H_IMMEDIATE, &l->immediates, owner, cb, ud);
}

loopd_id loop_defer(struct loop *l, loopd_plugin *owner, loopd_cb cb, void *ud)
{
	return queue_new(l, H_DEFER, &l->defers, owner, cb, ud);
}

/* Runs what was queued when the phase began; what callbacks queue waits
 * for the next iteration.  A handle closed meanwhile has been unlinked. */
static void run_queue(struct loop *l, struct qnode *queue, const char *what)
{
	struct qnode run;
	q_move(queue, &run);
	while (!q_empty(&run)) {
		struct queue_handle *q =
			container_of(run.next, struct queue_handle, q);
		q_unlink(&q->q);
		ht_del(&l->table, &q->h);
		h_flags(l, &q->h, 0, HF_ACTIVE);
		TIMED(l, q->h.owner, what, q->h.fn.cb(q->h.owner, q->h.ud));
		h_free(l, &q->h);
	}
}

/* ---- phase 3: poll ---- */

/* Time is read again when poll returns: the first callback of the poll
 * phase reads it, since libevent runs them before event_base_loop
 * returns. */
static void poll_time(struct loop *l)
{
	watchdog_poll_end(&l->wd); /* a callback runs: watch it */
	if (!l->poll_time_fresh) {
		loop_update_time(l);
		l->poll_time_fresh = true;
	}
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct watch_handle *w = arg;
	poll_time(w->loop);
	int revents = ((what & EV_READ) ? LOOPD_READ : 0) |
		      ((what & EV_WRITE) ? LOOPD_WRITE : 0);
	TIMED(w->loop, w->h.owner, "io",
	      w->h.fn.io(w->h.owner, w->h.ud, (int)fd, revents));
}

loopd_id loop_watch(struct loop *l, loopd_plugin *owner, int fd, int events,
		    loopd_io_cb cb, void *ud)
{
	if (!cb || !(events & (LOOPD_READ | LOOPD_WRITE)) ||
	    (events & ~(LOOPD_READ | LOOPD_WRITE)))
		return -EINVAL;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	struct watch_handle *w =
		(struct watch_handle *)h_new(l, sizeof(*w), H_WATCH, owner, ud);
	if (!w)
		return -ENOMEM;
	short ev = EV_PERSIST | ((events & LOOPD_READ) ? EV_READ : 0) |
		   ((events & LOOPD_WRITE) ? EV_WRITE : 0);
	w->h.fn.io = cb;
	w->loop = l;
	w->ev = event_new(l->base, fd, ev, on_watch, w);
	/* epoll refuses some fds (regular files: EPERM); libevent logs why. */
	int r = !w->ev ? -ENOMEM : event_add(w->ev, NULL) < 0 ? -EPERM : 0;
	if (r < 0) {
		ht_del(&l->table, &w->h);
		h_free(l, &w->h);
		return r;
	}
	h_flags(l, &w->h, HF_ACTIVE, 0);
	l->nwatch++;
	return w->h.id;
}

/* ---- stuck jobs (loop_set_stuck_after) ---- */

static void stuck_check(loopd_plugin *owner, void *ud);

/* Checks in_ms from now, unless off, armed already or no job in flight. */
static void stuck_arm(struct loop *l, uint64_t in_ms)
{
	if (!l->stuck_ms || l->stuck_timer > 0 || pool_inflight(l->pool) == 0)
		return;
	loopd_id id = loop_timer(l, NULL, in_ms, 0, stuck_check, l);
	if (id > 0 && loop_ref(l, NULL, id, 0) == 0)
		l->stuck_timer = id;
}

/* The work function's symbol if it has one, else file+offset. */
static void work_name(loopd_work_fn fn, char *buf, size_t len)
{
	void *addr = (void *)(uintptr_t)fn;
	Dl_info di;
	if (!dladdr(addr, &di) || !di.dli_fname)
		snprintf(buf, len, "%p", addr);
	else if (di.dli_sname && di.dli_saddr == addr)
		snprintf(buf, len, "%s", di.dli_sname);
	else
		snprintf(buf, len, "%s+0x%llx",
			 strrchr(di.dli_fname, '/')
				 ? strrchr(di.dli_fname, '/') + 1
				 : di.dli_fname,
			 (unsigned long long)((uintptr_t)addr -
					      (uintptr_t)di.dli_fbase));
}

static void stuck_report(struct loop *l, const struct pool_stuck *ps)
{
	struct work_handle *w = container_of(ps->w, struct work_handle, w);
	char work[128];
	work_name(w->work, work, sizeof(work));
	struct loop_stuck s = {
		.owner = w->h.owner,
		.plugin = w->h.owner ? loop_owner_name(w->h.owner) : "loopd",
		.job = w->h.id,
		.work = work,
		.running_ms = ps->running_ns / 1000000u,
		.limit_ms = l->stuck_ms,
	};
	account_of(l, s.owner)->stuck++;
	log_msg(LOGL_WARN, s.owner ? s.plugin : NULL,
		"job %lld (%s) has run for %llu ms on a pool thread and still "
		"runs: stuck (stuck-after %llu ms)",
		(long long)s.job, s.work, (unsigned long long)s.running_ms,
		(unsigned long long)s.limit_ms);
	if (l->stuck_fn)
		l->stuck_fn(l->stuck_ud, &s);
}

static void stuck_check(loopd_plugin *owner, void *ud)
{
	struct loop *l = ud;
	struct pool_stuck ps[16];
	uint64_t next_ns;
	l->stuck_timer = 0;
	unsigned n = pool_take_stuck(l->pool, l->stuck_ms * 1000000u, ps,
				     sizeof(ps) / sizeof(ps[0]), &next_ns);
	for (unsigned i = 0; i < n; i++)
		stuck_report(l, &ps[i]);
	/* Rounded up: a timer that fires early finds nothing. */
	stuck_arm(l, (next_ns + 999999u) / 1000000u);
}

void loop_set_stuck_after(struct loop *l, uint64_t limit_ms, loop_stuck_fn fn,
			  void *ud)
{
	l->stuck_fn = fn;
	l->stuck_ud = ud;
	if (limit_ms == l->stuck_ms)
		return;
	if (l->stuck_timer > 0)
		loop_close(l, NULL, l->stuck_timer, NULL);
	l->stuck_timer = 0;
	l->stuck_ms = limit_ms;
	stuck_arm(l, 0); /* jobs in flight may be past the new limit */
}

static int work_run(struct pool_work *pw)
{
	struct work_handle *w = container_of(pw, struct work_handle, w);
	return w->work(w->h.ud);
}

static void work_done(struct pool_work *pw, int status)
{
	struct work_handle *w = container_of(pw, struct work_handle, w);
	struct loop *l = w->loop;
	account_of(l, w->h.owner)->inflight--;
	if (pool_work_stuck(pw))
		account_of(l, w->h.owner)->stuck--;
	ht_del(&l->table, &w->h);
	if (w->h.fn.done)
		TIMED(l, w->h.owner, "done",
		      w->h.fn.done(w->h.owner, w->h.ud, status));
	h_free(l, &w->h);
}

static loopd_id submit(struct loop *l, loopd_plugin *owner, loopd_work_fn work,
		       loopd_done_fn done, void *ud, enum pool_lane lane)
{
	if (!work)
		return -EINVAL;
	struct work_handle *w =
		(struct work_handle *)h_new(l, sizeof(*w), H_WORK, owner, ud);
	if (!w)
		return -ENOMEM;
	w->h.fn.done = done;
	w->h.flags = 0; /* in-flight jobs keep the loop alive via the pool */
	w->work = work;
	w->loop = l;
	w->w.work = work_run;
	w->w.done = work_done;
	int r = pool_submit(l->pool, &w->w, lane);
	if (r < 0) {
		ht_del(&l->table, &w->h);
		h_free(l, &w->h);
		return r;
	}
	account_of(l, owner)->inflight++;
	stuck_arm(l, l->stuck_ms);
	return w->h.id;
}

loopd_id loop_submit(struct loop *l, loopd_plugin *owner, loopd_work_fn work,
		     loopd_done_fn done, void *ud)
{
	return submit(l, owner, work, done, ud, POOL_LANE_WORK);
}

loopd_id loop_submit_store(struct loop *l, loopd_work_fn work,
			   loopd_done_fn done, void *ud)
{
	return submit(l, NULL, work, done, ud, POOL_LANE_STORE);
}

int loop_cancel(struct loop *l, loopd_plugin *owner, loopd_id id)
{
	if (id <= 0 || ID_TYPE(id) != H_WORK || ID_SEQ(id) > l->next_seq)
		return -ENOENT;
	struct handle *h = ht_get(&l->table, id);
	if (!h)
		return -EBUSY; /* it existed, and has finished */
	if (h->owner != owner)
		return -ENOENT;
	return pool_cancel(l->pool, &container_of(h, struct work_handle, h)->w);
}

static void on_pool(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	poll_time(l);
	pool_deliver(l->pool);
}

int loop_post(struct loop *l, loopd_plugin *owner, loopd_cb cb, void *ud)
{
	if (!cb)
		return -EINVAL;
	struct post *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct post){ .owner = owner, .cb = cb, .ud = ud };
	atomic_fetch_add(&account_of(l, owner)->posts, 1);
	pthread_mutex_lock(&l->post_lock);
	bool was_empty = !l->post_head;
	*l->post_tail = p;
	l->post_tail = &p->next;
	atomic_fetch_add(&l->posts_pending, 1);
	pthread_mutex_unlock(&l->post_lock);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t n = write(l->post_fd, &one, sizeof(one));
		(void)n; /* EAGAIN: the counter is already non-zero. */
	}
	return 0;
}

static void on_post(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	uint64_t v;
	ssize_t n = read(l->post_fd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&l->post_lock);
	struct post *p = l->post_head;
	l->post_head = NULL;
	l->post_tail = &l->post_head;
	pthread_mutex_unlock(&l->post_lock);
	while (p) {
		struct post *next = p->next;
		poll_time(l);
		TIMED(l, p->owner, "post", p->cb(p->owner, p->ud));
		atomic_fetch_sub(&l->posts_pending, 1);
		atomic_fetch_sub(&account_of(l, p->owner)->posts, 1);
		check_released(l, p->owner);
		free(p);
		p = next;
	}
}

/* timer_fd expired: its firing has ended the poll.  Reading it keeps it
 * from staying readable while no timer is pending. */
static void on_timer_fd(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	uint64_t expirations;
	ssize_t n = read(l->timer_fd, &expirations, sizeof(expirations));
	(void)n; /* EAGAIN: re-armed meanwhile; nothing to drain */
	l->armed_ns = 0;
}

/*
 * Makes the poll end when the next timer is due.  Our own timerfd, set
 * only when that time changes, rather than a libevent timeout: libevent
 * keeps time with CLOCK_MONOTONIC_COARSE (4 ms ticks) and EVLOOP_ONCE
 * waits until its own clock says a timeout expired, which overshot by up
 * to 4 ms; its precise mode costs a timerfd_settime on every poll.
 */
static void arm_timer_fd(struct loop *l, uint64_t deadline_ns)
{
	if (deadline_ns == l->armed_ns)
		return;
	/* Relative, from a fresh reading: an absolute CLOCK_MONOTONIC time
	 * is what libfaketime rewrites as if it were wall-clock time, and
	 * loopd's clock tests run under it. */
	uint64_t now = mono_ns();
	uint64_t rel = deadline_ns > now ? deadline_ns - now : 1;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(rel / 1000000000u),
			      .tv_nsec = (long)(rel % 1000000000u) },
	};
	if (timerfd_settime(l->timer_fd, 0, &its, NULL) == 0)
		l->armed_ns = deadline_ns;
	else
		log_warn("timerfd_settime"); /* poll ends at the next event */
}

/* ns until the next timer, 0 when callbacks are already queued or the
 * loop is no longer alive, or UINT64_MAX for no limit. */
static uint64_t poll_timeout_ns(const struct loop *l)
{
	/* Nothing left to wait for: this is the last iteration. */
	if (!q_empty(&l->immediates) || !q_empty(&l->defers) ||
	    l->closing.len || l->stop || !loop_alive(l))
		return 0;
	const struct timer_node *n = timer_queue_peek(&l->timers);
	if (!n || n->due >= UINT64_MAX / 1000000u) /* none, or centuries away */
		return UINT64_MAX;
	uint64_t due_ns = n->due * 1000000u;
	return due_ns > l->now_ns ? due_ns - l->now_ns : 0;
}

/*
 * A poll with a zero timeout and no fd watched but the loop's own is
 * answered without entering the kernel, as libuv does when it has no fds:
 * finished jobs and posts are seen through their flags.  On this kind of
 * machine a system call costs microseconds, and a chain of immediates
 * would otherwise pay two per turn.  Signals (and any other event libevent
 * holds for the daemon) are still polled for at least once a millisecond.
 */
static bool poll_without_kernel(struct loop *l, uint64_t timeout)
{
	if (timeout != 0 || l->nwatch != 0 ||
	    l->now_ns - l->last_poll_ns >= 1000000u)
		return false;
	if (pool_has_done(l->pool))
		on_pool(-1, EV_READ, l);
	if (atomic_load(&l->posts_pending) > 0)
		on_post(-1, EV_READ, l);
	return true;
}

static void run_poll(struct loop *l)
{
	uint64_t timeout = poll_timeout_ns(l);
	l->poll_cb_ns = 0;
	l->poll_time_fresh = false;
	if (poll_without_kernel(l, timeout))
		return;
	/* EVLOOP_ONCE: one pass of ready events, not a loop until idle. */
	int flags = EVLOOP_ONCE;
	if (timeout == 0)
		flags |= EVLOOP_NONBLOCK;
	else if (timeout != UINT64_MAX)
		arm_timer_fd(l, l->now_ns + timeout);
	uint64_t t0 = mono_ns();
	if (timeout != 0)
		watchdog_poll_begin(&l->wd);
	event_base_loop(l->base, flags);
	watchdog_poll_end(&l->wd);
	uint64_t spent = mono_ns() - t0;
	if (spent > l->poll_cb_ns)
		l->st.idle_ns += spent - l->poll_cb_ns;
	poll_time(l);
	l->last_poll_ns = l->now_ns;
}

/* ---- phase 5: close ---- */

int loop_close(struct loop *l, loopd_plugin *owner, loopd_id id,
	       loopd_cb on_close)
{
	struct handle *h = h_find(l, owner, id);
	if (!h)
		return -ENOENT;
	if (h->type == H_WORK)
		return -EINVAL;
	if (hvec_push(&l->closing, h) < 0)
		return -ENOMEM;
	switch (h->type) {
	case H_TIMER:
		timer_queue_remove(
			&l->timers,
			&container_of(h, struct timer_handle, h)->node);
		l->st.timers--;
		break;
	case H_IMMEDIATE:
	case H_DEFER:
		q_unlink(&container_of(h, struct queue_handle, h)->q);
		break;
	case H_WATCH:
		event_del(container_of(h, struct watch_handle, h)->ev);
		l->nwatch--;
		break;
	}
	ht_del(&l->table, h);
	h_flags(l, h, 0, HF_ACTIVE); /* closing: in l->closing */
	h->fn.cb = on_close;
	return 0;
}

static void run_closing(struct loop *l)
{
	struct hvec run = l->closing;
	l->closing = l->closing_run;
	l->closing.len = 0;
	for (size_t i = 0; i < run.len; i++) {
		struct handle *h = run.v[i];
		if (h->fn.cb)
			TIMED(l, h->owner, "close", h->fn.cb(h->owner, h->ud));
		h_free(l, h);
	}
	run.len = 0;
	l->closing_run = run;
}

int loop_ref(struct loop *l, loopd_plugin *owner, loopd_id id, int ref)
{
	struct handle *h = h_find(l, owner, id);
	if (!h)
		return -ENOENT;
	if (h->type == H_WORK)
		return -EINVAL;
	if (ref)
		h_flags(l, h, HF_REF, 0);
	else
		h_flags(l, h, 0, HF_REF);
	return 0;
}

/* ---- the loop ---- */

bool loop_alive(const struct loop *l)
{
	return l->active_refs > 0 || pool_inflight(l->pool) > 0 ||
	       l->closing.len > 0 || atomic_load(&l->posts_pending) > 0;
}

/* Runs one phase, booking it as the current one for the stats. */
static void phase(struct loop *l, enum loop_phase p)
{
	l->phase = p;
	switch (p) {
	case PHASE_TIMERS: run_timers(l); break;
	case PHASE_PENDING: run_queue(l, &l->defers, "defer"); break;
	case PHASE_POLL: run_poll(l); break;
	case PHASE_CHECK: run_queue(l, &l->immediates, "immediate"); break;
	case PHASE_CLOSE: run_closing(l); break;
	default: break;
	}
}

/* One iteration, the five phases in order. */
void loop_run_once(struct loop *l)
{
	on_loop_thread = true;
	loop_update_time(l);
	phase(l, PHASE_TIMERS);
	phase(l, PHASE_PENDING);
	phase(l, PHASE_POLL);
	phase(l, PHASE_CHECK);
	phase(l, PHASE_CLOSE);
	l->st.iterations++;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop && loop_alive(l))
		loop_run_once(l);
	return l->stop ? 1 : 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

/* ---- draining a plugin ---- */

void loop_drain_owner(struct loop *l, loopd_plugin *owner)
{
	struct hvec mine = { 0 };
	for (size_t i = 0; i < l->table.cap; i++) {
		struct handle *h = l->table.slot[i];
		if (h && h->owner == owner && hvec_push(&mine, h) < 0)
			break; /* out of memory: drain what we collected */
	}
	for (size_t i = 0; i < mine.len; i++) {
		struct handle *h = mine.v[i];
		if (h->type == H_WORK)
			pool_cancel(l->pool,
				    &container_of(h, struct work_handle, h)->w);
		else
			loop_close(l, owner, h->id, NULL);
	}
	free(mine.v);
}

/* ---- life cycle ---- */

static int make_events(struct loop *l)
{
	l->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->timer_fd < 0)
		return -errno;
	l->timer_ev = event_new(l->base, l->timer_fd, EV_READ | EV_PERSIST,
				on_timer_fd, l);
	l->pool_ev = event_new(l->base, pool_fd(l->pool), EV_READ | EV_PERSIST,
			       on_pool, l);
	l->post_ev = event_new(l->base, l->post_fd, EV_READ | EV_PERSIST,
			       on_post, l);
	if (!l->timer_ev || !l->pool_ev || !l->post_ev)
		return -ENOMEM;
	if (event_add(l->timer_ev, NULL) < 0 ||
	    event_add(l->pool_ev, NULL) < 0 || event_add(l->post_ev, NULL) < 0)
		return -EIO;
	return 0;
}

/* libevent's own warnings, in loopd's log format. */
static void libevent_log(int severity, const char *msg)
{
	int level = severity >= EVENT_LOG_ERR    ? LOGL_ERR
		    : severity >= EVENT_LOG_WARN ? LOGL_WARN
		    : severity >= EVENT_LOG_MSG  ? LOGL_INFO
						 : LOGL_DEBUG;
	log_msg(level, "libevent", "%s", msg);
}

static struct event_base *new_base(void)
{
	event_set_log_callback(libevent_log);
	struct event_config *cfg = event_config_new();
	if (!cfg)
		return NULL;
	/* No libevent timeouts are used (see arm_timer_fd), so its clock
	 * does not matter and its precise mode's timerfd is not wanted. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	struct event_base *b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

int loop_new(struct loop **out, unsigned threads)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->timer_fd = -1;
	q_init(&l->immediates);
	q_init(&l->defers);
	slab_init(&l->slabs[H_TIMER], sizeof(struct timer_handle));
	slab_init(&l->slabs[H_IMMEDIATE], sizeof(struct queue_handle));
	slab_init(&l->slabs[H_DEFER], sizeof(struct queue_handle));
	slab_init(&l->slabs[H_WATCH], sizeof(struct watch_handle));
	slab_init(&l->slabs[H_WORK], sizeof(struct work_handle));
	pthread_mutex_init(&l->post_lock, NULL);
	l->post_tail = &l->post_head;
	l->post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int r = l->post_fd < 0 ? -errno : 0;
	if (r == 0)
		r = timer_queue_init(&l->timers);
	if (r == 0)
		r = ht_grow(&l->table);
	if (r == 0)
		r = pool_new(&l->pool, threads);
	if (r == 0 && !(l->base = new_base()))
		r = -ENOMEM;
	if (r == 0)
		r = make_events(l);
	if (r == 0)
		r = watchdog_start(&l->wd, LOOP_SLOW_CALLBACK_MS);
	if (r < 0) {
		loop_free(l);
		return r;
	}
	hist_reset(&l->lag_us);
	on_loop_thread = true; /* the thread that makes the loop runs it */
	l->start_ns = mono_ns();
	loop_update_time(l);
	*out = l;
	return 0;
}

/* Frees a handle at teardown, without callbacks or accounting. */
static void h_release(struct loop *l, struct handle *h)
{
	if (h->type == H_WATCH)
		event_free(container_of(h, struct watch_handle, h)->ev);
	slab_free(&l->slabs[h->type], h);
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	watchdog_stop(&l->wd);
	if (l->pool) {
		pool_cancel_all(l->pool);
		pool_free(l->pool);
	}
	/* Timers still queued (an unreferenced repeating one) are nodes
	 * inside their handles: empty the queue before the handles go. */
	timer_queue_free(&l->timers);
	for (size_t i = 0; i < l->table.cap; i++)
		if (l->table.slot[i])
			h_release(l, l->table.slot[i]);
	for (size_t i = 0; i < l->closing.len; i++)
		h_release(l, l->closing.v[i]);
	for (int t = 0; t <= H_WORK; t++)
		slab_destroy(&l->slabs[t]);
	for (struct post *p = l->post_head, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	free(l->closing.v);
	free(l->closing_run.v);
	free(l->table.slot);
	if (l->timer_ev)
		event_free(l->timer_ev);
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	if (l->pool_ev)
		event_free(l->pool_ev);
	if (l->post_ev)
		event_free(l->post_ev);
	if (l->base)
		event_base_free(l->base);
	if (l->post_fd >= 0)
		close(l->post_fd);
	pthread_mutex_destroy(&l->post_lock);
	free(l);
}

void loop_set_watchdog(struct loop *l, uint64_t limit_ms)
{
	watchdog_set_limit(&l->wd, limit_ms);
}

struct watchdog *loop_watchdog(struct loop *l)
{
	return &l->wd;
}

/*
 * A plugin entry called from inside one of the daemon's own callbacks (a
 * job kind's validate, start, stop): the watchdog and the crash handler
 * name the plugin while it runs, and its account gets the call.  The
 * enclosing callback's timing goes on (no new watchdog sequence), so the
 * phase figures count the time once.
 */
void loop_call_enter(struct loop *l, loopd_plugin *owner, const char *what,
		     struct loop_call *save)
{
	save->name = atomic_load_explicit(&l->wd.name, memory_order_relaxed);
	save->what = atomic_load_explicit(&l->wd.what, memory_order_relaxed);
	save->owner = owner;
	save->label = what;
	save->t0 = mono_ns();
	atomic_store_explicit(&l->wd.name,
			      owner ? loop_owner_name(owner) : NULL,
			      memory_order_relaxed);
	atomic_store_explicit(&l->wd.what, what, memory_order_relaxed);
}

void loop_call_leave(struct loop *l, struct loop_call *save)
{
	uint64_t ns = mono_ns() - save->t0;
	save->ns = ns;
	atomic_store_explicit(&l->wd.name, save->name, memory_order_relaxed);
	atomic_store_explicit(&l->wd.what, save->what, memory_order_relaxed);
	if (!save->owner)
		return;
	struct loop_account *a = account_of(l, save->owner);
	a->callbacks++;
	a->total_ns += ns;
	if (ns > a->max_ns) {
		a->max_ns = ns;
		a->max_what = save->label;
	}
}

void loop_stats(struct loop *l, struct loop_stats *out)
{
	*out = l->st;
	out->uptime_ns = mono_ns() - l->start_ns;
	out->utilization =
		out->uptime_ns
			? 1.0 - (double)out->idle_ns / (double)out->uptime_ns
			: 0;
	out->lag_p50_us = hist_quantile(&l->lag_us, 0.50);
	out->lag_p99_us = hist_quantile(&l->lag_us, 0.99);
	out->lag_max_us = l->lag_us.max;
	out->watchdog_reports = atomic_load(&l->wd.reports);
	if (!out->slowest_what)
		out->slowest_what = "";
}
