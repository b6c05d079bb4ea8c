/* lease_table.c - the leader's lease deadlines: a hash from id to entry
 * and a min-heap of deadlines (see lease_table.h). */
#include "lease_table.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest TTL taken: far above §1.6's 86400 s, small enough that
 * deadlines (ms) never overflow. */
#define TTL_MAX_S   (1ull << 32)
#define NOT_IN_HEAP UINT32_MAX
#define HASH_MIN    64

struct ent {
	uint64_t id; /* 0: a free slot of the slab */
	uint64_t ttl_s;
	uint64_t deadline_ms;
	uint32_t heap_pos; /* NOT_IN_HEAP: expiring */
	uint32_t next_free;
};

struct hslot {
	uint64_t id; /* 0: empty */
	uint32_t ent;
};

struct lease_table {
	struct ent *ents; /* a slab: entries never move */
	uint32_t n_ents, cap_ents, free_head, count;
	struct hslot *hash; /* open addressing, linear probing */
	uint32_t hash_cap;  /* a power of two, > 2 * count */
	uint32_t *heap;	    /* slab indexes, by deadline */
	uint32_t n_heap;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint32_t hash_of(const struct lease_table *t, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) &
	       (t->hash_cap - 1);
}

struct lease_table *lease_table_new(void)
{
	struct lease_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->hash_cap = HASH_MIN;
	t->hash = calloc(t->hash_cap, sizeof(*t->hash));
	if (t->hash == NULL) {
		free(t);
		return NULL;
	}
	t->free_head = NOT_IN_HEAP;
	return t;
}

void lease_table_free(struct lease_table *t)
{
	if (t == NULL)
		return;
	free(t->ents);
	free(t->hash);
	free(t->heap);
	free(t);
}

void lease_table_clear(struct lease_table *t)
{
	memset(t->hash, 0, t->hash_cap * sizeof(*t->hash));
	t->n_ents = 0;
	t->free_head = NOT_IN_HEAP;
	t->count = 0;
	t->n_heap = 0;
}

size_t lease_table_count(const struct lease_table *t)
{
	return t->count;
}

/* The hash slot holding @id, or the empty one where it would go. */
static uint32_t hash_find(const struct lease_table *t, uint64_t id)
{
	uint32_t i = hash_of(t, id);
	while (t->hash[i].id != 0 && t->hash[i].id != id)
		i = (i + 1) & (t->hash_cap - 1);
	return i;
}

static struct ent *lookup(const struct lease_table *t, uint64_t id)
{
	if (id == 0)
		return NULL;
	uint32_t i = hash_find(t, id);
	return t->hash[i].id == id ? &t->ents[t->hash[i].ent] : NULL;
}

static int hash_grow(struct lease_table *t)
{
	uint32_t cap = t->hash_cap * 2;
	struct hslot *h = calloc(cap, sizeof(*h));
	if (h == NULL)
		return LEASE_TABLE_ENOMEM;
	struct hslot *old = t->hash;
	uint32_t old_cap = t->hash_cap;
	t->hash = h;
	t->hash_cap = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].id != 0)
			t->hash[hash_find(t, old[i].id)] = old[i];
	free(old);
	return 0;
}

/* Removes slot @i, moving back the entries of its probe run that would
 * no longer be found (backward-shift deletion: no tombstones). */
static void hash_delete(struct lease_table *t, uint32_t i)
{
	uint32_t mask = t->hash_cap - 1;
	uint32_t j = i;
	for (;;) {
		t->hash[i].id = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (t->hash[j].id == 0)
				return;
			uint32_t home = hash_of(t, t->hash[j].id);
			/* j's entry may stay unless its home lies
			 * cyclically in (i, j]. */
			bool stays = i <= j ? (i < home && home <= j)
					    : (i < home || home <= j);
			if (!stays)
				break;
		}
		t->hash[i] = t->hash[j];
		i = j;
	}
}

/* ---- the heap ---- */

static bool earlier(const struct lease_table *t, uint32_t a, uint32_t b)
{
	const struct ent *ea = &t->ents[t->heap[a]], *eb = &t->ents[t->heap[b]];
	if (ea->deadline_ms != eb->deadline_ms)
		return ea->deadline_ms < eb->deadline_ms;
	return ea->id < eb->id;
}

