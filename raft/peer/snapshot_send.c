/* snapshot_send.c - the sending side of InstallSnapshot (see
 * snapshot_transfer.h).
 *
 * A send keeps up to max_inflight chunks in flight on one pipelining
 * connection (lane_conn.h): while the receiver writes one chunk, the next
 * ones are already on the wire, so neither side waits for the other's
 * round trip. One chunk at a time made the transfer a sequence of
 * read, send, write, answer; on a 4.4 GB snapshot that ran at a tenth of
 * what the disk writes (docs/PERFORMANCE.md, "Big stores").
 *
 * Each chunk is read from the file straight into the request's body
 * buffer (no intermediate copy), its CRC computed once there, and the
 * buffer handed to the connection whole. The receiver takes chunks only
 * at the offset it holds and answers each with that offset, so the
 * answers tell the sender everything: the expected offset (the chunk was
 * written), another one (the receiver stands elsewhere: the pipeline is
 * dropped with its connection and the send continues from there on a new
 * one), or the whole size (done).
 *
 * A receiver of an older kvd says its offset in a header only, which a
 * lane_conn does not hand over: its first 200 without an offset in the
 * body turns the send to one chunk at a time over evhttp, as before. */
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "hex.h"
#include "lane_conn.h"
#include "snapshot_xfer_internal.h"
#include "tls.h"
#include "transport.h"

/* The largest answer body read: the receiver's offset, or a line of
 * text. */
#define ANSWER_MAX_BYTES 4096
/* Room for the request line and the per-chunk headers. */
#define CHUNK_HEAD_EXTRA 512

void snap_xfer_send_free(struct send *s)
{
	lane_conn_free(s->lane);
	if (s->conn != NULL)
		evhttp_connection_free(s->conn);
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s->head);
	free(s->ring);
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

/* Runs from the loop after the callback that finished the send returned,
 * so its connection can be freed. */
static void finish_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	snap_xfer_send_free(arg);
}

static void send_finish(struct send *s, bool ok)
{
	struct snap_xfer *x = s->x;
	s->finished = true;
	unlink_send(x, s);
	/* No further answer of this send may reach it. */
	lane_conn_free(s->lane);
	s->lane = NULL;
	if (ok)
		x->st.sends_ok++;
	else
		x->st.sends_failed++;
	struct timeval zero = {0, 0};
	if (event_base_once(x->base, -1, EV_TIMEOUT, finish_deferred, s,
			    &zero) != 0)
		snap_xfer_log(x, 0,
			      "cannot schedule the end of a snapshot send");
	x->o.on_sent(x->o.ctx, s->peer, ok);
}

static void send_failed(struct send *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void send_failed(struct send *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snap_xfer_log(s->x, 1,
		      "snapshot %" PRIu64 " to member %" PRIu64
		      " failed at offset %" PRIu64 ": %s",
		      s->info.index, s->peer, s->offset, why);
	send_finish(s, false);
}

/* The receiver holds @off bytes: counts progress; whether the send is
 * complete (then finished). */
static bool took_offset(struct send *s, uint64_t off)
{
	struct snap_xfer *x = s->x;
	assert(off <= s->info.size);
	assert(s->high <= s->info.size);
	if (off > s->high) {
		x->st.bytes_sent += off - s->high;
		s->high = off;
		s->attempts = 0;
	}
	s->offset = off;
	if (off < s->info.size)
		return false;
	snap_xfer_log(x, 2,
		      "snapshot %" PRIu64 " (%" PRIu64
		      " bytes) delivered to member %" PRIu64,
		      s->info.index, s->info.size, s->peer);
	send_finish(s, true);
	return true;
}

/* Reads [@off, @off + @len) of the file into @out's own memory; its CRC
 * into *@crc. */
static int read_chunk(struct send *s, uint64_t off, size_t len,
		      struct evbuffer *out, uint32_t *crc)
{
	struct evbuffer_iovec v;
	if (len == 0) {
		*crc = 0;
		return 0;
	}
	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) != 1 ||
	    v.iov_len < len) {
		errno = ENOMEM;
		return -1;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(s->fd, (uint8_t *)v.iov_base + got, len - got,
				  (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* the file shrank */
			return -1;
		}
		got += (size_t)r;
	}
	*crc = crc32c(0, v.iov_base, len);
	v.iov_len = len;
	return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}

/* ---- one chunk at a time over evhttp (older receivers) ---- */

static void legacy_chunk(struct send *s);

