/*
 * store.c - jobs and runs in SQLite: open and check, migrations from
 * schema/, and the group commit through the worker pool's store lane.
 * The only file of the daemon with SQL in it (the PostgreSQL seam).
 *
 * Start (main thread, before the loop runs):
 *
 *   1. The file's first 100 bytes are read with plain read(2): no SQLite
 *      connection has touched it yet, so a text file, another program's
 *      database or a newer loopd's is refused with the file as it was.
 *   2. A read-only connection confirms what the header said (it sees the
 *      WAL too) and runs quick_check, or integrity_check when the 'clean'
 *      flag in meta says the last stop was not clean.  Refusals close it
 *      without a checkpoint: the file is still untouched.
 *   3. The writer connection: WAL, synchronous=FULL, defensive, no
 *      trusted schema; a VACUUM INTO copy when a migration is due, then
 *      each migration in its own transaction with its user_version; the
 *      'clean' flag set to 0 until store_close sets it back.
 *
 * Runtime.  The loop thread queues requests on a pending list; a batch
 * takes the whole list to the store lane (one extra pool thread, so plugin
 * work never delays it) as one work item.  One batch is in flight at a
 * time, which is what makes one writer connection safe without a lock:
 * the pool's queue hands the connection from one thread to the next.
 * A batch is:
 *
 *   BEGIN IMMEDIATE; each write; COMMIT; then the reads.
 *
 * A write that fails on its own (a name taken, a job gone) fails alone:
 * SQLite undoes a failed statement, and a write of several statements
 * runs in a SAVEPOINT that is rolled back.  A storage failure (disk full, I/O,
 * corruption) rolls the whole transaction back and fails every write of
 * the batch: nothing is acknowledged that was not committed, and the next
 * batch simply tries again, so writes resume when space returns.
 * Corruption also makes the store degraded: writes are refused from then
 * on, reads go on.  Reads run after the COMMIT so that they only ever see
 * committed state; they share the lane because the work lane can be full
 * of long plugin jobs, and a history query must not wait behind those.
 *
 * The batch's done callback (loop thread) completes every request, and
 * sends the next batch if more were queued meanwhile.  A batch is sent
 * from an immediate, not from store_submit, so that everything queued in
 * one loop iteration commits together.
 */
#include "store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "loop.h"

/* A WAL that grew during a burst is cut back to this after a checkpoint. */
#define WAL_SIZE_LIMIT     "16777216" /* 16 MiB, for journal_size_limit */
/* Room kept in an outbuf for the "[loopd: N bytes dropped]" line. */
#define MARKER_MAX         48
#define LIST_LIMIT_DEFAULT 20

/* ---- enum names and records ---- */

const char *const store_job_state_names[STORE_JOB_STATE_COUNT] = {
	"active", "paused", "running", "waiting-for-plugin", "done",
};
const char *const store_overlap_names[STORE_OVERLAP_COUNT] = {
	"skip",
	"allow",
	"queue",
	"replace",
};
const char *const store_catchup_names[STORE_CATCHUP_COUNT] = {
	"once",
	"skip",
	"all",
};
const char *const store_trigger_names[STORE_TRIGGER_COUNT] = {
	"schedule",
	"manual",
	"catchup",
	"retry",
};
const char *const store_result_names[STORE_RESULT_COUNT] = {
	"starting",    "running", "ok",     "failed",    "timeout",
	"interrupted", "skipped", "missed", "cancelled",
};

