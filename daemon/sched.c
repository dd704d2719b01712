/*
 * sched.c - the scheduler: jobs in memory, the due queue, runs and their
 * policies.  See scheduler.h for the contract.
 *
 * Jobs live in a hash index by name and a binary min-heap by due time
 * (the next fire time plus the job's fixed jitter; each entry keeps its
 * key beside the job pointer, so the heap's compares read only the heap
 * array).  One loop timer is armed for the earliest due job, never more
 * than SCHED_MAX_SLEEP_MS ahead, so the wall clock is read again at
 * least once a minute; a CLOCK_REALTIME timerfd with
 * TFD_TIMER_CANCEL_ON_SET wakes the scheduler as soon as the clock is
 * set, and is also armed for the earliest due time itself (the loop's
 * timers count whole milliseconds: arm).
 *
 * A wake (wake_round) collects every job whose key has come without
 * touching the heap (wake_collect: in key order, then memory order),
 * starts the due ones in one burst in which a start does only what the
 * start needs (burst_flush does the rest after the last: the `running`
 * writes, run events, and the ends of runs that ended inside their
 * start), then moves each job to its next time and prepares the runs due
 * within the lead.  The next fire time is remembered across jobs
 * (job_next_after): the jobs of one schedule due at the same second ask
 * the calendar once.  Each wake compares the wall clock with
 * the monotonic one to see steps: a step backwards of three hours or more
 * re-anchors every schedule (cron's rule); smaller steps backwards change
 * nothing, since every job keeps its next fire time and so never runs
 * twice.  Forward steps, suspend and downtime all look the same: due
 * occurrences in the past, handled by the job's catch-up policy.
 *
 * A run goes: RUN_ADD (starting) -> commit -> kind's start -> RUN_UPDATE
 * (running) -> finish -> RUN_UPDATE (result) and JOB_UPDATE (last_*,
 * next_usec).  With a lead (scheduler.h), a scheduled run's RUN_ADD goes
 * out when its job's heap key, its due time less the lead, comes
 * (prep_job); the job is then keyed at its due time, and at that time
 * run_start takes the prepared run (prep_take) instead of making one.
 * The job finds its prepared run through s->prep (job->prep is an index
 * into it, in the padding of struct sjob: no memory per job).  The two RUN_UPDATEs are one write when the run finishes
 * before the first was sent to the store (run_update): a commit never
 * shows a state the run did not have.  Run events are built only when
 * read (events_emit_lazy).  Between start and finish the run belongs to
 * the kind; the host may finish it itself after a stop and the kill
 * grace, and then ignores the kind's later finish (the run stays
 * allocated, marked, until its plugin is gone).
 *
 * Memory: a job's kind, plugin, schedule and zone strings are shared
 * (istr_get), and so is the parsed schedule; `{}` args are NULL.  Counts
 * by state are kept at each change (job_refile) so that sched_counts is
 * O(1).  At start the index is sized once and the heap built once.
 */
#include "scheduler.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "events.h"
#include "jbuf.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"

struct kind {
	char *name;
	loopd_plugin *p;
	struct loopd_kind k; /* copied: the plugin's struct may be on a stack */
	bool up;             /* init finished and not going */
	struct kind *next;
};

enum run_phase {
	RP_COMMITTING, /* its `starting` record commits; it starts then */
	RP_RUNNING,
	RP_STOPPING,
	RP_DONE,
	/* Prepared ahead, before its time (in s->prep): */
	RP_PREPARING,  /* its record commits */
	RP_PREPARED,   /* committed */
	RP_UNRECORDED, /* the commit failed: not started at its time */
	/* Dropped while its record committed: deleted once committed. */
	RP_DROPPED
};
enum stop_why {
	STOP_NONE,
	STOP_TIMEOUT,
	STOP_REPLACE,
	STOP_SHUTDOWN
};

struct watcher {
	uint64_t token;
	sched_done_fn started, finished;
	void *ud;
	struct watcher *next;
};

struct sjob;

struct loopd_run {
	/* What a start reads and writes first, together (a burst starts
	 * thousands of runs whose memory is cold): */
	struct sched *s;
	struct sjob *job; /* holds a reference */
	struct kind *kind;
	loopd_plugin *p;
	enum run_phase phase;
	enum stop_why why;
	uint32_t pidx; /* in s->prep, while prepared */
	/* Started in the wake's burst (see burst_apply): its `running`
	 * write and event wait in s->burst[bidx] (in_burst); and, once its
	 * kind ended it, its end in s->burst[eidx] (end_pending: result,
	 * exit code, time). */
	uint32_t bidx, eidx;
	bool in_burst, end_pending;
	bool host_finished; /* finished by the host: ignore the kind's */
	struct store_run r; /* the record: id, times, result */
	enum store_result end_result;
	int64_t end_code, end_usec;
	loopd_id timeout_timer, grace_timer;
	struct watcher *watchers;
	struct sreq *upd; /* its latest RUN_UPDATE (q->ud is run), or NULL */
	struct loopd_run *next, **pprev; /* in s->runs: O(1) removal */
};

struct qent {
	int64_t sched_usec;
	enum store_trigger trig;
	int64_t attempt;
	struct watcher *w;
};

/* What few jobs need: allocated on first use (job_more), kept until the
 * job is freed. */
struct sjob_more {
	char *bad;          /* why the schedule cannot be used, or NULL */
	struct qent *queue; /* runs waiting for the running one (overlap
			     * queue and replace, catch-up all) */
	unsigned nqueue, qcap;
	loopd_id retry_timer;
	int64_t retry_sched;
	uint32_t retry_attempt;
};

/* A million of these may be in memory: the fields go by size, so that
 * there is no padding between them, and the rarely used ones are apart
 * (struct sjob_more). */
struct sjob {
	struct store_job j; /* j.state is the base state */
	struct sched *s;
	struct cal_expr *expr; /* shared: see istr_expr */
	struct tz_zone *zone;
	struct sjob_more *more; /* or NULL */
	struct sjob *hnext;
	int64_t due;
	int64_t jitter_usec;
	uint32_t hidx; /* in the heap, or HIDX_NONE */
	unsigned running;
	unsigned refs;
	unsigned busy; /* client writes in flight */
	uint32_t kind_gen;
	uint32_t prep;       /* its prepared run: s->prep[prep - 1]; 0 none; or
			* PREP_SKIP */
	bool removed, dirty; /* dirty: persist once not busy */
	bool kind_ok;        /* job_kind_ok's cache, valid at kind_gen */
	bool filed;          /* counted in s->by_state (in the index) */
	bool filed_failing;  /* counted in s->failing */
	uint8_t filed_state; /* the state it is counted under */
	bool woke_due;       /* in wake_round: due in this round */
};
#define HIDX_NONE UINT32_MAX
/* job->prep: not prepared (out of memory), keyed at its due time. */
#define PREP_SKIP UINT32_MAX

struct sched {
	struct loop *loop;
	struct store *store;
	struct events *ev;
	struct sched_opts o;
	struct kind *kinds;
	uint32_t kind_gen; /* bumped whenever a kind comes up or goes */
	struct sjob **tab; /* name index, chained */
	size_t tab_size, njobs;
	struct hent {
		int64_t due; /* job->due: the key, here for the compares */
		struct sjob *job;
	} * heap;
	size_t nheap, heap_cap;
	struct next_memo {
		struct cal_expr *e; /* a reference, or NULL */
		const struct tz_zone *z;
		int64_t anchor, after, next;
	} memo; /* see job_next_after */
	/* wake_round's jobs (with their keys), each with a reference; the
	 * other buffer of wake_radix; their heap positions, as collected. */
	struct hent *woke, *woke_tmp;
	uint32_t *woke_at;
	size_t nwoke, woke_cap;
	loopd_id timer;
	int64_t timer_due;
	int tfd;
	loopd_id tfd_watch;
	int64_t tfd_due; /* what the clock timerfd is armed for, or INT64_MAX */
	int64_t last_real;  /* wall clock at the last wake, usec */
	uint64_t last_mono; /* loop time then, ms */
	bool started, stopping, in_wake;
	bool heap_bulk; /* sched_start: the heap is built once at the end */
	struct kind *dead_kinds; /* of plugins going: runs may point at them */
	struct loopd_run *runs;  /* in flight, and host-finished ones kept */
	struct loopd_run **prep; /* prepared runs, in no order; NULL: a hole */
	size_t nprep, prep_cap, prep_live;
	/* The wake's burst: the starts and ends of its runs not yet applied,
	 * in the order they happened (run NULL: freed since). */
	bool bursting;
	struct loopd_run *in_start; /* the run whose kind's start is running */
	struct burst_ent {
		struct loopd_run *run;
		bool end;
	} * burst;
	size_t nburst, burst_cap;
	int64_t lead_usec;
	uint64_t next_token;
	struct sched_counts c;
	/* Jobs in the index by shown state, and those whose last run
	 * failed: kept at every change (job_refile) for sched_counts. */
	uint64_t by_state[STORE_JOB_STATE_COUNT], failing;
	struct tz_zone *local;
	struct zc {
		char *name;
		struct tz_zone *z;
	} * zones;
	size_t nzones;
	struct istr **itab; /* shared strings, chained; see istr_get */
	size_t itab_size, nistr;
	/* Results of ended runs, and deletions of prepared runs that did
	 * not start, that the store failed to write (a full disk): written
	 * again every UNWRITTEN_RETRY_MS, and at the stop, until they are. */
	struct sreq *unwritten;
	struct sreq *waiting; /* run ends whose watcher waits for the commit */
	size_t nunwritten, unwritten_bytes;
	loopd_id unwritten_timer;
};

/* How often, and how much of it is held: past UNWRITTEN_MAX results
 * the newest are dropped (logged); past UNWRITTEN_OUTPUT bytes, the
 * results are kept without their output. */
#define UNWRITTEN_RETRY_MS 5000
#define UNWRITTEN_MAX      10000
#define UNWRITTEN_OUTPUT   (16u << 20)

static void arm(struct sched *s);
static bool clock_arm(struct sched *s, int64_t usec);
static void run_start(struct sjob *job, enum store_trigger trig,
		      int64_t sched_usec, int64_t attempt, struct watcher *w,
		      bool force);
static void job_persist(struct sched *s, struct sjob *job);
static struct kind *kind_up(const struct sched *s, const char *name);
static struct loopd_run *job_prep(const struct sjob *job);
static void prep_drop(struct sched *s, struct sjob *job);

/* ---- the rarely used part of a job ---- */

/* job->more, allocated if need be; NULL when out of memory. */
static struct sjob_more *job_more(struct sjob *job)
{
	if (!job->more)
		job->more = calloc(1, sizeof(*job->more));
	return job->more;
}

static unsigned job_nqueue(const struct sjob *job)
{
	return job->more ? job->more->nqueue : 0;
}

static bool job_retrying(const struct sjob *job)
{
	return job->more && job->more->retry_timer > 0;
}

static const char *job_bad(const struct sjob *job)
{
	return job->more ? job->more->bad : NULL;
}

static void job_more_free(struct sjob *job)
{
	if (!job->more)
		return;
	free(job->more->bad);
	free(job->more->queue);
	free(job->more);
	job->more = NULL;
}

/* ---- time ---- */

static int64_t real_now(void *ctx)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_usec(const struct sched *s)
{
	return s->o.realtime(s->o.clock_ctx);
}

void sched_opts_default(struct sched_opts *o)
{
	*o = (struct sched_opts){ .kill_grace_ms = SCHED_KILL_GRACE_MS,
				  .lead_ms = SCHED_LEAD_MS,
				  .realtime = real_now };
}

/* ---- zones: one loaded object per name ---- */

