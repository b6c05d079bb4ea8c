/* config.c - kvd's command line: the table of flags, read by getopt_long,
 * validation, defaults and --help. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef KVD_VERSION
#define KVD_VERSION "unknown"
#endif

/* util_fail() returns -1, which is CONFIG_ERROR. */
_Static_assert(CONFIG_ERROR == -1, "util_fail returns CONFIG_ERROR");

/* Parses a decimal integer in [lo, hi]: digits only, no sign, no spaces. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (*s == '\0')
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int config_parse_addr(const char *s, struct config_addr *out)
{
	const char *colon;
	const char *host = s;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return -1; /* a bare IPv6 address needs brackets */
	}
	if (hlen == 0 || hlen >= CONFIG_HOST_MAX)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if (isspace((unsigned char)host[i]) || host[i] == '/')
			return -1;
	uint64_t port;
	if (parse_u64(colon + 1, 1, 65535, &port) != 0)
		return -1;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (uint16_t)port;
	return 0;
}

int config_parse_url(const char *url, struct config_addr *out)
{
	static const char scheme[] = "http://";
	char buf[CONFIG_URL_MAX];
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return -1;
	const char *rest = url + sizeof(scheme) - 1;
	size_t n = strlen(rest);
	if (n > 0 && rest[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, rest, n);
	buf[n] = '\0';
	if (strchr(buf, '/') != NULL)
		return -1; /* no path: peers and clients append their own */
	return config_parse_addr(buf, out);
}

int config_url_https(const char *url)
{
	return strncmp(url, "https://", 8) == 0;
}

int config_parse_url_scheme(const char *url, int https, struct config_addr *out)
{
	char http[CONFIG_URL_MAX];
	if (!https)
		return config_parse_url(url, out);
	if (!config_url_https(url) || snprintf(http, sizeof(http), "http://%s",
					       url + 8) >= (int)sizeof(http))
		return -1;
	return config_parse_url(http, out);
}

static int copy_url(char *dst, const char *src)
{
	size_t n = strlen(src);
	if (n >= CONFIG_URL_MAX)
		return -1;
	memcpy(dst, src, n + 1);
	/* Stored without a trailing slash so paths append cleanly. */
	if (n > 0 && dst[n - 1] == '/')
		dst[n - 1] = '\0';
	return 0;
}

static void format_url(char *dst, const struct config_addr *a)
{
	if (strchr(a->host, ':') != NULL)
		snprintf(dst, CONFIG_URL_MAX, "http://[%s]:%u", a->host,
			 (unsigned)a->port);
	else
		snprintf(dst, CONFIG_URL_MAX, "http://%s:%u", a->host,
			 (unsigned)a->port);
}

/* "1=http://h:p,2=http://h:p": ids positive and distinct, URLs valid. */
static int parse_cluster(struct config *c, const char *spec, char *err,
			 size_t errlen)
{
	char *copy = strdup(spec);
	if (copy == NULL)
		return util_fail(err, errlen, "out of memory");
	int rc = CONFIG_OK;
	char *save = NULL;
	c->n_initial = 0;
	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		uint64_t id;
		struct config_addr a;
		if (eq == NULL) {
			rc = util_fail(err, errlen,
				       "--initial-cluster: '%s' is not ID=URL",
				       item);
			goto out;
		}
		*eq = '\0';
		if (parse_u64(item, 1, INT64_MAX, &id) != 0) {
			rc = util_fail(err, errlen,
				       "--initial-cluster: bad member id '%s'",
				       item);
			goto out;
		}
		int tls = c->peer_cert != NULL;
		if (config_parse_url_scheme(eq + 1, tls, &a) != 0) {
			rc = util_fail(
			    err, errlen,
			    "--initial-cluster: bad peer URL '%s' for "
			    "member %" PRIu64 " (want %s://HOST:PORT%s)",
			    eq + 1, id, tls ? "https" : "http",
			    tls ? " with --peer-cert" : "");
			goto out;
		}
		for (size_t i = 0; i < c->n_initial; i++) {
			if (c->initial[i].id == id) {
				rc = util_fail(
				    err, errlen,
				    "--initial-cluster: member %" PRIu64
				    " listed twice",
				    id);
				goto out;
			}
		}
		if (c->n_initial == CONFIG_MEMBERS_MAX) {
			rc =
			    util_fail(err, errlen,
				      "--initial-cluster: more than %d members",
				      CONFIG_MEMBERS_MAX);
			goto out;
		}
		c->initial[c->n_initial].id = id;
		copy_url(c->initial[c->n_initial].peer_url, eq + 1);
		c->n_initial++;
	}
	if (c->n_initial == 0)
		rc = util_fail(err, errlen,
			       "--initial-cluster: no members listed");
out:
	free(copy);
	return rc;
}