int store_enum_parse(const char *const *names, int n, const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

void store_job_init(struct store_job *j)
{
	*j = (struct store_job){ .next_usec = STORE_NULL,
				 .last_usec = STORE_NULL,
				 .last_result = STORE_RESULT_NONE,
				 .last_run = STORE_NULL };
}

void store_run_init(struct store_run *r)
{
	*r = (struct store_run){ .attempt = 1,
				 .scheduled_usec = STORE_NULL,
				 .started_usec = STORE_NULL,
				 .finished_usec = STORE_NULL,
				 .result = STORE_RESULT_STARTING,
				 .exit_code = STORE_NULL };
}

void store_job_clear(struct store_job *j)
{
	free(j->name);
	free(j->kind);
	free(j->plugin);
	free(j->schedule);
	free(j->tz);
	free(j->args_json);
	store_job_init(j);
}

void store_run_clear(struct store_run *r)
{
	free(r->job);
	free(r->output);
	store_run_init(r);
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

int store_job_copy(struct store_job *dst, const struct store_job *src)
{
	*dst = *src;
	int e = dup_str(&dst->name, src->name);
	e |= dup_str(&dst->kind, src->kind);
	e |= dup_str(&dst->plugin, src->plugin);
	e |= dup_str(&dst->schedule, src->schedule);
	e |= dup_str(&dst->tz, src->tz);
	e |= dup_str(&dst->args_json, src->args_json);
	if (e) {
		store_job_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* NULL strings are stored as these, so they compare as stored. */
static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static const char *or_args(const char *s)
{
	return s ? s : "{}";
}

bool store_job_same_settings(const struct store_job *a,
			     const struct store_job *b)
{
	return strcmp(or_empty(a->kind), or_empty(b->kind)) == 0 &&
	       strcmp(or_empty(a->plugin), or_empty(b->plugin)) == 0 &&
	       strcmp(or_empty(a->schedule), or_empty(b->schedule)) == 0 &&
	       strcmp(or_empty(a->tz), or_empty(b->tz)) == 0 &&
	       strcmp(or_args(a->args_json), or_args(b->args_json)) == 0 &&
	       a->overlap == b->overlap && a->catchup == b->catchup &&
	       a->timeout_ms == b->timeout_ms && a->retries == b->retries &&
	       a->retry_backoff_ms == b->retry_backoff_ms &&
	       a->jitter_ms == b->jitter_ms;
}

/* ---- output capping ---- */

int store_outbuf_init(struct store_outbuf *o, size_t cap)
{
	*o = (struct store_outbuf){ 0 };
	if (cap < 4 * MARKER_MAX)
		return -EINVAL;
	o->cap = cap;
	o->head_cap = cap / 2;
	o->tail_cap = cap - o->head_cap - MARKER_MAX;
	o->buf = malloc(cap);
	o->tail = malloc(o->tail_cap);
	if (!o->buf || !o->tail) {
		store_outbuf_free(o);
		return -ENOMEM;
	}
	return 0;
}

/* Keeps the last tail_cap bytes of everything pushed. */
static void ring_push(struct store_outbuf *o, const char *p, size_t n)
{
	if (n > o->tail_cap) {
		p += n - o->tail_cap;
		n = o->tail_cap;
	}
	while (n) {
		size_t k = o->tail_cap - o->tail_pos;
		if (k > n)
			k = n;
		memcpy(o->tail + o->tail_pos, p, k);
		o->tail_pos = (o->tail_pos + k) % o->tail_cap;
		o->tail_len = o->tail_len + k > o->tail_cap ? o->tail_cap
							    : o->tail_len + k;
		p += k;
		n -= k;
	}
}

/*
 * While the output fits in cap it is kept whole in buf.  Every byte past
 * the head also goes through the ring, so that when the output outgrows
 * cap the ring already holds its latest part.
 */
void store_outbuf_append(struct store_outbuf *o, const void *data, size_t len)
{
	const char *p = data;
	uint64_t start = o->total;

	if (start < o->cap)
		memcpy(o->buf + start, p,
		       len < o->cap - start ? len : o->cap - start);
	o->total += len;
	if (o->total <= o->head_cap)
		return;
	size_t skip = start < o->head_cap ? o->head_cap - start : 0;
	ring_push(o, p + skip, len - skip);
}

int store_outbuf_take(struct store_outbuf *o, char **out, size_t *len,
		      uint64_t *dropped)
{
	char marker[MARKER_MAX + 16];
	size_t n = o->total <= o->cap ? o->total : o->cap;
	char *b = malloc(n + 1);
	if (!b)
		return -ENOMEM;
	*dropped = 0;
	if (o->total <= o->cap) {
		memcpy(b, o->buf, n);
	} else {
		*dropped = o->total - o->head_cap - o->tail_len;
		int m = snprintf(marker, sizeof(marker),
				 "\n[loopd: %" PRIu64 " bytes dropped]\n",
				 *dropped);
		size_t first = o->tail_len - o->tail_pos; /* the ring is full */
		memcpy(b, o->buf, o->head_cap);
		memcpy(b + o->head_cap, marker, (size_t)m);
		n = o->head_cap + (size_t)m;
		memcpy(b + n, o->tail + o->tail_pos, first);
		memcpy(b + n + first, o->tail, o->tail_pos);
		n += o->tail_len;
	}
	b[n] = 0;
	*out = b;
	*len = n;
	o->total = 0;
	o->tail_pos = o->tail_len = 0;
	return 0;
}

void store_outbuf_free(struct store_outbuf *o)
{
	free(o->buf);
	free(o->tail);
	*o = (struct store_outbuf){ 0 };
}

/* ---- the store ---- */

/* Statements prepared once at open; SQL in one table. */
enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_JOB_INSERT,
	ST_JOB_UPDATE,
	ST_JOB_DELETE,
	ST_JOB_GET,
	ST_JOB_LIST,
	ST_JOB_ID,
	ST_RUN_INSERT,
	ST_RUN_UPDATE,
	ST_RUN_DELETE,
	ST_OUTPUT_PUT,
	ST_PRUNE_JOB,
	ST_PRUNE_JOB_AGE,
	ST_PRUNE_ALL,
	ST_RUN_GET,
	ST_RUN_LIST,
	ST_RUN_LIST_JOB,
	ST_COUNT
};

#define JOB_COLS                                                            \
	"name, kind, plugin, schedule, tz, args, state, overlap, catchup, " \
	"timeout_ms, retries, retry_backoff_ms, jitter_ms, next_usec, "     \
	"last_usec, last_result, last_run, created_usec, updated_usec"
#define RUN_COLS                                                   \
	"r.id, j.name, r.trigger, r.attempt, r.scheduled_usec, "   \
	"r.started_usec, r.finished_usec, r.result, r.exit_code, " \
	"r.output_bytes, r.output_truncated"
#define FINISHED "r.result NOT IN ('starting', 'running')"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_JOB_INSERT] =
		"INSERT INTO jobs (" JOB_COLS ") VALUES (?1, ?2, ?3, "
		"?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		"?16, ?17, ?18, ?19) ON CONFLICT (name) DO NOTHING",
	[ST_JOB_UPDATE] = "UPDATE jobs SET kind = ?2, plugin = ?3, "
			  "schedule = ?4, tz = ?5, args = ?6, state = ?7, "
			  "overlap = ?8, catchup = ?9, timeout_ms = ?10, "
			  "retries = ?11, retry_backoff_ms = ?12, "
			  "jitter_ms = ?13, next_usec = ?14, last_usec = ?15, "
			  "last_result = ?16, last_run = ?17, "
			  "created_usec = ?18, updated_usec = ?19 "
			  "WHERE name = ?1",
	[ST_JOB_DELETE] = "DELETE FROM jobs WHERE name = ?1",
	[ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE name = ?1",
	[ST_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs ORDER BY name",
	[ST_JOB_ID] = "SELECT id FROM jobs WHERE name = ?1",
	[ST_RUN_INSERT] =
		"INSERT INTO runs (id, job_id, trigger, attempt, "
		"scheduled_usec, started_usec, finished_usec, result, "
		"exit_code, output_bytes, output_truncated) VALUES "
		"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_RUN_UPDATE] = "UPDATE runs SET started_usec = ?2, "
			  "finished_usec = ?3, result = ?4, exit_code = ?5, "
			  "output_bytes = coalesce(?6, output_bytes), "
			  "output_truncated = coalesce(?7, output_truncated) "
			  "WHERE id = ?1",
	[ST_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1",
	[ST_OUTPUT_PUT] =
		"INSERT INTO outputs (run_id, data) VALUES (?1, ?2) "
		"ON CONFLICT (run_id) DO UPDATE SET data = excluded.data",
	/* The newest ?2 runs of the job stay (unfinished ones are never
	 * pruned, but count): a range of runs_job, empty (a seek, not a walk
	 * of the job's runs) when the job has ?2 or fewer. */
	[ST_PRUNE_JOB] =
		"DELETE FROM runs AS r WHERE r.job_id = ?1 AND r.id <= "
		"(SELECT id FROM runs WHERE job_id = ?1 ORDER BY id DESC "
		"LIMIT 1 OFFSET ?2) AND " FINISHED,
	/* And none finished before ?2 (when an age limit is set). */
	[ST_PRUNE_JOB_AGE] = "DELETE FROM runs AS r WHERE r.job_id = ?1 AND "
			     "r.finished_usec < ?2 AND " FINISHED,
	[ST_PRUNE_ALL] = "DELETE FROM runs AS r WHERE " FINISHED " AND "
			 "(r.finished_usec < ?2 OR r.id IN (SELECT id FROM "
			 "(SELECT id, row_number() OVER (PARTITION BY job_id "
			 "ORDER BY id DESC) AS n FROM runs) WHERE n > ?1))",
	[ST_RUN_GET] = "SELECT " RUN_COLS ", o.data FROM runs r JOIN jobs j "
		       "ON j.id = r.job_id LEFT JOIN outputs o ON o.run_id = "
		       "r.id WHERE r.id = ?1",
	[ST_RUN_LIST] = "SELECT " RUN_COLS " FROM runs r JOIN jobs j ON j.id = "
			"r.job_id WHERE r.id < ?1 AND (?2 IS NULL OR "
			"r.result = ?2) ORDER BY r.id DESC LIMIT ?3",
	[ST_RUN_LIST_JOB] = "SELECT " RUN_COLS " FROM jobs j JOIN runs r ON "
			    "r.job_id = j.id WHERE j.name = ?4 AND r.id < ?1 "
			    "AND (?2 IS NULL OR r.result = ?2) ORDER BY r.id "
			    "DESC LIMIT ?3",
};

/* The batch in flight.  Filled on the loop thread before it is sent,
 * written by the lane while it runs, read back in batch_done. */
struct batch {
	struct store_req *head;
	size_t nwrites, nreads;
	uint64_t seq;
	bool writing; /* in the write phase: a storage error fails all */
	int status;   /* the writes' shared failure, or 0 */
	bool corrupt; /* SQLITE_CORRUPT was met */
	uint64_t commit_ns, rows;
	uint64_t db_bytes, wal_bytes;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct loop *loop;
	char *path, *wal_path;
	struct store_opts opts;
	struct store_info info;
	int latest;

	/* Loop thread only, except b (see struct batch) and degraded, which
	 * the loop thread writes only while no batch is in flight. */
	struct store_req *pend_head, **pend_tail;
	size_t npend;
	bool busy, kick_queued, failing, degraded;
	loopd_id kick_id;
	int64_t next_run_id;
	uint64_t batch_seq;
	struct batch b;
	struct store_stats stats;
	struct hist batch_hist, commit_hist;

	/* The caller's message buffer, during store_open and store_check. */
	char *err;
	size_t errlen;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t real_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* SQLite's result code as -errno (the header's table). */
static int err_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_IOERR: return rc == SQLITE_IOERR_NOMEM ? -ENOMEM : -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return -STORE_ECORRUPT;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH: return -EPERM;
	case SQLITE_TOOBIG: return -E2BIG;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? -ENOENT : -EINVAL;
	default: return -EIO;
	}
}

static bool is_corrupt(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* Steps st to its end and resets it.  SQLITE_OK or the error. */
static int step_done(sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void finish_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * An operation's error.  In the write phase, anything but a failure of
 * the operation's own (a constraint, a value too big), or anything after
 * which SQLite has rolled the transaction back, fails the whole batch.
 */
static int op_fail(struct store *s, int rc)
{
	int p = rc & 0xff;
	bool own = p == SQLITE_CONSTRAINT || p == SQLITE_TOOBIG ||
		   p == SQLITE_MISMATCH || p == SQLITE_RANGE;
	if (is_corrupt(rc))
		s->b.corrupt = true;
	if (s->b.writing && !s->b.status &&
	    (!own || sqlite3_get_autocommit(s->db)))
		s->b.status = err_of(rc);
	return err_of(rc);
}

/* ---- binding and reading rows ---- */

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_i64n(sqlite3_stmt *st, int i, int64_t v)
{
	if (v == STORE_NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static const char *result_name(enum store_result r)
{
	return r == STORE_RESULT_NONE ? NULL : store_result_names[r];
}

static void bind_job(sqlite3_stmt *st, const struct store_job *j)
{
	bind_str(st, 1, j->name);
	bind_str(st, 2, j->kind);
	bind_str(st, 3, or_empty(j->plugin));
	bind_str(st, 4, or_empty(j->schedule));
	bind_str(st, 5, or_empty(j->tz));
	bind_str(st, 6, or_args(j->args_json));
	bind_str(st, 7, store_job_state_names[j->state]);
	bind_str(st, 8, store_overlap_names[j->overlap]);
	bind_str(st, 9, store_catchup_names[j->catchup]);
	sqlite3_bind_int64(st, 10, j->timeout_ms);
	sqlite3_bind_int64(st, 11, j->retries);
	sqlite3_bind_int64(st, 12, j->retry_backoff_ms);
	sqlite3_bind_int64(st, 13, j->jitter_ms);
	bind_i64n(st, 14, j->next_usec);
	bind_i64n(st, 15, j->last_usec);
	bind_str(st, 16, result_name(j->last_result));
	bind_i64n(st, 17, j->last_run);
	sqlite3_bind_int64(st, 18, j->created_usec);
	sqlite3_bind_int64(st, 19, j->updated_usec);
}

/* A column as a new string; NULL becomes "".  Sets *e on failure. */
static char *col_str(sqlite3_stmt *st, int i, int *e)
{
	const char *v = (const char *)sqlite3_column_text(st, i);
	char *s = strdup(v ? v : "");
	if (!s)
		*e = -ENOMEM;
	return s;
}

static int64_t col_i64n(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return STORE_NULL;
	return sqlite3_column_int64(st, i);
}

/* An enum column.  A value this loopd does not know (an edit with the
 * sqlite3 CLI, a newer loopd's) is never fatal: it becomes dflt. */
static int col_enum(sqlite3_stmt *st, int i, const char *const *names, int n,
		    int dflt, const char *what, const char *row)
{
	const char *v = (const char *)sqlite3_column_text(st, i);
	int k = store_enum_parse(names, n, v);
	if (k >= 0 || (!v && dflt == STORE_RESULT_NONE))
		return k >= 0 ? k : dflt;
	log_warnx("store: %s '%s' of %s is not one loopd knows; using '%s'",
		  what, v ? v : "(null)", row,
		  dflt >= 0 ? names[dflt] : "null");
	return dflt;
}

static int job_from_row(sqlite3_stmt *st, struct store_job *j)
{
	int e = 0;
	store_job_init(j);
	j->name = col_str(st, 0, &e);
	j->kind = col_str(st, 1, &e);
	j->plugin = col_str(st, 2, &e);
	j->schedule = col_str(st, 3, &e);
	j->tz = col_str(st, 4, &e);
	j->args_json = col_str(st, 5, &e);
	if (e) {
		store_job_clear(j);
		return e;
	}
	/* An unreadable state must not start a job: paused is safe. */
	j->state = col_enum(st, 6, store_job_state_names, STORE_JOB_STATE_COUNT,
			    STORE_JOB_PAUSED, "state", j->name);
	j->overlap = col_enum(st, 7, store_overlap_names, STORE_OVERLAP_COUNT,
			      STORE_OVERLAP_SKIP, "overlap", j->name);
	j->catchup = col_enum(st, 8, store_catchup_names, STORE_CATCHUP_COUNT,
			      STORE_CATCHUP_ONCE, "catchup", j->name);
	j->timeout_ms = sqlite3_column_int64(st, 9);
	j->retries = sqlite3_column_int64(st, 10);
	j->retry_backoff_ms = sqlite3_column_int64(st, 11);
	j->jitter_ms = sqlite3_column_int64(st, 12);
	j->next_usec = col_i64n(st, 13);
	j->last_usec = col_i64n(st, 14);
	j->last_result =
		col_enum(st, 15, store_result_names, STORE_RESULT_COUNT,
			 STORE_RESULT_NONE, "last_result", j->name);
	j->last_run = col_i64n(st, 16);
	j->created_usec = sqlite3_column_int64(st, 17);
	j->updated_usec = sqlite3_column_int64(st, 18);
	return 0;
}

static int output_from_col(sqlite3_stmt *st, int i, struct store_run *r)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	if (!(r->output = malloc(n + 1)))
		return -ENOMEM;
	if (n)
		memcpy(r->output, p, n);
	r->output[n] = 0;
	r->output_len = n;
	return 0;
}

static int run_from_row(sqlite3_stmt *st, struct store_run *r, bool output)
{
	int e = 0;
	store_run_init(r);
	r->id = sqlite3_column_int64(st, 0);
	r->job = col_str(st, 1, &e);
	if (e)
		return e;
	char row[48];
	snprintf(row, sizeof(row), "run %" PRId64, r->id);
	r->trigger = col_enum(st, 2, store_trigger_names, STORE_TRIGGER_COUNT,
			      STORE_TRIGGER_SCHEDULE, "trigger", row);
	r->attempt = sqlite3_column_int64(st, 3);
	r->scheduled_usec = col_i64n(st, 4);
	r->started_usec = col_i64n(st, 5);
	r->finished_usec = col_i64n(st, 6);
	r->result = col_enum(st, 7, store_result_names, STORE_RESULT_COUNT,
			     STORE_RESULT_INTERRUPTED, "result", row);
	r->exit_code = col_i64n(st, 8);
	r->output_bytes = sqlite3_column_int64(st, 9);
	r->output_truncated = sqlite3_column_int64(st, 10);
	if (output && (e = output_from_col(st, 11, r)) < 0)
		store_run_clear(r);
	return e;
}

/* ---- operations (store lane) ---- */

/* The job named name into *out: 0, -ENOENT or an op_fail error. */
static int job_get(struct store *s, const char *name, struct store_job *out)
{
	sqlite3_stmt *st = s->st[ST_JOB_GET];
	bind_str(st, 1, name);
	int rc = sqlite3_step(st), e = -ENOENT;
	if (rc == SQLITE_ROW)
		e = job_from_row(st, out);
	else if (rc != SQLITE_DONE)
		e = op_fail(s, rc);
	finish_stmt(st);
	return e;
}

static int job_id_of(struct store *s, const char *name, int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_JOB_ID];
	bind_str(st, 1, name);
	int rc = sqlite3_step(st), e = -ENOENT;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		e = 0;
	} else if (rc != SQLITE_DONE) {
		e = op_fail(s, rc);
	}
	finish_stmt(st);
	return e;
}

/* Steps a write statement; *changes gets the rows it changed. */
static int exec_write(struct store *s, enum stmt which, int64_t *changes)
{
	int rc = step_done(s->st[which]);
	if (rc != SQLITE_OK)
		return op_fail(s, rc);
	if (changes)
		*changes = sqlite3_changes64(s->db);
	return 0;
}

static int op_job_add(struct store *s, struct store_req *r)
{
	struct store_job old;
	bind_job(s->st[ST_JOB_INSERT], &r->job);
	int e = exec_write(s, ST_JOB_INSERT, &r->changes);
	if (e || r->changes)
		return e;
	/* The name is taken: the same settings make this add a retry. */
	if ((e = job_get(s, r->job.name, &old)) < 0)
		return e;
	if (!store_job_same_settings(&old, &r->job)) {
		store_job_clear(&old);
		return -EEXIST;
	}
	store_job_clear(&r->job);
	r->job = old;
	return 0;
}

static int op_job_update(struct store *s, struct store_req *r)
{
	bind_job(s->st[ST_JOB_UPDATE], &r->job);
	int e = exec_write(s, ST_JOB_UPDATE, &r->changes);
	return e ? e : r->changes ? 0 : -ENOENT;
}

static int op_job_delete(struct store *s, struct store_req *r)
{
	bind_str(s->st[ST_JOB_DELETE], 1, r->job.name);
	int e = exec_write(s, ST_JOB_DELETE, &r->changes);
	return e ? e : r->changes ? 0 : -ENOENT;
}

/* Output longer than the store's cap is cut to head and tail here. */
static int cap_output(struct store *s, struct store_run *run)
{
	struct store_outbuf o;
	char *out;
	size_t len;
	uint64_t dropped;
	if (!run->output || run->output_len <= s->opts.output_cap)
		return 0;
	if (store_outbuf_init(&o, s->opts.output_cap) < 0)
		return -ENOMEM;
	store_outbuf_append(&o, run->output, run->output_len);
	int e = store_outbuf_take(&o, &out, &len, &dropped);
	store_outbuf_free(&o);
	if (e < 0)
		return e;
	if (run->output_bytes < (int64_t)run->output_len)
		run->output_bytes = (int64_t)run->output_len;
	run->output_truncated += (int64_t)dropped;
	free(run->output);
	run->output = out;
	run->output_len = len;
	return 0;
}

static int put_output(struct store *s, const struct store_run *run)
{
	sqlite3_stmt *st = s->st[ST_OUTPUT_PUT];
	if (!run->output)
		return 0;
	sqlite3_bind_int64(st, 1, run->id);
	sqlite3_bind_blob64(st, 2, run->output, run->output_len, SQLITE_STATIC);
	return exec_write(s, ST_OUTPUT_PUT, NULL);
}

static int64_t age_cutoff(const struct store *s)
{
	if (s->opts.runs_max_age_usec <= 0)
		return INT64_MIN;
	return real_usec() - s->opts.runs_max_age_usec;
}

static int64_t keep_count(const struct store *s)
{
	return s->opts.runs_keep ? (int64_t)s->opts.runs_keep : INT64_MAX;
}

/* extra: rows beyond the kept count left alone (the one just added, when
 * it is a run recorded ahead of its time and not a run yet). */
static int prune_job(struct store *s, int64_t job_id, int64_t extra)
{
	sqlite3_stmt *st = s->st[ST_PRUNE_JOB];
	int64_t keep = keep_count(s);
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_int64(st, 2,
			   keep < INT64_MAX - extra ? keep + extra : keep);
	int e = exec_write(s, ST_PRUNE_JOB, NULL);
	if (e || s->opts.runs_max_age_usec <= 0)
		return e;
	st = s->st[ST_PRUNE_JOB_AGE];
	sqlite3_bind_int64(st, 1, job_id);
	sqlite3_bind_int64(st, 2, age_cutoff(s));
	return exec_write(s, ST_PRUNE_JOB_AGE, NULL);
}

static void bind_run_insert(sqlite3_stmt *st, const struct store_run *r,
			    int64_t job_id)
{
	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_int64(st, 2, job_id);
	bind_str(st, 3, store_trigger_names[r->trigger]);
	sqlite3_bind_int64(st, 4, r->attempt);
	bind_i64n(st, 5, r->scheduled_usec);
	bind_i64n(st, 6, r->started_usec);
	bind_i64n(st, 7, r->finished_usec);
	bind_str(st, 8, store_result_names[r->result]);
	bind_i64n(st, 9, r->exit_code);
	sqlite3_bind_int64(st, 10, r->output_bytes);
	sqlite3_bind_int64(st, 11, r->output_truncated);
}

static int op_run_add(struct store *s, struct store_req *r)
{
	int64_t job_id = 0;
	int e = job_id_of(s, r->run.job, &job_id);
	if (!e)
		e = cap_output(s, &r->run);
	if (e)
		return e;
	bind_run_insert(s->st[ST_RUN_INSERT], &r->run, job_id);
	if ((e = exec_write(s, ST_RUN_INSERT, &r->changes)) < 0 ||
	    (e = put_output(s, &r->run)) < 0)
		return e;
	/* A scheduled run recorded ahead of its time (`starting`, not
	 * started) does not push a finished run out: it may yet be deleted. */
	bool ahead = r->run.result == STORE_RESULT_STARTING &&
		     r->run.started_usec == STORE_NULL;
	return prune_job(s, job_id, ahead ? 1 : 0);
}

static int op_run_update(struct store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_RUN_UPDATE];
	const struct store_run *run = &r->run;
	int e = cap_output(s, &r->run);
	if (e)
		return e;
	sqlite3_bind_int64(st, 1, run->id);
	bind_i64n(st, 2, run->started_usec);
	bind_i64n(st, 3, run->finished_usec);
	bind_str(st, 4, store_result_names[run->result]);
	bind_i64n(st, 5, run->exit_code);
	if (run->output) {
		sqlite3_bind_int64(st, 6, run->output_bytes);
		sqlite3_bind_int64(st, 7, run->output_truncated);
	}
	if ((e = exec_write(s, ST_RUN_UPDATE, &r->changes)) < 0)
		return e;
	return r->changes ? put_output(s, run) : -ENOENT;
}

static int op_run_delete(struct store *s, struct store_req *r)
{
	sqlite3_bind_int64(s->st[ST_RUN_DELETE], 1, r->run.id);
	int e = exec_write(s, ST_RUN_DELETE, &r->changes);
	return e ? e : r->changes ? 0 : -ENOENT;
}

static int op_prune(struct store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_PRUNE_ALL];
	sqlite3_bind_int64(st, 1, keep_count(s));
	sqlite3_bind_int64(st, 2, age_cutoff(s));
	return exec_write(s, ST_PRUNE_ALL, &r->changes);
}

static int op_job_get(struct store *s, struct store_req *r)
{
	struct store_job j;
	int e = job_get(s, r->job.name, &j);
	if (e)
		return e;
	store_job_clear(&r->job);
	r->job = j;
	return 0;
}

/* Grows *v (of elements of size sz) to hold n + 1. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * sz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int op_job_list(struct store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_JOB_LIST];
	size_t cap = 0;
	int rc, e = 0;
	while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = grow((void **)&r->jobs, &cap, r->njobs, sizeof(*r->jobs));
		if (!e && !(e = job_from_row(st, &r->jobs[r->njobs])))
			r->njobs++;
	}
	if (!e && rc != SQLITE_DONE)
		e = op_fail(s, rc);
	finish_stmt(st);
	return e;
}

static int op_run_get(struct store *s, struct store_req *r)
{
	sqlite3_stmt *st = s->st[ST_RUN_GET];
	struct store_run run;
	sqlite3_bind_int64(st, 1, r->run.id);
	int rc = sqlite3_step(st), e = -ENOENT;
	if (rc == SQLITE_ROW && !(e = run_from_row(st, &run, true))) {
		store_run_clear(&r->run);
		r->run = run;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		e = op_fail(s, rc);
	}
	finish_stmt(st);
	return e;
}

static sqlite3_stmt *bind_run_list(struct store *s,
				   const struct store_run_filter *f)
{
	sqlite3_stmt *st = s->st[f->job ? ST_RUN_LIST_JOB : ST_RUN_LIST];
	sqlite3_bind_int64(
		st, 1, f->before_id == STORE_NULL ? INT64_MAX : f->before_id);
	bind_str(st, 2, result_name(f->result));
	sqlite3_bind_int64(st, 3, f->limit ? f->limit : LIST_LIMIT_DEFAULT);
	if (f->job)
		bind_str(st, 4, f->job);
	return st;
}

static int op_run_list(struct store *s, struct store_req *r)
{
	sqlite3_stmt *st = bind_run_list(s, &r->filter);
	size_t cap = 0;
	int rc, e = 0;
	while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = grow((void **)&r->runs, &cap, r->nruns, sizeof(*r->runs));
		if (!e && !(e = run_from_row(st, &r->runs[r->nruns], false)))
			r->nruns++;
	}
	if (!e && rc != SQLITE_DONE)
		e = op_fail(s, rc);
	finish_stmt(st);
	return e;
}

typedef int (*op_fn)(struct store *s, struct store_req *r);
static const op_fn op_table[STORE_OP_COUNT] = {
	[STORE_JOB_ADD] = op_job_add,       [STORE_JOB_UPDATE] = op_job_update,
	[STORE_JOB_DELETE] = op_job_delete, [STORE_RUN_ADD] = op_run_add,
	[STORE_RUN_UPDATE] = op_run_update, [STORE_PRUNE] = op_prune,
	[STORE_RUN_DELETE] = op_run_delete, [STORE_JOB_GET] = op_job_get,
	[STORE_JOB_LIST] = op_job_list,     [STORE_RUN_GET] = op_run_get,
	[STORE_RUN_LIST] = op_run_list,
};

static bool is_write(enum store_op op)
{
	return op < STORE_JOB_GET;
}

/* ---- the batch (store lane) ---- */

/*
 * Writes of more than one statement run in a savepoint, so that a failure
 * halfway undoes the first half.  A single statement needs none: SQLite
 * undoes a failed statement by itself, and a savepoint pair costs as much
 * as a small insert.  A run's write is two statements that can fail on
 * their own only when it carries output (the run's row, then the output
 * row, which may be too big); its prune fails only as the whole batch
 * does.
 */
static const bool op_multi[STORE_OP_COUNT] = {
	[STORE_RUN_ADD] = true,
	[STORE_RUN_UPDATE] = true,
};

static int write_one(struct store *s, struct store_req *r)
{
	int rc;
	if (!op_multi[r->op] || !r->run.output)
		return op_table[r->op](s, r);
	if ((rc = step_done(s->st[ST_SAVEPOINT])) != SQLITE_OK)
		return op_fail(s, rc);
	int e = op_table[r->op](s, r);
	if (s->b.status)
		return e; /* the whole transaction is rolled back */
	if (e < 0 && (rc = step_done(s->st[ST_ROLLBACK_TO])) != SQLITE_OK)
		return op_fail(s, rc);
	if ((rc = step_done(s->st[ST_RELEASE])) != SQLITE_OK)
		return op_fail(s, rc);
	return e;
}

static void fail_writes(struct batch *b, int status)
{
	for (struct store_req *r = b->head; r; r = r->next)
		if (is_write(r->op) && r->status == 0)
			r->status = status;
}

static void batch_writes(struct store *s, struct batch *b)
{
	uint64_t t0 = mono_ns();
	int64_t changes0 = sqlite3_total_changes64(s->db);
	int rc;

	if (s->degraded) {
		fail_writes(b, -EROFS);
		return;
	}
	b->writing = true;
	if ((rc = step_done(s->st[ST_BEGIN])) != SQLITE_OK)
		op_fail(s, rc);
	for (struct store_req *r = b->head; r && !b->status; r = r->next)
		if (is_write(r->op))
			r->status = write_one(s, r);
	if (!b->status && (rc = step_done(s->st[ST_COMMIT])) != SQLITE_OK)
		op_fail(s, rc);
	b->writing = false;
	if (b->status) {
		if (!sqlite3_get_autocommit(s->db))
			step_done(s->st[ST_ROLLBACK]);
		fail_writes(b, b->status);
		return;
	}
	b->rows = (uint64_t)(sqlite3_total_changes64(s->db) - changes0);
	b->commit_ns = mono_ns() - t0;
}

static uint64_t file_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int batch_work(void *ud)
{
	struct store *s = ud;
	struct batch *b = &s->b;
	if (b->nwrites)
		batch_writes(s, b);
	for (struct store_req *r = b->head; r; r = r->next)
		if (!is_write(r->op))
			r->status = op_table[r->op](s, r);
	b->db_bytes = file_bytes(s->path);
	b->wal_bytes = file_bytes(s->wal_path);
	return 0;
}

/* ---- the batch (loop thread) ---- */

static void complete_all(struct store_req *list)
{
	while (list) {
		struct store_req *r = list;
		list = r->next; /* done may free or resubmit r */
		r->next = NULL;
		r->done(r, r->status);
	}
}

static void note_failure(struct store *s, const struct batch *b)
{
	s->stats.failed_batches++;
	s->stats.last_error = b->status;
	/* Corruption has its own message, and a degraded store refuses
	 * writes on purpose: neither is a failure to retry. */
	if (s->failing || b->status == -EROFS || b->status == -STORE_ECORRUPT)
		return;
	s->failing = true;
	log_warnx("store: writing %zu requests to %s failed: %s; none was "
		  "acknowledged.  Writes are tried again with each new request"
		  "%s",
		  b->nwrites, s->path, strerror(-b->status),
		  b->status == -ENOSPC ? "; free space on its file system"
				       : "");
}

static void note_corrupt(struct store *s)
{
	if (s->degraded)
		return;
	s->degraded = true;
	log_msg(LOGL_ERR, NULL,
		"store: %s is corrupt: loopd is degraded, refuses every change "
		"and still answers reads.  Stop loopd, keep a copy of the file, "
		"then restore a backup or salvage it with `sqlite3 %s .recover "
		"| sqlite3 NEW.db`",
		s->path, s->path);
}

static void account(struct store *s, const struct batch *b)
{
	s->stats.writes += b->nwrites;
	s->stats.reads += b->nreads;
	s->stats.db_bytes = b->db_bytes;
	s->stats.wal_bytes = b->wal_bytes;
	if (b->corrupt)
		note_corrupt(s);
	if (!b->nwrites)
		return;
	if (b->status) {
		note_failure(s, b);
		return;
	}
	if (s->failing)
		log_info("store: writes to %s succeed again", s->path);
	s->failing = false;
	s->stats.commits++;
	s->stats.rows += b->rows;
	hist_add(&s->batch_hist, b->nwrites);
	hist_add(&s->commit_hist, b->commit_ns / 1000);
}

static void kick(struct store *s);

static void batch_done(loopd_plugin *p, void *ud, int status)
{
	struct store *s = ud;
	struct store_req *list = s->b.head;
	if (status == -ECANCELED) /* cancelled before it ran */
		for (struct store_req *r = list; r; r = r->next)
			r->status = -ECANCELED;
	else
		account(s, &s->b);
	s->b.head = NULL;
	/* Still busy while the callbacks run: what they submit is queued
	 * for the kick below, not for an immediate of its own. */
	complete_all(list);
	s->busy = false;
	kick(s);
}

/* Sends everything pending as one batch, unless one is in flight. */
static void kick(struct store *s)
{
	struct batch *b = &s->b;
	if (s->busy || !s->pend_head)
		return;
	*b = (struct batch){ .head = s->pend_head, .seq = ++s->batch_seq };
	for (struct store_req *r = b->head; r; r = r->next) {
		r->batch = b->seq;
		if (is_write(r->op))
			b->nwrites++;
		else
			b->nreads++;
	}
	s->pend_head = NULL;
	s->pend_tail = &s->pend_head;
	s->npend = 0;
	s->busy = true;
	loopd_id id = loop_submit_store(s->loop, batch_work, batch_done, s);
	if (id < 0) {
		struct store_req *list = b->head;
		s->busy = false;
		b->head = NULL;
		for (struct store_req *r = list; r; r = r->next)
			r->status = (int)id;
		complete_all(list);
	}
}

static void kick_cb(loopd_plugin *p, void *ud)
{
	struct store *s = ud;
	s->kick_queued = false;
	kick(s);
}

/* ---- runtime API (loop thread) ---- */

static bool enum_ok(int v, int n)
{
	return v >= 0 && v < n;
}

static bool job_ok(const struct store_job *j, bool full)
{
	if (!j->name)
		return false;
	return !full || (j->kind && enum_ok(j->state, STORE_JOB_STATE_COUNT) &&
			 enum_ok(j->overlap, STORE_OVERLAP_COUNT) &&
			 enum_ok(j->catchup, STORE_CATCHUP_COUNT) &&
			 enum_ok(j->last_result + 1, STORE_RESULT_COUNT + 1));
}

static bool req_ok(const struct store_req *r)
{
	switch (r->op) {
	case STORE_JOB_ADD:
	case STORE_JOB_UPDATE: return job_ok(&r->job, true);
	case STORE_JOB_DELETE:
	case STORE_JOB_GET: return job_ok(&r->job, false);
	case STORE_RUN_ADD:
		if (!r->run.job ||
		    !enum_ok(r->run.trigger, STORE_TRIGGER_COUNT))
			return false;
		/* fall through */
	case STORE_RUN_UPDATE:
		return enum_ok(r->run.result, STORE_RESULT_COUNT) &&
		       (r->run.output || !r->run.output_len);
	case STORE_RUN_DELETE: return r->run.id > 0;
	case STORE_RUN_LIST:
		return enum_ok(r->filter.result + 1, STORE_RESULT_COUNT + 1);
	case STORE_PRUNE:
	case STORE_JOB_LIST:
	case STORE_RUN_GET: return true;
	default: return false;
	}
}

int store_submit(struct store *s, struct store_req *r)
{
	if ((unsigned)r->op >= STORE_OP_COUNT || !r->done || !req_ok(r))
		return -EINVAL;
	if (is_write(r->op) && s->degraded)
		return -EROFS;
	if (!s->busy && !s->kick_queued) {
		loopd_id id = loop_immediate(s->loop, NULL, kick_cb, s);
		if (id < 0)
			return (int)id;
		s->kick_id = id;
		s->kick_queued = true;
	}
	if (r->op == STORE_RUN_ADD)
		r->run.id = s->next_run_id++;
	r->status = 0;
	r->changes = 0;
	r->next = NULL;
	*s->pend_tail = r;
	s->pend_tail = &r->next;
	s->npend++;
	return 0;
}

void store_req_init(struct store_req *r, enum store_op op)
{
	*r = (struct store_req){ .op = op };
	store_job_init(&r->job);
	store_run_init(&r->run);
	r->filter.result = STORE_RESULT_NONE;
	r->filter.before_id = STORE_NULL;
}

void store_req_clear(struct store_req *r)
{
	store_job_clear(&r->job);
	store_run_clear(&r->run);
	free(r->filter.job);
	r->filter.job = NULL;
	for (size_t i = 0; i < r->njobs; i++)
		store_job_clear(&r->jobs[i]);
	for (size_t i = 0; i < r->nruns; i++)
		store_run_clear(&r->runs[i]);
	free(r->jobs);
	free(r->runs);
	r->jobs = NULL;
	r->runs = NULL;
	r->njobs = r->nruns = 0;
}

bool store_err_is_storage(int err)
{
	return err == -ENOSPC || err == -EIO || err == -ENOMEM ||
	       err == -EBUSY || err == -STORE_ECORRUPT || err == -EROFS;
}

bool store_degraded(const struct store *s)
{
	return s->degraded;
}

bool store_idle(const struct store *s)
{
	return !s->busy && !s->pend_head;
}

void store_stats(const struct store *s, struct store_stats *out)
{
	*out = s->stats;
	out->batch_p50 = hist_quantile(&s->batch_hist, 0.5);
	out->batch_p99 = hist_quantile(&s->batch_hist, 0.99);
	out->batch_max = s->batch_hist.max;
	out->commit_p50_us = hist_quantile(&s->commit_hist, 0.5);
	out->commit_p99_us = hist_quantile(&s->commit_hist, 0.99);
	out->commit_max_us = s->commit_hist.max;
	out->queued = s->npend;
	out->degraded = s->degraded;
}

/* ---- startup ---- */

void store_opts_default(struct store_opts *o)
{
	*o = (struct store_opts){ .runs_keep = STORE_RUNS_KEEP,
				  .output_cap = STORE_OUTPUT_CAP,
				  .busy_timeout_ms = STORE_BUSY_MS };
}

int store_exit_status(int err)
{
	if (err == -STORE_ECORRUPT || err == -STORE_EFOREIGN ||
	    err == -STORE_ENEWER)
		return STORE_EXIT_DATA;
	return 1;
}

void store_info(const struct store *s, struct store_info *out)
{
	*out = s->info;
}

__attribute__((format(printf, 3, 4))) static int fail(struct store *s, int e,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return e;
}

static int foreign(struct store *s, const char *why)
{
	return fail(s, -STORE_EFOREIGN,
		    "%s is not a loopd database (%s); loopd left it untouched. "
		    "Use another --state-dir, or move the file away (with "
		    "%s-wal if there is one) to start with no jobs",
		    s->path, why, s->path);
}

static int corrupt(struct store *s, const char *why)
{
	return fail(s, -STORE_ECORRUPT,
		    "the database %s is damaged (%s); loopd left it untouched. "
		    "Keep a copy of it (and of %s-wal if there is one).  Then "
		    "restore a copy loopd made before a migration (%s.vN.bak) "
		    "if there is one, or salvage what is readable with "
		    "`sqlite3 %s .recover | sqlite3 %s.recovered` and check "
		    "the result (`sqlite3 %s.recovered 'SELECT count(*) FROM "
		    "jobs'`) before moving it in place; remove %s-wal and "
		    "%s-shm first.  Moving it away starts with no jobs",
		    s->path, why, s->path, s->path, s->path, s->path, s->path,
		    s->path, s->path);
}

static int newer(struct store *s, int64_t version)
{
	return fail(s, -STORE_ENEWER,
		    "the database %s has schema version %" PRId64 ", but this "
		    "loopd knows versions up to %d: a newer loopd wrote it. "
		    "loopd left it untouched.  Run that newer loopd, or "
		    "restore the copy made before it migrated (%s.v%d.bak)",
		    s->path, version, s->latest, s->path, s->latest);
}

/* What to do when the disk is full, or "" when rc is not that.  SQLite
 * calls a full disk met while growing the -shm or -wal at open a "disk
 * I/O error" (SQLITE_IOERR_SHMSIZE, _WRITE); the system's error says
 * which it was. */
static const char *full_hint(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;
	if ((rc & 0xff) == SQLITE_FULL)
		return "; free space on its file system and start again";
	if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT))
		return "; the disk is full: free space on its file system and "
		       "start again";
	if ((rc & 0xff) == SQLITE_IOERR && sys == EFBIG)
		return "; a file-size limit (ulimit -f) stops it growing: "
		       "raise it and start again";
	return "";
}