static void legacy_done(struct evhttp_request *req, void *arg)
{
	struct send *s = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	uint64_t off = 0;
	bool has_off = false;
	if (req != NULL)
		has_off = snap_xfer_parse_u64(
		    evhttp_find_header(evhttp_request_get_input_headers(req),
				       HDR_OFFSET),
		    &off);
	if (code == 200 && has_off && off <= s->info.size) {
		if (!took_offset(s, off))
			legacy_chunk(s);
		return;
	}
	if (code == 400 && has_off && off <= s->info.size &&
	    ++s->attempts < CHUNK_ATTEMPTS) {
		s->offset = off; /* a damaged chunk: send it again */
		legacy_chunk(s);
		return;
	}
	if (code == 0)
		send_failed(s, "no answer (connection failed or timed out)");
	else
		send_failed(s, "HTTP %d", code);
}

static void legacy_chunk(struct send *s)
{
	struct snap_xfer *x = s->x;
	uint64_t left = s->info.size - s->offset;
	size_t len = left < x->chunk_bytes ? (size_t)left : x->chunk_bytes;
	struct evhttp_request *req = evhttp_request_new(legacy_done, s);
	if (req == NULL) {
		send_failed(s, "out of memory");
		return;
	}
	uint32_t ccrc = 0;
	if (read_chunk(s, s->offset, len, evhttp_request_get_output_buffer(req),
		       &ccrc) != 0) {
		evhttp_request_free(req);
		send_failed(s, "cannot read %s: %s", s->path, strerror(errno));
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
	snprintf(v, sizeof(v), "%08x", ccrc);
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
	snprintf(uri, sizeof(uri),
		 SNAP_XFER_PATH "?index=%" PRIu64 "&term=%" PRIu64
				"&offset=%" PRIu64,
		 s->info.index, s->info.term, s->offset);
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, uri) != 0)
		send_failed(s, "cannot make a request"); /* evhttp freed it */
}

/* Turns @s to one chunk at a time over evhttp, from the receiver's offset
 * (its first answer there says where that is). */
static void legacy_start(struct send *s)
{
	struct snap_xfer *x = s->x;
	lane_conn_free(s->lane);
	s->lane = NULL;
	s->inflight = 0;
	x->st.legacy_sends++;
	snap_xfer_log(x, 2,
		      "member %" PRIu64
		      " does not pipeline snapshot chunks: one at a time",
		      s->peer);
	/* Over TLS, a new SSL per connection. */
	struct bufferevent *bev =
	    x->o.tls_client != NULL
		? tls_client_bev(x->o.tls_client, x->base, s->a_host)
		: NULL;
	if (x->o.tls_client == NULL || bev != NULL)
		s->conn = evhttp_connection_base_bufferevent_new(
		    x->base, NULL, bev, s->a_host, (ev_uint16_t)s->a_port);
	if (s->conn == NULL && bev != NULL)
		bufferevent_free(bev);
	if (s->conn == NULL) {
		send_failed(s, "cannot connect");
		return;
	}
	if (x->source_host != NULL)
		evhttp_connection_set_local_address(s->conn, x->source_host);
	struct timeval tv = clock_ms_to_timeval(x->o.request_timeout_ms);
	evhttp_connection_set_timeout_tv(s->conn, &tv);
	evhttp_connection_set_retries(s->conn, 0);
	legacy_chunk(s);
}

/* ---- pipelined ---- */

static void pipe_fill(struct send *s);

/* The offset a receiver of this version puts in a 200 answer's body
 * ("<decimal>\n"). */
static bool answer_offset(const struct lane_answer *a, uint64_t *off)
{
	char text[32];
	size_t n = a->body != NULL ? evbuffer_get_length(a->body) : 0;
	if (n < 2 || n >= sizeof(text))
		return false;
	if (evbuffer_copyout(a->body, text, n) != (ev_ssize_t)n ||
	    text[n - 1] != '\n')
		return false;
	text[n - 1] = '\0';
	return snap_xfer_parse_u64(text, off);
}

/* Drops the chunks in flight with their connection and continues from
 * @off on a new one. */
static void pipe_restart(struct send *s, uint64_t off)
{
	lane_conn_free(s->lane);
	s->lane = NULL;
	s->inflight = 0;
	s->next_off = off;
	s->last_out = false;
	pipe_fill(s);
}

