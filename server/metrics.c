/* metrics.c - counters, histograms and the Prometheus text rendering. */
#include "metrics.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const int status_codes[METRICS_STATUS_SLOTS - 1] = {
    200, 204, 400, 401, 403, 404, 405, 409, 410, 412, 413, 500, 503, 504};

static const char *const route_names[ROUTE_COUNT] = {
    "kv_get",		"kv_put",  "kv_delete", "kv_list", "status",  "members",
    "leader_transfer",	"healthz", "readyz",	"metrics", "watch",   "txn",
    "kv_delete_prefix", "leases",  "auth",	"ui",	   "cluster", "other"};

void metrics_auth_failure(struct metrics *m, int status)
{
	m->auth_failures[status == 403 ? 1 : 0]++;
}

void metrics_http(struct metrics *m, enum metrics_route route, int status,
		  double seconds)
{
	int slot = METRICS_STATUS_SLOTS - 1;
	for (int i = 0; i < METRICS_STATUS_SLOTS - 1; i++)
		if (status_codes[i] == status)
			slot = i;
	m->http[route][slot]++;
	kvdraft_histogram_observe(&m->request_seconds[route], seconds);
}

void metrics_write_value(struct evbuffer *out, const char *name,
			 const char *type, const char *help, double value)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name,
			    help, name, type, name, value);
}

static void write_counter(struct evbuffer *out, const char *name,
			  const char *help, uint64_t v)
{
	evbuffer_add_printf(out,
			    "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n",
			    name, help, name, name, v);
}

/* The sample lines of one histogram (no HELP/TYPE) with the label
 * @label="@value"; @label NULL for a histogram without labels. */
static void write_hist_label(struct evbuffer *out, const char *name,
			     const char *label, const char *value,
			     const struct kvdraft_histogram *h)
{
	char lbl[96] = "", only[96] = "";
	if (label != NULL) {
		snprintf(lbl, sizeof(lbl), "%s=\"%s\",", label, value);
		snprintf(only, sizeof(only), "{%s=\"%s\"}", label, value);
	}
	uint64_t cum = 0;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(out, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n",
				    name, lbl,
				    kvdraft_histogram_bound((unsigned)i), cum);
	}
	cum += h->inf;
	evbuffer_add_printf(out, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name,
			    lbl, cum);
	evbuffer_add_printf(out, "%s_sum%s %.9f\n", name, only, h->sum);
	evbuffer_add_printf(out, "%s_count%s %" PRIu64 "\n", name, only,
			    h->count);
}

static void write_hist(struct evbuffer *out, const char *name,
		       const char *route, const struct kvdraft_histogram *h)
{
	write_hist_label(out, name, route != NULL ? "route" : NULL, route, h);
}

/* The node's counters, kvd's requests, then the latency histograms. */
static void render_counters(const struct metrics *m,
			    const struct kvdraft_node_stats *n,
			    struct evbuffer *out)
{
	write_counter(out, "kvd_proposals_total", "Writes proposed to raft.",
		      n->proposals_total);
	write_counter(out, "kvd_proposals_failed_total",
		      "Writes refused by raft, timed out or lost.",
		      n->proposals_failed);
	write_counter(out, "kvd_reads_total", "Linearizable reads requested.",
		      n->reads_total);
	write_counter(out, "kvd_reads_failed_total",
		      "Linearizable reads that failed or timed out.",
		      n->reads_failed);
	write_counter(out, "kvd_read_rounds_total",
		      "Heartbeat rounds this member started as leader to "
		      "confirm linearizable reads.",
		      n->read_rounds);
	write_counter(out, "kvd_reads_lease_total",
		      "Linearizable reads this member served as leader from "
		      "its lease, with no round.",
		      n->lease_reads);
	write_counter(out, "kvd_wal_syncs_total",
		      "WAL group commits (one fdatasync each).", n->wal_syncs);
	write_counter(out, "kvd_wal_entries_total",
		      "Entries written to the WAL.", n->wal_entries);
	write_counter(out, "kvd_apply_batches_total",
		      "LMDB transactions applying committed entries.",
		      n->apply_batches);
	write_counter(out, "kvd_applied_entries_total",
		      "Committed entries applied to LMDB.", n->applied_entries);
	write_counter(out, "kvd_raft_ready_total", "Raft readies processed.",
		      n->ready_batches);
	write_counter(out, "kvd_leader_changes_total",
		      "Times the known leader changed.", n->leader_changes);
	/* As etcd's etcd_server_slow_apply_total and its "slow fdatasync"
	 * warning: the member also logs these (one line per 10 s at most). */
	write_counter(out, "kvd_slow_applies_total",
		      "Batches of committed entries whose apply took over "
		      "100 ms.",
		      n->slow_applies);
	write_counter(out, "kvd_wal_slow_fsyncs_total",
		      "WAL group commits (write + fdatasync) that took over "
		      "1 s.",
		      n->slow_fsyncs);

