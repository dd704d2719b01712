/*
 * crash.h - what loopd does when it crashes, and what it remembers.
 *
 * A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) is caught on
 * an alternate stack: the handler writes which plugin and callback were
 * running (the watchdog's published state) to stderr and appends a line
 * "TIME PLUGIN" to STATE_DIR/crashes, then lets the signal kill the
 * process as it would have (a core dump, systemd's restart).  Only
 * async-signal-safe calls are made there.
 *
 * At the next start, a plugin named in three crashes within ten minutes
 * is quarantined: not loaded, listed as such, until an operator enables
 * it again (`loopctl plugins load NAME`), which forgets its crashes.
 */
#ifndef LOOPD_CRASH_H
#define LOOPD_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watchdog;

#define CRASH_QUARANTINE_COUNT      3
#define CRASH_QUARANTINE_WINDOW_SEC 600

/* Installs the handler (not under ASan, whose own handler reports
 * better).  state_dir is copied.  0 or -errno. */
int crash_init(const char *state_dir, struct watchdog *wd);

/* At the very end of a clean exit: the default actions again, and the
 * crash log's descriptor closed (nothing of loopd's is left open). */
void crash_fini(void);

/* Whether the crash log quarantines name: CRASH_QUARANTINE_COUNT of its
 * crashes within CRASH_QUARANTINE_WINDOW_SEC of each other.  The
 * quarantine sticks (STATE_DIR/crashes keeps the records) until
 * crash_forget. */
bool crash_quarantined(const char *name);
/* Drops name's crash records: the operator enabled it again. */
int crash_forget(const char *name);

#endif
