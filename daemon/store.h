/*
 * store.h - the store: jobs and runs in SQLite, the one module with SQL in
 * it (the seam where a PostgreSQL store will go, ARCHITECTURE.md).
 *
 * Two halves with different threading:
 *
 *   Startup, synchronous, on the main thread before the loop runs:
 *   store_open (checks, backup, migrations), store_load_jobs,
 *   store_mark_interrupted.  Shutdown: store_close.
 *
 *   Runtime, asynchronous: the caller fills a struct store_req and hands
 *   it to store_submit.  Requests queued during one loop iteration go to
 *   the store lane (loop_submit_store) as one batch: every write of the
 *   batch in one transaction (group commit), then the batch's reads.  Each
 *   request's done callback runs on the loop thread after the COMMIT has
 *   returned: a 0 there means the change is durable (synchronous=FULL).
 *
 * Records mirror PROTOCOL.md's Job and Run.  Strings in a record are owned
 * by it (heap, freed by store_job_clear / store_run_clear).  Nullable
 * integers hold STORE_NULL for null.  Enums are strings in the database
 * (readable with the sqlite3 CLI) and C enums here.
 *
 * Errors are 0 or -errno.  What they mean for the protocol:
 *   -ENOSPC, -EIO, -ENOMEM, -EBUSY   StorageFailed: nothing was written; later
 *                                    writes are tried again (store_err_is_storage)
 *   -EUCLEAN    the database is corrupt: the store is now degraded
 *   -EROFS      refused because the store is degraded (reads still work)
 *   -EEXIST     JOB_ADD: a different job has this name (JobExists)
 *   -ENOENT     no such job / run
 *   -EINVAL     a record the schema refuses (bad enum, missing name)
 *   -ECANCELED  the batch was cancelled before it ran (shutdown)
 */
#ifndef LOOPD_STORE_H
#define LOOPD_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct store;

/* Null for nullable integer fields (timestamps, exit_code, last_run). */
#define STORE_NULL INT64_MIN

/* store_open's refusals: main exits 65 (EX_DATAERR), the file untouched. */
#define STORE_ECORRUPT  EUCLEAN         /* damaged: quick/integrity_check */
#define STORE_EFOREIGN  EMEDIUMTYPE     /* not a loopd database */
#define STORE_ENEWER    EPROTONOSUPPORT /* written by a newer loopd */
#define STORE_EXIT_DATA 65

/* The application_id loopd stamps on its databases ("lpd1"). */
#define STORE_APPLICATION_ID 0x6c706431

/* Defaults of struct store_opts. */
#define STORE_RUNS_KEEP  100
#define STORE_OUTPUT_CAP (64 * 1024)
#define STORE_BUSY_MS    5000

enum store_job_state {
	STORE_JOB_ACTIVE,
	STORE_JOB_PAUSED,
	STORE_JOB_RUNNING,
	STORE_JOB_WAITING, /* "waiting-for-plugin" */
	STORE_JOB_DONE,
	STORE_JOB_STATE_COUNT
};
enum store_overlap {
	STORE_OVERLAP_SKIP,
	STORE_OVERLAP_ALLOW,
	STORE_OVERLAP_QUEUE,
	STORE_OVERLAP_REPLACE,
	STORE_OVERLAP_COUNT
};
enum store_catchup {
	STORE_CATCHUP_ONCE,
	STORE_CATCHUP_SKIP,
	STORE_CATCHUP_ALL,
	STORE_CATCHUP_COUNT
};
enum store_trigger {
	STORE_TRIGGER_SCHEDULE,
	STORE_TRIGGER_MANUAL,
	STORE_TRIGGER_CATCHUP,
	STORE_TRIGGER_RETRY,
	STORE_TRIGGER_COUNT
};
enum store_result {
	STORE_RESULT_NONE = -1, /* null: a job that never ran */
	STORE_RESULT_STARTING,
	STORE_RESULT_RUNNING,
	STORE_RESULT_OK,
	STORE_RESULT_FAILED,
	STORE_RESULT_TIMEOUT,
	STORE_RESULT_INTERRUPTED,
	STORE_RESULT_SKIPPED,
	STORE_RESULT_MISSED,
	STORE_RESULT_CANCELLED,
	STORE_RESULT_COUNT
};

/* The protocol's spelling of each value, indexed by the enum. */
extern const char *const store_job_state_names[STORE_JOB_STATE_COUNT];
extern const char *const store_overlap_names[STORE_OVERLAP_COUNT];
extern const char *const store_catchup_names[STORE_CATCHUP_COUNT];
extern const char *const store_trigger_names[STORE_TRIGGER_COUNT];
extern const char *const store_result_names[STORE_RESULT_COUNT];
/* The index of s in names[0..n), or -1. */
int store_enum_parse(const char *const *names, int n, const char *s);

struct store_job {
	char *name, *kind, *plugin, *schedule, *tz;
	char *args_json; /* canonical JSON (sorted keys, compact) */
	enum store_job_state state;
	enum store_overlap overlap;
	enum store_catchup catchup;
	int64_t timeout_ms, retries, retry_backoff_ms, jitter_ms;
	int64_t next_usec, last_usec;  /* or STORE_NULL */
	enum store_result last_result; /* or STORE_RESULT_NONE */
	int64_t last_run;              /* a run id, or STORE_NULL */
	int64_t created_usec, updated_usec;
};

