/*
 * main.c - loopd's command line, and the order of start and stop
 * (ARCHITECTURE.md "Startup and shutdown").
 *
 * The options are one table: getopt_long's array and --help are both made
 * from it, so --help cannot drift from what is parsed.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "config.h"
#include "crash.h"
#include "ctl.h"
#include "ctl_methods.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "loopd/protocol.h"
#include "notify.h"
#include "plugin.h"
#include "scheduler.h"
#include "store.h"

#define EXIT_LOCKED 75
#define MAX_PLUGINS 64

struct options {
	bool no_socket;
	const char *socket;
	struct ctl_opts ctl;
	const char *admin_group;
	struct store_opts store;
	const char *config;
	const char *state_dir;
	const char *plugin_dir;
	const char *plugins[MAX_PLUGINS];
	int nplugins;
	unsigned threads;
	int64_t drain_timeout_ms;
	int64_t watchdog_ms;
	int64_t stuck_after_ms;
	int log_level;
	bool log_json;
};

enum {
	OPT_NO_SOCKET = 256,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_DRAIN_TIMEOUT,
	OPT_WATCHDOG,
	OPT_STUCK_AFTER,
	OPT_VERSION
};

/* Every option but config, help and version can also be set in the
 * [loopd] section of the config file, under its long name; the command
 * line wins over the file. */
static const struct opt_entry {
	const char *name;
	int val;
	int has_arg;
	bool in_config;
	const char *arg, *help;
} opt_table[] = {
	{ "config", 'c', required_argument, false, "FILE",
	  "INI configuration file (default /etc/loopd/loopd.conf if present)" },
	{ "no-socket", OPT_NO_SOCKET, no_argument, true, NULL,
	  "no control socket: exit when no referenced handle, job or request "
	  "is left" },
	{ "socket", 's', required_argument, true, "PATH",
	  "the control socket (default $XDG_RUNTIME_DIR/loopd/loopd.sock, "
	  "or /run/loopd/loopd.sock as root)" },
	{ "state-dir", 'S', required_argument, true, "DIR",
	  "state directory: loopd.db, the instance lock, the crash log "
	  "(default $XDG_STATE_HOME/loopd, or /var/lib/loopd as root)" },
	{ "plugin-dir", 'P', required_argument, true, "DIR",
	  "where plugins are looked up (default PREFIX/" LOOPD_PLUGIN_RELDIR
	  " beside the installed loopd)" },
	{ "plugin", 'p', required_argument, true, "NAME",
	  "load only this plugin, a NAME in the plugin dir or a path "
	  "(repeatable; default every *.so in the plugin dir)" },
	{ "threads", 't', required_argument, true, "N",
	  "worker pool size (default 4)" },
	{ "drain-timeout", OPT_DRAIN_TIMEOUT, required_argument, true, "D",
	  "at a stop, how long running jobs may finish (default 30s; 90s, "
	  "5m, 1h30m)" },
	{ "watchdog", OPT_WATCHDOG, required_argument, true, "D",
	  "log a plugin callback that holds the loop this long, naming "
	  "its plugin (default 500ms; 0s: never)" },
	{ "stuck-after", OPT_STUCK_AFTER, required_argument, true, "D",
	  "report a job that has run this long on a pool thread as stuck "
	  "(default 60s; 0s: never)" },
	{ "log-level", OPT_LOG_LEVEL, required_argument, true, "LEVEL",
	  "err, warn, info (default) or debug" },
	{ "log-format", OPT_LOG_FORMAT, required_argument, true, "FMT",
	  "text (default) or json: one JSON object per line" },
	{ "version", OPT_VERSION, no_argument, false, NULL,
	  "print the version and exit" },
	{ "help", 'h', no_argument, false, NULL, "print this help and exit" },
};
#define NOPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: loopd [OPTION]...\n"
		   "Run the loopd task scheduler in the foreground.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_entry *o = &opt_table[i];
		char left[40];
		snprintf(left, sizeof(left), "%c%c%s--%s%s%s",
			 o->val < 256 ? '-' : ' ', o->val < 256 ? o->val : ' ',
			 o->val < 256 ? ", " : "  ", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-26s %s\n", left, o->help);
	}
	fprintf(f,
		"\nOptions other than --config, --help and --version can "
		"be set in the config\nfile's [loopd] section by their long "
		"names (no-socket = yes); [ctl] and\n[store] hold the "
		"socket's limits and the run history's (see loopd(8)).\n"
		"SIGTERM or SIGINT drain and stop (a second one stops "
		"waiting for running\njobs); SIGHUP reads the config file "
		"again, keeping the old one on error.\n"
		"Exit status: 0 after a clean stop; 1 on a start failure, or a\n"
		"stop that left jobs running (drain timeout, second signal);\n"
		"65 when the database is corrupt, not loopd's or newer than\n"
		"this loopd (the file is left untouched); 75 when another\n"
		"instance holds the state directory's lock.\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max || *s == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

__attribute__((format(printf, 1, 2))) _Noreturn static void
usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loopd: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'loopd --help'.\n");
	va_end(ap);
	exit(1);
}