static void pipe_answer(void *arg, const struct lane_answer *a, const char *err)
{
	struct send *s = arg;
	assert(s->inflight > 0 && !s->finished);
	struct send_chunk c = s->ring[s->ring_first];
	s->ring_first = (s->ring_first + 1) % s->x->max_inflight;
	s->inflight--;
	if (a == NULL) {
		send_failed(s, "no answer: %s", err != NULL ? err : "?");
		return;
	}
	uint64_t off = 0;
	bool has_off = answer_offset(a, &off) && off <= s->info.size;
	if (a->status == 200 && !has_off) {
		legacy_start(s);
		return;
	}
	if (a->status == 200) {
		if (took_offset(s, off))
			return;
		if (off == c.off + c.len && lane_conn_alive(s->lane)) {
			pipe_fill(s);
			return;
		}
		/* The receiver stands elsewhere (a transfer it kept from an
		 * earlier send, or started over): the chunks behind this one
		 * were written for another offset. */
		if (off <= c.off && ++s->attempts >= CHUNK_ATTEMPTS) {
			send_failed(
			    s, "the receiver keeps going back (to %" PRIu64 ")",
			    off);
			return;
		}
		s->x->st.resumes++;
		pipe_restart(s, off);
		return;
	}
	if (a->status == 400 && ++s->attempts < CHUNK_ATTEMPTS) {
		/* A damaged chunk, or a whole file that failed its check:
		 * again from the last offset the receiver confirmed; if it
		 * stands elsewhere now (it starts over after a failed check),
		 * its answer there says so. */
		s->x->st.resumes++;
		pipe_restart(s, s->offset);
		return;
	}
	send_failed(s, "HTTP %d %s", a->status, a->reason);
}

static int pipe_connect(struct send *s)
{
	struct snap_xfer *x = s->x;
	char err[256] = "";
	/* The clock of a chunk starts when it is queued, behind the others
	 * in flight: each is given request_timeout_ms per MiB in flight, so
	 * the slowest link a send survives stays what it was with one 1 MiB
	 * chunk per request. */
	uint64_t mib =
	    ((uint64_t)x->chunk_bytes * x->max_inflight + (1u << 20) - 1) >> 20;
	uint64_t tmo = (uint64_t)x->o.request_timeout_ms * (mib > 0 ? mib : 1);
	struct lane_conn_options o = {
	    .base = x->base,
	    .host = s->a_host,
	    .port = s->a_port,
	    .source_host = x->source_host,
	    .tls = x->o.tls_client,
	    .timeout_ms = tmo < UINT_MAX ? (unsigned)tmo : UINT_MAX,
	    .max_inflight = x->max_inflight,
	    .max_answer_bytes = ANSWER_MAX_BYTES,
	};
	int rc = lane_conn_new(&o, &s->lane, err, sizeof(err));
	if (rc != LANE_CONN_OK) {
		s->lane = NULL;
		send_failed(s, "cannot connect: %s",
			    err[0] ? err : lane_conn_strerror(rc));
		return -1;
	}
	return 0;
}

/* Writes the chunk at s->next_off. Returns 0, or -1 when the send ended. */
static int pipe_chunk(struct send *s)
{
	struct snap_xfer *x = s->x;
	assert(s->next_off <= s->info.size && !s->last_out);
	assert(s->inflight < x->max_inflight);
	uint64_t left = s->info.size - s->next_off;
	size_t len = left < x->chunk_bytes ? (size_t)left : x->chunk_bytes;
	struct evbuffer *body = evbuffer_new();
	uint32_t ccrc = 0;
	if (body == NULL || read_chunk(s, s->next_off, len, body, &ccrc) != 0) {
		int e = body == NULL ? ENOMEM : errno;
		if (body != NULL)
			evbuffer_free(body);
		send_failed(s, "cannot read %s: %s", s->path, strerror(e));
		return -1;
	}
	size_t cap = s->head_len + CHUNK_HEAD_EXTRA;
	char *head = malloc(cap);
	int n = head == NULL ? -1
			     : snprintf(head, cap,
					"POST " SNAP_XFER_PATH "?index=%" PRIu64
					"&term=%" PRIu64 "&offset=%" PRIu64
					" HTTP/1.1\r\n"
					"%s" HDR_CHUNK_CRC ": %08x\r\n"
					"Content-Length: %zu\r\n\r\n",
					s->info.index, s->info.term,
					s->next_off, s->head, ccrc, len);
	int rc = n < 0 || (size_t)n >= cap
		     ? LANE_CONN_ENOMEM
		     : lane_conn_request(s->lane, head, (size_t)n, body,
					 pipe_answer, s);
	free(head);
	evbuffer_free(body);
	if (rc != LANE_CONN_OK) {
		send_failed(s, "cannot write a chunk: %s",
			    lane_conn_strerror(rc));
		return -1;
	}
	size_t slot = (s->ring_first + s->inflight) % x->max_inflight;
	s->ring[slot] = (struct send_chunk){.off = s->next_off, .len = len};
	s->inflight++;
	if (s->inflight > x->st.inflight_peak)
		x->st.inflight_peak = s->inflight;
	s->next_off += len;
	s->last_out = s->next_off == s->info.size;
	return 0;
}

