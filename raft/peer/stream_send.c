/* stream_send.c - the sending end of a peer stream: a lane whose
 * connection is proven asks for POST /raft/stream and, once it is
 * answered 200, writes each batch as one messages frame straight into the
 * connection (no answer per batch, nothing in flight), stops writing while
 * the connection holds STREAM_MAX_OUTPUT_BYTES unwritten and resumes as it
 * drains; pings about every stream_ping_ms, and a pong not back within
 * request_timeout_ms fails the lane like a failed POST (backoff, then a
 * new connection). A peer that answers 404 or 405 does not know the
 * route (an older member): its lanes send POSTs for STREAM_FALLBACK_MS. */
#include "transport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "lane_conn.h"
#include "stream_frame.h"
#include "transport_internal.h"

int transport__stream_head(struct peer *p)
{
	static const char post[] = "POST " TRANSPORT_PATH;
	static const char line[] = "POST " STREAM_PATH;
	size_t rest;

	if (p->post_head_len < sizeof(post) - 1 ||
	    memcmp(p->post_head, post, sizeof(post) - 1) != 0)
		return TRANSPORT_EINVAL;
	rest = p->post_head_len - (sizeof(post) - 1);
	/* The POST head's headers, then the empty line: no length. */
	p->stream_head = malloc(sizeof(line) - 1 + rest + 3);
	if (p->stream_head == NULL)
		return TRANSPORT_ENOMEM;
	memcpy(p->stream_head, line, sizeof(line) - 1);
	memcpy(p->stream_head + sizeof(line) - 1,
	       p->post_head + sizeof(post) - 1, rest);
	memcpy(p->stream_head + sizeof(line) - 1 + rest, "\r\n", 3);
	p->stream_head_len = sizeof(line) - 1 + rest + 2;
	return TRANSPORT_OK;
}

bool transport__stream_wanted(const struct lane *ln)
{
	const struct peer *p = ln->peer;

	if (p->t->lim.force_posts)
		return false;
	return p->posts_until_ms == 0 || clock_now_ms() >= p->posts_until_ms;
}

void transport__stream_reset(struct lane *ln)
{
	ln->opening = false;
	ln->streaming = false;
	ln->ping_out = false;
	if (ln->ping_ev != NULL)
		evtimer_del(ln->ping_ev);
}

/* Arms the ping timer: the next ping is due stream_ping_ms after the
 * last pong (or the open); the pong of the one out, request_timeout_ms
 * after it was sent. */
static void ping_arm(struct lane *ln, double delay_s)
{
	struct timeval tv;

	if (delay_s < 0)
		delay_s = 0;
	tv = clock_ms_to_timeval((uint64_t)(delay_s * 1000.0) + 1);
	evtimer_add(ln->ping_ev, &tv);
}

static void ping_send(struct lane *ln)
{
	const struct transport *t = ln->peer->t;
	uint8_t frame[STREAM_FRAME_HEAD + STREAM_PING_BYTES];
	struct evbuffer *b = evbuffer_new();
	uint64_t seq = ++ln->ping_seq;

	stream_frame_head(frame, STREAM_FRAME_PING, STREAM_PING_BYTES);
	for (int i = 0; i < 8; i++)
		frame[STREAM_FRAME_HEAD + i] = (uint8_t)(seq >> (56 - 8 * i));
	if (b == NULL || evbuffer_add(b, frame, sizeof(frame)) != 0 ||
	    lane_conn_write(ln->conn, b) != LANE_CONN_OK) {
		if (b != NULL)
			evbuffer_free(b);
		transport__lane_failed(ln, "cannot write a ping");
		return;
	}
	evbuffer_free(b);
	ln->ping_out = true;
	ln->ping_sent_at = clock_now_seconds();
	ping_arm(ln, t->lim.request_timeout_ms / 1000.0);
}

void transport__stream_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *ln = arg;
	const struct transport *t = ln->peer->t;
	double waited;

	(void)fd;
	(void)what;
	if (!ln->streaming)
		return;
	if (!ln->ping_out) {
		ping_send(ln);
		return;
	}
	waited = clock_now_seconds() - ln->ping_sent_at;
	if (waited * 1000.0 >= (double)t->lim.request_timeout_ms) {
		transport__lane_failed(ln, "no pong: timeout");
		return;
	}
	ping_arm(ln, t->lim.request_timeout_ms / 1000.0 - waited);
}

/* A pong: the round trip of its ping, as an answer's would be. */
static void pong(struct lane *ln, const uint8_t *b)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	uint64_t seq = 0;
	double now, rtt;

	for (int i = 0; i < 8; i++)
		seq = seq << 8 | b[i];
	if (!ln->ping_out || seq != ln->ping_seq)
		return; /* a late one: its ping timed out */
	now = clock_now_seconds();
	rtt = now - ln->ping_sent_at;
	ln->ping_out = false;
	if (t->on_round_trip != NULL)
		t->on_round_trip(t->ctx, p->id, rtt);
	rtt_window_add(&ln->rtt, now, rtt);
	ln->up = true;
	ln->used = true;
	ping_arm(ln, t->lim.stream_ping_ms / 1000.0);
}