/* Sets option c from arg (NULL for a flag given on the command line).
 * Returns 0, or -1 with the reason in err. */
static int set_option(struct options *o, int c, const char *arg, char *err,
		      size_t errlen)
{
	switch (c) {
	case 'c': o->config = arg; break;
	case OPT_NO_SOCKET:
		if (!arg || !strcmp(arg, "yes") || !strcmp(arg, "true") ||
		    !strcmp(arg, "1"))
			o->no_socket = true;
		else if (!strcmp(arg, "no") || !strcmp(arg, "false") ||
			 !strcmp(arg, "0"))
			o->no_socket = false;
		else
			return snprintf(err, errlen, "'%s' is not yes or no",
					arg),
			       -1;
		break;
	case 'S':
	case 'P':
	case 's':
		if (!*arg)
			return snprintf(err, errlen, "an empty path"), -1;
		*(c == 'S'   ? &o->state_dir
		  : c == 'P' ? &o->plugin_dir
			     : &o->socket) = arg;
		break;
	case 'p':
		if (o->nplugins == MAX_PLUGINS)
			return snprintf(err, errlen, "at most %d plugins",
					MAX_PLUGINS),
			       -1;
		o->plugins[o->nplugins++] = arg;
		break;
	case 't':
		if (parse_uint(arg, 1, 1024, &o->threads) < 0)
			return snprintf(err, errlen,
					"'%s' is not a number from 1 to 1024",
					arg),
			       -1;
		break;
	case OPT_DRAIN_TIMEOUT:
		if (cal_parse_duration(arg, &o->drain_timeout_ms, err, errlen) <
		    0)
			return -1;
		break;
	case OPT_WATCHDOG:
		if (cal_parse_duration(arg, &o->watchdog_ms, err, errlen) < 0)
			return -1;
		break;
	case OPT_STUCK_AFTER:
		if (cal_parse_duration(arg, &o->stuck_after_ms, err, errlen) <
		    0)
			return -1;
		break;
	case OPT_LOG_LEVEL:
		if ((o->log_level = log_level_parse(arg)) < 0)
			return snprintf(err, errlen,
					"'%s' is not err, warn, info or debug",
					arg),
			       -1;
		break;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "json") && strcmp(arg, "text"))
			return snprintf(err, errlen, "'%s' is not text or json",
					arg),
			       -1;
		o->log_json = strcmp(arg, "json") == 0;
		break;
	case OPT_VERSION: printf("loopd %s\n", LOOPD_VERSION); exit(0);
	case 'h': usage(stdout); exit(0);
	default: return snprintf(err, errlen, "invalid option"), -1;
	}
	return 0;
}

static const struct opt_entry *opt_by_val(int val)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opt_table[i].val == val)
			return &opt_table[i];
	return NULL;
}

