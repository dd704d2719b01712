/*
 * cmd-next.c - loopctl next EXPR [--tz Z] [--from TIME] [-n N]: the
 * daemon's jobs.Preview of an expression, one fire time a line in
 * RFC 3339 with the offset the zone has at that instant
 * ("2026-03-29T03:30:00+02:00").  The zone is --tz, else the local one;
 * --from is read on that zone's clock unless it carries an offset.
 */
#include "calendar.h"
#include "loopctl.h"
#include "tzfile.h"

static int next_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	const char *tz = args_get(a, "tz"), *from = args_get(a, "from");
	const char *count = args_get(a, "count");
	char err[CAL_ERR_MAX], buf[FMT_MAX];
	struct tz_zone *z;
	long long n = LOOPD_PREVIEW_DEFAULT;
	int64_t from_usec = 0;

	if (count && parse_count(count, 1, LOOPD_PREVIEW_MAX, &n) < 0)
		return cmd_usage_error(e,
				       "-n takes a count from 1 to %d, not "
				       "'%s'",
				       LOOPD_PREVIEW_MAX, count);
	if (zone_load(tz, &z, err, sizeof(err)) < 0)
		return cmd_usage_error(e, "%s", err);
	if (from && parse_time(from, z, &from_usec, err, sizeof(err)) < 0) {
		tz_zone_unref(z);
		return cmd_usage_error(e, "--from %s: %s", from, err);
	}
	json_t *params = json_pack("{s:s, s:I}", "schedule", a->argv[0],
				   "count", n),
	       *reply;
	if (tz)
		json_object_set_new(params, "tz", json_string(tz));
	if (from)
		json_object_set_new(params, "from_usec",
				    json_integer(from_usec));
	int rc = client_call(c, LOOPD_M_JOBS_PREVIEW, params, &reply);
	if (!rc && c->json)
		client_print_json(reply, false);
	json_t *next = json_object_get(reply, "next");
	for (size_t i = 0; !rc && !c->json && i < json_array_size(next); i++) {
		fmt_rfc3339(json_integer_value(json_array_get(next, i)), z, buf,
			    sizeof(buf));
		printf("%s\n", buf);
	}
	json_decref(reply);
	tz_zone_unref(z);
	return rc;
}

static const struct cmd_opt next_opts[] = {
	{ "tz", 0, "Z", "compute and print in IANA zone Z (default local)" },
	{ "from", 0, "TIME", "the times after TIME (default now)" },
	{ "count", 'n', "N", "how many (default 5, at most 1000)" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_next_entry = {
	.name = "next",
	.usage = "EXPR [--tz Z] [--from TIME] [-n N]",
	.summary = "the next fire times of a schedule expression",
	.help = "One time a line, RFC 3339 with the zone's offset, e.g. "
		"2026-03-29T03:30:00+02:00.\nTIME is RFC 3339 or 'YYYY-MM-DD "
		"HH:MM[:SS]' in the zone.\n\nExample:\n  loopctl next '30 2 * * "
		"*' --tz Europe/Berlin --from '2026-03-28 12:00'\n",
	.opts = next_opts,
	.min_args = 1,
	.max_args = 1,
	.exec = next_exec,
};
