/* node_config.c - checking and copying the node's options (see
 * node_config.h).
 */
#include "node_config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "msg_codec.h"
#include "transport.h"
#include "util.h"

/* The defaults kvdraft_node_options_init() sets. */
#define DEFAULT_HEARTBEAT_MS	    100
#define DEFAULT_ELECTION_TIMEOUT_MS 1000
#define DEFAULT_REQUEST_TIMEOUT_MS  5000
#define DEFAULT_SNAPSHOT_ENTRIES    10000
#define DEFAULT_WAL_SEGMENT_BYTES   (4u << 20)
#define MAX_SNAPSHOT_KEEP	    100

void kvdraft_node_options_init(struct kvdraft_node_options *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	o->election_timeout_ms = DEFAULT_ELECTION_TIMEOUT_MS;
	o->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
	o->snapshot_entries = DEFAULT_SNAPSHOT_ENTRIES;
	o->snapshot_keep = 1;
	o->wal_segment_bytes = DEFAULT_WAL_SEGMENT_BYTES;
	o->max_entry_bytes = RAFT_DEFAULT_MAX_ENTRY_BYTES;
	o->log_level = KVDRAFT_LOG_INFO;
}

int node_parse_url(const char *url, struct node_addr *out)
{
	const char *why;
	if (url == NULL || strlen(url) >= NODE_URL_MAX)
		return -1;
	return transport_parse_url(url, out->host, sizeof(out->host),
				   &out->port, &why) == 0
		   ? 0
		   : -1;
}

/* A peer URL: https:// with peer TLS (@tls), http:// without. */
static int url_ok(const char *url, bool tls)
{
	struct node_addr a;
	return node_parse_url(url, &a) == 0 && transport_url_https(url) == tls;
}

static char *dup_or_null(const char *s, int *failed)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*failed = 1;
	return d;
}

