/* sim.c - runs the simulated cluster over many seeds; a failing seed
 * prints the invariant it broke and the command line that replays it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"

struct args {
	uint64_t seeds;
	uint64_t first_seed;
	uint64_t steps;
	unsigned nodes;	 /* 0: 3 or 5, chosen by the seed */
	unsigned voters; /* founding voters; 0: chosen by the seed */
	const char *mutation;
	bool verbose;
	bool check_mutations;
};

struct mutation {
	const char *name;
	unsigned raft_bits;
	unsigned sim_bits;
};

static const struct mutation mutations[] = {
    {"commit-old-term", RAFT_MUTATE_COMMIT_OLD_TERM, 0},
    {"read-no-heartbeat", RAFT_MUTATE_READ_NO_HEARTBEAT, 0},
    {"forget-vote", 0, SIM_MUTATE_FORGET_VOTE},
    {"send-undurable-term", RAFT_MUTATE_SEND_UNDURABLE_TERM, 0},
    {"send-before-write", 0, SIM_MUTATE_SEND_BEFORE_WRITE},
};
#define N_MUTATIONS (sizeof(mutations) / sizeof(mutations[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sim [--seeds N] [--steps M] [--seed S | --first-seed S]"
		" [--nodes 3|5]\n"
		"           [--voters V] [--mutation NAME] [--check-mutations]"
		" [--verbose]\n"
		"  --seeds N          run N seeds (default 100)\n"
		"  --first-seed S     start at seed S (default 1)\n"
		"  --seed S           run seed S only\n"
		"  --steps M          steps per seed (default 10000)\n"
		"  --nodes 3|5        cluster size (default: 3 or 5 by seed)\n"
		"  --voters V         founding voters, the others join as "
		"learners\n"
		"                     (default: by seed, 1, 2 or all)\n"
		"  --mutation NAME    plant a bug: commit-old-term, "
		"read-no-heartbeat,\n"
		"                     forget-vote, send-undurable-term,\n"
		"                     send-before-write\n"
		"  --check-mutations  pass only if every mutation is caught "
		"within N seeds\n"
		"  --verbose          print a trace of every step\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->seeds = 100;
	a->first_seed = 1;
	a->steps = 10000;
	bool one_seed = false;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (!strcmp(o, "--verbose")) {
			a->verbose = true;
		} else if (!strcmp(o, "--check-mutations")) {
			a->check_mutations = true;
		} else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!v) {
			fprintf(stderr, "sim: %s needs a value\n", o);
			return -1;
		} else if (!strcmp(o, "--mutation")) {
			a->mutation = v;
			i++;
		} else if (parse_u64(v, &x) != 0) {
			fprintf(stderr, "sim: bad number for %s: %s\n", o, v);
			return -1;
		} else {
			i++;
			if (!strcmp(o, "--seeds") && x > 0) {
				a->seeds = x;
			} else if (!strcmp(o, "--steps") && x > 0) {
				a->steps = x;
			} else if (!strcmp(o, "--seed")) {
				a->first_seed = x;
				one_seed = true;
			} else if (!strcmp(o, "--first-seed")) {
				a->first_seed = x;
			} else if (!strcmp(o, "--nodes") &&
				   (x == 3 || x == 5)) {
				a->nodes = (unsigned)x;
			} else if (!strcmp(o, "--voters") && x >= 1 && x <= 5) {
				a->voters = (unsigned)x;
			} else {
				fprintf(stderr, "sim: bad option %s %s\n", o,
					v);
				return -1;
			}
		}
	}
	if (one_seed)
		a->seeds = 1;
	return 0;
}

/* Accepts "commit-old-term", "commit_old_term" and the enum's name
 * "RAFT_MUTATE_COMMIT_OLD_TERM" alike. */
static const struct mutation *find_mutation(const char *name)
{
	char norm[64];
	size_t n = 0;
	for (; name[n] && n + 1 < sizeof(norm); n++) {
		char ch = name[n];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		norm[n] = ch == '_' ? '-' : ch;
	}
	norm[n] = 0;
	const char *p = norm;
	if (!strncmp(p, "raft-mutate-", 12))
		p += 12;
	else if (!strncmp(p, "sim-mutate-", 11))
		p += 11;
	for (size_t k = 0; k < N_MUTATIONS; k++)
		if (!strcmp(mutations[k].name, p))
			return &mutations[k];
	return NULL;
}

