/* test_lease_table.c - the leader's lease rules (lease_table.c) against a
 * model, seeded: three members with their own monotonic clocks (any
 * offset), a store of leases, grants, revokes, keepalives that arrive at
 * the leader and are answered after a read point, time passing in small
 * steps and large jumps, expiry timers and their proposals (committed,
 * failed, or left in the log by a deposed leader), and leadership changes
 * (the old leader's table dropped, the new one built from the store at
 * now + full TTL). After every step: the table's own invariants hold, it
 * chooses for expiry exactly the leases the model's deadlines say, and no
 * lease is ever chosen, nor its expiry applied, while a keepalive answered
 * 200 within its TTL (measured from the keepalive's arrival) could still
 * be valid. A failing seed is printed; replay it with
 * `test_lease_table SEED [STEPS]`.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_table.h"

#define MEMBERS	   3
#define MAX_LEASES 256
#define MAX_KA	   64
#define MAX_PROPS  64
#define EXPIRE_MAX 8 /* ids a proposal takes (small: batches split) */

static uint64_t seed_now;
static uint64_t rng_state;
/* A planted bug (a new leader that counts a lease's TTL from half a TTL
 * ago, as one that carried deadlines over from another member's clock
 * might): the checks must catch it, or they check nothing. */
static bool planted;
static jmp_buf planted_caught;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t below(uint64_t n)
{
	return n == 0 ? 0 : rnd() % n;
}

