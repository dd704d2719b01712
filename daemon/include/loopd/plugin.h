/*
 * loopd plugin API, version 1.
 *
 * This header is the whole contract between loopd and a plugin (see
 * PLUGIN-API.md).  A plugin never links against the daemon: it exports one
 * symbol, loopd_plugin_v1(), and receives a table of host functions in its
 * init callback.  Names, types, field order and meanings are fixed; later
 * versions only append fields to the end of a struct and bump
 * LOOPD_ABI_MINOR.
 *
 * Build an out-of-tree plugin with
 *     cc -shared -fPIC $(pkg-config --cflags loopd-plugin) x.c -o x.so
 */
#ifndef LOOPD_PLUGIN_H
#define LOOPD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOPD_PLUGIN_MAGIC 0x4c4f4f50u /* "LOOP" */
#define LOOPD_ABI_MAJOR    1
#define LOOPD_ABI_MINOR    0

typedef struct loopd_plugin loopd_plugin; /* opaque: one per loaded plugin */
typedef struct loopd_run loopd_run;       /* opaque: one per run of a job */
typedef int64_t loopd_id;                 /* > 0 a handle id, < 0 a -errno */

/* Loop-thread callbacks.  ud is the plugin's own pointer, never freed by
 * the host (rule 2). */
typedef void (*loopd_cb)(loopd_plugin *p, void *ud);
typedef void (*loopd_io_cb)(loopd_plugin *p, void *ud, int fd, int revents);
typedef int (*loopd_work_fn)(void *ud); /* runs on a worker thread */
typedef void (*loopd_done_fn)(loopd_plugin *p, void *ud, int status);

#define LOOPD_READ  0x1
#define LOOPD_WRITE 0x2

enum {
	LOOPD_LOG_ERR = 3,
	LOOPD_LOG_WARN = 4,
	LOOPD_LOG_INFO = 6,
	LOOPD_LOG_DEBUG = 7
};

struct loopd_api;

/* A job kind ("exec", "hello", ...), registered with api->add_kind in init. */
struct loopd_kind {
	uint32_t size; /* sizeof(struct loopd_kind) */
	const char *name;
	const char *description;
	/* Runs when a job is added or changed; non-zero rejects it, with a
	 * NUL-terminated reason written to err. */
	int (*validate)(loopd_plugin *p, const char *args_json, char *err,
			size_t errlen);
	/* Loop thread, must not block: start the run and return 0, or a
	 * -errno that fails the run at once.  The plugin later calls
	 * api->finish(run, ...) exactly once. */
	int (*start)(loopd_plugin *p, loopd_run *run, const char *args_json);
	/* Ask a running run to end; the plugin then calls finish. */
	void (*stop)(loopd_plugin *p, loopd_run *run);
};

struct loopd_plugin_desc {
	uint32_t magic;     /* LOOPD_PLUGIN_MAGIC */
	uint32_t size;      /* sizeof(struct loopd_plugin_desc) */
	uint16_t abi_major; /* LOOPD_ABI_MAJOR */
	uint16_t abi_minor; /* LOOPD_ABI_MINOR */
	const char *name;   /* [a-z0-9_]{1,32}, unique among loaded plugins */
	const char *version;
	const char *description;
	/* Non-zero refuses the load; everything registered is undone: its
	 * handles are closed without their on_close, its queued jobs
	 * cancelled (their done still runs, with -ECANCELED), its posts
	 * run.  shutdown is not called then: before failing, init frees
	 * what it allocated itself and joins any thread it started. */
	int (*init)(loopd_plugin *p, const struct loopd_api *api, void **state);
	/* Called once at unload or daemon stop, after draining; joins the
	 * plugin's own threads and frees what is left. */
	void (*shutdown)(loopd_plugin *p, void *state);
};

#if defined(__GNUC__)
#define LOOPD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define LOOPD_EXPORT       __attribute__((visibility("default")))
#else
#define LOOPD_PRINTF(f, a)
#define LOOPD_EXPORT
#endif

/*
 * The host table.  Every function but log and post must be called on the
 * loop thread; a call from another thread returns -EPERM, a call on a
 * draining plugin -ESHUTDOWN.  Ids are unique for the life of the daemon
 * and never reused.
 */
