/*
 * crash_adds.c - the store under kill -9 and a full disk, as a program
 * the shell tests drive (tests/integration/store_crash.sh and
 * store_diskfull.sh).  Not a test by itself.
 *
 *   store_crash_adds add DB COUNT
 *       Adds the jobs job-00000 .. job-COUNT-1 that DB lacks, in waves of
 *       random size, through the loop and the store lane as the daemon
 *       does.  A name is printed (and flushed) only once its add is
 *       acknowledged, so the output is the list of promises to check.
 *       Every fifth job also gets a run left "running", the kind of row
 *       a crash leaves behind.
 *   store_crash_adds verify DB ACKED [COUNT]
 *       Opens DB (a full integrity_check after an unclean stop), marks
 *       unfinished runs interrupted, and checks every name in ACKED is
 *       there exactly once (and, with COUNT, that all COUNT jobs are).
 *   store_crash_adds diskfull DIR
 *       On a small file system at DIR: fills it, checks adds fail with
 *       ENOSPC and acknowledge nothing, reads go on, and adds work again
 *       once space is freed.
 *
 * Exit status 0 when all is well; 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "store.h"

#define NAME_LEN 16

static struct loop *L;
static struct store *S;
static unsigned seed;

__attribute__((format(printf, 1, 2))) _Noreturn static void die(const char *fmt,
								...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "store_crash_adds: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void open_store(const char *path)
{
	char err[2048];
	int r;
	if ((r = loop_new(&L, 1)) < 0)
		die("loop_new: %s", strerror(-r));
	if ((r = store_open(&S, L, path, NULL, err, sizeof(err))) < 0)
		die("%s", err);
}

static void close_store(void)
{
	loop_run(L); /* nothing may be left in flight */
	store_close(S);
	loop_free(L);
}

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- requests ---- */

struct add {
	struct store_req r; /* first: the done callback casts back */
	int status;
	bool with_run;
};

static void fill_job(struct store_job *j, const char *name, size_t pad)
{
	j->name = strdup(name);
	j->kind = strdup("exec");
	j->schedule = strdup("daily");
	if (asprintf(&j->args_json, "{\"command\":\"true\",\"pad\":\"%0*d\"}",
		     (int)pad, 0) < 0)
		die("out of memory");
	j->created_usec = j->updated_usec = now_usec();
}

static struct add *add_new(enum store_op op, store_done_fn done)
{
	struct add *a = calloc(1, sizeof(*a));
	if (!a)
		die("out of memory");
	store_req_init(&a->r, op);
	a->r.done = done;
	a->status = 1;
	return a;
}

static void add_free(struct add *a)
{
	store_req_clear(&a->r);
	free(a);
}

static void submit(struct add *a)
{
	int r = store_submit(S, &a->r);
	if (r < 0)
		die("store_submit: %s", strerror(-r));
}

/* ---- add ---- */

static size_t wave_left;

static void run_done(struct store_req *r, int status)
{
	if (status < 0)
		die("adding a run of %s: %s", r->run.job, strerror(-status));
	add_free((struct add *)r);
	wave_left--;
}

/* The promise: the name is printed only after its commit. */
static void add_done(struct store_req *r, int status)
{
	struct add *a = (struct add *)r;
	if (status < 0)
		die("adding %s: %s", r->job.name, strerror(-status));
	printf("%s\n", r->job.name);
	fflush(stdout);
	if (a->with_run) {
		struct add *run = add_new(STORE_RUN_ADD, run_done);
		run->r.run.job = strdup(r->job.name);
		run->r.run.result = STORE_RESULT_RUNNING;
		run->r.run.started_usec = now_usec();
		submit(run);
		wave_left++;
	}
	add_free(a);
	wave_left--;
}

static int mark_present(void *ctx, struct store_job *j)
{
	unsigned i;
	bool *present = ctx;
	if (sscanf(j->name, "job-%u", &i) == 1)
		present[i] = true;
	return 0;
}

