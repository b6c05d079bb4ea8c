/* member_config.c - the core's membership configuration carried out on the
 * member list, the peer transport and members.json; peer discovery for a
 * member waiting to be added. */
#include "member_config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "node_config.h"
#include "node_log.h"
#include "tls.h"
#include "transport.h"

/* At most one discovery request a second. */
/* The member list follows the core's configuration one for one
 * (member_config_apply, member_config_encode), and a peer URL moves
 * between the list, the core and the transport unchanged. */
_Static_assert(NODE_MEMBERS_MAX == RAFT_MAX_MEMBERS,
	       "the member list holds a whole configuration, and back");
_Static_assert(RAFT_MAX_ADDR_LEN < NODE_URL_MAX,
	       "a member address from the core fits a peer URL");
_Static_assert(NODE_URL_MAX <= TRANSPORT_MAX_URL,
	       "a peer or client URL from a flag fits the transport");

#define DISCOVERY_INTERVAL_MS 1000
#define DISCOVERY_TIMEOUT_S   2
/* How long a peer that left is kept while messages to it still wait. */
#define DROP_GRACE_MS 3000
/* A members.json that cannot be written is logged at most this often. */
#define STORE_WARN_INTERVAL_MS 5000

void member_config_init(struct member_config *mc, raft_id self,
			const char *self_client_url, const char *discovery_path,
			const char *data_dir, struct transport *tr,
			struct event_base *base, const struct members *ms)
{
	memset(mc, 0, sizeof(*mc));
	mc->self = self;
	mc->self_client_url = self_client_url;
	mc->discovery_path = discovery_path;
	mc->data_dir = data_dir;
	mc->tr = tr;
	mc->base = base;
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].id == self)
			mc->was_member = true;
}

void member_config_close(struct member_config *mc)
{
	if (mc->conn != NULL)
		evhttp_connection_free(mc->conn);
	mc->conn = NULL;
}

static const struct raft_member *cfg_find(const struct raft_membership *cfg,
					  raft_id id)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (cfg->members[i].id == id)
			return &cfg->members[i];
	return NULL;
}

/* Makes the transport's peers the members of @ms other than this one,
 * each at its peer URL. Peers that left are dropped only when @drop:
 * once the configuration without them is applied (committed). Until then
 * they may still lead, or need our acknowledgements to commit it. Even
 * then a peer whose messages still wait in the transport is kept until
 * they are out or DROP_GRACE_MS passed: among them may be the very entry
 * that tells it it was removed (the commit needs no answer from it, so it
 * can come before that entry left here). Returns whether such a peer is
 * kept back. */
static bool sync_peers(struct member_config *mc, const struct members *ms,
		       bool drop)
{
	raft_id ids[NODE_MEMBERS_MAX * 2];
	size_t n = transport_peers(mc->tr, ids, NODE_MEMBERS_MAX * 2);
	bool held = false;

	if (drop && mc->drop_due_ms == 0)
		mc->drop_due_ms = clock_now_ms() + DROP_GRACE_MS;
	for (size_t i = 0; drop && i < n && i < NODE_MEMBERS_MAX * 2; i++) {
		bool keep = false;
		struct transport_peer_stats ps;

		for (size_t j = 0; j < ms->n; j++)
			if (ms->m[j].id == ids[i])
				keep = true;
		if (keep)
			continue;
		if (transport_peer_stats(mc->tr, ids[i], &ps) == TRANSPORT_OK &&
		    ps.queued_msgs + ps.inflight_msgs > 0 &&
		    clock_now_ms() < mc->drop_due_ms) {
			held = true;
			continue;
		}
		transport_remove_peer(mc->tr, ids[i]);
		log_info("peer %" PRIu64 " removed from the transport", ids[i]);
	}
	if (drop && !held)
		mc->drop_due_ms = 0;
	for (size_t j = 0; j < ms->n; j++) {
		const struct member *m = &ms->m[j];
		struct transport_peer_stats ps;

		if (m->id == mc->self || m->peer_url[0] == '\0')
			continue;
		if (transport_peer_stats(mc->tr, m->id, &ps) == TRANSPORT_OK) {
			if (strcmp(ps.url, m->peer_url) == 0)
				continue;
			transport_remove_peer(mc->tr, m->id);
		}
		int rc = transport_add_peer(mc->tr, m->id, m->peer_url);
		if (rc != TRANSPORT_OK)
			log_warn("cannot add peer %" PRIu64 " at %s: %s", m->id,
				 m->peer_url, transport_strerror(rc));
		else
			log_info("peer %" PRIu64
				 " at %s added to the transport",
				 m->id, m->peer_url);
	}
	return held;
}