static struct tz_zone *zone_get(struct sched *s, const char *name, char *err,
				size_t errlen)
{
	if (!name || !*name)
		return s->local;
	for (size_t i = 0; i < s->nzones; i++)
		if (strcmp(s->zones[i].name, name) == 0)
			return s->zones[i].z;
	struct tz_zone *z;
	if (tz_zone_load(name, &z, err, errlen) < 0)
		return NULL;
	struct zc *n = realloc(s->zones, (s->nzones + 1) * sizeof(*n));
	char *dup = strdup(name);
	if (!n || !dup) {
		free(dup);
		if (n)
			s->zones = n;
		tz_zone_unref(z);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->zones = n;
	s->zones[s->nzones++] = (struct zc){ dup, z };
	return z;
}

/* ---- the name index ---- */

static void job_file(struct sched *s, struct sjob *job);

static void job_unfile(struct sched *s, struct sjob *job)
{
	if (!job->filed)
		return;
	s->by_state[job->filed_state]--;
	s->failing -= job->filed_failing;
	job->filed = false;
}

static uint64_t hash_str(const char *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

static struct sjob *job_find(const struct sched *s, const char *name)
{
	if (!s->tab_size || !name)
		return NULL;
	struct sjob *j = s->tab[hash_str(name) & (s->tab_size - 1)];
	while (j && strcmp(j->j.name, name) != 0)
		j = j->hnext;
	return j;
}

/* Rehashes into at least `want` buckets (a power of two, 1024 or more). */
static void index_resize(struct sched *s, size_t want)
{
	size_t n = 1024;
	while (n < want)
		n *= 2;
	if (n <= s->tab_size)
		return;
	struct sjob **t = calloc(n, sizeof(*t));
	if (!t)
		return; /* chains just get longer */
	for (size_t i = 0; i < s->tab_size; i++) {
		for (struct sjob *j = s->tab[i], *nx; j; j = nx) {
			nx = j->hnext;
			size_t b = hash_str(j->j.name) & (n - 1);
			j->hnext = t[b];
			t[b] = j;
		}
	}
	free(s->tab);
	s->tab = t;
	s->tab_size = n;
}

static void index_add(struct sched *s, struct sjob *j)
{
	if (s->njobs >= s->tab_size)
		index_resize(s, s->tab_size * 2);
	size_t b = hash_str(j->j.name) & (s->tab_size - 1);
	j->hnext = s->tab[b];
	s->tab[b] = j;
	s->njobs++;
	if (s->started) /* before: sched_start files every job */
		job_file(s, j);
}

static void index_del(struct sched *s, struct sjob *j)
{
	struct sjob **pp = &s->tab[hash_str(j->j.name) & (s->tab_size - 1)];
	while (*pp && *pp != j)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = j->hnext;
		s->njobs--;
		job_unfile(s, j);
	}
}

/* ---- shared strings and parsed schedules ----
 *
 * A million jobs have a handful of kinds, plugins, zones and schedules:
 * each job's copies of those strings point at one shared, counted copy,
 * and a schedule's copy holds its parsed expression, so that jobs with
 * the same schedule text share one cal_expr (it does not depend on the
 * zone).  args "{}" is kept as NULL (read as {} everywhere).
 */

struct istr {
	struct istr *next;
	uint64_t hash;
	unsigned refs;
	struct cal_expr *expr; /* a schedule's, parsed on first use, or NULL */
	char s[];
};

static struct istr *istr_of(const char *p)
{
	return (struct istr *)(void *)(p - offsetof(struct istr, s));
}

static void istr_grow(struct sched *s)
{
	size_t n = s->itab_size ? s->itab_size * 2 : 64;
	struct istr **t = calloc(n, sizeof(*t));
	if (!t)
		fatalx("out of memory");
	for (size_t i = 0; i < s->itab_size; i++)
		for (struct istr *e = s->itab[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = t[e->hash & (n - 1)];
			t[e->hash & (n - 1)] = e;
		}
	free(s->itab);
	s->itab = t;
	s->itab_size = n;
}

/* The shared copy of str, counted once more; NULL stays NULL. */
static char *istr_get(struct sched *s, const char *str)
{
	if (!str)
		return NULL;
	uint64_t h = hash_str(str);
	if (s->nistr >= s->itab_size)
		istr_grow(s);
	struct istr **b = &s->itab[h & (s->itab_size - 1)];
	for (struct istr *e = *b; e; e = e->next)
		if (e->hash == h && strcmp(e->s, str) == 0) {
			e->refs++;
			return e->s;
		}
	size_t len = strlen(str) + 1;
	struct istr *e = malloc(sizeof(*e) + len);
	if (!e)
		fatalx("out of memory");
	*e = (struct istr){ .next = *b, .hash = h, .refs = 1 };
	memcpy(e->s, str, len);
	*b = e;
	s->nistr++;
	return e->s;
}

/* Drops a count of a shared string (from istr_get); NULL is ignored. */
static void istr_put(struct sched *s, const char *p)
{
	if (!p)
		return;
	struct istr *e = istr_of(p);
	if (--e->refs)
		return;
	struct istr **pp = &s->itab[e->hash & (s->itab_size - 1)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	s->nistr--;
	cal_expr_free(e->expr);
	free(e);
}

/* Replaces the malloc'd string *f with its shared copy. */
static void istr_take(struct sched *s, char **f)
{
	char *own = *f;
	*f = istr_get(s, own);
	free(own);
}

/* The job's strings (malloc'd, as the store gives them) become shared. */
static void job_share_strings(struct sched *s, struct store_job *j)
{
	istr_take(s, &j->kind);
	istr_take(s, &j->plugin);
	istr_take(s, &j->schedule);
	istr_take(s, &j->tz);
	if (j->args_json && strcmp(j->args_json, "{}") == 0) {
		free(j->args_json);
		j->args_json = NULL;
	}
}

/* Undoes job_share_strings: the shared ones are dropped and NULL. */
static void job_unshare_strings(struct sched *s, struct store_job *j)
{
	istr_put(s, j->kind);
	istr_put(s, j->plugin);
	istr_put(s, j->schedule);
	istr_put(s, j->tz);
	j->kind = j->plugin = j->schedule = j->tz = NULL;
}

/* The parsed expression of a shared schedule string (a new reference):
 * parsed once, then shared.  NULL with a message in err if invalid. */
static struct cal_expr *istr_expr(const char *schedule, char *err,
				  size_t errlen)
{
	struct istr *e = istr_of(schedule);
	if (!e->expr && cal_parse(e->s, &e->expr, err, errlen) < 0)
		return NULL;
	return cal_expr_ref(e->expr);
}

/* As istr_expr when the caller already parsed the same text: mine is
 * kept as the shared one if there is none yet.  Takes mine. */
static struct cal_expr *istr_expr_adopt(const char *schedule,
					struct cal_expr *mine)
{
	struct istr *e = istr_of(schedule);
	if (!e->expr && mine)
		e->expr = cal_expr_ref(mine);
	cal_expr_free(mine);
	return e->expr ? cal_expr_ref(e->expr) : NULL;
}

/* ---- the heap, by due time ---- */

static void heap_set(struct sched *s, size_t i, struct hent e)
{
	s->heap[i] = e;
	e.job->hidx = (uint32_t)i;
}

static void heap_up(struct sched *s, size_t i)
{
	if (s->heap_bulk)
		return;
	struct hent e = s->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (s->heap[p].due <= e.due)
			break;
		heap_set(s, i, s->heap[p]);
		i = p;
	}
	heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i)
{
	if (s->heap_bulk)
		return;
	struct hent e = s->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && s->heap[c + 1].due < s->heap[c].due)
			c++;
		if (s->heap[c].due >= e.due)
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, e);
}

static void heap_remove(struct sched *s, struct sjob *j)
{
	size_t i = j->hidx;
	if (j->hidx == HIDX_NONE)
		return;
	j->hidx = HIDX_NONE;
	struct hent last = s->heap[--s->nheap];
	if (last.job == j)
		return;
	heap_set(s, i, last);
	heap_up(s, i);
	heap_down(s, last.job->hidx);
}

/* Sets job's key (job->due and its heap entry's copy). */
static void heap_rekey(struct sched *s, struct sjob *job, int64_t due)
{
	bool earlier = due < job->due;
	job->due = due;
	s->heap[job->hidx].due = due;
	earlier ? heap_up(s, job->hidx) : heap_down(s, job->hidx);
}

/* Ends a bulk build (heap_up and heap_down did nothing): Floyd's
 * heapify, O(n) rather than n sift-ups. */
static void heap_build(struct sched *s)
{
	s->heap_bulk = false;
	for (size_t i = s->nheap / 2; i-- > 0;)
		heap_down(s, i);
}

/* Makes room for one more in the job array *v of *cap: doubles it when
 * full (n == *cap).  0 or -ENOMEM (the array is unchanged). */
/* The array v of *cap elements of size elem, with room for need: v
 * itself, or v grown (the capacity doubled from 1024 until it holds
 * need, *cap updated).  NULL when out of memory (v and *cap unchanged). */
static void *array_room(void *v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return v;
	size_t c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	void *nv = realloc(v, c * elem);
	if (nv)
		*cap = c;
	return nv;
}

