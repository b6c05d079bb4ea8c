/* node.h - the driver: one member's raft core, WAL, LMDB store and peer
 * transport on one libevent loop (docs/ARCHITECTURE.md, "One loop, one
 * driver").
 *
 * Every input (a tick, peer messages, a proposal, a read, a finished WAL
 * write) is fed to the pure core and schedules one "flush" for the end of
 * the loop turn, so everything that arrived in one turn becomes ONE raft
 * ready: one WAL group commit, one AppendEntries per follower. Each ready is
 * carried out in the order raft.h's contract demands (see node.c).
 *
 * The HTTP layer waits for the cluster through struct node_wait: it embeds
 * one in its own per-request state, sets ->done, and hands it to
 * node_propose() or node_read_index(). When those return NODE_OK the node
 * calls done() exactly once later (success, error or timeout) and never
 * touches the wait afterwards, so done() may free it.
 *
 * Loop thread only.
 */
#ifndef SERVER_NODE_H_
#define SERVER_NODE_H_

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kvdraft_node.h"
#include "members_file.h"
#include "metrics.h"
#include "raft.h"

struct event_base;
struct evhttp;
struct evbuffer;
struct bufferevent;

enum node_error {
	NODE_OK = 0,
	NODE_ENOLEADER = -1,  /* no leader known: 503 */
	NODE_EBUSY = -2,      /* a raft limit is reached: 503 */
	NODE_ETOO_LARGE = -3, /* the command is above max_entry_bytes: 413 */
	NODE_ESTOPPING = -4,  /* shutting down: 503 */
	NODE_EINTERNAL = -5,  /* a bug or a storage failure: 500 */
	NODE_ETIMEOUT = -6,   /* no outcome in time, a leader was known: 504 */
	NODE_EUNAVAILABLE = -7, /* no outcome in time, leadership lost or the
				 * read can never be confirmed: 503 */
	NODE_ESTALE_SEQ = -8, /* a newer X-Kv-Seq of the client applied: 409 */
	NODE_ENOTLEADER = -9, /* this member does not lead: ask the leader */
	NODE_EINVAL = -10,    /* a bad argument (not a voter, ...): 400 */
	NODE_EDISKFULL = -11, /* the log cannot be written (disk full): 503 */
	NODE_ETRANSFER = -12  /* a leadership transfer is under way: 503 */
};

struct node_wait;

/* @err is NODE_OK or an enum node_error. For writes @result is the
 * command's apply() result (kvdraft_app.result_size bytes; NULL on error).
 * For reads NODE_OK means: read now. */
typedef void (*node_done_fn)(struct node_wait *w, int err, const void *result);

struct node_wait {
	node_done_fn done; /* set by the caller */
	/* Private to the node (node_waits.c). */
	struct node *node;
	uint64_t id;
	int kind;
	raft_index read_index;
	raft_id target;	       /* leadership transfers: the member to lead */
	uint64_t leader_epoch; /* node's leader epoch when it started */
	struct event *timer;
	struct node_wait *hnext;       /* hash chain by id */
	struct node_wait *prev, *next; /* list of all waits */
};

struct node;

/* Opens the data dir (membership, WAL recovery, the state machine's
 * recovery through @app), builds the raft core and transport on @base and
 * attaches the peer routes to @peer_http. @cfg must outlive the node; @app
 * is copied. On error returns -1 with one line in @err. */
int node_open(const struct config *cfg, const struct kvdraft_app *app,
	      struct event_base *base, struct evhttp *peer_http,
	      struct node **out, char *err, size_t errlen);

/* Fails every waiting request with NODE_ESTOPPING and stops feeding the
 * core; then drains the WAL writer (everything queued becomes durable),
 * syncs the state machine (kvdraft_app.sync) and frees everything. */
void node_close(struct node *n);

/* Stops accepting work: new calls fail with NODE_ESTOPPING and every
 * waiting request is failed now. */
void node_stop(struct node *n);

/* Proposes the command @cmd (@len bytes; the node writes the proposal's
 * identity into it first, at kvdraft_app.identity_offset, or puts it in
 * front). NODE_OK: done() follows. Otherwise the error, and done() is
 * never called. */
int node_propose(struct node *n, void *cmd, size_t len, struct node_wait *w);

/* Asks for a linearizable read point; done(NODE_OK) says the local store
 * may now be read. */
int node_read_index(struct node *n, struct node_wait *w);

/* Leadership transfer to @to (thesis §3.10; this member must lead):
 * done(NODE_OK) once @to is known to lead, done(NODE_ETIMEOUT) when it
 * does not within an election timeout (plus a heartbeat), the time after
 * which the core abandons the transfer. NODE_ENOTLEADER when this member
 * does not lead, NODE_EINVAL when @to is not a voter. */
int node_transfer_leadership(struct node *n, raft_id to, struct node_wait *w);

/* Gives a wait the node's timeout and shutdown handling for work the caller
 * does itself (forwarding a request to the leader): done() comes with
 * NODE_ETIMEOUT/NODE_EUNAVAILABLE/NODE_ESTOPPING unless the caller calls
 * node_unwatch() first, after which done() never comes. node_unwatch() of
 * a wait that finished or was unwatched already does nothing. */
int node_watch(struct node *n, struct node_wait *w);
void node_unwatch(struct node *n, struct node_wait *w);

/* Membership (server/http_members.c): raft_propose_config() on this
 * member's core (its RAFT_* code), the leader's match index of @id, and
 * the configuration in effect (valid until the loop runs on). */
int node_propose_config(struct node *n, const struct raft_config_change *ch,
			raft_index *index);
int node_match_index(const struct node *n, raft_id id, raft_index *match);
const struct raft_membership *node_membership(const struct node *n);

/* Read access for the HTTP layer. */
/* The peer listener's hook (listener_opts.wrap, @arg the node): each new
 * peer connection through the transport's token check, when there is a
 * token (transport_wrap_peer_conn()). */
struct bufferevent *node_wrap_peer_conn(void *arg, struct bufferevent *sock);

struct event_base *node_base(struct node *n);
/* The kvdraft_app.ctx the node was opened with. */
void *node_app_ctx(const struct node *n);
struct snapshotter *node_snapshotter(struct node *n); /* NULL: none */
/* Whether a snapshot copy runs (beside the loop: KVDRAFT_APP_SNAPSHOT_
 * CONCURRENT), and waiting for it to end: the state machine must not
 * close or remap what the copy reads. */
bool node_snapshot_busy(const struct node *n);
void node_snapshot_wait(struct node *n);
struct metrics *node_metrics(struct node *n);
const struct config *node_config(const struct node *n);
struct members *node_members(struct node *n);
void node_raft_status(const struct node *n, struct raft_status *st);
/* The state name of /v1/status: leader, follower, candidate, ... */
const char *node_state_name(const struct node *n);
/* The leader's client URL, "" when unknown. */
const char *node_leader_client_url(struct node *n);
/* The index of the newest snapshot (the core's when none is on disk). */
raft_index node_snapshot_index(const struct node *n);
/* The index of the last entry the state machine applied. */
raft_index node_applied(const struct node *n);
/* /readyz: a leader is known and applied >= the commit index learned. */
bool node_ready(const struct node *n);
/* Appends the node's gauges and the transport counters (Prometheus). */
void node_render_metrics(struct node *n, struct evbuffer *out);

const char *node_strerror(int err);

#endif /* SERVER_NODE_H_ */