static int cmd_add(const char *path, unsigned count)
{
	bool *present = calloc(count + 1, sizeof(*present));
	char name[NAME_LEN];
	unsigned next = 0, added = 0;
	open_store(path);
	store_load_jobs(S, mark_present, present);
	while (next < count) {
		size_t n = 1 + (size_t)rand_r(&seed) % 64;
		for (; n && next < count; next++) {
			if (present[next])
				continue;
			struct add *a = add_new(STORE_JOB_ADD, add_done);
			snprintf(name, sizeof(name), "job-%05u", next);
			fill_job(&a->r.job, name, 40);
			a->with_run = next % 5 == 0;
			submit(a);
			wave_left++;
			added++;
			n--;
		}
		loop_run(L);
		if (wave_left)
			die("%zu requests of a wave never completed",
			    wave_left);
	}
	fprintf(stderr, "store_crash_adds: added %u jobs\n", added);
	close_store();
	free(present);
	return 0;
}

/* ---- verify ---- */

struct names {
	char (*v)[NAME_LEN];
	size_t n, cap;
};

static int collect(void *ctx, struct store_job *j)
{
	struct names *ns = ctx;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 1024;
		if (!(ns->v = realloc(ns->v, ns->cap * NAME_LEN)))
			die("out of memory");
	}
	snprintf(ns->v[ns->n++], NAME_LEN, "%s", j->name);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_done(struct store_req *r, int status)
{
	*(int *)r->ud = status;
}

static size_t runs_with(enum store_result res)
{
	struct store_req r;
	int status = 1;
	store_req_init(&r, STORE_RUN_LIST);
	r.filter.result = res;
	r.filter.limit = 1000000;
	r.done = list_done;
	r.ud = &status;
	if (store_submit(S, &r) < 0)
		die("listing runs: refused");
	loop_run(L);
	if (status)
		die("listing runs: %s", strerror(-status));
	size_t n = r.nruns;
	store_req_clear(&r);
	return n;
}

static void check_acked(const struct names *ns, const char *acked_path,
			size_t *nacked)
{
	char line[64];
	FILE *f = fopen(acked_path, "r");
	if (!f)
		die("cannot read %s: %s", acked_path, strerror(errno));
	*nacked = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		if (!len || line[len - 1] != '\n')
			continue; /* a line cut by the kill: no promise */
		line[len - 1] = 0;
		if (!ns->n || !bsearch(line, ns->v, ns->n, NAME_LEN, cmp_name))
			die("%s was acknowledged but is not in the database",
			    line);
		++*nacked;
	}
	fclose(f);
}

static int cmd_verify(const char *path, const char *acked, long count)
{
	struct names ns = { 0 };
	struct store_info in;
	char err[2048];
	size_t nacked;
	open_store(path);
	store_info(S, &in);
	if (store_check(S, true, err, sizeof(err)) < 0)
		die("%s", err);
	int64_t interrupted = store_mark_interrupted(S, now_usec());
	if (interrupted < 0)
		die("marking runs interrupted: %s",
		    strerror((int)-interrupted));
	store_load_jobs(S, collect, &ns);
	if (ns.n)
		qsort(ns.v, ns.n, NAME_LEN, cmp_name);
	for (size_t i = 1; i < ns.n; i++)
		if (strcmp(ns.v[i - 1], ns.v[i]) == 0)
			die("%s is in the database twice", ns.v[i]);
	check_acked(&ns, acked, &nacked);
	if (count >= 0 && ns.n != (size_t)count)
		die("%zu jobs in the database, expected %ld", ns.n, count);
	size_t left = runs_with(STORE_RESULT_RUNNING) +
		      runs_with(STORE_RESULT_STARTING);
	if (left)
		die("%zu runs still unfinished after marking", left);
	printf("verify: %zu jobs, %zu acknowledged all present once, %" PRId64
	       " runs interrupted, %s stop, integrity ok\n",
	       ns.n, nacked, interrupted, in.unclean ? "unclean" : "clean");
	close_store();
	free(ns.v);
	return 0;
}

/* ---- diskfull ---- */

struct wave {
	struct add *a[40];
	size_t n;
	int ok, failed, err;
};

static void wave_done(struct store_req *r, int status)
{
	((struct add *)r)->status = status;
}

/* Adds n jobs prefix-0 .. and runs the loop until they are answered. */
static void run_wave(struct wave *w, const char *prefix, size_t n)
{
	char name[NAME_LEN + 8];
	*w = (struct wave){ .n = n };
	for (size_t i = 0; i < n; i++) {
		w->a[i] = add_new(STORE_JOB_ADD, wave_done);
		snprintf(name, sizeof(name), "%s-%zu", prefix, i);
		fill_job(&w->a[i]->r.job, name, 2000);
		submit(w->a[i]);
	}
	loop_run(L);
	for (size_t i = 0; i < n; i++) {
		if (w->a[i]->status == 0)
			w->ok++;
		else
			w->failed++, w->err = w->a[i]->status;
	}
}

