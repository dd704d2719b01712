/*
 * args.h - the exec kind's args (PROTOCOL.md, "The bundled exec kind"),
 * checked and turned into a spec that spawn.c can run.
 *
 *   {"command": "echo hi"}                  run by /bin/sh -c
 *   {"argv": ["/usr/bin/env", "-i"]}        run directly (PATH searched)
 *   optional: "env": {"NAME": "value"}, "cwd": "/abs/path",
 *             "user": "name" or a uid (loopd running as root only)
 *
 * Pure apart from jansson, so tests/unit/test_exec_args.c drives it.
 */
#ifndef EXEC_ARGS_H
#define EXEC_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct exec_spec {
	char **argv;  /* NULL-terminated; argv[0] is what is run */
	char **env;   /* "NAME=value" strings, NULL-terminated, may be empty */
	char *cwd;    /* absolute, or NULL: HOME */
	char *user;   /* a user name, or NULL */
	uid_t uid;    /* when has_uid: the user given as a number */
	bool has_uid; /* user given as a uid (number or digits) */
	bool shell;   /* command: argv is /bin/sh -c COMMAND */
};

/*
 * Parses and checks args_json.  as_root: whether loopd runs as root (user
 * is refused otherwise).  0 and *out filled (free it with
 * exec_spec_free), or -EINVAL with the reason in err ("args.argv[2]: not
 * a string"), or -ENOMEM.  out may be NULL to only check.
 */
int exec_args_parse(const char *args_json, bool as_root, struct exec_spec *out,
		    char *err, size_t errlen);

void exec_spec_free(struct exec_spec *s);

#endif /* EXEC_ARGS_H */