/* A failed SQLite call during open: corruption is a refusal, anything
 * else an ordinary start failure. */
static int sqlite_fail(struct store *s, sqlite3 *db, int rc, const char *what)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	if (is_corrupt(rc))
		return corrupt(s, msg);
	int prim = rc & 0xff;
	const char *full = full_hint(db, rc);
	const char *hint =
		*full ? full
		: prim == SQLITE_BUSY || prim == SQLITE_LOCKED
			? "; another process (an open sqlite3 shell?) holds "
			  "a write transaction on it: end that and start again"
		: prim == SQLITE_READONLY
			? "; loopd must be able to write it and its directory "
			  "(file permissions, a read-only file system)"
			: "";
	return fail(s, err_of(rc) ? err_of(rc) : -EIO,
		    "cannot %s the database %s: %s%s", what, s->path, msg,
		    hint);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Step 1: the 100-byte header (sqlite.org/fileformat.html). */
static int check_header(struct store *s, const unsigned char *h, size_t n)
{
	static const char magic[16] = "SQLite format 3";
	char why[64];
	if (memcmp(h, magic, n < 16 ? n : 16) != 0)
		return foreign(s, "not an SQLite database");
	if (n < 100)
		return corrupt(s, "its header is cut short");
	unsigned ps = (unsigned)h[16] << 8 | h[17];
	ps = ps == 1 ? 65536 : ps;
	if (ps < 512 || (ps & (ps - 1)))
		return corrupt(s, "its page size is invalid");
	uint32_t app = be32(h + 68), version = be32(h + 60);
	if (app != 0 && app != STORE_APPLICATION_ID) {
		snprintf(why, sizeof(why), "application_id 0x%08x", app);
		return foreign(s, why);
	}
	if (app == STORE_APPLICATION_ID && version > (uint32_t)s->latest)
		return newer(s, version);
	return 0;
}

