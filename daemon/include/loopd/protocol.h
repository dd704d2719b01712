/*
 * protocol.h - the names of loopd's control protocol (PROTOCOL.md), shared
 * by the daemon (ctl_server.c, ctl_methods.c) and loopctl, so neither side
 * spells a method, an error or a default on its own.
 *
 * The wire format is varlink: one JSON object per message, UTF-8,
 * terminated by a single NUL byte.
 */
#ifndef LOOPD_PROTOCOL_H
#define LOOPD_PROTOCOL_H

/* Interfaces (lowercase, as the varlink grammar requires). */
#define LOOPD_IF_SERVICE "org.varlink.service"
#define LOOPD_IF_DAEMON  "io.loopd.daemon"
#define LOOPD_IF_JOBS    "io.loopd.jobs"
#define LOOPD_IF_RUNS    "io.loopd.runs"
#define LOOPD_IF_PLUGINS "io.loopd.plugins"
#define LOOPD_IF_EVENTS  "io.loopd.events"

/* Methods. */
#define LOOPD_M_GET_INFO         LOOPD_IF_SERVICE ".GetInfo"
#define LOOPD_M_GET_IFACE_DESC   LOOPD_IF_SERVICE ".GetInterfaceDescription"
#define LOOPD_M_GET_STATUS       LOOPD_IF_DAEMON ".GetStatus"
#define LOOPD_M_GET_STATS        LOOPD_IF_DAEMON ".GetStats"
#define LOOPD_M_SHUTDOWN         LOOPD_IF_DAEMON ".Shutdown"
#define LOOPD_M_JOBS_LIST        LOOPD_IF_JOBS ".List"
#define LOOPD_M_JOBS_GET         LOOPD_IF_JOBS ".Get"
#define LOOPD_M_JOBS_ADD         LOOPD_IF_JOBS ".Add"
#define LOOPD_M_JOBS_UPDATE      LOOPD_IF_JOBS ".Update"
#define LOOPD_M_JOBS_REMOVE      LOOPD_IF_JOBS ".Remove"
#define LOOPD_M_JOBS_PAUSE       LOOPD_IF_JOBS ".Pause"
#define LOOPD_M_JOBS_RESUME      LOOPD_IF_JOBS ".Resume"
#define LOOPD_M_JOBS_TRIGGER     LOOPD_IF_JOBS ".Trigger"
#define LOOPD_M_JOBS_PREVIEW     LOOPD_IF_JOBS ".Preview"
#define LOOPD_M_RUNS_LIST        LOOPD_IF_RUNS ".List"
#define LOOPD_M_RUNS_GET         LOOPD_IF_RUNS ".Get"
#define LOOPD_M_PLUGINS_LIST     LOOPD_IF_PLUGINS ".List"
#define LOOPD_M_PLUGINS_LOAD     LOOPD_IF_PLUGINS ".Load"
#define LOOPD_M_PLUGINS_UNLOAD   LOOPD_IF_PLUGINS ".Unload"
#define LOOPD_M_PLUGINS_RELOAD   LOOPD_IF_PLUGINS ".Reload"
#define LOOPD_M_EVENTS_SUBSCRIBE LOOPD_IF_EVENTS ".Subscribe"

/* Errors: varlink's standard ones, then loopd's. */
#define LOOPD_E_INTERFACE_NOT_FOUND LOOPD_IF_SERVICE ".InterfaceNotFound"
#define LOOPD_E_METHOD_NOT_FOUND    LOOPD_IF_SERVICE ".MethodNotFound"
#define LOOPD_E_INVALID_PARAMETER   LOOPD_IF_SERVICE ".InvalidParameter"
#define LOOPD_E_PERMISSION_DENIED   LOOPD_IF_SERVICE ".PermissionDenied"
#define LOOPD_E_EXPECTED_MORE       LOOPD_IF_SERVICE ".ExpectedMore"
#define LOOPD_E_NO_SUCH_JOB         LOOPD_IF_JOBS ".NoSuchJob"
#define LOOPD_E_JOB_EXISTS          LOOPD_IF_JOBS ".JobExists"
#define LOOPD_E_INVALID_SCHEDULE    LOOPD_IF_JOBS ".InvalidSchedule"
#define LOOPD_E_UNKNOWN_KIND        LOOPD_IF_JOBS ".UnknownKind"
#define LOOPD_E_ARGS_REJECTED       LOOPD_IF_JOBS ".ArgsRejected"
#define LOOPD_E_NO_SUCH_RUN         LOOPD_IF_RUNS ".NoSuchRun"
#define LOOPD_E_NO_SUCH_PLUGIN      LOOPD_IF_PLUGINS ".NoSuchPlugin"
#define LOOPD_E_LOAD_FAILED         LOOPD_IF_PLUGINS ".LoadFailed"
#define LOOPD_E_INCOMPATIBLE_ABI    LOOPD_IF_PLUGINS ".IncompatibleABI"
#define LOOPD_E_BUSY                LOOPD_IF_PLUGINS ".Busy"
#define LOOPD_E_SHUTTING_DOWN       LOOPD_IF_DAEMON ".ShuttingDown"
#define LOOPD_E_STORAGE_FAILED      LOOPD_IF_DAEMON ".StorageFailed"
/* A client over the connection limits, told before the close. */
#define LOOPD_E_DAEMON_BUSY         LOOPD_IF_DAEMON ".Busy"
#define LOOPD_E_OVERFLOW            LOOPD_IF_EVENTS ".Overflow"

/* GetInfo's fixed fields. */
#define LOOPD_VENDOR  "loopd"
#define LOOPD_PRODUCT "loopd"
#define LOOPD_URL     "https://github.com/loopd/loopd"

/* The socket: $XDG_RUNTIME_DIR/loopd/loopd.sock, or this as root.  The
 * environment variable loopctl reads. */
#define LOOPD_SOCKET_NAME "loopd/loopd.sock"
#define LOOPD_SOCKET_ROOT "/run/loopd/loopd.sock"
#define LOOPD_SOCKET_ENV  "LOOPD_SOCKET"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The default socket path into buf: as root LOOPD_SOCKET_ROOT; otherwise
 * $XDG_RUNTIME_DIR/loopd/loopd.sock, or /tmp/loopd-UID/loopd.sock when
 * XDG_RUNTIME_DIR is unset (no session, e.g. a cron job or ssh -T).
 * 0, or -1 when it does not fit. */
static inline int loopd_default_socket(char *buf, size_t n)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int r;
	if (geteuid() == 0)
		r = snprintf(buf, n, "%s", LOOPD_SOCKET_ROOT);
	else if (rt && rt[0] == '/')
		r = snprintf(buf, n, "%s/%s", rt, LOOPD_SOCKET_NAME);
	else
		r = snprintf(buf, n, "/tmp/loopd-%u/loopd.sock",
			     (unsigned)geteuid());
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Limits (PROTOCOL.md "Access and limits"); the daemon's defaults. */
#define LOOPD_MAX_MESSAGE        (1024 * 1024)
#define LOOPD_MAX_CLIENTS        256
#define LOOPD_MAX_CLIENTS_UID    64
#define LOOPD_IDLE_TIMEOUT_MS    60000
#define LOOPD_MESSAGE_TIMEOUT_MS 10000
#define LOOPD_MAX_QUEUED_OUTPUT  (1024 * 1024)
#define LOOPD_MAX_DEPTH          32

/* Jobs.Preview: count default and maximum; Runs.List: limit default. */
#define LOOPD_PREVIEW_DEFAULT 5
#define LOOPD_PREVIEW_MAX     1000
#define LOOPD_RUNS_DEFAULT    20

#endif
