/*
 * cmd-events.c - loopctl events [--type GLOB...]: events.Subscribe with
 * "more", one line an event until interrupted (SIGINT or SIGTERM end it
 * with status 0) or until the daemon ends the stream.
 */
#include <stdlib.h>
#include <string.h>

#include "loopctl.h"

/* A value for key=value: plain when it is one word, else JSON. */
static void print_value(const json_t *v)
{
	char buf[512];
	const char *s = json_string_value(v);

	if (s && *s && !strpbrk(s, " \t\n\r\"'\\=")) {
		fputs(s, stdout);
	} else if (s) {
		char *q = json_dumps(v, JSON_ENCODE_ANY);
		fputs(q ? q : "\"\"", stdout);
		free(q);
	} else {
		fputs(jtext(v, buf, sizeof(buf)), stdout);
	}
}

static bool is_header(const char *key)
{
	return !strcmp(key, "seq") || !strcmp(key, "time_usec") ||
	       !strcmp(key, "type");
}

/* The event's fields as key=value, nulls left out; a subject object
 * ("run": {...}) is flattened into its members. */
static void print_fields(json_t *ev, bool top)
{
	const char *key;
	json_t *v;

	json_object_foreach(ev, key, v)
	{
		if ((top && is_header(key)) || json_is_null(v))
			continue;
		if (top && json_is_object(v)) {
			print_fields(v, false);
			continue;
		}
		printf(" %s=", key);
		print_value(v);
	}
}

/* "Fri 2026-11-27 23:30:00 UTC run.finished job=backup id=42 ..." */
static int on_event(struct client *c, json_t *params, bool continues, void *ud)
{
	/* An event is the reply's parameters, or {"event": {...}}. */
	json_t *wrapped = json_object_get(params, "event");
	json_t *ev = json_is_object(wrapped) ? wrapped : params;
	const char *type = jget_str(ev, "type");
	char ts[FMT_MAX];
	int64_t t;

	if (c->json) {
		client_print_json(params, true);
		return 0;
	}
	if (!type)
		return 0; /* the first reply: {seq} */
	if (!jget_int(ev, "time_usec", &t))
		t = fmt_now_usec();
	fmt_timestamp(t, ts, sizeof(ts));
	printf("%s %s", ts, type);
	print_fields(ev, true);
	putchar('\n');
	fflush(stdout);
	return 0;
}

static int events_exec(const struct cmd_entry *e, struct client *c,
		       struct args *a)
{
	json_t *params = json_object(), *types = json_array();
	const char *glob;
	int i = 0;

	while ((glob = args_next(a, "type", &i))) {
		char *copy = strdup(glob), *save = NULL;
		if (!copy)
			abort();
		for (char *g = strtok_r(copy, ",", &save); g;
		     g = strtok_r(NULL, ",", &save))
			json_array_append_new(types, json_string(g));
		free(copy);
	}
	if (json_array_size(types))
		json_object_set_new(params, "types", types);
	else
		json_decref(types);
	client_follow_signals(c);
	return client_stream(c, LOOPD_M_EVENTS_SUBSCRIBE, params, on_event,
			     NULL);
}

static const struct cmd_opt events_opts[] = {
	{ "type", 0, "GLOB",
	  "only events whose type matches GLOB, e.g. 'run.*' (repeatable; "
	  "or GLOB,GLOB)" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_events_entry = {
	.name = "events",
	.usage = "[--type GLOB...]",
	.summary = "follow the event stream until interrupted",
	.help = "One line an event: time, type, then its fields as "
		"key=value.  Types: job.added,\njob.changed, job.removed, "
		"run.started, run.finished, plugin.loaded,\n"
		"plugin.unloaded, daemon.warning, ...\n",
	.opts = events_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = events_exec,
};
