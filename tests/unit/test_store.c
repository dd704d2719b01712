/*
 * test_store.c - the store (daemon/store.c) against real files: opening,
 * refusals that leave the file as it was, migrations (also killed midway),
 * group commit, per-request failures, output capping, pruning, a full
 * disk (RLIMIT_FSIZE) and corruption met at runtime.
 *
 * Requests go through a real struct loop, so batches run on the store
 * lane and complete on the loop thread as in the daemon.  The test looks
 * at the files with its own sqlite3 connections: the store's promise is
 * about what is on disk, so the check must not go through the store.
 * Randomized tests print their seed (LOOPD_TEST_SEED replays one).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "loop.h"
#include "store.h"

static struct loop *L;
static char dir[256], db[300];
static unsigned seed;

/* ---- files ---- */

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/loopd-store.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/loopd.db", dir);
	return loop_new(&L, 1);
}

static struct rlimit fsize_limit; /* as the test started */

static int teardown(void **state)
{
	char cmd[300];
	setrlimit(RLIMIT_FSIZE, &fsize_limit); /* if test_disk_full failed */
	loop_free(L);
	L = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* FNV-1a of the file's bytes and size: "untouched" means equal. */
static uint64_t file_hash(const char *path)
{
	uint64_t h = 1469598103934665603u;
	unsigned char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211u;
	close(fd);
	return h;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* ---- the test's own look at the database ---- */

static int64_t raw_i64(const char *path, const char *sql)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(path, &d, SQLITE_OPEN_READWRITE, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(d, 5000);
	assert_int_equal(sqlite3_prepare_v2(d, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(d);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *d;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &d), SQLITE_OK);
	sqlite3_busy_timeout(d, 5000);
	int rc = sqlite3_exec(d, sql, NULL, NULL, &msg);
	if (rc)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(d);
}

static void raw_ok(const char *path)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &d), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(d, "PRAGMA integrity_check", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(d);
}

/* ---- opening and requests ---- */

static struct store *open_with(const struct store_opts *o)
{
	char err[1024];
	struct store *s = NULL;
	int r = store_open(&s, L, db, o, err, sizeof(err));
	if (r)
		fail_msg("store_open(%s): %s (%s)", db, err, strerror(-r));
	return s;
}

static struct store *open_ok(void)
{
	return open_with(NULL);
}

static int open_err(const struct store_opts *o, char *err, size_t len)
{
	struct store *s = NULL;
	int r = store_open(&s, L, db, o, err, len);
	if (r == 0)
		store_close(s);
	return r;
}

struct treq {
	struct store_req r; /* first: on_done casts back */
	int status;
	bool done;
	void (*then)(struct treq *t);
};

static unsigned ndone;

static void on_done(struct store_req *r, int status)
{
	struct treq *t = (struct treq *)r;
	t->status = status;
	t->done = true;
	ndone++;
	if (t->then)
		t->then(t);
}

static struct treq *treq_new(enum store_op op)
{
	struct treq *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	store_req_init(&t->r, op);
	t->r.done = on_done;
	t->status = 1;
	return t;
}

static void treq_free(struct treq *t)
{
	store_req_clear(&t->r);
	free(t);
}

static void fill_job(struct store_job *j, const char *name, const char *args)
{
	j->name = strdup(name);
	j->kind = strdup("exec");
	j->plugin = strdup("exec");
	j->schedule = strdup("*:0/5");
	j->tz = strdup("UTC");
	j->args_json = strdup(args ? args : "{\"command\":\"true\"}");
	j->created_usec = j->updated_usec = 1700000000000000;
}

static struct treq *job_req(enum store_op op, const char *name,
			    const char *args)
{
	struct treq *t = treq_new(op);
	fill_job(&t->r.job, name, args);
	return t;
}

static struct treq *run_req(const char *job, enum store_result result)
{
	struct treq *t = treq_new(STORE_RUN_ADD);
	t->r.run.job = strdup(job);
	t->r.run.trigger = STORE_TRIGGER_MANUAL;
	t->r.run.result = result;
	t->r.run.scheduled_usec = 1700000000000000;
	if (result != STORE_RESULT_STARTING && result != STORE_RESULT_RUNNING)
		t->r.run.finished_usec = 1700000001000000;
	return t;
}

static void submit(struct store *s, struct treq *t)
{
	assert_int_equal(store_submit(s, &t->r), 0);
}

/* Submits t, runs the loop until it is empty; t's status. */
static int do_req(struct store *s, struct treq *t)
{
	submit(s, t);
	loop_run(L);
	assert_true(t->done);
	return t->status;
}

/* Submits, runs and frees; the status. */
static int do_free(struct store *s, struct treq *t)
{
	int r = do_req(s, t);
	treq_free(t);
	return r;
}

static int add_job(struct store *s, const char *name, const char *args)
{
	return do_free(s, job_req(STORE_JOB_ADD, name, args));
}

static int get_job(struct store *s, const char *name, struct store_job *out)
{
	struct treq *t = job_req(STORE_JOB_GET, name, NULL);
	int r = do_req(s, t);
	if (r == 0 && out) {
		*out = t->r.job;
		store_job_init(&t->r.job);
	}
	treq_free(t);
	return r;
}

/* Runs of job (NULL: all), newest first, into a new request. */
static struct treq *list_runs(struct store *s, const char *job,
			      enum store_result result)
{
	struct treq *t = treq_new(STORE_RUN_LIST);
	t->r.filter.job = job ? strdup(job) : NULL;
	t->r.filter.result = result;
	t->r.filter.limit = 1000;
	assert_int_equal(do_req(s, t), 0);
	return t;
}

static size_t count_runs(struct store *s, const char *job,
			 enum store_result result)
{
	struct treq *t = list_runs(s, job, result);
	size_t n = t->r.nruns;
	treq_free(t);
	return n;
}

/* A database with n jobs whose args are pad bytes long, closed cleanly. */
static void make_db(int n, size_t pad)
{
	struct store *s = open_ok();
	char *args = malloc(pad + 32);
	struct treq **t = calloc((size_t)n, sizeof(*t));
	char name[32];
	snprintf(args, pad + 32, "{\"pad\":\"%0*d\"}", (int)pad, 0);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "job-%04d", i);
		submit(s, t[i] = job_req(STORE_JOB_ADD, name, args));
	}
	loop_run(L);
	for (int i = 0; i < n; i++) {
		assert_int_equal(t[i]->status, 0);
		treq_free(t[i]);
	}
	free(t);
	free(args);
	store_close(s);
}

