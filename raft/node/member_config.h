/* member_config.h - the raft core's membership configuration carried out
 * on this member's list of members, its peer transport and members.json;
 * and how a member waiting to be added finds its peers.
 *
 * A configuration takes effect in the core when its entry is appended
 * (raft.h): the member list and the transport peers follow it at once, so
 * the leader replicates to a new member straight away. members.json
 * follows only configurations that are applied here (so committed and
 * durable): a restart never starts from a configuration that could still
 * be undone. Loop thread only.
 */
#ifndef RAFT_NODE_MEMBER_CONFIG_H_
#define RAFT_NODE_MEMBER_CONFIG_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "members_file.h"
#include "raft.h"

struct event_base;
struct transport;
struct evhttp_connection;
struct tls_client;

struct member_config {
	raft_id self;
	const char *self_client_url;
	const char *discovery_path; /* NULL: no discovery */
	const char *data_dir;
	struct transport *tr;
	struct event_base *base;
	raft_index index;	  /* the configuration the list follows */
	bool store_pending;	  /* members.json is behind the list */
	uint64_t store_failed_ms; /* when writing it last failed and it
				   * was logged; 0: the last write worked */
	bool drop_pending;    /* peers that left are still in the transport */
	uint64_t drop_due_ms; /* they go by then even with messages queued */
	bool was_member;      /* this member was in a configuration */
	bool said_removed;    /* "removed" was logged */
	/* Discovery: a GET of discovery_path at a peer's application URL
	 * in flight. */
	struct evhttp_connection *conn;
	/* Peer TLS, for an https:// application URL (not owned); NULL:
	 * none, and such a URL is not asked. */
	struct tls_client *tls_client;
	uint64_t last_discovery_ms;
	size_t next_ask; /* the known member asked next */
};

/* Sets up @mc; the list @ms loaded from members.json (may be empty: a
 * member waiting to be added). */
void member_config_init(struct member_config *mc, raft_id self,
			const char *self_client_url, const char *discovery_path,
			const char *data_dir, struct transport *tr,
			struct event_base *base, const struct members *ms);

/* Cancels a discovery in flight. */
void member_config_close(struct member_config *mc);

/* The core's configuration @cfg took effect (rd.config_changed): @ms
 * follows it (client URLs already learned are kept), transport peers are
 * added, re-pointed and removed, and changes are logged. */
void member_config_apply(struct member_config *mc,
			 const struct raft_membership *cfg, struct members *ms);

/* Once the configuration is applied here (@applied >= its index): drops
 * the transport peers that left, writes members.json. A write that fails
 * stays pending and is tried again at the next call. Returns 0, or -1
 * with one line in @err when it failed and should be logged (the first
 * failure, then at most one every few seconds while it keeps failing). */
int member_config_store(struct member_config *mc, raft_index applied,
			const struct members *ms, char *err, size_t errlen);

/* The highest index log compaction may reach (raft_compact() and the WAL
 * segments below it). A restart takes its configuration from members.json
 * and the configuration entries still in the log; so while members.json
 * does not reflect the configuration of entry mc->index (not applied yet,
 * or its write failed) that entry must stay in the log, above the entry
 * the recovered log starts after: compaction stops at index - 2. No
 * limit (UINT64_MAX) when members.json is up to date. */
raft_index member_config_compact_limit(const struct member_config *mc);

/* For raft_restore.snapshot_config when the log was compacted: @ms as an
 * encoded configuration (learners are members with voter false). Returns
 * RAFT_OK and *@len, or RAFT_EINVAL (no voter, a URL too long). */
int member_config_encode(const struct members *ms, uint8_t *buf, size_t cap,
			 size_t *len);

/* A message came from @from, a member not in @ms (this member waits to be
 * added, or its configuration is stale). When it announced its peer URL
 * @peer_url (X-Kvd-Peer-URL) and the message carried the peer token
 * (@authenticated), or, with no token configured and no configuration
 * here, the URL's host is @from_addr, the sender is added at that URL at
 * once (with a token, the transport's hello proves it before anything
 * secret goes there). Otherwise: ask for /v1/members (at most one
 * request at a time, one a second) and add the peers found, so that
 * answers reach the leader before the configuration entry arrives in the
 * log. Only a URL that can be trusted is asked:
 *   - a member with a configuration (@ms not empty) asks the client URL of
 *     a member it knows (each in turn), never one a message names;
 *   - a member without one asks @client_url, the sender's, when the sender
 *     proved its membership with the peer token (@authenticated) or, with
 *     no token configured, when the URL's host is @from_addr, the address
 *     the message came from (so a message cannot make it ask another
 *     host). */
void member_config_discover(struct member_config *mc, const struct members *ms,
			    raft_id from, const char *client_url,
			    const char *from_addr, const char *peer_url,
			    bool authenticated);

#endif /* RAFT_NODE_MEMBER_CONFIG_H_ */
