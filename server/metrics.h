/* metrics.h - kvd's counters and latency histograms, and their Prometheus
 * text rendering
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Not thread-safe: only the event-loop thread touches a struct metrics
 * (the WAL writer thread reports its fsync times back to the loop).
 */
#ifndef SERVER_METRICS_H_
#define SERVER_METRICS_H_

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;

/* The public routes, for per-route request counters and latencies. */
enum metrics_route {
	ROUTE_KV_GET = 0,
	ROUTE_KV_PUT,
	ROUTE_KV_DELETE,
	ROUTE_KV_LIST,
	ROUTE_STATUS,
	ROUTE_MEMBERS,
	ROUTE_LEADER_TRANSFER,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_OTHER, /* unknown paths and wrong methods */
	ROUTE_COUNT
};

/* Fixed bucket bounds in seconds (the last, +Inf, is implicit). */
#define METRICS_BUCKETS 16
/* HTTP statuses counted one by one; anything else counts as "other". */
#define METRICS_STATUS_SLOTS 13

struct metrics_hist {
	uint64_t counts[METRICS_BUCKETS]; /* not cumulative */
	uint64_t inf;			  /* above the last bound */
	uint64_t count;
	double sum;
};

struct metrics {
	uint64_t proposals_total;  /* writes handed to raft */
	uint64_t proposals_failed; /* refused by raft, timed out or lost */
	uint64_t reads_total;	   /* linearizable reads asked for */
	uint64_t reads_failed;
	uint64_t wal_syncs;	  /* group commits (one fdatasync each) */
	uint64_t wal_entries;	  /* entries written to the WAL */
	uint64_t apply_batches;	  /* kv_apply transactions */
	uint64_t applied_entries; /* entries applied */
	uint64_t ready_batches;	  /* raft readies processed */
	uint64_t leader_changes;  /* times the known leader changed */
	uint64_t http[ROUTE_COUNT][METRICS_STATUS_SLOTS];
	struct metrics_hist request_seconds[ROUTE_COUNT];
	struct metrics_hist wal_fsync_seconds;
	struct metrics_hist apply_seconds;
};

/* Adds one observation of @seconds to @h. */
void metrics_observe(struct metrics_hist *h, double seconds);

/* Counts one answered request of @route with @status taking @seconds. */
void metrics_http(struct metrics *m, enum metrics_route route, int status,
		  double seconds);

/* Appends every counter and histogram of @m to @out. */
void metrics_render(const struct metrics *m, struct evbuffer *out);

/* The driver's gauges and the transport's counters at one moment
 * (node_render_metrics() fills it from the core, its parts and the
 * transport). */
struct metrics_node {
	uint64_t term, commit, applied, last_index, persisted;
	unsigned role; /* enum raft_role: 0 follower, 1 precandidate,
			* 2 candidate, 3 leader */
	bool is_leader;
	uint64_t leader;	   /* 0: none known */
	uint64_t pending_reads;	   /* in the core, waiting for confirmation */
	uint64_t pending_requests; /* client requests waiting */
	bool store_full;
	uint64_t apply_backlog_bytes;
	uint64_t wal_jobs_inflight;
	bool has_wal_writer; /* the two below are set */
	uint64_t wal_jobs, wal_lazy_jobs;
	uint64_t peer_msgs_sent, peer_msgs_received, peer_msgs_dropped;
	uint64_t peer_errors, peer_bytes_sent, peer_bytes_received;
	uint64_t peer_bad_requests, peer_unauthorized;
};

/* Appends the gauges and counters of @s (kvd_raft_*, kvd_pending_requests,
 * kvd_store_full, kvd_apply_backlog_bytes, kvd_wal_jobs_*, kvd_peer_*). */
void metrics_render_node(const struct metrics_node *s, struct evbuffer *out);

/* Appends one "# HELP, "# TYPE" and sample line; @type is "counter" or
 * "gauge". */
void metrics_write_value(struct evbuffer *out, const char *name,
			 const char *type, const char *help, double value);

#endif /* SERVER_METRICS_H_ */
