/*
 * log.h - logging to stderr, as text or JSON lines, in the OpenBSD style:
 * log_warn appends strerror(errno), log_warnx does not; fatal/fatalx log
 * and exit(1).  Safe from any thread (one write(2) per line).
 */
#ifndef LOOPD_LOG_H
#define LOOPD_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum log_level {
	LOGL_ERR = 3,
	LOGL_WARN = 4,
	LOGL_INFO = 6,
	LOGL_DEBUG = 7
};

void log_init(int level, int json);
void log_set_level(int level);
int log_get_level(void);
/* "err", "warn", "info", "debug" -> level, or -1. */
int log_level_parse(const char *name);

/* tag may be NULL (the daemon itself) or a plugin name. */
void log_vmsg(int level, const char *tag, const char *fmt, va_list ap)
	LOG_PRINTF(3, 0);
void log_msg(int level, const char *tag, const char *fmt, ...) LOG_PRINTF(3, 4);

void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
