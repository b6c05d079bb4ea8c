/* snapshot_transfer.c - InstallSnapshot over HTTP (see
 * snapshot_transfer.h). */
#include "snapshot_transfer.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "durable.h"
#include "hex.h"
#include "raft.h"
#include "refused_log.h"
#include "secret.h"
#include "tls.h"
#include "transport.h"

#define HDR_FROM	"X-Kvd-From"
#define HDR_TOKEN	"X-Kvd-Token"
#define HDR_SIZE	"X-Kvd-Snapshot-Size"
#define HDR_CRC		"X-Kvd-Snapshot-CRC"
#define HDR_CHUNK_CRC	"X-Kvd-Chunk-CRC"
#define HDR_RAFT_TERM	"X-Kvd-Raft-Term"
#define HDR_RAFT_COMMIT "X-Kvd-Raft-Commit"
#define HDR_OFFSET	"X-Kvd-Snapshot-Offset"
#define HDR_CONFIG	"X-Kvd-Snapshot-Config"
#define HDR_CONFIG_IDX	"X-Kvd-Snapshot-Config-Index"
/* Largest chunk a receiver takes (senders use SNAP_XFER_CHUNK_BYTES). */
#define MAX_CHUNK_BYTES (16u << 20)
/* Attempts at one chunk before the send is reported failed. */
#define CHUNK_ATTEMPTS 3
/* At most one line per interval about refused requests: a stranger or a
 * stale leader must not flood the log. */
#define REFUSED_LOG_INTERVAL_MS 10000
/* A peer's host name (without IPv6 brackets); with the port, the Host
 * header. */
#define HOST_MAX 256

struct send {
	struct snap_xfer *x;
	struct send *next;
	raft_id peer;
	char path[SNAP_XFER_PATH_MAX];
	struct snapshot_info info;
	raft_term msg_term;
	raft_index commit;
	uint64_t offset;
	int attempts;
	int fd;
	struct evhttp_connection *conn;
	char host[HOST_MAX];
	uint8_t *buf;	  /* one chunk */
	char *config_hex; /* NULL: none */
	raft_index config_index;
	bool finished;
};

struct recv_state {
	bool active;
	raft_id from;
	struct snapshot_info info;
	uint8_t *config; /* as received with the chunks; NULL: none */
	size_t config_len;
	raft_index config_index;
	uint64_t offset;
	uint32_t crc; /* running CRC of the bytes written */
	int fd;
	/* The last transfer completed, so that a retried final chunk is
	 * answered "complete" rather than starting over. */
	bool done_valid;
	raft_id done_from;
	struct snapshot_info done_info;
};

struct snap_xfer {
	struct event_base *base;
	struct snap_xfer_options o;
	char *dir, *source_host, *token;
	/* The directory that holds dir: the room for a snapshot is measured
	 * there, so a dir removed underneath is made again, not refused. */
	char *room_dir;
	struct send *sends;
	struct recv_state rs;
	struct snap_xfer_stats st;
	bool stopped;
	struct refused_log refused; /* lines about refused chunks */
};

static void xlog(struct snap_xfer *x, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void xlog(struct snap_xfer *x, int level, const char *fmt, ...)
{
	if (x->o.log == NULL)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	x->o.log(x->o.ctx, level, line);
}

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
		xlog(x, 1, "%s", line);
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

static void send_free(struct send *s)
{
	if (s->conn != NULL)
		evhttp_connection_free(s->conn);
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s->config_hex);
	free(s);
}

