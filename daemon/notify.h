/*
 * notify.h - the systemd notification protocol (sd_notify(3)): READY,
 * STOPPING, RELOADING, STATUS and the watchdog keep-alive, sent as
 * datagrams to $NOTIFY_SOCKET.  Without that variable every call does
 * nothing, so loopd runs the same under a terminal, a test or systemd.
 */
#ifndef LOOPD_NOTIFY_H
#define LOOPD_NOTIFY_H

#include <stdint.h>

struct loop;

/* Reads NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID) once, and
 * removes them from the environment so no child inherits them. */
void notify_init(void);
/* Sends one notification: "READY=1", "STATUS=...", ...  0 or -errno;
 * 0 when there is no notify socket. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Starts the keep-alive: WATCHDOG=1 from a loop timer every half of
 * WATCHDOG_USEC, so a loop that stops turning is restarted by systemd.
 * The timer does not keep the loop alive. */
void notify_watchdog_start(struct loop *l);
/* The watchdog interval systemd asked for, in microseconds (0: none). */
uint64_t notify_watchdog_usec(void);

#endif