static int read_token(struct config *c, const char *path, char *err,
		      size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return util_fail(err, errlen,
				 "--peer-token-file: cannot read %s: %s", path,
				 strerror(errno));
	char *buf = malloc(CONFIG_TOKEN_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return util_fail(err, errlen, "out of memory");
	}
	size_t n = fread(buf, 1, CONFIG_TOKEN_MAX + 1, f);
	int rd_err = ferror(f);
	fclose(f);
	if (rd_err) {
		free(buf);
		return util_fail(err, errlen,
				 "--peer-token-file: cannot read %s", path);
	}
	if (n > CONFIG_TOKEN_MAX) {
		free(buf);
		return util_fail(
		    err, errlen,
		    "--peer-token-file: %s is larger than %d bytes", path,
		    CONFIG_TOKEN_MAX);
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		/* The token travels in an HTTP header: printable ASCII only. */
		if (buf[i] < 0x21 || buf[i] > 0x7e) {
			free(buf);
			return util_fail(
			    err, errlen,
			    "--peer-token-file: %s holds characters "
			    "other than printable ASCII",
			    path);
		}
	}
	if (n == 0) {
		free(buf);
		return util_fail(err, errlen, "--peer-token-file: %s is empty",
				 path);
	}
	free(c->peer_token);
	c->peer_token = buf;
	return CONFIG_OK;
}

/* ---- the flags: one table for the parser, the defaults and --help ---- */

/* What the setters fill while argv is read. Flags whose checks need other
 * flags (the advertise URLs default to the listen addresses, the cluster
 * must list --id) are kept as given and checked after the loop. */
struct config_parse_state {
	struct config *c;
	const char *cluster, *adv_client, *adv_peer, *token_file;
};

/* A number flag's value: in [f->min, f->max], stored at f->offset in a
 * field of f->size bytes (unsigned or uint64_t). */
static int set_number(struct config_parse_state *st,
		      const struct config_flag *f, const char *arg, char *err,
		      size_t errlen)
{
	uint64_t v;
	char *field = (char *)st->c + f->offset;

	if (parse_u64(arg, f->min, f->max, &v) != 0)
		return util_fail(err, errlen,
				 "--%s: '%s' is not an integer in [%" PRIu64
				 ", %" PRIu64 "]",
				 f->name, arg, f->min, f->max);
	assert(f->size == sizeof(uint64_t) ||
	       (f->size == sizeof(unsigned) && f->max <= UINT_MAX));
	if (f->size == sizeof(uint64_t)) {
		uint64_t u = v;
		memcpy(field, &u, sizeof(u));
	} else {
		unsigned u = (unsigned)v;
		memcpy(field, &u, sizeof(u));
	}
	return CONFIG_OK;
}

static int set_id(struct config_parse_state *st, const struct config_flag *f,
		  const char *arg, char *err, size_t errlen)
{
	if (parse_u64(arg, f->min, f->max, &st->c->id) != 0)
		return util_fail(err, errlen,
				 "--id: '%s' is not a positive integer", arg);
	return CONFIG_OK;
}

/* A path that must not be empty, copied into the owned string at
 * f->offset. */
static int set_path(struct config_parse_state *st, const struct config_flag *f,
		    const char *arg, char *err, size_t errlen)
{
	char **field = (char **)((char *)st->c + f->offset);

	if (arg[0] == '\0')
		return util_fail(err, errlen, "--%s: empty path", f->name);
	free(*field);
	*field = strdup(arg);
	if (*field == NULL)
		return util_fail(err, errlen, "out of memory");
	return CONFIG_OK;
}