/* A WAL without its database would be replayed into a new, empty one:
 * half a database.  Someone moved the file and left its WAL behind. */
static int check_orphan_wal(struct store *s)
{
	if (access(s->wal_path, F_OK) != 0)
		return 0;
	return fail(s, -STORE_ECORRUPT,
		    "%s is missing but its %s is there; loopd left it "
		    "untouched.  Put the database back beside it, or move the "
		    "-wal file away too to start with no jobs",
		    s->path, s->wal_path);
}

static int read_header(struct store *s, bool *fresh)
{
	unsigned char h[100];
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not hang the start. */
	int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		*fresh = true;
		return check_orphan_wal(s);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(s, -e, "cannot open the database %s: %s", s->path,
			    strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return foreign(s, S_ISDIR(st.st_mode) ? "it is a directory"
						      : "not a regular file");
	}
	ssize_t n = pread(fd, h, sizeof(h), 0);
	int e = errno;
	close(fd);
	if (n < 0)
		return fail(s, -e, "cannot read the database %s: %s", s->path,
			    strerror(e));
	if (n)
		return check_header(s, h, (size_t)n);
	/* An empty file with a WAL beside it was truncated from outside
	 * (SQLite writes page 1 before it switches to WAL): SQLite would
	 * delete that WAL, maybe the only copy of the jobs. */
	char wal[4096];
	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (stat(wal, &st) == 0 && st.st_size > 0)
		return corrupt(s, "the file is empty but a non-empty -wal "
				  "is beside it");
	return 0;
}

