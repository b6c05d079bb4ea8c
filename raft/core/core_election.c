/* core_election.c - leader election, PreVote and CheckQuorum. */
#include "core_election.h"

#include <assert.h>

#include "core_replication.h"

/* Whether a member other than this one granted its vote in this term. */
static bool vote_witnessed(const struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id != r->id && r->prs[i].vote == 1)
			return true;
	return false;
}

static void become_leader(struct raft *r)
{
	assert(r->role == RAFT_CANDIDATE);
	/* A lone voter wins at once, in a term its disk may not hold yet:
	 * nothing of the term may leave before it does (raft.h rule 3). */
	r->term_unwitnessed =
	    !vote_witnessed(r) &&
	    !(r->opts.mutations & RAFT_MUTATE_SEND_UNDURABLE_TERM);
	r->role = RAFT_LEADER;
	r->leader = r->id;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->transferee = 0;
	r->lease_given_up = false;
	raft__repl_become_leader(r);
}

static int vote_of(void *arg, raft_id id)
{
	struct raft *r = arg;
	struct raft_progress *pr = raft__progress(r, id);

	return pr != NULL ? pr->vote : 0;
}

/* Counts the votes so far and acts on the outcome. */
static void tally(struct raft *r)
{
	switch (raft__quorum_vote_result(&r->quorum, vote_of, r)) {
	case RAFT_VOTE_WON:
		if (r->role == RAFT_PRECANDIDATE)
			raft__campaign(r, false, false);
		else
			become_leader(r);
		break;
	case RAFT_VOTE_LOST:
		raft__become_follower(r, r->term, 0);
		break;
	case RAFT_VOTE_PENDING:
		break;
	}
}

void raft__campaign(struct raft *r, bool pre, bool transfer)
{
	raft_term term;

	assert(r->role != RAFT_LEADER);
	if (!raft__promotable(r))
		return;
	/* The term space ends: a campaign would need term + 1. Such a
	 * term comes only from a state written before terms were range
	 * checked; refusing to campaign is safe, wrapping to 0 is not. */
	if (r->term >= RAFT_TERM_MAX)
		return;
	raft__set_leader(r, 0);
	if (pre) {
		/* Thesis §9.6: "a candidate would first ask other servers
		 * whether its log was up-to-date enough to get their vote";
		 * it does not increment its term, so a partitioned member
		 * rejoining cannot disrupt the cluster. */
		r->role = RAFT_PRECANDIDATE;
		term = r->term + 1;
	} else {
		/* Raft §5.2: "a follower increments its current term and
		 * transitions to candidate state. It then votes for itself
		 * and issues RequestVote RPCs". */
		r->role = RAFT_CANDIDATE;
		r->term++;
		r->vote = r->id;
		term = r->term;
	}
	r->election_elapsed = 0;
	raft__reset_timeout(r);
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = r->prs[i].id == r->id ? 1 : 0;

	for (size_t i = 0; i < r->n_prs; i++) {
		struct raft_progress *pr = &r->prs[i];
		struct raft_msg m = {
		    .type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
		    .to = pr->id,
		    .term = term,
		    .index = raft__log_last_index(&r->log),
		    .log_term = raft__log_last_term(&r->log),
		    .context = transfer ? RAFT_CTX_TRANSFER : 0,
		};

		if (pr->id == r->id ||
		    !raft__quorum_is_voter(&r->quorum, pr->id))
			continue;
		/* A VOTE goes out only once the new term and our own
		 * vote are durable: no answer can make us leader of a term
		 * a crash would make us forget (rule 3 of raft.h). */
		raft__send(r, &m, !pre);
	}
	tally(r);
}

bool raft__in_lease(const struct raft *r, const struct raft_msg *m)
{
	/* Thesis §4.2.3: "if a server receives a RequestVote request within
	 * the minimum election timeout of hearing from a current leader,
	 * it does not update its term or grant its vote" — so a member
	 * cut off from the leader cannot depose it. A transfer ordered by
	 * the leader itself is exempt. */
	if (!r->opts.check_quorum)
		return false;
	if (m->type == RAFT_MSG_VOTE && m->context == RAFT_CTX_TRANSFER)
		return false;
	/* With leader leases, a member that just started may have promised
	 * a leader, before it restarted, not to vote (raft.h, lease_ticks):
	 * it keeps the promise for an election timeout from its start. */
	if (r->leader == 0)
		return r->opts.lease_ticks > 0 &&
		       r->ticks < r->opts.election_ticks;
	return r->election_elapsed < r->opts.election_ticks;
}