void member_config_apply(struct member_config *mc,
			 const struct raft_membership *cfg, struct members *ms)
{
	struct members next;
	bool changed;

	/* No configuration at all: a member waiting to be added keeps what
	 * it has (nothing, or peers found by discovery). */
	if (cfg->n == 0)
		return;
	memset(&next, 0, sizeof(next));
	for (size_t i = 0; i < cfg->n && i < NODE_MEMBERS_MAX; i++) {
		const struct raft_member *x = &cfg->members[i];
		struct member *old = members_find(ms, x->id);
		struct member *m = &next.m[next.n++];

		m->id = x->id;
		if (x->addr[0] != '\0' && strlen(x->addr) < NODE_URL_MAX)
			strcpy(m->peer_url, x->addr);
		else if (old != NULL)
			strcpy(m->peer_url, old->peer_url);
		if (old != NULL)
			strcpy(m->client_url, old->client_url);
		else if (x->id == mc->self)
			snprintf(m->client_url, sizeof(m->client_url), "%s",
				 mc->self_client_url);
		m->voter = (x->flags &
			    (RAFT_MEMBER_VOTER | RAFT_MEMBER_OUTGOING)) != 0;
		if (old == NULL)
			log_info("member %" PRIu64 " at %s joins as a %s",
				 x->id, m->peer_url,
				 m->voter ? "voter" : "learner");
		else if (old->voter != m->voter)
			log_info("member %" PRIu64 " is now a %s", x->id,
				 m->voter ? "voter" : "learner");
	}
	for (size_t i = 0; i < ms->n; i++)
		if (cfg_find(cfg, ms->m[i].id) == NULL)
			log_info("member %" PRIu64 " left the configuration",
				 ms->m[i].id);
	changed = next.n != ms->n;
	for (size_t i = 0; !changed && i < next.n; i++)
		changed = next.m[i].id != ms->m[i].id ||
			  next.m[i].voter != ms->m[i].voter ||
			  strcmp(next.m[i].peer_url, ms->m[i].peer_url) != 0;
	*ms = next;
	mc->index = cfg->index;
	if (changed)
		mc->store_pending = true;
	log_info("configuration%s of index %" PRIu64 ": %zu members",
		 cfg->joint ? " (joint)" : "", cfg->index, cfg->n);
	if (cfg_find(cfg, mc->self) != NULL) {
		mc->was_member = true;
		mc->said_removed = false;
	} else if (mc->was_member && !mc->said_removed) {
		/* Thesis §4.2.2: a removed server stops taking part; it
		 * says so, as an operator will want to shut it down. */
		log_warn("this member (%" PRIu64 ") was removed from the "
			 "cluster: it takes no further part",
			 mc->self);
		mc->said_removed = true;
	}
	(void)sync_peers(mc, ms, false);
	mc->drop_pending = true;
	mc->drop_due_ms = 0;
}

int member_config_store(struct member_config *mc, raft_index applied,
			const struct members *ms, char *err, size_t errlen)
{
	if (applied < mc->index || ms->n == 0)
		return 0;
	if (mc->drop_pending)
		mc->drop_pending = sync_peers(mc, ms, true);
	if (!mc->store_pending)
		return 0;
	if (members_store(mc->data_dir, ms, err, errlen) != 0) {
		/* Retried at every call (each ready); logged now and then.
		 * Meanwhile member_config_compact_limit() keeps the entry in
		 * the log, so a restart still finds the configuration. */
		uint64_t t = clock_now_ms();
		if (mc->store_failed_ms != 0 &&
		    t - mc->store_failed_ms < STORE_WARN_INTERVAL_MS)
			return 0;
		mc->store_failed_ms = t;
		return -1;
	}
	mc->store_pending = false;
	if (mc->store_failed_ms != 0)
		log_info("%s could be written again", MEMBERS_FILE);
	mc->store_failed_ms = 0;
	log_info("%s updated to the configuration of index %" PRIu64,
		 MEMBERS_FILE, mc->index);
	return 0;
}

