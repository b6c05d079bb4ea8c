/* fuzz_peer_http.c - libFuzzer target for the peer listener: raw HTTP bytes
 * at transport_attach()'s POST /raft/messages on a real evhttp server
 * (raft/peer/transport.h), over loopback TCP. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_http.h"
#include "msg_codec.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: one mode byte, then the bytes to send.
 *   mode 0x01  rewrite frame checksums in the body (fuzz_common.h)
 *   mode 0x02  the bytes are a body: the target wraps them in one
 *              well-formed POST and checks the exact answer
 *   mode 0x04  send to the second listener: token, small limits */
#define MODE_BODY  0x02
#define MODE_TOKEN 0x04

#define SELF	    1
#define FROM	    2
#define TOKEN	    "fuzz-peer-token"
#define MAX_ANSWERS 64

struct server {
	struct evhttp *http;
	struct transport *t;
	struct msg_codec_limits codec; /* as the transport resolves them */
	uint16_t port;
};

static struct event_base *base;
static struct server plain, guarded;
static struct evbuffer *answer;

/* What the last request delivered, and from whom. */
static size_t delivered;
static raft_id delivered_from;

static void on_messages(void *ctx, const struct raft_msg *msgs, size_t n,
			raft_id from, const char *from_client_url,
			const char *from_addr, const char *from_peer_url)
{
	struct server *s = ctx;

	/* transport.h's promises to on_messages(). */
	FUZZ_CHECK(n > 0 && msgs != NULL && from != 0);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(msgs[i].to == SELF);
		FUZZ_CHECK(msgs[i].from == from);
		FUZZ_CHECK(msg_codec_check(&msgs[i], &s->codec) ==
			   MSG_CODEC_OK);
		for (size_t j = 0; j < msgs[i].n_entries; j++)
			FUZZ_CHECK(msgs[i].entries[j].len == 0 ||
				   msgs[i].entries[j].data != NULL);
	}
	if (from_client_url) {
		size_t ul = strlen(from_client_url);
		FUZZ_CHECK(ul < TRANSPORT_MAX_URL);
		for (size_t i = 0; i < ul; i++)
			FUZZ_CHECK(from_client_url[i] >= 0x20 &&
				   from_client_url[i] < 0x7f);
	}
	if (from_peer_url) {
		char host[TRANSPORT_MAX_URL];
		const char *why;
		int port;

		FUZZ_CHECK(transport_parse_url(from_peer_url, host,
					       sizeof(host), &port,
					       &why) == TRANSPORT_OK);
	}
	/* The fuzzer's requests come from no socket. */
	(void)from_addr;
	delivered += n;
	delivered_from = from;
}

static void on_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	FUZZ_CHECK(level >= TRANSPORT_LOG_ERROR &&
		   level <= TRANSPORT_LOG_DEBUG);
	FUZZ_CHECK(line != NULL && strchr(line, '\n') == NULL);
}

static void server_init(struct server *s, const char *token,
			const struct transport_limits *lim)
{
	struct transport_options o = {
	    .self = SELF,
	    .token = token,
	    .on_messages = on_messages,
	    .log = on_log,
	    .ctx = s,
	    .seed = 1,
	};

	if (lim)
		o.limits = *lim;
	s->http = evhttp_new(base);
	FUZZ_CHECK(s->http != NULL);
	FUZZ_CHECK(transport_new(base, &o, &s->t) == TRANSPORT_OK);
	FUZZ_CHECK(transport_attach(s->t, s->http) == TRANSPORT_OK);
	s->port = fuzz_http_listen(s->http);
	/* The decoding limits the transport applies (transport.h). */
	s->codec = o.limits.codec;
	s->codec.max_body_bytes = o.limits.max_body_bytes
				      ? o.limits.max_body_bytes
				      : MSG_CODEC_DEFAULT_MAX_BODY_BYTES;
}

static void setup(void)
{
	static const struct transport_limits small = {
	    .max_body_bytes = 1024,
	    .codec = {.max_msgs = 3, .max_entries = 3, .max_entry_bytes = 64},
	};

	if (base)
		return;
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	answer = evbuffer_new();
	FUZZ_CHECK(answer != NULL);
	server_init(&plain, NULL, NULL);
	server_init(&guarded, TOKEN, &small);
}

