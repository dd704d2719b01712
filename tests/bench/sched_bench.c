/*
 * sched_bench.c - the scheduler's benchmarks of issue 3, on the real wall
 * clock (no injected clock), with a real loop, a real store (WAL,
 * synchronous=FULL) and a test kind "t" whose start finishes the run at
 * once.
 *
 *   sched_bench [--only LIST] [--jobs N] [--due N] [--fire N]
 *               [--seconds S] [--threads N] [--dir DIR] [--db PATH]
 *               [--alloc] [--lead MS]
 *
 *   coldstart  N jobs (default 1,000,000) in a database made by a bulk
 *              INSERT (set-up, not measured; --db PATH keeps it there for
 *              the next run); then what the daemon does at start, timed:
 *              store_open, sched_load, store_mark_interrupted,
 *              sched_start (schedules parsed, heap built).  Twice: with the
 *              database file evicted from the page cache
 *              (POSIX_FADV_DONTNEED: a start after a reboot) and with it
 *              cached (a restart).  Memory per job: the RSS the start added
 *              (/proc/self/statm), divided by N, all in (strings, parsed
 *              schedules, heap, index, SQLite's cache, malloc's overhead);
 *              --alloc also tallies every allocation loopd's own code made
 *              during the start by call and size (see the wrappers below).
 *   due        N jobs (default 10,000) `at T`, T a whole second 2-3 s
 *              ahead: how long after T each run reached the kind's start.
 *   fire       N jobs (default 10,000) `* * * * * *` for S seconds
 *              (default 60): each run's start lateness (the time in the
 *              kind's start minus the run's scheduled second, read back
 *              from the run records by run id), per second its first and
 *              last start, and the store's group commit figures.  The S
 *              measured seconds begin with the second whole second after
 *              loopd's start; the runs of the one or two seconds before
 *              them (the start's, prepared all at once or not at all) are
 *              reported apart as the warm-up.
 *
 * --lead MS is the scheduler's lead (sched_opts.lead_ms; default
 * SCHED_LEAD_MS): runs are prepared, their `starting` records committed,
 * that long before they are due.  --lead 0 records them when due (the
 * scheduler before the lead existed).
 *
 * The peer of due and fire is a bare loop with no store: a timerfd on
 * CLOCK_REALTIME armed for each whole second, which "starts" N no-op jobs
 * when it wakes (what a cron-like daemon that sleeps to the second can do
 * at best on this machine).  Cron itself is not a peer: it cannot run
 * anything more often than once a minute.
 *
 * Each measurement runs in a child process: a cold start measures its
 * memory on a fresh heap, and a scheduler that falls too far behind to
 * finish is killed a minute after its end and reported as such, with
 * what it had reached.
 *
 * Results are lines "name value unit", with the target or a note after
 * them.  Nothing is asserted: a benchmark measures.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "scheduler.h"
#include "store.h"

#define USEC 1000000LL

/* ---- allocation tally (--alloc) ----
 *
 * The bench is linked with -Wl,--wrap for these five functions, so every
 * call that loopd's own code (libloopd_core.a) makes goes through the
 * wrappers; SQLite's and jansson's do not (shared libraries), and SQLite
 * reports its own (sqlite3_memory_used).  While tally_here is set (the
 * main thread, during the timed start) each allocation is counted by
 * call and requested size, with the bytes it really takes: its
 * malloc_usable_size plus glibc's 8-byte chunk header.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

enum {
	A_MALLOC,
	A_CALLOC,
	A_REALLOC,
	A_STRDUP,
	A_COUNT
};
static const char *const alloc_names[A_COUNT] = { "malloc", "calloc", "realloc",
						  "strdup" };
#define TALLY_SIZES 4096 /* requests this size or larger share a slot */
#define CHUNK_HDR   8    /* glibc's per-chunk size field */

static _Thread_local bool tally_here;
static struct {
	uint64_t n[A_COUNT][TALLY_SIZES], bytes[A_COUNT][TALLY_SIZES];
	uint64_t freed_n, freed_bytes;
} T;

static size_t chunk_bytes(void *p)
{
	return p ? malloc_usable_size(p) + CHUNK_HDR : 0;
}

static void tally(int op, size_t req, void *p)
{
	size_t i = req < TALLY_SIZES ? req : TALLY_SIZES - 1;
	if (!p)
		return;
	T.n[op][i]++;
	T.bytes[op][i] += chunk_bytes(p);
}

static void tally_free(void *p)
{
	if (!p)
		return;
	T.freed_n++;
	T.freed_bytes += chunk_bytes(p);
}

void *__wrap_malloc(size_t n)
{
	void *p = __real_malloc(n);
	if (tally_here)
		tally(A_MALLOC, n, p);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p = __real_calloc(n, size);
	if (tally_here)
		tally(A_CALLOC, n * size, p);
	return p;
}

void *__wrap_realloc(void *old, size_t n)
{
	if (!tally_here)
		return __real_realloc(old, n);
	tally_free(old);
	void *p = __real_realloc(old, n);
	tally(A_REALLOC, n, p);
	return p;
}

char *__wrap_strdup(const char *s)
{
	char *p = __real_strdup(s);
	if (tally_here)
		tally(A_STRDUP, strlen(s) + 1, p);
	return p;
}

void __wrap_free(void *p)
{
	if (tally_here)
		tally_free(p);
	__real_free(p);
}

/* ---- clocks, memory, output ---- */

