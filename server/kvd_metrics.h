/* kvd_metrics.h - the part of /metrics that is kvd's beyond the node's
 * and the requests' (metrics.h): the store, the build, leadership in the
 * names operators alert on, and the process. */
#ifndef SERVER_KVD_METRICS_H_
#define SERVER_KVD_METRICS_H_

struct evbuffer;
struct kvdraft_node;

/* Appends kvd_has_leader, kvd_proposals_committed_total,
 * kvd_proposals_applied_total, kvd_store_size_bytes, kvd_store_keys,
 * kvd_store_commit_duration_seconds, kvd_leases,
 * kvd_lease_keepalives_total, kvd_lease_expired_total,
 * kvd_peer_round_trip_seconds{peer}, kvd_build_info and the process_* metrics.
 */
void kvd_metrics_render(struct kvdraft_node *n, struct evbuffer *out);

#endif /* SERVER_KVD_METRICS_H_ */