static int heap_insert(struct sched *s, struct sjob *j)
{
	struct hent *v =
		array_room(s->heap, &s->heap_cap, s->nheap + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->heap = v;
	heap_set(s, s->nheap++, (struct hent){ j->due, j });
	heap_up(s, j->hidx);
	return 0;
}

/* ---- kinds ---- */

static struct kind *kind_find(const struct sched *s, const char *name)
{
	for (struct kind *k = s->kinds; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static struct kind *kind_up(const struct sched *s, const char *name)
{
	struct kind *k = kind_find(s, name);
	return k && k->up ? k : NULL;
}

int sched_add_kind(struct sched *s, loopd_plugin *p, const struct loopd_kind *k)
{
	size_t need = offsetof(struct loopd_kind, stop) + sizeof(k->stop);
	if (!k || k->size < need || !k->name || !*k->name || !k->start)
		return -EINVAL;
	if (kind_find(s, k->name))
		return -EEXIST;
	struct kind *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(k->name))) {
		free(n);
		return -ENOMEM;
	}
	memcpy(&n->k, k, need);
	s->kind_gen++;
	n->k.name = n->name;
	n->p = p;
	n->next = s->kinds;
	s->kinds = n;
	return 0;
}

/* ---- job state as shown ---- */

/* Whether the job's kind is loaded, cached per job until the set of
 * kinds changes (s->kind_gen): GetStatus and jobs.List ask it of every
 * job. */
static bool job_kind_ok(const struct sjob *job, const struct sched *s)
{
	struct sjob *j = (struct sjob *)job; /* a cache, not a change */
	if (j->kind_gen != s->kind_gen) {
		j->kind_ok = kind_up(s, job->j.kind) != NULL;
		j->kind_gen = s->kind_gen;
	}
	return j->kind_ok;
}

/* The state as shown: the stored one, or running / waiting-for-plugin. */
static enum store_job_state job_state_of(const struct sjob *job,
					 const struct sched *s)
{
	if (job->j.state == STORE_JOB_PAUSED || job->j.state == STORE_JOB_DONE)
		return job->j.state;
	if (job->running)
		return STORE_JOB_RUNNING;
	return job_kind_ok(job, s) ? STORE_JOB_ACTIVE : STORE_JOB_WAITING;
}

static const char *job_state(const struct sjob *job, const struct sched *s)
{
	return store_job_state_names[job_state_of(job, s)];
}

static bool job_failing(const struct sjob *job)
{
	return job->j.last_result == STORE_RESULT_FAILED ||
	       job->j.last_result == STORE_RESULT_TIMEOUT;
}

/* Counts the job (it entered the index) under its state as shown now. */
static void job_file(struct sched *s, struct sjob *job)
{
	job->filed_state = (uint8_t)job_state_of(job, s);
	job->filed_failing = job_failing(job);
	job->filed = true;
	s->by_state[job->filed_state]++;
	s->failing += job->filed_failing;
}

/* Counts the job again, for an O(1) sched_counts: called after every
 * change of what job_state_of or job_failing read (the base state,
 * running, the kinds that are up, the last result).  Jobs out of the
 * index are not counted. */
static void job_refile(struct sched *s, struct sjob *job)
{
	if (!job->filed)
		return;
	job_unfile(s, job);
	job_file(s, job);
}

/* Every job again: after the set of kinds that are up changed. */
static void refile_all(struct sched *s)
{
	if (!s->started)
		return; /* sched_start files them */
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			job_refile(s, j);
}

/* Why a job has no next run, or NULL when it has one. */
static const char *next_reason(const struct sjob *job, const struct sched *s)
{
	if (job_bad(job))
		return job_bad(job);
	if (job->j.state == STORE_JOB_PAUSED)
		return "paused";
	if (job->j.state == STORE_JOB_DONE)
		return "done: a one-shot that has run";
	if (!kind_up(s, job->j.kind))
		return "waiting for a plugin that provides its kind";
	if (job->j.next_usec == STORE_NULL) {
		if (job->expr && cal_expr_at_reboot(job->expr))
			return "@reboot: runs when loopd starts";
		return "the schedule has no time left to fire";
	}
	return NULL;
}

static json_t *int_or_null(int64_t v)
{
	return v == STORE_NULL ? json_null() : json_integer(v);
}

static void jb_intn(struct jbuf *b, const char *key, int64_t v)
{
	if (v == STORE_NULL)
		jb_null(b, key);
	else
		jb_int(b, key, v);
}

/* The Job object of PROTOCOL.md as JSON text: the one place its fields
 * are written (job_json parses it back for the jansson callers).  args
 * is the stored canonical JSON, checked when the job was loaded or set. */
static void job_text(const struct sched *s, const struct sjob *job,
		     struct jbuf *b)
{
	const struct store_job *j = &job->j;
	const char *why = next_reason(job, s);
	const char *args = j->args_json ? j->args_json : "{}";
	jb_open(b, '{');
	jb_str(b, "name", j->name);
	jb_str(b, "kind", j->kind);
	jb_str(b, "plugin", j->plugin ? j->plugin : "");
	jb_str(b, "schedule", j->schedule);
	jb_str(b, "tz", j->tz && *j->tz ? j->tz : tz_zone_name(s->local));
	jb_raw(b, "args", args, strlen(args));
	jb_str(b, "state", job_state(job, s));
	jb_str(b, "overlap", store_overlap_names[j->overlap]);
	jb_str(b, "catchup", store_catchup_names[j->catchup]);
	jb_int(b, "timeout_ms", j->timeout_ms);
	jb_int(b, "retries", j->retries);
	jb_int(b, "retry_backoff_ms", j->retry_backoff_ms);
	jb_int(b, "jitter_ms", j->jitter_ms);
	jb_intn(b, "next_usec", why ? STORE_NULL : j->next_usec);
	jb_str(b, "next_reason", why);
	jb_intn(b, "last_usec", j->last_usec);
	jb_str(b, "last_result",
	       j->last_result == STORE_RESULT_NONE
		       ? NULL
		       : store_result_names[j->last_result]);
	jb_intn(b, "last_run", j->last_run);
	jb_int(b, "created_usec", j->created_usec);
	jb_int(b, "updated_usec", j->updated_usec);
	jb_close(b, '}');
}

static json_t *job_json(const struct sched *s, const struct sjob *job)
{
	struct jbuf b;
	jb_init(&b);
	job_text(s, job, &b);
	json_t *o = json_loadb(b.p, b.len, 0, NULL);
	jb_free(&b);
	return o ? o : json_object();
}

json_t *sched_run_to_json(const struct store_run *r, bool with_output)
{
	json_t *o =
		json_pack("{s:I, s:s, s:s, s:I, s:o, s:o, s:o, s:s, s:o,"
			  " s:I, s:b}",
			  "id", (json_int_t)r->id, "job", r->job ? r->job : "",
			  "trigger", store_trigger_names[r->trigger], "attempt",
			  (json_int_t)r->attempt, "scheduled_usec",
			  int_or_null(r->scheduled_usec), "started_usec",
			  int_or_null(r->started_usec), "finished_usec",
			  int_or_null(r->finished_usec), "result",
			  store_result_names[r->result], "exit_code",
			  int_or_null(r->exit_code), "output_bytes",
			  (json_int_t)r->output_bytes, "output_truncated",
			  r->output_truncated > 0);
	if (with_output) {
		/* Kinds and the store keep output valid UTF-8; a NUL or a
		 * stray byte still must not lose the rest. */
		json_t *t = json_stringn_nocheck(r->output ? r->output : "",
						 r->output ? r->output_len : 0);
		json_object_set_new(o, "output", t);
	}
	return o;
}

/* ---- loading and the next fire time ---- */

static struct sjob *job_new(struct sched *s, struct store_job *rec)
{
	struct sjob *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->j = *rec;
	*rec = (struct store_job){ 0 };
	store_job_init(rec);
	job_share_strings(s, &job->j);
	job->s = s;
	job->hidx = HIDX_NONE;
	job->refs = 1;
	job->due = INT64_MAX;
	return job;
}

static void job_unref(struct sjob *job)
{
	if (--job->refs)
		return;
	cal_expr_free(job->expr);
	job_more_free(job);
	job_unshare_strings(job->s, &job->j);
	store_job_clear(&job->j);
	free(job);
}

/* The job's fixed jitter: a hash of its name, so it never wanders. */
static int64_t jitter_for(const struct store_job *j)
{
	if (j->jitter_ms <= 0)
		return 0;
	uint64_t h = hash_str(j->name);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (int64_t)(h % ((uint64_t)j->jitter_ms + 1)) * 1000;
}

/* Parses the job's schedule and zone; a failure is kept as its reason. */
static void job_compile(struct sched *s, struct sjob *job)
{
	char err[CAL_ERR_MAX + 64];
	cal_expr_free(job->expr);
	job->expr = NULL;
	if (job->more) {
		free(job->more->bad);
		job->more->bad = NULL;
	}
	job->zone = zone_get(s, job->j.tz, err, sizeof(err));
	if (job->zone && !job->j.schedule)
		snprintf(err, sizeof(err), "no schedule");
	else if (job->zone &&
		 (job->expr = istr_expr(job->j.schedule, err, sizeof(err)))) {
		job->jitter_usec = jitter_for(&job->j);
		return;
	}
	char msg[sizeof(err) + 32];
	snprintf(msg, sizeof(msg), "unusable schedule: %s", err);
	if (job_more(job))
		job->more->bad = strdup(msg);
	log_warnx("job %s: %s", job->j.name, msg);
}

/* cal_next, remembering its last answer: the thousands of jobs of one
 * schedule and zone that are due at the same second ask it the same
 * question (anchor_usec counts for `every` only).  The memo holds a
 * reference to its expression, so that no other can take its address. */
static int64_t job_next_after(const struct sjob *job, int64_t after)
{
	struct next_memo *m = &job->s->memo;
	if (!job->expr)
		return CAL_NEVER;
	int64_t anchor =
		cal_expr_kind(job->expr) == CAL_EVERY ? job->j.created_usec : 0;
	if (m->e == job->expr && m->z == job->zone && m->anchor == anchor &&
	    m->after == after)
		return m->next;
	if (m->e != job->expr) {
		cal_expr_free(m->e);
		m->e = cal_expr_ref(job->expr);
	}
	m->z = job->zone;
	m->anchor = anchor;
	m->after = after;
	m->next = cal_next(job->expr, job->zone, anchor, after);
	return m->next;
}

/* When job is due: its next fire time plus its jitter. */
static int64_t job_due(const struct sjob *job)
{
	return job->j.next_usec + job->jitter_usec;
}

/* Puts the job in the heap (or takes it out) by its next_usec: keyed at
 * its due time less the lead until it is prepared (prep_job), then at
 * its due time.  A prepared run that is not for the job's next fire time
 * any more, or of a job that leaves the heap, is dropped. */
static void job_queue(struct sched *s, struct sjob *job)
{
	bool want = !job->removed && job->j.state == STORE_JOB_ACTIVE &&
		    job->j.next_usec != STORE_NULL && !job_bad(job) &&
		    s->started && !s->stopping && kind_up(s, job->j.kind);
	struct loopd_run *prep = job_prep(job);
	if (prep && (!want || prep->r.scheduled_usec != job->j.next_usec))
		prep_drop(s, job);
	if (!want) {
		heap_remove(s, job);
		job->due = INT64_MAX;
		return;
	}
	int64_t due = job_due(job) - (job->prep ? 0 : s->lead_usec);
	if (job->hidx == HIDX_NONE) {
		job->due = due;
		if (heap_insert(s, job) < 0)
			log_warnx("job %s: out of memory, not scheduled",
				  job->j.name);
	} else if (due != job->due) {
		heap_rekey(s, job, due);
	}
	if (due < s->timer_due)
		arm(s);
}

/* Sets next_usec to the first fire time after `after`. */
static void job_set_next(struct sched *s, struct sjob *job, int64_t after)
{
	int64_t n = job_next_after(job, after);
	job->j.next_usec = n == CAL_NEVER ? STORE_NULL : n;
	job_queue(s, job);
}

/* A job as the store gave it, checked; not in the index yet. */
static struct sjob *load_job(struct sched *s, struct store_job *rec)
{
	struct sjob *job = job_new(s, rec);
	if (!job)
		return NULL;
	/* args go out as stored: a row edited by hand into bad JSON is
	 * served as {} and the job is not run.  (NULL: {}.) */
	json_t *args = job->j.args_json ? json_loads(job->j.args_json,
						     JSON_DECODE_ANY, NULL)
					: NULL;
	if (job->j.args_json && !json_is_object(args)) {
		log_warnx("job %s: its args in the database are not a JSON "
			  "object; served as {} and not run until edited",
			  job->j.name);
		free(job->j.args_json);
		job->j.args_json = NULL;
		job->j.state = STORE_JOB_PAUSED;
	}
	json_decref(args);
	/* running / waiting are derived; an old file may hold them. */
	if (job->j.state == STORE_JOB_RUNNING ||
	    job->j.state == STORE_JOB_WAITING)
		job->j.state = STORE_JOB_ACTIVE;
	return job;
}

struct loading {
	struct sched *s;
	struct sjob **v;
	size_t n, cap;
};

static int load_one(void *ctx, struct store_job *rec)
{
	struct loading *ld = ctx;
	struct sjob **v = array_room(ld->v, &ld->cap, ld->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ld->v = v;
	struct sjob *job = load_job(ld->s, rec);
	if (!job)
		return -ENOMEM;
	ld->v[ld->n++] = job;
	return 0;
}

/* The jobs are gathered first, so that the index is sized once. */
int sched_load(struct sched *s)
{
	struct loading ld = { .s = s };
	int e = store_load_jobs(s->store, load_one, &ld);
	if (!e)
		index_resize(s, s->njobs + ld.n);
	for (size_t i = 0; i < ld.n; i++) {
		if (e)
			job_unref(ld.v[i]);
		else
			index_add(s, ld.v[i]);
	}
	free(ld.v);
	return e;
}

/* ---- the store, for the scheduler's own writes ---- */

struct sreq {
	struct store_req req;
	struct sched *s;
	void (*then)(struct sreq *q, int status);
	void *ud;
	struct sjob *job;  /* a reference, or NULL */
	struct sreq *next; /* in sched.unwritten */
	bool again;        /* a write of an unwritten result */
	/* A run's end: its watcher, told once the end is committed. */
	struct watcher *w;
	struct sreq *wnext; /* in sched.waiting */
};

static void sreq_done(struct store_req *req, int status)
{
	struct sreq *q = (struct sreq *)req;
	if (q->then)
		q->then(q, status);
	if (q->job)
		job_unref(q->job);
	store_req_clear(&q->req);
	free(q);
}

static struct sreq *sreq_new(struct sched *s, enum store_op op,
			     struct sjob *job)
{
	struct sreq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	store_req_init(&q->req, op);
	q->req.done = sreq_done;
	q->s = s;
	if (job) {
		job->refs++;
		q->job = job;
	}
	return q;
}

/* Submits q; on refusal, runs its then() with the error later. */
static void sreq_submit(struct sreq *q)
{
	int r = store_submit(q->s->store, &q->req);
	if (r < 0)
		sreq_done(&q->req, r);
}

static void log_store_fail(const char *what, const char *name, int status)
{
	if (status < 0 && status != -ECANCELED)
		log_msg(LOGL_ERR, NULL, "%s %s: not recorded: %s", what, name,
			strerror(-status));
}

static void job_persist_done(struct sreq *q, int status)
{
	log_store_fail("job", q->job->j.name, status);
}

/* Writes the job's current record (next and last fields). */
static void job_persist(struct sched *s, struct sjob *job)
{
	if (job->removed)
		return;
	if (job->busy) {
		job->dirty = true; /* the client's write goes first */
		return;
	}
	job->dirty = false;
	struct sreq *q = sreq_new(s, STORE_JOB_UPDATE, job);
	if (!q || store_job_copy(&q->req.job, &job->j) < 0) {
		if (q)
			sreq_done(&q->req, -ENOMEM);
		return;
	}
	q->then = job_persist_done;
	sreq_submit(q);
}

/* ---- runs ---- */

static void watcher_call(struct sched_result *res, struct watcher *w,
			 bool final)
{
	sched_done_fn fn = final ? w->finished : w->started;
	if (fn)
		fn(w->ud, res);
	else
		json_decref(res->job);
	res->job = NULL;
}

/* Tells w the run r ended, and frees w. */
static void watcher_final(struct watcher *w, const struct store_run *r)
{
	struct sched_result res = { .job = sched_run_to_json(r, false) };
	if (w->started) /* it ended before it started: report both */
		watcher_call(&(struct sched_result){ .job = json_deep_copy(
							     res.job) },
			     w, false);
	watcher_call(&res, w, true);
	free(w);
}

/* Tells the run's watcher (a Trigger) where the run is. */
static void run_notify(struct loopd_run *run, bool final)
{
	struct watcher *w = run->watchers;
	if (!w)
		return;
	if (final) {
		run->watchers = NULL;
		watcher_final(w, &run->r);
		return;
	}
	struct sched_result res = { .job = sched_run_to_json(&run->r, false) };
	watcher_call(&res, w, false);
	w->started = NULL; /* told once */
}

__attribute__((format(printf, 3, 4))) static void
watcher_fail(struct watcher *w, int status, const char *fmt, ...)
{
	if (!w)
		return;
	struct sched_result res = { .status = status };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res.message, sizeof(res.message), fmt, ap);
	va_end(ap);
	/* The first reply, or the last if the start was told already. */
	sched_done_fn fn = w->started ? w->started : w->finished;
	if (fn)
		fn(w->ud, &res);
	free(w);
}

static bool phase_inflight(enum run_phase ph)
{
	return ph <= RP_STOPPING;
}

static bool phase_prepared(enum run_phase ph)
{
	return ph >= RP_PREPARING && ph <= RP_UNRECORDED;
}

/* A run is in flight (counted in runs_inflight) from run_new (or its
 * time, when prepared) until it is RP_DONE or freed; prepared (counted in
 * runs_prepared) before its time. */
static void run_set_phase(struct loopd_run *run, enum run_phase ph)
{
	struct sched_counts *c = &run->s->c;
	c->runs_inflight -= phase_inflight(run->phase);
	c->runs_prepared -= phase_prepared(run->phase);
	run->phase = ph;
	c->runs_inflight += phase_inflight(ph);
	c->runs_prepared += phase_prepared(ph);
}

static void run_update_detach(struct loopd_run *run);

static void run_free(struct loopd_run *run)
{
	run_set_phase(run, RP_DONE);
	run_update_detach(run);
	if (run->in_burst)
		run->s->burst[run->bidx].run = NULL;
	if (run->end_pending)
		run->s->burst[run->eidx].run = NULL;
	*run->pprev = run->next;
	if (run->next)
		run->next->pprev = run->pprev;
	free(run->watchers);
	job_unref(run->job);
	store_run_clear(&run->r);
	free(run);
}

static void close_timer(struct sched *s, loopd_id *t)
{
	if (*t > 0)
		loop_close(s->loop, NULL, *t, NULL);
	*t = 0;
}

static json_t *run_event_build(const void *arg)
{
	return json_pack("{s:o}", "run", sched_run_to_json(arg, false));
}

static void run_event_drop(void *arg)
{
	struct store_run *r = arg;
	free(r->job);
	free(r);
}

/* A run event: its JSON is built only if someone reads it (see
 * events_emit_lazy); until then a copy of the record (no output) waits
 * in the ring. */
static void run_event(struct sched *s, const char *type,
		      const struct loopd_run *run)
{
	if (!s->ev)
		return;
	struct store_run *r = malloc(sizeof(*r));
	char *job = strdup(run->r.job);
	if (!r || !job) {
		free(r);
		free(job);
		log_warnx("run %" PRId64 " of %s: out of memory: event %s lost",
			  run->r.id, run->r.job, type);
		return;
	}
	*r = run->r;
	r->output = NULL;
	r->job = job;
	events_emit_lazy(s->ev, type, run_event_build, run_event_drop, r);
}

/* Records an occurrence that did not run (missed, skipped). */
static void run_record(struct sched *s, struct sjob *job,
		       enum store_result result, enum store_trigger trig,
		       int64_t when, struct watcher *w);

static void run_record_done(struct sreq *q, int status)
{
	struct loopd_run *run = q->ud;
	if (status < 0) {
		log_store_fail("run of", run->r.job, status);
		if (run->watchers)
			watcher_fail(run->watchers, status,
				     "the run of %s was not recorded",
				     run->r.job);
		run->watchers = NULL;
	} else {
		run->r.id = q->req.run.id;
		run_event(q->s, "run.finished", run);
		run_notify(run, true);
	}
	run_free(run);
}

static struct loopd_run *run_new(struct sched *s, struct sjob *job,
				 enum store_trigger trig, int64_t when,
				 int64_t attempt)
{
	struct loopd_run *run = calloc(1, sizeof(*run));
	if (!run)
		return NULL;
	store_run_init(&run->r);
	if (!(run->r.job = strdup(job->j.name))) {
		free(run);
		return NULL;
	}
	run->s = s;
	run->job = job;
	job->refs++;
	run->r.trigger = trig;
	run->r.attempt = attempt;
	run->r.scheduled_usec = when;
	run->next = s->runs;
	if (s->runs)
		s->runs->pprev = &run->next;
	run->pprev = &s->runs;
	s->runs = run;
	s->c.runs_inflight++; /* RP_COMMITTING */
	return run;
}

/* Fills q's run from run's record (output moved, not copied). */
static int run_to_req(struct sreq *q, struct loopd_run *run)
{
	struct store_run *d = &q->req.run, *r = &run->r;
	char *out = r->output;
	r->output = NULL;
	*d = *r;
	d->output = out;
	d->job = strdup(r->job);
	return d->job ? 0 : -ENOMEM;
}

static void run_record(struct sched *s, struct sjob *job,
		       enum store_result result, enum store_trigger trig,
		       int64_t when, struct watcher *w)
{
	struct loopd_run *run = run_new(s, job, trig, when, 1);
	struct sreq *q = run ? sreq_new(s, STORE_RUN_ADD, NULL) : NULL;
	if (!q) {
		if (run)
			run_free(run);
		watcher_fail(w, -ENOMEM, "out of memory recording %s",
			     job->j.name);
		return;
	}
	run->watchers = w;
	run->r.result = result;
	run->r.finished_usec = now_usec(s);
	run_set_phase(run, RP_DONE);
	result == STORE_RESULT_MISSED ? s->c.missed++ : s->c.skipped++;
	q->then = run_record_done;
	q->ud = run;
	if (run_to_req(q, run) < 0) {
		sreq_done(&q->req, -ENOMEM);
		return;
	}
	sreq_submit(q);
}

/* A write worth another try: the disk or memory was short.  Not when a
 * row is gone with its job (-ENOENT) or the store is degraded. */
static bool retryable(int status)
{
	return status == -ENOSPC || status == -EIO || status == -ENOMEM ||
	       status == -EBUSY;
}

static void unwritten_fire(loopd_plugin *unused, void *ud)
{
	struct sched *s = ud;
	s->unwritten_timer = 0;
	sched_write_unwritten(s);
}

/* Keeps the write q failed (an ended run's result, or the deletion of a
 * prepared run's record), to make it again when the store may have
 * room: a run is never left `running`, or a run that never started
 * `starting`, in the history because a write fell on a full disk. */
static void unwritten_keep(struct sreq *q)
{
	struct sched *s = q->s;
	struct sreq *k = s->nunwritten < UNWRITTEN_MAX
				 ? sreq_new(s, q->req.op, NULL)
				 : NULL;
	if (!k) {
		log_msg(LOGL_ERR, NULL,
			"run %lld of %s: %s lost: %zu results wait to be written already",
			(long long)q->req.run.id, q->req.run.job,
			store_result_names[q->req.run.result], s->nunwritten);
		return;
	}
	k->req.run = q->req.run; /* its strings move to k */
	q->req.run.job = q->req.run.output = NULL;
	struct store_run *r = &k->req.run;
	if (s->unwritten_bytes + r->output_len > UNWRITTEN_OUTPUT) {
		free(r->output);
		r->output = NULL;
		r->output_len = 0;
	}
	s->unwritten_bytes += r->output_len;
	s->nunwritten++;
	k->then = q->then;
	k->again = true;
	k->next = s->unwritten;
	s->unwritten = k;
	if (!s->unwritten_timer && !s->stopping) {
		s->unwritten_timer =
			loop_timer(s->loop, NULL, UNWRITTEN_RETRY_MS, 0,
				   unwritten_fire, s);
		if (s->unwritten_timer > 0)
			loop_ref(s->loop, NULL, s->unwritten_timer, 0);
	}
}

void sched_write_unwritten(struct sched *s)
{
	close_timer(s, &s->unwritten_timer);
	struct sreq *q = s->unwritten;
	s->unwritten = NULL;
	s->nunwritten = s->unwritten_bytes = 0;
	while (q) {
		struct sreq *next = q->next;
		q->next = NULL;
		sreq_submit(q);
		q = next;
	}
}

/* A run's end committed, or not (status): its watcher is told. */
static void waiter_done(struct sreq *q, int status)
{
	struct sreq **pp = &q->s->waiting;
	while (*pp != q)
		pp = &(*pp)->wnext;
	*pp = q->wnext;
	struct watcher *w = q->w;
	q->w = NULL;
	if (status >= 0 || status == -ENOENT) { /* -ENOENT: gone with its job */
		watcher_final(w, &q->req.run);
		return;
	}
	watcher_fail(w, status,
		     "run %lld of %s ended %s, but that was not recorded: %s",
		     (long long)q->req.run.id, q->req.run.job,
		     store_result_names[q->req.run.result], strerror(-status));
}

/* The end of a run is told to its watcher once it is committed, so that
 * `run --wait` never answers a result that the run history does not
 * show yet; without a pending write (it failed at once), now. */
static void run_notify_final(struct sched *s, struct loopd_run *run)
{
	struct sreq *q = run->upd;
	if (!run->watchers || !q || q->req.run.result != run->r.result) {
		run_notify(run, true);
		return;
	}
	q->w = run->watchers;
	run->watchers = NULL;
	q->wnext = s->waiting;
	s->waiting = q;
}

static void run_update_done(struct sreq *q, int status)
{
	struct loopd_run *run = q->ud;
	if (run)
		run->upd = NULL;
	if (q->w)
		waiter_done(q, status);
	if (status >= 0 || status == -ECANCELED)
		return;
	bool ended =
		q->req.run.result > STORE_RESULT_RUNNING && retryable(status);
	if (status == -ENOENT) {
		log_msg(LOGL_DEBUG, NULL, "run %lld of %s: gone with its job",
			(long long)q->req.run.id, q->req.run.job);
		return;
	}
	if (!q->again) /* said once, not every retry */
		log_msg(LOGL_ERR, NULL, "run %lld of %s: %s not recorded: %s%s",
			(long long)q->req.run.id, q->req.run.job,
			store_result_names[q->req.run.result],
			strerror(-status),
			ended ? "; writing it again until the store takes it"
			      : "");
	if (ended)
		unwritten_keep(q);
}

/* The run's latest update no longer points at it (it is freed, or a newer
 * update follows). */
static void run_update_detach(struct loopd_run *run)
{
	if (run->upd)
		run->upd->ud = NULL;
	run->upd = NULL;
}

/* Puts the run's current state into q, an update still queued: the
 * output it holds stays unless the run has a newer one. */
static void run_req_refresh(struct sreq *q, struct loopd_run *run)
{
	struct store_run *d = &q->req.run, *r = &run->r;
	char *job = d->job, *out = d->output;
	size_t len = d->output_len;
	if (r->output) {
		free(out);
		out = r->output;
		len = r->output_len;
		r->output = NULL;
	}
	*d = *r;
	d->job = job;
	d->output = out;
	d->output_len = len;
}

/* Writes the run's current state (fire and forget: a failure is logged;
 * the batch order keeps the updates of one run in order).  An update of
 * the run that is still queued (not yet in a batch sent to the lane) is
 * brought up to date instead: `running` then the result, in one loop
 * turn, is one write; the commit shows the same run either way. */
static void run_update(struct sched *s, struct loopd_run *run)
{
	if (run->upd && run->upd->req.batch == 0) {
		run_req_refresh(run->upd, run);
		return;
	}
	struct sreq *q = sreq_new(s, STORE_RUN_UPDATE, NULL);
	if (!q)
		return;
	q->then = run_update_done;
	if (run_to_req(q, run) < 0) {
		sreq_done(&q->req, -ENOMEM);
		return;
	}
	run_update_detach(run);
	q->ud = run;
	run->upd = q;
	sreq_submit(q);
}

/* ---- the end of a run ---- */

static void retry_fire(loopd_plugin *unused, void *ud)
{
	struct sjob *job = ud;
	struct sjob_more *m = job->more; /* retry_arm made it */
	m->retry_timer = 0;
	run_start(job, STORE_TRIGGER_RETRY, m->retry_sched, m->retry_attempt,
		  NULL, true);
	job_unref(job);
}

/* Exponential backoff: backoff * 2^(attempt-1), at most a day. */
static bool retry_arm(struct sched *s, struct sjob *job,
		      const struct loopd_run *run)
{
	enum store_result r = run->r.result;
	if ((r != STORE_RESULT_FAILED && r != STORE_RESULT_TIMEOUT) ||
	    run->r.attempt > job->j.retries || job->removed || s->stopping ||
	    job_retrying(job) || job->j.state == STORE_JOB_PAUSED ||
	    !job_more(job))
		return false;
	struct sjob_more *m = job->more;
	uint64_t ms = (uint64_t)job->j.retry_backoff_ms;
	for (int64_t i = 1; i < run->r.attempt && ms < 86400000; i++)
		ms *= 2;
	ms = ms > 86400000 ? 86400000 : ms;
	m->retry_attempt = (uint32_t)run->r.attempt + 1;
	m->retry_sched = now_usec(s) + (int64_t)ms * 1000;
	m->retry_timer = loop_timer(s->loop, NULL, ms, 0, retry_fire, job);
	if (m->retry_timer <= 0)
		return false;
	job->refs++;
	return true;
}

/* A one-shot with nothing left to do is done. */
static void job_maybe_done(struct sjob *job)
{
	if (job->expr && cal_expr_kind(job->expr) == CAL_AT &&
	    job->j.next_usec == STORE_NULL && !job->running &&
	    !job_nqueue(job) && !job_retrying(job) &&
	    job->j.state == STORE_JOB_ACTIVE) {
		job->j.state = STORE_JOB_DONE;
		job_refile(job->s, job);
	}
}

static void queue_pop(struct sched *s, struct sjob *job)
{
	if (!job_nqueue(job) || job->running || s->stopping)
		return;
	struct sjob_more *m = job->more;
	struct qent e = m->queue[0];
	memmove(m->queue, m->queue + 1, --m->nqueue * sizeof(e));
	run_start(job, e.trig, e.sched_usec, e.attempt, e.w, true);
}

static void run_end_at(struct loopd_run *run, enum store_result result,
		       int64_t exit_code, int64_t at)
{
	struct sched *s = run->s;
	struct sjob *job = run->job;
	close_timer(s, &run->timeout_timer);
	close_timer(s, &run->grace_timer);
	run_set_phase(run, RP_DONE);
	run->r.result = result;
	run->r.exit_code = exit_code;
	run->r.finished_usec = at;
	job->running--;
	s->c.runs_finished++;
	job->j.last_result = result;
	job->j.last_run = run->r.id;
	job->j.updated_usec = run->r.finished_usec;
	job_refile(s, job);
	run_update(s, run);
	run_event(s, "run.finished", run);
	run_notify_final(s, run);
	retry_arm(s, job, run);
	job_maybe_done(job);
	job_persist(s, job);
	queue_pop(s, job);
	/* One that ended inside its start is freed when the start returns
	 * (run_go reads it then). */
	if (!run->host_finished && run != s->in_start)
		run_free(run);
}

static void run_end(struct loopd_run *run, enum store_result result,
		    int64_t exit_code)
{
	run_end_at(run, result, exit_code, now_usec(run->s));
}

static bool burst_push(struct sched *s, struct loopd_run *run, bool end,
		       uint32_t *idx);
static void burst_apply(struct sched *s);

/* The kind ended the run.  A run started in the burst ends once the
 * burst's runs have all started (burst_apply), with the time it ended
 * (for one that ended inside its own start, the time the start returned:
 * run_go).  Any other run ends now, after what the burst has logged so
 * far, so that ends take effect in the order they happened (a job's
 * last run is the one that ended last). */
static void run_ends(struct loopd_run *run, enum store_result result,
		     int64_t exit_code)
{
	struct sched *s = run->s;
	if (run->in_burst && burst_push(s, run, true, &run->eidx)) {
		run->end_pending = true;
		run->end_result = result;
		run->end_code = exit_code;
		run->end_usec = run == s->in_start ? STORE_NULL : now_usec(s);
		return;
	}
	if (s->bursting)
		burst_apply(s);
	run_end(run, result, exit_code);
}

/* The result of a run the kind finished with status. */
static enum store_result result_of(const struct loopd_run *run, int status)
{
	switch (run->why) {
	case STOP_TIMEOUT: return STORE_RESULT_TIMEOUT;
	case STOP_REPLACE: return STORE_RESULT_CANCELLED;
	case STOP_SHUTDOWN: return STORE_RESULT_INTERRUPTED;
	default: return status == 0 ? STORE_RESULT_OK : STORE_RESULT_FAILED;
	}
}

static void run_set_output(struct loopd_run *run, const char *out, size_t len,
			   int status)
{
	char msg[160];
	if (status < 0 && len == 0) {
		int n = snprintf(
			msg, sizeof(msg), "loopd: the %s run failed: %s\n",
			run->kind ? run->kind->name : "job", strerror(-status));
		out = msg;
		len = (size_t)n;
	}
	free(run->r.output);
	run->r.output = NULL;
	run->r.output_len = 0;
	run->r.output_bytes = (int64_t)len;
	if (!len)
		return;
	if ((run->r.output = malloc(len + 1))) {
		memcpy(run->r.output, out, len);
		run->r.output[len] = '\0';
		run->r.output_len = len;
	}
}

int sched_finish(loopd_run *run, int status, const char *output, size_t len)
{
	if (run->phase == RP_DONE || run->phase == RP_COMMITTING ||
	    run->end_pending)
		return -EALREADY;
	run_set_output(run, output, output ? len : 0, status);
	int64_t code = status >= 0 && status <= 255 ? status : STORE_NULL;
	run_ends(run, result_of(run, status), code);
	return 0;
}

const char *sched_run_job(loopd_run *run)
{
	return run->r.job;
}

int64_t sched_run_id(loopd_run *run)
{
	return run->r.id;
}

/* ---- stopping a run ---- */

static void grace_fire(loopd_plugin *unused, void *ud)
{
	struct loopd_run *run = ud;
	run->grace_timer = 0;
	if (run->phase == RP_DONE)
		return;
	log_msg(LOGL_WARN, run->p ? run->p->name : NULL,
		"run %" PRId64 " of %s did not end within the kill grace; "
		"finished by loopd",
		run->r.id, run->r.job);
	run->host_finished = true;
	run_end(run, result_of(run, -ETIMEDOUT), STORE_NULL);
}

static void run_stop(struct loopd_run *run, enum stop_why why)
{
	struct sched *s = run->s;
	if (run->phase != RP_RUNNING || run->end_pending)
		return; /* (ending: see burst_flush) */
	run_set_phase(run, RP_STOPPING);
	run->why = why;
	run->grace_timer = loop_timer(s->loop, NULL, s->o.kill_grace_ms, 0,
				      grace_fire, run);
	if (run->kind && run->kind->k.stop && run->kind->p) {
		struct loop_call lc;
		loop_call_enter(s->loop, run->p, "kind.stop", &lc);
		run->kind->k.stop(run->p, run);
		loop_call_leave(s->loop, &lc);
	}
}

static void timeout_fire(loopd_plugin *unused, void *ud)
{
	struct loopd_run *run = ud;
	run->timeout_timer = 0;
	log_info("job %s: run %" PRId64 " timed out after %" PRId64 " ms",
		 run->r.job, run->r.id, run->job->j.timeout_ms);
	run_stop(run, STOP_TIMEOUT);
}

/* ---- runs prepared ahead of their time ---- */

static void run_committed(struct sreq *q, int status);
static void run_go(struct loopd_run *run);

static struct loopd_run *job_prep(const struct sjob *job)
{
	if (!job->prep || job->prep == PREP_SKIP)
		return NULL;
	return job->s->prep[job->prep - 1];
}

/* Closes the holes prep_unlink left in s->prep. */
static void prep_compact(struct sched *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nprep; i++) {
		struct loopd_run *run = s->prep[i];
		if (!run)
			continue;
		run->pidx = (uint32_t)n;
		run->job->prep = run->pidx + 1;
		s->prep[n++] = run;
	}
	s->nprep = n;
}