	evbuffer_add_printf(out,
			    "# HELP kvd_http_requests_total Answered client "
			    "requests by route and HTTP status code.\n"
			    "# TYPE kvd_http_requests_total counter\n");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		for (int s = 0; s < METRICS_STATUS_SLOTS; s++) {
			if (m->http[r][s] == 0)
				continue;
			if (s < METRICS_STATUS_SLOTS - 1)
				evbuffer_add_printf(
				    out,
				    "kvd_http_requests_total{route=\"%s\","
				    "code=\"%d\"} %" PRIu64 "\n",
				    route_names[r], status_codes[s],
				    m->http[r][s]);
			else
				evbuffer_add_printf(
				    out,
				    "kvd_http_requests_total{route=\"%s\","
				    "code=\"other\"} %" PRIu64 "\n",
				    route_names[r], m->http[r][s]);
		}
	}

	evbuffer_add_printf(
	    out,
	    "# HELP kvd_auth_failures_total Client requests "
	    "refused by auth: 401 without a valid token, 403 "
	    "for a role or prefix that does not allow them.\n"
	    "# TYPE kvd_auth_failures_total counter\n"
	    "kvd_auth_failures_total{code=\"401\"} %" PRIu64 "\n"
	    "kvd_auth_failures_total{code=\"403\"} %" PRIu64 "\n",
	    m->auth_failures[0], m->auth_failures[1]);

	evbuffer_add_printf(out,
			    "# HELP kvd_http_request_duration_seconds Client "
			    "request latency by route.\n"
			    "# TYPE kvd_http_request_duration_seconds "
			    "histogram\n");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		write_hist(out, "kvd_http_request_duration_seconds",
			   route_names[r], &m->request_seconds[r]);
	}
	evbuffer_add_printf(out, "# HELP kvd_wal_fsync_duration_seconds WAL "
				 "group commit (write + fdatasync) latency.\n"
				 "# TYPE kvd_wal_fsync_duration_seconds "
				 "histogram\n");
	write_hist(out, "kvd_wal_fsync_duration_seconds", NULL,
		   &n->wal_fsync_seconds);
	evbuffer_add_printf(out, "# HELP kvd_apply_duration_seconds LMDB apply "
				 "transaction latency.\n"
				 "# TYPE kvd_apply_duration_seconds "
				 "histogram\n");
	write_hist(out, "kvd_apply_duration_seconds", NULL, &n->apply_seconds);
}

