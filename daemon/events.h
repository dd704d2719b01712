/*
 * events.h - the event stream (PROTOCOL.md's Event, events.Subscribe):
 * numbered events kept in a ring for late subscribers, and delivered to
 * live subscribers as they happen.  Loop thread only.
 */
#ifndef LOOPD_EVENTS_H
#define LOOPD_EVENTS_H

#include <jansson.h>
#include <stdint.h>

struct events;

/* Events kept for since_seq replays. */
#define EVENTS_RING 1024

int events_new(struct events **out, size_t ring);
void events_free(struct events *ev);

/*
 * Emits an event of type with fields (stolen; NULL: none): it gets seq,
 * time_usec and type, is kept in the ring and handed to every subscriber.
 * Returns its seq.  ev may be NULL (nothing happens, returns 0).
 */
uint64_t events_emit(struct events *ev, const char *type, json_t *fields);
/* The seq of the latest event (0: none yet). */
uint64_t events_seq(const struct events *ev);

/* event is borrowed.  A subscriber may unsubscribe itself from here. */
typedef void (*events_fn)(void *ud, json_t *event);
/* A token > 0, or 0 when out of memory. */
uint64_t events_subscribe(struct events *ev, events_fn fn, void *ud);
void events_unsubscribe(struct events *ev, uint64_t token);
/* Calls fn for every kept event with seq > since, oldest first.  Returns
 * how many, or -ERANGE when events after since are no longer kept. */
int events_replay(struct events *ev, uint64_t since, events_fn fn, void *ud);

#endif
