/* node_snapshot.h - the driver's side of snapshots: the snapshotter's
 * callbacks (compaction after a snapshot, sending, receiving), installing
 * a received snapshot (raft.h rule 7a) and the snapshotter's view of
 * applying. Loop thread only.
 */
#ifndef RAFT_NODE_SNAPSHOT_H_
#define RAFT_NODE_SNAPSHOT_H_

#include <stddef.h>

#include "raft.h"

struct evhttp;
struct node;

/* Creates n->snap and serves its peer route on @peer_http: 0, or -1 with
 * one line in @err. */
int node_open_snapshots(struct node *n, struct evhttp *peer_http, char *err,
			size_t errlen);

/* Sends the newest snapshot for RAFT_MSG_SNAPSHOT @m (from rd.msgs; the
 * outcome reaches the core later, from the snapshotter's events). */
void node_send_snapshot(struct node *n, const struct raft_msg *m);

/* Rule 7a: the received snapshot @meta replaces the state machine; ends the
 * process when it cannot. */
void node_install_snapshot(struct node *n,
			   const struct raft_snapshot_meta *meta);

/* The applied index moved: a snapshot may be due. */
void node_snapshot_applied(struct node *n);

#endif /* RAFT_NODE_SNAPSHOT_H_ */