/* HOST:PORT into the struct config_addr at f->offset. */
static int set_addr(struct config_parse_state *st, const struct config_flag *f,
		    const char *arg, char *err, size_t errlen)
{
	struct config_addr *a =
	    (struct config_addr *)((char *)st->c + f->offset);

	if (config_parse_addr(arg, a) != 0)
		return util_fail(err, errlen, "--%s: '%s' is not HOST:PORT",
				 f->name, arg);
	return CONFIG_OK;
}

/* Kept for the checks after the loop (struct config_parse_state). */
static int set_later(struct config_parse_state *st, const struct config_flag *f,
		     const char *arg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*(const char **)((char *)st + f->offset) = arg;
	return CONFIG_OK;
}

/* --config was read before the command line (config_read_file()). */
static int set_config_seen(struct config_parse_state *st,
			   const struct config_flag *f, const char *arg,
			   char *err, size_t errlen)
{
	(void)st, (void)f, (void)arg, (void)err, (void)errlen;
	return CONFIG_OK;
}

static int set_log_level(struct config_parse_state *st,
			 const struct config_flag *f, const char *arg,
			 char *err, size_t errlen)
{
	(void)f;
	if (log_level_parse(arg, &st->c->log_level) != 0)
		return util_fail(err, errlen,
				 "--log-level: '%s' is not one of "
				 "debug, info, warn, error",
				 arg);
	return CONFIG_OK;
}

static int set_log_format(struct config_parse_state *st,
			  const struct config_flag *f, const char *arg,
			  char *err, size_t errlen)
{
	(void)f;
	if (log_format_parse(arg, &st->c->log_format) != 0)
		return util_fail(err, errlen,
				 "--log-format: '%s' is not text or json", arg);
	return CONFIG_OK;
}

static int set_linearizable_reads(struct config_parse_state *st,
				  const struct config_flag *f, const char *arg,
				  char *err, size_t errlen)
{
	(void)f;
	if (strcmp(arg, "readindex") == 0)
		st->c->lease_reads = false;
	else if (strcmp(arg, "lease") == 0)
		st->c->lease_reads = true;
	else
		return util_fail(err, errlen,
				 "--linearizable-reads: '%s' is not readindex "
				 "or lease",
				 arg);
	return CONFIG_OK;
}

static int show_help(struct config_parse_state *st, const struct config_flag *f,
		     const char *arg, char *err, size_t errlen)
{
	(void)st, (void)f, (void)arg, (void)err, (void)errlen;
	config_usage(stdout);
	return CONFIG_EXIT;
}

static int show_version(struct config_parse_state *st,
			const struct config_flag *f, const char *arg, char *err,
			size_t errlen)
{
	(void)st, (void)f, (void)arg, (void)err, (void)errlen;
	printf("kvd %s\n", KVD_VERSION);
	return CONFIG_EXIT;
}

#define FIELD(fld)                                                             \
	.offset = offsetof(struct config, fld),                                \
	.size = sizeof(((struct config *)0)->fld)
#define NUMBER(fld, lo, hi)                                                    \
	.set = set_number, .min = (lo), .max = (hi), FIELD(fld)
#define LATER(fld)                                                             \
	.set = set_later, .offset = offsetof(struct config_parse_state, fld)

/* In the order --help lists them. A default is text, applied through the
 * flag's own setter before argv is read: what --help shows is what the
 * parser applies. */
