/*
 * loopctl.h - the pieces of loopctl, loopd's command-line client
 * (CLI.md "loopctl"): the command table and its option parser (cmd.c,
 * args.c), the varlink client (client.c), and what turns replies into
 * text (format.c, table.c).  Each command is one cmd-*.c file holding
 * one const struct cmd_entry; cmd.c lists them all in cmd_table[].
 *
 * Method, error and socket names come from loopd/protocol.h, shared with
 * the daemon; nothing here spells one on its own.
 *
 * Errors: functions that talk to the daemon or read the command line
 * return an exit status (LC_EXIT_*) after printing the reason to stderr,
 * so a command's handler can return what they return.
 */
#ifndef LOOPCTL_H
#define LOOPCTL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loopd/protocol.h"

/* Exit statuses (CLI.md). */
#define LC_EXIT_OK        0
#define LC_EXIT_FAILED    1 /* an error reply, a degraded daemon, a failed run */
#define LC_EXIT_USAGE     2
#define LC_EXIT_NO_DAEMON 3
#define LC_EXIT_DENIED    4
#define LC_EXIT_NO_SUCH   5 /* no such job, run or plugin */

#define USEC_PER_SEC  1000000LL
#define USEC_PER_MSEC 1000LL

struct client;
struct args;
struct tz_zone;

/* ---- The command table (cmd.c) ---- */

/* One option of a command.  The table of a command ends with a NULL name. */
struct cmd_opt {
	const char *name; /* long name without "--" */
	char short_name;  /* 0: none */
	const char *arg;  /* the argument's name in --help; NULL: a flag */
	const char *help;
};

#define CMD_DASHDASH 0x1 /* keeps "-- ARGS..." apart (add, edit) */
#define CMD_HIDDEN   0x2 /* not listed by --help (__complete) */

struct cmd_entry {
	const char *name;
	const char *usage;          /* what follows the name, for --help */
	const char *summary;        /* one line, for loopctl --help */
	const char *help;           /* more for COMMAND --help, or NULL */
	const struct cmd_opt *opts; /* NULL: none but the global ones */
	int min_args, max_args;     /* positional arguments; max -1: any */
	unsigned flags;
	/* Returns the exit status. */
	int (*exec)(const struct cmd_entry *e, struct client *c,
		    struct args *a);
};

/* Every command, in the order loopctl --help lists them; NULL-terminated. */
extern const struct cmd_entry *const cmd_table[];
/* The options every command takes (-s, -o, -h); NULL-terminated. */
extern const struct cmd_opt cmd_global_opts[];

/* The entry named name, or NULL. */
const struct cmd_entry *cmd_find(const char *name);
/* loopctl --help. */
void cmd_print_usage(FILE *f);
/* COMMAND --help. */
void cmd_print_help(const struct cmd_entry *e, FILE *f);
/* Prints "loopctl: CMD: MESSAGE" and a hint to stderr; returns
 * LC_EXIT_USAGE.  e may be NULL (no command yet). */
int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- A command's arguments (args.c) ---- */

struct args_value {
	const struct cmd_opt *opt; /* borrowed from the table */
	const char *value;         /* borrowed from argv; NULL for a flag */
};

struct args {
	char **argv; /* positional arguments (array owned, strings borrowed) */
	int argc;
	char **rest; /* after "--" when the command has CMD_DASHDASH */
	int nrest;
	bool dashdash; /* "--" was given (CMD_DASHDASH) */
	struct args_value *v;
	int nv;
	bool help;          /* -h, --help */
	const char *socket; /* -s, --socket after the command */
	const char *output; /* -o, --output after the command */
};

/*
 * Parses argv (what follows the command name) against e's options and the
 * global ones: "--name VALUE", "--name=VALUE", "-x VALUE", "-xVALUE",
 * flags, "--" to end the options.  Options and positional arguments may be
 * mixed.  0, or LC_EXIT_USAGE after printing the reason.  Free with
 * args_free, also after a failure.
 */
int args_parse(const struct cmd_entry *e, int argc, char **argv,
	       struct args *a);
void args_free(struct args *a);
/* The value of the last occurrence of option name (long name), or NULL
 * (also for a flag: use args_has). */
const char *args_get(const struct args *a, const char *name);
bool args_has(const struct args *a, const char *name);
/* Iterates the values of a repeatable option: start with *i = 0; NULL at
 * the end. */
const char *args_next(const struct args *a, const char *name, int *i);