int node_config_from_options(const struct kvdraft_node_options *o,
			     struct node_config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	struct kvdraft_node_options d;
	kvdraft_node_options_init(&d);
	if (o == NULL || o->size < offsetof(struct kvdraft_node_options, log))
		return util_fail(err, errlen,
				 "options not initialised "
				 "(kvdraft_node_options_init())");
	/* The fields the program knew of; the rest keep their defaults. */
	memcpy(&d, o, o->size < sizeof(d) ? o->size : sizeof(d));
	if (d.id == 0)
		return util_fail(err, errlen, "the member id must be above 0");
	if (d.data_dir == NULL || d.data_dir[0] == '\0' ||
	    strlen(d.data_dir) > NODE_DATA_DIR_MAX)
		return util_fail(err, errlen,
				 "the data dir must be given, at most %d bytes",
				 NODE_DATA_DIR_MAX);
	bool tls = d.peer_cert != NULL;
	if ((d.peer_key != NULL) != tls || (d.peer_ca != NULL) != tls)
		return util_fail(err, errlen,
				 "peer TLS needs the certificate, the key and "
				 "the CA, all three");
	const char *scheme = tls ? "https" : "http";
	if (!url_ok(d.advertise_peer, tls))
		return util_fail(err, errlen,
				 "the advertised peer URL must be "
				 "%s://HOST:PORT%s",
				 scheme, tls ? " (peer TLS is on)" : "");
	if (d.app_url != NULL && strlen(d.app_url) >= NODE_URL_MAX)
		return util_fail(err, errlen,
				 "the application URL is too long");
	if (d.n_initial > NODE_MEMBERS_MAX ||
	    (d.n_initial > 0 && d.initial == NULL))
		return util_fail(err, errlen,
				 "the founding members must be 1..%d",
				 NODE_MEMBERS_MAX);
	for (size_t i = 0; i < d.n_initial; i++) {
		const struct kvdraft_peer *p = &d.initial[i];
		if (p->id == 0 || !url_ok(p->peer_url, tls))
			return util_fail(err, errlen,
					 "founding member %zu: an id above 0 "
					 "and a URL %s://HOST:PORT",
					 i + 1, scheme);
		for (size_t j = 0; j < i; j++)
			if (d.initial[j].id == p->id)
				return util_fail(err, errlen,
						 "founding member %" PRIu64
						 " is listed twice",
						 p->id);
		c->initial[i].id = p->id;
		strcpy(c->initial[i].peer_url, p->peer_url);
	}
	if (d.heartbeat_ms < 1 || d.heartbeat_ms > 60000 ||
	    d.election_timeout_ms < 10 || d.election_timeout_ms > 60000 ||
	    d.heartbeat_ms >= d.election_timeout_ms)
		return util_fail(err, errlen,
				 "heartbeat_ms (1..60000) must be below "
				 "election_timeout_ms (10..60000)");
	if (d.request_timeout_ms < 1 || d.request_timeout_ms > 600000)
		return util_fail(err, errlen,
				 "request_timeout_ms must be 1..600000");
	if (d.snapshot_keep < 1 || d.snapshot_keep > MAX_SNAPSHOT_KEEP)
		return util_fail(err, errlen, "snapshot_keep must be 1..%d",
				 MAX_SNAPSHOT_KEEP);
	if (d.wal_segment_bytes < 65536 || d.wal_segment_bytes > (1u << 30))
		return util_fail(err, errlen,
				 "wal_segment_bytes must be 64 KiB .. 1 GiB");
	if (d.max_entry_bytes < RAFT_MEMBERSHIP_MAX_BYTES ||
	    d.max_entry_bytes > NODE_MAX_ENTRY_BYTES_LIMIT)
		return util_fail(err, errlen,
				 "max_entry_bytes must be %d..%u: a membership "
				 "entry fits, and the largest entry fits one "
				 "peer message",
				 (int)RAFT_MEMBERSHIP_MAX_BYTES,
				 (unsigned)NODE_MAX_ENTRY_BYTES_LIMIT);
	if (d.peer_token != NULL &&
	    (d.peer_token[0] == '\0' ||
	     strlen(d.peer_token) > TRANSPORT_MAX_TOKEN))
		return util_fail(err, errlen,
				 "the peer token must be 1..%d bytes",
				 (int)TRANSPORT_MAX_TOKEN);
	if (d.discovery_path != NULL &&
	    (d.discovery_path[0] != '/' ||
	     strlen(d.discovery_path) >= NODE_URL_MAX ||
	     strpbrk(d.discovery_path, " \t\r\n?#") != NULL))
		return util_fail(err, errlen,
				 "the discovery path must be an absolute path");
	if (d.source_host != NULL && strlen(d.source_host) >= NODE_URL_MAX)
		return util_fail(err, errlen, "the source host is too long");
	int failed = 0;
	c->id = d.id;
	c->data_dir = dup_or_null(d.data_dir, &failed);
	strcpy(c->advertise_peer, d.advertise_peer);
	if (d.app_url != NULL)
		strcpy(c->app_url, d.app_url);
	c->n_initial = d.n_initial;
	c->source_host = dup_or_null(d.source_host, &failed);
	c->discovery_path = dup_or_null(d.discovery_path, &failed);
	c->peer_token = dup_or_null(d.peer_token, &failed);
	c->peer_cert = dup_or_null(d.peer_cert, &failed);
	c->peer_key = dup_or_null(d.peer_key, &failed);
	c->peer_ca = dup_or_null(d.peer_ca, &failed);
	c->heartbeat_ms = d.heartbeat_ms;
	c->election_timeout_ms = d.election_timeout_ms;
	c->request_timeout_ms = d.request_timeout_ms;
	c->snapshot_entries = d.snapshot_entries;
	c->snapshot_keep = d.snapshot_keep;
	c->wal_segment_bytes = d.wal_segment_bytes;
	c->max_entry_bytes = d.max_entry_bytes;
	c->lease_reads = d.lease_reads;
	if (failed)
		return util_fail(err, errlen, "out of memory");
	return 0;
}

void node_config_free(struct node_config *c)
{
	free(c->data_dir);
	free(c->source_host);
	free(c->peer_token);
	free(c->discovery_path);
	free(c->peer_cert);
	free(c->peer_key);
	free(c->peer_ca);
	c->peer_cert = c->peer_key = c->peer_ca = NULL;
	c->data_dir = c->source_host = c->peer_token = c->discovery_path = NULL;
}