static int prep_link(struct sched *s, struct loopd_run *run)
{
	if (s->nprep == s->prep_cap && s->prep_live <= s->nprep / 2)
		prep_compact(s);
	if (s->nprep == s->prep_cap) {
		size_t n = s->prep_cap ? s->prep_cap * 2 : 64;
		struct loopd_run **v =
			n < PREP_SKIP ? realloc(s->prep, n * sizeof(*v)) : NULL;
		if (!v)
			return -ENOMEM;
		s->prep = v;
		s->prep_cap = n;
	}
	run->pidx = (uint32_t)s->nprep;
	s->prep[s->nprep++] = run;
	s->prep_live++;
	run->job->prep = run->pidx + 1;
	return 0;
}

/* Takes run out of s->prep: its slot is left a hole (touching no other
 * run: in a burst each start takes one), closed by prep_compact, or
 * dropped at once at the end. */
static void prep_unlink(struct sched *s, struct loopd_run *run)
{
	s->prep[run->pidx] = NULL;
	s->prep_live--;
	run->job->prep = 0;
	while (s->nprep && !s->prep[s->nprep - 1])
		s->nprep--;
}

static void run_delete_done(struct sreq *q, int status)
{
	/* -ENOENT: it went with its job, or its own commit failed. */
	if (status >= 0 || status == -ENOENT || status == -ECANCELED)
		return;
	bool again = retryable(status);
	if (!q->again)
		log_msg(LOGL_ERR, NULL,
			"run %lld of %s, prepared and not started: not "
			"deleted: %s; %s",
			(long long)q->req.run.id, q->req.run.job,
			strerror(-status),
			again ? "deleting it again until the store takes it"
			      : "left `starting` until the next start marks "
				"it interrupted");
	if (again)
		unwritten_keep(q);
}

/* Deletes the record of a prepared run that did not start. */
static void run_delete(struct sched *s, const struct loopd_run *run)
{
	struct sreq *q = sreq_new(s, STORE_RUN_DELETE, NULL);
	if (q && !(q->req.run.job = strdup(run->r.job))) {
		sreq_done(&q->req, -ENOMEM);
		q = NULL;
	}
	if (!q) {
		log_msg(LOGL_ERR, NULL,
			"run %lld of %s: out of memory deleting it",
			(long long)run->r.id, run->r.job);
		return;
	}
	q->req.run.id = run->r.id;
	q->then = run_delete_done;
	sreq_submit(q);
}