static void unlink_send(struct snap_xfer *x, struct send *s)
{
	for (struct send **p = &x->sends; *p != NULL; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

void snap_xfer_stop(struct snap_xfer *x)
{
	x->stopped = true;
	while (x->sends != NULL) {
		struct send *s = x->sends;
		x->sends = s->next;
		if (!s->finished)
			send_free(s);
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

bool snap_xfer_sending(const struct snap_xfer *x, raft_id peer)
{
	for (const struct send *s = x->sends; s != NULL; s = s->next)
		if (s->peer == peer && !s->finished)
			return true;
	return false;
}

/* ---- sending ---- */

static void send_chunk(struct send *s);

/* Runs from the loop after the request callback returned, so the
 * connection can be freed. */
static void finish_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_free(arg);
}

static void send_finish(struct send *s, bool ok)
{
	struct snap_xfer *x = s->x;
	s->finished = true;
	unlink_send(x, s);
	if (ok)
		x->st.sends_ok++;
	else
		x->st.sends_failed++;
	struct timeval zero = {0, 0};
	if (event_base_once(x->base, -1, EV_TIMEOUT, finish_deferred, s,
			    &zero) != 0)
		xlog(x, 0, "cannot schedule the end of a snapshot send");
	x->o.on_sent(x->o.ctx, s->peer, ok);
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s == '\0')
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static void chunk_done(struct evhttp_request *req, void *arg)
{
	struct send *s = arg;
	struct snap_xfer *x = s->x;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	uint64_t off = 0;
	bool has_off = false;
	if (req != NULL)
		has_off = parse_u64(
		    evhttp_find_header(evhttp_request_get_input_headers(req),
				       HDR_OFFSET),
		    &off);
	if (code == 200 && has_off && off <= s->info.size) {
		if (off > s->offset)
			x->st.bytes_sent += off - s->offset;
		s->offset = off;
		s->attempts = 0;
		if (off == s->info.size) {
			xlog(x, 2,
			     "snapshot %" PRIu64 " (%" PRIu64
			     " bytes) delivered to member %" PRIu64,
			     s->info.index, s->info.size, s->peer);
			send_finish(s, true);
			return;
		}
		send_chunk(s);
		return;
	}
	if (code == 400 && has_off && off <= s->info.size &&
	    ++s->attempts < CHUNK_ATTEMPTS) {
		s->offset = off; /* a damaged chunk: send it again */
		send_chunk(s);
		return;
	}
	xlog(x, 1,
	     "snapshot %" PRIu64 " to member %" PRIu64
	     " failed at offset %" PRIu64 ": %s%d",
	     s->info.index, s->peer, s->offset,
	     code == 0 ? "no answer (connection failed or timed out) "
		       : "HTTP ",
	     code);
	send_finish(s, false);
}

static void send_chunk(struct send *s)
{
	struct snap_xfer *x = s->x;
	uint64_t left = s->info.size - s->offset;
	size_t len =
	    left < SNAP_XFER_CHUNK_BYTES ? (size_t)left : SNAP_XFER_CHUNK_BYTES;
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(s->fd, s->buf + got, len - got,
				  (off_t)(s->offset + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			xlog(x, 0, "cannot read snapshot %s: %s", s->path,
			     r < 0 ? strerror(errno) : "file shrank");
			send_finish(s, false);
			return;
		}
		got += (size_t)r;
	}
	struct evhttp_request *req = evhttp_request_new(chunk_done, s);
	if (req == NULL) {
		send_finish(s, false);
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[64], uri[256];
	evhttp_add_header(h, "Host", s->host);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	snprintf(v, sizeof(v), "%" PRIu64, x->o.self);
	evhttp_add_header(h, HDR_FROM, v);
	if (x->token != NULL)
		evhttp_add_header(h, HDR_TOKEN, x->token);
	snprintf(v, sizeof(v), "%" PRIu64, s->info.size);
	evhttp_add_header(h, HDR_SIZE, v);
	snprintf(v, sizeof(v), "%08x", s->info.crc);
	evhttp_add_header(h, HDR_CRC, v);
	snprintf(v, sizeof(v), "%08x", crc32c(0, s->buf, len));
	evhttp_add_header(h, HDR_CHUNK_CRC, v);
	snprintf(v, sizeof(v), "%" PRIu64, s->msg_term);
	evhttp_add_header(h, HDR_RAFT_TERM, v);
	snprintf(v, sizeof(v), "%" PRIu64, s->commit);
	evhttp_add_header(h, HDR_RAFT_COMMIT, v);
	if (s->config_hex != NULL) {
		evhttp_add_header(h, HDR_CONFIG, s->config_hex);
		snprintf(v, sizeof(v), "%" PRIu64, s->config_index);
		evhttp_add_header(h, HDR_CONFIG_IDX, v);
	}
	evbuffer_add(evhttp_request_get_output_buffer(req), s->buf, len);
	snprintf(uri, sizeof(uri),
		 SNAP_XFER_PATH "?index=%" PRIu64 "&term=%" PRIu64
				"&offset=%" PRIu64,
		 s->info.index, s->info.term, s->offset);
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, uri) != 0) {
		/* evhttp freed the request. */
		send_finish(s, false);
	}
}

int snap_xfer_send(struct snap_xfer *x, raft_id peer, const char *peer_url,
		   const char *path, const struct snapshot_info *info,
		   raft_term msg_term, raft_index commit, const uint8_t *config,
		   size_t config_len, raft_index config_index)
{
	char a_host[HOST_MAX];
	int a_port = 0;
	const char *why;
	if (x->stopped ||
	    transport_parse_url(peer_url, a_host, sizeof(a_host), &a_port,
				&why) != TRANSPORT_OK ||
	    transport_url_https(peer_url) != (x->o.tls_client != NULL) ||
	    strlen(path) >= SNAP_XFER_PATH_MAX)
		return -1;
	for (struct send *s = x->sends; s != NULL; s = s->next) {
		if (s->peer == peer && !s->finished) {
			unlink_send(x, s);
			send_free(s);
			break;
		}
	}
	struct send *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->x = x;
	s->peer = peer;
	s->info = *info;
	s->msg_term = msg_term;
	s->commit = commit;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	strcpy(s->path, path);
	if (strchr(a_host, ':') != NULL)
		snprintf(s->host, sizeof(s->host), "[%.*s]:%u",
			 (int)sizeof(s->host) - 10, a_host, (unsigned)a_port);
	else
		snprintf(s->host, sizeof(s->host), "%.*s:%u",
			 (int)sizeof(s->host) - 8, a_host, (unsigned)a_port);
	s->buf = malloc(SNAP_XFER_CHUNK_BYTES);
	s->config_index = config_index;
	if (config != NULL && config_len > 0 &&
	    config_len <= SNAP_XFER_CONFIG_MAX)
		s->config_hex = hex_encode(config, config_len);
	/* Over TLS, a new SSL per send: one connection carries its
	 * chunks. */
	struct bufferevent *bev =
	    x->o.tls_client != NULL
		? tls_client_bev(x->o.tls_client, x->base, a_host)
		: NULL;
	if (x->o.tls_client == NULL || bev != NULL)
		s->conn = evhttp_connection_base_bufferevent_new(
		    x->base, NULL, bev, a_host, (ev_uint16_t)a_port);
	if (s->conn == NULL && bev != NULL)
		bufferevent_free(bev);
	if (s->fd < 0 || s->buf == NULL || s->conn == NULL) {
		xlog(x, 0, "cannot start sending snapshot %s: %s", path,
		     s->fd < 0 ? strerror(errno) : "out of memory");
		send_free(s);
		return -1;
	}
	if (x->source_host != NULL)
		evhttp_connection_set_local_address(s->conn, x->source_host);
	struct timeval tv = clock_ms_to_timeval(x->o.request_timeout_ms);
	evhttp_connection_set_timeout_tv(s->conn, &tv);
	evhttp_connection_set_retries(s->conn, 0);
	s->next = x->sends;
	x->sends = s;
	x->st.sends_started++;
	xlog(x, 2,
	     "sending snapshot %" PRIu64 " (term %" PRIu64 ", %" PRIu64
	     " bytes) to member %" PRIu64,
	     info->index, info->term, info->size, peer);
	send_chunk(s);
	return 0;
}

/* ---- receiving ---- */

static void answer(struct snap_xfer *x, struct evhttp_request *req, int code,
		   const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (code == 200 || code == 400) {
		char v[32];
		uint64_t off = x->rs.active ? x->rs.offset : 0;
		snprintf(v, sizeof(v), "%" PRIu64, off);
		evhttp_add_header(h, HDR_OFFSET, v);
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
		xlog(x, 0, "cannot sync %s: %s", part, strerror(errno));
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
		xlog(x, 1,
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
		xlog(x, 1,
		     "snapshot %" PRIu64 " from member %" PRIu64
		     " is not a store at that index: %s",
		     rs->info.index, rs->from, err[0] ? err : "index mismatch");
		recv_abort(x);
		answer(x, req, 400, "Bad Request", "not a snapshot");
		return;
	}
	if (rename(part, path) != 0 || durable_sync_dir(sdir) != 0) {
		xlog(x, 0, "cannot keep %s: %s", path, strerror(errno));
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
	xlog(x, 2,
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
		xlog(x, 2,
		     "snapshot %" PRIu64 " from member %" PRIu64
		     " not needed here: deleted",
		     r.info.index, r.from);
	}
	/* Complete: answer with the whole size. */
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, r.info.size);
	evhttp_add_header(h, HDR_OFFSET, v);
	evhttp_send_reply(req, 200, "OK", NULL);
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
	ok = ok && parse_u64(evhttp_find_header(h, HDR_FROM), &from) &&
	     from != 0 && parse_u64(evhttp_find_header(&q, "index"), &idx) &&
	     idx != 0 && parse_u64(evhttp_find_header(&q, "term"), &term) &&
	     term != 0 && parse_u64(evhttp_find_header(&q, "offset"), &off) &&
	     parse_u64(evhttp_find_header(h, HDR_SIZE), &size) &&
	     parse_hex32(evhttp_find_header(h, HDR_CRC), &crc) &&
	     parse_hex32(evhttp_find_header(h, HDR_CHUNK_CRC), &ccrc) &&
	     parse_u64(evhttp_find_header(h, HDR_RAFT_TERM), &mterm) &&
	     parse_u64(evhttp_find_header(h, HDR_RAFT_COMMIT), &commit);
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
		char v[32];
		snprintf(v, sizeof(v), "%" PRIu64, size);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  HDR_OFFSET, v);
		evhttp_send_reply(req, 200, "OK", NULL);
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
			xlog(x, 0, "cannot create %s: %s", x->dir,
			     strerror(errno));
			answer(x, req, 500, "Internal Server Error", "no dir");
			return;
		}
		recv_path(x, part);
		rs->fd = durable_create_file(part);
		if (rs->fd < 0) {
			xlog(x, 0, "cannot create %s: %s", part,
			     strerror(errno));
			answer(x, req, 500, "Internal Server Error",
			       "cannot create the file");
			return;
		}
		rs->active = true;
		rs->from = from;
		rs->info = info;
		rs->offset = 0;
		rs->crc = 0;
		rs->done_valid = false;
		const char *ch = evhttp_find_header(h, HDR_CONFIG);
		uint64_t ci = 0;
		if (ch != NULL &&
		    (hex_decode(ch, SNAP_XFER_CONFIG_MAX, &rs->config,
				&rs->config_len) != 0 ||
		     !parse_u64(evhttp_find_header(h, HDR_CONFIG_IDX), &ci) ||
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
	const uint8_t *data = len > 0 ? evbuffer_pullup(body, -1) : NULL;
	if (len > 0 && (data == NULL || crc32c(0, data, len) != ccrc)) {
		x->st.bad_chunks++;
		answer(x, req, 400, "Bad Request", "chunk checksum mismatch");
		return;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = pwrite(rs->fd, data + done, len - done,
				   (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			xlog(x, 0, "cannot write the snapshot: %s",
			     strerror(errno));
			recv_abort(x);
			answer(x, req, 500, "Internal Server Error",
			       "write failed");
			return;
		}
		done += (size_t)w;
	}
	if (len > 0)
		rs->crc = crc32c(rs->crc, data, len);
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
