/* http_snapshot.h - GET /v1/snapshot: a consistent snapshot of this
 * member's store for backups (kvctl snapshot save, kvd --restore). */
#ifndef SERVER_HTTP_SNAPSHOT_H_
#define SERVER_HTTP_SNAPSHOT_H_

struct kvdraft_node;
struct evhttp_request;

/* Answers 200 with a snapshot that holds every entry applied when the
 * request came (so every write acknowledged before it): the newest one in
 * DATA_DIR/snap when it does, else one the snapshotter takes now on its
 * background thread, while the loop goes on serving (snapshotter.h,
 * snapshotter_file_at). The body is the file as application/octet-stream,
 * streamed from disk (memory stays bounded), with X-Kv-Snapshot-Index,
 * X-Kv-Snapshot-Term and X-Kv-Snapshot-CRC32C (8 hex digits). Failures
 * answer 500 or 503 (JSON; 503 also when SNAPSHOTTER_FILE_WAITS_MAX
 * downloads wait already). Returns the status when the answer went out
 * now, 0 when it goes out later (its metrics are counted then, timed
 * from @t0). Loop thread only. */
int http_snapshot_get(struct kvdraft_node *n, struct evhttp_request *req,
		      double t0);

#endif /* SERVER_HTTP_SNAPSHOT_H_ */