/* Parses the command line; cli[i] is set for each option given there. */
static void parse_args(int argc, char **argv, struct options *o,
		       bool cli[NOPTS])
{
	struct option longopts[NOPTS + 1];
	char shortopts[64], *s = shortopts, err[200];
	for (size_t i = 0; i < NOPTS; i++) {
		longopts[i] = (struct option){ opt_table[i].name,
					       opt_table[i].has_arg, NULL,
					       opt_table[i].val };
		if (opt_table[i].val < 256) {
			*s++ = (char)opt_table[i].val;
			if (opt_table[i].has_arg)
				*s++ = ':';
		}
	}
	*s = 0;
	memset(&longopts[NOPTS], 0, sizeof(longopts[NOPTS]));
	int c;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct opt_entry *e = opt_by_val(c);
		if (!e)
			usage_error("invalid option");
		if (set_option(o, c, optarg, err, sizeof(err)) < 0)
			usage_error("--%s: %s", e->name, err);
		cli[e - opt_table] = true;
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/* The keys of [ctl] and [store]: sizes in bytes, counts, durations. */
enum limit_type {
	LIM_BYTES,
	LIM_COUNT,
	LIM_MS,
	LIM_USEC,
	LIM_GROUP
};
static const struct limit_entry {
	const char *section, *key;
	enum limit_type type;
	size_t off;
} limit_table[] = {
	{ "ctl", "admin-group", LIM_GROUP, 0 },
	{ "ctl", "max-message", LIM_BYTES,
	  offsetof(struct options, ctl.max_message) },
	{ "ctl", "max-clients", LIM_COUNT,
	  offsetof(struct options, ctl.max_clients) },
	{ "ctl", "max-clients-per-uid", LIM_COUNT,
	  offsetof(struct options, ctl.max_clients_uid) },
	{ "ctl", "idle-timeout", LIM_MS,
	  offsetof(struct options, ctl.idle_ms) },
	{ "ctl", "message-timeout", LIM_MS,
	  offsetof(struct options, ctl.message_ms) },
	{ "ctl", "max-output", LIM_BYTES,
	  offsetof(struct options, ctl.max_output) },
	{ "store", "runs-keep", LIM_COUNT,
	  offsetof(struct options, store.runs_keep) },
	{ "store", "runs-max-age", LIM_USEC,
	  offsetof(struct options, store.runs_max_age_usec) },
	{ "store", "output-cap", LIM_BYTES,
	  offsetof(struct options, store.output_cap) },
};

static int set_limit(struct options *o, const char *section, const char *key,
		     const char *val, char *err, size_t errlen)
{
	const struct limit_entry *e = NULL;
	unsigned u;
	int64_t ms;
	for (size_t i = 0; i < sizeof(limit_table) / sizeof(*e); i++)
		if (!strcmp(limit_table[i].section, section) &&
		    !strcmp(limit_table[i].key, key))
			e = &limit_table[i];
	if (!e)
		return snprintf(err, errlen, "unknown key (see loopd(8))"), -1;
	char *at = (char *)o + e->off;
	switch (e->type) {
	case LIM_GROUP: o->admin_group = val; return 0;
	case LIM_BYTES:
	case LIM_COUNT:
		if (parse_uint(val, e->type == LIM_BYTES ? 64 : 0, INT32_MAX,
			       &u) < 0)
			return snprintf(err, errlen, "not a number"), -1;
		if (e->type == LIM_BYTES)
			*(size_t *)at = u;
		else
			*(unsigned *)at = u;
		return 0;
	default:
		if (cal_parse_duration(val, &ms, err, errlen) < 0)
			return -1;
		if (e->type == LIM_MS)
			*(uint64_t *)at = (uint64_t)ms;
		else
			*(int64_t *)at = ms * 1000;
		return 0;
	}
}

/* Checks the file's sections and applies [loopd] where the command line
 * did not set the option.  0, or -1 with FILE: [section] key: reason in
 * err. */
static int apply_config(const struct config *cfg, struct options *o,
			const bool cli[NOPTS], char *err, size_t errlen)
{
	char why[200];
	for (size_t i = 0; i < cfg->n; i++) {
		const struct config_entry *e = &cfg->v[i];
		if (!strncmp(e->section, "plugin.", 7))
			continue; /* the plugin's to read */
		if (!strcmp(e->section, "ctl") ||
		    !strcmp(e->section, "store")) {
			if (set_limit(o, e->section, e->key, e->value, why,
				      sizeof(why)) < 0)
				return snprintf(err, errlen,
						"%s: [%s] %s = %s: %s",
						cfg->path, e->section, e->key,
						e->value, why),
				       -1;
			continue;
		}
		if (strcmp(e->section, "loopd"))
			return snprintf(err, errlen,
					"%s: unknown section [%s] (expected "
					"[loopd], [ctl], [store] or "
					"[plugin.NAME])",
					cfg->path, e->section),
			       -1;
		size_t k = 0;
		while (k < NOPTS && strcmp(opt_table[k].name, e->key))
			k++;
		if (k == NOPTS || !opt_table[k].in_config)
			return snprintf(err, errlen,
					"%s: [loopd] %s: unknown option (see "
					"loopd --help)",
					cfg->path, e->key),
			       -1;
		if (cli[k])
			continue;
		if (set_option(o, opt_table[k].val, e->value, why,
			       sizeof(why)) < 0)
			return snprintf(err, errlen, "%s: [loopd] %s = %s: %s",
					cfg->path, e->key, e->value, why),
			       -1;
	}
	return 0;
}

/* The config file named by --config, else /etc/loopd/loopd.conf if it
 * exists, else none (*out NULL).  0, or -1 with the reason in err. */
static int read_config(const char *path, struct config **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	int r = config_load(path ? path : "/etc/loopd/loopd.conf", out, err,
			    errlen);
	if (r == -ENOENT && !path)
		return 0;
	return r < 0 ? -1 : 0;
}

static const char *config_lookup(void *ctx, const char *section,
				 const char *key)
{
	return config_get(ctx, section, key);
}

/*
 * The installed plugin directory, found from where this binary is, so a
 * tree installed with `cmake --install --prefix P` anywhere is right:
 * P/bin/loopd -> P/lib/loopd/plugins.
 */
static char *default_plugin_dir(void)
{
	char exe[PATH_MAX], *p = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = 0; /* the bin directory */
	if (asprintf(&p, "%s/../%s", exe, LOOPD_PLUGIN_RELDIR) < 0)
		return NULL;
	return p;
}

/* $XDG_STATE_HOME/loopd, ~/.local/state/loopd, or /var/lib/loopd as root. */
static char *default_state_dir(void)
{
	char *p = NULL;
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		p = strdup("/var/lib/loopd");
	else if (xdg && *xdg == '/')
		(void)!asprintf(&p, "%s/loopd", xdg);
	else if (home && *home)
		(void)!asprintf(&p, "%s/.local/state/loopd", home);
	return p;
}

/* mkdir -p with mode 0700 for the parts it creates. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!(*s = c))
			break;
	}
	return 0;
}

/* Takes the instance lock DIR/loopd.lock; exits 75 if another holds it. */
static int take_lock(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/loopd.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("cannot open the lock file %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			log_msg(LOGL_ERR, NULL,
				"another loopd holds %s; stop it or use another "
				"--state-dir",
				path);
			exit(EXIT_LOCKED);
		}
		fatal("cannot lock %s", path);
	}
	return fd;
}

