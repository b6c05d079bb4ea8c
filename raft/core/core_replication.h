/* core_replication.h - log replication (Raft §5.3, §5.4): the leader's
 * AppendEntries and commit rule, the follower's consistency check. */
#ifndef RAFT_CORE_REPLICATION_H_
#define RAFT_CORE_REPLICATION_H_

#include <stdbool.h>
#include <stddef.h>

#include "core_state.h"

/* A member just won an election: reset every peer to probing from the end
 * of its log and append the NOOP entry of the new term. Must be called in
 * leader role. */
void raft__repl_become_leader(struct raft *r);

/* Leader: appends one entry of the current term, checking the
 * max_entry_bytes and max_pending_entries limits. @data is copied. */
int raft__append_local(struct raft *r, uint8_t type, const void *data,
		       size_t len, raft_index *index);

/* Follower: queues a proposal to forward to the leader with the next
 * ready. @data is copied. */
int raft__forward(struct raft *r, const void *data, size_t len);

/* Leader: the commit rule (§5.4.2, Figure 8) over the voters' matches,
 * counting its own log only as far as it is durable. */
void raft__maybe_commit(struct raft *r);

/* Leader: sends HEARTBEAT to every peer. */
void raft__bcast_heartbeat(struct raft *r);

/* Work deferred to the next ready so that everything proposed or
 * acknowledged meanwhile goes out in as few messages as possible: the
 * leader's AppendEntries and commit notices, a follower's forwarded
 * proposals. */
bool raft__repl_wants_flush(const struct raft *r);
void raft__repl_flush(struct raft *r);

/* Message handlers; preconditions: m->term == r->term, the role named. */
int raft__step_append(struct raft *r, const struct raft_msg *m);	 /* F */
int raft__step_heartbeat(struct raft *r, const struct raft_msg *m);	 /* F */
int raft__step_append_resp(struct raft *r, const struct raft_msg *m);	 /* L */
int raft__step_heartbeat_resp(struct raft *r, const struct raft_msg *m); /* L */
int raft__step_propose(struct raft *r, const struct raft_msg *m);	 /* L */
int raft__step_snapshot(struct raft *r, const struct raft_msg *m);	 /* F */

/* Leader: the driver's outcome of a snapshot transfer to @peer (see
 * raft_report_snapshot()). */
void raft__report_snapshot(struct raft *r, raft_id peer, bool ok);

#endif /* RAFT_CORE_REPLICATION_H_ */
