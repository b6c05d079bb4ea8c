/* http_snapshot.c - GET /v1/snapshot (see http_snapshot.h). */
#include "http_snapshot.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_util.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "snapshot_info.h"
#include "clock.h"
#include "util.h"

/* One backup request waiting for its snapshot. */
struct backup {
	struct kvdraft_node *n;
	struct evhttp_request *req;
	double t0;
};

static void backup_done(struct backup *b, int status)
{
	metrics_http(kvd_metrics(b->n), ROUTE_OTHER, status,
		     clock_now_seconds() - b->t0);
	free(b);
}

/* Sends the file at @path, opened here: the next snapshot may prune it
 * once this returns, and the open descriptor keeps its data until the
 * answer is sent. */
static int send_file(struct evhttp_request *req, const char *path,
		     const struct snapshot_info *info)
{
	char msg[4200];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "opening %s: %s", path,
			 strerror(errno));
		http_send_error(req, 500, "internal", msg, NULL);
		return 500;
	}
	struct evbuffer *out = evbuffer_new();
	/* evbuffer_add_file takes the descriptor and sends from the file
	 * (sendfile or mapped pieces), never the whole file in memory. */
	if (out == NULL ||
	    evbuffer_add_file(out, fd, 0, (ev_off_t)info->size) != 0) {
		if (out != NULL)
			evbuffer_free(out);
		close(fd);
		http_send_error(req, 500, "internal", "out of memory", NULL);
		return 500;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[64];
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	snprintf(v, sizeof(v), "%" PRIu64, info->index);
	evhttp_add_header(h, "X-Kv-Snapshot-Index", v);
	snprintf(v, sizeof(v), "%" PRIu64, info->term);
	evhttp_add_header(h, "X-Kv-Snapshot-Term", v);
	snprintf(v, sizeof(v), "%08x", info->crc);
	evhttp_add_header(h, "X-Kv-Snapshot-CRC32C", v);
	log_info("GET /v1/snapshot: index %" PRIu64 " term %" PRIu64
		 ", %" PRIu64 " bytes",
		 info->index, info->term, info->size);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	return 200;
}

static void file_ready(void *arg, const char *path, raft_index index,
		       raft_term term, uint64_t size, uint32_t crc,
		       const char *err)
{
	struct backup *b = arg;
	const struct snapshot_info info = {
	    .index = index, .term = term, .size = size, .crc = crc};
	if (path == NULL) {
		log_error("GET /v1/snapshot: %s", err);
		http_send_error(b->req, 503, "unavailable", err, NULL);
		backup_done(b, 503);
		return;
	}
	backup_done(b, send_file(b->req, path, &info));
}

int http_snapshot_get(struct kvdraft_node *n, struct evhttp_request *req,
		      double t0)
{
	struct backup *b = malloc(sizeof(*b));
	if (b == NULL) {
		http_send_error(req, 500, "internal", "out of memory", NULL);
		return 500;
	}
	*b = (struct backup){.n = n, .req = req, .t0 = t0};
	/* Everything applied so far, so every write acknowledged before
	 * this request, is in the file it gets. */
	raft_index index = kvdraft_node_applied(n);
	if (kvdraft_node_snapshot_file(n, index, file_ready, b) != 0) {
		free(b);
		http_send_error(req, 503, "unavailable",
				"too many snapshot downloads wait already, or "
				"the member is stopping",
				NULL);
		return 503;
	}
	return 0;
}
