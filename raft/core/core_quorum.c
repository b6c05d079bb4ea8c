/* core_quorum.c - the voter configuration and majority arithmetic. */
#include "core_quorum.h"

#include <string.h>

static bool set_has(const struct raft_voter_set *s, raft_id id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return true;
	return false;
}

int raft__quorum_init(struct raft_quorum *c, const raft_id *ids, size_t n)
{
	memset(c, 0, sizeof(*c));
	if (n == 0 || n > RAFT_MAX_VOTERS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == 0 || set_has(&c->voters, ids[i]))
			return -1;
		c->voters.ids[c->voters.n++] = ids[i];
	}
	return 0;
}

bool raft__quorum_is_voter(const struct raft_quorum *c, raft_id id)
{
	return set_has(&c->voters, id) || set_has(&c->outgoing, id);
}

void raft__quorum_each(const struct raft_quorum *c,
		       void (*fn)(void *arg, raft_id id), void *arg)
{
	for (size_t i = 0; i < c->voters.n; i++)
		fn(arg, c->voters.ids[i]);
	for (size_t i = 0; i < c->outgoing.n; i++)
		if (!set_has(&c->voters, c->outgoing.ids[i]))
			fn(arg, c->outgoing.ids[i]);
}

static raft_index set_quorum_index(const struct raft_voter_set *s,
				   raft_index (*index_of)(void *, raft_id),
				   void *arg)
{
	raft_index v[RAFT_MAX_VOTERS];

	if (s->n == 0)
		return UINT64_MAX; /* an empty set agrees to anything */
	/* Sort descending (insertion sort: at most RAFT_MAX_VOTERS); the
	 * (n/2+1)-th largest is held by a majority. */
	for (size_t i = 0; i < s->n; i++) {
		raft_index x = index_of(arg, s->ids[i]);
		size_t j = i;

		while (j > 0 && v[j - 1] < x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	return v[s->n / 2];
}

raft_index raft__quorum_quorum_index(const struct raft_quorum *c,
				     raft_index (*index_of)(void *, raft_id),
				     void *arg)
{
	raft_index a = set_quorum_index(&c->voters, index_of, arg);
	raft_index b = set_quorum_index(&c->outgoing, index_of, arg);

	return a < b ? a : b;
}

static enum raft_vote_result set_vote(const struct raft_voter_set *s,
				      int (*vote_of)(void *, raft_id),
				      void *arg)
{
	size_t yes = 0, no = 0, q = s->n / 2 + 1;

	if (s->n == 0)
		return RAFT_VOTE_WON;
	for (size_t i = 0; i < s->n; i++) {
		int v = vote_of(arg, s->ids[i]);

		if (v > 0)
			yes++;
		else if (v < 0)
			no++;
	}
	if (yes >= q)
		return RAFT_VOTE_WON;
	if (s->n - no < q)
		return RAFT_VOTE_LOST;
	return RAFT_VOTE_PENDING;
}

enum raft_vote_result raft__quorum_vote_result(const struct raft_quorum *c,
					       int (*vote_of)(void *, raft_id),
					       void *arg)
{
	enum raft_vote_result a = set_vote(&c->voters, vote_of, arg);
	enum raft_vote_result b = set_vote(&c->outgoing, vote_of, arg);

	if (a == RAFT_VOTE_LOST || b == RAFT_VOTE_LOST)
		return RAFT_VOTE_LOST;
	if (a == RAFT_VOTE_WON && b == RAFT_VOTE_WON)
		return RAFT_VOTE_WON;
	return RAFT_VOTE_PENDING;
}

static bool set_quorum(const struct raft_voter_set *s,
		       bool (*yes)(void *, raft_id), void *arg)
{
	size_t n = 0;

	if (s->n == 0)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (yes(arg, s->ids[i]))
			n++;
	return n >= s->n / 2 + 1;
}

bool raft__quorum_has_quorum(const struct raft_quorum *c,
			     bool (*yes)(void *, raft_id), void *arg)
{
	return set_quorum(&c->voters, yes, arg) &&
	       set_quorum(&c->outgoing, yes, arg);
}