static int64_t real_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * USEC + ts.tv_nsec / 1000;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds of RUSAGE_SELF or RUSAGE_THREAD. */
static double rusage_s(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double cpu_s(void)
{
	return rusage_s(RUSAGE_SELF);
}

/* The calling thread's (the loop's). */
static double thread_cpu_s(void)
{
	return rusage_s(RUSAGE_THREAD);
}

/* Resident bytes of the process (/proc/self/statm). */
static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Bytes malloc has handed out and not had back (all threads). */
static uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* One result: "name value unit", then a note (the target) if any. */
static void out(const char *name, int prec, double v, const char *unit,
		const char *note)
{
	printf("%-30s %.*f %s%s%s\n", name, prec, v, unit, note ? "  " : "",
	       note ? note : "");
	fflush(stdout);
}

__attribute__((format(printf, 1, 2))) static _Noreturn void die(const char *fmt,
								...)
{
	va_list ap;
	fputs("sched_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank of sorted v[0..n): q = 0.5 the median, 1 the max. */
static int64_t quantile(const int64_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	size_t r = (size_t)(q * (double)n + 0.999999);
	return v[r < 1 ? 0 : r > n ? n - 1 : r - 1];
}

static double ms(int64_t usec)
{
	return (double)usec / 1000.0;
}

/* ---- options ---- */

static struct {
	bool coldstart, due, fire, alloc;
	unsigned jobs, due_jobs, fire_jobs, seconds, threads;
	unsigned lead_ms;
	const char *dir, *db;
} O = { .lead_ms = SCHED_LEAD_MS,
	.coldstart = true,
	.due = true,
	.fire = true,
	.jobs = 1000000,
	.due_jobs = 10000,
	.fire_jobs = 10000,
	.seconds = 60,
	.threads = 4 };

static void usage(void)
{
	fputs("usage: sched_bench [--only coldstart,due,fire] [--jobs N] "
	      "[--due N] [--fire N]\n"
	      "                   [--seconds S] [--threads N] [--dir DIR] "
	      "[--db PATH] [--alloc] [--lead MS]\n"
	      "  defaults: all three, 1000000 jobs, 10000 due, 10000 firing "
	      "for 60 s,\n"
	      "  4 threads (loopd's default), DIR $TMPDIR or /tmp (use a "
	      "disk, not tmpfs)\n"
	      "  --db PATH: coldstart on PATH, made there if missing and "
	      "kept (repeat runs)\n"
	      "  --alloc: tally loopd's allocations during the cold start\n"
	      "  --lead MS: runs prepared MS ahead (default 1000; 0: "
	      "recorded when due)\n",
	      stderr);
	exit(2);
}

static unsigned num_arg(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || v == 0 || v > 100000000)
		usage();
	return (unsigned)v;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--alloc") == 0) {
			O.alloc = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--only") == 0) {
			O.coldstart = strstr(v, "coldstart") != NULL;
			O.due = strstr(v, "due") != NULL;
			O.fire = strstr(v, "fire") != NULL;
			if (!O.coldstart && !O.due && !O.fire)
				usage();
		} else if (strcmp(a, "--jobs") == 0) {
			O.jobs = num_arg(v);
		} else if (strcmp(a, "--due") == 0) {
			O.due_jobs = num_arg(v);
		} else if (strcmp(a, "--fire") == 0) {
			O.fire_jobs = num_arg(v);
		} else if (strcmp(a, "--seconds") == 0) {
			O.seconds = num_arg(v);
		} else if (strcmp(a, "--threads") == 0) {
			O.threads = num_arg(v);
		} else if (strcmp(a, "--dir") == 0) {
			O.dir = v;
		} else if (strcmp(a, "--db") == 0) {
			O.db = v;
		} else if (strcmp(a, "--lead") == 0) {
			O.lead_ms = strcmp(v, "0") == 0 ? 0 : num_arg(v);
		} else {
			usage();
		}
	}
	if (!O.dir)
		O.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

/* ---- set-up: a database of n jobs, written directly ---- */

struct jobrow {
	char name[32];
	char schedule[64];
	const char *tz;
	int64_t next_usec; /* STORE_NULL: null (computed at start) */
	int64_t created_usec;
};
typedef void (*row_fn)(void *ctx, unsigned i, struct jobrow *r);

static void db_unlink(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[4200];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
}

static void sql_ok(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		die("set-up: %s: %s", what, sqlite3_errmsg(db));
}

/* store_open makes the schema; then one transaction of INSERTs.  This is
 * test set-up, not the code under test. */
static void db_create(const char *path, unsigned n, row_fn fn, void *ctx)
{
	struct loop *l;
	struct store *st;
	char err[2048];
	db_unlink(path);
	if (loop_new(&l, 1) < 0 ||
	    store_open(&st, l, path, NULL, err, sizeof(err)) < 0)
		die("cannot make %s: %s", path, err);
	store_close(st);
	loop_free(l);

	sqlite3 *db;
	sqlite3_stmt *ins;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("set-up: cannot open %s", path);
	sql_ok(db,
	       sqlite3_exec(db, "PRAGMA synchronous = OFF; BEGIN", NULL, NULL,
			    NULL),
	       "begin");
	sql_ok(db,
	       sqlite3_prepare_v2(
		       db,
		       "INSERT INTO jobs (name, kind, plugin, schedule, tz, "
		       "args, next_usec, created_usec, updated_usec) VALUES "
		       "(?1, 't', 'bench', ?2, ?3, '{}', ?4, ?5, ?5)",
		       -1, &ins, NULL),
	       "prepare");
	for (unsigned i = 0; i < n; i++) {
		struct jobrow r = { .next_usec = STORE_NULL };
		fn(ctx, i, &r);
		sqlite3_bind_text(ins, 1, r.name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, r.schedule, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, r.tz, -1, SQLITE_STATIC);
		if (r.next_usec == STORE_NULL)
			sqlite3_bind_null(ins, 4);
		else
			sqlite3_bind_int64(ins, 4, r.next_usec);
		sqlite3_bind_int64(ins, 5, r.created_usec);
		sql_ok(db, sqlite3_step(ins), "insert");
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	sql_ok(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
	sqlite3_close(db); /* the last connection: checkpoints the WAL */
}

static uint64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Drops the database's pages from the page cache, as after a reboot. */
static void db_evict(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[4200];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* ---- what a measuring child shares with the parent ---- */

static struct shared {
	uint64_t starts;     /* kind starts so far */
	int64_t first_start; /* wall clock of the first, usec */
	int64_t last_start;  /* and of the latest */
	int64_t result;      /* the headline figure, usec, for the ratio */
	/* fire: a snapshot taken once a second by a loop timer, so a run
	 * that is killed still tells how far the store had got. */
	struct store_stats st;
	uint64_t skipped, missed, inflight;
	int64_t snap_usec;
} * SH;

static void shared_init(void)
{
	SH = mmap(NULL, sizeof(*SH), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (SH == MAP_FAILED)
		die("mmap: %s", strerror(errno));
}

static void shared_reset(void)
{
	memset(SH, 0, sizeof(*SH));
}

/* ---- the test kind: stamps the start, finishes at once ---- */

struct start_rec {
	int64_t run_id, t_usec;
};
static struct {
	struct start_rec *v;
	size_t n, cap;
} S;

static int k_start(loopd_plugin *p, loopd_run *run, const char *args)
{
	int64_t t = real_usec();
	(void)p;
	(void)args;
	if (S.n == S.cap) {
		S.cap = S.cap ? S.cap * 2 : 65536;
		S.v = realloc(S.v, S.cap * sizeof(*S.v));
		if (!S.v)
			die("out of memory");
	}
	S.v[S.n++] = (struct start_rec){ sched_run_id(run), t };
	if (!SH->first_start)
		__atomic_store_n(&SH->first_start, t, __ATOMIC_RELAXED);
	__atomic_store_n(&SH->last_start, t, __ATOMIC_RELAXED);
	__atomic_store_n(&SH->starts, S.n, __ATOMIC_RELAXED);
	sched_finish(run, 0, NULL, 0);
	return 0;
}

/* Room for n stamps, touched now: the kind's start must not pay for a
 * realloc or a page fault inside the measured starts. */
static void starts_reserve(size_t n)
{
	S.n = 0;
	if (n <= S.cap)
		return;
	free(S.v);
	S.cap = n;
	S.v = malloc(S.cap * sizeof(*S.v));
	if (!S.v)
		die("out of memory");
	memset(S.v, 0, S.cap * sizeof(*S.v));
}

static void k_stop(loopd_plugin *p, loopd_run *run)
{
	(void)p;
	(void)run; /* every run finishes inside its start */
}

static const struct loopd_kind kind_t = {
	.size = sizeof(struct loopd_kind),
	.name = "t",
	.start = k_start,
	.stop = k_stop,
};

/* ---- a daemon's worth of scheduler, started as main.c starts it ---- */

struct daemon {
	struct loop *l;
	struct store *st;
	struct events *ev;
	struct sched *s;
	loopd_plugin *p;
	double t_open, t_load, t_start; /* seconds each step took */
	double cpu;                     /* CPU seconds of the three */
	/* Before the start and after each step: malloc'd bytes, RSS,
	 * SQLite's own memory. */
	uint64_t heap[4], rss[4];
	int64_t sql[4];
};

static void mem_mark(struct daemon *d, int i)
{
	d->heap[i] = heap_bytes();
	d->rss[i] = rss_bytes();
	d->sql[i] = sqlite3_memory_used();
}

static void daemon_start(struct daemon *d, const char *path,
			 const struct store_opts *so)
{
	char err[2048];
	mem_mark(d, 0);
	double c0 = cpu_s(), t0 = mono_s();
	if (store_open(&d->st, d->l, path, so, err, sizeof(err)) < 0)
		die("store_open %s: %s", path, err);
	double t1 = mono_s(), c1 = cpu_s();
	mem_mark(d, 1);
	double c1b = cpu_s(), t1b = mono_s();
	struct sched_opts o;
	sched_opts_default(&o);
	o.lead_ms = O.lead_ms;
	if (events_new(&d->ev, EVENTS_RING) < 0 ||
	    sched_new(&d->s, d->l, d->st, d->ev, &o) < 0)
		die("out of memory");
	if (sched_add_kind(d->s, d->p, &kind_t) < 0)
		die("sched_add_kind failed");
	int r = sched_load(d->s);
	if (r < 0)
		die("sched_load: %s", strerror(-r));
	if (store_mark_interrupted(d->st, real_usec()) < 0)
		die("store_mark_interrupted failed");
	double t2 = mono_s(), c2 = cpu_s();
	mem_mark(d, 2);
	double c2b = cpu_s(), t2b = mono_s();
	sched_plugin_up(d->s, d->p);
	sched_start(d->s);
	double t3 = mono_s(), c3 = cpu_s();
	mem_mark(d, 3);
	d->t_open = t1 - t0;
	d->t_load = t2 - t1b;
	d->t_start = t3 - t2b;
	d->cpu = (c1 - c0) + (c2 - c1b) + (c3 - c2b);
}

static void noop(loopd_plugin *p, void *ud)
{
	(void)p;
	(void)ud;
}

/* Runs the loop until the store has nothing queued or in flight. */
static void settle(struct daemon *d)
{
	for (int i = 0; i < 4; i++) {
		while (!store_idle(d->st))
			loop_run_once(d->l);
		loop_immediate(d->l, NULL, noop, NULL);
		loop_run_once(d->l);
	}
}

static void daemon_stop(struct daemon *d)
{
	sched_stop_starting(d->s);
	settle(d);
	sched_free(d->s);
	settle(d);
	store_close(d->st);
	events_free(d->ev);
	d->s = NULL;
	d->st = NULL;
	d->ev = NULL;
}

static void daemon_init(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	if (loop_new(&d->l, O.threads) < 0)
		die("cannot make the loop");
	d->p = calloc(1, sizeof(*d->p));
	if (!d->p)
		die("out of memory");
	snprintf(d->p->name, sizeof(d->p->name), "bench");
}

static void daemon_free(struct daemon *d)
{
	loop_free(d->l);
	free(d->p);
}

/* ---- 1. cold start with 1M jobs ---- */

static const char *const cold_sched[] = {
	"*/5 * * * *", "0 3 * * *", "every 90s", "@hourly", "0 9 * * mon-fri",
};
static const char *const cold_tz[] = { "", "Europe/Berlin",
				       "America/New_York" };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NSCHED   COUNT(cold_sched)
#define NTZ      COUNT(cold_tz)

struct cold_ctx {
	int64_t created;
	int64_t next[NSCHED][NTZ]; /* as a running daemon stored them */
};

static void cold_row(void *ctx, unsigned i, struct jobrow *r)
{
	struct cold_ctx *c = ctx;
	unsigned si = i % NSCHED, zi = (i / NSCHED) % NTZ;
	snprintf(r->name, sizeof(r->name), "job-%06u", i);
	snprintf(r->schedule, sizeof(r->schedule), "%s", cold_sched[si]);
	r->tz = cold_tz[zi];
	r->next_usec = c->next[si][zi];
	r->created_usec = c->created;
}

/* next_usec as the daemon would have stored it: the next fire from now. */
static void cold_next_times(struct cold_ctx *c)
{
	char err[CAL_ERR_MAX];
	int64_t now = real_usec();
	c->created = now - 86400 * USEC;
	for (size_t z = 0; z < NTZ; z++) {
		struct tz_zone *zone;
		if (tz_zone_load(*cold_tz[z] ? cold_tz[z] : NULL, &zone, err,
				 sizeof(err)) < 0)
			die("zone %s: %s", cold_tz[z], err);
		for (size_t i = 0; i < NSCHED; i++) {
			struct cal_expr *e;
			if (cal_parse(cold_sched[i], &e, err, sizeof(err)) < 0)
				die("%s: %s", cold_sched[i], err);
			c->next[i][z] = cal_next(e, zone, c->created, now);
			cal_expr_free(e);
		}
		tz_zone_unref(zone);
	}
}

static void alloc_report(unsigned n)
{
	uint64_t total = 0;
	for (int op = 0; op < A_COUNT; op++)
		for (size_t sz = 0; sz < TALLY_SIZES; sz++)
			total += T.bytes[op][sz];
	printf("# allocations by loopd's code during the start (--alloc): "
	       "call, requested size, count, bytes taken per job; "
	       "sizeof(struct store_job) = %zu\n",
	       sizeof(struct store_job));
	for (int op = 0; op < A_COUNT; op++) {
		for (size_t sz = 0; sz < TALLY_SIZES; sz++) {
			uint64_t k = T.n[op][sz];
			double per = (double)T.bytes[op][sz] / n;
			if (!k || per < 0.5)
				continue;
			char name[64], note[96];
			snprintf(name, sizeof(name), "alloc.%s.%zu%s",
				 alloc_names[op], sz,
				 sz == TALLY_SIZES - 1 ? "+" : "");
			snprintf(note, sizeof(note),
				 "%" PRIu64 " calls, %.0f B each", k,
				 (double)T.bytes[op][sz] / (double)k);
			out(name, 1, per, "B/job", note);
		}
	}
	out("alloc.freed", 1, (double)T.freed_bytes / n, "B/job",
	    "given back during the start (old index tables, grown arrays)");
	out("alloc.live", 1, (double)(total - T.freed_bytes) / n, "B/job",
	    "loopd's allocations still held after the start");
}

/* One start of the daemon on the database at path; prefix names the
 * lines.  Memory is reported for the cached run only (it is the same). */
static void mem_report(const struct daemon *d, unsigned n)
{
	static const char *const step[] = { "", "open", "load", "start" };
	char name[64], note[64];
	double rss = (double)(d->rss[3] - d->rss[0]);
	snprintf(note, sizeof(note), "target <= 500 B (%.2fx of it)",
		 rss / n / 500);
	out("mem.rss_per_job", 1, rss / n, "B", note);
	out("mem.rss_added", 1, rss / 1048576.0, "MiB", NULL);
	out("mem.malloc_per_job", 1, (double)(d->heap[3] - d->heap[0]) / n, "B",
	    "malloc'd and not freed (mallinfo2)");
	out("mem.sqlite", 2, (double)(d->sql[3] - d->sql[0]) / 1048576.0, "MiB",
	    "SQLite's own (sqlite3_memory_used), in the above");
	for (int i = 1; i < 4; i++) {
		snprintf(name, sizeof(name), "mem.%s.rss_per_job", step[i]);
		out(name, 1, (double)(d->rss[i] - d->rss[i - 1]) / n, "B",
		    NULL);
		snprintf(name, sizeof(name), "mem.%s.malloc_per_job", step[i]);
		snprintf(note, sizeof(note), "of which SQLite %.1f B",
			 (double)(d->sql[i] - d->sql[i - 1]) / n);
		out(name, 1, (double)(d->heap[i] - d->heap[i - 1]) / n, "B",
		    note);
	}
}

/* One start of the daemon on the database at path; prefix names the
 * lines.  memory: report memory (and the --alloc tally) too. */
static void cold_once(const char *path, const char *prefix, bool memory)
{
	struct daemon d;
	char name[64], note[64];
	daemon_init(&d);
	memset(&T, 0, sizeof(T));
	tally_here = O.alloc && memory;
	daemon_start(&d, path, NULL);
	tally_here = false;
	double total = d.t_open + d.t_load + d.t_start;

	snprintf(name, sizeof(name), "%s.open", prefix);
	out(name, 3, d.t_open, "s", "store_open: checks (quick_check), WAL");
	snprintf(name, sizeof(name), "%s.load", prefix);
	out(name, 3, d.t_load, "s", "sched_load + store_mark_interrupted");
	snprintf(name, sizeof(name), "%s.start", prefix);
	out(name, 3, d.t_start, "s", "sched_start: parse, next, heap");
	snprintf(name, sizeof(name), "%s.total", prefix);
	snprintf(note, sizeof(note), "target <= 3 s (%.2fx of it)", total / 3);
	out(name, 3, total, "s", note);
	snprintf(name, sizeof(name), "%s.cpu", prefix);
	out(name, 3, d.cpu, "s",
	    "CPU time of the total (the rest: waiting for the disk, the CPU)");
	struct sched_counts sc;
	sched_counts(d.s, &sc); /* the jobs loaded: --db may hold any number */
	unsigned n = sc.total ? (unsigned)sc.total : 1;
	if (memory)
		mem_report(&d, n);
	if (memory && O.alloc)
		alloc_report(n);
	double t = mono_s();
	daemon_stop(&d);
	daemon_free(&d);
	snprintf(name, sizeof(name), "%s.free", prefix);
	out(name, 3, mono_s() - t, "s",
	    "sched_free + store_close (not in total)");
}

/*
 * Runs fn in a child process and waits for it, at most limit_s seconds
 * (0: no limit); then kills it.  0, or -1 when it was killed.  Each cold
 * start measures its memory from a fresh heap, not one that earlier work
 * left free pages in; and a scheduler that falls so far behind that its
 * loop never comes back still ends the benchmark (what it reached is in
 * SH, shared with the child).
 */
static int in_child(void (*fn)(void *), void *arg, double limit_s)
{
	int status = 0;
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* A parent killed (timeout(1), ^C) takes the child along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	double end = mono_s() + limit_s;
	for (;;) {
		pid_t r = waitpid(pid, &status, limit_s > 0 ? WNOHANG : 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			die("waitpid: %s", strerror(errno));
		if (limit_s > 0 && mono_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		if (r == 0)
			usleep(100000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("a benchmark child failed (status %d)", status);
	return 0;
}

struct cold_arg {
	const char *path, *prefix;
	bool memory;
	struct cold_ctx *c;
};

static void cold_create(void *arg)
{
	struct cold_arg *a = arg;
	double t = mono_s();
	db_create(a->path, O.jobs, cold_row, a->c);
	out("coldstart.jobs", 0, O.jobs, "jobs", NULL);
	out("coldstart.setup", 2, mono_s() - t, "s",
	    "bulk INSERT (set-up, not measured)");
	out("coldstart.db_size", 1, (double)file_size(a->path) / 1048576.0,
	    "MiB", NULL);
}

static void cold_run(void *arg)
{
	struct cold_arg *a = arg;
	cold_once(a->path, a->prefix, a->memory);
}

static void bench_coldstart(void)
{
	char path[4096];
	struct cold_ctx c;
	if (O.db)
		snprintf(path, sizeof(path), "%s", O.db);
	else
		snprintf(path, sizeof(path), "%s/sched-bench-cold.db", O.dir);
	printf("# coldstart: %u jobs, kind t, schedules ", O.jobs);
	for (size_t i = 0; i < NSCHED; i++)
		printf("'%s'%s", cold_sched[i], i + 1 < NSCHED ? ", " : "");
	printf(" x tz '', Europe/Berlin, America/New_York; next_usec "
	       "stored\n");
	cold_next_times(&c);
	struct cold_arg a = { path, "coldstart.disk", false, &c };
	if (!O.db || access(path, F_OK) != 0)
		in_child(cold_create, &a, 0);
	else /* --db: an existing database, its jobs as they are */
		printf("# coldstart: the jobs of %s\n", path);
	db_evict(path);
	in_child(cold_run, &a, 0);
	a.prefix = "coldstart.cached";
	a.memory = true;
	in_child(cold_run, &a, 0);
	if (!O.db)
		db_unlink(path);
}

/* ---- the peer: a bare timerfd loop that sleeps to each second ---- */

static volatile uint64_t peer_sink;

static void peer_job(uint64_t i)
{
	peer_sink += i;
}

/* Lateness (usec) of n no-op starts at each of `seconds` whole seconds
 * from first (usec); late gets n * seconds values. */
static void peer_run(unsigned n, unsigned seconds, int64_t first, int64_t *late)
{
	void (*volatile job)(uint64_t) = peer_job;
	int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	if (fd < 0)
		die("timerfd: %s", strerror(errno));
	for (unsigned k = 0; k < seconds; k++) {
		int64_t due = first + (int64_t)k * USEC;
		struct itimerspec its = {
			.it_value = { .tv_sec = due / USEC,
				      .tv_nsec = (due % USEC) * 1000 },
		};
		uint64_t x;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		if (read(fd, &x, sizeof(x)) < 0)
			die("timerfd read: %s", strerror(errno));
		for (unsigned j = 0; j < n; j++) {
			late[(size_t)k * n + j] = real_usec() - due;
			job(j);
		}
	}
	close(fd);
}

/* ---- the run records: each started run's scheduled time ---- */

struct runs_db {
	int64_t *sched; /* by run id; STORE_NULL: no such run */
	int64_t *handled;
	int64_t max_id;
};

static void runs_read(const char *path, struct runs_db *r)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot read %s", path);
	sql_ok(db,
	       sqlite3_prepare_v2(db, "SELECT max(id) FROM runs", -1, &st,
				  NULL),
	       "max");
	r->max_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0)
						   : 0;
	sqlite3_finalize(st);
	r->sched = malloc(((size_t)r->max_id + 1) * sizeof(int64_t));
	r->handled = malloc(((size_t)r->max_id + 1) * sizeof(int64_t));
	if (!r->sched || !r->handled)
		die("out of memory");
	for (int64_t i = 0; i <= r->max_id; i++)
		r->sched[i] = r->handled[i] = STORE_NULL;
	sql_ok(db,
	       sqlite3_prepare_v2(db,
				  "SELECT id, scheduled_usec, started_usec "
				  "FROM runs",
				  -1, &st, NULL),
	       "runs");
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		r->sched[id] = sqlite3_column_int64(st, 1);
		r->handled[id] = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void runs_free(struct runs_db *r)
{
	free(r->sched);
	free(r->handled);
}

static void store_report(const char *prefix, const struct store_stats *st)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.store.commits", prefix);
	out(name, 0, (double)st->commits, "commits", NULL);
	snprintf(name, sizeof(name), "%s.store.writes", prefix);
	out(name, 0, (double)st->writes, "writes", NULL);
	snprintf(name, sizeof(name), "%s.store.batch_p50", prefix);
	out(name, 0, (double)st->batch_p50, "writes", "per commit");
	snprintf(name, sizeof(name), "%s.store.batch_p99", prefix);
	out(name, 0, (double)st->batch_p99, "writes", NULL);
	snprintf(name, sizeof(name), "%s.store.batch_max", prefix);
	out(name, 0, (double)st->batch_max, "writes", NULL);
	snprintf(name, sizeof(name), "%s.store.commit_p50", prefix);
	out(name, 3, ms((int64_t)st->commit_p50_us), "ms", NULL);
	snprintf(name, sizeof(name), "%s.store.commit_p99", prefix);
	out(name, 3, ms((int64_t)st->commit_p99_us), "ms", NULL);
	snprintf(name, sizeof(name), "%s.store.commit_max", prefix);
	out(name, 3, ms((int64_t)st->commit_max_us), "ms", NULL);
	if (st->failed_batches) {
		snprintf(name, sizeof(name), "%s.store.failed_batches", prefix);
		out(name, 0, (double)st->failed_batches, "batches", NULL);
	}
}

/* ---- 2. 10,000 jobs due in the same second ---- */

struct due_ctx {
	int64_t t, created;
};

static void due_row(void *ctx, unsigned i, struct jobrow *r)
{
	struct due_ctx *c = ctx;
	time_t sec = (time_t)(c->t / USEC);
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(r->name, sizeof(r->name), "job-%06u", i);
	strftime(r->schedule, sizeof(r->schedule), "at %Y-%m-%dT%H:%M:%SZ",
		 &tm);
	r->tz = "";
	r->next_usec = c->t;
	r->created_usec = c->created;
}

static bool phase_over;

static void phase_end(loopd_plugin *p, void *ud)
{
	struct daemon *d = ud;
	(void)p;
	sched_stop_starting(d->s);
	phase_over = true;
}

static unsigned floor_left;

static void floor_done(struct store_req *r, int status)
{
	if (status < 0)
		die("due: a RUN_ADD of the floor failed: %s",
		    strerror(-status));
	floor_left--;
}

/* The floor under the rule that a run is committed as `starting` before
 * it starts: n RUN_ADDs (one per job, as the due jobs' would be) queued
 * at once on the store alone, no scheduler; the time until the last is
 * acknowledged, in usec. */
static int64_t run_add_floor(struct daemon *d, unsigned n)
{
	struct store_req *v = calloc(n, sizeof(*v));
	char name[32];
	if (!v)
		die("out of memory");
	int64_t t0 = real_usec();
	for (unsigned i = 0; i < n; i++) {
		store_req_init(&v[i], STORE_RUN_ADD);
		snprintf(name, sizeof(name), "job-%06u", i);
		v[i].run.job = strdup(name);
		v[i].run.trigger = STORE_TRIGGER_MANUAL;
		v[i].run.scheduled_usec = v[i].run.started_usec = t0;
		v[i].run.result = STORE_RESULT_STARTING;
		v[i].done = floor_done;
		if (!v[i].run.job || store_submit(d->st, &v[i]) < 0)
			die("due: cannot queue the floor's RUN_ADDs");
	}
	floor_left = n;
	while (floor_left)
		loop_run_once(d->l);
	int64_t t = real_usec() - t0;
	for (unsigned i = 0; i < n; i++)
		store_req_clear(&v[i]);
	free(v);
	return t;
}

/* The measured part, in a child (in_child): T is set by the parent. */
static void due_measure(void *arg)
{
	char path[4096];
	struct due_ctx *c = arg;
	struct daemon d;
	unsigned n = O.due_jobs;
	snprintf(path, sizeof(path), "%s/sched-bench-due.db", O.dir);
	db_create(path, n, due_row, c);
	daemon_init(&d);
	starts_reserve((size_t)n + 1024);
	daemon_start(&d, path, NULL);
	if (real_usec() > c->t - 200000)
		fprintf(stderr, "sched_bench: due: the start took until "
				"200 ms before T; figures may suffer\n");
	phase_over = false;
	/* Gives up 30 s after T. */
	loopd_id give_up = loop_timer(
		d.l, NULL, (uint64_t)(c->t - real_usec()) / 1000 + 30000, 0,
		phase_end, &d);
	/* Until the last start: the loop thread's CPU, and the others'
	 * (the store lane's commits, mostly). */
	double cpu_loop = thread_cpu_s(), cpu_all = cpu_s();
	while (!phase_over && S.n < n)
		loop_run_once(d.l);
	cpu_loop = thread_cpu_s() - cpu_loop;
	cpu_all = cpu_s() - cpu_all;
	if (!phase_over)
		loop_close(d.l, NULL, give_up, NULL);
	struct store_stats ss;
	settle(&d);
	store_stats(d.st, &ss);
	int64_t floor_usec = run_add_floor(&d, n);
	daemon_stop(&d);
	daemon_free(&d);

	struct runs_db rdb;
	runs_read(path, &rdb);
	int64_t *late = malloc((S.n + 1) * sizeof(*late));
	int64_t h_first = INT64_MAX, h_last = INT64_MIN;
	if (!late)
		die("out of memory");
	for (size_t i = 0; i < S.n; i++) {
		int64_t id = S.v[i].run_id, h = STORE_NULL;
		late[i] = S.v[i].t_usec - c->t;
		if (id > 0 && id <= rdb.max_id)
			h = rdb.handled[id];
		if (h != STORE_NULL) {
			h_first = h < h_first ? h : h_first;
			h_last = h > h_last ? h : h_last;
		}
	}
	qsort(late, S.n, sizeof(*late), cmp_i64);
	out("due.jobs", 0, n, "jobs", NULL);
	out("due.started", 0, (double)S.n, "runs", NULL);
	out("due.wake", 3, ms(h_first - c->t), "ms",
	    "first run handled at T (its started_usec)");
	out("due.handled", 3, ms(h_last - c->t), "ms",
	    O.lead_ms ? "last run handled at T (prepared: its commit was "
			"before T)"
		      : "last run handled, before its commit");
	out("due.start_first", 3, ms(quantile(late, S.n, 0)), "ms",
	    "kind's start, after the commit");
	out("due.start_p50", 3, ms(quantile(late, S.n, 0.5)), "ms", NULL);
	out("due.start_p99", 3, ms(quantile(late, S.n, 0.99)), "ms", NULL);
	out("due.start_last", 3, ms(quantile(late, S.n, 1)), "ms",
	    "target <= 50 ms");
	out("due.cpu.loop_per_run", 2, cpu_loop * 1e6 / (S.n ? S.n : 1), "us",
	    "loop thread's CPU until the last start, per run");
	out("due.cpu.others_per_run", 2,
	    (cpu_all - cpu_loop) * 1e6 / (S.n ? S.n : 1), "us",
	    "the other threads' (store lane) in that time, per run");
	out("due.floor.run_add", 3, ms(floor_usec), "ms",
	    "afterwards, as many RUN_ADDs queued at once on the store "
	    "alone: the commit every start waits for with --lead 0");
	store_report("due", &ss);
	SH->result = quantile(late, S.n, 1);
	free(late);
	runs_free(&rdb);
	db_unlink(path);
}

static void bench_due(void)
{
	char path[4096];
	struct due_ctx c;
	unsigned n = O.due_jobs;
	c.created = real_usec();
	c.t = (c.created / USEC + 3) * USEC;
	printf("# due: %u jobs 'at T', T a whole second 2-3 s ahead; "
	       "lateness = time in the kind's start - T\n",
	       n);
	shared_reset();
	if (in_child(due_measure, &c, 90) < 0) {
		out("due.killed", 0, 1, "", "the loop never came back: killed");
		out("due.started", 0, (double)SH->starts, "runs", NULL);
		out("due.start_last", 3, ms(SH->last_start - c.t), "ms",
		    "when it was killed");
		snprintf(path, sizeof(path), "%s/sched-bench-due.db", O.dir);
		db_unlink(path);
		return;
	}
	int64_t last = SH->result;

	/* The peer, on the next whole second but one. */
	int64_t first = (real_usec() / USEC + 2) * USEC;
	int64_t *late = malloc(n * sizeof(*late));
	if (!late)
		die("out of memory");
	peer_run(n, 1, first, late);
	qsort(late, n, sizeof(*late), cmp_i64);
	out("due.bare.start_first", 3, ms(late[0]), "ms",
	    "peer: bare timerfd loop, no store");
	out("due.bare.start_p99", 3, ms(quantile(late, n, 0.99)), "ms", NULL);
	out("due.bare.start_last", 3, ms(late[n - 1]), "ms", NULL);
	out("due.ratio_last", 1,
	    late[n - 1] > 0 ? (double)last / (double)late[n - 1] : 0, "x",
	    "loopd / bare loop, last start");
	free(late);
}

/* ---- 3. 10,000 jobs every second for S seconds ---- */

static void fire_row(void *ctx, unsigned i, struct jobrow *r)
{
	const int64_t *created = ctx;
	snprintf(r->name, sizeof(r->name), "job-%06u", i);
	snprintf(r->schedule, sizeof(r->schedule), "* * * * * *");
	r->tz = "";
	r->created_usec = *created; /* next_usec null: computed at start */
}

/* The last start (first_one: the first) of each scheduled second, as a
 * lateness; into *v (caller frees), sorted, their number returned.
 * late[i] belongs to second sec[i]. */
static size_t per_second(const int64_t *sec, const int64_t *late, size_t n,
			 unsigned seconds, int64_t **v, bool first_one)
{
	int64_t *m = malloc(((size_t)seconds + 1) * sizeof(*m));
	int64_t first = INT64_MAX;
	size_t k = 0;
	if (!m)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		first = sec[i] < first ? sec[i] : first;
	for (unsigned i = 0; i <= seconds; i++)
		m[i] = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		int64_t s = (sec[i] - first) / USEC;
		if (s < 0 || s > (int64_t)seconds)
			continue;
		if (first_one ? m[s] == INT64_MIN || late[i] < m[s]
			      : late[i] > m[s])
			m[s] = late[i];
	}
	for (unsigned i = 0; i <= seconds; i++)
		if (m[i] != INT64_MIN)
			m[k++] = m[i];
	qsort(m, k, sizeof(*m), cmp_i64);
	*v = m;
	return k;
}

static void fire_snapshot(loopd_plugin *p, void *ud)
{
	struct daemon *d = ud;
	struct sched_counts sc;
	(void)p;
	store_stats(d->st, &SH->st);
	sched_counts(d->s, &sc);
	SH->skipped = sc.skipped;
	SH->missed = sc.missed;
	SH->inflight = sc.runs_inflight;
	SH->snap_usec = real_usec();
}

/* The measured part, in a child (in_child). */
static void fire_measure(void *arg)
{
	char path[4096];
	struct daemon d;
	struct store_opts so;
	unsigned n = O.fire_jobs, secs = O.seconds;
	int64_t created = real_usec();
	(void)arg;
	snprintf(path, sizeof(path), "%s/sched-bench-fire.db", O.dir);
	db_create(path, n, fire_row, &created);
	store_opts_default(&so);
	if (so.runs_keep && so.runs_keep < secs + 10)
		so.runs_keep = secs + 10; /* every run's record is read back */
	daemon_init(&d);
	starts_reserve((size_t)n * (secs + 3));
	daemon_start(&d, path, &so);
	/* The measured seconds are [first, first + secs): the seconds
	 * before first, the start's (its runs are prepared all at once, or
	 * not at all when the start came within the lead), are the warm-up,
	 * reported apart. */
	int64_t first = (real_usec() / USEC + 2) * USEC;
	int64_t end = first + (int64_t)secs * USEC - 100000;
	phase_over = false;
	loop_timer(d.l, NULL, (uint64_t)(end - real_usec()) / 1000, 0,
		   phase_end, &d);
	loopd_id snap = loop_timer(d.l, NULL, 1000, 1000, fire_snapshot, &d);
	double cpu0 = cpu_s(), t0 = mono_s();
	while (!phase_over)
		loop_run_once(d.l);
	loop_close(d.l, NULL, snap, NULL);
	double cpu = cpu_s() - cpu0, wall = mono_s() - t0;
	struct store_stats ss;
	struct sched_counts sc;
	struct loop_stats ls;
	settle(&d);
	store_stats(d.st, &ss);
	sched_counts(d.s, &sc);
	loop_stats(d.l, &ls);
	daemon_stop(&d);
	daemon_free(&d);

	struct runs_db rdb;
	runs_read(path, &rdb);
	int64_t *late = malloc((S.n + 1) * sizeof(*late));
	int64_t *sec = malloc((S.n + 1) * sizeof(*sec));
	size_t m = 0, unmatched = 0, warm = 0;
	int64_t warm_max = 0;
	if (!late || !sec)
		die("out of memory");
	for (size_t i = 0; i < S.n; i++) {
		int64_t id = S.v[i].run_id;
		int64_t at =
			id > 0 && id <= rdb.max_id ? rdb.sched[id] : STORE_NULL;
		if (at == STORE_NULL) {
			unmatched++;
			continue;
		}
		if (at < first) {
			warm++;
			if (S.v[i].t_usec - at > warm_max)
				warm_max = S.v[i].t_usec - at;
			continue;
		}
		sec[m] = at;
		late[m++] = S.v[i].t_usec - at;
	}
	int64_t *lastv, *firstv;
	size_t nsec = per_second(sec, late, m, secs, &lastv, false);
	size_t nfirst = per_second(sec, late, m, secs, &firstv, true);
	qsort(late, m, sizeof(*late), cmp_i64);
	out("fire.runs_started", 0, (double)m, "runs",
	    "scheduled in the measured seconds");
	out("fire.warmup.runs", 0, (double)warm, "runs",
	    "scheduled before them, from loopd's start");
	out("fire.warmup.late_max", 3, ms(warm_max), "ms", NULL);
	out("fire.runs_skipped", 0, (double)sc.skipped, "runs",
	    "overlap skip: the previous run not finished");
	out("fire.runs_missed", 0, (double)sc.missed, "runs", NULL);
	if (unmatched)
		out("fire.runs_unmatched", 0, (double)unmatched, "runs",
		    "no run record found");
	out("fire.late_p50", 3, ms(quantile(late, m, 0.5)), "ms", NULL);
	out("fire.late_p99", 3, ms(quantile(late, m, 0.99)), "ms",
	    "target <= 5 ms");
	out("fire.late_max", 3, ms(quantile(late, m, 1)), "ms", NULL);
	out("fire.second_last_p50", 3, ms(quantile(lastv, nsec, 0.5)), "ms",
	    "per second: its last start");
	out("fire.second_last_max", 3, ms(quantile(lastv, nsec, 1)), "ms",
	    NULL);
	out("fire.second_first_p50", 3, ms(quantile(firstv, nfirst, 0.5)), "ms",
	    "per second: its first start");
	out("fire.cpu", 2, cpu / wall, "cores", "process CPU / wall time");
	out("fire.loop_lag_p99", 3, ms((int64_t)ls.lag_p99_us), "ms",
	    "loop timer lateness");
	store_report("fire", &ss);
	SH->result = quantile(late, m, 0.99);
	free(late);
	free(sec);
	free(lastv);
	free(firstv);
	runs_free(&rdb);
	db_unlink(path);
}

static void bench_fire(void)
{
	char path[4096];
	unsigned n = O.fire_jobs, secs = O.seconds;
	printf("# fire: %u jobs '* * * * * *' for %u s; lateness = time in the "
	       "kind's start - the run's scheduled second\n",
	       n, secs);
	out("fire.jobs", 0, n, "jobs", NULL);
	out("fire.seconds", 0, secs, "s", NULL);
	out("fire.runs_expected", 0, (double)n * secs, "runs", NULL);
	shared_reset();
	double t0 = mono_s();
	/* Set-up, the run, reading back: a minute beyond the run is plenty
	 * for a scheduler that keeps up. */
	if (in_child(fire_measure, NULL, secs + 60.0 + n / 1000.0) < 0) {
		char note[96];
		snprintf(note, sizeof(note),
			 "did not finish: killed after %.0f s (it fell behind)",
			 mono_s() - t0);
		out("fire.killed", 0, 1, "", note);
		out("fire.runs_started", 0, (double)SH->starts, "runs",
		    "before it was killed");
		out("fire.starts_span", 3,
		    (double)(SH->last_start - SH->first_start) / 1e6, "s",
		    "first to last start");
		snprintf(note, sizeof(note),
			 "the latest snapshot, %.1f s after the first start",
			 (double)(SH->snap_usec - SH->first_start) / 1e6);
		out("fire.snap.runs_inflight", 0, (double)SH->inflight, "runs",
		    note);
		out("fire.snap.runs_skipped", 0, (double)SH->skipped, "runs",
		    NULL);
		out("fire.snap.runs_missed", 0, (double)SH->missed, "runs",
		    NULL);
		store_report("fire.snap", &SH->st);
		snprintf(path, sizeof(path), "%s/sched-bench-fire.db", O.dir);
		db_unlink(path);
		return;
	}
	int64_t p99 = SH->result;

	/* The peer, for at most 10 s: its figures do not drift. */
	unsigned psecs = secs < 10 ? secs : 10;
	int64_t first = (real_usec() / USEC + 2) * USEC;
	int64_t *late = malloc((size_t)n * psecs * sizeof(*late));
	size_t m = (size_t)n * psecs;
	if (!late)
		die("out of memory");
	peer_run(n, psecs, first, late);
	qsort(late, m, sizeof(*late), cmp_i64);
	out("fire.bare.seconds", 0, psecs, "s",
	    "peer: bare timerfd loop, no store");
	out("fire.bare.late_p50", 3, ms(quantile(late, m, 0.5)), "ms", NULL);
	out("fire.bare.late_p99", 3, ms(quantile(late, m, 0.99)), "ms", NULL);
	out("fire.bare.late_max", 3, ms(quantile(late, m, 1)), "ms", NULL);
	int64_t bp99 = quantile(late, m, 0.99);
	out("fire.ratio_p99", 1, bp99 > 0 ? (double)p99 / (double)bp99 : 0, "x",
	    "loopd / bare loop, late p99");
	free(late);
}

int main(int argc, char **argv)
{
	struct statfs fs;
	parse_args(argc, argv);
	log_init(LOGL_WARN, 0);
	shared_init();
	printf("# sched_bench: %ld CPUs, SQLite %s, %u threads, lead %u ms, "
	       "database in %s (%s)\n",
	       sysconf(_SC_NPROCESSORS_ONLN), sqlite3_libversion(), O.threads,
	       O.lead_ms, O.dir,
	       statfs(O.dir, &fs) == 0 && fs.f_type == 0x01021994
		       ? "tmpfs: fsync is free, figures are optimistic"
		       : "not tmpfs");
	if (O.coldstart)
		bench_coldstart();
	if (O.due)
		bench_due();
	if (O.fire)
		bench_fire();
	free(S.v);
	return 0;
}
