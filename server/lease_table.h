/* lease_table.h - the leader's lease deadlines (DESIGN.md §1.6): which
 * leases are alive on its monotonic clock, which are due to expire, and
 * the rules that keep a kept-alive lease from expiring. Pure: no clock, no
 * IO; time comes in as milliseconds, so a test drives it with its own.
 *
 * The rules (docs/ARCHITECTURE.md, "Leases"):
 * * a lease the leader learns of (on becoming leader, or when its grant is
 *   applied) gets the deadline now + its full TTL, or keeps a later one
 *   (a leader change may extend a lease, never shorten it);
 * * a keepalive that arrived at @arrival raises the deadline to at least
 *   @arrival + TTL, unless the lease is expiring already (its deadline
 *   passed, or it was chosen for expiry): then it is not found;
 * * lease_table_due() chooses the leases whose deadline passed, once each
 *   until lease_table_retry() puts one back (a failed proposal).
 * 100,000 leases are cheap: a hash from id to entry, a binary min-heap of
 * deadlines; every call is O(log n) but lease_table_due() (per lease
 * chosen) and lease_table_clear() (O(n)).
 */
#ifndef SERVER_LEASE_TABLE_H_
#define SERVER_LEASE_TABLE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Codes of the calls below (negative, never clashing with counts). */
enum lease_table_error {
	LEASE_TABLE_ENOTFOUND = -1, /* no such lease in the table */
	LEASE_TABLE_EEXPIRED = -2,  /* its deadline passed or it is expiring */
	LEASE_TABLE_ENOMEM = -3,
	LEASE_TABLE_EINVAL = -4 /* id 0, TTL 0 */
};

struct lease_table;

/* What the table holds of one lease. */
struct lease_table_entry {
	uint64_t id;
	uint64_t ttl_s;
	uint64_t deadline_ms;
	bool expiring; /* chosen by lease_table_due(), not yet put back */
};

/* A new, empty table, or NULL when out of memory. */
struct lease_table *lease_table_new(void);
void lease_table_free(struct lease_table *t);

/* Forgets every lease (leadership lost). */
void lease_table_clear(struct lease_table *t);

/* Leases in the table (expiring ones included). */
size_t lease_table_count(const struct lease_table *t);

/* The leader learns of lease @id (TTL @ttl_s seconds) at @now_ms: its
 * deadline becomes max(its deadline, @now_ms + TTL). A lease that is
 * expiring stays so (its end is decided; only a new leadership, which
 * clears the table, gives it a new TTL). 0, LEASE_TABLE_ENOMEM,
 * LEASE_TABLE_EINVAL. */
int lease_table_grant(struct lease_table *t, uint64_t id, uint64_t ttl_s,
		      uint64_t now_ms);

/* A keepalive of @id that arrived at @arrival_ms, answered at @now_ms
 * (>= @arrival_ms; after the read point): 0 and the deadline raised to at
 * least @arrival_ms + TTL; LEASE_TABLE_ENOTFOUND; LEASE_TABLE_EEXPIRED when
 * the lease is expiring or its deadline is <= @now_ms (it may be chosen
 * for expiry any moment: the answer must be "gone"). */
int lease_table_keepalive(struct lease_table *t, uint64_t id,
			  uint64_t arrival_ms, uint64_t now_ms);

/* Drops lease @id (revoked, expired, or found gone). 0 or
 * LEASE_TABLE_ENOTFOUND. */
int lease_table_remove(struct lease_table *t, uint64_t id);

/* Chooses up to @cap leases whose deadline is <= @now_ms and that are not
 * expiring already, earliest first, into @ids, and marks them expiring.
 * Returns how many. */
size_t lease_table_due(struct lease_table *t, uint64_t now_ms, uint64_t *ids,
		       size_t cap);

/* Puts expiring lease @id back among the candidates of lease_table_due()
 * (its expiry could not be proposed); its deadline stays passed, so its
 * keepalives stay refused. 0 or LEASE_TABLE_ENOTFOUND. */
int lease_table_retry(struct lease_table *t, uint64_t id);

/* The earliest deadline among leases not expiring: true and *@deadline_ms,
 * or false when there is none. */
bool lease_table_next(const struct lease_table *t, uint64_t *deadline_ms);

/* Reads lease @id: 0 or LEASE_TABLE_ENOTFOUND. */
int lease_table_get(const struct lease_table *t, uint64_t id,
		    struct lease_table_entry *out);

/* The milliseconds lease @id has left at @now_ms (0 when expiring or
 * past), or -1 when the table does not hold it. */
int64_t lease_table_remaining_ms(const struct lease_table *t, uint64_t id,
				 uint64_t now_ms);

/* Checks the structure's invariants (heap order, hash and heap agreeing,
 * counts). 0, or -1 with one line in @why. */
int lease_table_check(const struct lease_table *t, char *why, size_t whylen);

#endif /* SERVER_LEASE_TABLE_H_ */
