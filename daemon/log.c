/*
 * log.c - one line per message on stderr, as text or JSON lines.
 *
 * stderr is what systemd's journal and a terminal both read, so loopd
 * never opens log files itself.  Each line is built in a local buffer and
 * written with one write(2), so lines from worker threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOGL_INFO;
static int log_json;

static const char *const level_names[8] = {
	[LOGL_ERR] = "err",
	[LOGL_WARN] = "warn",
	[LOGL_INFO] = "info",
	[LOGL_DEBUG] = "debug",
};

void log_init(int level, int json)
{
	atomic_store(&log_level, level);
	log_json = json;
}

void log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 8; i++)
		if (level_names[i] && strcmp(level_names[i], name) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return LOGL_WARN;
	if (strcmp(name, "error") == 0)
		return LOGL_ERR;
	return -1;
}

/* Appends s to buf as a JSON string body (without quotes). */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
	for (; *s && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x",
						c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
}

static size_t format_line(char *line, size_t cap, int level, const char *tag,
			  const char *msg)
{
	const char *lname = level >= 0 && level < 8 && level_names[level]
				    ? level_names[level]
				    : "info";
	size_t n;
	if (!log_json) {
		n = (size_t)snprintf(line, cap, "loopd[%s]%s%s: %s", lname,
				     tag ? " " : "", tag ? tag : "", msg);
		return n >= cap ? cap - 1 : n;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = (size_t)snprintf(
		line, cap, "{\"time_usec\":%lld,\"level\":\"%s\",\"plugin\":",
		(long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, lname);
	if (tag) {
		line[n++] = '"';
		n = json_escape(line, n, cap - 4, tag);
		line[n++] = '"';
	} else {
		n += (size_t)snprintf(line + n, cap - n, "null");
	}
	n += (size_t)snprintf(line + n, cap - n, ",\"message\":\"");
	n = json_escape(line, n, cap - 4, msg);
	line[n++] = '"';
	line[n++] = '}';
	return n;
}

void log_vmsg(int level, const char *tag, const char *fmt, va_list ap)
{
	if (level > atomic_load(&log_level))
		return;
	char msg[2048], line[4200];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = format_line(line, sizeof(line) - 1, level, tag, msg);
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* Nowhere left to report a failed log write. */
}

void log_msg(int level, const char *tag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, tag, fmt, ap);
	va_end(ap);
}

/* fmt followed by ": strerror(err)". */
LOG_PRINTF(3, 0)
static void log_errno(int level, int err, const char *fmt, va_list ap)
{
	char msg[1800];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_msg(level, NULL, "%s: %s", msg, strerror(err));
}

void log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_errno(LOGL_WARN, err, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOGL_WARN, NULL, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOGL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOGL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	log_errno(LOGL_ERR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOGL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
