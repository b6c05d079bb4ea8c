/* config.h - kvd's command line (kvd --help): parsing and validation. */
#ifndef SERVER_CONFIG_H_
#define SERVER_CONFIG_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

/* Exit statuses: a bad command line is a usage error (2); a start that
 * fails for other reasons (data dir, WAL, ports) exits 1. */
#define CONFIG_EXIT_USAGE   2
#define CONFIG_EXIT_STARTUP 1

/* Longest host name kept from HOST:PORT. */
#define CONFIG_HOST_MAX 256
/* Longest URL accepted in a flag. */
#define CONFIG_URL_MAX 512
/* Largest --peer-token-file read. */
#define CONFIG_TOKEN_MAX 4096
/* Most snapshots --snapshot-keep may keep. */
#define CONFIG_SNAPSHOT_KEEP_MAX 100
/* Most members --initial-cluster may list. */
#define CONFIG_MEMBERS_MAX 64

struct config_addr {
	char host[CONFIG_HOST_MAX]; /* without IPv6 brackets */
	uint16_t port;
};

struct config_member {
	uint64_t id;
	char peer_url[CONFIG_URL_MAX];
};

struct config {
	uint64_t id;
	char *data_dir; /* owned */
	struct config_addr listen_client;
	struct config_addr listen_peer;
	/* --initial-cluster; n_initial == 0 when absent. */
	struct config_member initial[CONFIG_MEMBERS_MAX];
	size_t n_initial;
	char advertise_client[CONFIG_URL_MAX]; /* defaulted from listen_* */
	char advertise_peer[CONFIG_URL_MAX];
	char *peer_token; /* file content without trailing whitespace, owned;
			   * NULL without --peer-token-file */
	const char *peer_token_file; /* its name (in argv), for the startup
				      * mode check; NULL without it */
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	bool lease_reads; /* --linearizable-reads lease */
	uint64_t snapshot_entries;
	unsigned snapshot_keep;	  /* 1..CONFIG_SNAPSHOT_KEEP_MAX */
	uint64_t max_value_bytes; /* 0..CONFIG_MAX_VALUE_BYTES_LIMIT */
	uint64_t max_txn_bytes;	  /* a POST /v1/txn body, 1024..
				   * CONFIG_MAX_TXN_BYTES_LIMIT */
	unsigned request_timeout_ms;
	uint64_t watch_history; /* --watch-history: events kept, 1..1e9 */
	unsigned
	    max_watchers; /* streams per member, 0..CONFIG_MAX_CONNECTIONS */
	unsigned watch_progress_ms; /* an idle stream's progress period */
	unsigned max_wait_ms;	    /* a blocking read's wait is cut to it */
	uint64_t max_leases;	    /* --max-leases: grants beyond it refused */
	enum log_level log_level;
	enum log_format log_format;
	char *config_text; /* --config FILE's text, owned: values point in it */
	char *restore;	   /* --restore FILE, owned; NULL when absent */
	uint64_t wal_segment_bytes;
	/* --client-cert/--client-key/--client-ca, owned; NULL when absent.
	 * With a certificate (and then a key) the client listener speaks
	 * HTTPS only; with a CA it requires client certificates. */
	char *client_cert, *client_key, *client_ca;
	/* --peer-cert/--peer-key/--peer-ca, owned; all three or none (NULL).
	 * With them peers talk HTTPS both ways (https:// peer URLs only). */
	char *peer_cert, *peer_key, *peer_ca;
	unsigned max_connections; /* per listener, 1..CONFIG_MAX_CONNECTIONS */
	unsigned
	    header_timeout_ms; /* a request's headers, from its first byte */
};

/* The largest --max-connections accepted. */
#define CONFIG_MAX_CONNECTIONS 1000000

/* The largest --max-value-bytes accepted. Limits on what is received,
 * recovered or replicated derive from this bound, never from the flag: a
 * member restarted with a lower flag must still read the entries written
 * under a higher one. */
#define CONFIG_MAX_VALUE_BYTES_LIMIT 16777216u

/* The largest --max-txn-bytes accepted: a transaction is one entry, so its
 * body (whose values are base64, a third longer than the bytes encoded)
 * is bounded like a value, and every accepted body fits the entry limit. */
#define CONFIG_MAX_TXN_BYTES_LIMIT 16777216u

enum config_result {
	CONFIG_OK = 0,
	CONFIG_EXIT = 1,  /* --help or --version was printed: exit 0 */
	CONFIG_ERROR = -1 /* @err holds one line; exit CONFIG_EXIT_USAGE */
};

/* One flag of kvd's command line. config_flags[] is the one place a flag,
 * its default and its range are written: config_parse() applies the
 * defaults through the setters and checks values against the ranges, and
 * config_usage() prints --help from the same rows. */
struct config_parse_state; /* config.c's, while argv is read */
struct config_flag {
	const char *name; /* without the leading "--" */
	const char *arg;  /* the value's name in --help; NULL: takes none */
	const char *def;  /* the default, as text, parsed by @set before argv
			   * is read; NULL: none (or one derived from other
			   * flags, which @help describes) */
	const char *def_note; /* a default derived from other flags, for
			       * --help only */
	uint64_t min, max;    /* a number's range, inclusive (when @set checks
			       * it: numbers, --id) */
	bool required;
	const char *help; /* one paragraph; --help wraps it */
	/* Checks @arg and stores it. Returns CONFIG_OK, CONFIG_ERROR with one
	 * line in @err, or CONFIG_EXIT (--help, --version). */
	int (*set)(struct config_parse_state *st, const struct config_flag *f,
		   const char *arg, char *err, size_t errlen);
	size_t offset; /* where @set stores: in struct config (or in the
			* parse state, for flags checked after the loop) */
	size_t size;   /* the field's size, for numbers */
};

/* Every flag, in --help's order. */
extern const struct config_flag config_flags[];
extern const size_t config_n_flags;

/* Prints --help (every flag of config_flags, its default and range). */
void config_usage(FILE *out);

/* Parses @argv into @c (zeroed first). On CONFIG_ERROR @err holds the one
 * line to print. Free with config_free() after CONFIG_OK or CONFIG_ERROR. */
int config_parse(int argc, char **argv, struct config *c, char *err,
		 size_t errlen);
void config_free(struct config *c);

/* Parses "HOST:PORT" ("[v6]:PORT" too); port 1..65535. Returns 0 or -1. */
int config_parse_addr(const char *s, struct config_addr *out);

/* Parses "http://HOST:PORT" (an optional trailing "/" allowed) into @out.
 * Returns 0 or -1. */
int config_parse_url(const char *url, struct config_addr *out);

/* As config_parse_url(), with the scheme "https://" when @https, else
 * "http://" (and only that). */
int config_parse_url_scheme(const char *url, int https,
			    struct config_addr *out);

/* Whether @url starts with "https://". */
int config_url_https(const char *url);

#endif /* SERVER_CONFIG_H_ */
