/*
 * sql_exec.h - one run of the sql kind, the part that runs on a worker
 * thread: opens the database (never creating it), runs the statements in
 * order and writes the rows and a summary into the output.
 *
 * Threads: sql_job_run runs on a pool thread and touches everything in
 * the job; sql_job_stop runs on the loop thread, at any time between
 * sql_job_init and sql_job_free, and touches only `stop` and, under `mu`,
 * `db` (sqlite3_interrupt is thread-safe while the connection is open;
 * the mutex keeps the worker from closing it meanwhile).
 */
#ifndef SQL_EXEC_H
#define SQL_EXEC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>

#include "sbuf.h"
#include "sql_args.h"

/* At most this many rows of each statement go into the output; the rest
 * are counted in a note. */
#define SQL_MAX_ROWS       1000
/* At most this many bytes of rows in all; the summary always follows. */
#define SQL_MAX_ROW_BYTES  (1024 * 1024)
/* The longest SQL file read (args.file). */
#define SQL_MAX_FILE_BYTES (16 * 1024 * 1024)
#define SQL_MAX_FILE_TEXT  "16 MiB"
/* A statement is shown in the summary by its first this many chars. */
#define SQL_PREVIEW_CHARS  60

struct sql_job {
	struct sql_args a; /* owned; read-only once submitted */
	atomic_bool stop;  /* set by sql_job_stop */
	pthread_mutex_t mu;
	sqlite3 *db;         /* under mu: the open connection, or NULL */
	uint64_t busy_since; /* worker: start of the current lock wait */
	size_t row_bytes;    /* worker: bytes of rows written so far */
	struct sbuf out;     /* worker: the output, taken by the loop */
};

/* Takes a (owned by the job from now on); 0 or -errno. */
int sql_job_init(struct sql_job *j, struct sql_args *a);

/* Worker thread.  0 when every statement ran, 1 when one failed (or the
 * database or file could not be opened), -ECANCELED when stopped; the
 * output says what happened either way. */
int sql_job_run(struct sql_job *j);

/* Loop thread (any thread, in fact): asks the run to end soon. */
void sql_job_stop(struct sql_job *j);

void sql_job_free(struct sql_job *j);

#endif /* SQL_EXEC_H */