/* A prepared run (out of s->prep, or NULL) goes without starting: its
 * record is deleted now, or once its commit returns. */
static void prep_discard(struct loopd_run *run)
{
	if (!run)
		return;
	if (run->phase == RP_PREPARING) {
		run_set_phase(run, RP_DROPPED); /* prep_done frees it */
		return;
	}
	if (run->phase == RP_PREPARED)
		run_delete(run->s, run);
	run_free(run);
}

/* The job's prepared run, if any, goes without starting.  The caller
 * puts the job back in the heap (job_queue) if it is to stay there. */
static void prep_drop(struct sched *s, struct sjob *job)
{
	struct loopd_run *run = job_prep(job);
	if (run) {
		prep_unlink(s, run);
		prep_discard(run);
	}
	job->prep = 0; /* PREP_SKIP too */
}

/* The job's prepared run for the occurrence `when`, taken out of s->prep
 * to start; NULL when there is none.  Only an occurrence handled on time
 * (due_start's run_start: trigger schedule, not forced) takes it. */
static struct loopd_run *prep_take(struct sjob *job, enum store_trigger trig,
				   int64_t when, bool force)
{
	struct loopd_run *run = job_prep(job);
	if (!run || force || trig != STORE_TRIGGER_SCHEDULE ||
	    run->r.scheduled_usec != when)
		return NULL;
	prep_unlink(job->s, run);
	return run;
}

/* At its time, overlap `skip`: the prepared run's own record becomes
 * `skipped` (no second record). */
static void prep_skip(struct loopd_run *run)
{
	struct sched *s = run->s;
	bool committing = run->phase == RP_PREPARING;
	run->r.result = STORE_RESULT_SKIPPED;
	run->r.finished_usec = now_usec(s);
	run_set_phase(run, RP_DONE);
	s->c.skipped++;
	run_update(s, run); /* after its RUN_ADD: the lane keeps the order */
	run_event(s, "run.finished", run);
	if (!committing)
		run_free(run); /* else prep_done frees it */
}

/* The commit of a prepared run's `starting` record returned. */
static void prep_done(struct sreq *q, int status)
{
	struct loopd_run *run = q->ud;
	switch (run->phase) {
	case RP_COMMITTING: /* its time came first: it starts now */
		run_committed(q, status);
		return;
	case RP_PREPARING:
		if (status < 0)
			log_store_fail("prepared run of", run->r.job, status);
		run_set_phase(run, status < 0 ? RP_UNRECORDED : RP_PREPARED);
		return;
	case RP_DROPPED:
		if (status >= 0)
			run_delete(q->s, run);
		run_free(run);
		return;
	default: /* skipped at its time (prep_skip) */ run_free(run); return;
	}
}

/* job is due within the lead: its run is made and its `starting` record
 * (scheduled_usec its next fire time, started_usec null) submitted; the
 * job is keyed at its due time, when run_start takes the run. */
static void prep_job(struct sched *s, struct sjob *job)
{
	struct loopd_run *run =
		run_new(s, job, STORE_TRIGGER_SCHEDULE, job->j.next_usec, 1);
	struct sreq *q = run ? sreq_new(s, STORE_RUN_ADD, NULL) : NULL;
	if (!q || prep_link(s, run) < 0) {
		if (q)
			sreq_done(&q->req, 0);
		if (run)
			run_free(run);
		log_warnx("job %s: out of memory: its run is recorded when "
			  "it is due",
			  job->j.name);
		job->prep = PREP_SKIP;
		job_queue(s, job);
		return;
	}
	run_set_phase(run, RP_PREPARING);
	run->r.result = STORE_RESULT_STARTING;
	job_queue(s, job);
	q->then = prep_done;
	q->ud = run;
	int r = run_to_req(q, run);
	if (!r && (r = store_submit(s->store, &q->req)) == 0)
		run->r.id = q->req.run.id; /* set by store_submit */
	if (r < 0)
		sreq_done(&q->req, r);
}

/* After a clock step: prepared runs whose due time is now beyond the lead
 * are dropped, and prepared again when it comes within the lead.  (Those
 * whose time passed in a step forward are taken at once if their
 * occurrence is handled on time, else dropped by due_after's job_queue, as
 * are those of re-anchored schedules.) */
static void prep_drop_early(struct sched *s, int64_t now)
{
	for (size_t i = s->nprep; i-- > 0;) {
		if (i >= s->nprep || !s->prep[i])
			continue;
		struct sjob *job = s->prep[i]->job;
		if (job_due(job) > now + s->lead_usec) {
			prep_drop(s, job);
			job_queue(s, job);
		}
	}
}

/* ---- the start of a run ---- */

static void run_committed(struct sreq *q, int status)
{
	struct loopd_run *run = q->ud;
	struct sched *s = q->s;
	struct sjob *job = run->job;
	if (status < 0) {
		log_store_fail("run of", run->r.job, status);
		watcher_fail(run->watchers, status,
			     "the run of %s could not be recorded",
			     job->j.name);
		run->watchers = NULL;
		job->running--;
		job_refile(s, job);
		run_free(run);
		queue_pop(s, job);
		return;
	}
	run->r.id = q->req.run.id;
	run_go(run);
}

/* ---- the burst: the due runs of one wake ----
 *
 * 10,000 jobs due in the same second start one after another on the
 * loop thread, so each start delays every start after it.  In a wake
 * (s->bursting) a start does only what the start needs: the kind's
 * start.  Its `running` write and run.started event, and the end of a
 * run its kind finished inside start or that a later start ended (the
 * result, the job's record, retries, queued runs: run_end), wait in
 * s->burst, a log in the order they happened, until the wake's due jobs
 * have all started.  The records are the same (the run's times are
 * taken when they happen); only their writes come a little later, and
 * in the same order.  A run from outside the burst that ends meanwhile
 * ends at once, after the log so far (run_ends). */

/* Logs a start (end false) or an end of run, at *idx.  False when
 * there is no burst or no memory (then it happens now). */
static bool burst_push(struct sched *s, struct loopd_run *run, bool end,
		       uint32_t *idx)
{
	if (!s->bursting)
		return false;
	struct burst_ent *v =
		array_room(s->burst, &s->burst_cap, s->nburst + 1, sizeof(*v));
	if (!v)
		return false;
	s->burst = v;
	*idx = (uint32_t)s->nburst;
	s->burst[s->nburst++] = (struct burst_ent){ run, end };
	return true;
}

/* True when run's start is in the burst (its writes wait). */
static bool burst_add(struct sched *s, struct loopd_run *run)
{
	if (!burst_push(s, run, false, &run->bidx))
		return false;
	run->in_burst = true;
	return true;
}

/* What the burst logged, in order: a start's `running` write and
 * run.started; an end's run_end.  (Also mid-burst, before a run from
 * outside the burst ends: see run_ends.) */
static void burst_apply(struct sched *s)
{
	for (size_t i = 0; i < s->nburst; i++) {
		struct burst_ent e = s->burst[i];
		struct loopd_run *run = e.run;
		if (!run)
			continue;
		if (!e.end) {
			run->in_burst = false;
			run_update(s, run);
			run_event(s, "run.started", run);
			continue;
		}
		run->end_pending = false;
		run_end_at(run, run->end_result, run->end_code,
			   run->end_usec != STORE_NULL ? run->end_usec
						       : now_usec(s));
	}
	s->nburst = 0;
}

/* The burst's starts are done. */
static void burst_flush(struct sched *s)
{
	burst_apply(s);
	s->bursting = false;
}

/* The run's `starting` record is committed: the kind's start. */
static void run_go(struct loopd_run *run)
{
	struct sched *s = run->s;
	struct sjob *job = run->job;
	struct kind *k = kind_up(s, job->j.kind);
	run_set_phase(run, RP_RUNNING);
	if (!k || s->stopping || job->removed) {
		run_set_output(run, NULL, 0, k ? -ESHUTDOWN : -ENOKEY);
		run_end(run,
			k ? STORE_RESULT_CANCELLED : STORE_RESULT_INTERRUPTED,
			STORE_NULL);
		return;
	}
	run->kind = k;
	run->p = k->p;
	run->r.result = STORE_RESULT_RUNNING;
	s->c.runs_started++;
	if (!burst_add(s, run)) {
		run_update(s, run);
		run_event(s, "run.started", run);
	}
	run_notify(run, false);
	if (job->j.timeout_ms > 0)
		run->timeout_timer =
			loop_timer(s->loop, NULL, (uint64_t)job->j.timeout_ms,
				   0, timeout_fire, run);
	struct loop_call lc;
	struct loopd_run *outer = s->in_start;
	s->in_start = run;
	loop_call_enter(s->loop, k->p, "kind.start", &lc);
	int r = k->k.start(k->p, run,
			   job->j.args_json ? job->j.args_json : "{}");
	loop_call_leave(s->loop, &lc);
	s->in_start = outer;
	if (run->phase == RP_DONE) { /* ended inside its start: kept till now */
		if (!run->host_finished)
			run_free(run);
		return;
	}
	if (run->end_pending && run->end_usec == STORE_NULL)
		run->end_usec = run->r.started_usec + (int64_t)(lc.ns / 1000);
	if (r < 0 && !run->end_pending) {
		run_set_output(run, NULL, 0, r);
		run_ends(run, STORE_RESULT_FAILED, STORE_NULL);
	}
}

static bool queue_push(struct sjob *job, enum store_trigger trig, int64_t when,
		       int64_t attempt, struct watcher *w)
{
	struct sjob_more *m = job_more(job);
	if (!m || m->nqueue >= SCHED_CATCHUP_MAX)
		return false;
	if (m->nqueue == m->qcap) {
		unsigned n = m->qcap ? m->qcap * 2 : 4;
		struct qent *q = realloc(m->queue, n * sizeof(*q));
		if (!q)
			return false;
		m->queue = q;
		m->qcap = n;
	}
	m->queue[m->nqueue++] = (struct qent){ when, trig, attempt, w };
	return true;
}

/* Tells job's runs (every run, for job NULL) to stop.  A kind may finish
 * a run inside its stop, which frees it: walk with the next in hand. */
static void stop_job_runs(struct sched *s, struct sjob *job, enum stop_why why)
{
	for (struct loopd_run *r = s->runs, *nx; r; r = nx) {
		nx = r->next;
		if (!job || r->job == job)
			run_stop(r, why);
	}
}

/* The overlap policy, when a run of job is in flight.  True: go on and
 * start now.  prep: the occurrence's prepared run, or NULL; when false
 * is returned it is gone: `skipped`, or deleted (a queued run is
 * recorded when it starts, as before). */
static bool overlap_allows(struct sjob *job, enum store_trigger trig,
			   int64_t when, int64_t attempt, struct watcher *w,
			   struct loopd_run *prep)
{
	struct sched *s = job->s;
	switch (job->j.overlap) {
	case STORE_OVERLAP_ALLOW: return true;
	case STORE_OVERLAP_REPLACE:
		/* The new run waits for the old ones to end (a kind may
		 * finish inside stop: queue first). */
		if (queue_push(job, trig, when, attempt, w)) {
			prep_discard(prep);
			stop_job_runs(s, job, STOP_REPLACE);
			return false;
		}
		break;
	case STORE_OVERLAP_QUEUE:
		if (queue_push(job, trig, when, attempt, w)) {
			prep_discard(prep);
			return false;
		}
		break; /* the queue is full */
	default: break;
	}
	if (prep)
		prep_skip(prep);
	else
		run_record(s, job, STORE_RESULT_SKIPPED, trig, when, w);
	return false;
}

/* The run starts: recorded as starting now (the kind's start follows its
 * commit). */
static void run_begin(struct loopd_run *run, struct watcher *w)
{
	struct sjob *job = run->job;
	run->watchers = w;
	run->r.started_usec = now_usec(run->s);
	run->r.result = STORE_RESULT_STARTING;
	job->running++;
	job_refile(run->s, job);
	job->j.last_usec = run->r.started_usec;
}

/* A prepared run reaches its time: it starts now, or when its commit
 * returns.  (One whose record could not be written is not here:
 * run_start records the occurrence again, as with no lead.) */
static void prep_start(struct loopd_run *run)
{
	bool committed = run->phase == RP_PREPARED;
	run_begin(run, NULL);
	run_set_phase(run, RP_COMMITTING);
	if (committed)
		run_go(run);
}

static void run_start(struct sjob *job, enum store_trigger trig, int64_t when,
		      int64_t attempt, struct watcher *w, bool force)
{
	struct sched *s = job->s;
	struct loopd_run *prep = prep_take(job, trig, when, force);
	if (s->stopping || job->removed || !job_kind_ok(job, s)) {
		prep_discard(prep);
		if (s->stopping || job->removed)
			watcher_fail(w, -ESHUTDOWN, "%s: loopd is stopping",
				     job->j.name);
		else
			watcher_fail(w, -ENOKEY, "%s: its kind is not loaded",
				     job->j.name);
		return;
	}
	if (prep && prep->phase == RP_UNRECORDED) {
		/* Its early record failed (a full disk a moment ago, say):
		 * the occurrence is recorded now, as with no lead. */
		run_free(prep);
		prep = NULL;
	}
	if (job->running && !force &&
	    !overlap_allows(job, trig, when, attempt, w, prep))
		return;
	if (prep) {
		prep_start(prep);
		return;
	}
	struct loopd_run *run = run_new(s, job, trig, when, attempt);
	struct sreq *q = run ? sreq_new(s, STORE_RUN_ADD, NULL) : NULL;
	if (!q) {
		if (run)
			run_free(run);
		watcher_fail(w, -ENOMEM, "%s: out of memory", job->j.name);
		return;
	}
	run_begin(run, w);
	q->then = run_committed;
	q->ud = run;
	if (run_to_req(q, run) < 0)
		sreq_done(&q->req, -ENOMEM);
	else
		sreq_submit(q);
}

/* ---- due jobs and catch-up ---- */

/* Handles occurrences occ[0..n) (all due), and `more` beyond them. */
static void catch_up(struct sched *s, struct sjob *job, const int64_t *occ,
		     unsigned n, uint64_t more)
{
	enum store_catchup c = job->j.catchup;
	unsigned missed = c == STORE_CATCHUP_ONCE   ? n - 1
			  : c == STORE_CATCHUP_SKIP ? n
						    : 0;
	for (unsigned i = 0; i < missed; i++)
		run_record(s, job, STORE_RESULT_MISSED, STORE_TRIGGER_SCHEDULE,
			   occ[i], NULL);
	if (c == STORE_CATCHUP_ONCE)
		run_start(job, STORE_TRIGGER_CATCHUP, occ[n - 1], 1, NULL,
			  false);
	if (c == STORE_CATCHUP_ALL) {
		run_start(job, STORE_TRIGGER_CATCHUP, occ[0], 1, NULL, false);
		for (unsigned i = 1; i < n; i++)
			queue_push(job, STORE_TRIGGER_CATCHUP, occ[i], 1, NULL);
	}
	s->c.missed += more;
	log_info("job %s: %" PRIu64 " occurrence%s missed; catch-up %s",
		 job->j.name, (uint64_t)n + more, n + more == 1 ? "" : "s",
		 store_catchup_names[c]);
	if (s->ev)
		events_emit(s->ev, "job.missed",
			    json_pack("{s:o, s:I, s:s}", "job",
				      job_json(s, job), "missed",
				      (json_int_t)(n + more), "catchup",
				      store_catchup_names[c]));
}

