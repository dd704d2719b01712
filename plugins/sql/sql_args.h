/*
 * sql_args.h - the sql kind's args, checked and turned into a spec that
 * sql_exec.c runs.
 *
 *   {"database": "/var/lib/app/app.db", "statements": "DELETE ...; VACUUM"}
 *   {"database": "/var/lib/app/app.db", "file": "/etc/app/nightly.sql"}
 *   optional: "timeout_ms": busy timeout in ms (default 5000),
 *             "readonly": true (open the database read-only)
 *
 * Pure apart from jansson, so a unit test can drive it.
 */
#ifndef SQL_ARGS_H
#define SQL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define SQL_DEFAULT_TIMEOUT_MS 5000
#define SQL_MAX_TIMEOUT_MS     86400000 /* a day */

struct sql_args {
	char *database;   /* absolute path */
	char *statements; /* the SQL text, or NULL when file is given */
	char *file;       /* absolute path of a file of SQL, or NULL */
	int timeout_ms;   /* busy timeout */
	bool readonly;
};

/*
 * Parses and checks args_json.  0 and *out filled (free it with
 * sql_args_free), or -EINVAL with the reason in err ("args.database:
 * \"x.db\" is not an absolute path"), or -ENOMEM.  out may be NULL to
 * only check.
 */
int sql_args_parse(const char *args_json, struct sql_args *out, char *err,
		   size_t errlen);

void sql_args_free(struct sql_args *a);

#endif /* SQL_ARGS_H */
