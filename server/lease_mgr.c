/* lease_mgr.c - the leader's side of leases on the event loop: leadership
 * followed, deadlines kept, expiry proposed (see lease_mgr.h). */
#include "lease_mgr.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lease_table.h"
#include "log.h"

/* How often the member's role is looked at: a new leader's table is
 * built at most this late, which only makes its leases longer. */
#define POLL_MS 100
/* Expiry proposals in flight at once (each up to KV_LEASE_EXPIRE_MAX
 * ids); more due leases wait for one to complete. */
#define MAX_IN_FLIGHT 8
/* A failed expiry is proposed again after this long. */
#define RETRY_MS 500
/* Leases read from the store per kv_lease_list() call when a leader
 * builds its table. */
#define LIST_PAGE 10000

struct lease_mgr {
	struct event_base *base;
	struct kv **kv;
	struct kvdraft_node *node;
	struct lease_table *table;
	/* The term this member leads in, as the table knows it; 0: the
	 * table is empty (not leading). */
	raft_term term;
	struct event *poll;
	struct event *timer;
	unsigned in_flight;
	uint64_t keepalives, expired;
};

/* An expiry proposal waiting for its outcome. */
struct expiry {
	struct lease_mgr *lm; /* NULL once @lm is freed */
	raft_term term;
	size_t n;
	uint64_t ids[KV_LEASE_EXPIRE_MAX];
	struct expiry *next;
};

/* Proposals in flight of every manager (one per process): cut loose from
 * their manager when it is freed. */
static struct expiry *pending;

static void arm_timer(struct lease_mgr *lm);

/* ---- leadership ---- */

struct build {
	struct lease_table *t;
	uint64_t now_ms;
	uint64_t last;
	int failed;
};

static int build_cb(void *arg, const struct kv_lease *l)
{
	struct build *b = arg;
	b->last = l->id;
	if (lease_table_grant(b->t, l->id, l->ttl, b->now_ms) != 0) {
		b->failed = 1;
		return 1;
	}
	return 0;
}

/* This member leads in @term: every lease of the applied store gets now +
 * its full TTL (a leader change may extend a lease, never shorten it;
 * leases granted by entries not yet applied are added as they apply). */
static void promote(struct lease_mgr *lm, raft_term term)
{
	lease_table_clear(lm->table);
	lm->term = term;
	struct build b = {.t = lm->table, .now_ms = clock_now_ms()};
	int more = 1;
	while (more) {
		int64_t rc = kv_lease_list(*lm->kv, b.last, LIST_PAGE, build_cb,
					   &b, &more);
		if (rc < 0 || b.failed) {
			/* Without its table this member cannot expire
			 * leases: it says so and retries at the next
			 * poll (term 0 = not built). */
			log_error("leases: cannot build the leader's table: "
				  "%s",
				  b.failed ? "out of memory"
					   : kv_strerror((int)rc));
			lease_table_clear(lm->table);
			lm->term = 0;
			return;
		}
		if (rc == 0)
			break;
	}
	log_info("leases: leading in term %" PRIu64 ", %zu leases get their "
		 "full TTL",
		 term, lease_table_count(lm->table));
	arm_timer(lm);
}

static void demote(struct lease_mgr *lm)
{
	if (lm->term == 0)
		return;
	lease_table_clear(lm->table);
	lm->term = 0;
	evtimer_del(lm->timer);
}

bool lease_mgr_leading(struct lease_mgr *lm, raft_term *term)
{
	struct raft_status st;
	if (lm->node == NULL)
		return false;
	kvdraft_node_status(lm->node, &st);
	if (st.role != RAFT_LEADER || st.removed) {
		demote(lm);
		return false;
	}
	if (lm->term != st.term)
		promote(lm, st.term);
	if (term != NULL)
		*term = st.term;
	return lm->term != 0;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lease_mgr_leading(arg, NULL);
}

/* ---- expiry ---- */

static void forget_expiry(struct expiry *e)
{
	for (struct expiry **p = &pending; *p != NULL; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			return;
		}
}

/* Puts @e's leases back to be chosen again, frees @e and runs the timer
 * again in RETRY_MS. */
static void retry_later(struct lease_mgr *lm, struct expiry *e)
{
	for (size_t i = 0; i < e->n; i++)
		lease_table_retry(lm->table, e->ids[i]);
	free(e);
	struct timeval tv = clock_ms_to_timeval(RETRY_MS);
	evtimer_add(lm->timer, &tv);
}

