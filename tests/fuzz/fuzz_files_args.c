/*
 * fuzz_files_args.c - libFuzzer target for the files kind's args
 * (plugins/files/files_args.c, compiled into this target so that it is
 * instrumented): the path of its validate, args JSON to parse, checks
 * and free; and its duration parser against a reference.
 *
 * Input: the args JSON text (up to a NUL), as `loopctl add` would send
 * it; the seeds in tests/fuzz/corpus/files_args are real ones.  Each input
 * is parsed into a spec and checked only (fuzz_args_run: both agree, and
 * a refusal names its place); an accepted spec must be what the JSON says
 * (dir and archive absolute, clean, not "/", trailing slashes dropped;
 * the age; the globs; the defaults).  The same text is also read as a
 * duration ("1h30m"), by files_parse_duration and by ref_duration below,
 * which must agree.  Nothing may crash, leak, hang or trip UBSan.
 *
 *   b/tests/fuzz/fuzz_files_args -dict=tests/fuzz/files_args.dict NEW_DIR \
 *     tests/fuzz/corpus/files_args
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files_args.h"
#include "fuzz_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unit at *s in ms, moving past it; 0 if none. */
static int64_t ref_unit(const char **s)
{
	switch (*(*s)++) {
	case 'm':
		if (**s != 's')
			return 60000;
		(*s)++;
		return 1;
	case 's': return 1000;
	case 'h': return 3600000;
	case 'd': return 86400000;
	case 'w': return 604800000;
	default: return 0;
	}
}

/* The reference: one or more <digits><unit>, else -EINVAL; over
 * FILES_MAX_AGE_MS (checked once the whole text is read) -ERANGE. */
static int ref_duration(const char *s, int64_t *ms)
{
	int64_t total = 0;
	bool over = false;
	if (!*s)
		return -EINVAL;
	while (*s) {
		int64_t v = 0, u;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++)
			if ((v = v * 10 + (*s - '0')) > FILES_MAX_AGE_MS)
				v = FILES_MAX_AGE_MS + 1;
		if (!(u = ref_unit(&s)))
			return -EINVAL;
		if (v > (FILES_MAX_AGE_MS - total) / u)
			over = true;
		else
			total += v * u;
	}
	if (over)
		return -ERANGE;
	*ms = total;
	return 0;
}

static void check_duration(const char *text)
{
	int64_t got = -1, want = -1;
	int r = files_parse_duration(text, &got), w = ref_duration(text, &want);
	char what[128];
	snprintf(what, sizeof(what), "duration: %d %lld, the reference %d %lld",
		 r, (long long)got, w, (long long)want);
	fuzz_args_expect("files", r == w && (r || got == want), what);
}

/* Whether got is v's string with its trailing slashes dropped, absolute,
 * not "/", and without an empty, . or .. component. */
static bool dir_ok(const char *got, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	if (!fuzz_args_abs_path(got) || !strcmp(got, "/") || !n)
		return false;
	while (n > 1 && s[n - 1] == '/')
		n--;
	return strlen(got) == n && !memcmp(got, s, n) && !strstr(got, "//") &&
	       !strstr(got, "/./") && !strstr(got, "/../") &&
	       strcmp(got + n - 2, "/.") &&
	       (n < 3 || strcmp(got + n - 3, "/.."));
}

static bool match_ok(char **match, json_t *v)
{
	size_t i;
	json_t *g;
	if (!v)
		return !match;
	if (!match || json_array_size(v) == 0)
		return false;
	json_array_foreach(v, i, g)
	{
		if (!fuzz_args_same(match[i], g) || !*match[i] ||
		    strchr(match[i], '/'))
			return false;
	}
	return !match[i];
}

static bool age_ok(const struct files_args *a, json_t *root)
{
	json_t *ms = json_object_get(root, "older_than_ms"),
	       *s = json_object_get(root, "older_than");
	char text[64];
	int64_t v = -1;
	if (a->older_than < 0 || a->older_than > FILES_MAX_AGE_MS || !ms == !s)
		return false;
	if (ms) {
		snprintf(text, sizeof(text), "%lld ms",
			 (long long)a->older_than);
		return a->older_than == json_integer_value(ms) &&
		       !strcmp(a->age_text, text);
	}
	return fuzz_args_same(a->age_text, s) &&
	       ref_duration(a->age_text, &v) == 0 && v == a->older_than;
}

static bool flag_is(bool got, json_t *root, const char *key, bool dflt)
{
	json_t *v = json_object_get(root, key);
	return got == (v ? json_is_true(v) : dflt);
}

static void check(const void *spec, json_t *root, const void *ctx)
{
	const struct files_args *a = spec;
	json_t *action = json_object_get(root, "action");
	bool move = action && !strcmp(json_string_value(action), "move");

	fuzz_args_expect("files", dir_ok(a->dir, json_object_get(root, "dir")),
			 "dir is not the clean absolute path given");
	fuzz_args_expect(
		"files",
		move ? a->action == FILES_MOVE &&
				dir_ok(a->archive,
				       json_object_get(root, "archive")) &&
				strcmp(a->archive, a->dir)
		     : a->action == FILES_DELETE && !a->archive,
		"action and archive are not the ones given");
	fuzz_args_expect("files", age_ok(a, root),
			 "the age is not the one given");
	fuzz_args_expect("files",
			 match_ok(a->match, json_object_get(root, "match")),
			 "match is not the globs given");
	fuzz_args_expect(
		"files",
		flag_is(a->recursive, root, "recursive", true) &&
			flag_is(a->dry_run, root, "dry_run", false) &&
			flag_is(a->remove_empty_dirs, root, "remove_empty_dirs",
				false),
		"recursive, dry_run or remove_empty_dirs is not the one given");
}

static int parse(const char *text, void *spec, char *err, size_t errlen,
		 const void *ctx)
{
	return files_args_parse(text, spec, err, errlen);
}

static void spec_free(void *spec)
{
	files_args_free(spec);
}

static const struct fuzz_args_kind kind = { "files", parse, check, spec_free };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_args_text(data, size);
	struct files_args a;
	fuzz_args_run(&kind, text, &a, NULL);
	check_duration(text);
	free(text);
	return 0;
}
