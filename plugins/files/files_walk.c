/*
 * files_walk.c - one run of the files kind on a worker thread (see
 * files_walk.h): tmpreaper or systemd-tmpfiles' age cleanup, as a job.
 *
 * The tree is walked through directory descriptors only: every entry is
 * looked at with fstatat(AT_SYMLINK_NOFOLLOW) relative to its directory's
 * descriptor, a subdirectory is opened with openat(O_NOFOLLOW |
 * O_DIRECTORY) and checked to be the directory that was looked at, and
 * files go with unlinkat or renameat2 on the same descriptor.  No path is
 * ever built from names and handed to the kernel, so a name cannot lead
 * out of the tree, and a symlink is never followed: a symlink is itself a
 * candidate (by its own mtime) and is removed or moved as a link.  Only
 * args.dir and args.archive themselves are opened by path, following
 * symlinks there: they are the admin's own words.
 *
 * What is walked: args.dir, and its subdirectories when recursive, but
 * not other filesystems mounted below it (like find -xdev) and not the
 * archive directory should it lie inside the tree.  What goes: regular
 * files and symlinks whose base name matches a glob (all when there are
 * none) and whose mtime is older than the cutoff; other matching files
 * (fifos, sockets, devices) and newer ones are counted as skipped.
 * remove_empty_dirs also removes each subdirectory that is empty once
 * its files went, if this run emptied it or its own mtime is old (a new
 * empty directory an application just made stays); args.dir itself
 * always stays.
 *
 * A move keeps the layout: dir/a/b.log goes to archive/a/b.log, the
 * archive's subdirectories made as needed with the source's mode.  It
 * never replaces a file in the archive (RENAME_NOREPLACE): that is an
 * error for the file.  Across filesystems (EXDEV) a regular file is
 * copied (mode, owner as root, times, then fsync) and the original
 * unlinked; a symlink is re-created.
 *
 * Every error is reported (a line) and counted, and the walk goes on;
 * the run's status is 1 if there was any.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files_walk.h"

#define COPY_CHUNK (128 * 1024)

/* A directory being walked; one per level, on the stack. */
struct level {
	struct level *up; /* NULL for args.dir */
	const char *name; /* this directory's name in up */
	const char *rel;  /* for the output: "" or "a/b/", relative */
	int fd;           /* this directory, for the *at() calls */
	int afd;          /* its twin in the archive; -1 until needed */
	mode_t mode;      /* for the twin */
	unsigned depth;   /* 0 for args.dir */
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Output ---- */

/* Whether a line may be written; past FILES_MAX_LINES it is counted. */
static bool line_begin(struct files_job *j)
{
	if (j->lines >= FILES_MAX_LINES) {
		j->lines_dropped++;
		return false;
	}
	j->lines++;
	return true;
}

static void put_path(struct files_job *j, const struct level *lv,
		     const char *name)
{
	if (!*lv->rel && !*name)
		sbuf_add(&j->out, ".", 1); /* args.dir itself */
	sbuf_add_escaped(&j->out, lv->rel, strlen(lv->rel));
	sbuf_add_escaped(&j->out, name, strlen(name));
}

/* "deleted a/b.log (120 bytes)", "deleted a/c (symlink)"; st NULL for
 * a directory: "removed empty directory a/d/". */
static void report(struct files_job *j, const char *verb,
		   const struct level *lv, const char *name,
		   const struct stat *st)
{
	if (!line_begin(j))
		return;
	sbuf_printf(&j->out, "%s ", verb);
	put_path(j, lv, name);
	if (st && S_ISLNK(st->st_mode))
		sbuf_add(&j->out, " (symlink)\n", 11);
	else if (st)
		sbuf_printf(&j->out, " (%lld bytes)\n", (long long)st->st_size);
	else
		sbuf_add(&j->out, "/\n", 2);
}

/* "error: a/b.log: cannot delete: Permission denied"; e 0: no errno. */
static void report_error(struct files_job *j, const struct level *lv,
			 const char *name, const char *what, int e)
{
	char eb[128];
	j->errors++;
	if (!line_begin(j))
		return;
	sbuf_add(&j->out, "error: ", 7);
	put_path(j, lv, name);
	sbuf_printf(&j->out, ": %s%s%s\n", what, e ? ": " : "",
		    e ? strerror_r(e, eb, sizeof(eb)) : "");
}

/* ---- What goes ---- */

static bool is_old(const struct files_job *j, const struct stat *st)
{
	return st->st_mtim.tv_sec < j->cutoff.tv_sec ||
	       (st->st_mtim.tv_sec == j->cutoff.tv_sec &&
		st->st_mtim.tv_nsec < j->cutoff.tv_nsec);
}

static bool matches(const struct files_job *j, const char *name)
{
	if (!j->a.match)
		return true;
	for (char **g = j->a.match; *g; g++)
		if (fnmatch(*g, name, 0) == 0)
			return true;
	return false;
}

/* ---- Moving ---- */

/* lv's twin in the archive, made if need be: a descriptor (lv's, not to
 * be closed) or -errno. */
static int archive_dir(struct files_job *j, struct level *lv)
{
	int pfd;
	if (lv->afd >= 0)
		return lv->afd;
	if (!lv->up)
		return -EBADF; /* no archive: not a move */
	if ((pfd = archive_dir(j, lv->up)) < 0)
		return pfd;
	if (mkdirat(pfd, lv->name, lv->mode & 07777) < 0 && errno != EEXIST)
		return -errno;
	lv->afd = openat(pfd, lv->name,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return lv->afd >= 0 ? lv->afd : -errno;
}

/* renameat2(RENAME_NOREPLACE), or where a filesystem lacks it, a look
 * first; 0 or an errno (EEXIST: the name is taken). */
static int rename_noreplace(int ofd, const char *name, int nfd)
{
	struct stat st;
	if (renameat2(ofd, name, nfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno;
	if (fstatat(nfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return EEXIST;
	return renameat(ofd, name, nfd, name) < 0 ? errno : 0;
}

static int copy_fd(struct files_job *j, int in, int out)
{
	ssize_t n, w;
	if (!j->copybuf && !(j->copybuf = malloc(COPY_CHUNK)))
		return ENOMEM;
	while ((n = read(in, j->copybuf, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (atomic_load(&j->stop))
			return ECANCELED;
		for (ssize_t off = 0; off < n; off += w)
			if ((w = write(out, j->copybuf + off,
				       (size_t)(n - off))) < 0) {
				if (errno != EINTR)
					return errno;
				w = 0;
			}
	}
	return 0;
}

/* A regular file copied into afd: contents, owner (as root), mode and
 * times, then fsync.  0 or an errno; nothing left behind on failure. */
static int copy_file(struct files_job *j, int sfd, const char *name, int afd)
{
	struct stat st;
	int in = openat(sfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
				O_CLOEXEC),
	    out, e = 0;
	if (in < 0)
		return errno;
	if (fstat(in, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode)) /* replaced meanwhile */
		e = EINVAL;
	if (e) {
		close(in);
		return e;
	}
	out = openat(afd, name,
		     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (out < 0) {
		e = errno;
		close(in);
		return e;
	}
	e = copy_fd(j, in, out);
	if (!e && fchown(out, st.st_uid, st.st_gid) < 0 && errno != EPERM)
		e = errno;
	if (!e && fchmod(out, st.st_mode & 07777) < 0)
		e = errno;
	if (!e &&
	    futimens(out, (struct timespec[2]){ st.st_atim, st.st_mtim }) < 0)
		e = errno;
	if (!e && fsync(out) < 0)
		e = errno;
	if (close(out) < 0 && !e)
		e = errno;
	close(in);
	if (e)
		unlinkat(afd, name, 0);
	return e;
}

/* A symlink re-created in afd, with its owner and times where allowed. */
static int copy_link(int sfd, const char *name, int afd, const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(sfd, name, target, sizeof(target));
	if (n < 0)
		return errno;
	if ((size_t)n >= sizeof(target))
		return ENAMETOOLONG;
	target[n] = '\0';
	if (symlinkat(target, afd, name) < 0)
		return errno;
	(void)!fchownat(afd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	(void)!utimensat(afd, name,
			 (struct timespec[2]){ st->st_atim, st->st_mtim },
			 AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* Across filesystems: a copy, then the original unlinked (or, if it
 * cannot be, the copy, so that nothing is there twice). */
static int copy_across(struct files_job *j, int sfd, const char *name, int afd,
		       const struct stat *st)
{
	int e = S_ISLNK(st->st_mode) ? copy_link(sfd, name, afd, st)
				     : copy_file(j, sfd, name, afd);
	if (e)
		return e;
	if (unlinkat(sfd, name, 0) < 0) {
		e = errno;
		unlinkat(afd, name, 0);
	}
	return e;
}

/* 0 moved, 1 an error (reported), -1 gone meanwhile. */
static int move_entry(struct files_job *j, struct level *lv, const char *name,
		      const struct stat *st)
{
	int afd = archive_dir(j, lv), e;
	if (afd < 0) {
		report_error(j, lv, name,
			     "cannot make its directory in the archive", -afd);
		return 1;
	}
	e = rename_noreplace(lv->fd, name, afd);
	if (e == EXDEV)
		e = copy_across(j, lv->fd, name, afd, st);
	if (e == ENOENT)
		return -1;
	if (e == EEXIST)
		report_error(j, lv, name,
			     "not moved: the archive already has that name", 0);
	else if (e)
		report_error(j, lv, name, "cannot move", e);
	return e ? 1 : 0;
}

/* ---- The walk ---- */

/* A file to go: true if it is gone (or would be, in a dry run). */
static bool act(struct files_job *j, struct level *lv, const char *name,
		const struct stat *st)
{
	bool move = j->a.action == FILES_MOVE;
	int r;
	if (j->a.dry_run) {
		r = 0;
	} else if (move) {
		r = move_entry(j, lv, name, st);
	} else if (unlinkat(lv->fd, name, 0) == 0) {
		r = 0;
	} else {
		r = errno == ENOENT ? -1 : 1;
		if (r > 0)
			report_error(j, lv, name, "cannot delete", errno);
	}
	if (r)
		return r < 0;
	j->acted++;
	if (S_ISREG(st->st_mode))
		j->bytes += (uint64_t)st->st_size;
	report(j,
	       j->a.dry_run ? (move ? "would move" : "would delete")
			    : (move ? "moved" : "deleted"),
	       lv, name, st);
	return true;
}

/* An empty subdirectory: true if removed (or would be). */
static bool remove_dir(struct files_job *j, struct level *lv, const char *name)
{
	if (!j->a.dry_run && unlinkat(lv->fd, name, AT_REMOVEDIR) < 0) {
		if (errno == ENOENT)
			return true;
		if (errno != ENOTEMPTY && errno != EEXIST) /* new files */
			report_error(j, lv, name,
				     "cannot remove the empty directory",
				     errno);
		return false;
	}
	j->dirs_removed++;
	report(j,
	       j->a.dry_run ? "would remove empty directory"
			    : "removed empty directory",
	       lv, name, NULL);
	return true;
}

/* The subdirectory name of lv, opened without following a symlink and
 * checked to be the one st describes; NULL (reported) if not. */
static DIR *open_dir(struct files_job *j, struct level *lv, const char *name,
		     const struct stat *st)
{
	struct stat now;
	DIR *d;
	int fd = openat(lv->fd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		report_error(j, lv, name, "cannot open the directory", errno);
		return NULL;
	}
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino) {
		close(fd);
		report_error(j, lv, name,
			     "replaced while it was walked; left alone", 0);
		return NULL;
	}
	if (!(d = fdopendir(fd))) {
		report_error(j, lv, name, "cannot read the directory", errno);
		close(fd);
	}
	return d;
}

static uint64_t walk(struct files_job *j, struct level *lv, DIR *d,
		     bool *emptied);

/* A subdirectory: walked (when it should be), then removed if empty
 * and remove_empty_dirs.  True if it is gone. */
static bool visit_dir(struct files_job *j, struct level *lv, const char *name,
		      const struct stat *st)
{
	struct level sub = { .up = lv,
			     .name = name,
			     .afd = -1,
			     .mode = st->st_mode,
			     .depth = lv->depth + 1 };
	bool emptied = false;
	uint64_t left;
	char *rel;
	DIR *d;
	if (!j->a.recursive || st->st_dev != j->dev ||
	    (j->archive_fd >= 0 && st->st_dev == j->archive_dev &&
	     st->st_ino == j->archive_ino))
		return false;
	if (sub.depth > FILES_MAX_DEPTH) {
		report_error(j, lv, name,
			     "not walked: deeper than " FILES_MAX_DEPTH_TEXT
			     " levels",
			     0);
		return false;
	}
	if (asprintf(&rel, "%s%s/", lv->rel, name) < 0) {
		report_error(j, lv, name, "not walked", ENOMEM);
		return false;
	}
	if (!(d = open_dir(j, lv, name, st))) {
		free(rel);
		return false;
	}
	sub.rel = rel;
	sub.fd = dirfd(d);
	left = walk(j, &sub, d, &emptied);
	closedir(d);
	if (sub.afd >= 0)
		close(sub.afd);
	free(rel);
	if (left || !j->a.remove_empty_dirs || atomic_load(&j->stop) ||
	    (!emptied && !is_old(j, st)))
		return false;
	return remove_dir(j, lv, name);
}

/* One entry of lv: true if it is gone (or would be). */
static bool visit(struct files_job *j, struct level *lv, const char *name)
{
	struct stat st;
	if (fstatat(lv->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return true; /* gone meanwhile */
		report_error(j, lv, name, "cannot stat", errno);
		return false;
	}
	if (S_ISDIR(st.st_mode))
		return visit_dir(j, lv, name, &st);
	j->scanned++;
	if (!matches(j, name))
		return false;
	if ((!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) || !is_old(j, &st)) {
		j->skipped++;
		return false;
	}
	return act(j, lv, name, &st);
}

/* Every entry of the directory lv (read through d); returns how many are
 * left in it, and sets *emptied if any went. */
static uint64_t walk(struct files_job *j, struct level *lv, DIR *d,
		     bool *emptied)
{
	uint64_t left = 0;
	struct dirent *de;
	j->dirs++;
	for (;;) {
		if (atomic_load(&j->stop))
			return left + 1; /* not known to be empty */
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (visit(j, lv, de->d_name))
			*emptied = true;
		else
			left++;
	}
	if (errno) {
		report_error(j, lv, "", "reading the directory", errno);
		left++;
	}
	return left;
}

/* ---- A run ---- */

/* args.dir or args.archive, following symlinks: the admin's own path. */
static int open_top(struct files_job *j, const char *what, const char *path,
		    struct stat *st)
{
	char eb[128];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;
	if (fd >= 0 && fstat(fd, st) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	j->errors++;
	sbuf_printf(&j->out, "error: %s ", what);
	sbuf_add_escaped(&j->out, path, strlen(path));
	sbuf_printf(&j->out, ": cannot open: %s\n",
		    strerror_r(e, eb, sizeof(eb)));
	return -1;
}

static void header(struct files_job *j)
{
	sbuf_printf(&j->out, "%s files under ",
		    j->a.action == FILES_MOVE ? "move" : "delete");
	sbuf_add_escaped(&j->out, j->a.dir, strlen(j->a.dir));
	sbuf_printf(&j->out, "%s older than %s",
		    j->a.recursive ? "" : " (not recursive)", j->a.age_text);
	for (char **g = j->a.match; g && *g; g++) {
		sbuf_add(&j->out, g == j->a.match ? ", matching " : " ",
			 g == j->a.match ? 11 : 1);
		sbuf_add_escaped(&j->out, *g, strlen(*g));
	}
	if (j->a.archive) {
		sbuf_add(&j->out, ", to ", 5);
		sbuf_add_escaped(&j->out, j->a.archive, strlen(j->a.archive));
	}
	sbuf_printf(&j->out, "%s\n", j->a.dry_run ? " (dry run)" : "");
}

static void summary(struct files_job *j, uint64_t t0)
{
	const char *verb = j->a.action == FILES_MOVE ? "moved" : "deleted";
	if (j->lines_dropped)
		sbuf_printf(&j->out, "[%" PRIu64 " more lines not shown]\n",
			    j->lines_dropped);
	if (atomic_load(&j->stop))
		sbuf_printf(&j->out, "stopped: loopd asked the run to end\n");
	sbuf_printf(&j->out,
		    "scanned %" PRIu64 " files in %" PRIu64
		    " directories, %.1f ms\n",
		    j->scanned, j->dirs, (double)(mono_us() - t0) / 1000.0);
	sbuf_printf(&j->out,
		    "%" PRIu64 " file%s %s%s (%" PRIu64 " bytes), %" PRIu64
		    " skipped, %" PRIu64 " error%s",
		    j->acted, j->acted == 1 ? "" : "s",
		    j->a.dry_run ? "would be " : "", verb, j->bytes, j->skipped,
		    j->errors, j->errors == 1 ? "" : "s");
	if (j->a.remove_empty_dirs)
		sbuf_printf(&j->out, ", %" PRIu64 " empty director%s %sremoved",
			    j->dirs_removed, j->dirs_removed == 1 ? "y" : "ies",
			    j->a.dry_run ? "would be " : "");
	sbuf_add(&j->out, "\n", 1);
}

/* now - older_than, as a timespec. */
static void set_cutoff(struct files_job *j)
{
	struct timespec now;
	int64_t ms = j->a.older_than;
	clock_gettime(CLOCK_REALTIME, &now);
	j->cutoff.tv_sec = now.tv_sec - (time_t)(ms / 1000);
	j->cutoff.tv_nsec = now.tv_nsec - (long)(ms % 1000) * 1000000L;
	if (j->cutoff.tv_nsec < 0) {
		j->cutoff.tv_nsec += 1000000000L;
		j->cutoff.tv_sec--;
	}
}

int files_job_run(struct files_job *j)
{
	struct level top = { .rel = "", .afd = -1 };
	struct stat st, ast;
	uint64_t t0 = mono_us();
	bool emptied = false;
	DIR *d = NULL;
	int fd;
	set_cutoff(j);
	header(j);
	if ((fd = open_top(j, "dir", j->a.dir, &st)) >= 0 &&
	    !(d = fdopendir(fd))) {
		report_error(j, &top, "", "cannot read args.dir", errno);
		close(fd);
	}
	if (d && j->a.archive &&
	    (j->archive_fd = open_top(j, "archive", j->a.archive, &ast)) >= 0) {
		j->archive_dev = ast.st_dev;
		j->archive_ino = ast.st_ino;
	}
	if (d && (!j->a.archive || j->archive_fd >= 0)) {
		j->dev = st.st_dev;
		top.fd = dirfd(d);
		top.afd = j->archive_fd;
		top.mode = st.st_mode;
		walk(j, &top, d, &emptied);
	}
	if (d)
		closedir(d);
	summary(j, t0);
	if (atomic_load(&j->stop))
		return -ECANCELED;
	return j->errors ? 1 : 0;
}

void files_job_stop(struct files_job *j)
{
	atomic_store(&j->stop, true);
}

int files_job_init(struct files_job *j, struct files_args *a)
{
	*j = (struct files_job){ .a = *a, .archive_fd = -1 };
	*a = (struct files_args){ 0 };
	atomic_init(&j->stop, false);
	return 0;
}

void files_job_free(struct files_job *j)
{
	if (j->archive_fd >= 0)
		close(j->archive_fd);
	free(j->copybuf);
	files_args_free(&j->a);
	sbuf_free(&j->out);
}