/* The first column of the first row of sql (0 without a row). */
static int query_i64(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	*v = 0;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Executes sql with ?1 bound to v (if sql has it). */
static int exec_i64(sqlite3 *db, const char *sql, int64_t v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_bind_parameter_count(st))
		sqlite3_bind_int64(st, 1, v);
	rc = step_done(st);
	sqlite3_finalize(st);
	return rc;
}

static void configure(sqlite3 *db, int busy_ms, bool readonly)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, busy_ms);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
	/* A refused file must be left as it was: no checkpoint at close. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, readonly,
			  (int *)NULL);
}

static int integrity(struct store *s, sqlite3 *db, bool full)
{
	char found[512] = "";
	sqlite3_stmt *st;
	const char *sql =
		full ? "PRAGMA integrity_check(8)" : "PRAGMA quick_check(8)";
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		size_t n = strlen(found);
		if (line && strcmp(line, "ok") != 0)
			snprintf(found + n, sizeof(found) - n, "%s%s",
				 n ? "; " : "", line);
		for (char *c = found + n; *c; c++)
			if (*c == '\n')
				*c = ' '; /* one log record, one line */
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(s, db, rc, "check");
	return found[0] ? corrupt(s, found) : 0;
}

/* Step 2: what the header suggested, confirmed through SQLite (which
 * also sees the WAL), and the check. */