static void wave_free(struct wave *w)
{
	for (size_t i = 0; i < w->n; i++)
		add_free(w->a[i]);
}

static void get_done(struct store_req *r, int status)
{
	*(int *)r->ud = status;
}

static int get_job(const char *name)
{
	struct store_req r;
	int status = 1;
	store_req_init(&r, STORE_JOB_GET);
	r.job.name = strdup(name);
	r.done = get_done;
	r.ud = &status;
	if (store_submit(S, &r) < 0)
		die("get %s: refused", name);
	loop_run(L);
	store_req_clear(&r);
	return status;
}

/* Fills the file system of path; returns the bytes written. */
static long long fill(const char *path)
{
	static char buf[65536];
	long long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", path, strerror(errno));
	for (size_t chunk = sizeof(buf); chunk; chunk /= 2) {
		ssize_t n;
		while ((n = write(fd, buf, chunk)) > 0)
			total += n;
		if (errno != ENOSPC)
			die("filling %s: %s", path, strerror(errno));
	}
	close(fd);
	return total;
}

/* Acknowledged adds are there; failed ones are not. */
static void check_names(struct wave *w)
{
	for (size_t i = 0; i < w->n; i++) {
		int r = get_job(w->a[i]->r.job.name);
		bool acked = w->a[i]->status == 0;
		if (acked && r != 0)
			die("%s was acknowledged but cannot be read: %s",
			    w->a[i]->r.job.name, strerror(-r));
		if (!acked && r != -ENOENT)
			die("%s failed but is in the database",
			    w->a[i]->r.job.name);
	}
}

static int cmd_diskfull(const char *dir)
{
	char path[4096], filler[4096], prefix[16];
	struct wave w, full = { 0 };
	snprintf(path, sizeof(path), "%s/loopd.db", dir);
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	open_store(path);
	run_wave(&w, "before", 40);
	if (w.failed)
		die("adds failed before the disk was full: %s",
		    strerror(-w.err));
	wave_free(&w);
	long long filled = fill(filler);
	int acked = 0, waves = 0;
	/* The WAL may have room left from before: add until adds fail. */
	for (; waves < 500 && !full.failed; waves++) {
		snprintf(prefix, sizeof(prefix), "full%d", waves);
		run_wave(&full, prefix, 40);
		acked += full.ok;
		if (!full.failed)
			wave_free(&full);
	}
	if (!full.failed)
		die("no add failed on a full disk after %d waves", waves);
	if (full.err != -ENOSPC)
		die("an add on a full disk failed with %s, not ENOSPC",
		    strerror(-full.err));
	if (get_job("before-7") != 0)
		die("reads fail while the disk is full");
	check_names(&full);
	/* Still full: still refused, still nothing acknowledged. */
	run_wave(&w, "again", 40);
	if (w.ok || w.err != -ENOSPC)
		die("a second wave on a full disk: %d acknowledged, error %s",
		    w.ok, strerror(-w.err));
	check_names(&w);
	wave_free(&w);
	unlink(filler);
	run_wave(&w, "after", 40);
	if (w.failed)
		die("adds still fail once space is back: %s", strerror(-w.err));
	close_store();

	open_store(path); /* all of it again, from the file */
	check_names(&full);
	check_names(&w);
	printf("diskfull: filled %lld bytes; %d adds acknowledged, then %d of "
	       "a wave failed with ENOSPC (%d acknowledged), and all of the "
	       "next; reads went on; 40 of 40 added after freeing space\n",
	       filled, acked, full.failed, full.ok);
	wave_free(&full);
	wave_free(&w);
	close_store();
	return 0;
}

int main(int argc, char **argv)
{
	seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	if (argc == 4 && strcmp(argv[1], "add") == 0)
		return cmd_add(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argv[3],
				  argc == 5 ? strtol(argv[4], NULL, 10) : -1);
	if (argc == 3 && strcmp(argv[1], "diskfull") == 0)
		return cmd_diskfull(argv[2]);
	fprintf(stderr, "usage: store_crash_adds add DB COUNT\n"
			"       store_crash_adds verify DB ACKED [COUNT]\n"
			"       store_crash_adds diskfull DIR\n");
	return 2;
}