static volatile bool force_stop;

static int64_t wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The first SIGINT/SIGTERM drains and stops; a second one, while running
 * jobs hold the drain, stops waiting for them (the database is still
 * closed cleanly). */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	static int received;
	struct daemon *d = arg;
	if (received++) {
		log_warnx("SIG%s again: not waiting for running jobs",
			  sigabbrev_np((int)sig));
		force_stop = true;
	} else {
		log_info("SIG%s received, stopping", sigabbrev_np((int)sig));
	}
	d->state = DAEMON_STOPPING;
	loop_stop(d->loop);
}

static int load_plugins(struct plugins *reg, const struct options *o)
{
	char err[600];
	if (o->nplugins == 0) {
		int r = plugins_load_dir(reg);
		if (r < 0)
			log_msg(LOGL_WARN, NULL, "plugin directory %s: %s",
				o->plugin_dir, strerror(-r));
		return 0;
	}
	for (int i = 0; i < o->nplugins; i++) {
		int r = plugins_load(reg, o->plugins[i], NULL, err,
				     sizeof(err));
		if (r == -PLUGIN_EQUARANTINED) { /* start without it */
			log_msg(LOGL_ERR, NULL, "%s", err);
		} else if (r < 0) {
			log_msg(LOGL_ERR, NULL, "%s", err);
			return -1;
		}
	}
	return 0;
}