struct store_run {
	int64_t id;
	char *job; /* the job's name */
	enum store_trigger trigger;
	int64_t attempt;
	int64_t scheduled_usec, started_usec, finished_usec; /* or STORE_NULL */
	enum store_result result;
	int64_t exit_code; /* or STORE_NULL */
	/* The kept output (head and tail, see store_outbuf); NULL when not
	 * loaded (lists) or none.  output_len bytes, plus a NUL. */
	char *output;
	size_t output_len;
	int64_t output_bytes;     /* bytes the run produced */
	int64_t output_truncated; /* of which dropped (0: kept whole) */
};

/* Defaults: nullable fields null, enums their protocol default. */
void store_job_init(struct store_job *j);
void store_run_init(struct store_run *r);
/* Frees the strings and re-initializes. */
void store_job_clear(struct store_job *j);
void store_run_clear(struct store_run *r);
/* Deep copy into *dst (initialized by this call).  0 or -ENOMEM. */
int store_job_copy(struct store_job *dst, const struct store_job *src);
/* Whether a and b agree on every field a client sets in jobs.Add (the
 * "identical job" that makes an Add safe to retry). */
bool store_job_same_settings(const struct store_job *a,
			     const struct store_job *b);

/*
 * Output capping: the first half of cap and the last part are kept, with a
 * line "[loopd: N bytes dropped]" between them; the whole is at most cap
 * bytes.  The scheduler streams a run's output through one of these; the
 * store also caps any output longer than its cap on RUN_UPDATE.
 */
struct store_outbuf {
	size_t cap, head_cap, tail_cap;
	char *buf;  /* cap bytes: all output while it fits, then the head */
	char *tail; /* tail_cap bytes, a ring of the latest output */
	size_t tail_pos, tail_len;
	uint64_t total;
};
/* cap >= 64.  0 or -ENOMEM, -EINVAL. */
int store_outbuf_init(struct store_outbuf *o, size_t cap);
void store_outbuf_append(struct store_outbuf *o, const void *data, size_t len);
/* The kept bytes, NUL-terminated (caller frees), their length and how
 * many were dropped.  The outbuf is empty again afterwards.  0 or
 * -ENOMEM. */
int store_outbuf_take(struct store_outbuf *o, char **out, size_t *len,
		      uint64_t *dropped);
void store_outbuf_free(struct store_outbuf *o);

/* ---- startup and shutdown ---- */

struct store_migration {
	int version; /* 1, 2, ...: NNN of schema/NNN_name.sql */
	const char *name;
	const char *sql;
};
/* schema/ *.sql, embedded by schema/embed.cmake, in version order. */
extern const struct store_migration store_schema[];
extern const size_t store_schema_count;

struct store_opts {
	unsigned runs_keep;        /* runs kept per job; 0: no count limit */
	int64_t runs_max_age_usec; /* finished runs older are pruned; 0: none */
	size_t output_cap;         /* bytes of output kept per run */
	int busy_timeout_ms;
	/* Tests only: migrations to use instead of store_schema. */
	const struct store_migration *migrations;
	size_t nmigrations;
};
/* Fills the defaults above. */
void store_opts_default(struct store_opts *o);

struct store_info {
	int version;       /* schema version after migrations */
	int from_version;  /* before them (0: a new database) */
	bool unclean;      /* the last stop was not clean: full check ran */
	char backup[4096]; /* copy made before migrating, or "" */
};

/*
 * Opens (creating if absent) the database at path: checks it is loopd's
 * own (application_id), not newer than this binary, and sound
 * (quick_check, or integrity_check after an unclean stop) with a
 * read-only connection before anything writes to it; then sets WAL,
 * synchronous=FULL, foreign_keys, the defensive flags, copies the file
 * (VACUUM INTO path.vN.bak) and applies the missing migrations, each in
 * its own transaction.  opts may be NULL (defaults).  l: the loop whose
 * store lane runs the requests.  Main thread, before loop_run.
 *
 * 0, or -errno with a message in err that says what failed and what to
 * do: -STORE_ECORRUPT, -STORE_EFOREIGN, -STORE_ENEWER (the file is left
 * untouched; see store_exit_status), anything else is an ordinary start
 * failure (permissions, a full disk, a failing migration).
 */
int store_open(struct store **out, struct loop *l, const char *path,
	       const struct store_opts *opts, char *err, size_t errlen);
/* 65 (EX_DATAERR) for the refusals above, 1 for anything else. */
int store_exit_status(int err);
void store_info(const struct store *s, struct store_info *out);

/* Called once per job, in no particular order.  The callback may move
 * *job's strings into its own storage (and NULL them); what is left is
 * freed.  A non-zero return stops the walk and is returned. */