/* ---- opening, refusals, migrations ---- */

static void test_new_database(void **state)
{
	struct store_info in;
	struct store *s = open_ok();
	store_info(s, &in);
	assert_int_equal(in.version, (int)store_schema_count);
	assert_int_equal(in.from_version, 0);
	assert_string_equal(in.backup, "");
	assert_int_equal(add_job(s, "a", NULL), 0);
	store_close(s);

	/* The application_id is in the header, where loopd looks first. */
	unsigned char h[100];
	int fd = open(db, O_RDONLY);
	assert_int_equal(read(fd, h, sizeof(h)), 100);
	close(fd);
	uint32_t app = (uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 |
		       (uint32_t)h[70] << 8 | h[71];
	assert_int_equal(app, STORE_APPLICATION_ID);
	assert_int_equal(raw_i64(db, "PRAGMA user_version"),
			 (int64_t)store_schema_count);
	/* A clean close leaves no WAL behind. */
	char wal[320];
	snprintf(wal, sizeof(wal), "%s-wal", db);
	assert_true(file_size(wal) <= 0);

	s = open_ok();
	store_info(s, &in);
	assert_int_equal(in.from_version, (int)store_schema_count);
	assert_false(in.unclean);
	assert_string_equal(in.backup, "");
	assert_int_equal(get_job(s, "a", NULL), 0);
	store_close(s);
}

static void test_job_round_trip(void **state)
{
	struct store *s = open_ok();
	struct treq *t = job_req(STORE_JOB_ADD, "full", "{\"argv\":[\"x\"]}");
	struct store_job *j = &t->r.job, got;
	j->state = STORE_JOB_PAUSED;
	j->overlap = STORE_OVERLAP_QUEUE;
	j->catchup = STORE_CATCHUP_ALL;
	j->timeout_ms = 1500;
	j->retries = 3;
	j->retry_backoff_ms = 250;
	j->jitter_ms = 99;
	j->next_usec = 1800000000000000;
	j->last_usec = 1700000000000123;
	j->last_result = STORE_RESULT_FAILED;
	j->last_run = 77;
	j->updated_usec = 1700000000000999;
	assert_int_equal(do_req(s, t), 0);
	assert_int_equal(get_job(s, "full", &got), 0);
	assert_string_equal(got.kind, "exec");
	assert_string_equal(got.args_json, "{\"argv\":[\"x\"]}");
	assert_true(store_job_same_settings(&got, j));
	assert_int_equal(got.state, STORE_JOB_PAUSED);
	assert_int_equal(got.next_usec, j->next_usec);
	assert_int_equal(got.last_usec, j->last_usec);
	assert_int_equal(got.last_result, STORE_RESULT_FAILED);
	assert_int_equal(got.last_run, 77);
	assert_int_equal(got.created_usec, j->created_usec);
	assert_int_equal(got.updated_usec, j->updated_usec);
	store_job_clear(&got);
	treq_free(t);

	/* Nulls stay null. */
	assert_int_equal(add_job(s, "plain", NULL), 0);
	assert_int_equal(get_job(s, "plain", &got), 0);
	assert_int_equal(got.next_usec, STORE_NULL);
	assert_int_equal(got.last_run, STORE_NULL);
	assert_int_equal(got.last_result, STORE_RESULT_NONE);
	store_job_clear(&got);
	store_close(s);
}

static void test_refuse_newer(void **state)
{
	char err[1024], sql[64];
	make_db(3, 10);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 (int)store_schema_count + 1);
	raw_exec(db, sql);
	uint64_t h = file_hash(db);
	int r = open_err(NULL, err, sizeof(err));
	assert_int_equal(r, -STORE_ENEWER);
	assert_int_equal(store_exit_status(r), 65);
	assert_non_null(strstr(err, "newer loopd"));
	assert_true(file_hash(db) == h);
}

static void expect_foreign(void)
{
	char err[1024];
	uint64_t h = file_hash(db);
	int r = open_err(NULL, err, sizeof(err));
	assert_int_equal(r, -STORE_EFOREIGN);
	assert_int_equal(store_exit_status(r), 65);
	assert_non_null(strstr(err, "not a loopd database"));
	assert_non_null(strstr(err, "--state-dir"));
	assert_true(file_hash(db) == h);
}