const struct config_flag config_flags[] = {
    {.name = "id",
     .arg = "N",
     .required = true,
     .help = "this member's id: a positive integer, unique in the cluster, "
	     "never reused",
     .set = set_id,
     .min = 1,
     .max = INT64_MAX},
    {.name = "data-dir",
     .arg = "DIR",
     .required = true,
     .help = "where the WAL, the LMDB store and the membership live "
	     "(created when missing)",
     .set = set_path,
     FIELD(data_dir)},
    {.name = "listen-client",
     .arg = "HOST:PORT",
     .required = true,
     .help = "the public HTTP API",
     .set = set_addr,
     FIELD(listen_client)},
    {.name = "listen-peer",
     .arg = "HOST:PORT",
     .required = true,
     .help = "Raft traffic between members; outgoing peer connections are "
	     "made from this HOST",
     .set = set_addr,
     FIELD(listen_peer)},
    {.name = "initial-cluster",
     .arg = "ID=URL,ID=URL,...",
     .help = "the founding members and their advertised peer URLs; only "
	     "used on first boot (empty data dir), ignored afterwards",
     LATER(cluster)},
    {.name = "advertise-client",
     .arg = "URL",
     .help = "client URL told to others",
     .def_note = "http://<--listen-client>, https:// with --client-cert",
     LATER(adv_client)},
    {.name = "advertise-peer",
     .arg = "URL",
     .help = "peer URL told to others",
     .def_note = "http://<--listen-peer>, https:// with --peer-cert",
     LATER(adv_peer)},
    {.name = "peer-token-file",
     .arg = "FILE",
     .help = "shared secret peers must present, and prove they hold before "
	     "they are sent anything (Bearer token); default: no token (the "
	     "cluster trusts its network)",
     LATER(token_file)},
    {.name = "client-cert",
     .arg = "FILE",
     .help = "PEM certificate (chain) of the client listener, which then "
	     "speaks HTTPS only (TLS 1.2 or newer); needs --client-key. "
	     "Reloaded on SIGHUP",
     .set = set_path,
     FIELD(client_cert)},
    {.name = "client-key",
     .arg = "FILE",
     .help = "PEM private key of --client-cert (mode 0600: a key others may "
	     "read is a warning)",
     .set = set_path,
     FIELD(client_key)},
    {.name = "client-ca",
     .arg = "FILE",
     .help = "PEM CA certificates: clients must present a certificate one "
	     "of them signed; needs --client-cert",
     .set = set_path,
     FIELD(client_ca)},
    {.name = "peer-cert",
     .arg = "FILE",
     .help = "PEM certificate (chain) of this member towards its peers: "
	     "peers then talk HTTPS both ways (https:// peer URLs only) and "
	     "each verifies the other's certificate against --peer-ca; needs "
	     "--peer-key and --peer-ca. Reloaded on SIGHUP",
     .set = set_path,
     FIELD(peer_cert)},
    {.name = "peer-key",
     .arg = "FILE",
     .help = "PEM private key of --peer-cert (mode 0600: a key others may "
	     "read is a warning)",
     .set = set_path,
     FIELD(peer_key)},
    {.name = "peer-ca",
     .arg = "FILE",
     .help = "PEM CA certificates that sign the members' peer "
	     "certificates; needs --peer-cert and --peer-key",
     .set = set_path,
     FIELD(peer_ca)},
    {.name = "election-timeout-ms",
     .arg = "MS",
     .def = "1000",
     .help = "election timeout, randomized in [MS, 2MS)",
     NUMBER(election_timeout_ms, 10, 60000)},
    {.name = "heartbeat-ms",
     .arg = "MS",
     .def = "100",
     .help = "leader heartbeat interval, below the election timeout",
     NUMBER(heartbeat_ms, 1, 60000)},
    {.name = "linearizable-reads",
     .arg = "MODE",
     .def = "readindex",
     .help = "how the leader confirms a linearizable read: readindex (a "
	     "heartbeat round a majority answers, shared by the reads "
	     "waiting) or lease (none while a majority answered a heartbeat "
	     "within the election timeout less 3 ticks: safe while no "
	     "member's clock runs more than a tick (heartbeat/2, at most 50 "
	     "ms) per election timeout faster than another's; give every "
	     "member the same mode)",
     .set = set_linearizable_reads},
    {.name = "snapshot-entries",
     .arg = "N",
     .def = "10000",
     .help = "applied entries between snapshots; WAL segments below a "
	     "snapshot are deleted; after a copy that took T seconds the "
	     "next waits at least 9 T",
     NUMBER(snapshot_entries, 1, 1000000000)},
    {.name = "snapshot-keep",
     .arg = "N",
     .def = "1",
     .help = "snapshots kept in DATA_DIR/snap; older ones are deleted after "
	     "each new one",
     NUMBER(snapshot_keep, 1, CONFIG_SNAPSHOT_KEEP_MAX)},
    {.name = "restore",
     .arg = "FILE",
     .help = "seed an empty data dir from a snapshot file (kvctl snapshot "
	     "save, GET /v1/snapshot); with --initial-cluster it founds a new "
	     "cluster holding that data. Ignored when the data dir already "
	     "holds a store",
     .set = set_path,
     FIELD(restore)},
    {.name = "wal-segment-bytes",
     .arg = "N",
     .def = "4194304",
     .help = "size of each WAL segment file, which grows to it in steps",
     NUMBER(wal_segment_bytes, 65536, 1u << 30)},
    {.name = "max-value-bytes",
     .arg = "N",
     .def = "1048576",
     .help = "largest value accepted; larger: 413",
     NUMBER(max_value_bytes, 0, CONFIG_MAX_VALUE_BYTES_LIMIT)},
    {.name = "max-txn-bytes",
     .arg = "N",
     .def = "4194304",
     .help = "largest POST /v1/txn body; larger: 413",
     NUMBER(max_txn_bytes, 1024, CONFIG_MAX_TXN_BYTES_LIMIT)},
    {.name = "request-timeout-ms",
     .arg = "MS",
     .def = "5000",
     .help = "a request without an outcome by then fails with 503 or 504",
     NUMBER(request_timeout_ms, 1, 600000)},
    {.name = "watch-history",
     .arg = "N",
     .def = "100000",
     .help = "changes kept for watches, durably in the store: at least the "
	     "last N, at most 2N; a watch from an older index is 410",
     NUMBER(watch_history, 1, 1000000000)},
    {.name = "max-watchers",
     .arg = "N",
     .def = "10000",
     .help = "watch streams open at once on this member; beyond: 503 "
	     "(blocking reads do not count)",
     NUMBER(max_watchers, 0, CONFIG_MAX_CONNECTIONS)},
    {.name = "watch-progress-ms",
     .arg = "MS",
     .def = "5000",
     .help = "a watch stream that sent nothing for this long gets a "
	     "progress event (every change up to its index was delivered)",
     NUMBER(watch_progress_ms, 10, 3600000)},
    {.name = "max-wait-ms",
     .arg = "MS",
     .def = "600000",
     .help = "a blocking read (?wait_index) waits at most this long, "
	     "whatever its wait (which above 600s is 400)",
     NUMBER(max_wait_ms, 0, 600000)},
    {.name = "max-leases",
     .arg = "N",
     .def = "100000",
     .help = "leases the store may hold; a grant beyond it is 409 "
	     "(revoke some, or raise it)",
     NUMBER(max_leases, 1, 10000000)},
    {.name = "max-connections",
     .arg = "N",
     .def = "10000",
     .help = "connections open at once on each listener (client, peer); "
	     "beyond, new ones wait until one closes. When file descriptors "
	     "run out, accepting pauses and resumes as they are freed",
     NUMBER(max_connections, 1, CONFIG_MAX_CONNECTIONS)},
    {.name = "header-timeout-ms",
     .arg = "MS",
     .def = "10000",
     .help = "a request's headers must arrive within MS of its first byte, "
	     "else the connection is closed; over HTTPS, the first request's "
	     "within MS of the connection's accept (the handshake included)",
     NUMBER(header_timeout_ms, 1, 600000)},
    {.name = "log-level",
     .arg = "LEVEL",
     .def = "info",
     .help = "debug, info, warn or error",
     .set = set_log_level},
    {.name = "log-format",
     .arg = "FORMAT",
     .def = "text",
     .help = "log lines on stderr as text, or json: one object a line with "
	     "ts, level, member, msg",
     .set = set_log_format},
    {.name = "help", .help = "print this help and exit", .set = show_help},
    {.name = "config",
     .arg = "FILE",
     .help = "read flags from FILE first: one `flag = value` a line (the "
	     "flag's name without --), # comments; flags on the command line "
	     "win",
     .set = set_config_seen},
    {.name = "version",
     .help = "print the version and exit",
     .set = show_version},
};