/* Keeps max_inflight chunks in flight until the last one is written. */
static void pipe_fill(struct send *s)
{
	if (s->lane == NULL && pipe_connect(s) != 0)
		return;
	while (!s->last_out && s->inflight < s->x->max_inflight)
		if (pipe_chunk(s) != 0)
			return;
}

/* The headers every chunk carries (values checked or made here: no CR or
 * LF). */
static int make_head(struct send *s)
{
	struct snap_xfer *x = s->x;
	size_t cap = 1024 + strlen(s->host) +
		     (x->token != NULL ? strlen(x->token) : 0) +
		     (s->config_hex != NULL ? strlen(s->config_hex) : 0);
	char cfg_idx[32] = "";
	s->head = malloc(cap);
	if (s->head == NULL)
		return -1;
	if (s->config_hex != NULL)
		snprintf(cfg_idx, sizeof(cfg_idx), "%" PRIu64, s->config_index);
	int n = snprintf(
	    s->head, cap,
	    "Host: %s\r\nContent-Type: application/octet-stream\r\n"
	    "%s: %" PRIu64 "\r\n%s%s%s"
	    "%s: %" PRIu64 "\r\n%s: %08x\r\n"
	    "%s: %" PRIu64 "\r\n%s: %" PRIu64 "\r\n"
	    "%s%s%s%s%s%s%s",
	    s->host, HDR_FROM, x->o.self, x->token ? HDR_TOKEN ": " : "",
	    x->token ? x->token : "", x->token ? "\r\n" : "", HDR_SIZE,
	    s->info.size, HDR_CRC, s->info.crc, HDR_RAFT_TERM, s->msg_term,
	    HDR_RAFT_COMMIT, s->commit, s->config_hex ? HDR_CONFIG ": " : "",
	    s->config_hex ? s->config_hex : "", s->config_hex ? "\r\n" : "",
	    s->config_hex ? HDR_CONFIG_IDX ": " : "", cfg_idx,
	    s->config_hex ? "\r\n" : "", "");
	if (n < 0 || (size_t)n >= cap)
		return -1;
	s->head_len = (size_t)n;
	return 0;
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
			snap_xfer_send_free(s);
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
	strcpy(s->a_host, a_host);
	s->a_port = a_port;
	if (strchr(a_host, ':') != NULL)
		snprintf(s->host, sizeof(s->host), "[%s]:%u", a_host,
			 (unsigned)a_port);
	else
		snprintf(s->host, sizeof(s->host), "%s:%u", a_host,
			 (unsigned)a_port);
	s->config_index = config_index;
	if (config != NULL && config_len > 0 &&
	    config_len <= SNAP_XFER_CONFIG_MAX)
		s->config_hex = hex_encode(config, config_len);
	/* Read once, front to back, on the loop: the kernel reads ahead. */
	if (s->fd >= 0)
		(void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	s->ring = calloc(x->max_inflight, sizeof(*s->ring));
	if (s->fd < 0 || s->ring == NULL || make_head(s) != 0) {
		snap_xfer_log(x, 0, "cannot start sending snapshot %s: %s",
			      path,
			      s->fd < 0 ? strerror(errno) : "out of memory");
		snap_xfer_send_free(s);
		return -1;
	}
	s->next = x->sends;
	x->sends = s;
	x->st.sends_started++;
	snap_xfer_log(x, 2,
		      "sending snapshot %" PRIu64 " (term %" PRIu64 ", %" PRIu64
		      " bytes) to member %" PRIu64,
		      info->index, info->term, info->size, peer);
	/* A failure here is reported through on_sent, from the loop. */
	pipe_fill(s);
	return 0;
}

bool snap_xfer_sending(const struct snap_xfer *x, raft_id peer)
{
	for (const struct send *s = x->sends; s != NULL; s = s->next)
		if (s->peer == peer && !s->finished)
			return true;
	return false;
}
