/* core_pingpong.c - three libkvdraft cores in one process, wired by hand.
 *
 * The smallest own-IO user of the core (docs/LIBRARY.md walks through it):
 * the "network" is a queue of copied messages, "stable storage" is each
 * member's in-memory log and hard state, the "state machine" remembers the
 * last command applied. It ticks until a leader is elected, proposes one
 * command there, and carries out every ready in the order raft.h's rules
 * ask, until all three members applied the command. Prints one line per
 * member and exits 0, or says what went wrong and exits 1.
 *
 * Build: cc core_pingpong.c $(pkg-config --cflags --libs kvdraft)
 */
#include <kvdraft/raft.h>
#include <kvdraft/version.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N	  3
#define MAX_MSGS  4096
#define MAX_ROUND 10000

struct member {
	struct raft *r;
	struct raft_entry log[256]; /* "stable" log: index i at log[i - 1] */
	size_t n_log;
	struct raft_hard_state hs; /* "stable" hard state */
	char applied_cmd[64];	   /* the state machine */
	raft_index applied;
};

static struct member m[N];
static struct raft_msg queue[MAX_MSGS]; /* deep copies, owned here */
static size_t n_queue;

static void die(const char *what)
{
	fprintf(stderr, "core_pingpong: %s\n", what);
	exit(1);
}

/* The ready's memory is the core's until raft_advance(): keep copies. */
static void copy_entry(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = malloc(src->len + 1);
	if (!dst->data)
		die("out of memory");
	if (src->len)
		memcpy(dst->data, src->data, src->len);
}

static void post(const struct raft_msg *msg)
{
	if (n_queue == MAX_MSGS)
		die("message queue full");
	struct raft_msg *q = &queue[n_queue++];
	*q = *msg;
	q->entries = calloc(msg->n_entries + 1, sizeof(*q->entries));
	if (!q->entries)
		die("out of memory");
	for (size_t i = 0; i < msg->n_entries; i++)
		copy_entry(&q->entries[i], &msg->entries[i]);
}

static void free_msg(struct raft_msg *q)
{
	for (size_t i = 0; i < q->n_entries; i++)
		free(q->entries[i].data);
	free(q->entries);
}

/* Rule 1: drop a conflicting suffix, then append (copies). */
static void store_entries(struct member *mb, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];
		if (e->index == 0 ||
		    e->index > sizeof(mb->log) / sizeof(mb->log[0]))
			die("log full");
		while (mb->n_log >= e->index)
			free(mb->log[--mb->n_log].data);
		copy_entry(&mb->log[mb->n_log++], e);
	}
}

/* Carries out every ready of one member, in raft.h's order. */
static void handle_readies(struct member *mb)
{
	while (raft_has_ready(mb->r)) {
		struct raft_ready rd;
		raft_ready(mb->r, &rd);
		if (rd.has_snapshot)
			die("a snapshot (this example never compacts)");
		/* Rule 2: these may leave before the write below. */
		for (size_t i = 0; i < rd.n_msgs; i++)
			post(&rd.msgs[i]);
		/* Rule 1: entries, then the hard state ("durable" at once). */
		store_entries(mb, &rd);
		if (rd.hs_changed)
			mb->hs = rd.hs;
		/* Rule 3: only now, after the write, vote grants and acks. */
		for (size_t i = 0; i < rd.n_msgs_after_persist; i++)
			post(&rd.msgs_after_persist[i]);
		/* Rule 5: apply committed entries in order. */
		for (size_t i = 0; i < rd.n_committed; i++) {
			const struct raft_entry *e = &rd.committed[i];
			if (e->type == RAFT_ENTRY_NORMAL) {
				size_t n = e->len < sizeof(mb->applied_cmd) - 1
					       ? e->len
					       : sizeof(mb->applied_cmd) - 1;
				memcpy(mb->applied_cmd, e->data, n);
				mb->applied_cmd[n] = '\0';
			}
			mb->applied = e->index;
		}
		if (rd.soft_changed && rd.role == RAFT_LEADER)
			printf("member %llu leads in term %llu\n",
			       (unsigned long long)(mb - m + 1),
			       (unsigned long long)mb->hs.term);
		/* Nothing else may be called between ready and advance. */
		raft_advance(mb->r, &rd);
		/* Rule 4: report what is durable; rule 5: what is applied. */
		if (rd.n_entries) {
			const struct raft_entry *l = &mb->log[mb->n_log - 1];
			raft_persisted(mb->r, l->index, l->term);
		}
		if (rd.n_committed)
			raft_applied(mb->r, mb->applied);
	}
}

int main(void)
{
	static const raft_id voters[N] = {1, 2, 3};
	const char cmd[] = "hello";
	printf("libkvdraft %s (headers %s)\n", kvdraft_version(),
	       KVDRAFT_VERSION_STRING);
	for (int i = 0; i < N; i++) {
		struct raft_options o = {
		    .id = (raft_id)i + 1,
		    .voters = voters,
		    .n_voters = N,
		    .election_ticks = 10,
		    .heartbeat_ticks = 2,
		    .seed = 42 + (uint64_t)i, /* differs: no split votes */
		    .pre_vote = true,
		    .check_quorum = true,
		};
		int rc = raft_new(&o, NULL, &m[i].r);
		if (rc != RAFT_OK)
			die(raft_strerror(rc));
	}
	bool proposed = false;
	for (int round = 0; round < MAX_ROUND; round++) {
		/* Time passes: one tick each, then every message in flight
		 * is delivered (stepping copies it; the copy is freed). */
		for (int i = 0; i < N; i++)
			raft_tick(m[i].r);
		for (int i = 0; i < N; i++)
			handle_readies(&m[i]);
		while (n_queue) {
			size_t n = n_queue;
			static struct raft_msg batch[MAX_MSGS];
			memcpy(batch, queue, n * sizeof(batch[0]));
			n_queue = 0;
			for (size_t k = 0; k < n; k++) {
				raft_id to = batch[k].to;
				/* A refused message (RAFT_ERANGE) is dropped,
				 * as a network could have dropped it. */
				if (to >= 1 && to <= N) {
					raft_step(m[to - 1].r, &batch[k]);
					handle_readies(&m[to - 1]);
				}
				free_msg(&batch[k]);
			}
		}
		for (int i = 0; i < N && !proposed; i++) {
			if (raft_role(m[i].r) != RAFT_LEADER)
				continue;
			raft_index idx;
			int rc = raft_propose(m[i].r, cmd, strlen(cmd), &idx);
			if (rc != RAFT_OK)
				die(raft_strerror(rc));
			printf("proposed \"%s\" at index %llu on member %d\n",
			       cmd, (unsigned long long)idx, i + 1);
			proposed = true;
			handle_readies(&m[i]);
		}
		int done = 0;
		for (int i = 0; i < N; i++)
			done += strcmp(m[i].applied_cmd, cmd) == 0;
		if (done == N)
			break;
	}
	int ok = 0;
	for (int i = 0; i < N; i++) {
		printf("member %d applied up to %llu: %s\n", i + 1,
		       (unsigned long long)m[i].applied,
		       m[i].applied_cmd[0] ? m[i].applied_cmd : "(nothing)");
		ok += strcmp(m[i].applied_cmd, cmd) == 0;
		raft_free(m[i].r);
		for (size_t k = 0; k < m[i].n_log; k++)
			free(m[i].log[k].data);
	}
	if (ok != N)
		die("not every member applied the command");
	printf("all %d members applied \"%s\"\n", N, cmd);
	return 0;
}
