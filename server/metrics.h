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

#include "kvdraft_node.h"

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
	ROUTE_WATCH,		/* opening a watch stream */
	ROUTE_TXN,		/* POST /v1/txn */
	ROUTE_KV_DELETE_PREFIX, /* DELETE /v1/kv?prefix=P */
	ROUTE_LEASES,		/* /v1/leases and below */
	ROUTE_AUTH,		/* /v1/auth and below */
	ROUTE_UI,		/* the status page: /, /ui and /ui/... */
	ROUTE_CLUSTER,		/* GET /v1/cluster, the page's view */
	ROUTE_OTHER,		/* unknown paths and wrong methods */
	ROUTE_COUNT
};

/* Latency histograms are libkvdraft's (kvdraft_histogram_bound()). */
#define METRICS_BUCKETS KVDRAFT_HISTOGRAM_BUCKETS
/* HTTP statuses counted one by one; anything else counts as "other". */
#define METRICS_STATUS_SLOTS 15

/* kvd's own counters: the answered client requests. The node's (raft,
 * WAL, applies, peers, snapshots) come from kvdraft_node_stats(). */
struct metrics {
	uint64_t http[ROUTE_COUNT][METRICS_STATUS_SLOTS];
	struct kvdraft_histogram request_seconds[ROUTE_COUNT];
	/* Requests refused by auth (§1.8): [0] 401, [1] 403. */
	uint64_t auth_failures[2];
	/* One batch's LMDB write transaction, commit included. */
	struct kvdraft_histogram store_commit_seconds;
	double start_time; /* Unix time the process started */
};

/* Counts one request refused by auth with @status (401 or 403), beside
 * its metrics_http(). */
void metrics_auth_failure(struct metrics *m, int status);

/* Counts one answered request of @route with @status taking @seconds. */
void metrics_http(struct metrics *m, enum metrics_route route, int status,
		  double seconds);

/* Appends every metric: the node's gauges and counters of @s (kvd_raft_*,
 * kvd_pending_requests, kvd_store_full, kvd_apply_backlog_bytes,
 * kvd_wal_*, kvd_peer_*, kvd_snapshot_*, ...) and the requests of @m. */
void metrics_render(const struct metrics *m, const struct kvdraft_node_stats *s,
		    struct evbuffer *out);

/* A labelled histogram in parts: HELP and TYPE once, then the samples of
 * each value of label @label. */
void metrics_write_histogram_header(struct evbuffer *out, const char *name,
				    const char *help);
void metrics_write_histogram_samples(struct evbuffer *out, const char *name,
				     const char *label, const char *value,
				     const struct kvdraft_histogram *h);

/* Appends a histogram @h without labels: HELP, TYPE and its samples. */
void metrics_write_histogram(struct evbuffer *out, const char *name,
			     const char *help,
			     const struct kvdraft_histogram *h);

/* Appends one "# HELP, "# TYPE" and sample line; @type is "counter" or
 * "gauge". */
void metrics_write_value(struct evbuffer *out, const char *name,
			 const char *type, const char *help, double value);

#endif /* SERVER_METRICS_H_ */
