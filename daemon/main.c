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
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "scheduler.h"
#include "store.h"

#define EXIT_LOCKED 75
#define MAX_PLUGINS 64

struct options {
	bool no_socket;
	const char *config;
	const char *state_dir;
	const char *plugin_dir;
	const char *plugins[MAX_PLUGINS];
	int nplugins;
	unsigned threads;
	int64_t drain_timeout_ms;
	int64_t watchdog_ms;
	int log_level;
	bool log_json;
};

enum {
	OPT_NO_SOCKET = 256,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_DRAIN_TIMEOUT,
	OPT_WATCHDOG,
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
	{ "state-dir", 'S', required_argument, true, "DIR",
	  "state directory (instance lock; default $XDG_STATE_HOME/loopd, "
	  "or /var/lib/loopd as root)" },
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
		"names (no-socket = yes).\n"
		"The control socket is not built yet: run with --no-socket.\n"
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
		if (!*arg)
			return snprintf(err, errlen, "an empty path"), -1;
		*(c == 'S' ? &o->state_dir : &o->plugin_dir) = arg;
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

/* Checks the file's sections and applies [loopd] where the command line
 * did not set the option.  Exits 1 with FILE: [section] key: reason. */
static void apply_config(const struct config *cfg, struct options *o,
			 const bool cli[NOPTS])
{
	char err[200];
	for (size_t i = 0; i < cfg->n; i++) {
		const struct config_entry *e = &cfg->v[i];
		if (!strncmp(e->section, "plugin.", 7))
			continue; /* the plugin's to read */
		if (!strcmp(e->section, "ctl") ||
		    !strcmp(e->section, "store")) {
			log_warnx("%s: [%s] %s: not used by this version",
				  cfg->path, e->section, e->key);
			continue;
		}
		if (strcmp(e->section, "loopd"))
			fatalx("%s: unknown section [%s] (expected [loopd], "
			       "[ctl], [store] or [plugin.NAME])",
			       cfg->path, e->section);
		size_t k = 0;
		while (k < NOPTS && strcmp(opt_table[k].name, e->key))
			k++;
		if (k == NOPTS || !opt_table[k].in_config)
			fatalx("%s: [loopd] %s: unknown option (see loopd --help)",
			       cfg->path, e->key);
		if (cli[k])
			continue;
		if (set_option(o, opt_table[k].val, e->value, err,
			       sizeof(err)) < 0)
			fatalx("%s: [loopd] %s = %s: %s", cfg->path, e->key,
			       e->value, err);
	}
}

/* The config file named by --config, else /etc/loopd/loopd.conf if it
 * exists, else none. */
static struct config *load_config(const char *path)
{
	char err[600];
	struct config *cfg = NULL;
	int r = config_load(path ? path : "/etc/loopd/loopd.conf", &cfg, err,
			    sizeof(err));
	if (r == -ENOENT && !path)
		return NULL;
	if (r < 0)
		fatalx("%s", err);
	return cfg;
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
		if (plugins_load(reg, o->plugins[i], NULL, err, sizeof(err)) <
		    0) {
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
static struct store *open_store(struct daemon *d, const char *path)
{
	char err[2048];
	struct store *st;
	int r = store_open(&st, d->loop, path, NULL, err, sizeof(err));
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
	while (!store_idle(d->store))
		loop_run_once(d->loop);
	return left;
}

int main(int argc, char **argv)
{
	struct options o = { .threads = 4,
			     .log_level = LOGL_INFO,
			     .drain_timeout_ms = 30000,
			     .watchdog_ms = 500 };
	bool cli[NOPTS] = { false };
	struct daemon d = { .state = DAEMON_RUNNING,
			    .shutdown_timeout_ms = -1 };
	parse_args(argc, argv, &o, cli);
	struct config *cfg = load_config(o.config);
	if (cfg)
		apply_config(cfg, &o, cli);
	char *plugin_dir =
		o.plugin_dir ? strdup(o.plugin_dir) : default_plugin_dir();
	if (!plugin_dir)
		fatalx("cannot find the plugin directory; use --plugin-dir");
	o.plugin_dir = plugin_dir;
	log_init(o.log_level, o.log_json);
	if (!o.no_socket)
		fatalx("the control socket is not built yet; run with --no-socket");

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
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	d.started_usec = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if ((r = loop_new(&d.loop, o.threads)) < 0)
		fatalx("cannot start the event loop: %s", strerror(-r));
	loop_set_watchdog(d.loop, (uint64_t)o.watchdog_ms);
	open_store(&d, db_path);
	if ((r = plugins_new(&d.plugins, d.loop, o.plugin_dir)) < 0)
		fatalx("out of memory");
	plugins_set_sched(d.plugins, d.sched);
	if (cfg)
		plugins_set_config(d.plugins, config_lookup, cfg);
	struct event *sigs[] = {
		evsignal_new(loop_base(d.loop), SIGINT, on_signal, &d),
		evsignal_new(loop_base(d.loop), SIGTERM, on_signal, &d),
	};
	for (size_t i = 0; i < 2; i++)
		if (!sigs[i] || evsignal_add(sigs[i], NULL) < 0)
			fatalx("cannot install signal handlers");

	int status = load_plugins(d.plugins, &o) < 0 ? 1 : 0;
	if (status == 0) {
		sched_start(d.sched);
		log_info("loopd %s running (pid %d)", LOOPD_VERSION,
			 (int)getpid());
		loop_run(d.loop);
	}
	int64_t drain = d.shutdown_timeout_ms >= 0 ? d.shutdown_timeout_ms
						   : o.drain_timeout_ms;
	int left = stop_daemon(&d, (uint64_t)drain);
	sched_free(d.sched);
	store_close(d.store);
	log_loop_stats(d.loop);
	if (left > 0) {
		/* Their jobs' threads cannot be joined: leave without. */
		log_msg(LOGL_WARN, NULL,
			"stopped with %d plugins' jobs still running", left);
		_exit(1);
	}
	for (size_t i = 0; i < 2; i++)
		event_free(sigs[i]);
	plugins_free(d.plugins);
	events_free(d.events);
	loop_free(d.loop);
	close(lock_fd);
	free(state_dir);
	free(plugin_dir);
	config_free(cfg);
	log_info("stopped");
	return status;
}
