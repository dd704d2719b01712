/*
 * config.h - the configuration file: INI, read with Debian's libinih.
 * Sections: [loopd] (the command-line options by their long names),
 * [ctl], [store], [plugin.NAME] (handed to plugin NAME by api->config).
 */
#ifndef LOOPD_CONFIG_H
#define LOOPD_CONFIG_H

#include <stddef.h>

struct config_entry {
	char *section, *key, *value; /* owned by the config */
};

struct config {
	char *path;
	struct config_entry *v;
	size_t n, cap;
};

/* 0, -ENOENT when the file does not exist, or -EINVAL / -errno with a
 * message naming the file (and the line of a syntax error) in err. */
int config_load(const char *path, struct config **out, char *err,
		size_t errlen);
void config_free(struct config *c);
/* The last value of key in section, or NULL (borrowed from c). */
const char *config_get(const struct config *c, const char *section,
		       const char *key);

#endif
