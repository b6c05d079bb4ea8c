/* kvd_node.c - kvd's member on libkvdraft's node (see kvd_node.h). */
#include "kvd_node.h"

#include <arpa/inet.h>
#include <string.h>

#include "config.h"
#include "kv.h"
#include "log.h"

/* The largest entry received, recovered or replicated: a command with a
 * value of the largest --max-value-bytes any member accepts, the longest
 * key, and slack for membership entries. A constant, so that members with
 * different (or changed) flags still read each other's entries and their
 * own WAL; only the public API applies the flag (http_api.c). */
#define KVD_MAX_ENTRY_BYTES                                                    \
	((uint32_t)(CONFIG_MAX_VALUE_BYTES_LIMIT + KV_CMD_HEADER_SIZE +        \
		    KV_KEY_MAX + 64 * 1024))
/* A membership entry is an entry like any other: the largest one must fit. */
_Static_assert(KVD_MAX_ENTRY_BYTES >= RAFT_MEMBERSHIP_MAX_BYTES,
	       "a membership entry must fit the entry limit");

/* The node's options from kvd's flags (strings point into the config). */
struct kvd_node_options {
	struct kvdraft_node_options o;
	struct kvdraft_peer initial[CONFIG_MEMBERS_MAX];
};

/* The node's log lines become kvd's (the same levels, 0..3). */
static void log_sink(void *ctx, int level, const char *line)
{
	(void)ctx;
	log_msg((enum log_level)level, "%s", line);
}

/* The host outgoing peer connections (messages and snapshots) leave
 * from: --listen-peer's host when it names one address, an IP literal
 * that is not the wildcard; otherwise NULL, the kernel's choice. */
static const char *peer_source_host(const struct config *cfg)
{
	const char *host = cfg->listen_peer.host;
	struct in6_addr a6;
	if ((inet_pton(AF_INET, host, &a6) != 1 &&
	     inet_pton(AF_INET6, host, &a6) != 1) ||
	    strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		log_info("--listen-peer host %s is not one IP address: "
			 "outgoing peer connections use the kernel's choice",
			 host);
		return NULL;
	}
	return host;
}

static void options_from_config(const struct config *cfg,
				struct kvd_node_options *no)
{
	struct kvdraft_node_options *o = &no->o;
	kvdraft_node_options_init(o);
	o->id = cfg->id;
	o->data_dir = cfg->data_dir;
	o->advertise_peer = cfg->advertise_peer;
	o->app_url = cfg->advertise_client;
	/* A member waiting to be added asks a peer's GET /v1/members. */
	o->discovery_path = "/v1/members";
	o->peer_token = cfg->peer_token;
	o->source_host = peer_source_host(cfg);
	o->peer_cert = cfg->peer_cert;
	o->peer_key = cfg->peer_key;
	o->peer_ca = cfg->peer_ca;
	o->heartbeat_ms = cfg->heartbeat_ms;
	o->election_timeout_ms = cfg->election_timeout_ms;
	o->lease_reads = cfg->lease_reads;
	o->request_timeout_ms = cfg->request_timeout_ms;
	o->snapshot_entries = cfg->snapshot_entries;
	o->snapshot_keep = cfg->snapshot_keep;
	o->wal_segment_bytes = cfg->wal_segment_bytes;
	o->max_entry_bytes = KVD_MAX_ENTRY_BYTES;
	o->log = log_sink;
	o->log_level = (int)cfg->log_level;
	for (size_t i = 0; i < cfg->n_initial; i++)
		no->initial[i] =
		    (struct kvdraft_peer){.id = cfg->initial[i].id,
					  .peer_url = cfg->initial[i].peer_url};
	o->initial = no->initial;
	o->n_initial = cfg->n_initial;
	if (strstr(cfg->advertise_client, "//0.0.0.0:") != NULL ||
	    strstr(cfg->advertise_client, "//[::]:") != NULL)
		log_warn("advertised client URL %s is a wildcard address: "
			 "set --advertise-client",
			 cfg->advertise_client);
	if (strstr(cfg->advertise_peer, "//0.0.0.0:") != NULL ||
	    strstr(cfg->advertise_peer, "//[::]:") != NULL)
		log_warn("advertised peer URL %s is a wildcard address: set "
			 "--advertise-peer",
			 cfg->advertise_peer);
}

int kvd_node_open(const struct config *cfg, struct event_base *base,
		  struct evhttp *peer_http, struct kv_app *store,
		  struct kvdraft_node **out, char *err, size_t errlen)
{
	/* The store first (--restore seeds it); the node then recovers the
	 * WAL and the store's place in it. */
	if (kv_app_open(store, cfg, base, err, errlen) != 0)
		return -1;
	struct kvdraft_app app;
	kv_app_callbacks(store, &app);
	struct kvd_node_options no;
	options_from_config(cfg, &no);
	if (kvdraft_node_open(base, peer_http, &no.o, &app, out, err, errlen) !=
	    KVDRAFT_OK) {
		kv_app_close(store);
		return -1;
	}
	store->node = *out;
	if (kv_app_start_watch(store) != 0 || kv_app_start_leases(store) != 0) {
		kvdraft_node_close(*out);
		kv_app_close(store);
		snprintf(err, errlen,
			 "cannot start the watch hub or the lease "
			 "manager: out of memory");
		return -1;
	}
	return 0;
}
