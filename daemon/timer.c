/*
 * timer.c - the timer queue: FIFO lists per duration, a min-heap of lists.
 *
 * Invariants (timer_queue_check verifies them all):
 * - every list in the map is non-empty, is in the heap, and vice versa;
 * - a list is sorted by (due, seq), and caches its head's key so that heap
 *   comparisons read one struct instead of chasing the head pointer;
 * - q->last is NULL or a live list.
 * Empty lists leave the heap and the map at once, so a pop never has to
 * skip dead entries; a few are kept on a spare list to avoid malloc churn
 * when one timer of a duration is restarted again and again.
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TIMER_INIT_CAP  16
#define TIMER_SPARE_MAX 32

struct timer_list {
	uint64_t due, seq; /* the head's key */
	struct timer_node *head, *tail;
	uint64_t duration;
	uint32_t heap_idx;
	struct timer_list *next_spare;
};

static inline bool key_lt(const struct timer_list *a,
			  const struct timer_list *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static inline void list_rekey(struct timer_list *l)
{
	l->due = l->head->due;
	l->seq = l->head->seq;
	/*
	 * The next head is touched when this one is popped, usually many pops
	 * later (other lists fire in between): fetch it now, not then, since
	 * consecutive nodes of a list are far apart in the caller's memory.
	 */
	if (l->head->next)
		__builtin_prefetch(l->head->next, 1);
}

/* Heap. */

static void heap_up(struct timer_list **h, uint32_t i)
{
	struct timer_list *l = h[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (!key_lt(l, h[p]))
			break;
		h[i] = h[p];
		h[i]->heap_idx = i;
		i = p;
	}
	h[i] = l;
	l->heap_idx = i;
}

static void heap_down(struct timer_list **h, uint32_t len, uint32_t i)
{
	struct timer_list *l = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= len)
			break;
		if (c + 1 < len && key_lt(h[c + 1], h[c]))
			c++;
		if (!key_lt(h[c], l))
			break;
		h[i] = h[c];
		h[i]->heap_idx = i;
		i = c;
	}
	h[i] = l;
	l->heap_idx = i;
}

/* The caller has made room (list_new does). */
static void heap_push(struct timer_queue *q, struct timer_list *l)
{
	q->heap[q->heap_len] = l;
	heap_up(q->heap, q->heap_len++);
}

static void heap_remove(struct timer_queue *q, struct timer_list *l)
{
	uint32_t i = l->heap_idx;
	struct timer_list *last = q->heap[--q->heap_len];

	if (i == q->heap_len)
		return;
	q->heap[i] = last;
	if (i > 0 && key_lt(last, q->heap[(i - 1) / 2]))
		heap_up(q->heap, i);
	else
		heap_down(q->heap, q->heap_len, i);
}

static int heap_reserve(struct timer_queue *q)
{
	struct timer_list **h;
	uint32_t cap;

	if (q->heap_len < q->heap_cap)
		return 0;
	if (q->heap_cap > UINT32_MAX / 2)
		return -ENOMEM;
	cap = q->heap_cap * 2;
	h = realloc(q->heap, (size_t)cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	q->heap = h;
	q->heap_cap = cap;
	return 0;
}

/* Map: linear probing, backward-shift deletion (no tombstones). */

static inline uint32_t map_slot(uint64_t duration, uint32_t shift)
{
	/* Fibonacci hashing: durations are often small or round numbers. */
	return (uint32_t)((duration * UINT64_C(0x9e3779b97f4a7c15)) >> shift);
}

static struct timer_list *map_find(const struct timer_queue *q,
				   uint64_t duration)
{
	uint32_t mask = q->map_cap - 1;
	uint32_t i = map_slot(duration, q->map_shift);
	struct timer_list *l;

	while ((l = q->map[i])) {
		if (l->duration == duration)
			return l;
		i = (i + 1) & mask;
	}
	return NULL;
}

static void map_put(struct timer_list **map, uint32_t cap, uint32_t shift,
		    struct timer_list *l)
{
	uint32_t i = map_slot(l->duration, shift);

	while (map[i])
		i = (i + 1) & (cap - 1);
	map[i] = l;
}

/* Keeps the load under 1/2, so probes stay short. */
static int map_reserve(struct timer_queue *q)
{
	struct timer_list **map;
	uint32_t cap, i;

	if (q->map_len + 1 <= q->map_cap / 2)
		return 0;
	if (q->map_cap > UINT32_MAX / 2)
		return -ENOMEM;
	cap = q->map_cap * 2;
	map = calloc(cap, sizeof(*map));
	if (!map)
		return -ENOMEM;
	for (i = 0; i < q->map_cap; i++)
		if (q->map[i])
			map_put(map, cap, q->map_shift - 1, q->map[i]);
	free(q->map);
	q->map = map;
	q->map_cap = cap;
	q->map_shift--;
	return 0;
}

static void map_delete(struct timer_queue *q, const struct timer_list *l)
{
	uint32_t mask = q->map_cap - 1;
	uint32_t i = map_slot(l->duration, q->map_shift);
	uint32_t j;

	while (q->map[i] != l)
		i = (i + 1) & mask;
	/* Pull back later entries of the run that would no longer be found. */
	for (j = (i + 1) & mask; q->map[j]; j = (j + 1) & mask) {
		uint32_t home = map_slot(q->map[j]->duration, q->map_shift);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			q->map[i] = q->map[j];
			i = j;
		}
	}
	q->map[i] = NULL;
	q->map_len--;
}

