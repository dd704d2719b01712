/*
 * fuzz_args.h - what the targets for the bundled kinds' args parsers
 * (fuzz_sql_args, fuzz_files_args, fuzz_exec_args) share: the input as
 * the C string a kind's validate receives, the contract every parser's
 * outcome keeps, and helpers for the checks of an accepted spec against
 * the JSON it came from.
 */
#ifndef FUZZ_ARGS_H
#define FUZZ_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The daemon's buffer for a validate's reason (sched.c check_job). */
#define FUZZ_ERR_MAX   512
/* A short one, to check that a long reason is cut, never overrun. */
#define FUZZ_ERR_SHORT 24

/* A kind's parser and what an accepted spec must be. */
struct fuzz_args_kind {
	const char *name; /* "sql": the checks say "fuzz_sql_args: ..." */
	/* The parser: 0 and *spec filled, or spec NULL to only check. */
	int (*parse)(const char *text, void *spec, char *err, size_t errlen,
		     const void *ctx);
	/* An accepted spec against its JSON (root), with fuzz_args_expect. */
	void (*check)(const void *spec, json_t *root, const void *ctx);
	void (*free)(void *spec);
};

/* The input up to its first NUL, as a fresh string (abort() if no memory). */
char *fuzz_args_text(const uint8_t *data, size_t size);

/*
 * One input through k: parsed into spec with a reason buffer of
 * FUZZ_ERR_MAX, and only checked, as validate does, with one of
 * FUZZ_ERR_SHORT.  Both agree; the result is 0, -EINVAL or -ENOMEM; 0
 * leaves the reason empty, and the spec is checked against the JSON, then
 * freed; a refusal names its place ("args: ..." or "args.KEY...") and
 * the short reason is the long one cut.  Else it says which and aborts.
 * ctx goes to k's functions.  Returns the result.
 */
int fuzz_args_run(const struct fuzz_args_kind *k, const char *text, void *spec,
		  const void *ctx);

/* Aborts with "fuzz_KIND_args: WHAT" unless ok. */
void fuzz_args_expect(const char *kind, bool ok, const char *what);

/* Whether s is the string value of v, byte for byte. */
bool fuzz_args_same(const char *s, json_t *v);

/* Whether p is an absolute path shorter than PATH_MAX. */
bool fuzz_args_abs_path(const char *p);

/* Whether p is root's string KEY and an absolute path shorter than
 * PATH_MAX. */
bool fuzz_args_path_is(const char *p, json_t *root, const char *key);

#endif /* FUZZ_ARGS_H */
