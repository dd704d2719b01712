/*
 * lt.h - helpers for the loop test plugins (lt_*.c), which print what
 * happens, one line at a time, for tests/integration/loop_*.sh to compare
 * with the expected sequence.
 *
 * Lines go to stdout with one write(2) each, unbuffered: the order on
 * stdout is the order of the calls, whichever thread makes them, and
 * nothing is lost if loopd crashes.
 */
#ifndef LT_H
#define LT_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <loopd/plugin.h>

__attribute__((format(printf, 1, 2))) static inline void lt_say(const char *fmt,
								...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t w = write(STDOUT_FILENO, buf, (size_t)n);
	(void)w;
}

/* A callback that prints its ud, a string literal. */
static inline void lt_say_ud(loopd_plugin *p, void *ud)
{
	lt_say("%s", (const char *)ud);
}

/* CLOCK_MONOTONIC, the clock loopd's timers run on. */
static inline uint64_t lt_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t lt_mono_ms(void)
{
	return lt_mono_ns() / 1000000u;
}

/* "0", "-EPERM", ...: a host call's result as the scripts expect it. */
static inline const char *lt_err(int64_t r)
{
	static _Thread_local char buf[32];
	switch (r) {
	case 0: return "0";
	case -EPERM: return "-EPERM";
	case -ENOENT: return "-ENOENT";
	case -EBUSY: return "-EBUSY";
	case -EINVAL: return "-EINVAL";
	case -ECANCELED: return "-ECANCELED";
	case -ESHUTDOWN: return "-ESHUTDOWN";
	case -ENOSYS: return "-ENOSYS";
	default:
		if (r > 0)
			return "an id";
		snprintf(buf, sizeof(buf), "%lld", (long long)r);
		return buf;
	}
}

/* Declares the plugin's descriptor and its one exported symbol. */
#define LT_PLUGIN(name_, init_, shutdown_)                   \
	static const struct loopd_plugin_desc lt_desc = {    \
		.magic = LOOPD_PLUGIN_MAGIC,                 \
		.size = sizeof(struct loopd_plugin_desc),    \
		.abi_major = LOOPD_ABI_MAJOR,                \
		.abi_minor = LOOPD_ABI_MINOR,                \
		.name = (name_),                             \
		.version = "test",                           \
		.description = "loop test plugin " __FILE__, \
		.init = (init_),                             \
		.shutdown = (shutdown_),                     \
	};                                                   \
	LOOPD_PLUGIN(lt_desc)

#endif