static void heap_swap(struct lease_table *t, uint32_t a, uint32_t b)
{
	uint32_t x = t->heap[a];
	t->heap[a] = t->heap[b];
	t->heap[b] = x;
	t->ents[t->heap[a]].heap_pos = a;
	t->ents[t->heap[b]].heap_pos = b;
}

static void sift_up(struct lease_table *t, uint32_t i)
{
	while (i > 0 && earlier(t, i, (i - 1) / 2)) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct lease_table *t, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n_heap && earlier(t, l, m))
			m = l;
		if (r < t->n_heap && earlier(t, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

/* The heap has room for every entry (grown with the slab). */
static void heap_push(struct lease_table *t, uint32_t e)
{
	uint32_t i = t->n_heap++;
	t->heap[i] = e;
	t->ents[e].heap_pos = i;
	sift_up(t, i);
}

static void heap_remove(struct lease_table *t, uint32_t e)
{
	uint32_t i = t->ents[e].heap_pos;
	assert(i < t->n_heap && t->heap[i] == e);
	t->ents[e].heap_pos = NOT_IN_HEAP;
	uint32_t last = --t->n_heap;
	if (i == last)
		return;
	t->heap[i] = t->heap[last];
	t->ents[t->heap[i]].heap_pos = i;
	sift_down(t, i);
	sift_up(t, i);
}

/* ---- the calls ---- */

/* A slab entry for a new lease, the slab and heap grown as needed. */
static int ent_alloc(struct lease_table *t, uint32_t *out)
{
	if (t->free_head != NOT_IN_HEAP) {
		*out = t->free_head;
		t->free_head = t->ents[*out].next_free;
		return 0;
	}
	if (t->n_ents == t->cap_ents) {
		if (t->cap_ents >= UINT32_MAX / 4)
			return LEASE_TABLE_ENOMEM;
		uint32_t cap = t->cap_ents == 0 ? 64 : t->cap_ents * 2;
		struct ent *e = realloc(t->ents, cap * sizeof(*e));
		if (e == NULL)
			return LEASE_TABLE_ENOMEM;
		t->ents = e;
		uint32_t *h = realloc(t->heap, cap * sizeof(*h));
		if (h == NULL)
			return LEASE_TABLE_ENOMEM;
		t->heap = h;
		t->cap_ents = cap;
	}
	*out = t->n_ents++;
	return 0;
}

int lease_table_grant(struct lease_table *t, uint64_t id, uint64_t ttl_s,
		      uint64_t now_ms)
{
	if (id == 0 || ttl_s == 0 || ttl_s > TTL_MAX_S)
		return LEASE_TABLE_EINVAL;
	uint64_t deadline = add_sat(now_ms, ttl_s * 1000);
	struct ent *e = lookup(t, id);
	if (e != NULL) {
		e->ttl_s = ttl_s;
		if (e->heap_pos != NOT_IN_HEAP && deadline > e->deadline_ms) {
			e->deadline_ms = deadline;
			sift_down(t, e->heap_pos);
		}
		return 0;
	}
	if ((uint64_t)(t->count + 1) * 2 >= t->hash_cap && hash_grow(t) != 0)
		return LEASE_TABLE_ENOMEM;
	uint32_t k;
	if (ent_alloc(t, &k) != 0)
		return LEASE_TABLE_ENOMEM;
	e = &t->ents[k];
	e->id = id;
	e->ttl_s = ttl_s;
	e->deadline_ms = deadline;
	e->next_free = NOT_IN_HEAP;
	uint32_t h = hash_find(t, id);
	t->hash[h].id = id;
	t->hash[h].ent = k;
	t->count++;
	heap_push(t, k);
	return 0;
}

int lease_table_keepalive(struct lease_table *t, uint64_t id,
			  uint64_t arrival_ms, uint64_t now_ms)
{
	assert(arrival_ms <= now_ms);
	struct ent *e = lookup(t, id);
	if (e == NULL)
		return LEASE_TABLE_ENOTFOUND;
	/* Past its deadline the lease may be chosen any moment (the timer
	 * runs late under load): it is gone for its holder already. */
	if (e->heap_pos == NOT_IN_HEAP || e->deadline_ms <= now_ms)
		return LEASE_TABLE_EEXPIRED;
	uint64_t deadline = add_sat(arrival_ms, e->ttl_s * 1000);
	if (deadline > e->deadline_ms) {
		e->deadline_ms = deadline;
		sift_down(t, e->heap_pos);
	}
	return 0;
}

int lease_table_remove(struct lease_table *t, uint64_t id)
{
	if (id == 0)
		return LEASE_TABLE_ENOTFOUND;
	uint32_t h = hash_find(t, id);
	if (t->hash[h].id != id)
		return LEASE_TABLE_ENOTFOUND;
	uint32_t k = t->hash[h].ent;
	hash_delete(t, h);
	if (t->ents[k].heap_pos != NOT_IN_HEAP)
		heap_remove(t, k);
	t->ents[k].id = 0;
	t->ents[k].next_free = t->free_head;
	t->free_head = k;
	t->count--;
	return 0;
}

size_t lease_table_due(struct lease_table *t, uint64_t now_ms, uint64_t *ids,
		       size_t cap)
{
	size_t n = 0;
	while (n < cap && t->n_heap > 0 &&
	       t->ents[t->heap[0]].deadline_ms <= now_ms) {
		uint32_t k = t->heap[0];
		heap_remove(t, k);
		ids[n++] = t->ents[k].id;
	}
	return n;
}

int lease_table_retry(struct lease_table *t, uint64_t id)
{
	struct ent *e = lookup(t, id);
	if (e == NULL)
		return LEASE_TABLE_ENOTFOUND;
	if (e->heap_pos == NOT_IN_HEAP)
		heap_push(t, (uint32_t)(e - t->ents));
	return 0;
}

bool lease_table_next(const struct lease_table *t, uint64_t *deadline_ms)
{
	if (t->n_heap == 0)
		return false;
	*deadline_ms = t->ents[t->heap[0]].deadline_ms;
	return true;
}

int lease_table_get(const struct lease_table *t, uint64_t id,
		    struct lease_table_entry *out)
{
	const struct ent *e = lookup(t, id);
	if (e == NULL)
		return LEASE_TABLE_ENOTFOUND;
	out->id = e->id;
	out->ttl_s = e->ttl_s;
	out->deadline_ms = e->deadline_ms;
	out->expiring = e->heap_pos == NOT_IN_HEAP;
	return 0;
}

int64_t lease_table_remaining_ms(const struct lease_table *t, uint64_t id,
				 uint64_t now_ms)
{
	const struct ent *e = lookup(t, id);
	if (e == NULL)
		return -1;
	if (e->heap_pos == NOT_IN_HEAP || e->deadline_ms <= now_ms)
		return 0;
	uint64_t left = e->deadline_ms - now_ms;
	return left > INT64_MAX ? INT64_MAX : (int64_t)left;
}

int lease_table_check(const struct lease_table *t, char *why, size_t whylen)
{
	uint32_t in_hash = 0, in_heap = 0;
	for (uint32_t i = 0; i < t->hash_cap; i++) {
		if (t->hash[i].id == 0)
			continue;
		in_hash++;
		if (hash_find(t, t->hash[i].id) != i) {
			snprintf(why, whylen, "id %llu unreachable in the hash",
				 (unsigned long long)t->hash[i].id);
			return -1;
		}
		const struct ent *e = &t->ents[t->hash[i].ent];
		if (t->hash[i].ent >= t->n_ents || e->id != t->hash[i].id) {
			snprintf(why, whylen,
				 "hash slot %u names a wrong entry", i);
			return -1;
		}
		if (e->heap_pos != NOT_IN_HEAP) {
			in_heap++;
			if (e->heap_pos >= t->n_heap ||
			    t->heap[e->heap_pos] != t->hash[i].ent) {
				snprintf(why, whylen,
					 "id %llu: heap position wrong",
					 (unsigned long long)e->id);
				return -1;
			}
		}
	}
	if (in_hash != t->count || in_heap != t->n_heap ||
	    2 * (uint64_t)t->count >= t->hash_cap) {
		snprintf(why, whylen, "counts: %u hashed, %u heaped, %u, %u",
			 in_hash, in_heap, t->count, t->n_heap);
		return -1;
	}
	for (uint32_t i = 1; i < t->n_heap; i++)
		if (earlier(t, i, (i - 1) / 2)) {
			snprintf(why, whylen, "heap order broken at %u", i);
			return -1;
		}
	return 0;
}
