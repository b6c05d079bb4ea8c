/* core_transfer.c - leadership transfer (thesis §3.10). */
#include "core_transfer.h"

int raft__transfer(struct raft *r, raft_id to)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (to == r->id)
		return RAFT_OK;
	if (!raft__quorum_is_voter(&r->quorum, to) ||
	    raft__progress(r, to) == NULL)
		return RAFT_EINVAL;
	if (r->transferee != 0)
		return r->transferee == to ? RAFT_OK : RAFT_ETRANSFER;
	/* Thesis §3.10: "1. The prior leader stops accepting new client
	 * requests. 2. The prior leader fully updates the target server's
	 * log to match its own ... 3. The prior leader sends a TimeoutNow
	 * request to the target server." */
	r->transferee = to;
	/* The target's campaign is granted despite the voters' leader
	 * lease, and its TIMEOUT_NOW may arrive after the transfer gave up
	 * here: no lease read for the rest of the term. */
	r->lease_given_up = true;
	r->transfer_elapsed = 0;
	r->transfer_sent = false;
	return RAFT_OK;
}

static bool caught_up(const struct raft *r)
{
	const struct raft_progress *pr = NULL;

	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == r->transferee)
			pr = &r->prs[i];
	return pr != NULL && pr->match == raft__log_last_index(&r->log);
}

bool raft__transfer_wants_flush(const struct raft *r)
{
	return r->role == RAFT_LEADER && r->transferee != 0 &&
	       !r->transfer_sent && caught_up(r);
}

void raft__transfer_flush(struct raft *r)
{
	struct raft_msg m = {
	    .type = RAFT_MSG_TIMEOUT_NOW,
	};

	if (!raft__transfer_wants_flush(r))
		return;
	m.to = r->transferee;
	r->transfer_sent = raft__send(r, &m, false) == RAFT_OK;
}

void raft__transfer_tick(struct raft *r)
{
	if (r->role != RAFT_LEADER || r->transferee == 0)
		return;
	/* "If the transfer does not complete within an election timeout,
	 * the prior leader aborts the transfer and resumes accepting
	 * client requests." */
	if (++r->transfer_elapsed >= r->opts.election_ticks)
		r->transferee = 0;
}
