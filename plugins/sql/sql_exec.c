/*
 * sql_exec.c - one run of the sql kind on a worker thread (see
 * sql_exec.h).  The output is the rows the statements returned, as
 * tab-separated lines, then a summary:
 *
 *   database /var/lib/app/app.db
 *      1  DELETE FROM log WHERE ts < unixepoch() - 30 * 86400     1200 changes     3.1 ms
 *      2  VACUUM                                                     0 changes   210.4 ms
 *   2 statements ok, 1200 changes in total, 214.0 ms
 *
 * Every statement runs in order, each in its own transaction unless the
 * SQL says BEGIN; the first that fails ends the run (status 1), and its
 * error is in the summary.  A transaction the SQL left open is rolled
 * back when the connection closes.
 *
 * Stopping: sql_job_stop sets a flag and interrupts the connection.  The
 * flag is also read by a progress handler (every 1000 VM steps) and by
 * our own busy handler, which waits for a lock as sqlite3_busy_timeout
 * would but gives up at once when stopped; so a run ends soon whatever
 * it is doing, and sqlite3_interrupt's "only what is running now" rule
 * does not matter.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sql_exec.h"

#define PROGRESS_STEPS 1000 /* VM steps between two looks at stop */
#define PREVIEW_BYTES  (SQL_PREVIEW_CHARS * 4 + 8)
#define BLOB_SHOWN     64 /* bytes of a blob value shown, in hex */

/* How a run of the statements ended, for the last line. */
enum outcome {
	SQL_OK,
	SQL_FAILED,
	SQL_STOPPED
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double ms_since(uint64_t t0)
{
	return (double)(mono_us() - t0) / 1000.0;
}

/* strerror for a worker thread. */
static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

/* ---- Text of a statement ---- */

/* Skips whitespace and SQL comments. */
static const char *skip_space(const char *s)
{
	for (;;) {
		s += strspn(s, " \t\r\n\f\v");
		if (s[0] == '-' && s[1] == '-') {
			s += strcspn(s, "\n");
		} else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");
			s = e ? e + 2 : s + strlen(s);
		} else {
			return s;
		}
	}
}

/*
 * The statement s[0..n) on one line for the summary: runs of whitespace
 * and control characters as one space, bytes that are not UTF-8 as '?',
 * cut after SQL_PREVIEW_CHARS characters with "...".  buf holds
 * PREVIEW_BYTES; returns the width in characters.
 */
static size_t preview(const char *s, size_t n, char *buf)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, w = 0, k;
	bool space = false;
	while (n && (strchr(" \t\r\n\f\v;", s[n - 1])))
		n--;
	while (i < n && w < SQL_PREVIEW_CHARS) {
		if (u[i] <= 0x20 || u[i] == 0x7f) {
			space = true;
			i++;
			continue;
		}
		if (space && w) {
			buf[o++] = ' ';
			if (++w == SQL_PREVIEW_CHARS)
				break;
		}
		space = false;
		if ((k = utf8_seq_len(u + i, n - i))) {
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
		} else {
			buf[o++] = '?';
			i++;
		}
		w++;
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
		w += 3;
	}
	buf[o] = '\0';
	return w;
}

/* One line of the summary: number, statement, what it did, time. */
static void summary_line(struct sbuf *sum, unsigned n, const char *text,
			 size_t len, const char *what, double ms)
{
	char pv[PREVIEW_BYTES];
	size_t w = preview(text, len, pv);
	int pad = (int)(SQL_PREVIEW_CHARS + 3 - w);
	sbuf_printf(sum, "%4u  %s%*s  %16s  %9.1f ms\n", n, pv, pad, "", what,
		    ms);
}

/* ---- Rows ---- */

static void write_blob(struct sbuf *out, const unsigned char *b, int n)
{
	sbuf_add(out, "x'", 2);
	for (int i = 0; i < n && i < BLOB_SHOWN; i++)
		sbuf_printf(out, "%02x", b[i]);
	sbuf_add(out, "'", 1);
	if (n > BLOB_SHOWN)
		sbuf_printf(out, "...(%d bytes)", n);
}

