/* core_election.h - leader election (Raft §5.2, thesis §9.6 PreVote,
 * §6.2/§9.2 CheckQuorum and the leader lease of §4.2.3). */
#ifndef RAFT_CORE_ELECTION_H_
#define RAFT_CORE_ELECTION_H_

#include <stdbool.h>

#include "core_state.h"

/* Starts an election: the PreVote phase when @pre, else a real one in a
 * new term. @transfer marks a campaign ordered by TIMEOUT_NOW. */
void raft__campaign(struct raft *r, bool pre, bool transfer);

/* One tick of the election timer (any role): followers and candidates
 * campaign when it expires, a leader checks its quorum and heartbeats. */
void raft__election_tick(struct raft *r);

/* Whether a VOTE/PREVOTE with a higher term must be ignored because a
 * leader was heard from within the election timeout (thesis §4.2.3). */
bool raft__in_lease(const struct raft *r, const struct raft_msg *m);

/* Message handlers; m->term has already been reconciled with r->term. */
int raft__step_vote(struct raft *r, const struct raft_msg *m);
int raft__step_vote_resp(struct raft *r, const struct raft_msg *m);

#endif /* RAFT_CORE_ELECTION_H_ */
