/*
 * files_args.h - the files kind's args, checked and turned into a spec
 * that files_walk.c runs.
 *
 *   {"dir": "/var/tmp/app", "older_than": "30d"}
 *   {"dir": "/var/log/app", "older_than_ms": 86400000,
 *    "match": ["*.log", "*.gz"], "recursive": false,
 *    "action": "move", "archive": "/srv/archive/app",
 *    "dry_run": true, "remove_empty_dirs": true}
 *
 * Pure apart from jansson, so a unit test can drive it.
 */
#ifndef FILES_ARGS_H
#define FILES_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest age accepted: 100 years, in ms. */
#define FILES_MAX_AGE_MS (100LL * 366 * 86400 * 1000)

enum files_action {
	FILES_DELETE,
	FILES_MOVE
};

struct files_args {
	char *dir;          /* absolute, the tree to clean */
	char *archive;      /* absolute, FILES_MOVE only; else NULL */
	int64_t older_than; /* ms: a file whose mtime is older goes */
	char *age_text;     /* as given: "30d", or "86400000 ms" */
	char **match;       /* NULL-terminated globs, or NULL: all */
	enum files_action action;
	bool recursive;         /* default true */
	bool dry_run;           /* report only */
	bool remove_empty_dirs; /* default false */
};

/*
 * A duration: one or more <integer><unit> with units ms, s, m, h, d, w
 * ("90s", "5m", "1h30m", "2d"); 0 and *ms, or -EINVAL (not a duration),
 * or -ERANGE (over FILES_MAX_AGE_MS).
 */
int files_parse_duration(const char *s, int64_t *ms);

/*
 * Parses and checks args_json.  0 and *out filled (free it with
 * files_args_free), or -EINVAL with the reason in err ("args.match[1]:
 * not a string"), or -ENOMEM.  out may be NULL to only check.
 */
int files_args_parse(const char *args_json, struct files_args *out, char *err,
		     size_t errlen);

void files_args_free(struct files_args *a);

#endif /* FILES_ARGS_H */
