/*
 * plugin.c - plugins: dlopen, the descriptor checks of PLUGIN-API.md,
 * init with rollback, per-plugin accounting, draining and unload.
 *
 * A plugin's code may still be needed after it is told to stop: the done
 * callbacks of its cancelled jobs and the jobs still running are its code.
 * So a plugin is finished (shutdown, dlclose) only once its account shows
 * no live handle and no job in flight; loop.c calls loop_owner_released()
 * when that happens and the plugin is retired in the next pending phase.
 */
#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sched.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "log.h"
#include "scheduler.h"

struct plugins {
	struct loop *loop;
	char *dir;
	loopd_plugin *head; /* newest first, so stopping walks in reverse */
	plugins_config_fn config;
	void *config_ctx;
	bool deadline_passed; /* plugins_stop_all's drain deadline */
	struct sched *sched;
	unsigned failed_loads;
	bool enabling; /* plugins_enable: the quarantine does not apply */
	struct plugin_quarantine *quarantine;
};

loopd_plugin *plugins_head(struct plugins *reg)
{
	return reg->head;
}

unsigned plugins_failed_loads(const struct plugins *reg)
{
	return reg->failed_loads;
}

void plugins_set_sched(struct plugins *reg, struct sched *s)
{
	reg->sched = s;
}

struct sched *plugins_sched(struct plugins *reg)
{
	return reg->sched;
}

int plugins_new(struct plugins **out, struct loop *l, const char *dir)
{
	struct plugins *reg = calloc(1, sizeof(*reg));
	if (!reg || !(reg->dir = strdup(dir))) {
		free(reg);
		return -ENOMEM;
	}
	reg->loop = l;
	*out = reg;
	return 0;
}

struct loop *plugins_loop(struct plugins *reg)
{
	return reg->loop;
}

void plugins_set_config(struct plugins *reg, plugins_config_fn lookup,
			void *ctx)
{
	reg->config = lookup;
	reg->config_ctx = ctx;
}

const char *plugin_config(loopd_plugin *p, const char *key)
{
	char section[48];
	if (!p->reg->config)
		return NULL;
	snprintf(section, sizeof(section), "plugin.%s", p->name);
	return p->reg->config(p->reg->config_ctx, section, key);
}

struct loop_account *loop_owner_account(loopd_plugin *owner)
{
	return &owner->acct;
}

/*
 * Plugin names outlive their plugins: the watchdog thread may read the
 * name of the callback it watches just as the plugin goes.  Each distinct
 * name is kept once for the life of the process.  Loop thread only.
 */
static const char *intern_name(const char *name)
{
	static char **names;
	static size_t n, cap;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return names[i];
	if (n == cap) {
		size_t ncap = cap ? cap * 2 : 16;
		char **v = realloc(names, ncap * sizeof(*v));
		if (!v)
			return "?";
		names = v;
		cap = ncap;
	}
	char *copy = strdup(name);
	if (!copy)
		return "?";
	return names[n++] = copy;
}

const char *loop_owner_name(loopd_plugin *owner)
{
	return owner->iname;
}

void plugin_error(loopd_plugin *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	p->errors++;
	log_msg(LOGL_WARN, p->name, "%s", p->last_error);
}

static bool valid_name(const char *name)
{
	size_t n = 0;
	if (!name)
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_') ||
		    n >= 32)
			return false;
	}
	return n > 0;
}