static void fail(const char *fmt, ...)
{
	if (planted)
		longjmp(planted_caught, 1);
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL (seed %" PRIu64 "): ", seed_now);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* A lease of the store (the applied table, the same on every member). */
struct mlease {
	uint64_t id, ttl_s;
	bool alive;
	/* The latest real time until which a keepalive answered 200 made it
	 * valid to its holder (arrival + TTL): no expiry before it. */
	uint64_t promised_until;
	/* The current leader's deadline for it, on the leader's clock, as
	 * the rules say (0: the leader does not know it). */
	uint64_t model_deadline;
	bool expiring; /* chosen by the current leader */
};

struct ka {
	uint64_t id;
	uint64_t arrival_real;
	int member;
	uint64_t term;
};

struct prop {
	uint64_t ids[EXPIRE_MAX];
	size_t n;
	int member;
	uint64_t term;
};

static struct {
	uint64_t real; /* ms of real time */
	uint64_t offset[MEMBERS];
	struct lease_table *table[MEMBERS];
	int leader; /* -1: none */
	uint64_t term;
	struct mlease leases[MAX_LEASES];
	size_t n_leases;
	uint64_t next_id;
	struct ka kas[MAX_KA];
	size_t n_kas;
	struct prop props[MAX_PROPS];
	size_t n_props;
	uint64_t promises, expired;
} m;

static uint64_t clock_of(int member)
{
	return m.offset[member] + m.real;
}

static struct mlease *find(uint64_t id)
{
	for (size_t i = 0; i < m.n_leases; i++)
		if (m.leases[i].id == id)
			return &m.leases[i];
	return NULL;
}

static void check_table(int member)
{
	char why[256];
	if (lease_table_check(m.table[member], why, sizeof(why)) != 0)
		fail("member %d: %s", member, why);
}

/* The store ends lease @l (a revoke or an expiry applied). */
static void end_lease(struct mlease *l, bool by_expiry)
{
	if (by_expiry && l->promised_until > m.real)
		fail("lease %" PRIu64 " expired at %" PRIu64
		     " though a keepalive kept it until %" PRIu64,
		     l->id, m.real, l->promised_until);
	l->alive = false;
	l->model_deadline = 0;
	l->expiring = false;
	/* The leader drops it when it sees the apply. */
	if (m.leader >= 0)
		lease_table_remove(m.table[m.leader], l->id);
}

/* ---- the steps ---- */

static void step_time(void)
{
	/* Mostly small steps; now and then a long stall (a member paused,
	 * a loaded machine): the monotonic clocks all move on. */
	m.real += below(10) == 0 ? below(30000) : below(1500);
}

static void step_grant(void)
{
	if (m.leader < 0 || m.n_leases == MAX_LEASES)
		return;
	struct mlease *l = &m.leases[m.n_leases++];
	memset(l, 0, sizeof(*l));
	l->id = m.next_id++;
	l->ttl_s = 1 + below(10);
	l->alive = true;
	/* Applied on the leader: it learns the lease at now + TTL. */
	uint64_t now = clock_of(m.leader);
	if (lease_table_grant(m.table[m.leader], l->id, l->ttl_s, now) != 0)
		fail("grant %" PRIu64 " refused", l->id);
	l->model_deadline = now + l->ttl_s * 1000;
}

static void step_revoke(void)
{
	if (m.leader < 0 || m.n_leases == 0)
		return;
	struct mlease *l = &m.leases[below(m.n_leases)];
	if (l->alive)
		end_lease(l, false);
}

static void step_keepalive_arrives(void)
{
	if (m.leader < 0 || m.n_leases == 0 || m.n_kas == MAX_KA)
		return;
	struct ka *k = &m.kas[m.n_kas++];
	k->id = m.leases[below(m.n_leases)].id;
	k->arrival_real = m.real;
	k->member = m.leader;
	k->term = m.term;
}

/* A keepalive's read point completed on the member it arrived at: the
 * leader that confirmed its leadership after the arrival (a deposed one's
 * read fails, and so does one of an earlier term of the same member). */
static void step_keepalive_answered(void)
{
	if (m.n_kas == 0)
		return;
	size_t i = below(m.n_kas);
	struct ka k = m.kas[i];
	m.kas[i] = m.kas[--m.n_kas];
	if (k.member != m.leader || k.term != m.term)
		return;
	struct mlease *l = find(k.id);
	if (l == NULL || !l->alive)
		return; /* 404: the applied table has no such lease */
	struct lease_table *t = m.table[m.leader];
	uint64_t off = m.offset[m.leader];
	uint64_t now = clock_of(m.leader), arrival = off + k.arrival_real;
	int rc = lease_table_keepalive(t, k.id, arrival, now);
	bool model_ok = !l->expiring && l->model_deadline > now;
	if (rc == LEASE_TABLE_ENOTFOUND)
		fail("lease %" PRIu64 " alive but not in the leader's table",
		     k.id);
	if ((rc == 0) != model_ok)
		fail("keepalive of %" PRIu64 ": table says %d, model %d", k.id,
		     rc, model_ok);
	if (rc != 0)
		return;
	if (arrival + l->ttl_s * 1000 > l->model_deadline)
		l->model_deadline = arrival + l->ttl_s * 1000;
	uint64_t until = k.arrival_real + l->ttl_s * 1000;
	if (until > l->promised_until)
		l->promised_until = until;
	m.promises++;
}

/* The leader's expiry timer fires (at any time: early is a no-op, late is
 * what a loaded loop does). */
static void step_timer(void)
{
	if (m.leader < 0)
		return;
	struct lease_table *t = m.table[m.leader];
	uint64_t now = clock_of(m.leader);
	uint64_t ids[EXPIRE_MAX];
	size_t n = lease_table_due(t, now, ids, EXPIRE_MAX);
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		struct mlease *l = find(ids[i]);
		if (l == NULL || !l->alive)
			fail("chose %" PRIu64 " which is gone", ids[i]);
		if (l->expiring || l->model_deadline > now)
			fail("chose %" PRIu64 ": deadline %" PRIu64
			     " > now %" PRIu64,
			     ids[i], l->model_deadline, now);
		if (l->promised_until > m.real)
			fail("chose %" PRIu64 " at %" PRIu64
			     " though kept alive until %" PRIu64,
			     ids[i], m.real, l->promised_until);
		if (i > 0 && lease_table_remaining_ms(t, prev, now) != 0)
			fail("an expiring lease has time left");
		l->expiring = true;
		prev = ids[i];
	}
	/* Exactly the leases the model says are due, earliest first. */
	if (n < EXPIRE_MAX)
		for (size_t i = 0; i < m.n_leases; i++) {
			struct mlease *l = &m.leases[i];
			if (l->alive && !l->expiring &&
			    l->model_deadline <= now)
				fail("lease %" PRIu64 " due (%" PRIu64
				     " <= %" PRIu64 ") but not chosen",
				     l->id, l->model_deadline, now);
		}
	if (n > 0 && m.n_props < MAX_PROPS) {
		struct prop *p = &m.props[m.n_props++];
		memcpy(p->ids, ids, n * sizeof(ids[0]));
		p->n = n;
		p->member = m.leader;
		p->term = m.term;
	} else {
		/* Cannot propose now: put back. */
		for (size_t i = 0; i < n; i++) {
			lease_table_retry(t, ids[i]);
			find(ids[i])->expiring = false;
		}
	}
}

/* A proposal completes: committed and applied, or failed (then the
 * leader that made it, if it still leads, retries its ids). */
static void step_proposal_done(void)
{
	if (m.n_props == 0)
		return;
	size_t i = below(m.n_props);
	struct prop p = m.props[i];
	m.props[i] = m.props[--m.n_props];
	bool current = p.member == m.leader && p.term == m.term;
	if (current && below(4) == 0) {
		for (size_t j = 0; j < p.n; j++) {
			if (lease_table_retry(m.table[m.leader], p.ids[j]) != 0)
				continue;
			find(p.ids[j])->expiring = false;
		}
		return;
	}
	if (!current)
		fail("a deposed leader's proposal outlived the change");
	for (size_t j = 0; j < p.n; j++) {
		struct mlease *l = find(p.ids[j]);
		if (l->alive) {
			end_lease(l, true);
			m.expired++;
		}
	}
}