/* A row as one line: values separated by tabs, NULL as NULL, blobs in
 * hex, tabs, newlines and backslashes in text escaped. */
static void write_row(struct sql_job *j, sqlite3_stmt *st, int ncols)
{
	size_t before = j->out.len;
	for (int c = 0; c < ncols; c++) {
		int type = sqlite3_column_type(st, c);
		if (c)
			sbuf_add(&j->out, "\t", 1);
		if (type == SQLITE_NULL) {
			sbuf_add(&j->out, "NULL", 4);
		} else if (type == SQLITE_BLOB) {
			const void *b = sqlite3_column_blob(st, c);
			write_blob(&j->out, b, sqlite3_column_bytes(st, c));
		} else {
			const unsigned char *t = sqlite3_column_text(st, c);
			int len = sqlite3_column_bytes(st, c);
			if (t)
				sbuf_add_escaped(&j->out, (const char *)t,
						 (size_t)len);
		}
	}
	sbuf_add(&j->out, "\n", 1);
	j->row_bytes += j->out.len - before;
}

/* ---- Statements ---- */

/* The error of statement n (text[0..len)) into the summary; 1, or
 * -ECANCELED when it is the stop that ended it. */
static int statement_failed(struct sql_job *j, sqlite3 *db, struct sbuf *sum,
			    unsigned n, const char *text, size_t len, double ms)
{
	const char *msg = sqlite3_errmsg(db);
	if (atomic_load(&j->stop)) {
		summary_line(sum, n, text, len, "interrupted", ms);
		return -ECANCELED;
	}
	summary_line(sum, n, text, len, "FAILED", ms);
	sbuf_printf(sum, "error in statement %u: ", n);
	sbuf_add_escaped(sum, msg, strlen(msg));
	sbuf_add(sum, "\n", 1);
	if (!sqlite3_get_autocommit(db))
		sbuf_printf(sum, "the transaction it was in is rolled back\n");
	return 1;
}

/* "3 rows", "1 change", "2 rows, 2 changes" */
static void what_it_did(char *buf, size_t len, int ncols, uint64_t rows,
			int64_t changes)
{
	if (ncols && changes)
		snprintf(buf, len, "%" PRIu64 " row%s, %" PRId64 " change%s",
			 rows, rows == 1 ? "" : "s", changes,
			 changes == 1 ? "" : "s");
	else if (ncols)
		snprintf(buf, len, "%" PRIu64 " row%s", rows,
			 rows == 1 ? "" : "s");
	else
		snprintf(buf, len, "%" PRId64 " change%s", changes,
			 changes == 1 ? "" : "s");
}

