/*
 * cmd-plugins.c - loopctl plugins (plugins.List as a table) and its
 * actions: plugins load PATH, plugins unload NAME, plugins reload NAME.
 */
#include <string.h>

#include "loopctl.h"

static const struct action {
	const char *word, *method, *param, *done;
} actions[] = {
	{ "load", LOOPD_M_PLUGINS_LOAD, "path", "Loaded" },
	{ "unload", LOOPD_M_PLUGINS_UNLOAD, "name", "Unloaded" },
	{ "reload", LOOPD_M_PLUGINS_RELOAD, "name", "Reloaded" },
};

static void print_plugins(const struct client *c, const json_t *plugins)
{
	static const char *const headers[] = { "NAME",    "VERSION",
					       "STATE",   "KINDS",
					       "HANDLES", "INFLIGHT",
					       "ERRORS",  "DESCRIPTION" };
	static const char *const keys[] = { "name",   "version",    "state",
					    "kinds",  "handles",    "inflight",
					    "errors", "description" };
	struct table *t = table_new(8, headers);
	char buf[512];

	for (size_t i = 0; i < json_array_size(plugins); i++) {
		json_t *p = json_array_get(plugins, i);
		table_row(t);
		for (size_t k = 0; k < 8; k++) {
			json_t *v = json_object_get(p, keys[k]);
			const char *text = jtext(v, buf, sizeof(buf));
			if (json_is_array(v)) { /* kinds: "exec,sql" */
				size_t off = 0, j;
				json_t *x;
				buf[0] = 0;
				json_array_foreach(v, j, x)
				{
					if (off < sizeof(buf))
						off += (size_t)snprintf(
							buf + off,
							sizeof(buf) - off,
							"%s%s", j ? "," : "",
							json_string_value(x)
								? json_string_value(
									  x)
								: "?");
				}
				text = off ? buf : "-";
			}
			table_cell(t, text,
				   k == 2 ? fmt_result_color(text) : NULL);
		}
	}
	table_print(t, stdout, c->color, "");
	table_free(t);
}

static int plugins_exec(const struct cmd_entry *e, struct client *c,
			struct args *a)
{
	const struct action *act = NULL;
	json_t *reply;
	int rc;

	if (a->argc == 0) {
		if ((rc = client_call(c, LOOPD_M_PLUGINS_LIST, NULL, &reply)))
			return rc;
		if (c->json)
			client_print_json(reply, false);
		else
			print_plugins(c, json_object_get(reply, "plugins"));
		json_decref(reply);
		return 0;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(a->argv[0], actions[i].word))
			act = &actions[i];
	if (!act)
		return cmd_usage_error(e, "'%s' is not load, unload or reload",
				       a->argv[0]);
	if (a->argc != 2)
		return cmd_usage_error(e, "plugins %s takes one %s", act->word,
				       !strcmp(act->param, "path") ? "PATH"
								   : "NAME");
	rc = client_call(c, act->method,
			 json_pack("{s:s}", act->param, a->argv[1]), &reply);
	if (rc)
		return rc;
	json_t *p = json_object_get(reply, "plugin");
	char name[256], version[64];
	if (c->json)
		client_print_json(reply, false);
	else
		printf("%s plugin %s %s\n", act->done,
		       jget_text(p, "name", name, sizeof(name)),
		       jget_text(p, "version", version, sizeof(version)));
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_plugins_entry = {
	.name = "plugins",
	.usage = "[load PATH | unload NAME | reload NAME]",
	.summary = "list plugins, or load, unload or reload one",
	.help = "PATH is inside the daemon's plugin directory.  Unloading "
		"is refused (Busy)\nwhile the plugin's jobs run.\n",
	.min_args = 0,
	.max_args = 2,
	.exec = plugins_exec,
};