const size_t config_n_flags = sizeof(config_flags) / sizeof(config_flags[0]);

#undef FIELD
#undef NUMBER
#undef LATER

/* --help's layout: the flag in a column of HELP_INDENT, its text wrapped
 * to HELP_WIDTH. */
#define HELP_INDENT 27
#define HELP_WIDTH  72

/* Prints @text from column HELP_INDENT (the cursor is at column *@col),
 * wrapped at spaces to HELP_WIDTH. */
static void print_wrapped(FILE *out, const char *text, int *col)
{
	const char *p = text;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (*col > HELP_INDENT && *col + 1 + (int)n > HELP_WIDTH) {
			fprintf(out, "\n%*s", HELP_INDENT, "");
			*col = HELP_INDENT;
		} else if (*col > HELP_INDENT) {
			fputc(' ', out);
			(*col)++;
		}
		fprintf(out, "%.*s", (int)n, p);
		*col += (int)n;
		p += n;
		while (*p == ' ')
			p++;
	}
}

static void print_flag(FILE *out, const struct config_flag *f)
{
	char left[64], extra[96] = "";
	int col;

	col = snprintf(left, sizeof(left), "  --%s%s%s", f->name,
		       f->arg != NULL ? " " : "", f->arg != NULL ? f->arg : "");
	fputs(left, out);
	if (col + 1 > HELP_INDENT) {
		fputc('\n', out);
		col = 0;
	}
	fprintf(out, "%*s", HELP_INDENT - col, "");
	col = HELP_INDENT;
	print_wrapped(out, f->help, &col);
	if (f->def != NULL && f->set == set_number)
		snprintf(extra, sizeof(extra),
			 "(default %s, %" PRIu64 "..%" PRIu64 ")", f->def,
			 f->min, f->max);
	else if (f->def != NULL || f->def_note != NULL)
		snprintf(extra, sizeof(extra), "(default %s)",
			 f->def != NULL ? f->def : f->def_note);
	/* The default stays on one line. */
	if (extra[0] != '\0' && col + 1 + (int)strlen(extra) > HELP_WIDTH) {
		fprintf(out, "\n%*s", HELP_INDENT, "");
		col = HELP_INDENT;
	}
	if (extra[0] != '\0')
		print_wrapped(out, extra, &col);
	fputc('\n', out);
}

