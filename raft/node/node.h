/* node.h - the node inside libkvdraft (the public face is kvdraft_node.h,
 * node_api.c): one member's raft core, WAL, state machine callbacks and
 * peer transport on one libevent loop (docs/ARCHITECTURE.md, "One loop,
 * one driver").
 *
 * Every input (a tick, peer messages, a proposal, a read, a finished WAL
 * write) is fed to the pure core and schedules one "flush" for the end of
 * the loop turn, so everything that arrived in one turn becomes ONE raft
 * ready: one WAL group commit, one AppendEntries per follower. Each ready is
 * carried out in the order raft.h's contract demands (see node.c).
 *
 * Requests wait for the cluster through struct node_wait: node_api.c
 * makes one per call, sets ->done, and hands it to node_propose() or
 * node_read_index(). When those return NODE_OK the node calls done()
 * exactly once later (success, error or timeout) and never touches the
 * wait afterwards, so done() may free it.
 *
 * Loop thread only.
 */
#ifndef RAFT_NODE_H_
#define RAFT_NODE_H_

#include <stdbool.h>
#include <stdint.h>

#include "kvdraft_node.h"
#include "raft.h"

struct event_base;
struct evhttp;
struct evbuffer;
struct bufferevent;

/* The node's error codes are the library's (kvdraft_node.h). */
enum node_error {
	NODE_OK = KVDRAFT_OK,
	NODE_ENOLEADER = KVDRAFT_ENOLEADER,
	NODE_EBUSY = KVDRAFT_EBUSY,
	NODE_ETOO_LARGE = KVDRAFT_ETOO_LARGE,
	NODE_ESTOPPING = KVDRAFT_ESTOPPING,
	NODE_EINTERNAL = KVDRAFT_EINTERNAL,
	NODE_ETIMEOUT = KVDRAFT_ETIMEOUT,
	NODE_EUNAVAILABLE = KVDRAFT_EUNAVAILABLE,
	NODE_ENOTLEADER = KVDRAFT_ENOTLEADER,
	NODE_EINVAL = KVDRAFT_EINVAL,
	NODE_EDISKFULL = KVDRAFT_EDISKFULL,
	NODE_ETRANSFER = KVDRAFT_ETRANSFER
};

struct node_wait;

/* @err is NODE_OK or an enum node_error. For writes @result is the
 * command's apply() result (kvdraft_app.result_size bytes; NULL on error).
 * For reads NODE_OK means: read now. */
typedef void (*node_done_fn)(struct node_wait *w, int err, const void *result);

/* A request waiting for the cluster; kvdraft_node_propose() and the like
 * allocate one and free it after its completion (node_api.c). */
struct node_wait {
	node_done_fn done;
	kvdraft_done_fn user_done; /* the program's completion */
	void *user_arg;
	/* Private to node_waits.c. */
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
 * attaches the peer routes to @peer_http. @o and @app are copied. On error
 * returns -1 with one line in @err. */
int node_open(const struct kvdraft_node_options *o,
	      const struct kvdraft_app *app, struct event_base *base,
	      struct evhttp *peer_http, struct node **out, char *err,
	      size_t errlen);

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

/* Asks for a linearizable read point; done(NODE_OK) says the state
 * machine may now be read. */
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
 * node_unwatch() first, after which done() never comes. */
int node_watch(struct node *n, struct node_wait *w);
void node_unwatch(struct node *n, struct node_wait *w);

/* Membership: raft_propose_config() on this member's core (its RAFT_*
 * code), the leader's match index of @id, and the configuration in effect
 * (valid until the loop runs on). */
int node_propose_config(struct node *n, const struct raft_config_change *ch,
			raft_index *index);
int node_match_index(const struct node *n, raft_id id, raft_index *match);
const struct raft_membership *node_membership(const struct node *n);

/* The peer listener's hook: each new peer connection through the
 * transport's token check, when there is a token
 * (transport_wrap_peer_conn()). */
struct bufferevent *node_wrap_peer_conn(struct node *n,
					struct bufferevent *sock);

/* kvdraft_node_new_peer_conn() and kvdraft_node_reload_tls() (0, or -1
 * with one line in @err). */
struct bufferevent *node_new_peer_conn(struct node *n, struct event_base *base);
int node_reload_tls(struct node *n, char *err, size_t errlen);

void *node_app_ctx(const struct node *n);
struct snapshotter *node_snapshotter(struct node *n); /* NULL: none */
/* Whether a snapshot copy runs (beside the loop: KVDRAFT_APP_SNAPSHOT_
 * CONCURRENT), and waiting for it to end. */
bool node_snapshot_busy(const struct node *n);
void node_snapshot_wait(struct node *n);
void node_raft_status(const struct node *n, struct raft_status *st);
/* leader, follower, candidate, learner or removed. */
const char *node_state_name(const struct node *n);
/* Member @id's application URL, "" when unknown. */
const char *node_app_url(const struct node *n, raft_id id);
/* The index of the newest snapshot (the core's when none is on disk). */
raft_index node_snapshot_index(const struct node *n);
/* The index of the last entry the state machine applied. */
raft_index node_applied(const struct node *n);
/* A leader is known and applied >= the commit index learned. */
bool node_ready(const struct node *n);
void node_stats(const struct node *n, struct kvdraft_node_stats *out);

const char *node_strerror(int err);

#endif /* RAFT_NODE_H_ */