/*
 * Opens STATE_DIR/loopd.db: checks, backup, migrations, then the jobs and
 * the runs a previous stop left unfinished.  Exits 65 for a corrupt,
 * foreign or newer database, 1 for any other failure.
 */
static struct store *open_store(struct daemon *d, const char *path,
				const struct store_opts *opts)
{
	char err[2048];
	struct store *st;
	int r = store_open(&st, d->loop, path, opts, err, sizeof(err));
	if (r < 0) {
		log_msg(LOGL_ERR, NULL, "%s", err);
		exit(store_exit_status(r));
	}
	d->store = st;
	if ((r = events_new(&d->events, EVENTS_RING)) < 0 ||
	    (r = sched_new(&d->sched, d->loop, st, d->events, NULL)) < 0)
		fatalx("out of memory");
	if ((r = sched_load(d->sched)) < 0)
		fatalx("%s: cannot read the jobs: %s", path, strerror(-r));
	struct sched_counts c;
	sched_counts(d->sched, &c);
	unsigned jobs = (unsigned)c.total;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t n = store_mark_interrupted(st, (int64_t)now.tv_sec * 1000000 +
						       now.tv_nsec / 1000);
	if (n < 0)
		fatalx("%s: cannot mark unfinished runs: %s", path,
		       strerror((int)-n));
	struct store_info info;
	store_info(st, &info);
	log_info("database %s: schema %d, %u jobs, %lld runs interrupted by "
		 "the last stop%s",
		 path, info.version, jobs, (long long)n,
		 info.unclean ? " (unclean stop: full integrity check ran)"
			      : "");
	return st;
}

/* What the loop did, at debug level, when it stops: until the control
 * socket serves GetStats this is where the figures can be seen. */
static void log_loop_stats(struct loop *l)
{
	struct loop_stats st;
	loop_stats(l, &st);
	log_debug("loop: %llu iterations, %llu callbacks, utilization %.3f, "
		  "timer lag p50 %llu us p99 %llu us max %llu us, slowest "
		  "callback %llu us (%s, %s)",
		  (unsigned long long)st.iterations,
		  (unsigned long long)st.events, st.utilization,
		  (unsigned long long)st.lag_p50_us,
		  (unsigned long long)st.lag_p99_us,
		  (unsigned long long)st.lag_max_us,
		  (unsigned long long)(st.slowest_ns / 1000), st.slowest_what,
		  st.slowest_owner);
	for (int i = 0; i < PHASE_COUNT; i++)
		log_debug("loop: phase %s: %llu callbacks, %llu us",
			  loop_phase_names[i],
			  (unsigned long long)st.phase_callbacks[i],
			  (unsigned long long)(st.phase_ns[i] / 1000));
}

void daemon_shutdown(struct daemon *d, int64_t timeout_ms)
{
	if (d->state == DAEMON_STOPPING)
		return;
	d->state = DAEMON_STOPPING;
	if (timeout_ms >= 0)
		d->shutdown_timeout_ms = timeout_ms;
	loop_stop(d->loop);
}

static void deadline_cb(loopd_plugin *unused, void *ud)
{
	*(bool *)ud = true;
}

/* Runs the loop until pred(d) is false, the deadline passes or a second
 * signal forces the stop.  True when pred became false. */
static bool run_while(struct daemon *d, bool (*pred)(struct daemon *),
		      uint64_t timeout_ms)
{
	bool passed = false;
	loopd_id t =
		loop_timer(d->loop, NULL, timeout_ms, 0, deadline_cb, &passed);
	if (t > 0)
		loop_ref(d->loop, NULL, t, 0);
	while (pred(d) && !passed && !force_stop)
		loop_run_once(d->loop);
	if (!passed && t > 0)
		loop_close(d->loop, NULL, t, NULL);
	return !pred(d);
}

