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
/*
 * As events_emit, but the fields are built by build(arg) (a new
 * reference) only when they are needed: at once if anyone subscribes,
 * else when a replay reaches the event; never if it leaves the ring
 * first.  drop(arg) frees arg after the build or instead of it.  type
 * must outlive ev (a literal).  A busy scheduler emits two events a run,
 * and most of the time nobody subscribes.
 */
uint64_t events_emit_lazy(struct events *ev, const char *type,
			  json_t *(*build)(const void *arg),
			  void (*drop)(void *arg), void *arg);
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