/* Lists. */

/* A new empty list in the map, with room for it in the heap. */
static struct timer_list *list_new(struct timer_queue *q, uint64_t duration)
{
	struct timer_list *l;

	if (map_reserve(q) < 0 || heap_reserve(q) < 0)
		return NULL;
	l = q->spare;
	if (l) {
		q->spare = l->next_spare;
		q->spare_len--;
	} else {
		l = malloc(sizeof(*l));
		if (!l)
			return NULL;
	}
	memset(l, 0, sizeof(*l));
	l->duration = duration;
	map_put(q->map, q->map_cap, q->map_shift, l);
	q->map_len++;
	return l;
}

static void list_free(struct timer_queue *q, struct timer_list *l)
{
	heap_remove(q, l);
	map_delete(q, l);
	if (q->last == l)
		q->last = NULL;
	if (q->spare_len < TIMER_SPARE_MAX) {
		l->next_spare = q->spare;
		q->spare = l;
		q->spare_len++;
	} else {
		free(l);
	}
}

/*
 * Only reached if a caller's `now` went backwards: keeps the list sorted
 * anyway, at O(distance) cost, rather than firing out of order.
 */
static void list_insert_slow(struct timer_queue *q, struct timer_list *l,
			     struct timer_node *n)
{
	struct timer_node *p = l->tail;

	while (p && p->due > n->due)
		p = p->prev;
	n->prev = p;
	n->next = p ? p->next : l->head;
	n->next->prev = n;
	if (p) {
		p->next = n;
		return;
	}
	l->head = n;
	list_rekey(l);
	heap_up(q->heap, l->heap_idx);
}

static void list_append(struct timer_queue *q, struct timer_list *l,
			struct timer_node *n)
{
	struct timer_node *t = l->tail;

	n->next = NULL;
	if (!t) {
		n->prev = NULL;
		l->head = l->tail = n;
		list_rekey(l);
		heap_push(q, l);
	} else if (n->due >= t->due) {
		n->prev = t;
		t->next = n;
		l->tail = n;
	} else {
		list_insert_slow(q, l, n);
	}
}

/* API. */

int timer_queue_init(struct timer_queue *q)
{
	memset(q, 0, sizeof(*q));
	q->heap = malloc(TIMER_INIT_CAP * sizeof(*q->heap));
	q->map = calloc(TIMER_INIT_CAP, sizeof(*q->map));
	if (!q->heap || !q->map) {
		free(q->heap);
		free(q->map);
		memset(q, 0, sizeof(*q));
		return -ENOMEM;
	}
	q->heap_cap = TIMER_INIT_CAP;
	q->map_cap = TIMER_INIT_CAP;
	q->map_shift = 64 - (uint32_t)__builtin_ctz(TIMER_INIT_CAP);
	return 0;
}