void config_usage(FILE *out)
{
	fputs("Usage: kvd --id N --data-dir DIR --listen-client HOST:PORT\n"
	      "           --listen-peer HOST:PORT [options]\n"
	      "\n"
	      "kvd is one member of a replicated key-value store (Raft over "
	      "HTTP,\n"
	      "LMDB state machine). Every member serves the whole public API.\n"
	      "\n"
	      "Required:\n",
	      out);
	for (size_t i = 0; i < config_n_flags; i++)
		if (config_flags[i].required)
			print_flag(out, &config_flags[i]);
	fputs("\nOptions:\n", out);
	for (size_t i = 0; i < config_n_flags; i++)
		if (!config_flags[i].required)
			print_flag(out, &config_flags[i]);
	fputs("\n"
	      "Example (member 1 of 3 on one host):\n"
	      "  kvd --id 1 --data-dir /var/lib/kvd/1 \\\n"
	      "      --listen-client 127.0.0.1:7001 --listen-peer "
	      "127.0.0.1:7101 \\\n"
	      "      --initial-cluster 1=http://127.0.0.1:7101,"
	      "2=http://127.0.0.1:7102,3=http://127.0.0.1:7103\n",
	      out);
}

/* getopt_long's value for config_flags[i]: above every character. */
#define FLAG_OPT_BASE 256

/* The largest --config file read. */
#define CONFIG_FILE_MAX (64 * 1024)

