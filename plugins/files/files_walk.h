/*
 * files_walk.h - one run of the files kind, the part that runs on a
 * worker thread: walks the tree under args.dir and deletes or moves the
 * files older than the age that match the globs, or says what it would.
 *
 * Threads: files_job_run runs on a pool thread and touches everything in
 * the job; files_job_stop may be called from the loop thread at any time
 * between files_job_init and files_job_free, and touches only `stop`.
 */
#ifndef FILES_WALK_H
#define FILES_WALK_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "files_args.h"
#include "sbuf.h"

/* Lines of the output, one per file acted on (or error); past it they
 * are only counted. */
#define FILES_MAX_LINES      500
/* Directories deeper than this below args.dir are not walked (an error
 * each): every level holds a descriptor or two. */
#define FILES_MAX_DEPTH      100
#define FILES_MAX_DEPTH_TEXT "100"

struct files_job {
	struct files_args a; /* owned; read-only once submitted */
	atomic_bool stop;    /* set by files_job_stop */

	/* The rest is the worker's. */
	struct timespec cutoff; /* mtime before this: old */
	dev_t dev;              /* of args.dir: mount points not crossed */
	int archive_fd;         /* args.archive, or -1 */
	dev_t archive_dev;      /* the archive, never walked into */
	ino_t archive_ino;
	char *copybuf; /* for a move across filesystems */
	uint64_t acted, bytes, skipped, errors, dirs_removed;
	uint64_t scanned, dirs; /* files and directories looked at */
	uint64_t lines, lines_dropped;
	struct sbuf out; /* the output, taken by the loop */
};

/* Takes a (owned by the job from now on); 0 or -errno. */
int files_job_init(struct files_job *j, struct files_args *a);

/* Worker thread.  0 with no error, 1 with errors (each one a line of the
 * output), -ECANCELED when stopped. */
int files_job_run(struct files_job *j);

/* Any thread: asks the walk to end at the next entry. */
void files_job_stop(struct files_job *j);

void files_job_free(struct files_job *j);

#endif /* FILES_WALK_H */
