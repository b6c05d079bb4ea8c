/* http_snapshot.c - GET /v1/snapshot (see http_snapshot.h). */
#include "http_snapshot.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_util.h"
#include "log.h"
#include "node.h"
#include "snapshot.h"

int http_snapshot_get(struct node *n, struct evhttp_request *req)
{
	const char *dir = node_config(n)->data_dir;
	char tmp[SNAPSHOT_PATH_MAX + 64], err[512] = "";
	static unsigned seq;
	raft_index idx = 0;
	raft_term term = 0;
	uint64_t size = 0;
	uint32_t crc = 0;
	if (snapshot_make_dir(dir, err, sizeof(err)) != 0) {
		log_error("GET /v1/snapshot: %s", err);
		http_send_error(req, 500, "internal", err, NULL);
		return 500;
	}
	snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_DIR "/backup-%ld-%u.tmp", dir,
		 (long)getpid(), ++seq);
	unlink(tmp);
	/* On the loop thread, between applies: the copy's index and term
	 * are those of the store it copied (kv.h). */
	int rc = kv_snapshot(node_kv(n), tmp, &idx, &term, err, sizeof(err));
	if (rc != 0) {
		log_error("GET /v1/snapshot: %s", err);
		http_send_error(req, 500, "internal", err, NULL);
		return 500;
	}
	if (snapshot_file_crc(tmp, &size, &crc, err, sizeof(err)) != 0) {
		unlink(tmp);
		http_send_error(req, 500, "internal", err, NULL);
		return 500;
	}
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	/* Unlinked at once: the open descriptor keeps the data until the
	 * answer is sent, and nothing is left behind by a crash after. */
	unlink(tmp);
	if (fd < 0) {
		http_send_error(req, 500, "internal", strerror(errno), NULL);
		return 500;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[64];
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	snprintf(v, sizeof(v), "%" PRIu64, idx);
	evhttp_add_header(h, "X-Kv-Snapshot-Index", v);
	snprintf(v, sizeof(v), "%" PRIu64, term);
	evhttp_add_header(h, "X-Kv-Snapshot-Term", v);
	snprintf(v, sizeof(v), "%08x", crc);
	evhttp_add_header(h, "X-Kv-Snapshot-CRC32C", v);
	struct evbuffer *out = evbuffer_new();
	/* evbuffer_add_file takes the descriptor and sends from the file
	 * (sendfile or mapped pieces), never the whole file in memory. */
	if (out == NULL || evbuffer_add_file(out, fd, 0, (ev_off_t)size) != 0) {
		if (out != NULL)
			evbuffer_free(out);
		close(fd);
		http_send_error(req, 500, "internal", "out of memory", NULL);
		return 500;
	}
	log_info("GET /v1/snapshot: index %" PRIu64 " term %" PRIu64
		 ", %" PRIu64 " bytes",
		 idx, term, size);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	return 200;
}
