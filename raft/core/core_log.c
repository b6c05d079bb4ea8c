/* core_log.c - the in-memory Raft log, offset by a snapshot index/term. */
#include "core_log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core_buf.h"

static int log_reserve(struct raft_log *l, size_t need)
{
	struct raft_entry *p;
	size_t cap;

	if (need <= l->cap)
		return 0;
	cap = l->cap ? l->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(l->ents, cap * sizeof(*p));
	if (p == NULL)
		return -1;
	l->ents = p;
	l->cap = cap;
	return 0;
}

int raft__log_init(struct raft_log *l, raft_index snap_index,
		   raft_term snap_term, const struct raft_entry *ents, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->snap_index = snap_index;
	l->snap_term = snap_term;
	if (log_reserve(l, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		assert(ents[i].index == snap_index + 1 + i);
		if (raft__entry_copy(&l->ents[i], &ents[i]) != 0) {
			raft__log_close(l);
			return -1;
		}
		l->n++;
	}
	l->stable_handed = raft__log_last_index(l);
	l->persisted = l->stable_handed;
	l->commit = snap_index;
	l->applied_handed = snap_index;
	return 0;
}

void raft__log_close(struct raft_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		raft__buf_unref(l->ents[i].data);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

raft_index raft__log_first_index(const struct raft_log *l)
{
	return l->snap_index + 1;
}

raft_index raft__log_last_index(const struct raft_log *l)
{
	return l->snap_index + l->n;
}

raft_term raft__log_last_term(const struct raft_log *l)
{
	return raft__log_term_at(l, raft__log_last_index(l));
}

raft_term raft__log_term_at(const struct raft_log *l, raft_index index)
{
	if (index == l->snap_index)
		return l->snap_term;
	if (index < l->snap_index || index > raft__log_last_index(l))
		return 0;
	return l->ents[index - l->snap_index - 1].term;
}

const struct raft_entry *raft__log_get(const struct raft_log *l,
				       raft_index index)
{
	if (index <= l->snap_index || index > raft__log_last_index(l))
		return NULL;
	return &l->ents[index - l->snap_index - 1];
}

int raft__log_append(struct raft_log *l, const struct raft_entry *e)
{
	assert(e->index == raft__log_last_index(l) + 1);
	/* Terms never decrease along a log (Figure 2: entries carry the
	 * term in which a leader created them). */
	assert(e->term >= raft__log_last_term(l));
	if (log_reserve(l, l->n + 1) != 0)
		return -1;
	l->ents[l->n++] = *e;
	return 0;
}

void raft__log_truncate_from(struct raft_log *l, raft_index index)
{
	/* Raft §5.3 removes a conflicting suffix; the Leader Completeness
	 * property (§5.4) means a committed entry never conflicts. */
	assert(index > l->commit);
	assert(index > l->snap_index);
	while (raft__log_last_index(l) >= index) {
		l->n--;
		raft__buf_unref(l->ents[l->n].data);
	}
	if (l->stable_handed >= index)
		l->stable_handed = index - 1;
	if (l->persisted >= index)
		l->persisted = index - 1;
}

bool raft__log_is_up_to_date(const struct raft_log *l, raft_index last_index,
			     raft_term last_term)
{
	raft_term my_term = raft__log_last_term(l);

	/* "If the logs have last entries with different terms, then the log
	 * with the later term is more up-to-date. If the logs end with the
	 * same term, then whichever log is longer is more up-to-date." */
	if (last_term != my_term)
		return last_term > my_term;
	return last_index >= raft__log_last_index(l);
}

raft_index raft__log_term_start(const struct raft_log *l, raft_index index,
				raft_index floor)
{
	raft_term t = raft__log_term_at(l, index);

	if (floor <= l->snap_index)
		floor = l->snap_index + 1;
	while (index > floor && raft__log_term_at(l, index - 1) == t)
		index--;
	return index;
}

size_t raft__log_batch(const struct raft_log *l, raft_index from, size_t max_n,
		       size_t max_bytes)
{
	raft_index last = raft__log_last_index(l);
	size_t n = 0, bytes = 0;

	if (from <= l->snap_index)
		return 0;
	while (from + n <= last && n < max_n) {
		const struct raft_entry *e = raft__log_get(l, from + n);

		assert(e != NULL); /* snap_index < from + n <= last */
		if (n > 0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		n++;
	}
	return n;
}

static void raise_to(raft_index *v, raft_index index)
{
	if (*v < index)
		*v = index;
}

void raft__log_compact(struct raft_log *l, raft_index index)
{
	size_t k;

	assert(index > l->snap_index && index <= raft__log_last_index(l));
	k = (size_t)(index - l->snap_index);
	l->snap_term = raft__log_term_at(l, index);
	for (size_t i = 0; i < k; i++)
		raft__buf_unref(l->ents[i].data);
	memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
	l->n -= k;
	l->snap_index = index;
	raise_to(&l->stable_handed, index);
	raise_to(&l->persisted, index);
	raise_to(&l->commit, index);
	raise_to(&l->applied_handed, index);
}

void raft__log_reset(struct raft_log *l, raft_index index, raft_term term)
{
	for (size_t i = 0; i < l->n; i++)
		raft__buf_unref(l->ents[i].data);
	l->n = 0;
	l->snap_index = index;
	l->snap_term = term;
	l->stable_handed = index;
	l->persisted = index;
	l->commit = index;
	l->applied_handed = index;
}

bool raft__log_persisted(struct raft_log *l, raft_index index, raft_term term)
{
	/* A report about entries that were since replaced (§5.3) must not
	 * count: the entry now at @index is another one. By Log Matching,
	 * the same (index, term) means the same entry and the same prefix. */
	if (index > l->stable_handed || index <= l->persisted)
		return false;
	if (raft__log_term_at(l, index) != term)
		return false;
	l->persisted = index;
	return true;
}