static bool runs_left(struct daemon *d)
{
	return sched_running(d->sched) > 0;
}

/*
 * ARCHITECTURE.md's stop: no new runs; running ones may finish until the
 * drain timeout; then they are told to stop and get the kill grace; then
 * the plugins drain and shut down; then the final commits.  Returns how
 * many plugins were left running.
 */
static int stop_daemon(struct daemon *d, uint64_t drain_ms)
{
	d->state = DAEMON_STOPPING;
	if (d->ctl)
		ctl_server_stop_accepting(d->ctl);
	sched_stop_starting(d->sched);
	if (runs_left(d)) {
		log_info("waiting up to %llu ms for %u running jobs",
			 (unsigned long long)drain_ms, sched_running(d->sched));
		if (!run_while(d, runs_left, drain_ms)) {
			log_info("interrupting %u running jobs",
				 sched_running(d->sched));
			sched_interrupt_all(d->sched);
			run_while(d, runs_left, SCHED_KILL_GRACE_MS + 1000);
		}
	}
	int left = plugins_stop_all(d->plugins, drain_ms, &force_stop);
	sched_write_unwritten(d->sched);
	while (!store_idle(d->store))
		loop_run_once(d->loop);
	return left;
}

/* Binds the control socket: after the lock, the store and the plugins,
 * so a client never sees a daemon that is not ready. */
static int start_socket(struct daemon *d, struct options *o)
{
	char err[600];
	o->ctl.path = o->socket;
	int r = ctl_server_new(&d->ctl, d->loop, &o->ctl, ctl_methods, d, err,
			       sizeof(err));
	if (r < 0) {
		log_msg(LOGL_ERR, NULL, "%s", err);
		return 1;
	}
	d->socket_path = o->socket;
	log_info("listening on %s", o->socket);
	return 0;
}

/* The defaults of every option. */
static void options_default(struct options *o)
{
	*o = (struct options){ .threads = 4,
			       .log_level = LOGL_INFO,
			       .drain_timeout_ms = 30000,
			       .watchdog_ms = 500,
			       .stuck_after_ms = 60000 };
	ctl_opts_default(&o->ctl);
	store_opts_default(&o->store);
}

/* Options from the command line, then the config file.  *cfg: the file
 * read (caller frees; NULL when none).  0, or -1 with the reason. */
static int build_options(int argc, char **argv, struct options *o,
			 struct config **cfg, char *err, size_t errlen)
{
	bool cli[NOPTS] = { false };
	options_default(o);
	optind = 0; /* getopt again from the start (a reload) */
	parse_args(argc, argv, o, cli);
	if (read_config(o->config, cfg, err, errlen) < 0)
		return -1;
	if (*cfg && apply_config(*cfg, o, cli, err, errlen) < 0) {
		config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	if (o->admin_group) {
		struct group *g = getgrnam(o->admin_group);
		if (!g)
			return snprintf(err, errlen,
					"[ctl] admin-group = %s: no such group",
					o->admin_group),
			       -1;
		o->ctl.admin_gid = g->gr_gid;
	}
	return 0;
}

/* What SIGHUP needs: the command line to read again, and every config
 * read so far (a plugin may hold a value it got from api->config). */
static struct reload {
	int argc;
	char **argv;
	struct options cur;
	struct config **cfgs;
	size_t ncfgs;
} rl;

static void keep_config(struct config *cfg)
{
	struct config **n = realloc(rl.cfgs, (rl.ncfgs + 1) * sizeof(*n));
	if (!n)
		fatalx("out of memory");
	rl.cfgs = n;
	rl.cfgs[rl.ncfgs++] = cfg;
}

/* Options that only a restart changes: named in a warning. */
static void warn_restart_only(const struct options *a, const struct options *b)
{
	const char *what = NULL;
#define DIFF_STR(f) (a->f != b->f && (!a->f || !b->f || strcmp(a->f, b->f)))
	if (DIFF_STR(socket) || a->no_socket != b->no_socket)
		what = "the socket";
	else if (DIFF_STR(state_dir))
		what = "the state directory";
	else if (DIFF_STR(plugin_dir) || a->nplugins != b->nplugins)
		what = "the plugins";
	else if (a->threads != b->threads)
		what = "the thread count";
	else if (memcmp(&a->ctl, &b->ctl, sizeof(a->ctl)) ||
		 memcmp(&a->store, &b->store, sizeof(a->store)))
		what = "a [ctl] or [store] limit";
#undef DIFF_STR
	if (what)
		log_warnx("reload: %s changed; that takes effect at the next "
			  "start",
			  what);
}

/* A pool job reported stuck (--stuck-after): a daemon.warning event. */
static void stuck_event(void *ud, const struct loop_stuck *s)
{
	struct daemon *d = ud;
	char msg[256];
	snprintf(msg, sizeof(msg),
		 "%s: job %lld (%s) has run for %llu ms on a pool thread: "
		 "stuck",
		 s->plugin, (long long)s->job, s->work,
		 (unsigned long long)s->running_ms);
	events_emit(d->events, "daemon.warning",
		    json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "warning",
			      "job_stuck", "message", msg, "plugin", s->plugin,
			      "job_id", (json_int_t)s->job, "work", s->work,
			      "running_ms", (json_int_t)s->running_ms,
			      "limit_ms", (json_int_t)s->limit_ms));
}