static loopd_plugin *find_loaded(struct plugins *reg, const char *name)
{
	for (loopd_plugin *p = reg->head; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Checks the descriptor; on refusal writes the reason to err. */
static int check_desc(struct plugins *reg, const struct loopd_plugin_desc *d,
		      char *err, size_t errlen)
{
	if (!d)
		return snprintf(err, errlen, "loopd_plugin_v1() returned NULL"),
		       -EINVAL;
	if (d->magic != LOOPD_PLUGIN_MAGIC)
		return snprintf(err, errlen,
				"bad magic 0x%08x (expected 0x%08x)", d->magic,
				LOOPD_PLUGIN_MAGIC),
		       -EINVAL;
	if (d->abi_major != LOOPD_ABI_MAJOR)
		return snprintf(
			       err, errlen,
			       "built for plugin ABI %u.%u, this loopd speaks %u.%u",
			       d->abi_major, d->abi_minor, LOOPD_ABI_MAJOR,
			       LOOPD_ABI_MINOR),
		       -EPROTO;
	if (d->abi_minor > LOOPD_ABI_MINOR)
		return snprintf(
			       err, errlen,
			       "needs plugin ABI %u.%u, newer than this loopd's %u.%u",
			       d->abi_major, d->abi_minor, LOOPD_ABI_MAJOR,
			       LOOPD_ABI_MINOR),
		       -EPROTO;
	if (d->size < sizeof(*d))
		return snprintf(err, errlen,
				"descriptor size %u is short (%zu)", d->size,
				sizeof(*d)),
		       -EINVAL;
	if (!valid_name(d->name))
		return snprintf(err, errlen,
				"bad plugin name (must match [a-z0-9_]{1,32})"),
		       -EINVAL;
	if (find_loaded(reg, d->name))
		return snprintf(err, errlen,
				"a plugin named '%s' is already loaded",
				d->name),
		       -EEXIST;
	if (!d->init)
		return snprintf(err, errlen, "descriptor has no init"), -EINVAL;
	return 0;
}

static char *resolve(struct plugins *reg, const char *what)
{
	char *path;
	if (strchr(what, '/'))
		return strdup(what);
	if (asprintf(&path, "%s/%s.so", reg->dir, what) < 0)
		return NULL;
	return path;
}

/* Opens the file and returns its checked descriptor. */
/* Remembers a plugin refused for its crashes, for plugins.List. */
static void quarantine_add(struct plugins *reg, const char *name,
			   const char *path)
{
	for (struct plugin_quarantine *q = reg->quarantine; q; q = q->next)
		if (strcmp(q->name, name) == 0)
			return;
	struct plugin_quarantine *q = calloc(1, sizeof(*q));
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return;
	}
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->next = reg->quarantine;
	reg->quarantine = q;
}

static void quarantine_drop(struct plugins *reg, const char *name)
{
	for (struct plugin_quarantine **pp = &reg->quarantine; *pp;
	     pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			struct plugin_quarantine *q = *pp;
			*pp = q->next;
			free(q->path);
			free(q);
			return;
		}
	}
}

const struct plugin_quarantine *plugins_quarantine(struct plugins *reg)
{
	return reg->quarantine;
}

int plugins_enable(struct plugins *reg, const char *what, loopd_plugin **out,
		   char *err, size_t errlen)
{
	loopd_plugin *p = NULL;
	reg->enabling = true;
	int r = plugins_load(reg, what, &p, err, errlen);
	reg->enabling = false;
	if (r == 0) {
		if (crash_quarantined(p->name))
			log_msg(LOGL_WARN, p->name,
				"enabled again after its crashes");
		crash_forget(p->name);
		quarantine_drop(reg, p->name);
		if (out)
			*out = p;
	}
	return r;
}

static int open_plugin(struct plugins *reg, const char *path, void **dl,
		       const struct loopd_plugin_desc **desc, char *err,
		       size_t errlen)
{
	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*dl)
		return snprintf(err, errlen, "%s", dlerror()), -ENOENT;
	const struct loopd_plugin_desc *(*entry)(void);
	*(void **)&entry = dlsym(*dl, "loopd_plugin_v1");
	if (!entry) {
		dlclose(*dl);
		return snprintf(
			       err, errlen,
			       "not a loopd plugin: no loopd_plugin_v1 symbol"),
		       -ENOEXEC;
	}
	*desc = entry();
	int r = check_desc(reg, *desc, err, errlen);
	if (r == 0 && !reg->enabling && crash_quarantined((*desc)->name)) {
		quarantine_add(reg, (*desc)->name, path);
		r = snprintf(err, errlen,
			     "quarantined: it crashed loopd %d times within %d "
			     "minutes; 'loopctl plugins load %s' enables it "
			     "again",
			     CRASH_QUARANTINE_COUNT,
			     CRASH_QUARANTINE_WINDOW_SEC / 60, (*desc)->name),
		r = -PLUGIN_EQUARANTINED;
	}
	if (r < 0)
		dlclose(*dl);
	return r;
}