static int classify(struct store *s, sqlite3 *db, bool *fresh)
{
	int64_t app, version, nschema, clean = 0;
	int rc = query_i64(db, "PRAGMA application_id", &app);
	if (!rc)
		rc = query_i64(db, "PRAGMA user_version", &version);
	if (!rc)
		rc = query_i64(db, "SELECT count(*) FROM sqlite_schema",
			       &nschema);
	if (rc)
		return sqlite_fail(s, db, rc, "read");
	if ((app == 0 || app == STORE_APPLICATION_ID) && nschema == 0 &&
	    version == 0) {
		*fresh = true; /* empty: nothing in it to lose */
		return 0;
	}
	if (app != STORE_APPLICATION_ID) {
		char why[48];
		snprintf(why, sizeof(why), "application_id 0x%08" PRIx64,
			 (uint64_t)app);
		return foreign(s, why);
	}
	if (version > s->latest)
		return newer(s, version);
	if (version <= 0)
		return corrupt(s, "loopd's application_id without a schema "
				  "version");
	s->info.from_version = (int)version;
	/* No readable flag means no proof of a clean stop. */
	query_i64(db, "SELECT value FROM meta WHERE key = 'clean'", &clean);
	s->info.unclean = clean != 1;
	return integrity(s, db, s->info.unclean);
}