/* SIGHUP: the configuration is read and checked in full first; on any
 * error the one in use stays.  The outcome is logged and shown by
 * GetStatus. */
static void reload_config(struct daemon *d)
{
	struct options n;
	struct config *cfg = NULL;
	char err[sizeof(d->config_result) - 16];
	notify_send("RELOADING=1");
	d->config_usec = wall_usec();
	if (build_options(rl.argc, rl.argv, &n, &cfg, err, sizeof(err)) < 0) {
		log_msg(LOGL_ERR, NULL,
			"reload: %s; the configuration in use is unchanged",
			err);
		snprintf(d->config_result, sizeof(d->config_result),
			 "error: %s", err);
		notify_send("READY=1\nSTATUS=reload failed: %s", err);
		return;
	}
	n.plugin_dir = rl.cur.plugin_dir; /* resolved at start */
	if (!n.socket)
		n.socket = rl.cur.socket;
	warn_restart_only(&rl.cur, &n);
	log_init(n.log_level, n.log_json);
	loop_set_watchdog(d->loop, (uint64_t)n.watchdog_ms);
	loop_set_stuck_after(d->loop, (uint64_t)n.stuck_after_ms, stuck_event,
			     d);
	d->drain_timeout_ms = n.drain_timeout_ms;
	if (cfg) {
		keep_config(cfg);
		plugins_set_config(d->plugins, config_lookup, cfg);
	} else {
		plugins_set_config(d->plugins, NULL, NULL);
	}
	rl.cur = n;
	snprintf(d->config_result, sizeof(d->config_result), "ok");
	log_info("configuration reloaded%s%s", cfg ? " from " : "",
		 cfg ? cfg->path : "");
	notify_send("READY=1\nSTATUS=running");
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	reload_config(arg);
}