typedef int (*store_job_fn)(void *ctx, struct store_job *job);
/* Main thread, before loop_run.  0, the callback's value, or -errno. */
int store_load_jobs(struct store *s, store_job_fn fn, void *ctx);
/* Runs left starting or running by the last stop become interrupted,
 * finished at now_usec if they have no finish time.  Main thread, before
 * loop_run.  How many, or -errno. */
int64_t store_mark_interrupted(struct store *s, int64_t now_usec);
/* PRAGMA integrity_check (full) or quick_check, synchronously.  Only
 * while the store is idle (startup, tests).  0, -STORE_ECORRUPT with the
 * first problems in err, or -errno. */
int store_check(struct store *s, bool full, char *err, size_t errlen);

/* No request queued or in flight. */
bool store_idle(const struct store *s);
/*
 * Marks the stop clean, checkpoints (truncating the WAL) and closes.
 * Call it on the loop thread once store_idle() (run the loop until then:
 * an in-flight batch keeps it alive), before loop_free.  Requests still
 * queued get done(-ECANCELED).  A degraded store is closed without the
 * clean mark, so the next start runs integrity_check.
 */
void store_close(struct store *s);

/* ---- runtime requests ---- */

enum store_op {
	/* Writes: one transaction per batch, each op all-or-nothing. */
	STORE_JOB_ADD,    /* in: job.  An identical job (same settings) of
			   * that name is success with changes = 0 and the
			   * stored job in job; a different one -EEXIST. */
	STORE_JOB_UPDATE, /* in: job; replaces the row named job.name */
	STORE_JOB_DELETE, /* in: job.name; its runs go with it */
	STORE_RUN_ADD,    /* in: run (run.job names the job); run.id is set
			   * by store_submit; prunes that job's history */
	STORE_RUN_UPDATE, /* in: run.id; sets started, finished, result,
			   * exit_code; and output, output_bytes and
			   * output_truncated when run.output is set */
	STORE_PRUNE,      /* every job's history, by count and age;
			   * changes = runs deleted */
	STORE_RUN_DELETE, /* in: run.id; the run (and its output) goes, as
			   * if it never was: the scheduler's runs prepared
			   * ahead of their time that did not start.
			   * -ENOENT when there is no such run */
	/* Reads: after the batch's commit, so they see committed state. */
	STORE_JOB_GET,  /* in: job.name; out: job */
	STORE_JOB_LIST, /* out: jobs, njobs (name order) */
	STORE_RUN_GET,  /* in: run.id; out: run, with output */
	STORE_RUN_LIST, /* in: filter; out: runs, nruns (newest first,
			   * without output) */
	STORE_OP_COUNT
};

struct store_req;
/* Loop thread.  status is 0 or -errno (above).  The request is the
 * caller's again: it may free it, or reuse it for another submit. */
typedef void (*store_done_fn)(struct store_req *req, int status);

struct store_run_filter {
	char *job;                /* a job name, or NULL for all (owned) */
	enum store_result result; /* or STORE_RESULT_NONE for any */
	int64_t before_id;        /* only ids below, or STORE_NULL */
	unsigned limit;           /* 0: 20 */
};

/*
 * A request.  The caller owns the memory; between store_submit and done
 * the store reads and writes it and the caller must not touch it.
 * store_req_clear frees every string and result inside it.
 */
struct store_req {
	enum store_op op;
	struct store_job job;
	struct store_run run;
	struct store_run_filter filter;
	/* Out. */
	struct store_job *jobs;
	struct store_run *runs;
	size_t njobs, nruns;
	int64_t changes; /* rows the op changed */
	uint64_t batch;  /* the sequence number of its batch (1, 2, ...) */
	store_done_fn done;
	void *ud;
	/* Private to the store. */
	struct store_req *next;
	int status;
};

void store_req_init(struct store_req *r, enum store_op op);
void store_req_clear(struct store_req *r);

/*
 * Loop thread.  Queues req (r->done must be set).  0: done will be
 * called, after the commit of the batch it goes in, never from inside
 * store_submit.  -errno: refused at once and done will not be called:
 * -EINVAL (a malformed request), -EROFS (a write while degraded).
 */
int store_submit(struct store *s, struct store_req *req);

/* Whether err means the write was not made for a storage reason
 * (StorageFailed): ENOSPC, EIO, ENOMEM, EBUSY, EUCLEAN, EROFS. */
bool store_err_is_storage(int err);

/* ---- state and stats ---- */

/* Corruption was met at runtime: writes are refused, reads go on. */
bool store_degraded(const struct store *s);

struct store_stats {
	uint64_t commits;        /* batches committed */
	uint64_t failed_batches; /* batches whose writes failed as one */
	uint64_t writes, reads;  /* requests completed */
	uint64_t rows;           /* rows changed by committed batches */
	uint64_t batch_p50, batch_p99, batch_max; /* writes per commit */
	uint64_t commit_p50_us, commit_p99_us, commit_max_us;
	uint64_t db_bytes, wal_bytes; /* after the latest batch */
	uint64_t queued;              /* requests waiting for a batch */
	bool degraded;
	int last_error; /* -errno of the latest failed batch, or 0 */
};
/* Loop thread. */
void store_stats(const struct store *s, struct store_stats *out);

#endif