static void test_refuse_foreign(void **state)
{
	char wal[320];
	snprintf(wal, sizeof(wal), "%s-wal", db);
	write_file(db, "name,schedule\nbackup,daily\n");
	expect_foreign();

	unlink(db);
	raw_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	expect_foreign();
	assert_false(exists(wal));

	/* Another program's database in WAL mode, with an application_id. */
	unlink(db);
	raw_exec(db, "PRAGMA journal_mode = WAL; PRAGMA application_id = 42;"
		     "CREATE TABLE jobs (name); INSERT INTO jobs VALUES (1)");
	expect_foreign();

	/* Random bytes. */
	unlink(db);
	int fd = open(db, O_WRONLY | O_CREAT, 0600);
	for (int i = 0; i < 4096; i++) {
		unsigned char c = (unsigned char)rand_r(&seed);
		assert_int_equal(write(fd, &c, 1), 1);
	}
	close(fd);
	expect_foreign();
}

static void test_odd_files(void **state)
{
	char err[1024], wal[320];
	struct store_info in;
	snprintf(wal, sizeof(wal), "%s-wal", db);
	/* An empty file is a new database: there is nothing in it to lose. */
	write_file(db, "");
	struct store *s = open_ok();
	store_info(s, &in);
	assert_int_equal(in.from_version, 0);
	store_close(s);
	unlink(db);
	/* A directory, a FIFO (which must not hang the start). */
	assert_int_equal(mkdir(db, 0700), 0);
	assert_int_equal(open_err(NULL, err, sizeof(err)), -STORE_EFOREIGN);
	assert_int_equal(rmdir(db), 0);
	assert_int_equal(mkfifo(db, 0600), 0);
	assert_int_equal(open_err(NULL, err, sizeof(err)), -STORE_EFOREIGN);
	unlink(db);
	/* A WAL whose database was moved away. */
	write_file(wal, "frames of a database that is gone");
	uint64_t h = file_hash(wal);
	assert_int_equal(open_err(NULL, err, sizeof(err)), -STORE_ECORRUPT);
	assert_non_null(strstr(err, "-wal"));
	assert_false(exists(db));
	assert_true(file_hash(wal) == h);
}

static void expect_corrupt(void)
{
	char err[2048];
	uint64_t h = file_hash(db);
	int r = open_err(NULL, err, sizeof(err));
	if (r != -STORE_ECORRUPT)
		fail_msg("expected corrupt, got %d: %s", r, err);
	assert_int_equal(store_exit_status(r), 65);
	assert_non_null(strstr(err, "damaged"));
	assert_non_null(strstr(err, ".recover"));
	assert_true(file_hash(db) == h);
}

static void overwrite(off_t at, size_t len, unsigned char byte)
{
	unsigned char *b = malloc(len);
	memset(b, byte, len);
	int fd = open(db, O_WRONLY);
	assert_int_equal(pwrite(fd, b, len, at), (ssize_t)len);
	close(fd);
	free(b);
}

static void test_refuse_corrupt(void **state)
{
	char pristine[320];
	snprintf(pristine, sizeof(pristine), "%s/pristine.db", dir);
	make_db(300, 1000);
	copy_file(db, pristine);
	off_t size = file_size(db);
	assert_true(size > 40 * 4096);

	/* Pages in the middle overwritten. */
	overwrite(size / 2 / 4096 * 4096, 3 * 4096, 0x5a);
	expect_corrupt();
	/* Zeroed instead. */
	copy_file(pristine, db);
	overwrite(size / 3 / 4096 * 4096, 2 * 4096, 0);
	expect_corrupt();
	/* Cut at a page boundary, and in the middle of a page. */
	copy_file(pristine, db);
	assert_int_equal(truncate(db, size / 2 / 4096 * 4096), 0);
	expect_corrupt();
	copy_file(pristine, db);
	assert_int_equal(truncate(db, size / 3 + 123), 0);
	expect_corrupt();
	/* Cut inside the header. */
	copy_file(pristine, db);
	assert_int_equal(truncate(db, 60), 0);
	expect_corrupt();
}

