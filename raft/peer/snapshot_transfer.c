/* snapshot_transfer.c - InstallSnapshot over HTTP (see
 * snapshot_transfer.h). */
#include "snapshot_transfer.h"
#include "snapshot_xfer_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "durable.h"
#include "hex.h"
#include "raft.h"
#include "refused_log.h"
#include "secret.h"

/* At most one line per interval about refused requests: a stranger or a
 * stale leader must not flood the log. */
#define REFUSED_LOG_INTERVAL_MS 10000

static void refused_log(struct snap_xfer *x, struct evhttp_request *req,
			const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A refused chunk, logged once per REFUSED_LOG_INTERVAL_MS at most. */
static void refused_log(struct snap_xfer *x, struct evhttp_request *req,
			const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	bool due;

	va_start(ap, fmt);
	due = refused_log_line(&x->refused, REFUSED_LOG_INTERVAL_MS, req,
			       "snapshot chunk", line, sizeof(line), fmt, ap);
	va_end(ap);
	if (due)
		snap_xfer_log(x, 1, "%s", line);
}

/* Whether the file system of the snapshot dir has room for a snapshot of
 * @size bytes, counting the partial file a new transfer replaces. */
static bool room_for(struct snap_xfer *x, uint64_t size, uint64_t *avail)
{
	struct statvfs sv;
	uint64_t held = x->rs.active ? x->rs.offset : 0;

	if (statvfs(x->room_dir, &sv) != 0) {
		*avail = 0;
		return false;
	}
	*avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return size <= *avail || size - *avail <= held;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* The directory that holds @dir (trailing slashes ignored; "." for a name
 * without one, "/" for a top-level one), malloc'd. */
static char *parent_dir(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	while (n > 0 && dir[n - 1] != '/')
		n--;
	if (n == 0)
		return strdup(".");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strndup(dir, n);
}

int snap_xfer_new(struct event_base *base, const struct snap_xfer_options *o,
		  struct snap_xfer **out)
{
	struct snap_xfer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -1;
	if (o->dir == NULL || o->dir[0] == '\0' ||
	    strlen(o->dir) > SNAP_XFER_PATH_MAX - 64) {
		free(x);
		return -1;
	}
	x->base = base;
	x->o = *o;
	if (x->o.request_timeout_ms == 0)
		x->o.request_timeout_ms = 10000;
	x->chunk_bytes = o->chunk_bytes;
	if (x->chunk_bytes == 0 || x->chunk_bytes > SNAP_XFER_CHUNK_BYTES)
		x->chunk_bytes = SNAP_XFER_CHUNK_BYTES;
	x->max_inflight = o->max_inflight;
	if (x->max_inflight == 0 || x->max_inflight > SNAP_XFER_MAX_INFLIGHT)
		x->max_inflight = SNAP_XFER_INFLIGHT;
	x->dir = strdup(o->dir);
	x->room_dir = parent_dir(o->dir);
	x->source_host = dup_or_null(o->source_host);
	x->token = dup_or_null(o->token);
	x->rs.fd = -1;
	if (x->dir == NULL || x->room_dir == NULL ||
	    (o->source_host && !x->source_host) || (o->token && !x->token)) {
		snap_xfer_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

static void recv_path(struct snap_xfer *x, char *out)
{
	snprintf(out, SNAP_XFER_PATH_MAX, "%s/recv.part", x->dir);
}

void snap_xfer_received_path(const char *dir, raft_index index, char *out)
{
	snprintf(out, SNAP_XFER_PATH_MAX, "%s/recv-%016" PRIx64 ".snap", dir,
		 index);
}

static void recv_abort(struct snap_xfer *x)
{
	char p[SNAP_XFER_PATH_MAX];
	if (x->rs.fd >= 0)
		close(x->rs.fd);
	x->rs.fd = -1;
	if (x->rs.active) {
		recv_path(x, p);
		unlink(p);
	}
	x->rs.active = false;
	free(x->rs.config);
	x->rs.config = NULL;
	x->rs.config_len = 0;
}

void snap_xfer_stop(struct snap_xfer *x)
{
	x->stopped = true;
	while (x->sends != NULL) {
		struct send *s = x->sends;
		x->sends = s->next;
		if (!s->finished)
			snap_xfer_send_free(s);
		/* A finished send is freed by its pending deferred call. */
	}
	recv_abort(x);
}

void snap_xfer_free(struct snap_xfer *x)
{
	if (x == NULL)
		return;
	snap_xfer_stop(x);
	free(x->dir);
	free(x->room_dir);
	free(x->source_host);
	free(x->token);
	free(x);
}

void snap_xfer_stats(const struct snap_xfer *x, struct snap_xfer_stats *out)
{
	*out = x->st;
}

/* ---- receiving ---- */

/* 200 with the receiver's offset in the body too: a pipelining sender
 * reads answers without their headers (snapshot_send.c). */
static void answer_offset(struct evhttp_request *req, uint64_t off)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, off);
	if (evhttp_find_header(h, HDR_OFFSET) == NULL)
		evhttp_add_header(h, HDR_OFFSET, v);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n", v);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void answer(struct snap_xfer *x, struct evhttp_request *req, int code,
		   const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (code == 200 || code == 400) {
		char v[32];
		uint64_t off = x->rs.active ? x->rs.offset : 0;
		snprintf(v, sizeof(v), "%" PRIu64, off);
		evhttp_add_header(h, HDR_OFFSET, v);
		if (code == 200 && text == NULL) {
			answer_offset(req, off);
			return;
		}
	}
	if (text != NULL) {
		evhttp_add_header(h, "Content-Type",
				  "text/plain; charset=utf-8");
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
				    "%s\n", text);
	}
	evhttp_send_reply(req, code, reason, NULL);
}

static bool parse_hex32(const char *s, uint32_t *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 8)
		return false;
	uint32_t v = 0;
	for (; *s; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return true;
}

static bool same_info(const struct snapshot_info *a,
		      const struct snapshot_info *b)
{
	return a->index == b->index && a->term == b->term &&
	       a->size == b->size && a->crc == b->crc;
}

/* The last chunk is in: sync, verify the whole file, hand it over. */
static void recv_complete(struct snap_xfer *x, struct evhttp_request *req,
			  raft_term msg_term, raft_index commit)
{
	char part[SNAP_XFER_PATH_MAX], path[SNAP_XFER_PATH_MAX], err[512] = "";
	const char *sdir = x->dir;
	struct recv_state *rs = &x->rs;
	recv_path(x, part);
	snap_xfer_received_path(x->dir, rs->info.index, path);
	int rc = fsync(rs->fd);
	close(rs->fd);
	rs->fd = -1;
	if (rc != 0) {
		snap_xfer_log(x, 0, "cannot sync %s: %s", part,
			      strerror(errno));
		recv_abort(x);
		answer(x, req, 500, "Internal Server Error", "sync failed");
		return;
	}
	/* Read back what is on disk: the running CRC only vouches for what
	 * was written. */
	uint64_t size = 0;
	uint32_t crc = 0;
	raft_index idx = 0;
	raft_term term = 0;
	if (crc32c_file(part, &size, &crc, err, sizeof(err)) != 0 ||
	    size != rs->info.size || crc != rs->info.crc) {
		snap_xfer_log(x, 1,
			      "snapshot %" PRIu64 " from member %" PRIu64
			      " failed verification: %s",
			      rs->info.index, rs->from,
			      err[0] ? err : "checksum or size mismatch");
		x->st.bad_chunks++;
		recv_abort(x);
		answer(x, req, 400, "Bad Request",
		       "snapshot checksum mismatch");
		return;
	}
	if (x->o.verify != NULL &&
	    (x->o.verify(x->o.ctx, part, &idx, &term, err, sizeof(err)) != 0 ||
	     idx != rs->info.index || term != rs->info.term)) {
		snap_xfer_log(x, 1,
			      "snapshot %" PRIu64 " from member %" PRIu64
			      " is not a store at that index: %s",
			      rs->info.index, rs->from,
			      err[0] ? err : "index mismatch");
		recv_abort(x);
		answer(x, req, 400, "Bad Request", "not a snapshot");
		return;
	}
	if (rename(part, path) != 0 || durable_sync_dir(sdir) != 0) {
		snap_xfer_log(x, 0, "cannot keep %s: %s", path,
			      strerror(errno));
		recv_abort(x);
		answer(x, req, 500, "Internal Server Error", "rename failed");
		return;
	}
	x->st.received++;
	struct snap_xfer_received r = {.from = rs->from,
				       .msg_term = msg_term,
				       .commit = commit,
				       .info = rs->info,
				       .path = path,
				       .config = rs->config,
				       .config_len = rs->config_len,
				       .config_index = rs->config_index};
	rs->done_valid = true;
	rs->done_from = r.from;
	rs->done_info = r.info;
	snap_xfer_log(x, 2,
		      "snapshot %" PRIu64 " (term %" PRIu64 ", %" PRIu64
		      " bytes) received from member %" PRIu64 " and verified",
		      r.info.index, r.info.term, r.info.size, r.from);
	int taken = x->o.on_received(x->o.ctx, &r);
	rs->active = false;
	free(rs->config);
	rs->config = NULL;
	rs->config_len = 0;
	if (taken < 0) {
		rs->done_valid = false;
		unlink(path);
		answer(x, req, 503, "Service Unavailable", "not taken now");
		return;
	}
	if (taken > 0) {
		/* The core has no use for it (raft.h, SNAPSHOT: not newer than
		 * its commit index, or a stale leader's): nothing will install
		 * it. The sender is told it arrived, as it did. */
		unlink(path);
		durable_sync_dir(sdir);
		snap_xfer_log(x, 2,
			      "snapshot %" PRIu64 " from member %" PRIu64
			      " not needed here: deleted",
			      r.info.index, r.from);
	}
	/* Complete: answer with the whole size. */
	answer_offset(req, r.info.size);
}

/* Pieces of a chunk's body looked at per call. */
#define RECV_IOV_MAX 64

/* The pieces of @body from byte @at on, at most RECV_IOV_MAX, into @v;
 * their count. The body is exactly the chunk, so no piece runs past it. */
static int body_pieces(struct evbuffer *body, size_t at,
		       struct evbuffer_iovec *v)
{
	struct evbuffer_ptr p;
	if (evbuffer_ptr_set(body, &p, at, EVBUFFER_PTR_SET) != 0)
		return 0;
	int n = evbuffer_peek(body, -1, &p, v, RECV_IOV_MAX);
	return n > RECV_IOV_MAX ? RECV_IOV_MAX : n;
}

/* The CRC-32C of @body's @len bytes, read where evhttp holds them. */
static uint32_t body_crc(struct evbuffer *body, size_t len)
{
	struct evbuffer_iovec v[RECV_IOV_MAX];
	uint32_t crc = 0;
	size_t at = 0;
	while (at < len) {
		int n = body_pieces(body, at, v);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			crc = crc32c(crc, v[i].iov_base, v[i].iov_len);
			at += v[i].iov_len;
		}
	}
	return crc;
}