raft_index member_config_compact_limit(const struct member_config *mc)
{
	if (!mc->store_pending)
		return UINT64_MAX;
	return mc->index > 2 ? mc->index - 2 : 0;
}

int member_config_encode(const struct members *ms, uint8_t *buf, size_t cap,
			 size_t *len)
{
	struct raft_membership m;

	memset(&m, 0, sizeof(m));
	if (ms->n > RAFT_MAX_MEMBERS)
		return RAFT_EINVAL;
	for (size_t i = 0; i < ms->n; i++) {
		if (strlen(ms->m[i].peer_url) > RAFT_MAX_ADDR_LEN)
			return RAFT_EINVAL;
		m.members[i].id = ms->m[i].id;
		m.members[i].flags =
		    ms->m[i].voter ? RAFT_MEMBER_VOTER : RAFT_MEMBER_LEARNER;
		strcpy(m.members[i].addr, ms->m[i].peer_url);
		m.n = i + 1;
	}
	return raft_membership_encode(&m, buf, cap, len);
}

/* ---- discovery ---- */

static void free_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evhttp_connection_free(arg);
}

static void discovered(struct evhttp_request *resp, void *arg)
{
	struct member_config *mc = arg;
	const struct timeval now = {0, 0};
	struct evbuffer *in;
	json_t *root = NULL, *arr;
	size_t i;
	json_t *it;

	if (resp == NULL || evhttp_request_get_response_code(resp) != 200)
		goto done;
	in = evhttp_request_get_input_buffer(resp);
	if (evbuffer_pullup(in, -1) == NULL && evbuffer_get_length(in) > 0)
		goto done; /* out of memory: the next discovery tries again */
	root = json_loadb((const char *)evbuffer_pullup(in, -1),
			  evbuffer_get_length(in), 0, NULL);
	arr = json_is_object(root) ? json_object_get(root, "members") : NULL;
	json_array_foreach(arr, i, it)
	{
		json_t *id = json_object_get(it, "id");
		json_t *url = json_object_get(it, "peer_url");
		struct node_addr a;

		if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
		    !json_is_string(url) ||
		    (raft_id)json_integer_value(id) == mc->self ||
		    node_parse_url(json_string_value(url), &a) != 0)
			continue;
		if (transport_add_peer(mc->tr, (raft_id)json_integer_value(id),
				       json_string_value(url)) == TRANSPORT_OK)
			log_info("found peer %" PRIu64 " at %s",
				 (uint64_t)json_integer_value(id),
				 json_string_value(url));
	}
done:
	json_decref(root);
	/* Not from inside the connection's own callback. */
	event_base_once(mc->base, -1, EV_TIMEOUT, free_conn_cb, mc->conn, &now);
	mc->conn = NULL;
}

/* The URL to ask for the members, or NULL (with why in @why). */
static const char *discovery_url(struct member_config *mc,
				 const struct members *ms,
				 const char *client_url, const char *from_addr,
				 bool authenticated, const char **why)
{
	struct node_addr a;

	if (ms->n > 0) {
		for (size_t k = 0; k < ms->n; k++) {
			const struct member *m =
			    &ms->m[(mc->next_ask + k) % ms->n];

			if (m->id == mc->self || m->client_url[0] == '\0')
				continue;
			mc->next_ask = (mc->next_ask + k + 1) % ms->n;
			return m->client_url;
		}
		*why = "no known member's client URL yet";
		return NULL;
	}
	if (client_url == NULL || client_url[0] == '\0' ||
	    node_parse_url(client_url, &a) != 0) {
		*why = "it names no usable client URL";
		return NULL;
	}
	if (!authenticated &&
	    (from_addr == NULL || strcmp(a.host, from_addr) != 0)) {
		*why = "its client URL is not on the host it came from";
		return NULL;
	}
	return client_url;
}

