/*
 * notify.c - sd_notify(3) without libsystemd: one datagram per message to
 * the socket named by $NOTIFY_SOCKET (a path, or an abstract name when it
 * starts with '@').  The protocol is a few lines; a library for it would
 * add a dependency and nothing else.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static struct sockaddr_un addr;
static socklen_t addr_len; /* 0: no notify socket */
static uint64_t watchdog_usec;

void notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *wd = getenv("WATCHDOG_USEC"),
		   *wpid = getenv("WATCHDOG_PID");
	size_t n = path ? strlen(path) : 0;
	if (n >= 2 && n < sizeof(addr.sun_path) &&
	    (path[0] == '/' || path[0] == '@')) {
		addr.sun_family = AF_UNIX;
		memcpy(addr.sun_path, path, n);
		if (path[0] == '@')
			addr.sun_path[0] = '\0';
		addr_len =
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	if (wd && (!wpid || strtol(wpid, NULL, 10) == (long)getpid()))
		watchdog_usec = strtoull(wd, NULL, 10);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (!addr_len)
		return 0;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EMSGSIZE;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t w = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
			   (struct sockaddr *)&addr, addr_len);
	int err = w < 0 ? -errno : 0;
	close(fd);
	if (err)
		log_debug("notify: %s", strerror(-err));
	return err;
}

uint64_t notify_watchdog_usec(void)
{
	return watchdog_usec;
}

static void ping(loopd_plugin *unused, void *ud)
{
	notify_send("WATCHDOG=1");
}

void notify_watchdog_start(struct loop *l)
{
	if (!addr_len || !watchdog_usec)
		return;
	uint64_t ms = watchdog_usec / 2000;
	loopd_id t = loop_timer(l, NULL, ms ? ms : 1, ms ? ms : 1, ping, NULL);
	if (t > 0)
		loop_ref(l, NULL, t, 0);
}