void timer_queue_free(struct timer_queue *q)
{
	uint32_t i;

	/* Unqueue the caller's nodes: they must not point at freed lists. */
	for (i = 0; i < q->heap_len; i++) {
		struct timer_node *n;

		for (n = q->heap[i]->head; n; n = n->next)
			n->list = NULL;
		free(q->heap[i]);
	}
	while (q->spare) {
		struct timer_list *l = q->spare;

		q->spare = l->next_spare;
		free(l);
	}
	free(q->heap);
	free(q->map);
	memset(q, 0, sizeof(*q));
}

int timer_queue_add(struct timer_queue *q, struct timer_node *n, uint64_t now,
		    uint64_t timeout)
{
	struct timer_list *l;

	if (n->list)
		timer_queue_remove(q, n);
	/* Read after the remove, which may have freed the cached list. */
	l = q->last;
	if (!l || l->duration != timeout) {
		l = map_find(q, timeout);
		if (!l) {
			l = list_new(q, timeout);
			if (!l)
				return -ENOMEM;
		}
		q->last = l;
	}
	if (__builtin_add_overflow(now, timeout, &n->due))
		n->due = UINT64_MAX;
	n->seq = q->next_seq++;
	n->list = l;
	list_append(q, l, n);
	q->count++;
	return 0;
}

/* Unlinks n from l; frees l if it empties, re-keys it if n was the head. */
static void unlink_node(struct timer_queue *q, struct timer_list *l,
			struct timer_node *n)
{
	bool was_head = !n->prev;

	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
	n->list = NULL;
	q->count--;
	if (!was_head)
		return;
	if (!l->head) {
		list_free(q, l);
		return;
	}
	/* The new head is later than the old one: the key only grows. */
	list_rekey(l);
	heap_down(q->heap, q->heap_len, l->heap_idx);
}

void timer_queue_remove(struct timer_queue *q, struct timer_node *n)
{
	if (n->list)
		unlink_node(q, n->list, n);
}

struct timer_node *timer_queue_peek(const struct timer_queue *q)
{
	return q->heap_len ? q->heap[0]->head : NULL;
}

struct timer_node *timer_queue_pop_due(struct timer_queue *q, uint64_t now,
				       uint64_t seq_limit)
{
	struct timer_list *l;
	struct timer_node *n;

	if (!q->heap_len)
		return NULL;
	l = q->heap[0];
	n = l->head;
	if (n->due > now || n->seq >= seq_limit)
		return NULL;
	unlink_node(q, l, n);
	return n;
}

/* Checks. */

static int check_list(const struct timer_queue *q, const struct timer_list *l,
		      uint64_t *count)
{
	const struct timer_node *n, *prev = NULL;

	if (!l->head || l->head->prev || !l->tail || l->tail->next)
		return -EINVAL;
	if (l->due != l->head->due || l->seq != l->head->seq)
		return -EINVAL;
	if (map_find(q, l->duration) != l)
		return -EINVAL;
	for (n = l->head; n; prev = n, n = n->next) {
		if (n->list != l || n->prev != prev)
			return -EINVAL;
		if (prev && !(prev->due < n->due ||
			      (prev->due == n->due && prev->seq < n->seq)))
			return -EINVAL;
		(*count)++;
	}
	return prev == l->tail ? 0 : -EINVAL;
}

int timer_queue_check(const struct timer_queue *q)
{
	uint64_t count = 0;
	uint32_t i, used = 0;

	if (q->heap_len != q->map_len || q->map_len > q->map_cap / 2)
		return -EINVAL;
	if (q->map_cap != UINT32_C(1) << (64 - q->map_shift))
		return -EINVAL;
	for (i = 0; i < q->heap_len; i++) {
		const struct timer_list *l = q->heap[i];

		if (l->heap_idx != i)
			return -EINVAL;
		if (i > 0 && key_lt(l, q->heap[(i - 1) / 2]))
			return -EINVAL;
		if (check_list(q, l, &count) < 0)
			return -EINVAL;
	}
	for (i = 0; i < q->map_cap; i++)
		used += q->map[i] != NULL;
	if (used != q->map_len || count != q->count)
		return -EINVAL;
	if (q->last && (q->last->heap_idx >= q->heap_len ||
			q->heap[q->last->heap_idx] != q->last))
		return -EINVAL;
	return 0;
}
