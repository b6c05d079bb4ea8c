/* script.c - runs the text scenarios of testdata/ on the simulated cluster
 * and compares each command's output with the expected block after it
 * (the format: testdata/README.md). --rewrite (or SIM_REWRITE=1) writes
 * the actual outputs back into the files instead. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

#define MAX_DELIVER 100000 /* deliveries a command makes at most */
#define MAX_ARGS    16
#define MAX_LINE    1024

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "sim-script: out of memory\n");
		exit(2);
	}
	return q;
}

/* --- a growing text buffer --- */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		while (b->n + len + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void buff(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buff(struct buf *b, const char *fmt, ...)
{
	char tmp[MAX_LINE];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* --- one script's run --- */

struct run {
	struct sim_cluster *c;
	unsigned n;
	unsigned election;  /* the election timeout, in ticks */
	bool failure_shown; /* the invariant failure was printed once */
	struct buf out;	    /* the current command's output */
};

/* What a command may change and report: per member up, role, term and
 * the leader it follows. */
struct view {
	bool up[SIM_MAX_NODES + 1];
	enum raft_role role[SIM_MAX_NODES + 1];
	raft_term term[SIM_MAX_NODES + 1];
	raft_id leader[SIM_MAX_NODES + 1];
};

static void take_view(const struct run *r, struct view *v)
{
	memset(v, 0, sizeof(*v));
	for (raft_id i = 1; i <= r->n; i++) {
		v->up[i] = sim_is_up(r->c, i);
		v->role[i] = sim_role(r->c, i);
		v->term[i] = sim_term(r->c, i);
		v->leader[i] = sim_leader_of(r->c, i);
	}
}

/* One line per member whose view changed since @before. */
static void show_changes(struct run *r, const struct view *before)
{
	struct view now;
	take_view(r, &now);
	for (raft_id i = 1; i <= r->n; i++) {
		if (now.up[i] == before->up[i] &&
		    now.role[i] == before->role[i] &&
		    now.term[i] == before->term[i] &&
		    now.leader[i] == before->leader[i])
			continue;
		if (!now.up[i])
			buff(&r->out, "%" PRIu64 " down\n", i);
		else
			buff(&r->out,
			     "%" PRIu64 " %s term=%" PRIu64 " leader=%" PRIu64
			     "\n",
			     i, raft_role_name(now.role[i]), now.term[i],
			     now.leader[i]);
	}
}

/* A message as "1->2 append term=2 index=3 ...": the fields set (not
 * the context: a random number the core picks), and "(lost)" when its
 * receiver is down or the link cut. */
static void show_msg(struct run *r, const struct raft_msg *m, bool lost)
{
	buff(&r->out, "%" PRIu64 "->%" PRIu64 " %s term=%" PRIu64, m->from,
	     m->to, raft_msg_type_name(m->type), m->term);
	if (m->index)
		buff(&r->out, " index=%" PRIu64, m->index);
	if (m->log_term)
		buff(&r->out, " log_term=%" PRIu64, m->log_term);
	if (m->n_entries)
		buff(&r->out, " entries=%zu", m->n_entries);
	if (m->commit)
		buff(&r->out, " commit=%" PRIu64, m->commit);
	if (m->reject)
		buff(&r->out, " reject");
	if (m->hint_index)
		buff(&r->out, " hint_index=%" PRIu64, m->hint_index);
	if (m->hint_term)
		buff(&r->out, " hint_term=%" PRIu64, m->hint_term);
	if (lost)
		buff(&r->out, " (lost)");
	buf_add(&r->out, "\n", 1);
}

/* --- arguments --- */

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* A member id 1..n. */
static bool parse_member(const struct run *r, const char *s, raft_id *out)
{
	uint64_t v;
	if (!parse_u64(s, r->n, &v) || v == 0)
		return false;
	*out = v;
	return true;
}

/* A member id or "*" (any: 0). */
static bool parse_member_any(const struct run *r, const char *s, raft_id *out)
{
	if (s && !strcmp(s, "*")) {
		*out = 0;
		return true;
	}
	return parse_member(r, s, out);
}

static int msg_type_by_name(const char *s)
{
	for (int t = RAFT_MSG_APPEND; t <= RAFT_MSG_SNAPSHOT; t++)
		if (!strcmp(s, raft_msg_type_name(t)))
			return t;
	return -1;
}

/* "vote,vote_resp" -> a bit per type; "" or "*" -> 0 (any). */
static bool parse_types(const char *s, unsigned *mask)
{
	*mask = 0;
	if (!s || !strcmp(s, "*"))
		return true;
	char tmp[MAX_LINE];
	snprintf(tmp, sizeof(tmp), "%s", s);
	for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int type = msg_type_by_name(t);
		if (type < 0)
			return false;
		*mask |= 1u << type;
	}
	return true;
}

/* "key=value" -> value when @a is that key. */
static const char *opt_value(const char *a, const char *key)
{
	size_t n = strlen(key);
	return strncmp(a, key, n) == 0 && a[n] == '=' ? a + n + 1 : NULL;
}

/* --- commands; each returns NULL or an error for the output --- */

struct mutation_name {
	const char *name;
	unsigned raft_bits, sim_bits;
};

static const struct mutation_name mutation_names[] = {
    {"commit-old-term", RAFT_MUTATE_COMMIT_OLD_TERM, 0},
    {"read-no-heartbeat", RAFT_MUTATE_READ_NO_HEARTBEAT, 0},
    {"forget-vote", 0, SIM_MUTATE_FORGET_VOTE},
    {"send-undurable-term", RAFT_MUTATE_SEND_UNDURABLE_TERM, 0},
    {"send-before-write", 0, SIM_MUTATE_SEND_BEFORE_WRITE},
};

static const char *cmd_cluster(struct run *r, int argc, char **argv)
{
	struct sim_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.seed = 42;
	cfg.election_ticks = 10;
	cfg.heartbeat_ticks = 1;
	cfg.scripted = true;
	cfg.trace = getenv("SIM_TRACE") ? stderr : NULL;
	for (int k = 1; k < argc; k++) {
		const char *a = argv[k], *v;
		uint64_t x;
		if (!strcmp(a, "pre-vote")) {
			cfg.pre_vote = true;
		} else if (!strcmp(a, "check-quorum")) {
			cfg.check_quorum = true;
		} else if ((v = opt_value(a, "nodes"))) {
			if (!parse_u64(v, SIM_MAX_NODES, &x) || x == 0)
				return "nodes: 1..7";
			cfg.n_nodes = (unsigned)x;
		} else if ((v = opt_value(a, "voters"))) {
			if (!parse_u64(v, SIM_MAX_NODES, &x))
				return "bad voters";
			cfg.n_voters = (unsigned)x;
		} else if ((v = opt_value(a, "seed"))) {
			if (!parse_u64(v, UINT64_MAX, &x))
				return "bad seed";
			cfg.seed = x;
		} else if ((v = opt_value(a, "election"))) {
			if (!parse_u64(v, 1000, &x) || x < 2)
				return "election: 2..1000 ticks";
			cfg.election_ticks = (unsigned)x;
		} else if ((v = opt_value(a, "heartbeat"))) {
			if (!parse_u64(v, 1000, &x) || x == 0)
				return "heartbeat: 1..1000 ticks";
			cfg.heartbeat_ticks = (unsigned)x;
		} else if ((v = opt_value(a, "max-append"))) {
			if (!parse_u64(v, 1000000, &x))
				return "bad max-append";
			cfg.max_append_entries = (size_t)x;
		} else if ((v = opt_value(a, "mutation"))) {
			size_t m;
			size_t nm =
			    sizeof(mutation_names) / sizeof(mutation_names[0]);
			for (m = 0; m < nm; m++)
				if (!strcmp(v, mutation_names[m].name))
					break;
			if (m == nm)
				return "unknown mutation";
			cfg.raft_mutations |= mutation_names[m].raft_bits;
			cfg.sim_mutations |= mutation_names[m].sim_bits;
		} else {
			return "unknown cluster option";
		}
	}
	if (cfg.n_nodes == 0)
		return "cluster needs nodes=N";
	sim_cluster_free(r->c);
	r->c = NULL;
	r->n = 0;
	r->failure_shown = false;
	int rc = sim_cluster_new(&cfg, &r->c);
	if (rc != 0) {
		r->c = NULL;
		return raft_strerror(rc);
	}
	r->n = cfg.n_nodes;
	r->election = cfg.election_ticks;
	buff(&r->out, "ok\n");
	return NULL;
}

/* tick N|all [times] */
static const char *cmd_tick(struct run *r, int argc, char **argv)
{
	uint64_t times = 1;
	raft_id i = 0;
	if (argc < 2 || argc > 3)
		return "usage: tick N|all [times]";
	if (strcmp(argv[1], "all") && !parse_member(r, argv[1], &i))
		return "bad member";
	if (argc == 3 && (!parse_u64(argv[2], 100000, &times) || times == 0))
		return "bad times";
	for (uint64_t t = 0; t < times; t++) {
		if (i)
			sim_tick_node(r->c, i);
		else
			sim_tick_all(r->c);
	}
	return NULL;
}

static bool campaigning(const struct sim_cluster *c, raft_id i)
{
	enum raft_role role = sim_role(c, i);
	return role == RAFT_PRECANDIDATE || role == RAFT_CANDIDATE;
}

/* Ticks only @i until it starts an election round (its randomized
 * timeout is below twice the election timeout) or leads. */
static void campaign(struct sim_cluster *c, raft_id i, unsigned election)
{
	uint64_t sent = sim_vote_requests(c, i);
	for (unsigned t = 0;
	     t < 2 * election + 1 && sim_vote_requests(c, i) == sent &&
	     sim_role(c, i) != RAFT_LEADER;
	     t++)
		sim_tick_node(c, i);
}

/* campaign N: ticks N alone until it campaigns. */
static const char *cmd_campaign(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: campaign N";
	if (!sim_is_up(r->c, i))
		return "member is down";
	campaign(r->c, i, r->election);
	if (!campaigning(r->c, i) && sim_role(r->c, i) != RAFT_LEADER)
		return "did not campaign";
	return NULL;
}

/* elect N: N campaigns and only election messages are delivered, until
 * it leads (at most 10 rounds). */
static const char *cmd_elect(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: elect N";
	if (!sim_is_up(r->c, i))
		return "member is down";
	for (int round = 0; round < 10 && sim_role(r->c, i) != RAFT_LEADER;
	     round++) {
		campaign(r->c, i, r->election);
		sim_deliver_votes(r->c);
	}
	if (sim_role(r->c, i) != RAFT_LEADER)
		return "not elected";
	return NULL;
}

/* settle N [rounds]: rounds of one tick of N, then every message. */
static const char *cmd_settle(struct run *r, int argc, char **argv)
{
	raft_id i;
	uint64_t rounds = 1;
	if (argc < 2 || argc > 3 || !parse_member(r, argv[1], &i))
		return "usage: settle N [rounds]";
	if (argc == 3 && (!parse_u64(argv[2], 10000, &rounds) || rounds == 0))
		return "bad rounds";
	size_t n = 0;
	for (uint64_t k = 0; k < rounds; k++) {
		sim_tick_node(r->c, i);
		n += sim_deliver_all(r->c, MAX_DELIVER);
	}
	buff(&r->out, "delivered %zu\n", n);
	return NULL;
}

/* run N: N rounds of one tick of every member (the global clock), then
 * every message. */
static const char *cmd_run(struct run *r, int argc, char **argv)
{
	uint64_t rounds;
	if (argc != 2 || !parse_u64(argv[1], 100000, &rounds) || rounds == 0)
		return "usage: run N";
	size_t n = 0;
	for (uint64_t k = 0; k < rounds; k++) {
		sim_tick_all(r->c);
		n += sim_deliver_all(r->c, MAX_DELIVER);
	}
	buff(&r->out, "delivered %zu\n", n);
	return NULL;
}

/* deliver [FROM TO [TYPES]] [n=K] */
static const char *cmd_deliver(struct run *r, int argc, char **argv)
{
	raft_id from = 0, to = 0;
	unsigned mask = 0;
	uint64_t max = MAX_DELIVER;
	if (argc > 1 && opt_value(argv[argc - 1], "n")) {
		if (!parse_u64(opt_value(argv[argc - 1], "n"), MAX_DELIVER,
			       &max) ||
		    max == 0)
			return "bad n";
		argc--;
	}
	if (argc != 1 && argc != 3 && argc != 4)
		return "usage: deliver [FROM TO [TYPES]] [n=K]";
	if (argc >= 3 && (!parse_member_any(r, argv[1], &from) ||
			  !parse_member_any(r, argv[2], &to)))
		return "bad member";
	if (argc == 4 && !parse_types(argv[3], &mask))
		return "bad message type";
	uint64_t n = 0;
	struct raft_msg m;
	bool lost;
	while (n < max && !sim_failure(r->c) &&
	       sim_deliver_types(r->c, from, to, mask, &m, &lost)) {
		show_msg(r, &m, lost);
		n++;
	}
	if (n == 0)
		buff(&r->out, "no message\n");
	return NULL;
}

/* drop [FROM TO [TYPES]] */
static const char *cmd_drop(struct run *r, int argc, char **argv)
{
	raft_id from = 0, to = 0;
	unsigned mask = 0;
	if (argc != 1 && argc != 3 && argc != 4)
		return "usage: drop [FROM TO [TYPES]]";
	if (argc >= 3 && (!parse_member_any(r, argv[1], &from) ||
			  !parse_member_any(r, argv[2], &to)))
		return "bad member";
	if (argc == 4 && !parse_types(argv[3], &mask))
		return "bad message type";
	size_t n = 0;
	if (!mask)
		n = sim_drop(r->c, from, to, 0);
	for (int t = RAFT_MSG_APPEND; t <= RAFT_MSG_SNAPSHOT; t++)
		if (mask & (1u << t))
			n += sim_drop(r->c, from, to, t);
	buff(&r->out, "dropped %zu\n", n);
	return NULL;
}

/* partition 1 2|3: members of different groups cannot reach each other;
 * a member named in no group is cut off from all. */
static const char *cmd_partition(struct run *r, int argc, char **argv)
{
	unsigned group[SIM_MAX_NODES + 1] = {0};
	unsigned g = 1;
	if (argc < 2)
		return "usage: partition A B|C ...";
	for (int k = 1; k < argc; k++) {
		char tmp[MAX_LINE];
		snprintf(tmp, sizeof(tmp), "%s", argv[k]);
		char *p = tmp;
		for (;;) {
			char *bar = strchr(p, '|');
			if (bar)
				*bar = '\0';
			if (*p) {
				raft_id i;
				if (!parse_member(r, p, &i) || group[i])
					return "bad or repeated member";
				group[i] = g;
			}
			if (!bar)
				break;
			g++;
			p = bar + 1;
		}
	}
	sim_heal(r->c);
	for (raft_id a = 1; a <= r->n; a++)
		for (raft_id b = 1; b <= r->n; b++)
			if (a != b && (!group[a] || group[a] != group[b]))
				sim_cut(r->c, a, b, true);
	buff(&r->out, "ok\n");
	return NULL;
}

static const char *cmd_isolate(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: isolate N";
	sim_isolate(r->c, i);
	buff(&r->out, "ok\n");
	return NULL;
}

/* cut A B: messages from A to B are lost (one direction). */
static const char *cmd_cut(struct run *r, int argc, char **argv)
{
	raft_id a, b;
	if (argc != 3 || !parse_member(r, argv[1], &a) ||
	    !parse_member(r, argv[2], &b) || a == b)
		return "usage: cut A B";
	sim_cut(r->c, a, b, true);
	buff(&r->out, "ok\n");
	return NULL;
}

static const char *cmd_heal(struct run *r, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return "usage: heal";
	sim_heal(r->c);
	buff(&r->out, "ok\n");
	return NULL;
}

static const char *cmd_crash(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: crash N";
	if (!sim_is_up(r->c, i))
		return "member is down";
	sim_crash(r->c, i);
	return NULL;
}

static const char *cmd_restart(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: restart N";
	if (sim_is_up(r->c, i))
		return "member is up";
	sim_restart(r->c, i);
	buff(&r->out,
	     "%" PRIu64 " restarted: term=%" PRIu64 " vote=%" PRIu64
	     " commit=%" PRIu64 " applied=%" PRIu64 " last=%" PRIu64 "\n",
	     i, sim_term(r->c, i), sim_vote(r->c, i), sim_commit(r->c, i),
	     sim_applied(r->c, i), sim_last_index(r->c, i));
	return NULL;
}

/* propose N KEY: a write of the next write number to register KEY. */
static const char *cmd_propose(struct run *r, int argc, char **argv)
{
	raft_id i;
	uint64_t key;
	if (argc != 3 || !parse_member(r, argv[1], &i) ||
	    !parse_u64(argv[2], SIM_KEYS - 1, &key))
		return "usage: propose N KEY (KEY 0..3)";
	raft_index idx = 0;
	int rc = sim_propose(r->c, i, (unsigned)key, &idx);
	if (rc != RAFT_OK)
		buff(&r->out, "error: %s\n", raft_strerror(rc));
	else if (idx)
		buff(&r->out, "index %" PRIu64 "\n", idx);
	else
		buff(&r->out, "forwarded\n");
	return NULL;
}

/* read N KEY: a linearizable read (ReadIndex) of register KEY on N. */
static const char *cmd_read(struct run *r, int argc, char **argv)
{
	raft_id i;
	uint64_t key, id;
	if (argc != 3 || !parse_member(r, argv[1], &i) ||
	    !parse_u64(argv[2], SIM_KEYS - 1, &key))
		return "usage: read N KEY (KEY 0..3)";
	int rc = sim_read(r->c, i, (unsigned)key, &id);
	if (rc != RAFT_OK)
		buff(&r->out, "error: %s\n", raft_strerror(rc));
	else
		buff(&r->out, "read %" PRIu64 "\n", id);
	return NULL;
}

/* reads: the state of every read started so far. */
static const char *cmd_reads(struct run *r, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return "usage: reads";
	uint64_t id, n = sim_read_count(r->c);
	for (id = 1; id <= n; id++) {
		uint64_t value;
		raft_index at;
		enum sim_read_state st = sim_read_state(r->c, id);
		if (sim_read_result(r->c, id, &value, &at))
			buff(&r->out,
			     "read %" PRIu64 ": served value=%" PRIu64
			     " applied=%" PRIu64 "\n",
			     id, value, at);
		else
			buff(&r->out, "read %" PRIu64 ": %s\n", id,
			     st == SIM_READ_PENDING ? "pending" : "failed");
	}
	if (id == 1)
		buff(&r->out, "no reads\n");
	return NULL;
}

/* transfer N TO: leader N hands leadership to TO (thesis §3.10). */
static const char *cmd_transfer(struct run *r, int argc, char **argv)
{
	raft_id i, to;
	if (argc != 3 || !parse_member(r, argv[1], &i) ||
	    !parse_member(r, argv[2], &to))
		return "usage: transfer N TO";
	int rc = sim_transfer(r->c, i, to);
	if (rc != RAFT_OK)
		buff(&r->out, "error: %s\n", raft_strerror(rc));
	return NULL;
}

/* compact N [margin]: a snapshot at N's applied index, then the log up
 * to margin entries below it goes. */
static const char *cmd_compact(struct run *r, int argc, char **argv)
{
	raft_id i;
	uint64_t margin = 0;
	if (argc < 2 || argc > 3 || !parse_member(r, argv[1], &i))
		return "usage: compact N [margin]";
	if (argc == 3 && !parse_u64(argv[2], RAFT_INDEX_MAX, &margin))
		return "bad margin";
	int rc = sim_compact(r->c, i, margin);
	if (rc != RAFT_OK)
		buff(&r->out, "error: %s\n", raft_strerror(rc));
	else
		buff(&r->out, "snapshot at %" PRIu64 "\n",
		     sim_snapshot_index(r->c, i));
	return NULL;
}

/* status: one row per member. */
static const char *cmd_status(struct run *r, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return "usage: status";
	for (raft_id i = 1; i <= r->n; i++) {
		if (!sim_is_up(r->c, i)) {
			buff(&r->out, "%" PRIu64 " down\n", i);
			continue;
		}
		buff(&r->out,
		     "%" PRIu64 " %s term=%" PRIu64 " leader=%" PRIu64
		     " vote=%" PRIu64 " commit=%" PRIu64 " applied=%" PRIu64
		     " last=%" PRIu64 " snapshot=%" PRIu64 " kv=",
		     i, raft_role_name(sim_role(r->c, i)), sim_term(r->c, i),
		     sim_leader_of(r->c, i), sim_vote(r->c, i),
		     sim_commit(r->c, i), sim_applied(r->c, i),
		     sim_last_index(r->c, i), sim_snapshot_index(r->c, i));
		for (unsigned k = 0; k < SIM_KEYS; k++)
			buff(&r->out, "%s%" PRIu64, k ? "," : "",
			     sim_value(r->c, i, k));
		buff(&r->out, "\n");
	}
	buff(&r->out, "in flight: %zu\n", sim_in_flight(r->c, 0, 0, 0));
	return NULL;
}

/* log N: the term of each entry N holds ("index:term"). */
static const char *cmd_log(struct run *r, int argc, char **argv)
{
	raft_id i;
	if (argc != 2 || !parse_member(r, argv[1], &i))
		return "usage: log N";
	if (!sim_is_up(r->c, i)) {
		buff(&r->out, "%" PRIu64 " down\n", i);
		return NULL;
	}
	raft_index first = sim_snapshot_index(r->c, i) + 1;
	raft_index last = sim_last_index(r->c, i);
	if (first > last) {
		buff(&r->out, "empty\n");
		return NULL;
	}
	for (raft_index k = first; k <= last; k++)
		buff(&r->out, "%s%" PRIu64 ":%" PRIu64, k > first ? " " : "", k,
		     sim_log_term(r->c, i, k));
	buff(&r->out, "\n");
	return NULL;
}

struct command {
	const char *name;
	const char *(*run)(struct run *r, int argc, char **argv);
	/* Report members whose role, term or leader changed. */
	bool show_changes;
};

static const struct command commands[] = {
    {"cluster", cmd_cluster, false},
    {"tick", cmd_tick, true},
    {"campaign", cmd_campaign, true},
    {"elect", cmd_elect, true},
    {"settle", cmd_settle, true},
    {"run", cmd_run, true},
    {"deliver", cmd_deliver, true},
    {"drop", cmd_drop, false},
    {"partition", cmd_partition, false},
    {"isolate", cmd_isolate, false},
    {"cut", cmd_cut, false},
    {"heal", cmd_heal, false},
    {"crash", cmd_crash, true},
    {"restart", cmd_restart, false},
    {"propose", cmd_propose, true},
    {"read", cmd_read, true},
    {"reads", cmd_reads, false},
    {"transfer", cmd_transfer, true},
    {"compact", cmd_compact, false},
    {"status", cmd_status, false},
    {"log", cmd_log, false},
};

/* Runs one command line; its output (never empty, never a blank line)
 * ends up in r->out. */
static void run_command(struct run *r, const char *line)
{
	char tmp[MAX_LINE];
	char *argv[MAX_ARGS];
	int argc = 0;
	r->out.n = 0;
	buf_add(&r->out, "", 0);
	snprintf(tmp, sizeof(tmp), "%s", line);
	for (char *save = NULL, *t = strtok_r(tmp, " \t", &save);
	     t && argc < MAX_ARGS; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	const struct command *cmd = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (argc > 0 && !strcmp(argv[0], commands[k].name))
			cmd = &commands[k];
	const char *err = NULL;
	if (!cmd) {
		err = "unknown command";
	} else if (!r->c && cmd->run != cmd_cluster) {
		err = "no cluster (start with: cluster nodes=N)";
	} else {
		struct view before;
		if (r->c)
			take_view(r, &before);
		err = cmd->run(r, argc, argv);
		if (!err && cmd->show_changes)
			show_changes(r, &before);
	}
	if (err)
		buff(&r->out, "error: %s\n", err);
	const char *f = r->c ? sim_failure(r->c) : NULL;
	if (f && !r->failure_shown) {
		buff(&r->out, "invariant broken: %s\n", f);
		r->failure_shown = true;
	}
	if (r->out.n == 0)
		buff(&r->out, "ok\n");
}

/* --- files --- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = {0};
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	buf_add(&b, "", 0);
	return b.p;
}

/* Runs the script at @path: returns 0 when every output matched (or was
 * rewritten), 1 when one did not, 2 on a file error. */
static int run_file(const char *path, bool rewrite)
{
	char *text = read_file(path);
	if (!text) {
		fprintf(stderr, "sim-script: %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct run r = {0};
	struct buf out = {0}; /* the file as rewritten */
	int rc = 0;
	size_t lineno = 0;
	char *p = text;
	while (*p) {
		char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *next = eol ? eol + 1 : p + len;
		lineno++;
		/* Blank lines and comments between commands stay as they
		 * are. */
		if (len == 0 || p[0] == '#') {
			buf_add(&out, p, (size_t)(next - p));
			p = next;
			continue;
		}
		char line[MAX_LINE];
		if (len >= sizeof(line)) {
			fprintf(stderr, "%s:%zu: line too long\n", path,
				lineno);
			rc = 2;
			break;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		size_t cmd_line = lineno;
		p = next;
		/* "----", then the expected output up to a blank line. */
		struct buf want = {0};
		buf_add(&want, "", 0);
		bool has_sep =
		    strncmp(p, "----\n", 5) == 0 || strcmp(p, "----") == 0;
		if (has_sep) {
			p += strlen(p) >= 5 ? 5 : 4;
			lineno++;
			while (*p && *p != '\n') {
				char *e = strchr(p, '\n');
				size_t l = e ? (size_t)(e - p) + 1 : strlen(p);
				buf_add(&want, p, l);
				if (!e)
					buf_add(&want, "\n", 1);
				p += l;
				lineno++;
			}
		}
		run_command(&r, line);
		if (strcmp(want.p, r.out.p) != 0 && !rewrite) {
			fprintf(stderr,
				"%s:%zu: %s\n"
				"expected:\n%s"
				"got:\n%s"
				"(rerun with --rewrite or SIM_REWRITE=1 to "
				"take the new output)\n",
				path, cmd_line, line,
				has_sep ? want.p : "(no ---- block)\n",
				r.out.p);
			rc = 1;
		}
		buf_add(&out, line, len);
		buf_add(&out, "\n----\n", 6);
		buf_add(&out, r.out.p, r.out.n);
		free(want.p);
		if (rc && !rewrite)
			break; /* later outputs depend on this one */
	}
	sim_cluster_free(r.c);
	free(r.out.p);
	if (rewrite && rc == 0 && strcmp(out.p ? out.p : "", text) != 0) {
		char tmp_path[4096];
		snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", path);
		FILE *f = fopen(tmp_path, "wb");
		if (!f || fwrite(out.p, 1, out.n, f) != out.n ||
		    fclose(f) != 0 || rename(tmp_path, path) != 0) {
			fprintf(stderr, "sim-script: cannot rewrite %s: %s\n",
				path, strerror(errno));
			rc = 2;
		} else {
			printf("sim-script: rewrote %s\n", path);
		}
	}
	free(out.p);
	free(text);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scripts named: a file, or every *.txt in a directory (sorted). */
static int run_path(const char *path, bool rewrite, unsigned *n_files)
{
	DIR *d = opendir(path);
	if (!d) {
		(*n_files)++;
		return run_file(path, rewrite);
	}
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l > 4 && !strcmp(e->d_name + l - 4, ".txt")) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n] = xrealloc(NULL, strlen(path) + l + 2);
			sprintf(names[n], "%s/%s", path, e->d_name);
			n++;
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		int one = run_file(names[k], rewrite);
		if (one > rc)
			rc = one;
		(*n_files)++;
		free(names[k]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *env = getenv("SIM_REWRITE");
	bool rewrite = env && *env && strcmp(env, "0") != 0;
	int first = 1;
	if (argc > 1 && !strcmp(argv[1], "--rewrite")) {
		rewrite = true;
		first = 2;
	}
	if (first >= argc || !strcmp(argv[first], "-h") ||
	    !strcmp(argv[first], "--help")) {
		fprintf(first >= argc ? stderr : stdout,
			"usage: sim_script [--rewrite] FILE|DIR...\n"
			"  runs each scenario (a DIR: its *.txt files) and "
			"compares every output\n"
			"  with its expected block; --rewrite (or "
			"SIM_REWRITE=1) writes the\n"
			"  actual outputs into the files instead\n");
		return first >= argc ? 2 : 0;
	}
	int rc = 0;
	unsigned n_files = 0;
	for (int k = first; k < argc; k++) {
		int one = run_path(argv[k], rewrite, &n_files);
		if (one > rc)
			rc = one;
	}
	if (rc == 0)
		printf("sim-script: %u scenario files %s\n", n_files,
		       rewrite ? "run (outputs rewritten)" : "passed");
	return rc;
}