/*
 * A rollback journal left by a write that was killed (the first start's
 * switch to WAL, a power loss) is "hot": SQLite rolls it back at the next
 * read, which a read-only connection cannot do, so the check below would
 * fail for good with "attempt to write a readonly database".  Let a
 * read-write connection do that recovery first; it restores the file as
 * it was before the interrupted write and changes nothing else.
 */
static void recover_hot_journal(struct store *s)
{
	char journal[4096 + 16];
	struct stat st;
	sqlite3 *db = NULL;
	snprintf(journal, sizeof(journal), "%s-journal", s->path);
	if (stat(journal, &st) < 0 || st.st_size == 0)
		return;
	log_info("store: %s: rolling back the journal of an interrupted "
		 "write",
		 s->path);
	if (sqlite3_open_v2(s->path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) == SQLITE_OK)
		sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL,
			     NULL, NULL);
	sqlite3_close(db);
}

static int check_readonly(struct store *s, bool *fresh)
{
	sqlite3 *db = NULL;
	recover_hot_journal(s);
	int rc = sqlite3_open_v2(
		s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	int e;
	if (rc == SQLITE_OK) {
		configure(db, s->opts.busy_timeout_ms, true);
		e = classify(s, db, fresh);
	} else {
		e = sqlite_fail(s, db, rc, "open");
	}
	sqlite3_close(db);
	return e;
}

/* journal_mode answers with the mode it is in, which may not be WAL
 * (a file system without shared memory). */
static int set_wal(struct store *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
				    NULL);
	bool wal = false;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode && strcmp(mode, "wal") == 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc)
		return sqlite_fail(s, s->db, rc, "set up");
	if (!wal)
		return fail(s, -EIO,
			    "cannot put the database %s in WAL mode; "
			    "is its file system a local one?",
			    s->path);
	return 0;
}

/* Step 3: the writer connection. */
static int open_writer(struct store *s)
{
	static const char *const pragmas[] = {
		"PRAGMA synchronous = FULL",
		("PRAGMA journal_size_limit = " WAL_SIZE_LIMIT),
		"PRAGMA foreign_keys = OFF", /* on after the migrations */
		/* 64 MiB, not SQLite's 2 MiB: the runs table and its
		 * indexes outgrow that within seconds of a busy fleet, and
		 * every insert then reads pages back from the file. */
		"PRAGMA cache_size = -65536",
	};
	int rc = sqlite3_open_v2(s->path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(s, s->db, rc, "open");
	configure(s->db, s->opts.busy_timeout_ms, false);
	int e = set_wal(s);
	for (size_t i = 0; !e && i < sizeof(pragmas) / sizeof(*pragmas); i++)
		if ((rc = sqlite3_exec(s->db, pragmas[i], NULL, NULL, NULL)))
			e = sqlite_fail(s, s->db, rc, "set up");
	return e;
}

/* fsync of a file, or of a directory after a rename in it. */
static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return e;
}

/* VACUUM INTO makes a consistent copy but does not sync it: the copy is
 * synced, then renamed into place, so a crash leaves no half copy under
 * the final name. */
static int backup(struct store *s, int from)
{
	char tmp[sizeof(s->info.backup) + 8], dir[sizeof(tmp)];
	sqlite3_stmt *st;
	snprintf(s->info.backup, sizeof(s->info.backup), "%s.v%d.bak", s->path,
		 from);
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->info.backup);
	if (unlink(tmp) < 0 && errno != ENOENT)
		return fail(s, -errno, "cannot remove %s: %s", tmp,
			    strerror(errno));
	int rc = sqlite3_prepare_v2(s->db, "VACUUM INTO ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
		rc = step_done(st);
	}
	sqlite3_finalize(st);
	if (rc)
		return sqlite_fail(s, s->db, rc, "copy before migrating");
	snprintf(dir, sizeof(dir), "%s", tmp);
	int e = sync_path(tmp);
	if (!e && rename(tmp, s->info.backup) < 0)
		e = -errno;
	if (!e)
		e = sync_path(dirname(dir));
	if (e)
		return fail(s, e,
			    "cannot write the copy %s: %s; nothing was "
			    "migrated",
			    s->info.backup, strerror(-e));
	return 0;
}

