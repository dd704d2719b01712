/*
 * config.c - the configuration file, kept as a list of entries in file
 * order.  Parsing is libinih's; what the keys mean is decided by their
 * users (main.c for [loopd], plugins for their sections).
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_entry(void *user, const char *section, const char *key,
		     const char *value)
{
	struct config *c = user;
	if (!key) /* a section header alone */
		return 1;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct config_entry *v = realloc(c->v, ncap * sizeof(*v));
		if (!v)
			return 0;
		c->v = v;
		c->cap = ncap;
	}
	struct config_entry *e = &c->v[c->n];
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(value ? value : "");
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return 0;
	}
	c->n++;
	return 1;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "cannot read the config file %s: %s",
			 path, strerror(-r));
		return r;
	}
	struct config *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		fclose(f);
		free(c);
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	}
	errno = 0;
	int line = ini_parse_file(f, add_entry, c);
	/* inih stops at a read error as at the end: a directory, or an I/O
	 * error, would read as an empty or cut file. */
	int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (rerr) {
		snprintf(err, errlen, "cannot read the config file %s: %s",
			 path, strerror(rerr));
		config_free(c);
		return -rerr;
	}
	if (line != 0) {
		if (line > 0)
			snprintf(err, errlen,
				 "%s:%d: not INI syntax (expected [section], "
				 "key = value or a ; comment)",
				 path, line);
		else
			snprintf(err, errlen, "%s: out of memory", path);
		config_free(c);
		return line > 0 ? -EINVAL : -ENOMEM;
	}
	*out = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].section);
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	free(c->path);
	free(c);
}

const char *config_get(const struct config *c, const char *section,
		       const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; c && i < c->n; i++)
		if (!strcmp(c->v[i].section, section) &&
		    !strcmp(c->v[i].key, key))
			v = c->v[i].value;
	return v;
}