struct loopd_api {
	uint32_t size; /* sizeof the table the daemon filled */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* Any thread.  A log line tagged with the plugin name. */
	void (*log)(loopd_plugin *p, int level, const char *fmt, ...)
		LOOPD_PRINTF(3, 4);
	/* Value of key in this plugin's config section, or NULL (borrowed). */
	const char *(*config)(loopd_plugin *p, const char *key);
	/* The loop's cached monotonic time in ms: read before the timers
	 * phase and again when poll returns.  0 off the loop thread. */
	uint64_t (*now)(loopd_plugin *p);
	/* Fires in the timers phase after timeout_ms, then every repeat_ms
	 * if non-zero.  A one-shot's ud belongs to the plugin again once its
	 * callback has run. */
	loopd_id (*timer)(loopd_plugin *p, uint64_t timeout_ms,
			  uint64_t repeat_ms, loopd_cb cb, void *ud);
	/* Runs once in the check phase. */
	loopd_id (*immediate)(loopd_plugin *p, loopd_cb cb, void *ud);
	/* Runs once in the pending phase of the next iteration. */
	loopd_id (*defer)(loopd_plugin *p, loopd_cb cb, void *ud);
	/* Calls back in the poll phase while fd is ready for events
	 * (level-triggered, once per poll); revents is what is ready.
	 * -EBADF for a bad fd, -EPERM for one epoll cannot watch (a regular
	 * file).  The fd stays the plugin's: close it after the watch. */
	loopd_id (*watch)(loopd_plugin *p, int fd, int events, loopd_io_cb cb,
			  void *ud);
	/* work(ud) on a pool thread, then done(p, ud, status) on the loop
	 * thread in the poll phase; status is work's return or -ECANCELED. */
	loopd_id (*submit)(loopd_plugin *p, loopd_work_fn work,
			   loopd_done_fn done, void *ud);
	/* 0 if the job was queued (done then gets -ECANCELED); -EBUSY if it
	 * started or finished; -ENOENT if unknown. */
	int (*cancel)(loopd_plugin *p, loopd_id job);
	/* Stops a timer, immediate, defer or watch; on_close (may be NULL)
	 * runs in the close phase of this iteration, and is where ud may be
	 * freed.  -ENOENT for a fired one-shot, an unknown id or another
	 * plugin's; -EINVAL for a job's id (use cancel).  cancel, close and
	 * ref stay allowed while the plugin is unloading. */
	int (*close)(loopd_plugin *p, loopd_id handle, loopd_cb on_close);
	/* ref = 0: the handle no longer keeps the loop alive; 1: it does.
	 * -ENOENT / -EINVAL as for close. */
	int (*ref)(loopd_plugin *p, loopd_id handle, int ref);
	/* Any thread the plugin owns: run cb on the loop thread, poll phase.
	 * Counted until it has run, so the plugin is not unloaded before;
	 * -ESHUTDOWN once the plugin is unloading. */
	int (*post)(loopd_plugin *p, loopd_cb cb, void *ud);
	/* Loop thread, in init only: register a job kind (copied). */
	int (*add_kind)(loopd_plugin *p, const struct loopd_kind *kind);
	/* The name of the job a run belongs to (borrowed, valid during the
	 * run). */
	const char *(*run_job)(loopd_run *run);
	/* The run's id, as `loopctl runs` shows it. */
	int64_t (*run_id)(loopd_run *run);
	/* Ends a run, exactly once.  status 0 ok, 1-255 exit code, < 0
	 * -errno; output is copied (and capped) into the run history. */
	int (*finish)(loopd_run *run, int status, const char *output,
		      size_t len);
};

/* Expands to the one exported function of a plugin. */
#define LOOPD_PLUGIN(desc_variable)                                         \
	LOOPD_EXPORT const struct loopd_plugin_desc *loopd_plugin_v1(void); \
	LOOPD_EXPORT const struct loopd_plugin_desc *loopd_plugin_v1(void)  \
	{                                                                   \
		return &(desc_variable);                                    \
	}

#ifdef __cplusplus
}
#endif

#endif /* LOOPD_PLUGIN_H */