static void expiry_done(void *arg, int err, const void *result)
{
	struct expiry *e = arg;
	struct lease_mgr *lm = e->lm;
	const struct kv_result *res = result;
	forget_expiry(e);
	if (lm == NULL) {
		free(e);
		return;
	}
	lm->in_flight--;
	if (lm->term != e->term) {
		/* The table of that leadership is gone. */
		free(e);
		return;
	}
	if (err == KVDRAFT_OK && res->status == KV_APPLIED) {
		for (size_t i = 0; i < e->n; i++)
			lease_table_remove(lm->table, e->ids[i]);
		lm->expired += e->n;
	} else {
		/* Not applied: the same leases are chosen again (their
		 * keepalives stay refused meanwhile). */
		log_warn("leases: proposing the expiry of %zu leases "
			 "failed (%s); retrying",
			 e->n,
			 err != KVDRAFT_OK ? kvdraft_strerror(err)
					   : kv_strerror(res->cmd_error));
		/* Not at once: an entry every member refuses (a member
		 * that does not know the op) would loop hot. */
		retry_later(lm, e);
		return;
	}
	free(e);
	arm_timer(lm);
}

/* Proposes the expiry of @e's leases, now that this member leads in
 * @e->term (checked in this loop turn: the core appends the entry at once,
 * in that term; a deposed leader's entry would be forwarded to the next
 * leader, which must never expire what it kept alive). */
static int propose_expiry(struct lease_mgr *lm, struct expiry *e)
{
	uint8_t *val = malloc(e->n * 8);
	if (val == NULL)
		return KVDRAFT_EINTERNAL;
	for (size_t i = 0; i < e->n; i++)
		for (int b = 0; b < 8; b++)
			val[i * 8 + (size_t)b] =
			    (uint8_t)(e->ids[i] >> (8 * b));
	struct kv_cmd cmd = {
	    .op = KV_OP_LEASE_EXPIRE, .value = val, .value_len = e->n * 8};
	uint8_t *buf;
	size_t len;
	int rc = kv_cmd_encode_alloc(&cmd, &buf, &len);
	free(val);
	if (rc != 0)
		return KVDRAFT_EINTERNAL;
	rc = kvdraft_node_propose(lm->node, buf, len, expiry_done, e);
	free(buf);
	return rc;
}

/* The timer: the leases past their deadline, still in the store, are
 * proposed for expiry; those the store ended already are dropped. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lease_mgr *lm = arg;
	raft_term term;
	if (!lease_mgr_leading(lm, &term))
		return;
	uint64_t now = clock_now_ms();
	while (lm->in_flight < MAX_IN_FLIGHT) {
		struct expiry *e = malloc(sizeof(*e));
		if (e == NULL)
			break;
		e->lm = lm;
		e->term = term;
		e->n = 0;
		uint64_t ids[KV_LEASE_EXPIRE_MAX];
		size_t n =
		    lease_table_due(lm->table, now, ids, KV_LEASE_EXPIRE_MAX);
		for (size_t i = 0; i < n; i++) {
			struct kv_lease l;
			int rc = kv_lease_get(*lm->kv, ids[i], &l);
			if (rc == KV_ENOTFOUND)
				lease_table_remove(lm->table, ids[i]);
			else
				e->ids[e->n++] = ids[i];
		}
		if (e->n == 0) {
			free(e);
			if (n == 0)
				break;
			continue;
		}
		int rc = propose_expiry(lm, e);
		if (rc != KVDRAFT_OK) {
			log_warn("leases: cannot propose an expiry (%s); "
				 "retrying",
				 kvdraft_strerror(rc));
			/* Soon, not at once: the node refused. */
			retry_later(lm, e);
			return;
		}
		e->next = pending;
		pending = e;
		lm->in_flight++;
	}
	arm_timer(lm);
}

/* The timer at the earliest deadline (a firing that finds nothing due
 * re-arms it: deadlines only move later between firings but for grants,
 * which re-arm it themselves). */
static void arm_timer(struct lease_mgr *lm)
{
	uint64_t deadline;
	if (lm->term == 0 || lm->in_flight >= MAX_IN_FLIGHT ||
	    !lease_table_next(lm->table, &deadline)) {
		evtimer_del(lm->timer);
		return;
	}
	uint64_t now = clock_now_ms();
	struct timeval tv =
	    clock_ms_to_timeval(deadline > now ? deadline - now : 0);
	evtimer_add(lm->timer, &tv);
}