/* job is due at now: runs it (or catches up) and moves its next fire
 * time past now (the wake's burst; due_after follows). */
static void due_start(struct sched *s, struct sjob *job, int64_t now)
{
	int64_t occ[SCHED_CATCHUP_MAX + 1];
	unsigned n = 0;
	uint64_t more = 0, steps = 0;
	int64_t t = job->j.next_usec;
	while (t != CAL_NEVER && t <= now) {
		if (n < SCHED_CATCHUP_MAX + 1)
			occ[n++] = t;
		else
			more++;
		if (++steps > 1000000) { /* count no further */
			t = job_next_after(job, now);
			break;
		}
		t = job_next_after(job, t);
	}
	job->j.next_usec = t == CAL_NEVER ? STORE_NULL : t;
	if (n == 1 && now - occ[0] <= SCHED_LATE_USEC)
		run_start(job, STORE_TRIGGER_SCHEDULE, occ[0], 1, NULL, false);
	else if (n > 0)
		catch_up(s, job, occ, n, more);
}

/* After due_start, once the burst is over: the job's record, and its
 * place in the heap at its next time. */
static void due_after(struct sched *s, struct sjob *job)
{
	job_maybe_done(job);
	if (job->j.state == STORE_JOB_DONE || !job->running)
		job_persist(s, job);
	if (job->prep == PREP_SKIP)
		job->prep = 0; /* the next one may be prepared */
	job_queue(s, job);     /* a prepared run not taken goes */
}

/* Every schedule from now: after a large step backwards. */
static void reanchor(struct sched *s, int64_t now)
{
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			if (j->j.state == STORE_JOB_ACTIVE && j->expr)
				job_set_next(s, j, now);
}

/* Compares the wall clock with the monotonic clock since the last wake. */
static void check_clock(struct sched *s, int64_t real)
{
	uint64_t mono = loop_update_time(s->loop);
	int64_t expect = s->last_real + (int64_t)(mono - s->last_mono) * 1000;
	int64_t step = real - expect;
	s->last_real = real;
	s->last_mono = mono;
	if (step > -2000000 && step < 2000000)
		return;
	s->c.clock_steps++;
	log_info("the wall clock moved %+" PRId64 " s against the monotonic "
		 "clock%s",
		 step / 1000000,
		 step <= -SCHED_STEP_REANCHOR_USEC
			 ? ": every schedule starts again from now"
			 : "");
	prep_drop_early(s, real);
	if (step <= -SCHED_STEP_REANCHOR_USEC)
		reanchor(s, real);
}

/* Room for need in s->woke, s->woke_tmp and s->woke_at (one capacity). */
static int wake_room(struct sched *s, size_t need)
{
	size_t c1 = s->woke_cap, c2 = c1, c3 = c1;
	struct hent *v = array_room(s->woke, &c1, need, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->woke = v;
	if (!(v = array_room(s->woke_tmp, &c2, need, sizeof(*v))))
		return -ENOMEM;
	s->woke_tmp = v;
	uint32_t *a = array_room(s->woke_at, &c3, need, sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->woke_at = a;
	s->woke_cap = c1;
	return 0;
}

/* The key as an unsigned number in the same order (a due time's sign
 * bit flipped). */
static uint64_t hent_key(const struct hent *e, bool by_due)
{
	return by_due ? (uint64_t)e->due ^ (UINT64_C(1) << 63)
		      : (uint64_t)(uintptr_t)e->job;
}

/* A stable radix sort of s->woke by key (8 bits a pass, as many passes
 * as the keys' range needs; nothing but the entries is read). */
static void wake_radix(struct sched *s, bool by_due)
{
	struct hent *v = s->woke, *t = s->woke_tmp;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < s->nwoke; i++) {
		uint64_t k = hent_key(&v[i], by_due);
		lo = k < lo ? k : lo;
		hi = k > hi ? k : hi;
	}
	for (unsigned sh = 0; sh < 64 && (hi - lo) >> sh; sh += 8) {
		size_t at[257] = { 0 };
		for (size_t i = 0; i < s->nwoke; i++)
			at[((hent_key(&v[i], by_due) - lo) >> sh & 255) + 1]++;
		for (size_t b = 0; b < 256; b++)
			at[b + 1] += at[b];
		for (size_t i = 0; i < s->nwoke; i++)
			t[at[(hent_key(&v[i], by_due) - lo) >> sh & 255]++] =
				v[i];
		struct hent *x = v;
		v = t;
		t = x;
	}
	s->woke = v;
	s->woke_tmp = t;
}

/* Into s->woke: the jobs whose heap key has come (due, or due within
 * the lead), collected without changing the heap or reading a job.  A
 * parent's key is never later than its children's, so a walk that goes
 * down only from keys <= now visits those and their children: O(their
 * number), where popping them would be O(k log n) before the first
 * start.
 *
 * Sorted by key (the earliest first), and within a key by address: the
 * heap's order is no order in memory, and after a second of other work
 * neither the caches nor the TLB hold the jobs, so taken in heap order
 * every job of a burst is on another page; in memory order neighbours
 * share pages and lines (10,000 jobs due at once: half the time per
 * start, measured). */
static void wake_collect(struct sched *s, int64_t now)
{
	size_t n = 0;
	s->nwoke = 0;
	if (!s->nheap || s->heap[0].due > now || wake_room(s, 1) < 0)
		return;
	s->woke_at[n++] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t c = 2 * (size_t)s->woke_at[i] + 1;
		for (size_t e = c + 2; c < e && c < s->nheap; c++) {
			if (s->heap[c].due > now)
				continue;
			if (wake_room(s, n + 1) < 0)
				goto full; /* the rest in the next round */
			s->woke_at[n++] = (uint32_t)c;
		}
	}
full:
	for (size_t i = 0; i < n; i++)
		s->woke[i] = s->heap[s->woke_at[i]];
	s->nwoke = n;
	wake_radix(s, false);
	wake_radix(s, true); /* stable: by address within a key */
}

/* Room for a wake of n jobs, made now rather than in it: the runs just
 * prepared start together in a later wake, and the first large
 * allocation after many small frees can take the allocator most of a
 * millisecond (glibc consolidates its fast bins: 0.74 ms measured with
 * 10,000 runs) before the first of them starts.  Out of memory: the wake
 * grows them itself. */
static void wake_reserve(struct sched *s, size_t n)
{
	(void)wake_room(s, n);
	/* a start and an end each */
	struct burst_ent *v =
		array_room(s->burst, &s->burst_cap, 2 * n, sizeof(*v));
	if (v)
		s->burst = v;
}

/* One round of a wake: the collected jobs that are due start (the
 * burst), then each is moved to its next time, then those due within
 * the lead are prepared (after the starts, so that preparing the next
 * second's runs does not delay this second's). */
static void wake_round(struct sched *s, int64_t now)
{
	wake_collect(s, now);
	s->bursting = true;
	for (size_t i = 0; i < s->nwoke; i++) {
		struct sjob *job = s->woke[i].job;
		job->refs++; /* until the round's end */
		job->woke_due = job_due(job) <= now && job->hidx != HIDX_NONE;
		if (job->woke_due)
			due_start(s, job, now);
	}
	burst_flush(s);
	for (size_t i = 0; i < s->nwoke; i++)
		if (s->woke[i].job->woke_due)
			due_after(s, s->woke[i].job);
	for (size_t i = 0; i < s->nwoke; i++) {
		struct sjob *job = s->woke[i].job;
		job->woke_due = false;
		if (job->hidx != HIDX_NONE && !job->prep && job->due <= now &&
		    job_due(job) > now)
			prep_job(s, job);
		job_unref(job);
	}
	s->nwoke = 0;
	wake_reserve(s, s->prep_live);
}

static void wake(loopd_plugin *unused, void *ud)
{
	struct sched *s = ud;
	if (s->in_wake)
		return; /* (the wake under way arms the timer at its end) */
	s->timer = 0;
	s->timer_due = INT64_MAX;
	if (s->stopping)
		return;
	int64_t now = now_usec(s);
	s->in_wake = true;
	check_clock(s, now);
	/* A round leaves every job it saw keyed after now; more rounds
	 * only when memory ran short. */
	for (int round = 0; round < 16 && s->nheap && s->heap[0].due <= now;
	     round++)
		wake_round(s, now);
	s->in_wake = false;
	arm(s);
}

/* Arms the one timer for the earliest due job, a minute at most. */
static void arm(struct sched *s)
{
	if (s->in_wake || !s->started)
		return;
	close_timer(s, &s->timer);
	s->timer_due = INT64_MAX;
	if (s->stopping || !s->nheap)
		return;
	int64_t due = s->heap[0].due, now = now_usec(s);
	int64_t ms = due <= now ? 0 : (due - now + 999) / 1000;
	if (ms > SCHED_MAX_SLEEP_MS)
		ms = SCHED_MAX_SLEEP_MS;
	s->timer = loop_timer(s->loop, NULL, (uint64_t)ms, 0, wake, s);
	s->timer_due = ms == SCHED_MAX_SLEEP_MS ? now + ms * 1000 : due;
	/* The loop's timers count whole milliseconds from its cached time:
	 * the wake may come up to a millisecond after `due`.  The clock
	 * timerfd, armed for `due` itself, wakes the scheduler on time
	 * (within the kernel's timer slack); the loop timer stays, in case. */
	if (s->tfd_watch > 0 && s->o.realtime == real_now && ms > 0 &&
	    ms < SCHED_MAX_SLEEP_MS && due != s->tfd_due) {
		s->tfd_due = due;
		if (clock_arm(s, due)) { /* the clock was set: wake now */
			close_timer(s, &s->timer);
			s->timer = loop_timer(s->loop, NULL, 0, 0, wake, s);
			s->timer_due = now;
		}
	}
}

void sched_poke(struct sched *s)
{
	if (s->started && !s->stopping) {
		close_timer(s, &s->timer);
		wake(NULL, s);
	}
}

/* "Never" for the clock timerfd: far beyond 2038 where time_t allows
 * (INT32_MAX would be a time in the past then, and fire at once). */
#define CLOCK_NEVER_SEC \
	(sizeof(time_t) > 4 ? (time_t)((int64_t)1 << 40) : (time_t)INT32_MAX)

/* Arms the clock timerfd for the wall-clock time usec (INT64_MAX: never),
 * cancelled on any setting of the clock.  True when a setting of the
 * clock had not been read yet: arming clears it, so the caller must look
 * at the clock itself. */
static bool clock_arm(struct sched *s, int64_t usec)
{
	struct itimerspec its = { .it_value = { .tv_sec = CLOCK_NEVER_SEC } };
	uint64_t n;
	if (s->tfd < 0)
		return false;
	bool was_set = read(s->tfd, &n, sizeof(n)) < 0 && errno == ECANCELED;
	if (usec != INT64_MAX && usec > 0) {
		its.it_value.tv_sec = usec / 1000000;
		its.it_value.tv_nsec = usec % 1000000 * 1000;
	}
	if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
			    &its, NULL) < 0)
		log_warn("clock timerfd");
	return was_set;
}

/* The clock timerfd: the earliest due time came, or the clock was set. */
static void clock_set(loopd_plugin *unused, void *ud, int fd, int revents)
{
	struct sched *s = ud;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != ECANCELED &&
	    errno != EAGAIN)
		log_warn("clock timerfd");
	s->tfd_due = INT64_MAX;
	(void)clock_arm(s, INT64_MAX); /* cancelled: it must be set again */
	sched_poke(s);
}

static void clock_watch(struct sched *s)
{
	struct itimerspec its = { .it_value = { .tv_sec = CLOCK_NEVER_SEC } };
	s->tfd_due = INT64_MAX;
	s->tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0 ||
	    timerfd_settime(s->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
			    &its, NULL) < 0) {
		log_warn(
			"clock-change timerfd (steps noticed within a minute)");
		return;
	}
	s->tfd_watch =
		loop_watch(s->loop, NULL, s->tfd, LOOPD_READ, clock_set, s);
	if (s->tfd_watch > 0)
		loop_ref(s->loop, NULL, s->tfd_watch, 0);
}

/* Where a job with no stored next fire time resumes from at start: its
 * last run, else its creation, so an occurrence that fell while loopd
 * was down is caught up (catch-up policy) rather than lost; a job that
 * never had a time to go by starts from now. */
static int64_t resume_point(const struct sjob *j, int64_t now)
{
	int64_t from = j->j.last_usec != STORE_NULL ? j->j.last_usec
						    : j->j.created_usec;
	return from > 0 && from < now ? from : now;
}

void sched_start(struct sched *s)
{
	int64_t now = now_usec(s);
	s->started = true;
	s->last_real = now;
	s->last_mono = loop_update_time(s->loop);
	if (!s->o.no_clock_watch)
		clock_watch(s);
	s->in_wake = true;
	s->heap_bulk = true;
	for (size_t b = 0; b < s->tab_size; b++) {
		for (struct sjob *j = s->tab[b]; j; j = j->hnext) {
			job_compile(s, j);
			if (!j->filed)
				job_file(s, j);
			if (j->j.state != STORE_JOB_ACTIVE)
				continue;
			if (j->expr && cal_expr_at_reboot(j->expr))
				run_start(j, STORE_TRIGGER_SCHEDULE, now, 1,
					  NULL, false);
			if (j->j.next_usec == STORE_NULL)
				job_set_next(s, j, resume_point(j, now));
			else
				job_queue(s, j);
		}
	}
	heap_build(s);
	s->in_wake = false;
	arm(s);
}

/* ---- stopping ---- */

/* The job's retry (its timer) and queued runs go; a client waiting for
 * a queued run is told why (err, the job's name then why). */
static void job_drop_pending(struct sched *s, struct sjob *job, int err,
			     const char *why)
{
	struct sjob_more *m = job->more;
	if (!m)
		return;
	if (m->retry_timer > 0) {
		close_timer(s, &m->retry_timer);
		job_unref(job); /* the timer's: the caller holds one more */
	}
	for (unsigned i = 0; i < m->nqueue; i++)
		watcher_fail(m->queue[i].w, err, "%s%s", job->j.name, why);
	m->nqueue = 0;
}

void sched_stop_starting(struct sched *s)
{
	s->stopping = true;
	close_timer(s, &s->timer);
	if (s->tfd_watch > 0)
		loop_close(s->loop, NULL, s->tfd_watch, NULL);
	s->tfd_watch = 0;
	while (s->nprep) /* their records are deleted before the last commit */
		prep_drop(s, s->prep[s->nprep - 1]->job);
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			job_drop_pending(s, j, -ESHUTDOWN,
					 ": loopd is stopping");
}

