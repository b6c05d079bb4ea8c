/* lease_mgr.h - the leader's side of leases (DESIGN.md §1.6) on the event
 * loop: it follows this member's leadership, keeps the deadlines of the
 * leases of the applied store in a lease_table on the monotonic clock,
 * answers keepalives against them, and proposes the expiry of the leases
 * whose deadline passed (KV_OP_LEASE_EXPIRE entries). Keepalives are no log
 * entries; why that is safe: docs/ARCHITECTURE.md, "Leases". Loop thread
 * only.
 */
#ifndef SERVER_LEASE_MGR_H_
#define SERVER_LEASE_MGR_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.h"
#include "kvdraft_node.h"

struct event_base;
struct lease_mgr;

enum lease_mgr_error {
	LEASE_MGR_ENOTFOUND = -1,  /* no such lease, or it expired */
	LEASE_MGR_ENOTLEADER = -2, /* this member does not lead (now, or in
				    * the term the request arrived in) */
	LEASE_MGR_ESTORE = -3,	   /* the store failed to read */
	LEASE_MGR_ENOMEM = -4
};

/* A manager reading the store at *@kv (the pointer is read at each use:
 * the store may be reopened). NULL when out of memory. */
struct lease_mgr *lease_mgr_new(struct event_base *base, struct kv **kv);

/* Starts following @n's leadership (a cheap look at its status every few
 * milliseconds: the node has no callback for it). 0 or -1. */
int lease_mgr_start(struct lease_mgr *lm, struct kvdraft_node *n);

/* Stops the timers and frees @lm (NULL is fine). Expiry proposals still
 * in flight complete into nothing. */
void lease_mgr_free(struct lease_mgr *lm);

/* What kv_apply() reported for @cnt entries: a lease granted while this
 * member leads gets now + its TTL, a revoked one is dropped. */
void lease_mgr_applied(struct lease_mgr *lm, const struct kv_result *res,
		       size_t cnt);

/* Whether this member leads, as the node says now (the table follows
 * first); *@term (may be NULL) gets the term. */
bool lease_mgr_leading(struct lease_mgr *lm, raft_term *term);

/* A keepalive of lease @id that arrived at @arrival_ms (clock_now_ms())
 * while this member led in @term, after its read point: 0 and *@ttl_s,
 * LEASE_MGR_ENOTFOUND (gone from the store, or expiring),
 * LEASE_MGR_ENOTLEADER (no longer the leader of @term: the read point
 * may not have been this member's), LEASE_MGR_ESTORE. */
int lease_mgr_keepalive(struct lease_mgr *lm, uint64_t id, raft_term term,
			uint64_t arrival_ms, uint64_t *ttl_s);

/* The milliseconds lease @id (of TTL @ttl_s) has left on this leader: its
 * full TTL when the table does not know it yet, 0 when expiring. */
uint64_t lease_mgr_remaining_ms(struct lease_mgr *lm, uint64_t id,
				uint64_t ttl_s);

/* Counters for /metrics. */
uint64_t lease_mgr_keepalives(const struct lease_mgr *lm);
uint64_t lease_mgr_expired(const struct lease_mgr *lm);

#endif /* SERVER_LEASE_MGR_H_ */
