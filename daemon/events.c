/*
 * events.c - the event stream: a ring of the latest events and a list of
 * live subscribers.  Delivery is synchronous, in the emitter's call; a
 * subscriber that cannot keep up is the transport's business (ctl_methods
 * watches its client's backlog and ends the stream with Overflow).
 */
#include "events.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct sub {
	uint64_t token;
	events_fn fn;
	void *ud;
	bool dead;
	struct sub *next;
};

/* A kept event: built (e), or still to be built from arg (events_emit_lazy). */
struct slot {
	json_t *e;
	const char *type;
	int64_t time_usec;
	uint64_t seq;
	json_t *(*build)(const void *arg);
	void (*drop)(void *arg);
	void *arg;
};

struct events {
	struct slot *ring; /* ring[seq % cap] */
	size_t cap;
	uint64_t seq;
	uint64_t next_token;
	struct sub *subs;
	unsigned delivering; /* nesting depth of emit */
};

int events_new(struct events **out, size_t ring)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (!ev || !(ev->ring = calloc(ring ? ring : 1, sizeof(*ev->ring)))) {
		free(ev);
		return -ENOMEM;
	}
	ev->cap = ring ? ring : 1;
	*out = ev;
	return 0;
}

static void slot_clear(struct slot *sl)
{
	json_decref(sl->e);
	if (sl->drop)
		sl->drop(sl->arg);
	*sl = (struct slot){ 0 };
}

/* The event as subscribers see it: fields (stolen), seq, time, type. */
static json_t *event_json(const struct slot *sl, json_t *fields)
{
	json_t *e = json_object();
	if (fields)
		json_object_update(e, fields);
	json_decref(fields);
	json_object_set_new(e, "seq", json_integer((json_int_t)sl->seq));
	json_object_set_new(e, "time_usec", json_integer(sl->time_usec));
	json_object_set_new(e, "type", json_string(sl->type));
	return e;
}

/* The slot's event, built now if it was emitted lazily.  Borrowed. */
static json_t *slot_event(struct slot *sl)
{
	if (!sl->e) {
		sl->e = event_json(sl, sl->build(sl->arg));
		sl->drop(sl->arg);
		sl->drop = NULL;
		sl->arg = NULL;
	}
	return sl->e;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->cap; i++)
		slot_clear(&ev->ring[i]);
	while (ev->subs) {
		struct sub *s = ev->subs;
		ev->subs = s->next;
		free(s);
	}
	free(ev->ring);
	free(ev);
}

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Frees subscribers that unsubscribed while events were delivered. */
static void sweep(struct events *ev)
{
	struct sub **pp = &ev->subs;
	while (*pp) {
		struct sub *s = *pp;
		if (s->dead) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

uint64_t events_emit(struct events *ev, const char *type, json_t *fields)
{
	if (!ev) {
		json_decref(fields);
		return 0;
	}
	uint64_t seq = ++ev->seq;
	struct slot *sl = &ev->ring[seq % ev->cap];
	slot_clear(sl);
	*sl = (struct slot){ .type = type,
			     .time_usec = now_usec(),
			     .seq = seq };
	/* The type may be the caller's: the built event keeps a copy. */
	json_t *e = sl->e = event_json(sl, fields);
	sl->type = NULL;
	ev->delivering++;
	for (struct sub *s = ev->subs; s; s = s->next)
		if (!s->dead)
			s->fn(s->ud, e);
	if (--ev->delivering == 0)
		sweep(ev);
	return seq;
}

static bool any_subscriber(const struct events *ev)
{
	for (const struct sub *s = ev->subs; s; s = s->next)
		if (!s->dead)
			return true;
	return false;
}

uint64_t events_emit_lazy(struct events *ev, const char *type,
			  json_t *(*build)(const void *arg),
			  void (*drop)(void *arg), void *arg)
{
	if (!ev || any_subscriber(ev)) {
		json_t *fields = ev ? build(arg) : NULL;
		drop(arg);
		return events_emit(ev, type, fields);
	}
	uint64_t seq = ++ev->seq;
	struct slot *sl = &ev->ring[seq % ev->cap];
	slot_clear(sl);
	*sl = (struct slot){ .type = type,
			     .time_usec = now_usec(),
			     .seq = seq,
			     .build = build,
			     .drop = drop,
			     .arg = arg };
	return seq;
}

uint64_t events_seq(const struct events *ev)
{
	return ev ? ev->seq : 0;
}

uint64_t events_subscribe(struct events *ev, events_fn fn, void *ud)
{
	struct sub *s = calloc(1, sizeof(*s));
	if (!s)
		return 0;
	s->token = ++ev->next_token;
	s->fn = fn;
	s->ud = ud;
	s->next = ev->subs;
	ev->subs = s;
	return s->token;
}

void events_unsubscribe(struct events *ev, uint64_t token)
{
	for (struct sub *s = ev->subs; s; s = s->next)
		if (s->token == token)
			s->dead = true;
	if (ev->delivering == 0)
		sweep(ev);
}

int events_replay(struct events *ev, uint64_t since, events_fn fn, void *ud)
{
	uint64_t oldest = ev->seq >= ev->cap ? ev->seq - ev->cap + 1 : 1;
	if (since >= ev->seq)
		return 0;
	if (since + 1 < oldest)
		return -ERANGE;
	int n = 0;
	for (uint64_t q = since + 1; q <= ev->seq; q++, n++)
		fn(ud, slot_event(&ev->ring[q % ev->cap]));
	return n;
}