/* ---- The varlink client (client.c) ---- */

struct client {
	const char *socket; /* borrowed */
	bool json;          /* -o json: print the replies' parameters */
	bool color;         /* stdout is a terminal, NO_COLOR is unset */
	int fd;             /* -1 until connected */
	int timeout_ms;     /* for each reply; 0: wait for ever */
	bool follow;        /* SIGINT/SIGTERM end a stream quietly */
	char *buf;          /* received bytes not yet parsed */
	size_t len, cap;
};

/* One reply. */
struct reply {
	json_t *params; /* new reference; {} when the reply had none */
	char *error;    /* the error name (owned), or NULL */
	bool continues;
};

#define CALL_MORE 0x1

void client_init(struct client *c, const char *socket, bool json, bool color);
void client_close(struct client *c);
/* Connects unless connected.  0, or the exit status after printing
 * "loopctl: no daemon at SOCKET: REASON" (3), a permission failure (4),
 * or another failure (1). */
int client_connect(struct client *c);
/* Sends a call; params is stolen (NULL: {}).  0 or an exit status. */
int client_send(struct client *c, const char *method, json_t *params,
		unsigned flags);
/*
 * Waits for the next reply.  0 with *r filled (clear it with reply_clear),
 * an exit status after printing the failure, or -EINTR when c->follow is
 * set and SIGINT or SIGTERM arrived (see client_follow_signals).
 */
int client_recv(struct client *c, struct reply *r);
void reply_clear(struct reply *r);

/* One call, one reply: 0 with *out (new reference) set to its
 * parameters; or, for an error reply, prints "loopctl: MESSAGE (ERROR)"
 * and returns its exit status.  params is stolen. */
int client_call(struct client *c, const char *method, json_t *params,
		json_t **out);

/* As client_call, but an error reply is not printed (its status is still
 * returned): for extras a command can do without. */
int client_try(struct client *c, const char *method, json_t *params,
	       json_t **out);

/*
 * A streaming call ("more": true).  fn gets each reply's parameters
 * (borrowed) and whether more follow; a non-zero return from fn stops
 * the stream and is returned.  An error reply is printed and its status
 * returned.  With c->follow, SIGINT or SIGTERM end it with 0.
 */
typedef int client_stream_fn(struct client *c, json_t *params, bool continues,
			     void *ud);
int client_stream(struct client *c, const char *method, json_t *params,
		  client_stream_fn *fn, void *ud);

/* Blocks SIGINT and SIGTERM but for the waits of client_recv and
 * client_sleep, which they then end (client_interrupted()).  Sets
 * c->follow. */
void client_follow_signals(struct client *c);
bool client_interrupted(void);
/* Sleeps ms; false when a followed signal arrived. */
bool client_sleep(int64_t ms);

/* The exit status for an error reply named error (CLI.md): 4 for
 * PermissionDenied, 5 for NoSuchJob/NoSuchRun/NoSuchPlugin, else 1 (the
 * call failed; e.g. io.loopd.daemon.Busy: over the daemon's client
 * limits). */
int client_error_status(const char *error);
/* Prints "loopctl: MESSAGE (ERROR)" from an error reply's parameters
 * (borrowed; may be NULL) and returns client_error_status(error). */
int client_report_error(const char *error, json_t *params);

/* Prints params (borrowed) as one JSON document: indented, or on one
 * line when line is set (streams, several replies). */
void client_print_json(json_t *params, bool line);

/* ---- Parsing the command line's values (format.c) ---- */

/* "90s", "5m", "1h30m", "2d", "1500ms" -> ms.  0 or -EINVAL with a
 * message in err. */
int parse_duration_ms(const char *text, int64_t *ms, char *err, size_t errlen);
/* A whole number from min to max.  0 or -EINVAL. */
int parse_count(const char *text, long long min, long long max, long long *out);
/*
 * Loads a zone: an IANA name, or NULL for the local one (TZ when set,
 * else /etc/localtime).  0 with *out set (release with tz_zone_unref), or
 * -errno with a message in err.
 */
int zone_load(const char *name, struct tz_zone **out, char *err, size_t errlen);
/* TIME (RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" on z's clock) -> usec. */
int parse_time(const char *text, const struct tz_zone *z, int64_t *usec,
	       char *err, size_t errlen);

/* ---- Formatting (format.c) ---- */

#define FMT_MAX 64 /* enough for every fmt_ function */

