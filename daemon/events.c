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

struct events {
	json_t **ring; /* ring[seq % cap] */
	size_t cap;
	uint64_t seq;
	uint64_t next_token;
	struct sub *subs;
	unsigned delivering; /* nesting depth of emit */
};

int events_new(struct events **out, size_t ring)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (!ev || !(ev->ring = calloc(ring ? ring : 1, sizeof(json_t *)))) {
		free(ev);
		return -ENOMEM;
	}
	ev->cap = ring ? ring : 1;
	*out = ev;
	return 0;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->cap; i++)
		json_decref(ev->ring[i]);
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
	json_t *e = json_object();
	if (fields)
		json_object_update(e, fields);
	json_decref(fields);
	uint64_t seq = ++ev->seq;
	json_object_set_new(e, "seq", json_integer((json_int_t)seq));
	json_object_set_new(e, "time_usec", json_integer(now_usec()));
	json_object_set_new(e, "type", json_string(type));
	size_t slot = seq % ev->cap;
	json_decref(ev->ring[slot]);
	ev->ring[slot] = e;
	ev->delivering++;
	for (struct sub *s = ev->subs; s; s = s->next)
		if (!s->dead)
			s->fn(s->ud, e);
	if (--ev->delivering == 0)
		sweep(ev);
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
		fn(ud, ev->ring[q % ev->cap]);
	return n;
}