static void test_unclean_stop_is_checked(void **state)
{
	struct store_info in;
	make_db(5, 10);
	/* A process that opens the store and dies without store_close. */
	pid_t pid = fork();
	if (pid == 0) {
		char err[1024];
		struct store *s;
		_exit(store_open(&s, NULL, db, NULL, err, sizeof(err)) ? 1 : 0);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_int_equal(WEXITSTATUS(ws), 0);
	struct store *s = open_ok();
	store_info(s, &in);
	assert_true(in.unclean);
	store_close(s);
	s = open_ok();
	store_info(s, &in);
	assert_false(in.unclean);
	store_close(s);
}

static struct store_migration test_migs[3];

static void migs_init(const char *sql2, const char *sql3)
{
	test_migs[0] = store_schema[0];
	test_migs[1] = (struct store_migration){ 2, "extra", sql2 };
	test_migs[2] = (struct store_migration){ 3, "bad", sql3 };
}

static struct store_opts opts_migs(size_t n)
{
	struct store_opts o;
	store_opts_default(&o);
	o.migrations = test_migs;
	o.nmigrations = n;
	return o;
}

static void test_migrations(void **state)
{
	char err[1024];
	struct store_info in;
	migs_init(
		"CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (42);",
		"CREATE TABLE extra2 (x); INSERT INTO nowhere VALUES (1);");
	struct store_opts o1 = opts_migs(1), o2 = opts_migs(2),
			  o3 = opts_migs(3);
	struct store *s = open_with(&o1);
	assert_int_equal(add_job(s, "kept", NULL), 0);
	store_close(s);

	/* 1 -> 2, with a copy of version 1 first. */
	s = open_with(&o2);
	store_info(s, &in);
	assert_int_equal(in.from_version, 1);
	assert_int_equal(in.version, 2);
	assert_true(exists(in.backup));
	assert_non_null(strstr(in.backup, ".v1.bak"));
	store_close(s);
	assert_int_equal(raw_i64(in.backup, "PRAGMA user_version"), 1);
	assert_int_equal(raw_i64(in.backup, "SELECT count(*) FROM jobs"), 1);
	assert_int_equal(raw_i64(db, "SELECT x FROM extra"), 42);

	/* A failing migration changes nothing and is an ordinary error. */
	int r = open_err(&o3, err, sizeof(err));
	assert_true(r < 0);
	assert_int_equal(store_exit_status(r), 1);
	assert_non_null(strstr(err, "003_bad.sql"));
	assert_int_equal(raw_i64(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_i64(db, "SELECT count(*) FROM sqlite_schema "
				     "WHERE name = 'extra2'"),
			 0);
	raw_ok(db);
	/* And the database still opens at version 2. */
	s = open_with(&o2);
	assert_int_equal(get_job(s, "kept", NULL), 0);
	store_close(s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens with o in a child; killed after delay_us unless < 0.  Returns
 * how long the child ran, in seconds. */
static double child_open(const struct store_opts *o, long delay_us)
{
	double t0 = now_s();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[1024];
		struct store *s;
		int r = store_open(&s, NULL, db, o, err, sizeof(err));
		if (r == 0)
			store_close(s);
		_exit(r ? 1 : 0);
	}
	if (delay_us >= 0) {
		usleep((useconds_t)delay_us);
		kill(pid, SIGKILL);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	if (delay_us < 0)
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	return now_s() - t0;
}

static void test_migration_killed(void **state)
{
	char v1[320], cmd[1100];
	migs_init("CREATE TABLE big (x INTEGER, pad TEXT);"
		  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
		  "FROM c WHERE i < 200000) INSERT INTO big SELECT i, "
		  "hex(randomblob(16)) FROM c;",
		  NULL);
	struct store_opts o1 = opts_migs(1), o2 = opts_migs(2);
	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	make_db(50, 100);
	struct store *s = open_with(&o1);
	store_close(s);
	copy_file(db, v1);
	double full = child_open(&o2, -1);
	int outcomes[3] = { 0 };
	for (int round = 0; round < 6; round++) {
		snprintf(cmd, sizeof(cmd), "rm -f '%s'*; cp '%s' '%s'", db, v1,
			 db);
		assert_int_equal(system(cmd), 0);
		long delay = (long)(full * 1.1e6 * rand_r(&seed) / RAND_MAX);
		child_open(&o2, delay);
		int64_t v = raw_i64(db, "PRAGMA user_version");
		int64_t big = raw_i64(db, "SELECT count(*) FROM sqlite_schema "
					  "WHERE name = 'big'");
		assert_true(v == 1 || v == 2);
		assert_int_equal(big, v == 2);
		if (v == 2)
			assert_int_equal(
				raw_i64(db, "SELECT count(*) FROM big"),
				200000);
		assert_int_equal(raw_i64(db, "SELECT count(*) FROM jobs"), 50);
		raw_ok(db);
		outcomes[v]++;
		/* Whatever the kill left, the next start finishes the job. */
		s = open_with(&o2);
		store_close(s);
		assert_int_equal(raw_i64(db, "PRAGMA user_version"), 2);
	}
	print_message("migration of %.0f ms killed 6 times: %d left version 1, "
		      "%d version 2\n",
		      full * 1e3, outcomes[1], outcomes[2]);
}

/* ---- group commit ---- */

static void test_group_commit(void **state)
{
	struct store *s = open_ok();
	struct treq *t[1000];
	struct store_stats st;
	char name[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "job-%d", i);
		submit(s, t[i] = job_req(STORE_JOB_ADD, name, NULL));
	}
	ndone = 0;
	loop_run(L);
	assert_int_equal(ndone, 1000);
	uint64_t batch = t[0]->r.batch;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(t[i]->status, 0);
		assert_int_equal(t[i]->r.changes, 1);
		assert_true(t[i]->r.batch == batch);
		treq_free(t[i]);
	}
	store_stats(s, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.batch_max, 1000);
	assert_int_equal(st.writes, 1000);
	assert_true(st.db_bytes > 0);
	store_close(s);
}

/* 16 request streams: each ack submits the stream's next add. */
static struct store *streams_store;
static int streams_left;

static void stream_next(struct treq *t)
{
	char name[32];
	assert_int_equal(t->status, 0);
	if (streams_left <= 0)
		return;
	snprintf(name, sizeof(name), "s-%d", streams_left--);
	store_req_clear(&t->r);
	store_req_init(&t->r, STORE_JOB_ADD);
	t->r.done = on_done;
	fill_job(&t->r.job, name, NULL);
	submit(streams_store, t);
}

static void test_group_commit_streams(void **state)
{
	struct treq *t[16];
	struct store_stats st;
	char name[32];
	streams_store = open_ok();
	streams_left = 2000 - 16;
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "first-%d", i);
		t[i] = job_req(STORE_JOB_ADD, name, NULL);
		t[i]->then = stream_next;
		submit(streams_store, t[i]);
	}
	ndone = 0;
	loop_run(L);
	assert_int_equal(ndone, 2000);
	store_stats(streams_store, &st);
	print_message("2000 adds from 16 streams: %" PRIu64 " commits, batch "
		      "p50 %" PRIu64 " max %" PRIu64 "\n",
		      st.commits, st.batch_p50, st.batch_max);
	assert_true(st.commits <= 2000 / 8);
	for (int i = 0; i < 16; i++)
		treq_free(t[i]);
	store_close(streams_store);
}

