/* kvd_metrics.c - kvd's own gauges and counters on /metrics (see
 * kvd_metrics.h; DESIGN.md §1.10). */
#include "kvd_metrics.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>

#include "kv.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "lease_mgr.h"
#include "listener.h"
#include "member_pool.h"
#include "metrics.h"
#include "process_metrics.h"

void kvd_metrics_render(struct kvdraft_node *n, struct evbuffer *out)
{
	struct kvdraft_node_stats st = {.size = sizeof(st)};
	kvdraft_node_stats(n, &st);
	metrics_write_value(out, "kvd_has_leader", "gauge",
			    "1 when this member knows a leader, else 0.",
			    st.leader != 0 ? 1 : 0);
	/* As etcd counts them: the committed and applied log indexes. */
	metrics_write_value(out, "kvd_proposals_committed_total", "counter",
			    "Log entries committed (the commit index).",
			    (double)st.commit);
	metrics_write_value(out, "kvd_proposals_applied_total", "counter",
			    "Log entries applied (the applied index).",
			    (double)st.applied);
	struct kv_stats ks;
	if (kv_app_store(n) != NULL && kv_stats(kv_app_store(n), &ks) == 0) {
		metrics_write_value(out, "kvd_store_size_bytes", "gauge",
				    "Bytes of the LMDB store's pages in use.",
				    (double)ks.used_bytes);
		metrics_write_value(out, "kvd_store_keys", "gauge",
				    "Keys in the store.", (double)ks.keys);
	}
	metrics_write_value(out, "kvd_store_snapshot_waits_total", "counter",
			    "Applies that waited for a snapshot copy to end "
			    "(the store's map too full to grow beside it).",
			    (double)kvd_snapshot_waits(n));
	int64_t leases =
	    kv_app_store(n) != NULL ? kv_lease_count(kv_app_store(n)) : -1;
	if (leases >= 0)
		metrics_write_value(out, "kvd_leases", "gauge",
				    "Leases in the store.", (double)leases);
	if (kvd_leases(n) != NULL) {
		metrics_write_value(
		    out, "kvd_lease_keepalives_total", "counter",
		    "Keepalives this member answered 200 as leader.",
		    (double)lease_mgr_keepalives(kvd_leases(n)));
		metrics_write_value(
		    out, "kvd_lease_expired_total", "counter",
		    "Leases this member ended by expiry as leader.",
		    (double)lease_mgr_expired(kvd_leases(n)));
	}
	if (kvd_client_listener(n) != NULL)
		metrics_write_value(
		    out, "kvd_http_connections_accepted_total", "counter",
		    "Connections the client listener accepted.",
		    (double)listener_accepted(kvd_client_listener(n)));
	if (kvd_member_pool(n) != NULL) {
		struct member_pool_stats ps;
		member_pool_stats(kvd_member_pool(n), &ps);
		metrics_write_value(
		    out, "kvd_member_connections_opened_total", "counter",
		    "Connections this member opened to other members' client "
		    "URLs (relays to the leader, the cluster view).",
		    (double)ps.opened);
		metrics_write_value(
		    out, "kvd_member_connections_reused_total", "counter",
		    "Requests to other members' client URLs sent on an idle "
		    "connection kept from an earlier one.",
		    (double)ps.reused);
	}
	/* Peer streams (POST /raft/stream, docs/FORMAT.md "Peer streams"):
	 * each lane's batches as frames on one long-lived connection. */
	metrics_write_value(out, "kvd_peer_streams_opened_total", "counter",
			    "Peer streams this member opened (answered 200).",
			    (double)st.peer_streams_opened);
	metrics_write_value(out, "kvd_peer_stream_frames_sent_total", "counter",
			    "Batches of peer messages written as frames on "
			    "streams (each a POST otherwise).",
			    (double)st.peer_stream_frames_sent);
	metrics_write_value(out, "kvd_peer_streams_accepted_total", "counter",
			    "Peer streams other members opened to this one.",
			    (double)st.peer_streams_accepted);
	metrics_write_value(out, "kvd_peer_streams_refused_total", "counter",
			    "Peer streams refused for too many open (503).",
			    (double)st.peer_streams_refused);
	metrics_write_value(out, "kvd_peer_streams_open", "gauge",
			    "Peer streams from other members open now.",
			    (double)st.peer_streams_open);
	metrics_write_value(out, "kvd_peer_stream_frames_received_total",
			    "counter",
			    "Batches of peer messages received as frames on "
			    "streams.",
			    (double)st.peer_stream_frames_received);
	const struct metrics *m = kvd_metrics(n);
	metrics_write_histogram(out, "kvd_store_commit_duration_seconds",
				"A batch of entries applied to the store: one "
				"LMDB write transaction, commit included.",
				&m->store_commit_seconds);
	evbuffer_add_printf(out,
			    "# HELP kvd_build_info The version of kvd running."
			    "\n# TYPE kvd_build_info gauge\n"
			    "kvd_build_info{version=\"%s\"} 1\n",
			    KVD_VERSION);
	struct kvdraft_peer_round_trips rtt[RAFT_MAX_MEMBERS];
	size_t np = kvdraft_node_peer_round_trips(n, rtt, RAFT_MAX_MEMBERS);
	metrics_write_histogram_header(
	    out, "kvd_peer_round_trip_seconds",
	    "Round trips of answered peer requests and of stream pings, "
	    "by peer id.");
	for (size_t i = 0; i < np && i < RAFT_MAX_MEMBERS; i++) {
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, rtt[i].id);
		metrics_write_histogram_samples(out,
						"kvd_peer_round_trip_seconds",
						"peer", id, &rtt[i].seconds);
	}
	process_metrics_render(out, m->start_time);
}