static void render_node(const struct kvdraft_node_stats *s,
			struct evbuffer *out)
{
	metrics_write_value(out, "kvd_raft_term", "gauge", "Current raft term.",
			    (double)s->term);
	metrics_write_value(out, "kvd_raft_commit_index", "gauge",
			    "Highest index known committed.",
			    (double)s->commit);
	metrics_write_value(out, "kvd_raft_applied_index", "gauge",
			    "Highest index applied to the store.",
			    (double)s->applied);
	metrics_write_value(out, "kvd_raft_last_index", "gauge",
			    "Last index in the log.", (double)s->last_index);
	metrics_write_value(out, "kvd_raft_persisted_index", "gauge",
			    "Last index known durable here.",
			    (double)s->persisted);
	metrics_write_value(out, "kvd_raft_role", "gauge",
			    "0 follower, 1 precandidate, 2 candidate, "
			    "3 leader.",
			    (double)s->role);
	metrics_write_value(out, "kvd_raft_is_leader", "gauge",
			    "1 when this member leads.",
			    s->is_leader ? 1.0 : 0.0);
	metrics_write_value(out, "kvd_raft_leader_id", "gauge",
			    "Id of the known leader, 0 when unknown.",
			    (double)s->leader);
	metrics_write_value(out, "kvd_raft_pending_reads", "gauge",
			    "Reads waiting for leader confirmation.",
			    (double)s->pending_reads);
	metrics_write_value(out, "kvd_pending_requests", "gauge",
			    "Client requests waiting for the cluster.",
			    (double)s->pending_requests);
	metrics_write_value(out, "kvd_store_full", "gauge",
			    "1 while the store cannot take writes (disk "
			    "full): committed entries wait in memory.",
			    s->store_full ? 1.0 : 0.0);
	metrics_write_value(out, "kvd_apply_backlog_bytes", "gauge",
			    "Committed entries waiting for the store, in "
			    "bytes.",
			    (double)s->apply_backlog_bytes);
	metrics_write_value(out, "kvd_wal_jobs_inflight", "gauge",
			    "Readies handed to the WAL writer, not yet "
			    "durable.",
			    (double)s->wal_jobs_inflight);
	metrics_write_value(out, "kvd_wal_jobs_total", "counter",
			    "Readies written by the WAL writer.",
			    (double)s->wal_jobs);
	metrics_write_value(out, "kvd_wal_lazy_jobs_total", "counter",
			    "Of those, commit-index-only ones written "
			    "without an fdatasync.",
			    (double)s->wal_lazy_jobs);
	metrics_write_value(out, "kvd_peer_messages_sent_total", "counter",
			    "Raft messages delivered to peers.",
			    (double)s->peer_msgs_sent);
	metrics_write_value(out, "kvd_peer_messages_received_total", "counter",
			    "Raft messages received from peers.",
			    (double)s->peer_msgs_received);
	metrics_write_value(out, "kvd_peer_messages_dropped_total", "counter",
			    "Raft messages dropped (full queue or failed "
			    "POST).",
			    (double)s->peer_msgs_dropped);
	metrics_write_value(out, "kvd_peer_errors_total", "counter",
			    "Failed peer POSTs.", (double)s->peer_errors);
	/* etcd's etcd_server_heartbeat_send_failures_total. */
	metrics_write_value(out, "kvd_heartbeat_send_failures_total", "counter",
			    "Peer request bodies carrying a heartbeat that "
			    "failed, or were dropped before sending.",
			    (double)s->heartbeat_send_failures);
	metrics_write_value(out, "kvd_peer_bytes_sent_total", "counter",
			    "Body bytes delivered to peers.",
			    (double)s->peer_bytes_sent);
	metrics_write_value(out, "kvd_peer_bytes_received_total", "counter",
			    "Body bytes received from peers.",
			    (double)s->peer_bytes_received);
	metrics_write_value(out, "kvd_peer_bad_requests_total", "counter",
			    "Peer requests refused as malformed.",
			    (double)s->peer_bad_requests);
	metrics_write_value(out, "kvd_peer_unauthorized_total", "counter",
			    "Peer requests refused for a missing or wrong "
			    "token.",
			    (double)s->peer_unauthorized);
	metrics_write_value(out, "kvd_peer_proof_failures_total", "counter",
			    "Peer hellos answered without a good proof of "
			    "membership: nothing with the peer token was "
			    "sent to that peer.",
			    (double)s->peer_proof_failures);
	metrics_write_value(out, "kvd_peer_hellos_total", "counter",
			    "Peer hellos this member answered with its proof.",
			    (double)s->peer_hellos_answered);
	metrics_write_value(out, "kvd_peer_hellos_limited_total", "counter",
			    "Peer hellos refused by the rate limit (429).",
			    (double)s->peer_hellos_limited);
	metrics_write_value(out, "kvd_peer_posts_pipelined_total", "counter",
			    "Peer POSTs written while another was in flight "
			    "on the same connection (pipelining to a far "
			    "peer).",
			    (double)s->peer_posts_pipelined);
}