/* In the done callback, another connection must already see the row:
 * the acknowledgement comes after the COMMIT. */
static int visible_at_ack;

static void check_visible(struct treq *t)
{
	sqlite3 *d;
	sqlite3_stmt *st;
	assert_int_equal(t->status, 0);
	assert_int_equal(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	sqlite3_prepare_v2(d, "SELECT count(*) FROM jobs WHERE name = ?1", -1,
			   &st, NULL);
	sqlite3_bind_text(st, 1, t->r.job.name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1)
		visible_at_ack++;
	sqlite3_finalize(st);
	sqlite3_close(d);
}

static void test_ack_after_commit(void **state)
{
	struct store *s = open_ok();
	struct treq *t[50];
	char name[32];
	visible_at_ack = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "v-%d", i);
		t[i] = job_req(STORE_JOB_ADD, name, NULL);
		t[i]->then = check_visible;
		submit(s, t[i]);
	}
	loop_run(L);
	assert_int_equal(visible_at_ack, 50);
	for (int i = 0; i < 50; i++)
		treq_free(t[i]);
	store_close(s);
}

static void test_per_request_failures(void **state)
{
	struct store *s = open_ok();
	struct treq *t[10];
	t[0] = job_req(STORE_JOB_ADD, "a", NULL);
	t[1] = job_req(STORE_JOB_ADD, "a", "{\"command\":\"false\"}");
	t[2] = job_req(STORE_JOB_ADD, "a", NULL); /* identical: a retry */
	t[3] = job_req(STORE_JOB_ADD, "b", NULL);
	t[4] = job_req(STORE_JOB_UPDATE, "nobody", NULL);
	t[5] = job_req(STORE_JOB_DELETE, "nobody", NULL);
	t[6] = run_req("nobody", STORE_RESULT_RUNNING);
	t[7] = treq_new(STORE_RUN_UPDATE);
	t[7]->r.run.id = 999999;
	t[8] = job_req(STORE_JOB_ADD, "c", NULL);
	t[9] = job_req(STORE_JOB_GET, "b", NULL);
	for (int i = 0; i < 10; i++)
		submit(s, t[i]);
	loop_run(L);
	static const int want[10] = { 0,       -EEXIST, 0,       0, -ENOENT,
				      -ENOENT, -ENOENT, -ENOENT, 0, 0 };
	for (int i = 0; i < 10; i++) {
		assert_int_equal(t[i]->status, want[i]);
		assert_true(t[i]->r.batch == t[0]->r.batch);
	}
	assert_int_equal(t[2]->r.changes, 0);
	assert_int_equal(t[2]->r.job.created_usec, t[0]->r.job.created_usec);
	assert_string_equal(t[9]->r.job.name, "b");
	for (int i = 0; i < 10; i++)
		treq_free(t[i]);
	assert_int_equal(get_job(s, "a", NULL), 0);
	assert_int_equal(get_job(s, "c", NULL), 0);

	/* Malformed requests are refused at once, without a callback. */
	struct treq *bad = treq_new(STORE_JOB_ADD);
	assert_int_equal(store_submit(s, &bad->r), -EINVAL);
	fill_job(&bad->r.job, "x", NULL);
	bad->r.job.state = (enum store_job_state)42;
	assert_int_equal(store_submit(s, &bad->r), -EINVAL);
	treq_free(bad);
	store_close(s);
}

/* ---- runs: output, pruning, interruption ---- */

/* What a head-and-tail cap of the bytes in all must give. */
static void check_capped(const char *all, size_t total, size_t cap,
			 const char *out, size_t len, uint64_t dropped)
{
	if (total <= cap) {
		assert_int_equal(len, total);
		assert_memory_equal(out, all, total);
		assert_int_equal(dropped, 0);
		return;
	}
	size_t head = cap / 2, tail = cap - head - 48;
	char marker[80];
	int m = snprintf(marker, sizeof(marker),
			 "\n[loopd: %zu bytes dropped]\n", total - head - tail);
	assert_int_equal(dropped, total - head - tail);
	assert_int_equal(len, head + (size_t)m + tail);
	assert_true(len <= cap);
	assert_memory_equal(out, all, head);
	assert_memory_equal(out + head, marker, (size_t)m);
	assert_memory_equal(out + head + m, all + total - tail, tail);
}

static void test_outbuf(void **state)
{
	static const size_t caps[] = { 192, 256, 1000, 65536 };
	static const size_t totals[] = {
		0, 1, 100, 191, 192, 193, 5000, 300000
	};
	for (size_t c = 0; c < 4; c++) {
		for (size_t k = 0; k < 8; k++) {
			struct store_outbuf o;
			size_t total = totals[k];
			char *all = malloc(total + 1), *out;
			size_t len, at = 0;
			uint64_t dropped;
			for (size_t i = 0; i < total; i++)
				all[i] = (char)('a' + rand_r(&seed) % 26);
			assert_int_equal(store_outbuf_init(&o, caps[c]), 0);
			while (at < total) { /* random chunks */
				size_t n = 1 + (size_t)rand_r(&seed) % 700;
				n = n > total - at ? total - at : n;
				store_outbuf_append(&o, all + at, n);
				at += n;
			}
			assert_int_equal(
				store_outbuf_take(&o, &out, &len, &dropped), 0);
			check_capped(all, total, caps[c], out, len, dropped);
			assert_int_equal(out[len], 0);
			free(out);
			store_outbuf_free(&o);
			free(all);
		}
	}
	struct store_outbuf o;
	assert_int_equal(store_outbuf_init(&o, 10), -EINVAL);
}