int main(int argc, char **argv)
{
	struct options o;
	struct config *cfg;
	char err[700];
	struct daemon d = { .state = DAEMON_RUNNING,
			    .shutdown_timeout_ms = -1 };
	notify_init();
	if (build_options(argc, argv, &o, &cfg, err, sizeof(err)) < 0)
		fatalx("%s", err);
	rl.argc = argc;
	rl.argv = argv;
	if (cfg)
		keep_config(cfg);
	char *plugin_dir =
		o.plugin_dir ? strdup(o.plugin_dir) : default_plugin_dir();
	if (!plugin_dir)
		fatalx("cannot find the plugin directory; use --plugin-dir");
	o.plugin_dir = plugin_dir;
	log_init(o.log_level, o.log_json);
	char sock[PATH_MAX];
	if (!o.no_socket && !o.socket) {
		if (loopd_default_socket(sock, sizeof(sock)) < 0)
			fatalx("the default socket path is too long; use "
			       "--socket");
		o.socket = sock;
	}
	rl.cur = o;
	char *state_dir =
		o.state_dir ? strdup(o.state_dir) : default_state_dir();
	if (!state_dir)
		fatalx("no state directory: set --state-dir or HOME");
	int r = make_dirs(state_dir);
	if (r < 0)
		fatalx("cannot create the state directory %s: %s", state_dir,
		       strerror(-r));
	int lock_fd = take_lock(state_dir);
	signal(SIGPIPE, SIG_IGN);
	char db_path[PATH_MAX];
	snprintf(db_path, sizeof(db_path), "%s/loopd.db", state_dir);

	d.db_path = db_path;
	d.plugin_dir = plugin_dir;
	d.threads = o.threads;
	d.drain_timeout_ms = o.drain_timeout_ms;
	d.socket_path = "";
	d.started_usec = wall_usec();
	d.pid = getpid();
	if ((r = loop_new(&d.loop, o.threads)) < 0)
		fatalx("cannot start the event loop: %s", strerror(-r));
	loop_set_watchdog(d.loop, (uint64_t)o.watchdog_ms);
	if ((r = crash_init(state_dir, loop_watchdog(d.loop))) < 0)
		log_warnx("%s/crashes: %s; crashes will not be recorded",
			  state_dir, strerror(-r));
	open_store(&d, db_path, &o.store);
	loop_set_stuck_after(d.loop, (uint64_t)o.stuck_after_ms, stuck_event,
			     &d);
	if ((r = plugins_new(&d.plugins, d.loop, o.plugin_dir)) < 0)
		fatalx("out of memory");
	plugins_set_sched(d.plugins, d.sched);
	if (cfg)
		plugins_set_config(d.plugins, config_lookup, cfg);
	d.config_path = cfg ? cfg->path : "";
	cfg = NULL; /* kept in rl.cfgs */
	struct event *sigs[] = {
		evsignal_new(loop_base(d.loop), SIGINT, on_signal, &d),
		evsignal_new(loop_base(d.loop), SIGTERM, on_signal, &d),
		evsignal_new(loop_base(d.loop), SIGHUP, on_hup, &d),
	};
	snprintf(d.config_result, sizeof(d.config_result), "ok");
	d.config_usec = wall_usec();
	for (size_t i = 0; i < 3; i++)
		if (!sigs[i] || evsignal_add(sigs[i], NULL) < 0)
			fatalx("cannot install signal handlers");

	int status = load_plugins(d.plugins, &o) < 0 ? 1 : 0;
	if (status == 0)
		sched_start(d.sched);
	if (status == 0 && !o.no_socket)
		status = start_socket(&d, &o);
	if (status == 0) {
		log_info("loopd %s running (pid %d)", LOOPD_VERSION,
			 (int)getpid());
		notify_send("READY=1\nSTATUS=running\nMAINPID=%d",
			    (int)getpid());
		notify_watchdog_start(d.loop);
		loop_run(d.loop);
	}
	notify_send("STOPPING=1\nSTATUS=draining");
	int64_t drain = d.shutdown_timeout_ms >= 0 ? d.shutdown_timeout_ms
						   : d.drain_timeout_ms;
	int left = stop_daemon(&d, (uint64_t)drain);
	ctl_server_free(d.ctl);
	sched_free(d.sched);
	store_close(d.store);
	log_loop_stats(d.loop);
	if (left > 0) {
		/* Their jobs' threads cannot be joined: leave without. */
		log_msg(LOGL_WARN, NULL,
			"stopped with %d plugins' jobs still running", left);
		_exit(1);
	}
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	plugins_free(d.plugins);
	events_free(d.events);
	loop_free(d.loop);
	close(lock_fd);
	crash_fini();
	free(state_dir);
	free(plugin_dir);
	for (size_t i = 0; i < rl.ncfgs; i++)
		config_free(rl.cfgs[i]);
	free(rl.cfgs);
	log_info("stopped");
	return status;
}