/* Steps statement n to its end, its rows into the output. */
static int run_one(struct sql_job *j, sqlite3 *db, sqlite3_stmt *st, unsigned n,
		   struct sbuf *sum, const char *text, size_t len, uint64_t t0)
{
	int64_t total = sqlite3_total_changes64(db), changes = 0;
	int ncols = sqlite3_column_count(st), rc;
	uint64_t rows = 0, shown = 0;
	char what[64];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (shown < SQL_MAX_ROWS && j->row_bytes < SQL_MAX_ROW_BYTES) {
			write_row(j, st, ncols);
			shown++;
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		return statement_failed(j, db, sum, n, text, len, ms_since(t0));
	if (rows > shown)
		sbuf_printf(&j->out,
			    "[statement %u: %" PRIu64 " more rows not shown]\n",
			    n, rows - shown);
	/* sqlite3_changes keeps the count of the last INSERT, UPDATE or
	 * DELETE: it is this statement's only if this one changed rows. */
	if (sqlite3_total_changes64(db) != total)
		changes = sqlite3_changes64(db);
	what_it_did(what, sizeof(what), ncols, rows, changes);
	summary_line(sum, n, text, len, what, ms_since(t0));
	return 0;
}

/* Runs every statement of sql in order; 0, 1 or -ECANCELED.  *ok is the
 * number of statements that ran to their end. */
static int run_all(struct sql_job *j, sqlite3 *db, const char *sql,
		   struct sbuf *sum, unsigned *ok)
{
	const char *tail = sql, *next;
	unsigned n = 0;
	int r;
	while (*(tail = skip_space(tail))) {
		sqlite3_stmt *st = NULL;
		uint64_t t0 = mono_us();
		if (atomic_load(&j->stop))
			return -ECANCELED;
		if (sqlite3_prepare_v2(db, tail, -1, &st, &next) != SQLITE_OK)
			/* Its end is unknown: up to a ';' will do to show it. */
			return statement_failed(j, db, sum, n + 1, tail,
						strcspn(tail, ";"),
						ms_since(t0));
		if (!st) { /* only a ';' or a comment */
			tail = next;
			continue;
		}
		r = run_one(j, db, st, ++n, sum, tail, (size_t)(next - tail),
			    t0);
		sqlite3_finalize(st);
		if (r)
			return r;
		(*ok)++;
		tail = next;
	}
	return 0;
}

/* ---- The connection ---- */

/* Waits for a lock up to timeout_ms, as sqlite3_busy_timeout does, but
 * gives up as soon as the run is stopped. */
static int on_busy(void *ud, int count)
{
	static const int delays[] = { 1, 2, 5, 10, 15, 20, 25 };
	struct sql_job *j = ud;
	uint64_t now = mono_us(), waited;
	int d = delays[count < 6 ? count : 6];
	if (count == 0)
		j->busy_since = now;
	waited = (now - j->busy_since) / 1000;
	if (atomic_load(&j->stop) || waited >= (uint64_t)j->a.timeout_ms)
		return 0;
	if ((uint64_t)d > j->a.timeout_ms - waited)
		d = (int)(j->a.timeout_ms - waited);
	nanosleep(&(struct timespec){ 0, d * 1000000L }, NULL);
	return 1;
}

static int on_progress(void *ud)
{
	struct sql_job *j = ud;
	return atomic_load(&j->stop) ? 1 : 0;
}

/* Opens the database, never creating it; 0, or 1 with why in sum. */
static int open_db(struct sql_job *j, struct sbuf *sum, sqlite3 **out)
{
	int flags =
		j->a.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	sqlite3 *db = NULL;
	struct stat sb;
	char eb[128];
	int rc = sqlite3_open_v2(j->a.database, &db, flags, NULL), e;
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_handler(db, on_busy, j);
		sqlite3_progress_handler(db, PROGRESS_STEPS, on_progress, j);
		pthread_mutex_lock(&j->mu);
		j->db = db;
		if (atomic_load(&j->stop))
			sqlite3_interrupt(db);
		pthread_mutex_unlock(&j->mu);
		*out = db;
		return 0;
	}
	e = db ? sqlite3_system_errno(db) : 0;
	if (stat(j->a.database, &sb) < 0)
		e = errno;
	sbuf_printf(sum, "cannot open the database: %s",
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	if (e)
		sbuf_printf(sum, ": %s", errstr(e, eb, sizeof(eb)));
	if (e == ENOENT)
		sbuf_printf(sum, " (the sql kind never creates a database)");
	sbuf_add(sum, "\n", 1);
	sqlite3_close(db);
	return 1;
}

static void close_db(struct sql_job *j, sqlite3 *db)
{
	pthread_mutex_lock(&j->mu);
	j->db = NULL;
	pthread_mutex_unlock(&j->mu);
	sqlite3_close(db); /* every statement is finalized */
}

/* Reads fd to its end, up to SQL_MAX_FILE_BYTES + 1 bytes, into a
 * NUL-terminated *out (caller frees); 0 or an errno. */
static int read_all(int fd, char **out, size_t *len)
{
	struct sbuf b = { 0 };
	char chunk[16384];
	ssize_t k;
	while (b.len <= SQL_MAX_FILE_BYTES &&
	       (k = read(fd, chunk, sizeof(chunk))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;
			sbuf_free(&b);
			return e;
		}
		sbuf_add(&b, chunk, (size_t)k);
	}
	if (b.oom) {
		sbuf_free(&b);
		return ENOMEM;
	}
	*out = sbuf_take(&b, len);
	return *out ? 0 : ENOMEM;
}

/* args.file, whole, into *out (caller frees); 0, or 1 with why in sum. */
static int read_sql_file(const char *path, struct sbuf *sum, char **out)
{
	const char *why = NULL;
	char eb[128], *buf = NULL;
	size_t len = 0;
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), e = 0;
	if (fd < 0 || fstat(fd, &sb) < 0)
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		why = "not a regular file";
	else
		e = read_all(fd, &buf, &len);
	if (fd >= 0)
		close(fd);
	if (e)
		why = errstr(e, eb, sizeof(eb));
	else if (buf && len > SQL_MAX_FILE_BYTES)
		why = "larger than " SQL_MAX_FILE_TEXT;
	else if (buf && memchr(buf, '\0', len))
		why = "contains a NUL byte";
	if (why) {
		sbuf_add(sum, "the SQL file ", 13);
		sbuf_add_escaped(sum, path, strlen(path));
		sbuf_printf(sum, ": %s\n", why);
		free(buf);
		return 1;
	}
	*out = buf;
	return 0;
}