/* Per-seed configuration: everything derives from the seed. */
static void seed_config(uint64_t seed, unsigned nodes, unsigned voters,
			const struct mutation *mut, bool verbose,
			struct sim_config *cfg)
{
	uint64_t h = seed * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	static const size_t append_max[] = {0, 1, 1, 2, 8};
	static const size_t inflight[] = {0, 1, 2, 8};
	/* Read rounds out at once: one at a time, a few, the default,
	 * as many as the reads ask for. */
	static const size_t read_rounds[] = {1, 2, 0, 64};
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = seed;
	cfg->n_nodes = nodes ? nodes : ((h & 1) ? 5 : 3);
	/* Three seeds in eight found the cluster with one voter (two of
	 * them) or two; the others join as learners (a one-member cluster
	 * growing). */
	cfg->n_voters = (h >> 12) % 8 <= 1   ? 1
			: (h >> 12) % 8 == 2 ? 2
					     : cfg->n_nodes;
	if (voters)
		cfg->n_voters = voters;
	if (cfg->n_voters > cfg->n_nodes)
		cfg->n_voters = cfg->n_nodes;
	cfg->election_ticks = 10;
	cfg->heartbeat_ticks = 1 + (unsigned)((h >> 1) & 1);
	cfg->pre_vote = (h >> 2) & 1;
	cfg->check_quorum = (h >> 3) & 1;
	cfg->max_append_entries = append_max[(h >> 4) % 5];
	cfg->max_inflight = inflight[(h >> 8) % 4];
	cfg->max_read_rounds = read_rounds[(h >> 16) % 4];
	/* Half the seeds with CheckQuorum run leader leases, as long as
	 * the simulated drift (one tick either way, cluster.h) allows: the
	 * leader's clock one behind and a voter's one ahead, and each side
	 * a tick of phase. */
	if (cfg->check_quorum && ((h >> 20) & 1))
		cfg->lease_ticks = cfg->election_ticks - 5;
	if (mut) {
		cfg->raft_mutations = mut->raft_bits;
		cfg->sim_mutations = mut->sim_bits;
	}
	cfg->trace = verbose ? stdout : NULL;
}

struct outcome {
	bool failed;
	uint64_t seed;
	unsigned nodes;
	unsigned voters;
	char failure[800];
	struct sim_stats st;
};

/* Runs one seed; returns true when every invariant held. */
static bool run_seed(uint64_t seed, const struct args *a,
		     const struct mutation *mut, struct outcome *out,
		     struct sim_stats *total)
{
	struct sim_config cfg;
	seed_config(seed, a->nodes, a->voters, mut, a->verbose, &cfg);
	struct sim_cluster *c;
	int rc = sim_cluster_new(&cfg, &c);
	if (rc != 0) {
		out->failed = true;
		out->seed = seed;
		out->nodes = cfg.n_nodes;
		out->voters = cfg.n_voters;
		snprintf(out->failure, sizeof(out->failure),
			 "raft_new failed: %s", raft_strerror(rc));
		return false;
	}
	if (a->verbose)
		printf(
		    "seed %" PRIu64 ": %u members (%u founding voters), "
		    "heartbeat %u, "
		    "pre_vote %d, check_quorum %d, max_append_entries %zu, "
		    "max_inflight %zu, max_read_rounds %zu, lease_ticks %u\n",
		    seed, cfg.n_nodes, cfg.n_voters, cfg.heartbeat_ticks,
		    (int)cfg.pre_vote, (int)cfg.check_quorum,
		    cfg.max_append_entries, cfg.max_inflight,
		    cfg.max_read_rounds, cfg.lease_ticks);
	for (uint64_t s = 0; s < a->steps; s++)
		if (!sim_step(c))
			break;
	struct sim_stats st;
	sim_stats(c, &st);
	total->steps += st.steps;
	total->ticks += st.ticks;
	total->delivered += st.delivered;
	total->dropped += st.dropped;
	total->writes += st.writes;
	total->crashes += st.crashes;
	total->elections += st.elections;
	total->proposals += st.proposals;
	total->committed += st.committed;
	total->reads_ok += st.reads_ok;
	total->reads_failed += st.reads_failed;
	total->liveness_checks += st.liveness_checks;
	total->compactions += st.compactions;
	total->config_changes += st.config_changes;
	total->read_rounds_overlapped += st.read_rounds_overlapped;
	if (st.read_rounds_max_out > total->read_rounds_max_out)
		total->read_rounds_max_out = st.read_rounds_max_out;
	if (st.max_tick_events > total->max_tick_events)
		total->max_tick_events = st.max_tick_events;
	total->snapshots += st.snapshots;
	if (st.liveness_max_ticks > total->liveness_max_ticks)
		total->liveness_max_ticks = st.liveness_max_ticks;
	const char *f = sim_failure(c);
	if (f) {
		out->failed = true;
		out->seed = seed;
		out->nodes = cfg.n_nodes;
		out->voters = cfg.n_voters;
		out->st = st;
		snprintf(out->failure, sizeof(out->failure), "%s", f);
	}
	sim_cluster_free(c);
	return f == NULL;
}