static void unlink_plugin(struct plugins *reg, loopd_plugin *p)
{
	for (loopd_plugin **pp = &reg->head; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

#ifndef LOOPD_ASAN
/* After dlclose the object should be gone: a reload would otherwise run
 * the old code's static state.  RTLD_NOLOAD finds it if it is not (the
 * plugin was built with -z nodelete, or a thread-local destructor or a
 * library it loaded pins it); that is logged, not fatal. */
static void check_unmapped(loopd_plugin *p)
{
	void *still = dlopen(p->path, RTLD_NOW | RTLD_NOLOAD);
	if (!still)
		return;
	log_msg(LOGL_WARN, p->name,
		"%s is still mapped after dlclose (-z nodelete, thread-local "
		"storage or a library holding it): a reload gets its old "
		"static state",
		p->path);
	dlclose(still);
}

#endif

/* Calls shutdown if init had succeeded, unloads the code, frees p. */
static void retire(loopd_plugin *p)
{
	bool was_up =
		p->pstate == PLUGIN_DRAINING || p->pstate == PLUGIN_STOPPING;
	unlink_plugin(p->reg, p);
	if (was_up && p->desc->shutdown)
		p->desc->shutdown(p, p->state);
	if (p->reg->sched)
		sched_plugin_gone(p->reg->sched, p);
	log_msg(LOGL_INFO, p->name,
		was_up ? "unloaded" : "rolled back after its failed init");
#ifndef LOOPD_ASAN
	/* Under ASan the code stays mapped so leak reports can name it. */
	dlclose(p->dl);
	check_unmapped(p);
#endif
	free(p->path);
	free(p);
}

/* Nothing of p's is left: no handle, no job in flight, no post queued.
 * The state is set before this is read, and host_post counts a post
 * before it reads the state (both sequentially consistent), so a post is
 * either refused or counted here. */
static bool idle(const loopd_plugin *p)
{
	return p->acct.handles == 0 && p->acct.inflight == 0 &&
	       atomic_load(&p->acct.posts) == 0;
}

static void retire_cb(loopd_plugin *unused, void *ud)
{
	loopd_plugin *p = ud;
	p->retire_queued = false;
	if (idle(p))
		retire(p);
}

/* Retires an idle, unloading p in the next pending phase: not now, since
 * the caller may be inside loop code that still uses p's handles. */
static void queue_retire(loopd_plugin *p)
{
	bool unloading =
		p->pstate == PLUGIN_DRAINING || p->pstate == PLUGIN_FAILED;
	if (!unloading || p->retire_queued || !idle(p))
		return;
	if (loop_defer(p->reg->loop, NULL, retire_cb, p) > 0)
		p->retire_queued = true;
}

void loop_owner_released(struct loop *l, loopd_plugin *owner)
{
	queue_retire(owner);
}

void plugins_recheck(loopd_plugin *unused, void *ud)
{
	struct plugins *reg = ud;
	for (loopd_plugin *p = reg->head; p; p = p->next)
		queue_retire(p);
}

/* Starts undoing everything p registered. */
static void drain(loopd_plugin *p)
{
	if (p->reg->sched)
		sched_plugin_down(p->reg->sched, p);
	loop_drain_owner(p->reg->loop, p);
	queue_retire(p);
}

int plugins_unload(struct plugins *reg, loopd_plugin *p)
{
	if (p->pstate != PLUGIN_ACTIVE)
		return -EBUSY;
	p->pstate = PLUGIN_DRAINING;
	log_msg(LOGL_INFO, p->name, "unloading");
	drain(p);
	return 0;
}

static int init_plugin(struct plugins *reg, loopd_plugin *p, char *err,
		       size_t errlen)
{
	loop_update_time(reg->loop);
	int r = p->desc->init(p, host_api(), &p->state);
	if (r == 0) {
		p->pstate = PLUGIN_ACTIVE;
		if (reg->sched)
			sched_plugin_up(reg->sched, p);
		return 0;
	}
	snprintf(err, errlen, "init failed (returned %d)", r);
	p->pstate = PLUGIN_FAILED;
	drain(p);
	return r < 0 ? r : -ECANCELED;
}

int plugins_load(struct plugins *reg, const char *what, loopd_plugin **out,
		 char *err, size_t errlen)
{
	char reason[400] = "";
	char *path = resolve(reg, what);
	void *dl;
	const struct loopd_plugin_desc *desc;
	if (!path)
		return -ENOMEM;
	int r = open_plugin(reg, path, &dl, &desc, reason, sizeof(reason));
	loopd_plugin *p = r < 0 ? NULL : calloc(1, sizeof(*p));
	if (r == 0 && !p) {
		dlclose(dl);
		r = -ENOMEM;
		snprintf(reason, sizeof(reason), "out of memory");
	}
	if (r == 0) {
		snprintf(p->name, sizeof(p->name), "%s", desc->name);
		p->iname = intern_name(p->name);
		p->path = path;
		p->dl = dl;
		p->desc = desc;
		p->reg = reg;
		p->next = reg->head;
		reg->head = p;
		r = init_plugin(reg, p, reason, sizeof(reason));
	}
	if (r < 0) {
		reg->failed_loads++;
		snprintf(err, errlen, "plugin %s refused: %s", path, reason);
		if (!p)
			free(path);
		return r;
	}
	log_msg(LOGL_INFO, p->name, "loaded version %s from %s",
		desc->version ? desc->version : "?", path);
	if (out)
		*out = p;
	return 0;
}

static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

int plugins_load_dir(struct plugins *reg)
{
	struct dirent **names;
	int n = scandir(reg->dir, &names, so_filter, alphasort);
	if (n < 0)
		return -errno;
	int failed = 0;
	for (int i = 0; i < n; i++) {
		char path[4096], err[600];
		snprintf(path, sizeof(path), "%s/%s", reg->dir,
			 names[i]->d_name);
		if (plugins_load(reg, path, NULL, err, sizeof(err)) < 0) {
			log_warnx("%s", err);
			failed++;
		}
		free(names[i]);
	}
	free(names);
	return failed;
}

/* Whether stop_all must go on running the loop. */
static bool busy(const struct plugins *reg)
{
	for (const loopd_plugin *p = reg->head; p; p = p->next)
		if (!idle(p) || p->retire_queued)
			return true;
	return false;
}

static void drain_deadline(loopd_plugin *unused, void *ud)
{
	struct plugins *reg = ud;
	reg->deadline_passed = true;
	loop_stop(reg->loop);
}

/* A plugin whose jobs still run cannot be shut down or unmapped: its code
 * is on a worker's stack.  It is left as it is, and said so. */
static void abandon(loopd_plugin *p)
{
	if (p->reg->sched)
		sched_plugin_gone(p->reg->sched, p);
	log_msg(LOGL_WARN, p->name,
		"not shut down: %llu jobs still running, %llu handles and "
		"%llu posts left when the stop stopped waiting",
		(unsigned long long)p->acct.inflight,
		(unsigned long long)p->acct.handles,
		(unsigned long long)atomic_load(&p->acct.posts));
	unlink_plugin(p->reg, p);
}

int plugins_stop_all(struct plugins *reg, uint64_t timeout_ms,
		     const volatile bool *force)
{
	for (loopd_plugin *p = reg->head; p; p = p->next) {
		if (p->pstate == PLUGIN_ACTIVE || p->pstate == PLUGIN_LOADING) {
			p->pstate = PLUGIN_STOPPING;
			if (reg->sched)
				sched_plugin_down(reg->sched, p);
			loop_drain_owner(reg->loop, p);
		}
	}
	/* An unreferenced timer: the deadline must not keep the loop up. */
	loopd_id t =
		loop_timer(reg->loop, NULL, timeout_ms, 0, drain_deadline, reg);
	if (t > 0)
		loop_ref(reg->loop, NULL, t, 0);
	/* Run until every cancelled job's done and every close callback has
	 * run; plugins that were already unloading retire on their own. */
	while (busy(reg) && !reg->deadline_passed && !*force) {
		if (loop_alive(reg->loop)) {
			loop_run(reg->loop);
		} else {
			/* Busy but nothing queued yet: a plugin thread is
			 * between counting a post and queueing it. */
			sched_yield();
			loop_run_once(reg->loop);
		}
	}
	if (t > 0)
		loop_close(reg->loop, NULL, t, NULL);
	/* head is the newest: shut down in reverse load order. */
	int left = 0;
	while (reg->head) {
		loopd_plugin *p = reg->head;
		if (idle(p) && !p->retire_queued) {
			retire(p);
		} else {
			abandon(p);
			left++;
		}
	}
	return left;
}

void plugins_free(struct plugins *reg)
{
	if (!reg)
		return;
	while (reg->quarantine)
		quarantine_drop(reg, reg->quarantine->name);
	free(reg->dir);
	free(reg);
}