static void test_output_capped_in_store(void **state)
{
	struct store_opts o;
	store_opts_default(&o);
	o.output_cap = 1024;
	struct store *s = open_with(&o);
	assert_int_equal(add_job(s, "noisy", NULL), 0);
	struct treq *t = run_req("noisy", STORE_RESULT_STARTING);
	assert_int_equal(do_req(s, t), 0);
	int64_t id = t->r.run.id;
	assert_true(id > 0);
	treq_free(t);

	char *all = malloc(10000);
	for (int i = 0; i < 10000; i++)
		all[i] = (char)('0' + i % 10);
	t = treq_new(STORE_RUN_UPDATE);
	t->r.run.id = id;
	t->r.run.result = STORE_RESULT_OK;
	t->r.run.exit_code = 0;
	t->r.run.output = malloc(10000);
	memcpy(t->r.run.output, all, 10000);
	t->r.run.output_len = 10000;
	t->r.run.output_bytes = 10000;
	assert_int_equal(do_free(s, t), 0);

	t = treq_new(STORE_RUN_GET);
	t->r.run.id = id;
	assert_int_equal(do_req(s, t), 0);
	const struct store_run *r = &t->r.run;
	assert_string_equal(r->job, "noisy");
	assert_int_equal(r->result, STORE_RESULT_OK);
	assert_int_equal(r->exit_code, 0);
	assert_int_equal(r->output_bytes, 10000);
	check_capped(all, 10000, 1024, r->output, r->output_len,
		     (uint64_t)r->output_truncated);
	treq_free(t);
	free(all);
	store_close(s);
}

static void test_prune_by_count(void **state)
{
	struct store_opts o;
	store_opts_default(&o);
	o.runs_keep = 5;
	struct store *s = open_with(&o);
	struct treq *t[13];
	assert_int_equal(add_job(s, "j", NULL), 0);
	assert_int_equal(add_job(s, "other", NULL), 0);
	/* An old run still running is never pruned. */
	t[0] = run_req("j", STORE_RESULT_RUNNING);
	for (int i = 1; i < 13; i++)
		t[i] = run_req("j", STORE_RESULT_OK);
	for (int i = 0; i < 13; i++)
		submit(s, t[i]);
	assert_int_equal(do_free(s, run_req("other", STORE_RESULT_OK)), 0);
	struct treq *l = list_runs(s, "j", STORE_RESULT_NONE);
	assert_int_equal(l->r.nruns, 6);
	assert_int_equal(l->r.runs[0].id, t[12]->r.run.id); /* newest first */
	assert_int_equal(l->r.runs[4].id, t[8]->r.run.id);
	assert_int_equal(l->r.runs[5].id, t[0]->r.run.id);
	assert_int_equal(l->r.runs[5].result, STORE_RESULT_RUNNING);
	treq_free(l);
	for (int i = 0; i < 13; i++) {
		assert_int_equal(t[i]->status, 0);
		treq_free(t[i]);
	}
	assert_int_equal(count_runs(s, "other", STORE_RESULT_NONE), 1);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_NONE), 7);
	store_close(s);
}

/* A run recorded ahead of its time (`starting`, no started_usec) does
 * not push a finished run out of the kept count: if it is then deleted
 * (it did not start), the job still has its last runs_keep. */
static void test_prune_ahead(void **state)
{
	struct store_opts o;
	store_opts_default(&o);
	o.runs_keep = 5;
	struct store *s = open_with(&o);
	assert_int_equal(add_job(s, "j", NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(do_free(s, run_req("j", STORE_RESULT_OK)), 0);
	struct treq *ahead = run_req("j", STORE_RESULT_STARTING);
	assert_int_equal(do_req(s, ahead), 0);
	assert_int_equal(count_runs(s, "j", STORE_RESULT_OK), 5);
	struct treq *del = treq_new(STORE_RUN_DELETE);
	del->r.run.job = strdup("j");
	del->r.run.id = ahead->r.run.id;
	assert_int_equal(do_free(s, del), 0);
	treq_free(ahead);
	assert_int_equal(count_runs(s, "j", STORE_RESULT_NONE), 5);
	/* A started one counts as a run: the oldest finished goes. */
	struct treq *now = run_req("j", STORE_RESULT_STARTING);
	now->r.run.started_usec = 1700000000500000;
	assert_int_equal(do_free(s, now), 0);
	assert_int_equal(count_runs(s, "j", STORE_RESULT_OK), 4);
	assert_int_equal(count_runs(s, "j", STORE_RESULT_NONE), 5);
	store_close(s);
}

static int64_t real_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_prune_op(void **state)
{
	struct store_opts o;
	store_opts_default(&o);
	o.runs_keep = 0; /* no limit while filling */
	struct store *s = open_with(&o);
	int64_t now = real_usec();
	for (int j = 0; j < 3; j++) {
		char name[16];
		snprintf(name, sizeof(name), "j%d", j);
		assert_int_equal(add_job(s, name, NULL), 0);
		for (int i = 0; i < 10; i++) {
			struct treq *t = run_req(name, STORE_RESULT_OK);
			/* Four of ten finished an hour ago. */
			t->r.run.finished_usec = i < 4 ? now - 3600000000 : now;
			submit(s, t);
			loop_run(L);
			assert_int_equal(t->status, 0);
			treq_free(t);
		}
	}
	store_close(s);

	o.runs_max_age_usec = 60000000; /* a minute */
	s = open_with(&o);
	struct treq *t = treq_new(STORE_PRUNE);
	assert_int_equal(do_req(s, t), 0);
	assert_int_equal(t->r.changes, 12);
	treq_free(t);
	store_close(s);

	o.runs_keep = 2;
	s = open_with(&o);
	t = treq_new(STORE_PRUNE);
	assert_int_equal(do_req(s, t), 0);
	assert_int_equal(t->r.changes, 12);
	treq_free(t);
	assert_int_equal(count_runs(s, "j1", STORE_RESULT_NONE), 2);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_NONE), 6);
	store_close(s);
}