static void print_replay(const char *argv0, const struct args *a,
			 const struct outcome *o, const char *mutation)
{
	printf("sim: FAILED seed %" PRIu64 " at step %" PRIu64 " (tick %" PRIu64
	       ")\n"
	       "sim: invariant: %s\n"
	       "sim: replay: %s --seed %" PRIu64 " --steps %" PRIu64
	       " --nodes %u --voters %u%s%s --verbose\n",
	       o->seed, o->st.steps, o->st.ticks, o->failure, argv0, o->seed,
	       a->steps, o->nodes, o->voters, mutation ? " --mutation " : "",
	       mutation ? mutation : "");
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int run_all(const char *argv0, const struct args *a)
{
	const struct mutation *mut = NULL;
	if (a->mutation) {
		mut = find_mutation(a->mutation);
		if (!mut) {
			fprintf(stderr, "sim: unknown mutation %s\n",
				a->mutation);
			return 2;
		}
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct sim_stats total;
	memset(&total, 0, sizeof(total));
	for (uint64_t k = 0; k < a->seeds; k++) {
		struct outcome o;
		memset(&o, 0, sizeof(o));
		if (!run_seed(a->first_seed + k, a, mut, &o, &total)) {
			print_replay(argv0, a, &o, a->mutation);
			return 1;
		}
	}
	printf("sim: %" PRIu64 " seeds x %" PRIu64 " steps passed in %.1f s: "
	       "%" PRIu64 " ticks, %" PRIu64 " messages delivered, %" PRIu64
	       " dropped, %" PRIu64 " disk writes, %" PRIu64
	       " crashes, %" PRIu64 " leaders elected, %" PRIu64
	       " entries committed, %" PRIu64 " reads served (%" PRIu64
	       " failed), %" PRIu64 " compactions, %" PRIu64
	       " snapshots installed, %" PRIu64
	       " liveness checks (slowest %" PRIu64 " ticks), at most %" PRIu64
	       " events in one tick, %" PRIu64 " membership changes, %" PRIu64
	       " read rounds overlapping an earlier one (at most %" PRIu64
	       " out at once)\n",
	       a->seeds, a->steps, elapsed_s(&t0), total.ticks, total.delivered,
	       total.dropped, total.writes, total.crashes, total.elections,
	       total.committed, total.reads_ok, total.reads_failed,
	       total.compactions, total.snapshots, total.liveness_checks,
	       total.liveness_max_ticks, total.max_tick_events,
	       total.config_changes, total.read_rounds_overlapped,
	       total.read_rounds_max_out);
	return 0;
}

/* Each planted bug must make some seed fail: proof that the checks (and
 * the faults that provoke the bug) work. */
static int check_mutations(const char *argv0, const struct args *a)
{
	int rc = 0;
	for (size_t m = 0; m < N_MUTATIONS; m++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct sim_stats total;
		memset(&total, 0, sizeof(total));
		struct outcome o;
		memset(&o, 0, sizeof(o));
		uint64_t k;
		for (k = 0; k < a->seeds; k++)
			if (!run_seed(a->first_seed + k, a, &mutations[m], &o,
				      &total))
				break;
		if (o.failed) {
			printf("sim: mutation %s CAUGHT after %" PRIu64
			       " seeds (%.1f s): %s\n",
			       mutations[m].name, k + 1, elapsed_s(&t0),
			       o.failure);
			printf("sim:   replay: %s --seed %" PRIu64
			       " --steps %" PRIu64
			       " --nodes %u --voters %u --mutation %s"
			       " --verbose\n",
			       argv0, o.seed, a->steps, o.nodes, o.voters,
			       mutations[m].name);
		} else {
			printf("sim: mutation %s NOT caught in %" PRIu64
			       " seeds x %" PRIu64 " steps\n",
			       mutations[m].name, a->seeds, a->steps);
			rc = 1;
		}
		fflush(stdout);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	if (parse_args(argc, argv, &a) != 0) {
		usage(stderr);
		return 2;
	}
	if (a.check_mutations)
		return check_mutations(argv[0], &a);
	return run_all(argv[0], &a);
}
