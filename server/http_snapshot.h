/* http_snapshot.h - GET /v1/snapshot: a consistent snapshot of this
 * member's store for backups (kvctl snapshot save, kvd --restore). */
#ifndef SERVER_HTTP_SNAPSHOT_H_
#define SERVER_HTTP_SNAPSHOT_H_

struct node;
struct evhttp_request;

/* Takes a fresh snapshot of the store (kv_snapshot() into a temporary
 * file of DATA_DIR/snap, unlinked at once) and answers 200 with the file
 * as an application/octet-stream body streamed from disk (memory stays
 * bounded), with X-Kv-Snapshot-Index, X-Kv-Snapshot-Term and
 * X-Kv-Snapshot-CRC32C (8 hex digits). On failure answers 500 or 503
 * (JSON). Returns the status sent. Loop thread only. */
int http_snapshot_get(struct node *n, struct evhttp_request *req);

#endif /* SERVER_HTTP_SNAPSHOT_H_ */