unsigned sched_running(const struct sched *s)
{
	return (unsigned)s->c.runs_inflight;
}

void sched_interrupt_all(struct sched *s)
{
	stop_job_runs(s, NULL, STOP_SHUTDOWN);
}

/* ---- plugins ---- */

void sched_plugin_up(struct sched *s, loopd_plugin *p)
{
	bool any = false;
	for (struct kind *k = s->kinds; k; k = k->next)
		if (k->p == p && !k->up)
			any = k->up = true;
	s->kind_gen++;
	refile_all(s);
	if (s->ev)
		events_emit(s->ev, "plugin.loaded",
			    json_pack("{s:s, s:o}", "plugin", p->name, "kinds",
				      sched_plugin_kinds(s, p)));
	if (!any || !s->started)
		return;
	/* Jobs that waited for these kinds: due ones catch up. */
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			if (kind_up(s, j->j.kind) &&
			    kind_up(s, j->j.kind)->p == p) {
				if (j->j.next_usec == STORE_NULL)
					job_set_next(s, j, now_usec(s));
				else
					job_queue(s, j);
			}
}

void sched_plugin_down(struct sched *s, loopd_plugin *p)
{
	if (s->ev)
		events_emit(s->ev, "plugin.unloaded",
			    json_pack("{s:s}", "plugin", p->name));
	struct kind **pp = &s->kinds;
	while (*pp) {
		struct kind *k = *pp;
		if (k->p != p) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		k->up = false;
		s->kind_gen++;
		k->next = s->dead_kinds;
		s->dead_kinds = k;
	}
	refile_all(s);
	for (struct loopd_run *r = s->runs, *nx; r; r = nx) {
		nx = r->next;
		if (r->p == p)
			run_stop(r, STOP_SHUTDOWN);
	}
	/* Their jobs leave the heap: they wait for the plugin. */
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			if (j->hidx != HIDX_NONE && !kind_up(s, j->j.kind))
				job_queue(s, j);
}

void sched_plugin_gone(struct sched *s, loopd_plugin *p)
{
	for (struct loopd_run *r = s->runs, *nx; r; r = nx) {
		nx = r->next;
		if (r->p != p)
			continue;
		if (r->phase != RP_DONE) {
			r->host_finished = true;
			run_end(r, STORE_RESULT_INTERRUPTED, STORE_NULL);
		}
		run_free(r);
	}
	struct kind **pp = &s->dead_kinds;
	while (*pp) {
		struct kind *k = *pp;
		if (k->p == p) {
			*pp = k->next;
			free(k->name);
			free(k);
		} else {
			pp = &k->next;
		}
	}
}

json_t *sched_plugin_kinds(const struct sched *s, const loopd_plugin *p)
{
	json_t *a = json_array();
	for (struct kind *k = s->kinds; k; k = k->next)
		if (k->p == p)
			json_array_append_new(a, json_string(k->name));
	return a;
}

/* ---- new, free, reads ---- */

int sched_new(struct sched **out, struct loop *l, struct store *st,
	      struct events *ev, const struct sched_opts *opts)
{
	struct sched *s = calloc(1, sizeof(*s));
	char err[CAL_ERR_MAX];
	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->store = st;
	s->ev = ev;
	s->tfd = -1;
	s->timer_due = INT64_MAX;
	if (opts)
		s->o = *opts;
	else
		sched_opts_default(&s->o);
	if (!s->o.realtime)
		s->o.realtime = real_now;
	if (s->o.lead_ms > SCHED_LEAD_MAX_MS)
		s->o.lead_ms = SCHED_LEAD_MAX_MS;
	s->lead_usec = (int64_t)s->o.lead_ms * 1000;
	if (tz_zone_load(NULL, &s->local, err, sizeof(err)) < 0) {
		log_warnx("local time zone: %s; using UTC", err);
		s->local = (struct tz_zone *)tz_utc();
	}
	*out = s;
	return 0;
}

static void kinds_free(struct kind *k)
{
	while (k) {
		struct kind *nx = k->next;
		free(k->name);
		free(k);
		k = nx;
	}
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	sched_stop_starting(s);
	while (s->runs) {
		struct loopd_run *r = s->runs;
		r->host_finished = true; /* no update: the store is closing */
		run_free(r);
	}
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b], *nx; j; j = nx) {
			nx = j->hnext;
			j->removed = true;
			job_unref(j);
		}
	close_timer(s, &s->unwritten_timer);
	for (struct sreq *q = s->unwritten, *nx; q; q = nx) {
		nx = q->next;
		log_msg(LOGL_ERR, NULL, "run %lld of %s: %s lost at exit",
			(long long)q->req.run.id, q->req.run.job,
			store_result_names[q->req.run.result]);
		q->then = NULL;
		sreq_done(&q->req, -ECANCELED);
	}
	if (s->tfd >= 0)
		close(s->tfd);
	free(s->itab); /* empty: every job dropped its strings */
	for (size_t i = 0; i < s->nzones; i++) {
		free(s->zones[i].name);
		tz_zone_unref(s->zones[i].z);
	}
	tz_zone_unref(s->local);
	kinds_free(s->kinds);
	kinds_free(s->dead_kinds);
	free(s->zones);
	free(s->tab);
	free(s->heap);
	free(s->burst);
	free(s->woke);
	free(s->woke_tmp);
	cal_expr_free(s->memo.e);
	free(s->woke_at);
	free(s->prep);
	free(s);
}

json_t *sched_job_get(struct sched *s, const char *name)
{
	struct sjob *j = job_find(s, name);
	return j ? job_json(s, j) : NULL;
}

static int by_name(const void *a, const void *b)
{
	const struct sjob *x = *(struct sjob *const *)a;
	const struct sjob *y = *(struct sjob *const *)b;
	return strcmp(x->j.name, y->j.name);
}

void sched_job_list(struct sched *s, const char *state, const char *kind,
		    const char *name_glob, struct jbuf *out)
{
	struct sjob **v = malloc((s->njobs + 1) * sizeof(*v));
	size_t n = 0;
	if (!v)
		fatalx("out of memory");
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			if ((!state || strcmp(job_state(j, s), state) == 0) &&
			    (!kind || strcmp(j->j.kind, kind) == 0) &&
			    (!name_glob ||
			     fnmatch(name_glob, j->j.name, 0) == 0))
				v[n++] = j;
	qsort(v, n, sizeof(*v), by_name);
	jb_reserve(out, n * 448 + 16); /* a typical Job is 300-450 bytes */
	jb_open(out, '{');
	jb_key(out, "jobs");
	jb_open(out, '[');
	for (size_t i = 0; i < n; i++) {
		jb_key(out, NULL);
		job_text(s, v[i], out);
	}
	jb_close(out, ']');
	jb_close(out, '}');
	free(v);
}

static void counts_fill(const struct sched *s, const uint64_t *by,
			uint64_t failing, struct sched_counts *out)
{
	*out = s->c;
	out->total = s->njobs;
	out->failing = failing;
	out->active = by[STORE_JOB_ACTIVE];
	out->paused = by[STORE_JOB_PAUSED];
	out->running = by[STORE_JOB_RUNNING];
	out->waiting = by[STORE_JOB_WAITING];
	out->done = by[STORE_JOB_DONE];
}

void sched_counts(const struct sched *s, struct sched_counts *out)
{
	if (!s->started) /* the jobs are filed by sched_start */
		sched_counts_recount(s, out);
	else
		counts_fill(s, s->by_state, s->failing, out);
}

void sched_counts_recount(const struct sched *s, struct sched_counts *out)
{
	uint64_t by[STORE_JOB_STATE_COUNT] = { 0 }, failing = 0;
	for (size_t b = 0; b < s->tab_size; b++) {
		for (struct sjob *j = s->tab[b]; j; j = j->hnext) {
			by[job_state_of(j, s)]++;
			failing += job_failing(j);
		}
	}
	counts_fill(s, by, failing, out);
	out->runs_inflight = out->runs_prepared = 0;
	for (struct loopd_run *r = s->runs; r; r = r->next) {
		out->runs_inflight += phase_inflight(r->phase);
		out->runs_prepared += phase_prepared(r->phase);
	}
}

/* ---- client writes ---- */

static int fail(struct sched_result *res, int status, const char *param,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct sched_result *res, int status, const char *param,
		const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	res->status = status;
	snprintf(res->param, sizeof(res->param), "%s", param ? param : "");
	return status;
}

static bool valid_job_name(const char *n)
{
	size_t len = strlen(n);
	if (len < 1 || len > 64)
		return false;
	return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == len;
}

static int set_str(char **dst, json_t *v, const char *key,
		   struct sched_result *res)
{
	if (v && !json_is_string(v))
		return fail(res, -EINVAL, key, "%s must be a string", key);
	char *d = strdup(v ? json_string_value(v) : ""); /* NULL: "" */
	if (!d)
		return fail(res, -ENOMEM, NULL, "out of memory");
	free(*dst);
	*dst = d;
	return 0;
}

static int set_ms(int64_t *dst, json_t *v, const char *key, int64_t max,
		  struct sched_result *res)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return fail(res, -EINVAL, key,
			    "%s must be an integer from 0 to %" PRId64, key,
			    max);
	*dst = json_integer_value(v);
	return 0;
}

static int set_enum(int *dst, json_t *v, const char *key,
		    const char *const *names, int n, struct sched_result *res)
{
	int e = json_is_string(v)
			? store_enum_parse(names, n, json_string_value(v))
			: -1;
	if (e < 0)
		return fail(res, -EINVAL, key, "%s: %s is not one of %s", key,
			    json_is_string(v) ? json_string_value(v)
					      : "a non-string",
			    names == store_overlap_names
				    ? "skip, allow, queue, replace"
				    : "once, skip, all");
	*dst = e;
	return 0;
}

static int set_args(struct store_job *j, json_t *v, struct sched_result *res)
{
	if (!json_is_object(v))
		return fail(res, -EINVAL, "args", "args must be an object");
	char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (!d)
		return fail(res, -ENOMEM, NULL, "out of memory");
	free(j->args_json);
	j->args_json = d;
	return 0;
}

static int set_state(struct store_job *j, json_t *v, struct sched_result *res)
{
	const char *st = json_string_value(v);
	if (st && strcmp(st, "paused") == 0)
		j->state = STORE_JOB_PAUSED;
	else if (st && strcmp(st, "active") == 0)
		j->state = STORE_JOB_ACTIVE;
	else
		return fail(res, -EINVAL, "state",
			    "state can be set to active or paused only");
	return 0;
}

/* Fields shown in a Job that a client may send back but not set. */
static const char *const read_only[] = {
	"plugin",   "next_usec",    "next_reason",  "last_usec", "last_result",
	"last_run", "created_usec", "updated_usec", NULL,
};

static int set_field(struct store_job *j, const char *key, json_t *v,
		     struct sched_result *res)
{
	int e = 0;
	if (strcmp(key, "kind") == 0)
		return set_str(&j->kind, v, key, res);
	if (strcmp(key, "schedule") == 0)
		return set_str(&j->schedule, v, key, res);
	if (strcmp(key, "tz") == 0)
		return set_str(&j->tz, json_is_null(v) ? NULL : v, key, res);
	if (strcmp(key, "args") == 0)
		return set_args(j, v, res);
	if (strcmp(key, "state") == 0)
		return set_state(j, v, res);
	if (strcmp(key, "overlap") == 0) {
		if (set_enum(&e, v, key, store_overlap_names,
			     STORE_OVERLAP_COUNT, res) < 0)
			return res->status;
		j->overlap = (enum store_overlap)e;
		return 0;
	}
	if (strcmp(key, "catchup") == 0) {
		if (set_enum(&e, v, key, store_catchup_names,
			     STORE_CATCHUP_COUNT, res) < 0)
			return res->status;
		j->catchup = (enum store_catchup)e;
		return 0;
	}
	if (strcmp(key, "timeout_ms") == 0)
		return set_ms(&j->timeout_ms, v, key, INT32_MAX * 1000LL, res);
	if (strcmp(key, "retries") == 0)
		return set_ms(&j->retries, v, key, 1000, res);
	if (strcmp(key, "retry_backoff_ms") == 0)
		return set_ms(&j->retry_backoff_ms, v, key, 86400000, res);
	if (strcmp(key, "jitter_ms") == 0)
		return set_ms(&j->jitter_ms, v, key, 86400000, res);
	for (const char *const *r = read_only; *r; r++)
		if (strcmp(key, *r) == 0)
			return 0;
	return fail(res, -EINVAL, key, "unknown field %s", key);
}

/* Applies every field of params to j (name excepted). */
static int apply_fields(struct store_job *j, json_t *params,
			struct sched_result *res)
{
	const char *key;
	json_t *v;
	json_object_foreach(params, key, v)
	{
		if (strcmp(key, "name") == 0)
			continue;
		if (set_field(j, key, v, res) < 0)
			return res->status;
	}
	return 0;
}

/* Checks j as a whole: schedule, zone, kind and the kind's validate.
 * Fills j->plugin.  *expr gets the parsed schedule (caller frees). */
static int check_job(struct sched *s, struct store_job *j,
		     struct cal_expr **expr, struct sched_result *res)
{
	char err[512];
	*expr = NULL;
	if (!j->kind || !*j->kind)
		return fail(res, -EINVAL, "kind", "kind is required");
	if (!j->schedule || !*j->schedule)
		return fail(res, -EINVAL, "schedule", "schedule is required");
	if (!zone_get(s, j->tz, err, sizeof(err)))
		return fail(res, -EINVAL, "tz", "tz: %s", err);
	if (cal_parse(j->schedule, expr, err, sizeof(err)) < 0)
		return fail(res, -EDOM, "schedule", "%s", err);
	struct kind *k = kind_up(s, j->kind);
	if (!k)
		return fail(res, -ENOKEY, "kind",
			    "no loaded plugin provides the kind %s", j->kind);
	free(j->plugin);
	if (!(j->plugin = strdup(k->p->name)))
		return fail(res, -ENOMEM, NULL, "out of memory");
	err[0] = '\0';
	struct loop_call lc;
	loop_call_enter(s->loop, k->p, "kind.validate", &lc);
	int bad = k->k.validate &&
		  k->k.validate(k->p, j->args_json ? j->args_json : "{}", err,
				sizeof(err)) != 0;
	loop_call_leave(s->loop, &lc);
	if (bad) {
		err[sizeof(err) - 1] = '\0';
		return fail(res, -EBADMSG, "args", "%s: args rejected: %s",
			    j->kind, err[0] ? err : "(no reason given)");
	}
	return 0;
}

/* A client request in flight. */
struct creq {
	struct sreq q;
	sched_done_fn done;
	void *ud;
	struct cal_expr *expr;
	enum store_op op;
	int64_t next_seen; /* an update: the job's next when it was sent */
};

static void creq_reply(struct creq *c, struct sched_result *res)
{
	c->done(c->ud, res);
	json_decref(res->job);
}