/* Mode MODE_BODY: one POST whose answer is known in advance. */
static void exchange_body(struct server *s, int with_token, const uint8_t *body,
			  size_t len)
{
	char head[512];
	int hl = snprintf(
	    head, sizeof(head),
	    "POST " TRANSPORT_PATH " HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n"
	    "Content-Type: application/octet-stream\r\n" TRANSPORT_HEADER_FROM
	    ": %d\r\n" TRANSPORT_HEADER_CLIENT_URL ": http://127.0.0.1:1\r\n"
	    "%s%s%s"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    FROM, with_token ? TRANSPORT_HEADER_TOKEN ": " : "",
	    with_token ? TOKEN : "", with_token ? "\r\n" : "", len);
	uint8_t *req = malloc((size_t)hl + len + 1);
	struct transport_stats before, after;
	struct fuzz_http_answer a[MAX_ANSWERS];
	struct msg_batch b;

	FUZZ_CHECK(req != NULL);
	memcpy(req, head, (size_t)hl);
	if (len)
		memcpy(req + hl, body, len);

	/* What the answer must be, decided with the codec alone. */
	int expect;
	size_t expect_delivered = 0;
	if (len > s->codec.max_body_bytes) {
		expect = 413;
	} else if (msg_codec_decode(body, len, &s->codec, &b, NULL) !=
		   MSG_CODEC_OK) {
		expect = 400;
	} else {
		expect = 204;
		for (size_t i = 0; i < b.n_msgs; i++) {
			if (b.msgs[i].from != FROM)
				expect = 400;
			expect_delivered += b.msgs[i].to == SELF;
		}
		msg_batch_free(&b);
	}
	if (expect != 204)
		expect_delivered = 0;

	transport_stats(s->t, &before);
	delivered = 0;
	evbuffer_drain(answer, evbuffer_get_length(answer));
	int reset =
	    fuzz_http_exchange(base, s->port, req, (size_t)hl + len, answer);
	size_t alen = evbuffer_get_length(answer);
	const char *ap = (const char *)evbuffer_pullup(answer, -1);
	size_t na = fuzz_http_parse_answers(ap, alen, a, MAX_ANSWERS);
	transport_stats(s->t, &after);

	if (!(reset && expect == 413)) {
		FUZZ_CHECK(na == 1);
		if (a[0].status != expect)
			fprintf(stderr, "answer %d, expected %d\n", a[0].status,
				expect);
		FUZZ_CHECK(a[0].status == expect);
	}
	FUZZ_CHECK(delivered == expect_delivered);
	FUZZ_CHECK(after.msgs_received - before.msgs_received ==
		   expect_delivered);
	FUZZ_CHECK(after.posts_received - before.posts_received ==
		   (expect == 204));
	if (expect == 400)
		FUZZ_CHECK(after.bad_requests == before.bad_requests + 1);
	if (expect_delivered)
		FUZZ_CHECK(delivered_from == FROM);
	FUZZ_CHECK(after.unauthorized == before.unauthorized);
	free(req);
}

/* Raw bytes: whatever they are, every answer is well formed, nothing is
 * delivered without a 204, and the server closes when the input ends. */
static void exchange_raw(struct server *s, const uint8_t *req, size_t len)
{
	struct transport_stats before, after;
	struct fuzz_http_answer a[MAX_ANSWERS];

	transport_stats(s->t, &before);
	delivered = 0;
	evbuffer_drain(answer, evbuffer_get_length(answer));
	int reset = fuzz_http_exchange(base, s->port, req, len, answer);
	size_t alen = evbuffer_get_length(answer);
	const char *ap = (const char *)evbuffer_pullup(answer, -1);
	size_t na = fuzz_http_parse_answers(ap, alen, a, MAX_ANSWERS);
	transport_stats(s->t, &after);

	size_t n204 = 0;
	for (size_t i = 0; i < na; i++) {
		/* 500 is only for running out of memory. */
		FUZZ_CHECK(a[i].status != 500);
		n204 += a[i].status == 204;
	}
	if (!reset && na < MAX_ANSWERS)
		FUZZ_CHECK(after.posts_received - before.posts_received ==
			   n204);
	if (delivered)
		FUZZ_CHECK(after.posts_received > before.posts_received);
	FUZZ_CHECK(after.msgs_received - before.msgs_received == delivered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	setup();
	uint8_t mode = data[0];
	size_t len = size - 1;
	uint8_t *buf = fuzz_dup(data + 1, len);
	struct server *s = (mode & MODE_TOKEN) ? &guarded : &plain;

	if (mode & MODE_BODY) {
		if (mode & FUZZ_FIX_CRC)
			fuzz_fix_frames(buf, len);
		exchange_body(s, s == &guarded, buf, len);
	} else {
		if (mode & FUZZ_FIX_CRC) {
			uint8_t *body = memmem(buf, len, "\r\n\r\n", 4);
			if (body)
				fuzz_fix_frames(body + 4,
						len - (size_t)(body + 4 - buf));
		}
		exchange_raw(s, buf, len);
	}
	free(buf);
	return 0;
}