/* One migration, one transaction: a crash leaves the old version or the
 * new one, never a mix. */
static int apply(struct store *s, const struct store_migration *m)
{
	char set[128], msg[256] = "";
	int64_t bad = 0;
	snprintf(set, sizeof(set),
		 "PRAGMA application_id = %d; PRAGMA user_version = %d",
		 STORE_APPLICATION_ID, m->version);
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (!rc)
		rc = sqlite3_exec(s->db, m->sql, NULL, NULL, NULL);
	if (!rc)
		rc = sqlite3_exec(s->db, set, NULL, NULL, NULL);
	if (!rc &&
	    !(rc = query_i64(s->db,
			     "SELECT count(*) FROM "
			     "pragma_foreign_key_check",
			     &bad)) &&
	    bad)
		rc = SQLITE_CONSTRAINT_FOREIGNKEY;
	if (!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		s->info.version = m->version;
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s%s",
		 bad ? "it breaks foreign keys" : sqlite3_errmsg(s->db),
		 bad ? "" : full_hint(s->db, rc));
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return fail(s, err_of(rc) ? err_of(rc) : -EIO,
		    "migration %03d_%s.sql of %s failed: %s; the database "
		    "stays at schema version %d",
		    m->version, m->name, s->path, msg, s->info.version);
}

static int migrate(struct store *s)
{
	const struct store_migration *m = s->opts.migrations;
	int from = s->info.from_version, e = 0;
	s->info.version = from;
	if (from >= s->latest)
		return 0;
	if (from > 0 && (e = backup(s, from)) < 0)
		return e;
	for (size_t i = 0; !e && i < s->opts.nmigrations; i++)
		if (m[i].version > from)
			e = apply(s, &m[i]);
	if (!e && from > 0)
		log_info("store: %s migrated from schema version %d to %d",
			 s->path, from, s->latest);
	else if (!e)
		log_info("store: created %s (schema version %d)", s->path,
			 s->latest);
	return e;
}

#define SET_CLEAN                                             \
	"INSERT INTO meta (key, value) VALUES ('clean', ?1) " \
	"ON CONFLICT (key) DO UPDATE SET value = excluded.value"

static int finish_open(struct store *s)
{
	int rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL,
			      NULL);
	for (int i = 0; !rc && i < ST_COUNT; i++)
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
	if (rc)
		return sqlite_fail(s, s->db, rc, "prepare statements on");
	if ((rc = exec_i64(s->db, SET_CLEAN, 0)) != 0)
		return sqlite_fail(s, s->db, rc, "mark as open");
	rc = query_i64(s->db,
		       "SELECT max(coalesce((SELECT seq FROM "
		       "sqlite_sequence WHERE name = 'runs'), 0), "
		       "coalesce((SELECT max(id) FROM runs), 0)) + 1",
		       &s->next_run_id);
	return rc ? sqlite_fail(s, s->db, rc, "read the next run id from") : 0;
}

static void store_free(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s->path);
	free(s->wal_path);
	free(s);
}

static int store_new(struct store **out, struct loop *l, const char *path,
		     const struct store_opts *opts)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (opts)
		s->opts = *opts;
	else
		store_opts_default(&s->opts);
	if (!s->opts.migrations) {
		s->opts.migrations = store_schema;
		s->opts.nmigrations = store_schema_count;
	}
	if (s->opts.output_cap < 4 * MARKER_MAX)
		s->opts.output_cap = 4 * MARKER_MAX;
	if (s->opts.busy_timeout_ms <= 0)
		s->opts.busy_timeout_ms = STORE_BUSY_MS;
	s->latest =
		s->opts.nmigrations
			? s->opts.migrations[s->opts.nmigrations - 1].version
			: 0;
	s->loop = l;
	s->pend_tail = &s->pend_head;
	s->path = strdup(path);
	if (!s->path || asprintf(&s->wal_path, "%s-wal", path) < 0) {
		free(s->path);
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

int store_open(struct store **out, struct loop *l, const char *path,
	       const struct store_opts *opts, char *err, size_t errlen)
{
	struct store *s;
	bool fresh = false;
	int e = store_new(&s, l, path, opts);
	if (e) {
		snprintf(err, errlen, "cannot open %s: out of memory", path);
		return e;
	}
	s->err = err;
	s->errlen = errlen;
	err[0] = 0;
	e = read_header(s, &fresh);
	if (!e && !fresh)
		e = check_readonly(s, &fresh);
	if (!e)
		e = open_writer(s);
	if (!e)
		e = migrate(s);
	if (!e)
		e = finish_open(s);
	s->err = NULL;
	if (e) {
		store_free(s);
		return e;
	}
	*out = s;
	return 0;
}

/*
 * In table order (no ORDER BY: the scheduler indexes by hash, and a walk
 * of the name index into the table costs a random read per row).  The
 * walk reads the whole table once: it is not left in the writer's page
 * cache (64 MiB, meant for the runs), which would hold a copy of the jobs
 * next to the scheduler's.
 */
static int load_rows(struct store *s, store_job_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	struct store_job j;
	int e = 0;
	int rc = sqlite3_prepare_v2(s->db, "SELECT " JOB_COLS " FROM jobs", -1,
				    &st, NULL);
	if (rc)
		return err_of(rc);
	while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((e = job_from_row(st, &j)) < 0)
			break;
		e = fn(ctx, &j);
		store_job_clear(&j);
	}
	if (!e && rc != SQLITE_DONE)
		e = err_of(rc);
	sqlite3_finalize(st);
	return e;
}

int store_load_jobs(struct store *s, store_job_fn fn, void *ctx)
{
	int64_t cache = 0;
	char sql[64]; /* a pragma takes no parameters */
	int rc = query_i64(s->db, "PRAGMA cache_size", &cache);
	if (!rc)
		rc = exec_i64(s->db, "PRAGMA cache_size = -2048", 0);
	if (rc)
		return err_of(rc);
	int e = load_rows(s, fn, ctx);
	sqlite3_db_release_memory(s->db);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = %" PRId64, cache);
	rc = exec_i64(s->db, sql, 0);
	return e ? e : rc ? err_of(rc) : 0;
}

int64_t store_mark_interrupted(struct store *s, int64_t now_usec)
{
	int rc = exec_i64(s->db,
			  "UPDATE runs SET result = 'interrupted', "
			  "finished_usec = coalesce(finished_usec, ?1) "
			  "WHERE result IN ('starting', 'running')",
			  now_usec);
	return rc ? err_of(rc) : sqlite3_changes64(s->db);
}

int store_check(struct store *s, bool full, char *err, size_t errlen)
{
	s->err = err;
	s->errlen = errlen;
	err[0] = 0;
	int e = integrity(s, s->db, full);
	s->err = NULL;
	return e;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->kick_queued)
		loop_close(s->loop, NULL, s->kick_id, NULL);
	if (s->busy) {
		log_warnx("store: %s closed with a batch in flight; its "
			  "connection is left open",
			  s->path);
		return;
	}
	struct store_req *list = s->pend_head;
	for (struct store_req *r = list; r; r = r->next)
		r->status = -ECANCELED;
	s->pend_head = NULL;
	complete_all(list);
	int rc = s->degraded ? SQLITE_CORRUPT : exec_i64(s->db, SET_CLEAN, 1);
	if (!rc) {
		/* A reader (an sqlite3 shell) may keep the WAL from being
		 * truncated: the data is safe, the next start checkpoints. */
		int log_frames = 0, done_frames = 0;
		sqlite3_busy_timeout(s->db, 200);
		int ck = sqlite3_wal_checkpoint_v2(s->db, NULL,
						   SQLITE_CHECKPOINT_TRUNCATE,
						   &log_frames, &done_frames);
		if (ck != SQLITE_OK || log_frames != done_frames)
			log_info("store: %s: another process reads the "
				 "database, so its WAL was not checkpointed; "
				 "the next start does it",
				 s->path);
	}
	if (rc)
		log_warnx("store: %s was not closed cleanly (%s); the next "
			  "start runs a full integrity check",
			  s->path,
			  s->degraded ? "degraded" : sqlite3_errstr(rc));
	store_free(s);
}