/* Leadership moves (or is lost, or regained by the same member in a new
 * term). The deposed leader's proposals either were committed by the new
 * leader's first entry (before it serves any read) or are lost; reads in
 * flight fail. */
static void step_leader_change(void)
{
	for (size_t i = 0; i < m.n_props; i++) {
		if (below(2) == 0)
			continue;
		for (size_t j = 0; j < m.props[i].n; j++) {
			struct mlease *l = find(m.props[i].ids[j]);
			if (l->alive) {
				end_lease(l, true);
				m.expired++;
			}
		}
	}
	m.n_props = 0;
	m.n_kas = 0;
	if (m.leader >= 0)
		lease_table_clear(m.table[m.leader]);
	for (size_t i = 0; i < m.n_leases; i++) {
		m.leases[i].model_deadline = 0;
		m.leases[i].expiring = false;
	}
	m.term++;
	/* An election takes a while; sometimes no leader for long. */
	m.real += below(3000);
	if (below(8) == 0) {
		m.leader = -1;
		return;
	}
	m.leader = (int)below(MEMBERS);
	struct lease_table *t = m.table[m.leader];
	if (lease_table_count(t) != 0)
		fail("a follower's table holds leases");
	/* Becoming leader: every lease of the store gets its full TTL. */
	uint64_t now = clock_of(m.leader);
	for (size_t i = 0; i < m.n_leases; i++) {
		struct mlease *l = &m.leases[i];
		if (!l->alive)
			continue;
		if (planted)
			now = clock_of(m.leader) - l->ttl_s * 500;
		if (lease_table_grant(t, l->id, l->ttl_s, now) != 0)
			fail("promote: grant %" PRIu64 " refused", l->id);
		l->model_deadline = now + l->ttl_s * 1000;
	}
}

static void check_all(void)
{
	for (int i = 0; i < MEMBERS; i++)
		check_table(i);
	if (m.leader < 0)
		return;
	struct lease_table *t = m.table[m.leader];
	uint64_t now = clock_of(m.leader);
	size_t alive = 0;
	for (size_t i = 0; i < m.n_leases; i++) {
		struct mlease *l = &m.leases[i];
		if (!l->alive)
			continue;
		alive++;
		struct lease_table_entry e;
		if (lease_table_get(t, l->id, &e) != 0)
			fail("lease %" PRIu64 " missing on the leader", l->id);
		if (e.expiring != l->expiring ||
		    (!e.expiring && e.deadline_ms != l->model_deadline))
			fail("lease %" PRIu64 ": deadline %" PRIu64
			     " (expiring %d), model %" PRIu64 " (%d)",
			     l->id, e.deadline_ms, e.expiring,
			     l->model_deadline, l->expiring);
		int64_t left = lease_table_remaining_ms(t, l->id, now);
		int64_t want = l->expiring || l->model_deadline <= now
				   ? 0
				   : (int64_t)(l->model_deadline - now);
		if (left != want)
			fail("lease %" PRIu64 ": remaining %" PRId64
			     ", model %" PRId64,
			     l->id, left, want);
	}
	if (lease_table_count(t) != alive)
		fail("the leader holds %zu leases, the store %zu",
		     lease_table_count(t), alive);
}

static void run_seed(uint64_t seed, unsigned steps)
{
	seed_now = seed;
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	memset(&m, 0, sizeof(m));
	m.next_id = 1 + below(1000);
	for (int i = 0; i < MEMBERS; i++) {
		/* Monotonic clocks start anywhere (boot times differ). */
		m.offset[i] = below(1ull << 40);
		m.table[i] = lease_table_new();
		if (m.table[i] == NULL)
			fail("out of memory");
	}
	m.leader = 0;
	for (unsigned s = 0; s < steps; s++) {
		switch (below(16)) {
		case 0:
		case 1:
		case 2:
			step_time();
			break;
		case 3:
		case 4:
			step_grant();
			break;
		case 5:
			step_revoke();
			break;
		case 6:
		case 7:
		case 8:
			step_keepalive_arrives();
			break;
		case 9:
		case 10:
		case 11:
			step_keepalive_answered();
			break;
		case 12:
		case 13:
			step_timer();
			break;
		case 14:
			step_proposal_done();
			break;
		default:
			if (below(4) == 0)
				step_leader_change();
			else
				step_timer();
			break;
		}
		check_all();
	}
	for (int i = 0; i < MEMBERS; i++)
		lease_table_free(m.table[i]);
}