/* ---- A run ---- */

static void total_line(struct sbuf *sum, int r, unsigned ok, int64_t changes,
		       double ms)
{
	if (r == -ECANCELED)
		sbuf_printf(sum, "stopped after %u statement%s; ", ok,
			    ok == 1 ? "" : "s");
	else if (r)
		sbuf_printf(sum, "statement %u failed after %u ok; ", ok + 1,
			    ok);
	else
		sbuf_printf(sum, "%u statement%s ok, ", ok, ok == 1 ? "" : "s");
	sbuf_printf(sum, "%" PRId64 " change%s in total, %.1f ms\n", changes,
		    changes == 1 ? "" : "s", ms);
}

int sql_job_run(struct sql_job *j)
{
	struct sbuf sum = { 0 };
	uint64_t t0 = mono_us();
	char *file_sql = NULL;
	sqlite3 *db = NULL;
	unsigned ok = 0;
	int r;
	sbuf_add(&sum, "database ", 9);
	sbuf_add_escaped(&sum, j->a.database, strlen(j->a.database));
	sbuf_printf(&sum, "%s\n", j->a.readonly ? " (read-only)" : "");
	r = j->a.file ? read_sql_file(j->a.file, &sum, &file_sql) : 0;
	if (!r)
		r = open_db(j, &sum, &db);
	if (!r) {
		r = run_all(j, db, file_sql ? file_sql : j->a.statements, &sum,
			    &ok);
		total_line(&sum, r, ok, sqlite3_total_changes64(db),
			   ms_since(t0));
		close_db(j, db);
	}
	if (r == -ECANCELED)
		sbuf_printf(&sum, "stopped: loopd asked the run to end\n");
	free(file_sql);
	sbuf_add(&j->out, sum.p ? sum.p : "", sum.len);
	if (sum.oom)
		j->out.oom = true;
	sbuf_free(&sum);
	return r;
}

void sql_job_stop(struct sql_job *j)
{
	atomic_store(&j->stop, true);
	pthread_mutex_lock(&j->mu);
	if (j->db)
		sqlite3_interrupt(j->db);
	pthread_mutex_unlock(&j->mu);
}

int sql_job_init(struct sql_job *j, struct sql_args *a)
{
	int e;
	*j = (struct sql_job){ .a = *a };
	*a = (struct sql_args){ 0 };
	atomic_init(&j->stop, false);
	if ((e = pthread_mutex_init(&j->mu, NULL)) != 0) {
		sql_args_free(&j->a);
		return -e;
	}
	return 0;
}

void sql_job_free(struct sql_job *j)
{
	pthread_mutex_destroy(&j->mu);
	sql_args_free(&j->a);
	sbuf_free(&j->out);
}