/* What the peer sends on the stream: pongs only. */
static void stream_data(void *arg, struct evbuffer *in)
{
	struct lane *ln = arg;

	while (ln->streaming) {
		uint8_t h[STREAM_FRAME_HEAD + STREAM_PING_BYTES];
		struct stream_frame_hdr f;
		char why[96];
		int rc;

		if (evbuffer_get_length(in) < STREAM_FRAME_HEAD)
			return;
		evbuffer_copyout(in, h, STREAM_FRAME_HEAD);
		rc = stream_frame_parse(h, STREAM_FRAME_HEAD, STREAM_TO_SENDER,
					0, &f);
		if (rc < 0) {
			snprintf(why, sizeof(why), "bad stream frame: %s",
				 stream_frame_strerror(rc));
			transport__lane_failed(ln, why);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(h))
			return;
		evbuffer_remove(in, h, sizeof(h));
		pong(ln, h + STREAM_FRAME_HEAD);
	}
}

static void stream_drained(void *arg)
{
	struct lane *ln = arg;

	if (ln->streaming && ln->head != NULL)
		transport__lane_kick(ln);
}

void transport__stream_start(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct post rec = {.stream = true};

	if (lane_conn_stream(ln->conn, p->stream_head, p->stream_head_len,
			     transport__lane_answer, stream_data,
			     stream_drained, ln) != LANE_CONN_OK) {
		transport__lane_failed(ln, "cannot ask for a stream");
		return;
	}
	transport__lane_record(ln, &rec);
	ln->opening = true;
}

void transport__stream_open_done(struct lane *ln, const struct lane_answer *a,
				 const char *err)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	char why[128];

	ln->opening = false;
	if (a != NULL && (a->status == 404 || a->status == 405)) {
		/* An older member: POSTs, on a new connection (this one
		 * carries no request after a stream's). */
		transport__lane_pop(ln);
		p->posts_until_ms = clock_now_ms() + STREAM_FALLBACK_MS;
		transport__log(t, TRANSPORT_LOG_INFO,
			       "peer %" PRIu64 " (%s) has no " STREAM_PATH
			       " (HTTP %d): POSTs for %u s",
			       p->id, p->url, a->status,
			       STREAM_FALLBACK_MS / 1000);
		transport__lane_drop_conn(ln);
		transport__lane_kick(ln);
		return;
	}
	if (a == NULL || a->status != 200) {
		if (a != NULL)
			snprintf(why, sizeof(why),
				 "stream refused: HTTP %d %.80s", a->status,
				 a->reason);
		else
			snprintf(why, sizeof(why), "stream: %s", err);
		transport__lane_failed(ln, why);
		return;
	}
	transport__lane_pop(ln);
	ln->streaming = true;
	ln->used = true;
	ln->up = true;
	ln->backoff_ms = 0;
	p->c.streams_opened++;
	transport__lane_reachable(ln);
	/* The first round trip at once, then one every stream_ping_ms. */
	ping_send(ln);
	if (ln->streaming && ln->head != NULL)
		transport__lane_kick(ln);
}

void transport__stream_flush(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct chunk *c;

	while (ln->streaming && (c = ln->head) != NULL &&
	       lane_conn_output_bytes(ln->conn) < STREAM_MAX_OUTPUT_BYTES) {
		uint8_t h[STREAM_FRAME_HEAD];
		size_t bytes = evbuffer_get_length(c->buf);

		stream_frame_head(h, STREAM_FRAME_MESSAGES, (uint32_t)bytes);
		/* The header goes in front of the batch's bytes (a
		 * prepend, no copy of the batch). */
		if (evbuffer_prepend(c->buf, h, sizeof(h)) != 0 ||
		    lane_conn_write(ln->conn, c->buf) != LANE_CONN_OK) {
			transport__lane_failed(ln, "cannot write a frame");
			return;
		}
		p->c.frames_sent++;
		p->c.msgs_sent += c->msgs;
		p->c.bytes_sent += bytes;
		ln->head = c->next;
		if (ln->head == NULL)
			ln->tail = NULL;
		p->queued_msgs -= c->msgs;
		p->queued_bytes -= bytes;
		evbuffer_free(c->buf);
		free(c);
	}
	/* What is left goes once the output drains (stream_drained()). */
}

void transport__lane_conn_closed(void *arg, const char *why)
{
	struct lane *ln = arg;

	if (ln->streaming)
		transport__lane_failed(ln, why);
}
