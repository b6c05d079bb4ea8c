/* kvctl_cmd.h - what kvctl's command files share with kvctl.c: the exit
 * codes, the global options, the command table's entry, and the helpers
 * that parse arguments, open the handle and report errors (kvctl.c). */
#ifndef CLIENT_KVCTL_CMD_H_
#define CLIENT_KVCTL_CMD_H_

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include "kvc.h"

#define EXIT_OK		 0
#define EXIT_NOTFOUND	 1 /* not found or CAS failed */
#define EXIT_USAGE	 2
#define EXIT_UNAVAILABLE 3 /* cluster unavailable or timed out */
#define EXIT_OTHER	 4
/* kvctl lock: the lease could not be kept alive, so the command was
 * killed before another holder could have taken the lock. */
#define EXIT_LOCK_LOST 5

struct global {
	const char *endpoints;
	double timeout_s;
	bool json;
	struct kvc *h;
};

struct command {
	const char *name;
	const char *usage; /* one line */
	const char *help;  /* details */
	int (*run)(struct global *g, int argc, char **argv);
};

/* The command running (its usage and help for errors). */
extern const struct command *cmd_current;
/* -o json, for the errors said before a command has its struct global. */
extern bool json_errors;

/* A usage error: says @fmt (one %s: @arg) and @cmd_usage on stderr (JSON
 * with -o json). Returns EXIT_USAGE. */
int fail_usage(const char *cmd_usage, const char *fmt, const char *arg);

/* The exit code of a libkvc result (DESIGN.md §1.4), and the "error" of
 * kvctl's JSON errors for it. */
int exit_code(int rc);
const char *error_code(int rc);

/* Says what went wrong on stderr: "kvctl: @msg", or with -o json one line
 * {"error": @code, "message": @msg}. */
void report_text(const struct global *g, const char *code, const char *msg);

/* Reports libkvc's @rc with the handle's message; returns its exit code. */
int report(struct global *g, int rc);

/* As report() for a write (@what: "the write"): an unavailable cluster or
 * a timeout says whether the write may have been applied. */
int report_write(struct global *g, int rc, const char *what);

/* A decimal u64 with nothing else; 0 or -1. */
int parse_u64(const char *s, uint64_t *out);

/* An option of a command: "--cas" with a value, "--stale" a flag. */
struct optspec {
	const char *name;
	bool takes_value;
};

/* Splits argv into positionals and the options of one command. @opts lists
 * option names taking a value ("--cas") and flags ("--stale"); values land
 * in @vals (NULL when absent), flags set @flags. Everything after "--" is
 * positional. Returns -1 on a usage error (printed), 1 for --help, else 0. */
int split_args(const struct command *cmd, int argc, char **argv,
	       const struct optspec *specs, int n_specs, const char **vals,
	       bool *flags, char **pos, int *n_pos, int max_pos);

/* Handle options from --timeout: the retry deadline, and a request
 * timeout of at most 5 s within it. */
void timeout_options(const struct global *g, struct kvc_options *o);

/* Opens g->h on g->endpoints within --timeout. EXIT_OK, or the exit code
 * after saying why. */
int open_handle(struct global *g);

/* Set by SIGINT and SIGTERM once catch_stop_signals() ran: the commands
 * that run until stopped (watch, lease keepalive) end cleanly. */
extern volatile sig_atomic_t kvctl_stop;

/* SIGINT and SIGTERM set kvctl_stop and interrupt a wait (no
 * SA_RESTART). */
void catch_stop_signals(void);

/* Prints @j compact on one line of stdout and releases it. */
void print_json(json_t *j);

/* Prints {@k1: @v1, @k2: @v2} with -o json, else @plain on a line. The
 * exit code: EXIT_OTHER when stdout fails. */
int print_pair(const struct global *g, const char *k1, uint64_t v1,
	       const char *k2, uint64_t v2, uint64_t plain);

/* Reads all of stdin (at most 64 MiB) into a malloc'd buffer. 0,
 * KVC_ENOMEM, KVC_ETOO_LARGE, KVC_EINVAL (read error). */
int read_stdin(void **buf, size_t *len);

/* Whether @key follows the key rule of DESIGN.md §1.3; bad_key() says a
 * usage error naming the rule. */
bool key_allowed(const char *key);
int bad_key(const char *key);

/* "not found: @key", exit 1. */
int not_found(const struct global *g, const char *key);

/* The commands of kvctl_lease.c, kvctl_txn.c and kvctl_lock.c, with their
 * usage line and help text. */
int kvctl_cmd_lease(struct global *g, int argc, char **argv);
int kvctl_cmd_txn(struct global *g, int argc, char **argv);
int kvctl_cmd_lock(struct global *g, int argc, char **argv);
/* `kvctl del --prefix P`, called by del when --prefix is given. */
int kvctl_del_prefix(struct global *g, int argc, char **argv);
extern const char kvctl_lease_usage[], kvctl_lease_help[];
extern const char kvctl_txn_usage[], kvctl_txn_help[];
extern const char kvctl_lock_usage[], kvctl_lock_help[];

#endif /* CLIENT_KVCTL_CMD_H_ */