static void storage_fail(struct sched_result *res, int status, const char *name)
{
	if (status == -EEXIST)
		fail(res, -EEXIST, "name", "a different job named %s exists",
		     name);
	else if (status == -ENOENT)
		fail(res, -ENOENT, "name", "no job named %s", name);
	else
		fail(res, status, NULL, "%s was not saved: %s", name,
		     strerror(-status));
}

/* Takes the settings (not the runtime fields) of rec into job. */
static void job_take_settings(struct sjob *job, struct store_job *rec)
{
	struct store_job *j = &job->j;
	job_unshare_strings(job->s, j);
	free(j->args_json);
	j->kind = rec->kind;
	j->plugin = rec->plugin;
	j->schedule = rec->schedule;
	j->tz = rec->tz;
	j->args_json = rec->args_json;
	rec->kind = rec->plugin = rec->schedule = rec->tz = NULL;
	rec->args_json = NULL;
	job_share_strings(job->s, j);
	job->kind_gen = job->s->kind_gen + 1; /* the kind may have changed */
	j->state = rec->state;
	j->overlap = rec->overlap;
	j->catchup = rec->catchup;
	j->timeout_ms = rec->timeout_ms;
	j->retries = rec->retries;
	j->retry_backoff_ms = rec->retry_backoff_ms;
	j->jitter_ms = rec->jitter_ms;
	j->next_usec = rec->next_usec;
	j->updated_usec = rec->updated_usec;
}

static void job_event(struct sched *s, const char *type, struct sjob *job)
{
	if (s->ev)
		events_emit(s->ev, type,
			    json_pack("{s:o}", "job", job_json(s, job)));
}

static void add_done(struct sreq *q, int status)
{
	struct creq *c = (struct creq *)q;
	struct sched *s = q->s;
	struct sched_result res = { 0 };
	struct sjob *job = job_find(s, q->req.job.name);
	if (status < 0) {
		storage_fail(&res, status, q->req.job.name);
	} else if (q->req.changes == 0 && job) {
		res.job = job_json(s, job); /* the identical job: a retry */
	} else if (!(job = job_new(s, &q->req.job))) {
		fail(&res, -ENOMEM, NULL, "out of memory");
	} else {
		index_add(s, job);
		char err[CAL_ERR_MAX];
		job->expr = istr_expr_adopt(job->j.schedule, c->expr);
		c->expr = NULL;
		job->zone = zone_get(s, job->j.tz, err, sizeof(err));
		job->jitter_usec = jitter_for(&job->j);
		job_queue(s, job);
		job_event(s, "job.added", job);
		res.job = job_json(s, job);
	}
	creq_reply(c, &res);
	cal_expr_free(c->expr);
}

static struct creq *creq_new(struct sched *s, enum store_op op,
			     struct sjob *job, sched_done_fn done, void *ud)
{
	struct creq *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	store_req_init(&c->q.req, op);
	c->q.req.done = sreq_done;
	c->q.s = s;
	c->done = done;
	c->ud = ud;
	c->op = op;
	if (job) {
		job->refs++;
		job->busy++;
		c->q.job = job;
	}
	return c;
}

/* Answers at once, but never from inside the caller's call: through an
 * immediate, like every other answer. */
struct early {
	sched_done_fn done;
	void *ud;
	struct sched_result res;
};

static void early_fire(loopd_plugin *unused, void *ud)
{
	struct early *e = ud;
	e->done(e->ud, &e->res);
	json_decref(e->res.job);
	free(e);
}

static void answer_later(struct sched *s, sched_done_fn done, void *ud,
			 struct sched_result *res)
{
	struct early *e = malloc(sizeof(*e));
	if (!e) {
		done(ud, res); /* out of memory: answer now rather than never */
		json_decref(res->job);
		return;
	}
	*e = (struct early){ done, ud, *res };
	if (loop_immediate(s->loop, NULL, early_fire, e) <= 0)
		early_fire(NULL, e);
}

void sched_job_add(struct sched *s, json_t *params, sched_done_fn done,
		   void *ud)
{
	struct sched_result res = { 0 };
	struct store_job rec;
	struct cal_expr *expr = NULL;
	json_t *name = json_object_get(params, "name");
	store_job_init(&rec);
	if (s->stopping) {
		fail(&res, -ESHUTDOWN, NULL, "loopd is stopping");
	} else if (!json_is_string(name) ||
		   !valid_job_name(json_string_value(name))) {
		fail(&res, -EINVAL, "name",
		     "name must be 1-64 of A-Z a-z 0-9 . _ -");
	} else if (set_str(&rec.name, name, "name", &res) == 0 &&
		   apply_fields(&rec, params, &res) == 0 &&
		   check_job(s, &rec, &expr, &res) == 0) {
		struct sjob *old = job_find(s, rec.name);
		if (old && store_job_same_settings(&old->j, &rec)) {
			res.job = job_json(s, old);
		} else if (old) {
			fail(&res, -EEXIST, "name",
			     "a different job named %s exists", rec.name);
		} else {
			struct creq *c =
				creq_new(s, STORE_JOB_ADD, NULL, done, ud);
			if (!c) {
				fail(&res, -ENOMEM, NULL, "out of memory");
			} else {
				struct sjob tmp = { .s = s,
						    .expr = expr,
						    .j = rec };
				int64_t now = now_usec(s);
				char e[8];
				tmp.zone = zone_get(s, rec.tz, e, sizeof(e));
				rec.created_usec = rec.updated_usec = now;
				tmp.j.created_usec = now;
				int64_t n = job_next_after(&tmp, now);
				rec.next_usec = n == CAL_NEVER ? STORE_NULL : n;
				c->q.req.job = rec;
				c->expr = expr;
				c->q.then = add_done;
				sreq_submit(&c->q);
				return;
			}
		}
	}
	cal_expr_free(expr);
	store_job_clear(&rec);
	answer_later(s, done, ud, &res);
}

/* The end of a client write on job: persists what waited for it. */
static void creq_job_done(struct creq *c)
{
	struct sjob *job = c->q.job;
	if (job && --job->busy == 0 && job->dirty)
		job_persist(c->q.s, job);
}

/*
 * The record's next time was worked out when the update was sent.  If
 * the job's next moved while it was in flight (seen: sent, was: now),
 * its occurrences up to `was` were handled already: the new settings
 * take over from there, or one of them would run twice.
 */
static void update_keep_ahead(struct sched *s, struct sjob *job, int64_t seen,
			      int64_t was)
{
	int64_t *next = &job->j.next_usec;
	if (was == seen || was == STORE_NULL || *next == STORE_NULL ||
	    *next >= was)
		return;
	int64_t n = job_next_after(job, was - 1);
	*next = n == CAL_NEVER ? STORE_NULL : n;
	job_persist(s, job);
}

static void update_done(struct sreq *q, int status)
{
	struct creq *c = (struct creq *)q;
	struct sched *s = q->s;
	struct sjob *job = q->job;
	struct sched_result res = { 0 };
	if (status < 0 || job->removed) {
		storage_fail(&res, status < 0 ? status : -ENOENT, job->j.name);
	} else {
		char err[CAL_ERR_MAX];
		int64_t was = job->j.next_usec;
		job_take_settings(job, &q->req.job);
		cal_expr_free(job->expr);
		job->expr = istr_expr_adopt(job->j.schedule, c->expr);
		c->expr = NULL;
		job->zone = zone_get(s, job->j.tz, err, sizeof(err));
		job->jitter_usec = jitter_for(&job->j);
		update_keep_ahead(s, job, c->next_seen, was);
		if (c->op == STORE_JOB_UPDATE && job->j.state == STORE_JOB_DONE)
			job->j.state = STORE_JOB_ACTIVE;
		job_refile(s, job);
		prep_drop(s, job); /* prepared again with what it is now */
		job_queue(s, job);
		job_event(s, "job.changed", job);
		res.job = job_json(s, job);
	}
	creq_job_done(c);
	creq_reply(c, &res);
	cal_expr_free(c->expr);
}

/* Submits rec (a full record of job, owned by the request now) as the
 * job's new settings. */
static void submit_update(struct sched *s, struct sjob *job,
			  struct store_job *rec, struct cal_expr *expr,
			  sched_done_fn done, void *ud)
{
	struct creq *c = creq_new(s, STORE_JOB_UPDATE, job, done, ud);
	if (!c) {
		struct sched_result res = { 0 };
		fail(&res, -ENOMEM, NULL, "out of memory");
		cal_expr_free(expr);
		store_job_clear(rec);
		answer_later(s, done, ud, &res);
		return;
	}
	c->q.req.job = *rec;
	c->expr = expr;
	c->next_seen = job->j.next_usec;
	c->q.then = update_done;
	sreq_submit(&c->q);
}

/* The next fire time rec would have from now (null when not active). */
static void rec_next(struct sched *s, struct store_job *rec,
		     struct cal_expr *expr, int64_t now)
{
	char e[8];
	struct sjob tmp = { .s = s, .expr = expr, .j = *rec };
	tmp.zone = zone_get(s, rec->tz, e, sizeof(e));
	int64_t n = rec->state == STORE_JOB_ACTIVE ? job_next_after(&tmp, now)
						   : CAL_NEVER;
	rec->next_usec = n == CAL_NEVER ? STORE_NULL : n;
}

static struct sjob *job_lookup(struct sched *s, json_t *name,
			       struct sched_result *res)
{
	if (s->stopping) {
		fail(res, -ESHUTDOWN, NULL, "loopd is stopping");
		return NULL;
	}
	if (!json_is_string(name)) {
		fail(res, -EINVAL, "name", "name must be a string");
		return NULL;
	}
	struct sjob *job = job_find(s, json_string_value(name));
	if (!job)
		fail(res, -ENOENT, "name", "no job named %s",
		     json_string_value(name));
	return job;
}

void sched_job_update(struct sched *s, json_t *params, sched_done_fn done,
		      void *ud)
{
	struct sched_result res = { 0 };
	struct store_job rec;
	struct cal_expr *expr = NULL;
	struct sjob *job = job_lookup(s, json_object_get(params, "name"), &res);
	store_job_init(&rec);
	if (job && store_job_copy(&rec, &job->j) < 0)
		fail(&res, -ENOMEM, NULL, "out of memory");
	else if (job && apply_fields(&rec, params, &res) == 0 &&
		 check_job(s, &rec, &expr, &res) == 0) {
		int64_t now = now_usec(s);
		if (rec.state == STORE_JOB_DONE)
			rec.state = STORE_JOB_ACTIVE; /* edited: runs again */
		rec.updated_usec = now;
		rec_next(s, &rec, expr, now);
		submit_update(s, job, &rec, expr, done, ud);
		return;
	}
	cal_expr_free(expr);
	store_job_clear(&rec);
	answer_later(s, done, ud, &res);
}

void sched_job_pause(struct sched *s, const char *name, bool pause,
		     sched_done_fn done, void *ud)
{
	struct sched_result res = { 0 };
	struct store_job rec;
	struct cal_expr *expr = NULL;
	json_t *n = json_string(name);
	struct sjob *job = job_lookup(s, n, &res);
	char err[CAL_ERR_MAX];
	json_decref(n);
	store_job_init(&rec);
	if (job && store_job_copy(&rec, &job->j) < 0) {
		fail(&res, -ENOMEM, NULL, "out of memory");
	} else if (job && job->j.state == STORE_JOB_DONE) {
		res.job = job_json(s, job); /* nothing left to pause */
	} else if (job) {
		int64_t now = now_usec(s);
		rec.state = pause ? STORE_JOB_PAUSED : STORE_JOB_ACTIVE;
		rec.updated_usec = now;
		if (cal_parse(rec.schedule, &expr, err, sizeof(err)) == 0)
			rec_next(s, &rec, expr, now);
		else
			rec.next_usec = STORE_NULL;
		submit_update(s, job, &rec, expr, done, ud);
		return;
	}
	store_job_clear(&rec);
	answer_later(s, done, ud, &res);
}

static void remove_done(struct sreq *q, int status)
{
	struct creq *c = (struct creq *)q;
	struct sched *s = q->s;
	struct sjob *job = q->job;
	struct sched_result res = { .job = NULL };
	if (status < 0 || job->removed) {
		storage_fail(&res, status < 0 ? status : -ENOENT, job->j.name);
	} else {
		job_event(s, "job.removed", job);
		job->removed = true;
		prep_drop(s, job);
		heap_remove(s, job);
		index_del(s, job);
		job_drop_pending(s, job, -ENOENT, " was removed");
		stop_job_runs(s, job, STOP_REPLACE);
		job_unref(job); /* the index's reference */
		res.job = json_object();
	}
	creq_job_done(c);
	creq_reply(c, &res);
}

void sched_job_remove(struct sched *s, const char *name, sched_done_fn done,
		      void *ud)
{
	struct sched_result res = { 0 };
	json_t *n = json_string(name);
	struct sjob *job = job_lookup(s, n, &res);
	json_decref(n);
	struct creq *c =
		job ? creq_new(s, STORE_JOB_DELETE, job, done, ud) : NULL;
	if (job && !c)
		fail(&res, -ENOMEM, NULL, "out of memory");
	if (!c || !(c->q.req.job.name = strdup(job->j.name))) {
		if (c)
			sreq_done(&c->q.req, -ENOMEM);
		else
			answer_later(s, done, ud, &res);
		return;
	}
	c->q.then = remove_done;
	sreq_submit(&c->q);
}

/* ---- triggers ---- */

uint64_t sched_job_trigger(struct sched *s, const char *name,
			   sched_done_fn started, sched_done_fn finished,
			   void *ud)
{
	struct sched_result res = { 0 };
	json_t *n = json_string(name);
	struct sjob *job = job_lookup(s, n, &res);
	json_decref(n);
	if (job && !kind_up(s, job->j.kind))
		fail(&res, -ENOKEY, "name",
		     "%s: no loaded plugin provides "
		     "its kind %s",
		     job->j.name, job->j.kind);
	struct watcher *w = res.status ? NULL : calloc(1, sizeof(*w));
	if (!w) {
		if (!res.status)
			fail(&res, -ENOMEM, NULL, "out of memory");
		answer_later(s, started, ud, &res);
		return 0;
	}
	*w = (struct watcher){ ++s->next_token, started, finished, ud, NULL };
	uint64_t token = w->token;
	run_start(job, STORE_TRIGGER_MANUAL, now_usec(s), 1, w, false);
	return token;
}

static struct watcher *find_watcher(struct sched *s, uint64_t token)
{
	for (struct loopd_run *r = s->runs; r; r = r->next)
		if (r->watchers && r->watchers->token == token)
			return r->watchers;
	for (struct sreq *q = s->waiting; q; q = q->wnext)
		if (q->w->token == token)
			return q->w;
	for (size_t b = 0; b < s->tab_size; b++)
		for (struct sjob *j = s->tab[b]; j; j = j->hnext)
			for (unsigned i = 0; i < job_nqueue(j); i++)
				if (j->more->queue[i].w &&
				    j->more->queue[i].w->token == token)
					return j->more->queue[i].w;
	return NULL;
}

void sched_unwatch(struct sched *s, uint64_t token)
{
	struct watcher *w = find_watcher(s, token);
	if (w)
		w->started = w->finished = NULL;
}