/* The path of --config FILE or --config=FILE in @argv, NULL without. */
static const char *config_path(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (strncmp(argv[i], "--config=", 9) == 0)
			return argv[i] + 9;
	}
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Applies the flags of the file @path (DESIGN.md §1.10: `flag = value`
 * a line, # comments) through the flag table, marking them in @seen; the
 * text stays in c->config_text (values point into it). */
static int config_read_file(struct config_parse_state *st, const char *path,
			    bool *seen, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return util_fail(err, errlen, "--config: cannot open %s: %s",
				 path, strerror(errno));
	char *text = malloc(CONFIG_FILE_MAX + 1);
	size_t n = text != NULL ? fread(text, 1, CONFIG_FILE_MAX + 1, f) : 0;
	int bad = text == NULL || ferror(f);
	fclose(f);
	if (bad) {
		free(text);
		return util_fail(err, errlen, "--config: cannot read %s", path);
	}
	if (n > CONFIG_FILE_MAX) {
		free(text);
		return util_fail(err, errlen, "--config: %s is over %d bytes",
				 path, CONFIG_FILE_MAX);
	}
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		free(text);
		return util_fail(err, errlen, "--config: %s is not text", path);
	}
	st->c->config_text = text;
	int line = 0;
	for (char *p = text, *next; p != NULL && *p != '\0'; p = next) {
		line++;
		next = strchr(p, '\n');
		if (next != NULL)
			*next++ = '\0';
		/* A comment: from a # that starts the line or follows a
		 * space or tab (a value holds none: URLs, paths, numbers). */
		for (char *h = strchr(p, '#'); h != NULL;
		     h = strchr(h + 1, '#'))
			if (h == p || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		char *l = trim(p);
		if (*l == '\0')
			continue;
		char *eq = strchr(l, '=');
		if (eq == NULL)
			return util_fail(err, errlen,
					 "%s:%d: expected `flag = value`", path,
					 line);
		*eq = '\0';
		char *name = trim(l), *value = trim(eq + 1);
		if (strncmp(name, "--", 2) == 0)
			name += 2;
		size_t i = 0;
		while (i < config_n_flags &&
		       strcmp(config_flags[i].name, name) != 0)
			i++;
		if (i == config_n_flags || config_flags[i].arg == NULL ||
		    strcmp(name, "config") == 0)
			return util_fail(err, errlen,
					 "%s:%d: no flag '%s' takes a value "
					 "here (see kvd --help)",
					 path, line, name);
		char lerr[512];
		int rc = config_flags[i].set(st, &config_flags[i], value, lerr,
					     sizeof(lerr));
		if (rc != CONFIG_OK)
			return util_fail(err, errlen, "%s:%d: %s", path, line,
					 lerr);
		seen[i] = true;
	}
	return CONFIG_OK;
}

int config_parse(int argc, char **argv, struct config *c, char *err,
		 size_t errlen)
{
	struct option opts[sizeof(config_flags) / sizeof(config_flags[0]) + 1];
	bool seen[sizeof(config_flags) / sizeof(config_flags[0])] = {false};
	struct config_parse_state st = {.c = c};
	int rc;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < config_n_flags; i++) {
		const struct config_flag *f = &config_flags[i];
		opts[i] = (struct option){
		    f->name, f->arg != NULL ? required_argument : no_argument,
		    NULL, FLAG_OPT_BASE + (int)i};
		/* A default the table cannot parse is a bug in the table
		 * (the unit tests parse each one). */
		if (f->def != NULL) {
			rc = f->set(&st, f, f->def, err, errlen);
			assert(rc == CONFIG_OK);
		}
	}
	opts[config_n_flags] = (struct option){NULL, 0, NULL, 0};
	/* The file first: the command line's flags then win. */
	const char *file = config_path(argc, argv);
	if (file != NULL) {
		rc = config_read_file(&st, file, seen, err, errlen);
		if (rc != CONFIG_OK)
			return rc;
	}

	opterr = 0; /* our own messages, one line each */
	optind = 1;
	for (;;) {
		int opt = getopt_long(argc, argv, ":", opts, NULL);
		if (opt == -1)
			break;
		if (opt == ':')
			return util_fail(err, errlen,
					 "%s needs a value (see kvd --help)",
					 argv[optind - 1]);
		if (opt < FLAG_OPT_BASE ||
		    opt >= FLAG_OPT_BASE + (int)config_n_flags)
			return util_fail(err, errlen,
					 "unknown flag %s (see kvd --help)",
					 argv[optind - 1]);
		size_t i = (size_t)(opt - FLAG_OPT_BASE);
		rc = config_flags[i].set(&st, &config_flags[i], optarg, err,
					 errlen);
		if (rc != CONFIG_OK)
			return rc;
		seen[i] = true;
	}
	if (optind < argc)
		return util_fail(err, errlen,
				 "unexpected argument '%s' (see kvd --help)",
				 argv[optind]);
	for (size_t i = 0; i < config_n_flags; i++)
		if (config_flags[i].required && !seen[i])
			return util_fail(err, errlen,
					 "--%s is required (see kvd --help)",
					 config_flags[i].name);
	if (c->heartbeat_ms >= c->election_timeout_ms)
		return util_fail(err, errlen,
				 "--heartbeat-ms (%u) must be below "
				 "--election-timeout-ms (%u)",
				 c->heartbeat_ms, c->election_timeout_ms);

	if ((c->client_cert == NULL) != (c->client_key == NULL))
		return util_fail(err, errlen,
				 "--client-cert and --client-key go together");
	if (c->client_ca != NULL && c->client_cert == NULL)
		return util_fail(err, errlen,
				 "--client-ca needs --client-cert and "
				 "--client-key");

	if ((c->peer_cert != NULL) != (c->peer_key != NULL) ||
	    (c->peer_cert != NULL) != (c->peer_ca != NULL))
		return util_fail(err, errlen,
				 "--peer-cert, --peer-key and --peer-ca go "
				 "together (all three or none)");

	struct config_addr tmp;
	int client_tls = c->client_cert != NULL;
	if (st.adv_client != NULL) {
		/* With TLS the client URL is https:// (and only that). */
		char http[CONFIG_URL_MAX];
		int bad = strlen(st.adv_client) >= sizeof(http);
		if (!bad && client_tls) {
			bad = strncmp(st.adv_client, "https://", 8) != 0;
			snprintf(http, sizeof(http), "http://%s",
				 st.adv_client + (bad ? 0 : 8));
		} else if (!bad) {
			snprintf(http, sizeof(http), "%s", st.adv_client);
		}
		if (bad || config_parse_url(http, &tmp) != 0 ||
		    copy_url(c->advertise_client, st.adv_client) != 0)
			return util_fail(err, errlen,
					 "--advertise-client: '%s' is not "
					 "%s://HOST:PORT",
					 st.adv_client,
					 client_tls ? "https" : "http");
	} else {
		format_url(c->advertise_client, &c->listen_client);
		if (client_tls) { /* "http://" becomes "https://" */
			char url[CONFIG_URL_MAX];
			snprintf(url, sizeof(url), "https://%s",
				 c->advertise_client + 7);
			snprintf(c->advertise_client, CONFIG_URL_MAX, "%s",
				 url);
		}
	}
	int peer_tls = c->peer_cert != NULL;
	if (st.adv_peer != NULL) {
		/* With peer TLS the peer URL is https:// (and only that). */
		if (config_parse_url_scheme(st.adv_peer, peer_tls, &tmp) != 0 ||
		    copy_url(c->advertise_peer, st.adv_peer) != 0)
			return util_fail(err, errlen,
					 "--advertise-peer: '%s' is not "
					 "%s://HOST:PORT%s",
					 st.adv_peer,
					 peer_tls ? "https" : "http",
					 peer_tls ? " (with --peer-cert)" : "");
	} else {
		format_url(c->advertise_peer, &c->listen_peer);
		if (peer_tls) { /* "http://" becomes "https://" */
			char url[CONFIG_URL_MAX];
			snprintf(url, sizeof(url), "https://%s",
				 c->advertise_peer + 7);
			snprintf(c->advertise_peer, CONFIG_URL_MAX, "%s", url);
		}
	}
	if (st.cluster != NULL) {
		rc = parse_cluster(c, st.cluster, err, errlen);
		if (rc != CONFIG_OK)
			return rc;
		int found = 0;
		for (size_t i = 0; i < c->n_initial; i++)
			found |= c->initial[i].id == c->id;
		if (!found)
			return util_fail(err, errlen,
					 "--initial-cluster does not list this "
					 "member (--id %" PRIu64 ")",
					 c->id);
	}
	if (st.token_file != NULL) {
		rc = read_token(c, st.token_file, err, errlen);
		if (rc != CONFIG_OK)
			return rc;
		c->peer_token_file = st.token_file;
	}
	return CONFIG_OK;
}

void config_free(struct config *c)
{
	free(c->data_dir);
	free(c->peer_token);
	free(c->restore);
	free(c->client_cert);
	free(c->client_key);
	free(c->client_ca);
	c->client_cert = c->client_key = c->client_ca = NULL;
	free(c->peer_cert);
	free(c->peer_key);
	free(c->peer_ca);
	c->peer_cert = c->peer_key = c->peer_ca = NULL;
	free(c->config_text);
	c->config_text = NULL;
	c->data_dir = NULL;
	c->peer_token = NULL;
	c->restore = NULL;
}