static void render_snapshots(const struct kvdraft_node_stats *s,
			     struct evbuffer *out)
{
	metrics_write_value(out, "kvd_snapshot_index", "gauge",
			    "Index of the newest snapshot (0: none).",
			    (double)s->snapshot_index);
	metrics_write_value(out, "kvd_snapshot_size_bytes", "gauge",
			    "Size of the newest snapshot file.",
			    (double)s->snapshot_size);
	metrics_write_value(out, "kvd_snapshot_last_duration_seconds", "gauge",
			    "Time the last snapshot took (copy, checksum, "
			    "sync).",
			    s->snapshot_last_seconds);
	metrics_write_value(out, "kvd_snapshots_total", "counter",
			    "Snapshots taken.", (double)s->snapshots_taken);
	metrics_write_value(out, "kvd_snapshot_failures_total", "counter",
			    "Snapshots that failed.",
			    (double)s->snapshots_failed);
	metrics_write_value(out, "kvd_snapshot_in_progress", "gauge",
			    "1 while a snapshot is being taken.",
			    s->snapshot_in_progress ? 1.0 : 0.0);
	metrics_write_value(out, "kvd_snapshot_installs_sent_total", "counter",
			    "Snapshots delivered whole to lagging members.",
			    (double)s->snapshot_sends_ok);
	metrics_write_value(out, "kvd_snapshot_install_sends_failed_total",
			    "counter", "Snapshot sends that failed.",
			    (double)s->snapshot_sends_failed);
	metrics_write_value(out, "kvd_snapshot_sent_bytes_total", "counter",
			    "Snapshot bytes the receivers took.",
			    (double)s->snapshot_bytes_sent);
	metrics_write_value(out, "kvd_snapshot_installs_received_total",
			    "counter", "Snapshots received whole and verified.",
			    (double)s->snapshots_received);
	metrics_write_value(out, "kvd_snapshot_received_bytes_total", "counter",
			    "Snapshot bytes received.",
			    (double)s->snapshot_bytes_received);
	metrics_write_value(out, "kvd_snapshot_bad_chunks_total", "counter",
			    "Snapshot chunks refused (checksum, headers, "
			    "not from the leader, no room).",
			    (double)s->snapshot_bad_chunks);
	metrics_write_value(out, "kvd_snapshot_unauthorized_total", "counter",
			    "Snapshot chunks refused for a missing or wrong "
			    "peer token.",
			    (double)s->snapshot_unauthorized);
	metrics_write_value(out, "kvd_snapshot_installs_total", "counter",
			    "Snapshots installed into the store.",
			    (double)s->snapshot_installs);
	metrics_write_value(out, "kvd_snapshot_last_install_seconds", "gauge",
			    "Time the last install took.",
			    s->snapshot_last_install_seconds);
}

void metrics_render(const struct metrics *m, const struct kvdraft_node_stats *s,
		    struct evbuffer *out)
{
	render_node(s, out);
	render_snapshots(s, out);
	render_counters(m, s, out);
}

void metrics_write_histogram_header(struct evbuffer *out, const char *name,
				    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name,
			    help, name);
}

void metrics_write_histogram_samples(struct evbuffer *out, const char *name,
				     const char *label, const char *value,
				     const struct kvdraft_histogram *h)
{
	write_hist_label(out, name, label, value, h);
}

void metrics_write_histogram(struct evbuffer *out, const char *name,
			     const char *help,
			     const struct kvdraft_histogram *h)
{
	metrics_write_histogram_header(out, name, help);
	write_hist_label(out, name, NULL, NULL, h);
}
