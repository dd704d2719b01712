/*
 * exec_harness.c - runs the exec plugin under loopd's real loop
 * (loopd_core), with a stand-in for the scheduler's side of the plugin API
 * (add_kind, run_job, run_id, finish), so the plugin's own behaviour is
 * tested exactly, without the database and the scheduler's timing:
 * tests/integration/exec.sh drives both this and loopd itself.
 *
 *   exec_harness [-c KEY=VALUE]... [-o DIR] [-s MS] [-x MS] [-V]
 *                PLUGIN.so ARGS_JSON...
 *
 * Starts one run per ARGS_JSON (ids 1, 2, ...) at once, and prints
 * "run ID: status S, N bytes" as each finishes; -o DIR writes each run's
 * output to DIR/ID.out.  -c sets the plugin's config; -s MS stops every
 * run after MS ms (stop, as a timeout does); -x MS calls the plugin's
 * shutdown after MS ms, runs still going (as loopd's drain does); -V only
 * validates each ARGS_JSON: "ok" or "rejected: REASON".  Exit status 0
 * when every run finished exactly once, else 1.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "pool.h"
#include "loopd/plugin.h"

#define MAX_CONFIG 16
#define MAX_RUNS   1024

struct loopd_run {
	int64_t id;
	char job[32];
	int finished;
};

static struct loop *L;
static struct loopd_kind kind;
static int have_kind;
static const char *cfg_key[MAX_CONFIG], *cfg_val[MAX_CONFIG];
static int ncfg;
static const char *outdir;
static struct loopd_run runs[MAX_RUNS];
static int nruns, errors;

LOOPD_PRINTF(3, 4)
static void h_log(loopd_plugin *p, int level, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "exec[%d]: ", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *h_config(loopd_plugin *p, const char *key)
{
	for (int i = 0; i < ncfg; i++)
		if (!strcmp(cfg_key[i], key))
			return cfg_val[i];
	return NULL;
}

static uint64_t h_now(loopd_plugin *p)
{
	return loop_now(L);
}

static loopd_id h_timer(loopd_plugin *p, uint64_t t, uint64_t r, loopd_cb cb,
			void *ud)
{
	return loop_timer(L, NULL, t, r, cb, ud);
}

static loopd_id h_immediate(loopd_plugin *p, loopd_cb cb, void *ud)
{
	return loop_immediate(L, NULL, cb, ud);
}

static loopd_id h_defer(loopd_plugin *p, loopd_cb cb, void *ud)
{
	return loop_defer(L, NULL, cb, ud);
}

static loopd_id h_watch(loopd_plugin *p, int fd, int ev, loopd_io_cb cb,
			void *ud)
{
	return loop_watch(L, NULL, fd, ev, cb, ud);
}

static loopd_id h_submit(loopd_plugin *p, loopd_work_fn w, loopd_done_fn d,
			 void *ud)
{
	return loop_submit(L, NULL, w, d, ud);
}

static int h_cancel(loopd_plugin *p, loopd_id job)
{
	return loop_cancel(L, NULL, job);
}

static int h_close(loopd_plugin *p, loopd_id h, loopd_cb on_close)
{
	return loop_close(L, NULL, h, on_close);
}

static int h_ref(loopd_plugin *p, loopd_id h, int ref)
{
	return loop_ref(L, NULL, h, ref);
}

static int h_post(loopd_plugin *p, loopd_cb cb, void *ud)
{
	return loop_post(L, NULL, cb, ud);
}

static int h_add_kind(loopd_plugin *p, const struct loopd_kind *k)
{
	if (have_kind || k->size < sizeof(*k))
		return -EINVAL;
	kind = *k;
	have_kind = 1;
	return 0;
}

static const char *h_run_job(loopd_run *run)
{
	return run->job;
}

static int64_t h_run_id(loopd_run *run)
{
	return run->id;
}

static int h_finish(loopd_run *run, int status, const char *out, size_t len)
{
	char path[4096];
	FILE *f;
	if (run->finished++) {
		printf("run %" PRId64 ": finished twice\n", run->id);
		errors++;
		return -EALREADY;
	}
	printf("run %" PRId64 ": status %d, %zu bytes\n", run->id, status, len);
	fflush(stdout);
	if (!outdir)
		return 0;
	snprintf(path, sizeof(path), "%s/%" PRId64 ".out", outdir, run->id);
	if (!(f = fopen(path, "w")) || fwrite(out, 1, len, f) != len) {
		perror(path);
		errors++;
	}
	if (f)
		fclose(f);
	return 0;
}

static const struct loopd_api api = {
	.size = sizeof(struct loopd_api),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.log = h_log,
	.config = h_config,
	.now = h_now,
	.timer = h_timer,
	.immediate = h_immediate,
	.defer = h_defer,
	.watch = h_watch,
	.submit = h_submit,
	.cancel = h_cancel,
	.close = h_close,
	.ref = h_ref,
	.post = h_post,
	.add_kind = h_add_kind,
	.run_job = h_run_job,
	.run_id = h_run_id,
	.finish = h_finish,
};

static void stop_all(loopd_plugin *p, void *ud)
{
	for (int i = 0; i < nruns; i++)
		if (!runs[i].finished)
			kind.stop(NULL, &runs[i]);
}

static void end_loop(loopd_plugin *p, void *ud)
{
	loop_stop(L);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: exec_harness [-c KEY=VALUE]... [-o DIR] [-s MS] [-x MS] [-V] PLUGIN.so ARGS_JSON...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long stop_ms = -1, exit_ms = -1;
	int opt, validate_only = 0, unfinished = 0;
	const struct loopd_plugin_desc *(*entry)(void);
	const struct loopd_plugin_desc *desc;
	void *so, *state = NULL;
	char err[512];
	while ((opt = getopt(argc, argv, "c:o:s:x:V")) != -1) {
		char *eq = NULL;
		switch (opt) {
		case 'c':
			if (ncfg == MAX_CONFIG || !(eq = strchr(optarg, '=')))
				usage();
			*eq = '\0';
			cfg_key[ncfg] = optarg;
			cfg_val[ncfg++] = eq + 1;
			break;
		case 'o': outdir = optarg; break;
		case 's': stop_ms = atol(optarg); break;
		case 'x': exit_ms = atol(optarg); break;
		case 'V': validate_only = 1; break;
		default: usage();
		}
	}
	if (optind + 1 >= argc || argc - optind - 1 > MAX_RUNS)
		usage();
	if (loop_new(&L, 2) < 0) {
		fprintf(stderr, "exec_harness: loop_new failed\n");
		return 1;
	}
	so = dlopen(argv[optind], RTLD_NOW | RTLD_LOCAL);
	entry = so ? (const struct loopd_plugin_desc *(*)(void))dlsym(
			     so, "loopd_plugin_v1")
		   : NULL;
	if (!entry) {
		fprintf(stderr, "exec_harness: %s\n", dlerror());
		return 1;
	}
	desc = entry();
	if (desc->init(NULL, &api, &state) != 0 || !have_kind) {
		fprintf(stderr, "exec_harness: init failed\n");
		return 1;
	}
	for (int i = optind + 1; i < argc; i++) {
		struct loopd_run *run = &runs[nruns++];
		int r;
		run->id = nruns;
		snprintf(run->job, sizeof(run->job), "job%d", nruns);
		if (validate_only) {
			r = kind.validate(NULL, argv[i], err, sizeof(err));
			printf(r ? "rejected: %s\n" : "ok\n", err);
			run->finished = 1;
			continue;
		}
		r = kind.start(NULL, run, argv[i]);
		if (r < 0) {
			printf("run %d: start: %s\n", nruns, strerror(-r));
			run->finished = 1;
		}
	}
	fflush(stdout);
	if (stop_ms >= 0)
		loop_ref(L, NULL,
			 loop_timer(L, NULL, (uint64_t)stop_ms, 0, stop_all,
				    NULL),
			 0);
	if (exit_ms >= 0)
		loop_timer(L, NULL, (uint64_t)exit_ms, 0, end_loop, NULL);
	loop_run(L);
	loop_drain_owner(L, NULL); /* rule 4, as loopd's unload does */
	do /* every cancelled job's done, and the running ones awaited */
		loop_run_once(L);
	while (pool_inflight(loop_pool(L)) > 0);
	desc->shutdown(NULL, state);
	loop_free(L);
	for (int i = 0; i < nruns; i++)
		unfinished += !runs[i].finished;
	if (unfinished)
		printf("unfinished: %d\n", unfinished);
	/* No dlclose: LeakSanitizer names leaks only in loaded objects. */
	return errors || unfinished ? 1 : 0;
}