static bool quorum_active_fn(void *arg, raft_id id)
{
	struct raft *r = arg;
	struct raft_progress *pr = raft__progress(r, id);

	return id == r->id || (pr != NULL && pr->recent_active);
}

void raft__election_tick(struct raft *r)
{
	if (r->role != RAFT_LEADER) {
		r->election_elapsed++;
		if (raft__promotable(r) &&
		    r->election_elapsed >= r->randomized_timeout)
			raft__campaign(r, r->opts.pre_vote, false);
		return;
	}
	r->election_elapsed++;
	r->heartbeat_elapsed++;
	if (r->election_elapsed >= r->opts.election_ticks) {
		r->election_elapsed = 0;
		/* Thesis §6.2: "a leader steps down if an election timeout
		 * elapses without a successful round of heartbeats to a
		 * majority of its cluster", so that clients retry with a
		 * leader that can make progress. */
		if (r->opts.check_quorum &&
		    !raft__quorum_has_quorum(&r->quorum, quorum_active_fn, r)) {
			raft__become_follower(r, r->term, 0);
			return;
		}
		for (size_t i = 0; i < r->n_prs; i++)
			if (r->prs[i].id != r->id)
				r->prs[i].recent_active = false;
	}
	if (r->heartbeat_elapsed >= r->opts.heartbeat_ticks) {
		/* Raft §5.2: "Leaders send periodic heartbeats ... to all
		 * followers in order to maintain their authority." */
		r->heartbeat_elapsed = 0;
		raft__bcast_heartbeat(r);
	}
}

int raft__step_vote(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE;
	bool can_vote, grant;
	struct raft_msg resp = {
	    .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
	    .to = m->from,
	};

	/* Figure 2, RequestVote receiver: "If votedFor is null or
	 * candidateId, and candidate's log is at least as up-to-date as
	 * receiver's log, grant vote" — one vote per term (§5.2). A member
	 * that knows this term's leader has no vote left to give. A
	 * PreVote for a later term promises nothing, so any member may
	 * grant it. */
	can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
		   (pre && m->term > r->term);
	grant =
	    can_vote && raft__log_is_up_to_date(&r->log, m->index, m->log_term);
	/* Thesis §9.6: a PreVote is granted only if the voter "has not
	 * received a heartbeat from a valid leader for at least a baseline
	 * election timeout". */
	if (pre && r->leader != 0 &&
	    r->election_elapsed < r->opts.election_ticks)
		grant = false;
	if (grant && !pre) {
		r->vote = m->from;
		r->election_elapsed = 0;
	}
	resp.reject = !grant;
	/* A granted PreVote answers in the term asked about, a refusal in
	 * ours, so that a stale precandidate learns the term. */
	resp.term = grant && pre ? m->term : r->term;
	/* A granted vote is a promise: it leaves only once the vote is
	 * durable (raft.h rule 3). */
	return raft__send(r, &resp, !pre);
}

int raft__step_vote_resp(struct raft *r, const struct raft_msg *m)
{
	struct raft_progress *pr = raft__progress(r, m->from);

	if (pr == NULL)
		return RAFT_OK;
	if (m->type == RAFT_MSG_PREVOTE_RESP) {
		if (r->role != RAFT_PRECANDIDATE)
			return RAFT_OK;
		/* Only answers to the PreVote out now count. */
		if (m->reject ? m->term != r->term : m->term != r->term + 1)
			return RAFT_OK;
	} else {
		if (r->role != RAFT_CANDIDATE || m->term != r->term)
			return RAFT_OK;
	}
	if (pr->vote == 0)
		pr->vote = m->reject ? -1 : 1;
	tally(r);
	return RAFT_OK;
}