/* Writes @body's @len bytes at @off of the partial file, from the pieces
 * evhttp holds (no gathering copy). Returns 0 or -1 (errno). */
static int body_write(int fd, struct evbuffer *body, size_t len, uint64_t off)
{
	struct evbuffer_iovec v[RECV_IOV_MAX];
	size_t done = 0;
	while (done < len) {
		int n = body_pieces(body, done, v);
		if (n <= 0) {
			errno = EIO;
			return -1;
		}
		ssize_t w = pwritev(fd, (const struct iovec *)v, n,
				    (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)w;
	}
	/* A fast transfer would otherwise pile up gigabytes of dirty
	 * pages whose flush stalls every fdatasync on the disk. The chunk's
	 * answer waits with it: the sender goes at the disk's pace. */
	durable_pace_writeback(fd, off, len);
	return 0;
}

static void handle_chunk(struct evhttp_request *req, void *arg)
{
	struct snap_xfer *x = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "POST");
		answer(x, req, 405, "Method Not Allowed", "POST only");
		return;
	}
	if (x->token != NULL) {
		const char *t = evhttp_find_header(h, HDR_TOKEN);
		const char *a = evhttp_find_header(h, "Authorization");
		if (t == NULL && a != NULL && strncasecmp(a, "Bearer ", 7) == 0)
			t = a + 7;
		if (t == NULL || !secret_equal(t, x->token, strlen(x->token))) {
			x->st.unauthorized++;
			refused_log(x, req, "%s peer token",
				    t == NULL ? "missing" : "wrong");
			answer(x, req, 401, "Unauthorized", "bad peer token");
			return;
		}
	}
	if (x->stopped) {
		answer(x, req, 503, "Service Unavailable", "stopping");
		return;
	}
	struct evkeyvalq q;
	q.tqh_first = NULL;
	q.tqh_last = &q.tqh_first;
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	uint64_t from = 0, idx = 0, term = 0, off = 0, size = 0, mterm = 0,
		 commit = 0;
	uint32_t crc = 0, ccrc = 0;
	bool ok = query != NULL && evhttp_parse_query_str(query, &q) == 0;
	ok =
	    ok && snap_xfer_parse_u64(evhttp_find_header(h, HDR_FROM), &from) &&
	    from != 0 &&
	    snap_xfer_parse_u64(evhttp_find_header(&q, "index"), &idx) &&
	    idx != 0 &&
	    snap_xfer_parse_u64(evhttp_find_header(&q, "term"), &term) &&
	    term != 0 &&
	    snap_xfer_parse_u64(evhttp_find_header(&q, "offset"), &off) &&
	    snap_xfer_parse_u64(evhttp_find_header(h, HDR_SIZE), &size) &&
	    parse_hex32(evhttp_find_header(h, HDR_CRC), &crc) &&
	    parse_hex32(evhttp_find_header(h, HDR_CHUNK_CRC), &ccrc) &&
	    snap_xfer_parse_u64(evhttp_find_header(h, HDR_RAFT_TERM), &mterm) &&
	    snap_xfer_parse_u64(evhttp_find_header(h, HDR_RAFT_COMMIT),
				&commit);
	evhttp_clear_headers(&q);
	/* Every number from the network is range checked (raft.h): the core
	 * would refuse the snapshot's message only once the whole file was
	 * written; refused here, no byte of it is. */
	ok = ok && term <= RAFT_TERM_MAX && mterm <= RAFT_TERM_MAX &&
	     idx <= RAFT_INDEX_MAX && commit <= RAFT_INDEX_MAX;
	if (!ok) {
		x->st.bad_chunks++;
		answer(x, req, 400, "Bad Request",
		       "bad snapshot chunk headers");
		return;
	}
	/* Only the leader sends snapshots (thesis §5.2): anyone else would
	 * only fill the disk. */
	raft_id leader = x->o.leader != NULL ? x->o.leader(x->o.ctx) : 0;
	if (x->o.leader != NULL && from != leader) {
		x->st.bad_chunks++;
		refused_log(x, req,
			    "sent by member %" PRIu64
			    ", the leader here is %" PRIu64,
			    from, leader);
		answer(x, req, 409, "Conflict", "not the leader here");
		return;
	}
	struct snapshot_info info = {
	    .index = idx, .term = term, .size = size, .crc = crc};
	struct recv_state *rs = &x->rs;
	if (rs->done_valid && rs->done_from == from &&
	    same_info(&rs->done_info, &info)) {
		/* A retry of the final chunk that was already taken. */
		answer_offset(req, size);
		return;
	}
	if (!rs->active || rs->from != from || !same_info(&rs->info, &info)) {
		/* A new transfer replaces a partial one, when the file
		 * system has room for it (a declared size is the sender's
		 * word, up to 2^64). */
		char part[SNAP_XFER_PATH_MAX];
		uint64_t avail = 0;
		if (size > (uint64_t)INT64_MAX || !room_for(x, size, &avail)) {
			x->st.bad_chunks++;
			refused_log(x, req,
				    "snapshot %" PRIu64 " of %" PRIu64
				    " bytes, %" PRIu64 " bytes free",
				    idx, size, avail);
			answer(x, req, 507, "Insufficient Storage",
			       "no room for the snapshot");
			return;
		}
		recv_abort(x);
		if (mkdir(x->dir, 0700) != 0 && errno != EEXIST) {
			snap_xfer_log(x, 0, "cannot create %s: %s", x->dir,
				      strerror(errno));
			answer(x, req, 500, "Internal Server Error", "no dir");
			return;
		}
		recv_path(x, part);
		rs->fd = durable_create_file(part);
		if (rs->fd < 0) {
			snap_xfer_log(x, 0, "cannot create %s: %s", part,
				      strerror(errno));
			answer(x, req, 500, "Internal Server Error",
			       "cannot create the file");
			return;
		}
		rs->active = true;
		rs->from = from;
		rs->info = info;
		rs->offset = 0;
		rs->done_valid = false;
		const char *ch = evhttp_find_header(h, HDR_CONFIG);
		uint64_t ci = 0;
		if (ch != NULL &&
		    (hex_decode(ch, SNAP_XFER_CONFIG_MAX, &rs->config,
				&rs->config_len) != 0 ||
		     rs->config_len == 0 /* no configuration is empty */ ||
		     !snap_xfer_parse_u64(evhttp_find_header(h, HDR_CONFIG_IDX),
					  &ci) ||
		     ci > RAFT_INDEX_MAX)) {
			x->st.bad_chunks++;
			recv_abort(x);
			answer(x, req, 400, "Bad Request",
			       "bad snapshot configuration header");
			return;
		}
		rs->config_index = ci;
	}
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	if (off != rs->offset) {
		/* Not where we are: say where, the sender continues there. */
		answer(x, req, 200, "OK", NULL);
		return;
	}
	if (len > MAX_CHUNK_BYTES || off + len > size) {
		x->st.bad_chunks++;
		answer(x, req, 400, "Bad Request", "chunk beyond the size");
		return;
	}
	/* The body as evhttp holds it, in pieces: checksummed and written
	 * from there, not gathered into one copy first. */
	if (len > 0 && body_crc(body, len) != ccrc) {
		x->st.bad_chunks++;
		answer(x, req, 400, "Bad Request", "chunk checksum mismatch");
		return;
	}
	if (body_write(rs->fd, body, len, off) != 0) {
		snap_xfer_log(x, 0, "cannot write the snapshot: %s",
			      strerror(errno));
		recv_abort(x);
		answer(x, req, 500, "Internal Server Error", "write failed");
		return;
	}
	rs->offset += len;
	x->st.bytes_received += len;
	if (rs->offset == size) {
		recv_complete(x, req, mterm, commit);
		return;
	}
	answer(x, req, 200, "OK", NULL);
}

int snap_xfer_attach(struct snap_xfer *x, struct evhttp *peer_http)
{
	return evhttp_set_cb(peer_http, SNAP_XFER_PATH, handle_chunk, x) == 0
		   ? 0
		   : -1;
}
