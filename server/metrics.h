/* metrics.h - kvd's counters and latency histograms, and their Prometheus
 * text rendering
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Not thread-safe: only the event-loop thread touches a struct metrics
 * (the WAL writer thread reports its fsync times back to the loop).
 */
#ifndef SERVER_METRICS_H_
#define SERVER_METRICS_H_

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

/* Appends one "# HELP", "# TYPE" and sample line; @type is "counter" or
 * "gauge". */
void metrics_write_value(struct evbuffer *out, const char *name,
			 const char *type, const char *help, double value);

#endif /* SERVER_METRICS_H_ */