static void test_mark_interrupted(void **state)
{
	struct store *s = open_ok();
	static const enum store_result results[] = { STORE_RESULT_STARTING,
						     STORE_RESULT_RUNNING,
						     STORE_RESULT_OK,
						     STORE_RESULT_FAILED };
	assert_int_equal(add_job(s, "j", NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(do_free(s, run_req("j", results[i])), 0);
	store_close(s);
	s = open_ok();
	assert_int_equal(store_mark_interrupted(s, 1234), 2);
	assert_int_equal(store_mark_interrupted(s, 1234), 0);
	struct treq *l = list_runs(s, "j", STORE_RESULT_INTERRUPTED);
	assert_int_equal(l->r.nruns, 2);
	assert_int_equal(l->r.runs[0].finished_usec, 1234);
	treq_free(l);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_RUNNING), 0);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_STARTING), 0);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_OK), 1);
	store_close(s);
}

static void test_cascade_and_run_ids(void **state)
{
	struct store *s = open_ok();
	int64_t ids[3];
	assert_int_equal(add_job(s, "j", NULL), 0);
	for (int i = 0; i < 3; i++) {
		struct treq *t = run_req("j", STORE_RESULT_OK);
		t->r.run.output = strdup("hello\n");
		t->r.run.output_len = 6;
		t->r.run.output_bytes = 6;
		assert_int_equal(do_req(s, t), 0);
		ids[i] = t->r.run.id;
		treq_free(t);
	}
	assert_int_equal(do_free(s, job_req(STORE_JOB_DELETE, "j", NULL)), 0);
	for (int i = 0; i < 3; i++) {
		struct treq *t = treq_new(STORE_RUN_GET);
		t->r.run.id = ids[i];
		assert_int_equal(do_free(s, t), -ENOENT);
	}
	assert_int_equal(raw_i64(db, "SELECT count(*) FROM outputs"), 0);
	store_close(s);
	/* Ids are never reused, even after the newest run went away. */
	s = open_ok();
	assert_int_equal(add_job(s, "j", NULL), 0);
	struct treq *t = run_req("j", STORE_RESULT_OK);
	assert_int_equal(do_req(s, t), 0);
	assert_true(t->r.run.id > ids[2]);
	treq_free(t);
	store_close(s);
}

static void test_lists(void **state)
{
	struct store *s = open_ok();
	static const char *const names[] = { "b", "c", "a" };
	for (int i = 0; i < 3; i++)
		assert_int_equal(add_job(s, names[i], NULL), 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(
			do_free(s, run_req(names[i % 3],
					   i % 2 ? STORE_RESULT_OK
						 : STORE_RESULT_FAILED)),
			0);
	struct treq *t = treq_new(STORE_JOB_LIST);
	assert_int_equal(do_req(s, t), 0);
	assert_int_equal(t->r.njobs, 3);
	assert_string_equal(t->r.jobs[0].name, "a");
	assert_string_equal(t->r.jobs[2].name, "c");
	treq_free(t);

	/* Pages of 4, newest first, by before_id. */
	int64_t before = STORE_NULL, last = INT64_MAX;
	size_t seen = 0;
	for (;;) {
		t = treq_new(STORE_RUN_LIST);
		t->r.filter.job = strdup("b");
		t->r.filter.limit = 4;
		t->r.filter.before_id = before;
		assert_int_equal(do_req(s, t), 0);
		for (size_t i = 0; i < t->r.nruns; i++) {
			assert_true(t->r.runs[i].id < last);
			assert_string_equal(t->r.runs[i].job, "b");
			assert_null(t->r.runs[i].output);
			last = t->r.runs[i].id;
		}
		seen += t->r.nruns;
		size_t n = t->r.nruns;
		treq_free(t);
		if (n < 4)
			break;
		before = last;
	}
	assert_int_equal(seen, 10);
	assert_int_equal(count_runs(s, NULL, STORE_RESULT_FAILED), 15);
	assert_int_equal(count_runs(s, "a", STORE_RESULT_OK), 5);
	store_close(s);
}

/* ---- storage failures ---- */

static struct treq *wave[40];

/* Submits a wave of n adds named prefix-i with pad bytes of args. */
static void add_wave(struct store *s, const char *prefix, int n, size_t pad)
{
	char name[48], *args = malloc(pad + 32);
	snprintf(args, pad + 32, "{\"pad\":\"%0*d\"}", (int)pad, 0);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		submit(s, wave[i] = job_req(STORE_JOB_ADD, name, args));
	}
	free(args);
	loop_run(L);
}

