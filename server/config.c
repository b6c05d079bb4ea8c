/* config.c - kvd's command line: getopt_long, validation, --help. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef KVD_VERSION
#define KVD_VERSION "unknown"
#endif

enum {
	OPT_ID = 256,
	OPT_DATA_DIR,
	OPT_LISTEN_CLIENT,
	OPT_LISTEN_PEER,
	OPT_INITIAL_CLUSTER,
	OPT_ADVERTISE_CLIENT,
	OPT_ADVERTISE_PEER,
	OPT_PEER_TOKEN_FILE,
	OPT_ELECTION_TIMEOUT_MS,
	OPT_HEARTBEAT_MS,
	OPT_SNAPSHOT_ENTRIES,
	OPT_SNAPSHOT_KEEP,
	OPT_MAX_VALUE_BYTES,
	OPT_REQUEST_TIMEOUT_MS,
	OPT_LOG_LEVEL,
	OPT_RESTORE,
	OPT_WAL_SEGMENT_BYTES,
	OPT_MAX_CONNECTIONS,
	OPT_HEADER_TIMEOUT_MS,
	OPT_HELP,
	OPT_VERSION
};

static const struct option long_opts[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen-client", required_argument, NULL, OPT_LISTEN_CLIENT},
    {"listen-peer", required_argument, NULL, OPT_LISTEN_PEER},
    {"initial-cluster", required_argument, NULL, OPT_INITIAL_CLUSTER},
    {"advertise-client", required_argument, NULL, OPT_ADVERTISE_CLIENT},
    {"advertise-peer", required_argument, NULL, OPT_ADVERTISE_PEER},
    {"peer-token-file", required_argument, NULL, OPT_PEER_TOKEN_FILE},
    {"election-timeout-ms", required_argument, NULL, OPT_ELECTION_TIMEOUT_MS},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT_MS},
    {"snapshot-entries", required_argument, NULL, OPT_SNAPSHOT_ENTRIES},
    {"snapshot-keep", required_argument, NULL, OPT_SNAPSHOT_KEEP},
    {"max-value-bytes", required_argument, NULL, OPT_MAX_VALUE_BYTES},
    {"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT_MS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"wal-segment-bytes", required_argument, NULL, OPT_WAL_SEGMENT_BYTES},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"header-timeout-ms", required_argument, NULL, OPT_HEADER_TIMEOUT_MS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

static const char usage_text[] =
    "Usage: kvd --id N --data-dir DIR --listen-client HOST:PORT\n"
    "           --listen-peer HOST:PORT [options]\n"
    "\n"
    "kvd is one member of a replicated key-value store (Raft over HTTP,\n"
    "LMDB state machine). Every member serves the whole public API.\n"
    "\n"
    "Required:\n"
    "  --id N                   this member's id: a positive integer, unique\n"
    "                           in the cluster, never reused\n"
    "  --data-dir DIR           where the WAL, the LMDB store and the\n"
    "                           membership live (created when missing)\n"
    "  --listen-client HOST:PORT  the public HTTP API\n"
    "  --listen-peer HOST:PORT  Raft traffic between members; outgoing peer\n"
    "                           connections are made from this HOST\n"
    "\n"
    "Options:\n"
    "  --initial-cluster ID=URL,ID=URL,...\n"
    "                           the founding members and their advertised\n"
    "                           peer URLs; only used on first boot (empty\n"
    "                           data dir), ignored afterwards\n"
    "  --advertise-client URL   client URL told to others\n"
    "                           (default http://<--listen-client>)\n"
    "  --advertise-peer URL     peer URL told to others\n"
    "                           (default http://<--listen-peer>)\n"
    "  --peer-token-file FILE   shared secret peers must present (Bearer\n"
    "                           token); default: no token\n"
    "  --election-timeout-ms MS election timeout, randomized in [MS, 2MS)\n"
    "                           (default 1000, 10..60000)\n"
    "  --heartbeat-ms MS        leader heartbeat interval, below the\n"
    "                           election timeout (default 100)\n"
    "  --snapshot-entries N     applied entries between snapshots; WAL\n"
    "                           segments below a snapshot are deleted\n"
    "                           (default 10000); after a copy that took T\n"
    "                           seconds the next waits at least 9 T\n"
    "  --snapshot-keep N        snapshots kept in DATA_DIR/snap; older ones\n"
    "                           are deleted after each new one (default 1,\n"
    "                           1..100)\n"
    "  --restore FILE           seed an empty data dir from a snapshot file\n"
    "                           (kvctl snapshot save, GET /v1/snapshot);\n"
    "                           with --initial-cluster it founds a new\n"
    "                           cluster holding that data. Ignored when the\n"
    "                           data dir already holds a store\n"
    "  --wal-segment-bytes N    size of each WAL segment file, which grows\n"
    "                           to it in steps (default 4194304,\n"
    "                           65536..1073741824)\n"
    "  --max-value-bytes N      largest value accepted; larger: 413\n"
    "                           (default 1048576, at most 16777216)\n"
    "  --request-timeout-ms MS  a request without an outcome by then fails\n"
    "                           with 503 or 504 (default 5000)\n"
    "  --max-connections N      connections open at once on each listener\n"
    "                           (client, peer); beyond, new ones wait until\n"
    "                           one closes (default 10000, 1..1000000).\n"
    "                           When file descriptors run out, accepting\n"
    "                           pauses and resumes as they are freed\n"
    "  --header-timeout-ms MS   a request's headers must arrive within MS\n"
    "                           of its first byte, else the connection is\n"
    "                           closed (default 10000, 1..600000)\n"
    "  --log-level LEVEL        debug, info, warn or error (default info)\n"
    "  --help                   print this help and exit\n"
    "  --version                print the version and exit\n"
    "\n"
    "Example (member 1 of 3 on one host):\n"
    "  kvd --id 1 --data-dir /var/lib/kvd/1 \\\n"
    "      --listen-client 127.0.0.1:7001 --listen-peer 127.0.0.1:7101 \\\n"
    "      --initial-cluster 1=http://127.0.0.1:7101,"
    "2=http://127.0.0.1:7102,3=http://127.0.0.1:7103\n";

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
		if (config_parse_url(eq + 1, &a) != 0) {
			rc = util_fail(
			    err, errlen,
			    "--initial-cluster: bad peer URL '%s' for "
			    "member %" PRIu64 " (want http://HOST:PORT)",
			    eq + 1, id);
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

static int number_flag(const char *name, const char *arg, uint64_t lo,
		       uint64_t hi, uint64_t *out, char *err, size_t errlen)
{
	if (parse_u64(arg, lo, hi, out) != 0)
		return util_fail(err, errlen,
				 "--%s: '%s' is not an integer in [%" PRIu64
				 ", %" PRIu64 "]",
				 name, arg, lo, hi);
	return CONFIG_OK;
}

int config_parse(int argc, char **argv, struct config *c, char *err,
		 size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->election_timeout_ms = 1000;
	c->heartbeat_ms = 100;
	c->snapshot_entries = 10000;
	c->max_value_bytes = 1048576;
	c->request_timeout_ms = 5000;
	c->log_level = LOG_LEVEL_INFO;
	c->snapshot_keep = 1;
	c->wal_segment_bytes = 4u << 20;
	c->max_connections = 10000;
	c->header_timeout_ms = 10000;

	int have_client = 0, have_peer = 0;
	const char *cluster = NULL, *adv_client = NULL, *adv_peer = NULL;
	const char *token_file = NULL;
	uint64_t v;
	int rc;

	opterr = 0; /* our own messages, one line each */
	optind = 1;
	for (;;) {
		int longidx = -1;
		int opt = getopt_long(argc, argv, ":", long_opts, &longidx);
		if (opt == -1)
			break;
		const char *name = longidx >= 0 ? long_opts[longidx].name : "";
		switch (opt) {
		case OPT_ID:
			if (parse_u64(optarg, 1, INT64_MAX, &c->id) != 0)
				return util_fail(err, errlen,
						 "--id: '%s' is not a positive "
						 "integer",
						 optarg);
			break;
		case OPT_DATA_DIR:
			if (optarg[0] == '\0')
				return util_fail(err, errlen,
						 "--data-dir: empty path");
			free(c->data_dir);
			c->data_dir = strdup(optarg);
			if (c->data_dir == NULL)
				return util_fail(err, errlen, "out of memory");
			break;
		case OPT_LISTEN_CLIENT:
			if (config_parse_addr(optarg, &c->listen_client) != 0)
				return util_fail(err, errlen,
						 "--listen-client: '%s' is not "
						 "HOST:PORT",
						 optarg);
			have_client = 1;
			break;
		case OPT_LISTEN_PEER:
			if (config_parse_addr(optarg, &c->listen_peer) != 0)
				return util_fail(err, errlen,
						 "--listen-peer: '%s' is not "
						 "HOST:PORT",
						 optarg);
			have_peer = 1;
			break;
		case OPT_INITIAL_CLUSTER:
			cluster = optarg;
			break;
		case OPT_ADVERTISE_CLIENT:
			adv_client = optarg;
			break;
		case OPT_ADVERTISE_PEER:
			adv_peer = optarg;
			break;
		case OPT_PEER_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_ELECTION_TIMEOUT_MS:
			rc = number_flag(name, optarg, 10, 60000, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->election_timeout_ms = (unsigned)v;
			break;
		case OPT_HEARTBEAT_MS:
			rc = number_flag(name, optarg, 1, 60000, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->heartbeat_ms = (unsigned)v;
			break;
		case OPT_SNAPSHOT_ENTRIES:
			rc = number_flag(name, optarg, 1, 1000000000, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->snapshot_entries = v;
			break;
		case OPT_SNAPSHOT_KEEP:
			rc = number_flag(name, optarg, 1,
					 CONFIG_SNAPSHOT_KEEP_MAX, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->snapshot_keep = (unsigned)v;
			break;
		case OPT_MAX_VALUE_BYTES:
			rc = number_flag(name, optarg, 0,
					 CONFIG_MAX_VALUE_BYTES_LIMIT, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->max_value_bytes = v;
			break;
		case OPT_REQUEST_TIMEOUT_MS:
			rc = number_flag(name, optarg, 1, 600000, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->request_timeout_ms = (unsigned)v;
			break;
		case OPT_RESTORE:
			if (optarg[0] == '\0')
				return util_fail(err, errlen,
						 "--restore: empty path");
			free(c->restore);
			c->restore = strdup(optarg);
			if (c->restore == NULL)
				return util_fail(err, errlen, "out of memory");
			break;
		case OPT_WAL_SEGMENT_BYTES:
			rc = number_flag(name, optarg, 65536, 1u << 30, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->wal_segment_bytes = v;
			break;
		case OPT_MAX_CONNECTIONS:
			rc =
			    number_flag(name, optarg, 1, CONFIG_MAX_CONNECTIONS,
					&v, err, errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->max_connections = (unsigned)v;
			break;
		case OPT_HEADER_TIMEOUT_MS:
			rc = number_flag(name, optarg, 1, 600000, &v, err,
					 errlen);
			if (rc != CONFIG_OK)
				return rc;
			c->header_timeout_ms = (unsigned)v;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &c->log_level) != 0)
				return util_fail(
				    err, errlen,
				    "--log-level: '%s' is not one of "
				    "debug, info, warn, error",
				    optarg);
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return CONFIG_EXIT;
		case OPT_VERSION:
			printf("kvd %s\n", KVD_VERSION);
			return CONFIG_EXIT;
		case ':':
			return util_fail(err, errlen,
					 "%s needs a value (see kvd --help)",
					 argv[optind - 1]);
		default:
			return util_fail(err, errlen,
					 "unknown flag %s (see kvd --help)",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return util_fail(err, errlen,
				 "unexpected argument '%s' (see kvd --help)",
				 argv[optind]);
	if (c->id == 0)
		return util_fail(err, errlen,
				 "--id is required (see kvd --help)");
	if (c->data_dir == NULL)
		return util_fail(err, errlen,
				 "--data-dir is required (see kvd --help)");
	if (!have_client)
		return util_fail(
		    err, errlen,
		    "--listen-client is required (see kvd --help)");
	if (!have_peer)
		return util_fail(err, errlen,
				 "--listen-peer is required (see kvd --help)");
	if (c->heartbeat_ms >= c->election_timeout_ms)
		return util_fail(err, errlen,
				 "--heartbeat-ms (%u) must be below "
				 "--election-timeout-ms (%u)",
				 c->heartbeat_ms, c->election_timeout_ms);

	struct config_addr tmp;
	if (adv_client != NULL) {
		if (config_parse_url(adv_client, &tmp) != 0 ||
		    copy_url(c->advertise_client, adv_client) != 0)
			return util_fail(err, errlen,
					 "--advertise-client: '%s' is not "
					 "http://HOST:PORT",
					 adv_client);
	} else {
		format_url(c->advertise_client, &c->listen_client);
	}
	if (adv_peer != NULL) {
		if (config_parse_url(adv_peer, &tmp) != 0 ||
		    copy_url(c->advertise_peer, adv_peer) != 0)
			return util_fail(err, errlen,
					 "--advertise-peer: '%s' is not "
					 "http://HOST:PORT",
					 adv_peer);
	} else {
		format_url(c->advertise_peer, &c->listen_peer);
	}
	if (cluster != NULL) {
		rc = parse_cluster(c, cluster, err, errlen);
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
	if (token_file != NULL) {
		rc = read_token(c, token_file, err, errlen);
		if (rc != CONFIG_OK)
			return rc;
		c->peer_token_file = token_file;
	}
	return CONFIG_OK;
}

void config_free(struct config *c)
{
	free(c->data_dir);
	free(c->peer_token);
	free(c->restore);
	c->data_dir = NULL;
	c->peer_token = NULL;
	c->restore = NULL;
}
