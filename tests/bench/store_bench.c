/*
 * store_bench.c - durable job adds through the store (synchronous=FULL,
 * WAL), with group commit against one add per transaction.
 *
 *   store_bench [SECONDS [CLIENTS [DIR]]]     defaults: 3, 16, $TMPDIR
 *
 * CLIENTS request streams on one loop, each with one add outstanding: an
 * acknowledgement (after the COMMIT) sends that client's next add, as a
 * client of the control socket would.  Whatever is queued when the store
 * lane is free goes in one transaction.  The baseline is one client, so
 * every add is a transaction of its own.  Each phase gets a fresh
 * database in DIR, which should be on the disk under test (not tmpfs).
 * Nothing is asserted: the numbers are printed.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "store.h"

#define MAX_CLIENTS 1024
#define MAX_BATCH   1024

struct client {
	struct store_req r; /* first: the done callback casts back */
	unsigned id;
};

static struct {
	struct store *s;
	double end;
	uint64_t acks, next_name;
	uint64_t cur_batch, cur_size;
	uint64_t sizes[MAX_BATCH + 1]; /* batches by their number of adds */
} B;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_add(struct client *c);

/* Acks of one batch complete together, in order: a new batch number
 * closes the previous batch's count. */
static void count_batch(uint64_t batch)
{
	if (batch != B.cur_batch && B.cur_size) {
		B.sizes[B.cur_size > MAX_BATCH ? MAX_BATCH : B.cur_size]++;
		B.cur_size = 0;
	}
	B.cur_batch = batch;
	B.cur_size++;
}

static void on_ack(struct store_req *r, int status)
{
	struct client *c = (struct client *)r;
	if (status < 0) {
		fprintf(stderr, "store_bench: add failed: %s\n",
			strerror(-status));
		exit(1);
	}
	B.acks++;
	count_batch(r->batch);
	store_req_clear(r);
	if (now_s() < B.end)
		send_add(c);
}

static void send_add(struct client *c)
{
	char name[32];
	store_req_init(&c->r, STORE_JOB_ADD);
	c->r.done = on_ack;
	snprintf(name, sizeof(name), "c%u-%" PRIu64, c->id, B.next_name++);
	c->r.job.name = strdup(name);
	c->r.job.kind = strdup("exec");
	c->r.job.schedule = strdup("*:0/15");
	c->r.job.args_json = strdup("{\"command\":\"backup --all\"}");
	c->r.job.created_usec = c->r.job.updated_usec = 1700000000000000;
	if (store_submit(B.s, &c->r) < 0) {
		fprintf(stderr, "store_bench: submit refused\n");
		exit(1);
	}
}

struct result {
	double rate;
	struct store_stats st;
};

static struct result phase(const char *dir, unsigned nclients, double secs)
{
	static struct client clients[MAX_CLIENTS];
	struct loop *l;
	char path[4000], err[2048], cmd[4100];
	struct result res;
	snprintf(path, sizeof(path), "%s/bench-%u.db", dir, nclients);
	static const char *const sfx[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "%s%s", path, sfx[i]);
		unlink(cmd);
	}
	if (loop_new(&l, 1) < 0 ||
	    store_open(&B.s, l, path, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_bench: cannot open %s: %s\n", path, err);
		exit(1);
	}
	memset(B.sizes, 0, sizeof(B.sizes));
	B.acks = B.cur_batch = B.cur_size = 0;
	double t0 = now_s();
	B.end = t0 + secs;
	for (unsigned i = 0; i < nclients; i++) {
		clients[i].id = i;
		send_add(&clients[i]);
	}
	loop_run(l);
	count_batch(0); /* closes the last batch */
	res.rate = (double)B.acks / (now_s() - t0);
	store_stats(B.s, &res.st);
	store_close(B.s);
	loop_free(l);
	unlink(path);
	return res;
}

static void print_phase(const char *what, unsigned nclients,
			const struct result *r)
{
	const struct store_stats *st = &r->st;
	printf("%-28s %9.0f acks/s  %7" PRIu64 " commits  batch p50 %" PRIu64
	       " p99 %" PRIu64 " max %" PRIu64 "  commit p50 %" PRIu64
	       " us p99 %" PRIu64 " us\n",
	       what, r->rate, st->commits, st->batch_p50, st->batch_p99,
	       st->batch_max, st->commit_p50_us, st->commit_p99_us);
	if (nclients < 2)
		return;
	printf("  batch sizes (adds per commit: commits):");
	for (unsigned n = 1; n <= MAX_BATCH; n++)
		if (B.sizes[n])
			printf(" %u:%" PRIu64, n, B.sizes[n]);
	printf("\n");
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	unsigned nclients = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
	const char *dir = argc > 3           ? argv[3]
			  : getenv("TMPDIR") ? getenv("TMPDIR")
					     : "/tmp";
	char what[64];
	if (secs <= 0 || nclients < 1 || nclients > MAX_CLIENTS) {
		fprintf(stderr,
			"usage: store_bench [SECONDS [CLIENTS [DIR]]]\n");
		return 2;
	}
	printf("store_bench: durable adds (WAL, synchronous=FULL) in %s, "
	       "%.1f s per phase, SQLite %s\n",
	       dir, secs, sqlite3_libversion());
	snprintf(what, sizeof(what), "group commit, %u clients", nclients);
	struct result group = phase(dir, nclients, secs);
	print_phase(what, nclients, &group);
	struct result single = phase(dir, 1, secs);
	print_phase("one add per commit, 1 client", 1, &single);
	printf("ratio: %.1fx\n", group.rate / single.rate);
	return 0;
}
