/*
 * spawn.h - starting a job's process, clean: its own process group,
 * default signal dispositions and an empty mask, descriptors 0-2 only
 * (stdin /dev/null, stdout and stderr one pipe), an environment built from
 * scratch, umask 022, and as root the job's user.
 */
#ifndef EXEC_SPAWN_H
#define EXEC_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "args.h"

/* Who a job runs as: what its environment and credentials come from. */
struct exec_ident {
	uid_t uid;
	gid_t gid;
	char *name;    /* LOGNAME and USER (owned) */
	char *home;    /* HOME (owned) */
	gid_t *groups; /* supplementary groups, when change (owned) */
	size_t ngroups;
	bool change; /* the child switches to uid, gid and groups */
};

/*
 * Fills id for loopd's own effective user, without a switch (the child
 * keeps loopd's credentials).  May block on NSS: call in init, or on a
 * worker thread.  0 or -ENOMEM.
 */
int exec_ident_self(struct exec_ident *id);

/*
 * Fills id for the user name (or, when name is NULL, uid) from the
 * password database, supplementary groups included, with a switch.  May
 * block on NSS (LDAP, sssd): call it on a worker thread.  0, or -ENOENT
 * (no such user) / -ENOMEM / -errno with a reason in err.
 */
int exec_ident_lookup(struct exec_ident *id, const char *name, uid_t uid,
		      char *err, size_t errlen);

void exec_ident_free(struct exec_ident *id);

/* The reusable part of spawning: stacks for the children, /dev/null.
 * Thread-safe: any number of threads may spawn with one spawner at once. */
struct exec_spawner;

int exec_spawner_new(struct exec_spawner **out);
void exec_spawner_free(struct exec_spawner *sp);

struct exec_child {
	pid_t pid;  /* also the process group id */
	int pidfd;  /* O_CLOEXEC; caller closes */
	int output; /* read end of the stdout+stderr pipe: O_NONBLOCK,
		     * O_CLOEXEC; caller closes */
};

/*
 * Starts spec as id.  Returns once the child has exec'd, or failed to:
 * 0 and *child filled, or -errno with the step that failed in err
 * ("cwd /srv/x: No such file or directory"; the child is reaped then).
 * Blocks the calling thread for the clone and the exec (milliseconds):
 * call it on a worker thread, never the loop's.  spec and id are only
 * read.
 */
int exec_spawn(struct exec_spawner *sp, const struct exec_spec *spec,
	       const struct exec_ident *id, struct exec_child *child, char *err,
	       size_t errlen);

#endif /* EXEC_SPAWN_H */