static void test_disk_full(void **state)
{
	struct store *s = open_ok();
	struct rlimit old, lim;
	struct store_stats st;
	char acked[4096][16], failed[64][16], prefix[16];
	int nacked = 0, nfailed = 0, err = 0;
	add_wave(s, "before", 20, 10);
	for (int i = 0; i < 20; i++)
		treq_free(wave[i]);

	/* The file size limit is the full disk: writes past it fail. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	char wal[320];
	snprintf(wal, sizeof(wal), "%s-wal", db);
	off_t big =
		file_size(db) > file_size(wal) ? file_size(db) : file_size(wal);
	/* Room for a few waves first, so that some adds are acknowledged. */
	lim = (struct rlimit){ .rlim_cur = (rlim_t)big + 400000,
			       .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int w = 0; w < 100 && !err; w++) {
		snprintf(prefix, sizeof(prefix), "w%d", w);
		add_wave(s, prefix, 40, 4000);
		for (int i = 0; i < 40; i++) {
			if (wave[i]->status == 0 && nacked < 4096)
				snprintf(acked[nacked++], 16, "%s",
					 wave[i]->r.job.name);
			else if (wave[i]->status != 0 && nfailed < 64)
				snprintf(failed[nfailed++], 16, "%s",
					 wave[i]->r.job.name);
			if (wave[i]->status)
				err = wave[i]->status;
			treq_free(wave[i]);
		}
	}
	assert_true(err == -ENOSPC || err == -EIO);
	assert_true(store_err_is_storage(err));
	assert_true(nfailed > 0);
	assert_true(nacked > 0);
	/* Reads go on while writes fail. */
	assert_int_equal(get_job(s, "before-3", NULL), 0);
	assert_int_equal(get_job(s, acked[nacked - 1], NULL), 0);
	store_stats(s, &st);
	assert_true(st.failed_batches >= 1);
	assert_int_equal(st.last_error, err);
	assert_false(st.degraded);

	/* Space returns: writes resume. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	add_wave(s, "after", 40, 4000);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(wave[i]->status, 0);
		treq_free(wave[i]);
	}
	store_close(s);
	/* Nothing acknowledged is missing, nothing failed is there. */
	s = open_ok();
	char msg[1024];
	assert_int_equal(store_check(s, true, msg, sizeof(msg)), 0);
	for (int i = 0; i < nacked; i++)
		assert_int_equal(get_job(s, acked[i], NULL), 0);
	for (int i = 0; i < nfailed; i++)
		assert_int_equal(get_job(s, failed[i], NULL), -ENOENT);
	assert_int_equal(get_job(s, "after-39", NULL), 0);
	store_close(s);
	print_message("disk full after %d acknowledged adds: %s\n", nacked,
		      strerror(-err));
}

/*
 * Corruption while running: another connection checkpoints everything
 * into the main file, the test overwrites pages of it, and a write by
 * that connection makes the store drop its page cache.
 */
static void test_degraded_on_corruption(void **state)
{
	struct store *s = open_ok();
	char name[32], err[2048];
	add_wave(s, "j", 40, 3000);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(wave[i]->status, 0);
		treq_free(wave[i]);
	}
	assert_int_equal(do_free(s, run_req("j-0", STORE_RESULT_OK)), 0);
	raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	off_t size = file_size(db);
	overwrite(size / 2 / 4096 * 4096, 3 * 4096, 0x5a);
	raw_exec(db, "INSERT INTO meta (key, value) VALUES ('poke', 1)");

	/* Removing every job reads every page. */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "j-%d", i);
		submit(s, wave[i] = job_req(STORE_JOB_DELETE, name, NULL));
	}
	loop_run(L);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(wave[i]->status, -STORE_ECORRUPT);
		treq_free(wave[i]);
	}
	assert_true(store_degraded(s));
	struct treq *t = job_req(STORE_JOB_ADD, "new", NULL);
	assert_int_equal(store_submit(s, &t->r), -EROFS);
	treq_free(t);
	/* Reads go on: whatever is not on a damaged page reads fine. */
	int readable = 0;
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "j-%d", i);
		readable += get_job(s, name, NULL) == 0;
	}
	assert_true(readable > 0);
	assert_int_equal(count_runs(s, "j-0", STORE_RESULT_NONE), 1);
	store_close(s);
	/* Not closed clean: the next start checks fully and refuses. */
	assert_int_equal(open_err(NULL, err, sizeof(err)), -STORE_ECORRUPT);
	print_message("degraded: %d of 40 jobs still readable\n", readable);
}

int main(void)
{
	const char *env = getenv("LOOPD_TEST_SEED");
	seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	getrlimit(RLIMIT_FSIZE, &fsize_limit);
	printf("test_store: seed %u (LOOPD_TEST_SEED=%u replays it)\n", seed,
	       seed);
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_new_database),
		T(test_job_round_trip),
		T(test_refuse_newer),
		T(test_refuse_foreign),
		T(test_refuse_corrupt),
		T(test_odd_files),
		T(test_unclean_stop_is_checked),
		T(test_migrations),
		T(test_migration_killed),
		T(test_group_commit),
		T(test_group_commit_streams),
		T(test_ack_after_commit),
		T(test_per_request_failures),
		T(test_outbuf),
		T(test_output_capped_in_store),
		T(test_prune_by_count),
		T(test_prune_ahead),
		T(test_prune_op),
		T(test_mark_interrupted),
		T(test_cascade_and_run_ids),
		T(test_lists),
		T(test_disk_full),
		T(test_degraded_on_corruption),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
