/*
 * daemon.h - the running daemon as one object: what main.c builds and the
 * control methods (ctl_methods.c) read and act on.  Loop thread only.
 */
#ifndef LOOPD_DAEMON_H
#define LOOPD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct store;
struct sched;
struct events;
struct plugins;
struct ctl_server;

enum daemon_state {
	DAEMON_RUNNING,
	DAEMON_STOPPING
};

struct daemon {
	struct loop *loop;
	struct store *store;
	struct sched *sched;
	struct events *events;
	struct plugins *plugins;
	struct ctl_server *ctl; /* NULL with --no-socket */
	enum daemon_state state;
	pid_t pid; /* getpid() once: GetStatus is a hot call */
	int64_t started_usec;
	const char *socket_path; /* "" with --no-socket */
	const char *db_path;
	const char *plugin_dir;
	unsigned threads;
	int64_t drain_timeout_ms; /* Shutdown's default */
	/* The configuration: its file ("" for none), when it was last read
	 * (start or SIGHUP) and how that went: "ok" or "error: ...". */
	const char *config_path;
	int64_t config_usec;
	char config_result[640];
	/* Set by Shutdown: main stops the loop and drains with this. */
	int64_t shutdown_timeout_ms;
};

/* Begins the stop (as SIGTERM does): the loop returns, main drains. */
void daemon_shutdown(struct daemon *d, int64_t timeout_ms);

#endif
