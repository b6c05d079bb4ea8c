/* core_state.h - struct raft as the core's files share it, its outboxes,
 * and the role changes that every protocol layer needs. */
#ifndef RAFT_CORE_STATE_H_
#define RAFT_CORE_STATE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core_log.h"
#include "core_progress.h"
#include "core_quorum.h"
#include "core_rng.h"
#include "raft.h"

/* The message type and the member flags are uint8_t fields (and bytes on
 * the wire, docs/FORMAT.md). */
_Static_assert(RAFT_MSG_SNAPSHOT <= UINT8_MAX, "message types fit a byte");
_Static_assert((RAFT_MEMBER_VOTER | RAFT_MEMBER_OUTGOING |
		RAFT_MEMBER_LEARNER) <= UINT8_MAX,
	       "member flags fit a byte");

/* VOTE.context value of a campaign started by TIMEOUT_NOW: voters must not
 * ignore it because of a leader lease (thesis §3.10, §4.2.3). */
#define RAFT_CTX_TRANSFER 1

/* Messages queued for the next ready. Each message's @entries array is
 * owned by the queue and shares the log's payload buffers. */
struct raft_msgq {
	struct raft_msg *v;
	size_t n;
	size_t cap;
};

/* A read waiting for its index to be confirmed.
 * Leader: @from is 0 for a local read (@ctx is the caller's) or the
 * follower that asked (@ctx is that follower's request id); @index is 0
 * until known; @round is the heartbeat round confirming it (0: none yet).
 * Follower: @round is the request id sent to the leader (0: not sent). */
struct raft_pending_read {
	uint64_t ctx;
	raft_id from;
	raft_index index;
	uint64_t round;
	uint64_t tick; /* when it was asked, for the timeout */
};

struct raft_readq {
	struct raft_pending_read *v;
	size_t n;
	size_t cap;
};

struct raft_readv {
	struct raft_read *v;
	size_t n;
	size_t cap;
};

struct raft_entryv {
	struct raft_entry *v;
	size_t n;
	size_t cap;
};

struct raft_configs; /* core_config.h */

struct raft {
	raft_id id;
	struct raft_options opts; /* limits filled in; voters not kept */
	/* Who votes: the voter sets of configs->cur that every majority is
	 * counted over (core_quorum.h). */
	struct raft_quorum quorum;
	/* The configurations: the one in effect and the base it falls back
	 * to (core_config.h). */
	struct raft_configs *configs;
	struct raft_progress
	    *prs; /* one per member of configs->cur, self too */
	size_t n_prs;
	struct raft_rng rng;

	/* Persistent state (Figure 2) and the log. */
	raft_term term;
	raft_id vote;
	struct raft_log log;
	raft_index applied; /* reported by raft_applied() */

	/* Volatile state. */
	enum raft_role role;
	raft_id leader;
	/* Leader: this term was won without any remote vote and no entry of
	 * it is known durable yet, so a crash could make this member forget
	 * the term and win it again with other entries: every message goes
	 * to msgs_after (raft.h rule 3). A remote vote witnesses the term:
	 * the VOTE left only once the term was durable. */
	bool term_unwitnessed;
	unsigned election_elapsed;
	unsigned heartbeat_elapsed;
	unsigned randomized_timeout;
	uint64_t ticks;

	/* Output waiting for the next ready. */
	struct raft_msgq msgs;
	struct raft_msgq msgs_after;
	struct raft_readv reads_out;
	struct raft_readv failed_out;

	/* ReadIndex (thesis §6.4). */
	struct raft_readq reads;
	/* Last round id (leader) or request id (follower). A leader's
	 * rounds out for confirmation are the first read's round up to
	 * read_seq (core_read.c). */
	uint64_t read_seq;
	size_t reads_unrounded; /* reads with round 0 */
	bool lease_given_up;	/* leader: a transfer started in this term */
	/* Since raft_new(), as leader (raft_read_counts()): heartbeat rounds
	 * started to confirm reads, and reads released from the lease. */
	uint64_t read_rounds, lease_reads;

	/* Leader: leadership transfer under way (thesis §3.10). */
	raft_id transferee; /* 0: none */
	unsigned transfer_elapsed;
	bool transfer_sent; /* TIMEOUT_NOW went out */

	/* Follower: proposals to forward with the next ready. */
	struct raft_entryv fwd;

	/* Follower: a snapshot accepted, to install with the next ready. */
	bool snap_pending;
	struct raft_snapshot_meta snap_out;

	/* What the last ready handed out. */
	struct raft_hard_state prev_hs;
	enum raft_role prev_role;
	raft_id prev_leader;
};

/* Queues @m (from and term filled in when 0) for rd.msgs, or for
 * rd.msgs_after_persist when @after_persist or while a leader's term is
 * unwitnessed (see term_unwitnessed). Takes ownership of
 * m->entries (a malloc'd array whose payloads were shared) even on
 * failure. Returns 0, or RAFT_ENOMEM: the message is then lost, which
 * Raft tolerates like any lost message. */
int raft__send(struct raft *r, struct raft_msg *m, bool after_persist);

/* Releases the messages of a queue and empties it. */
void raft__msgq_clear(struct raft_msgq *q);

struct raft_progress *raft__progress(struct raft *r, raft_id id);

/* Picks a new randomized election timeout in [e, 2e) (Raft §5.2). */
void raft__reset_timeout(struct raft *r);

/* Becomes follower in @term (the vote is cleared when the term grows)
 * with @leader (0: unknown). Pending reads fail. */
void raft__become_follower(struct raft *r, raft_term term, raft_id leader);

/* A follower learned that @leader leads the current term. */
void raft__set_leader(struct raft *r, raft_id leader);

/* Answers the pending read @p with a failure: to the local caller, or a
 * rejecting READ_INDEX_RESP to the follower that asked. */
void raft__reject_read(struct raft *r, const struct raft_pending_read *p);

/* Every pending read fails: local ones go to failed_reads, forwarded ones
 * are answered with a rejecting READ_INDEX_RESP. */
void raft__fail_reads(struct raft *r);

/* Queues a read result for the next ready (ENOMEM drops it: the caller
 * then only sees its own timeout). */
void raft__read_done(struct raft *r, uint64_t ctx, raft_index index,
		     bool failed);

/* Whether this member may campaign. */
bool raft__promotable(const struct raft *r);

#endif /* RAFT_CORE_STATE_H_ */