/* Runs @seed with the planted bug: whether a check caught it. */
static unsigned planted_run(uint64_t seed, unsigned steps)
{
	planted = true;
	if (setjmp(planted_caught) == 0) {
		run_seed(seed, steps);
		planted = false;
		return 0;
	}
	planted = false;
	for (int i = 0; i < MEMBERS; i++)
		lease_table_free(m.table[i]);
	return 1;
}

/* ---- fixed cases ---- */

static void expect(bool ok, const char *what)
{
	if (!ok)
		fail("%s", what);
}

static void unit_cases(void)
{
	seed_now = 0;
	struct lease_table *t = lease_table_new();
	expect(t != NULL, "new");
	expect(lease_table_grant(t, 0, 5, 0) == LEASE_TABLE_EINVAL, "id 0");
	expect(lease_table_grant(t, 1, 0, 0) == LEASE_TABLE_EINVAL, "ttl 0");
	expect(lease_table_grant(t, 7, 5, 1000) == 0, "grant");
	/* A later grant of a known lease never shortens it. */
	expect(lease_table_grant(t, 7, 5, 500) == 0, "regrant");
	uint64_t next = 0;
	expect(lease_table_next(t, &next) && next == 6000, "next");
	/* A keepalive that arrived at 3000 keeps it until 8000 at least. */
	expect(lease_table_keepalive(t, 7, 3000, 4000) == 0, "keepalive");
	expect(lease_table_remaining_ms(t, 7, 4000) == 4000, "remaining");
	uint64_t ids[4];
	expect(lease_table_due(t, 7999, ids, 4) == 0, "not due");
	/* Past its deadline a keepalive is refused even before the timer. */
	expect(lease_table_keepalive(t, 7, 7000, 8000) == LEASE_TABLE_EEXPIRED,
	       "past deadline");
	expect(lease_table_due(t, 8000, ids, 4) == 1 && ids[0] == 7, "due");
	expect(lease_table_due(t, 9000, ids, 4) == 0, "chosen once");
	expect(lease_table_keepalive(t, 7, 8000, 8000) == LEASE_TABLE_EEXPIRED,
	       "expiring");
	expect(lease_table_retry(t, 7) == 0, "retry");
	expect(lease_table_due(t, 9000, ids, 4) == 1, "due again");
	expect(lease_table_remove(t, 7) == 0, "remove");
	expect(lease_table_keepalive(t, 7, 9000, 9000) == LEASE_TABLE_ENOTFOUND,
	       "removed");
	/* Many leases: the heap gives them in deadline order. */
	for (uint64_t id = 1; id <= 100000; id++)
		expect(lease_table_grant(t, id * 7919 % 100003 + 1, 1 + id % 50,
					 id % 1000) == 0,
		       "many");
	char why[128];
	expect(lease_table_check(t, why, sizeof(why)) == 0, why);
	uint64_t last = 0, got = 0;
	for (;;) {
		size_t n = lease_table_due(t, UINT64_MAX - 1, ids, 4);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			struct lease_table_entry e;
			expect(lease_table_get(t, ids[i], &e) == 0, "get");
			expect(e.deadline_ms >= last, "order");
			last = e.deadline_ms;
			expect(lease_table_remove(t, ids[i]) == 0, "rm");
			got++;
		}
	}
	expect(got == 100000 && lease_table_count(t) == 0, "all due");
	expect(lease_table_check(t, why, sizeof(why)) == 0, why);
	lease_table_free(t);
}

int main(int argc, char **argv)
{
	uint64_t first = 1, last = 200;
	unsigned steps = 3000;
	if (argc > 1)
		first = last = strtoull(argv[1], NULL, 10);
	if (argc > 2)
		steps = (unsigned)strtoul(argv[2], NULL, 10);
	unit_cases();
	/* The planted bug is caught within a few seeds. */
	unsigned caught = 0;
	for (uint64_t seed = 1; seed <= 20; seed++)
		caught += planted_run(seed, steps);
	if (caught == 0)
		fail("the planted bug (a new leader shortening leases) was not "
		     "caught");
	uint64_t promises = 0, expired = 0;
	for (uint64_t seed = first; seed <= last; seed++) {
		run_seed(seed, steps);
		promises += m.promises;
		expired += m.expired;
	}
	/* The schedule must exercise both sides of the promise. */
	if (argc == 1 && (promises < 1000 || expired < 1000))
		fail("weak schedule: %" PRIu64 " keepalives kept, %" PRIu64
		     " expiries",
		     promises, expired);
	printf("lease table: %" PRIu64 " seeds passed (%" PRIu64
	       " keepalives kept, %" PRIu64
	       " expiries); the planted bug caught in %u of 20\n",
	       last - first + 1, promises, expired, caught);
	return 0;
}
