/*
 * timer.h - loopd's timer queue: pure data structure, no libevent, no clock.
 *
 * Timers are ordered by (due, seq): equal deadlines fire in start order.
 * The common case in a scheduler is many timers of the same duration, so
 * timers are kept in one FIFO list per duration (appending is O(1) because
 * due = now + duration never decreases for a fixed duration), and a binary
 * min-heap orders the lists by their heads, as Node.js does.  A heap of 1M
 * timers of 1000 distinct durations is then a heap of 1000 lists.
 *
 * Nodes are intrusive: the caller embeds struct timer_node and owns its
 * memory.  The queue never allocates per timer, only per distinct duration.
 */
#ifndef LOOPD_TIMER_H
#define LOOPD_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct timer_list;

struct timer_node {
	uint64_t due; /* absolute ms; set by timer_queue_add */
	uint64_t seq; /* start sequence; set by timer_queue_add */
	struct timer_node *prev, *next;
	struct timer_list *list; /* NULL when not queued */
};

struct timer_queue {
	struct timer_list **heap; /* min-heap of non-empty lists by head */
	uint32_t heap_len, heap_cap;
	struct timer_list **map; /* open addressing: duration -> list */
	uint32_t map_cap, map_len;
	uint64_t next_seq;
	uint64_t count;           /* queued timers */
	struct timer_list *spare; /* freed lists kept for reuse */
	/* Private below this line. */
	struct timer_list *last; /* list of the last add: the common case */
	uint32_t map_shift;      /* 64 - log2(map_cap), for the hash */
	uint32_t spare_len;
};

/* 0 or -ENOMEM. */
int timer_queue_init(struct timer_queue *q);
/* Frees the queue's own memory; nodes stay the caller's. */
void timer_queue_free(struct timer_queue *q);

/*
 * Queues n to fire at now + timeout (saturating at UINT64_MAX), with the
 * next start sequence.  Adding is O(1) when `now` never decreases between
 * calls with the same timeout (a decrease is handled, at the cost of a walk
 * back along that timeout's list).  n must not be queued (if it is, it is removed first, so
 * this restarts it).  0 or -ENOMEM; on -ENOMEM n is left unqueued.
 */
int timer_queue_add(struct timer_queue *q, struct timer_node *n, uint64_t now,
		    uint64_t timeout);
/* Unlinks a queued node (no-op if not queued). */
void timer_queue_remove(struct timer_queue *q, struct timer_node *n);
/* The earliest node by (due, seq), or NULL. */
struct timer_node *timer_queue_peek(const struct timer_queue *q);
/*
 * Removes and returns the earliest node if due <= now and seq < seq_limit,
 * else NULL.  seq_limit lets the timers phase ignore timers started during
 * the phase itself.
 */
struct timer_node *timer_queue_pop_due(struct timer_queue *q, uint64_t now,
				       uint64_t seq_limit);
/*
 * Checks every internal invariant (heap order, cached keys, list links and
 * order, map contents, count).  O(count); for tests.  0 or -EINVAL.
 */
int timer_queue_check(const struct timer_queue *q);
static inline bool timer_node_queued(const struct timer_node *n)
{
	return n->list != 0;
}

#endif
