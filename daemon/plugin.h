/*
 * plugin.h (internal) - loading, checking, draining and unloading plugins.
 * The public contract a plugin sees is include/loopd/plugin.h; this is the
 * daemon's side of it.
 */
#ifndef LOOPD_PLUGIN_INTERNAL_H
#define LOOPD_PLUGIN_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "loopd/plugin.h"

enum plugin_state {
	PLUGIN_LOADING, /* in init */
	PLUGIN_ACTIVE,
	PLUGIN_DRAINING, /* unloading: waiting for its handles and jobs */
	PLUGIN_FAILED,   /* init failed: undoing what it registered */
	PLUGIN_STOPPING, /* daemon stop: drained, shut down in reverse order */
};

struct plugins;

struct loopd_plugin {
	char name[33];
	const char *iname; /* the same, never freed (loop_owner_name) */
	char *path;        /* owned */
	void *dl;
	const struct loopd_plugin_desc *desc;
	void *state; /* what init returned through its state pointer */
	/* Atomic: host_post reads it from the plugin's threads. */
	_Atomic(enum plugin_state) pstate;
	bool retire_queued; /* a retire_cb is deferred for it */
	struct plugins *reg;
	struct loop_account acct;
	uint64_t errors; /* host calls refused */
	char last_error[200];
	struct loopd_plugin *next;
};

/* The plugin directory dir is copied.  0 or -errno. */
int plugins_new(struct plugins **out, struct loop *l, const char *dir);
/* After plugins_stop_all. */
void plugins_free(struct plugins *reg);

/*
 * Loads one plugin: a path (containing '/') or a NAME looked up as
 * DIR/NAME.so.  On refusal returns -errno with a message naming the file
 * and the reason in err; anything init registered is being undone.
 */
int plugins_load(struct plugins *reg, const char *what, loopd_plugin **out,
		 char *err, size_t errlen);
/* Loads every *.so in the plugin directory, in name order; failures are
 * logged and skipped.  Returns how many failed, or -errno if the directory
 * cannot be read. */
int plugins_load_dir(struct plugins *reg);
/*
 * Stops every plugin in reverse load order: drains them, runs the loop
 * until their work is done, calls each shutdown, unloads them.  It stops
 * waiting after timeout_ms, or once *force is set (a second signal): a
 * plugin whose jobs are still running is then left loaded, not shut down,
 * and logged.  Returns how many were left so.
 */
int plugins_stop_all(struct plugins *reg, uint64_t timeout_ms,
		     const volatile bool *force);
/* Core post callback: retires draining plugins that have become idle
 * (a refused post may have been what kept one busy).  ud: the registry. */
void plugins_recheck(loopd_plugin *unused, void *ud);

struct loop *plugins_loop(struct plugins *reg);
/* The loaded plugins, newest first (walk with ->next); borrowed. */
loopd_plugin *plugins_head(struct plugins *reg);
/* Loads refused since start (a refused plugin leaves no entry). */
unsigned plugins_failed_loads(const struct plugins *reg);
/* Plugins refused at load for their crashes (crash.h), newest first. */
/* plugins_load's refusal of a quarantined plugin (distinct from any
 * init's return value). */
#define PLUGIN_EQUARANTINED ENOTRECOVERABLE

struct plugin_quarantine {
	char name[33];
	char *path;
	struct plugin_quarantine *next;
};
const struct plugin_quarantine *plugins_quarantine(struct plugins *reg);
/* As plugins_load, for an operator's explicit load: a quarantined plugin
 * is loaded, and its crash record forgotten once it is. */
int plugins_enable(struct plugins *reg, const char *what, loopd_plugin **out,
		   char *err, size_t errlen);
/* Starts unloading p (PLUGIN-API.md rule 4): its kinds go, its handles
 * close, its queued jobs are cancelled; it is shut down and unloaded once
 * idle.  Only an active plugin; -EBUSY otherwise. */
int plugins_unload(struct plugins *reg, loopd_plugin *p);

/* The scheduler that owns job kinds (NULL: none; add_kind is refused).
 * The registry tells it when a plugin's kinds come up and go. */
struct sched;
void plugins_set_sched(struct plugins *reg, struct sched *s);
struct sched *plugins_sched(struct plugins *reg);

/* Where plugin configuration comes from: lookup(ctx, "plugin.NAME", key)
 * returns a borrowed value or NULL.  Without one, every key is unset. */
typedef const char *(*plugins_config_fn)(void *ctx, const char *section,
					 const char *key);
void plugins_set_config(struct plugins *reg, plugins_config_fn lookup,
			void *ctx);
/* The value of key in p's config section, or NULL (borrowed). */
const char *plugin_config(loopd_plugin *p, const char *key);
/* Records and logs a refused host call. */
void plugin_error(loopd_plugin *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The host table handed to every plugin's init (host.c). */
const struct loopd_api *host_api(void);

#endif