/* ---- the rest ---- */

struct lease_mgr *lease_mgr_new(struct event_base *base, struct kv **kv)
{
	struct lease_mgr *lm = calloc(1, sizeof(*lm));
	if (lm == NULL)
		return NULL;
	lm->base = base;
	lm->kv = kv;
	lm->table = lease_table_new();
	lm->poll = event_new(base, -1, EV_PERSIST, poll_cb, lm);
	lm->timer = evtimer_new(base, timer_cb, lm);
	if (lm->table == NULL || lm->poll == NULL || lm->timer == NULL) {
		lease_mgr_free(lm);
		return NULL;
	}
	return lm;
}

int lease_mgr_start(struct lease_mgr *lm, struct kvdraft_node *n)
{
	lm->node = n;
	struct timeval tv = clock_ms_to_timeval(POLL_MS);
	return event_add(lm->poll, &tv) == 0 ? 0 : -1;
}

void lease_mgr_free(struct lease_mgr *lm)
{
	if (lm == NULL)
		return;
	for (struct expiry *e = pending; e != NULL; e = e->next)
		if (e->lm == lm)
			e->lm = NULL;
	if (lm->poll != NULL)
		event_free(lm->poll);
	if (lm->timer != NULL)
		event_free(lm->timer);
	lease_table_free(lm->table);
	free(lm);
}

void lease_mgr_applied(struct lease_mgr *lm, const struct kv_result *res,
		       size_t cnt)
{
	if (lm->term == 0)
		return; /* a new leader reads the whole store */
	bool granted = false;
	uint64_t now = clock_now_ms();
	for (size_t i = 0; i < cnt; i++) {
		const struct kv_result *r = &res[i];
		if (r->status != KV_APPLIED || r->duplicate)
			continue;
		if (r->op == KV_OP_LEASE_GRANT) {
			if (lease_table_grant(lm->table, r->lease_id,
					      r->lease_ttl, now) != 0)
				log_error("leases: cannot track lease %" PRIu64
					  ": out of memory",
					  r->lease_id);
			granted = true;
		} else if (r->op == KV_OP_LEASE_REVOKE) {
			lease_table_remove(lm->table, r->lease_id);
		}
	}
	if (granted)
		arm_timer(lm);
}

int lease_mgr_keepalive(struct lease_mgr *lm, uint64_t id, raft_term term,
			uint64_t arrival_ms, uint64_t *ttl_s)
{
	raft_term now_term;
	/* The read point was confirmed by this member as leader of @term
	 * only if it still leads in @term (thesis §6.4: a leader in the same
	 * term confirmed with a quorum after the request arrived). */
	if (!lease_mgr_leading(lm, &now_term) || now_term != term)
		return LEASE_MGR_ENOTLEADER;
	struct kv_lease l;
	int rc = kv_lease_get(*lm->kv, id, &l);
	if (rc == KV_ENOTFOUND) {
		lease_table_remove(lm->table, id);
		return LEASE_MGR_ENOTFOUND;
	}
	if (rc != 0)
		return LEASE_MGR_ESTORE;
	uint64_t now = clock_now_ms();
	rc = lease_table_keepalive(lm->table, id, arrival_ms, now);
	if (rc == LEASE_TABLE_ENOTFOUND) {
		/* Applied, yet not in the table (it could not grow): it is
		 * learnt now, at now + TTL, which is no shorter. */
		if (lease_table_grant(lm->table, id, l.ttl, now) != 0)
			return LEASE_MGR_ENOMEM;
		arm_timer(lm);
		rc = 0;
	}
	if (rc != 0)
		return LEASE_MGR_ENOTFOUND;
	lm->keepalives++;
	*ttl_s = l.ttl;
	return 0;
}

uint64_t lease_mgr_remaining_ms(struct lease_mgr *lm, uint64_t id,
				uint64_t ttl_s)
{
	int64_t left = lease_table_remaining_ms(lm->table, id, clock_now_ms());
	return left < 0 ? ttl_s * 1000 : (uint64_t)left;
}

uint64_t lease_mgr_keepalives(const struct lease_mgr *lm)
{
	return lm->keepalives;
}

uint64_t lease_mgr_expired(const struct lease_mgr *lm)
{
	return lm->expired;
}