/* Adds @from at @peer_url, the peer URL its message announced, when that
 * can be trusted: the message carried the peer token, or (no token
 * configured) the URL is on the host the message came from and this
 * member has no configuration yet. With a token nothing secret goes there
 * before it proves it holds the token too (the transport's hello), so a
 * URL that a member announces wrongly costs failed hellos, nothing else.
 * Returns whether the peer was added. */
static bool add_announced(struct member_config *mc, const struct members *ms,
			  raft_id from, const char *peer_url,
			  const char *from_addr, bool authenticated)
{
	struct node_addr a;
	int rc;

	if (peer_url == NULL || node_parse_url(peer_url, &a) != 0)
		return false;
	if (!authenticated &&
	    (ms->n > 0 || from_addr == NULL || strcmp(a.host, from_addr) != 0))
		return false;
	rc = transport_add_peer(mc->tr, from, peer_url);
	if (rc != TRANSPORT_OK) {
		log_warn("cannot add peer %" PRIu64 " at %s: %s", from,
			 peer_url, transport_strerror(rc));
		return false;
	}
	log_info("peer %" PRIu64 " at %s added as its message announced", from,
		 peer_url);
	return true;
}

void member_config_discover(struct member_config *mc, const struct members *ms,
			    raft_id from, const char *client_url,
			    const char *from_addr, const char *peer_url,
			    bool authenticated)
{
	struct node_addr a;
	struct evhttp_request *req;
	uint64_t t = clock_now_ms();
	const char *url, *why = "";
	struct transport_peer_stats ps;

	/* Peers the transport can answer need no discovery; without a
	 * route to ask, there is none. */
	if (transport_peer_stats(mc->tr, from, &ps) == TRANSPORT_OK ||
	    mc->discovery_path == NULL)
		return;
	/* Its own word on where it listens needs no request: with the
	 * application's routes behind client tokens, asking its client URL
	 * would fail anyway. Older members announce nothing: ask. */
	if (add_announced(mc, ms, from, peer_url, from_addr, authenticated))
		return;
	if (mc->conn != NULL ||
	    (mc->last_discovery_ms != 0 &&
	     t - mc->last_discovery_ms < DISCOVERY_INTERVAL_MS))
		return;
	mc->last_discovery_ms = t;
	url = discovery_url(mc, ms, client_url, from_addr, authenticated, &why);
	if (url == NULL || node_parse_url(url, &a) != 0) {
		log_info("a message came from %" PRIu64 ", unknown here, "
			 "from %s; not asking for the members: %s",
			 from, from_addr ? from_addr : "?", why);
		return;
	}
	/* An https:// URL is asked over TLS with the peer certificate (the
	 * member's client listener, with a CA, must accept it). */
	struct bufferevent *bev = NULL;
	if (transport_url_https(url)) {
		if (mc->tls_client == NULL) {
			log_info("a message came from %" PRIu64
				 ", unknown here; not asking %s for the "
				 "members: https:// needs peer TLS",
				 from, url);
			return;
		}
		bev = tls_client_bev(mc->tls_client, mc->base, a.host);
		if (bev == NULL)
			return;
	}
	mc->conn = evhttp_connection_base_bufferevent_new(mc->base, NULL, bev,
							  a.host, a.port);
	if (mc->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return;
	}
	evhttp_connection_set_timeout(mc->conn, DISCOVERY_TIMEOUT_S);
	req = evhttp_request_new(discovered, mc);
	if (req == NULL) {
		evhttp_connection_free(mc->conn);
		mc->conn = NULL;
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  a.host);
	if (evhttp_make_request(mc->conn, req, EVHTTP_REQ_GET,
				mc->discovery_path) != 0) {
		evhttp_connection_free(mc->conn);
		mc->conn = NULL;
		return;
	}
	log_info("asking %s for the members (a message came from %" PRIu64
		 ", unknown here)",
		 url, from);
}