/* Now, in microseconds since the epoch. */
int64_t fmt_now_usec(void);
/*
 * A time span as systemd's list-timers writes it, the two largest units:
 * "4min 59s", "1h 2min", "6h", "1 day 2h", "2 days", "1 week 3 days",
 * "2 months 1 day", "1 year 2 months", "900ms", "now" for 0 or less.
 * Unlike systemd, a second unit of 0 is left out ("1 year", not
 * "1 year 0 months").
 */
void fmt_relative(int64_t usec, char *buf, size_t len);
/* "Fri 2026-11-27 23:30:00 UTC" in the local zone; "-" for null (usec
 * < 0 is taken as null). */
void fmt_timestamp(int64_t usec, char *buf, size_t len);
/* RFC 3339 with z's offset (NULL: the local zone), to the second. */
void fmt_rfc3339(int64_t usec, const struct tz_zone *z, char *buf, size_t len);
/* A duration in ms, in the form the parser reads: "1h30m", "2d", "0s". */
void fmt_duration_ms(int64_t ms, char *buf, size_t len);
/* How long a run took: "850us", "120ms", "1.25s", "2min 3s", "1h 2min". */
void fmt_span(int64_t usec, char *buf, size_t len);
/* Bytes: "512B", "1.5K", "20.0M", "3.1G". */
void fmt_bytes(int64_t bytes, char *buf, size_t len);

/* "LABEL:  VALUE" with the value at column width + 2, coloured when
 * color is set (pass NULL when colours are off). */
void fmt_kv(FILE *f, int width, const char *label, const char *value,
	    const char *color);

/* SGR sequences, used only when c->color. */
#define COLOR_RED    "\033[31m"
#define COLOR_GREEN  "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_BOLD   "\033[1m"
#define COLOR_OFF    "\033[0m"
/* The colour of a run result or a state: red for failures, yellow for
 * what did not run, green for ok; NULL for none. */
const char *fmt_result_color(const char *result);

/* JSON access that tolerates absent fields, nulls and o == NULL. */
/* A string member (borrowed), or NULL. */
const char *jget_str(const json_t *o, const char *key);
/* A number member (reals truncated); false when absent or null. */
bool jget_int(const json_t *o, const char *key, int64_t *out);
/* A scalar member as text: the string (borrowed), a number or boolean
 * written into buf, or "-" for absent and null; objects and arrays as
 * compact JSON, cut to fit buf. */
const char *jget_text(const json_t *o, const char *key, char *buf, size_t len);
/* A JSON value as jget_text writes it. */
const char *jtext(const json_t *v, char *buf, size_t len);

/* ---- Tables (table.c) ---- */

struct table;

/* ncols columns with these headers (borrowed, static). */
struct table *table_new(size_t ncols, const char *const *headers);
void table_free(struct table *t);
/* Starts a row; then one table_cell per column. */
void table_row(struct table *t);
/* Adds a cell (text copied; color borrowed, static, may be NULL). */
void table_cell(struct table *t, const char *text, const char *color);
/* A cell spanning the next span columns (the columns widen to fit it). */
void table_cell_span(struct table *t, const char *text, const char *color,
		     size_t span);
/* Prints the header and rows, columns two spaces apart, each line after
 * indent; colours (and a bold header) only when color is set. */
void table_print(const struct table *t, FILE *f, bool color,
		 const char *indent);
/* Columns of text as a terminal shows them (UTF-8 code points). */
size_t table_text_width(const char *s);

/* ---- Shared by commands ---- */

/* The jobs table (cmd-jobs.c) of a jobs.List array (borrowed), soonest
 * first; LEFT and PASSED counted from now. */
void jobs_print(FILE *f, const json_t *jobs, int64_t now, bool color);
/* The runs table (cmd-runs.c) of a runs.List array (borrowed), each line
 * after indent; the JOB column when job_col is set. */
void runs_print(FILE *f, const json_t *runs, bool color, const char *indent,
		bool job_col);

/*
 * The parameters of jobs.Add (edit false) or jobs.Update (edit true)
 * from add/edit's options (cmd-add.c): 0 with *out (new) set, or
 * LC_EXIT_USAGE with the reason in err.
 */
int add_params(const struct args *a, bool edit, json_t **out, char *err,
	       size_t errlen);
/* Every method loopd implements (cmd-call.c), NULL-terminated. */
extern const char *const call_methods[];
/* The embedded bash completion script (ctl/loopctl.bash). */
extern const char completion_bash[];

#endif
