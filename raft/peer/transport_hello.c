/* transport_hello.c - the peer hello (peer_proof.h): before a lane's
 * connection carries anything with the peer token, the peer at the other
 * end proves that it holds the token; and the route that answers such
 * proofs (GET /raft/hello) on the peer listener. */
#include "transport.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "lane_conn.h"
#include "peer_proof.h"
#include "transport_internal.h"

/* The answering side's rate limit: a burst of HELLO_BURST answers, then
 * HELLO_PER_SECOND. A member asks once per lane (re)connect, two lanes per
 * peer: far below this. The limit keeps the route from being a cheap way
 * to make the member compute MACs in bulk. */
#define HELLO_BURST	 64.0
#define HELLO_PER_SECOND 32.0
/* ---- asking ---- */

bool transport__hello_needed(const struct lane *ln)
{
	return ln->peer->t->token != NULL && !ln->proven;
}

/* The hello was not answered with a good proof: the lane fails like a
 * failed POST (what waits on it is dropped, the core sends again, the lane
 * backs off), the line logged with the lane's rate limit. @answered: the
 * peer answered, wrongly (counted apart from unreachable peers, and the
 * peer is no longer taken as proven, for snapshots too). */
static void hello_failed(struct lane *ln, bool answered, const char *why)
{
	struct peer *p = ln->peer;
	char line[160];

	ln->hello = false;
	if (answered) {
		p->c.proof_failures++;
		p->proven = false;
	}
	snprintf(line, sizeof(line), "no proof of membership: %s", why);
	transport__lane_failed(ln, line);
}

void transport__hello_done(struct lane *ln, const struct lane_answer *a,
			   const char *err)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	uint8_t mac[PEER_PROOF_MAC_BYTES];
	const uint8_t *body;
	char why[128];
	raft_id id = 0;
	size_t len;

	if (a == NULL || a->status != 200) {
		if (a != NULL)
			snprintf(why, sizeof(why), "hello answered HTTP %d",
				 a->status);
		else
			snprintf(why, sizeof(why), "hello: %s", err);
		hello_failed(ln, a != NULL, why);
		return;
	}
	len = evbuffer_get_length(a->body);
	body = len <= PEER_PROOF_ANSWER_MAX
		   ? evbuffer_pullup(a->body, (ev_ssize_t)len)
		   : NULL;
	if (body == NULL || peer_proof_parse_answer(body, len, &id, mac) != 0) {
		hello_failed(ln, true, "malformed hello answer");
		return;
	}
	if (id != p->id) {
		snprintf(why, sizeof(why),
			 "the hello was answered by member %" PRIu64, id);
		hello_failed(ln, true, why);
		return;
	}
	if (!peer_proof_check(t->token, t->token_len, ln->nonce, p->id, t->self,
			      mac)) {
		hello_failed(ln, true,
			     "wrong proof (the peer does not hold this "
			     "member's peer token)");
		return;
	}
	/* An answer that closes its connection proves a connection that is
	 * gone: the next POST would go out on a new, unproven one. */
	if (a->close) {
		hello_failed(ln, true, "connection closed after the hello");
		return;
	}
	transport__lane_pop(ln);
	ln->hello = false;
	ln->proven = true;
	if (!p->proven)
		transport__log(t, TRANSPORT_LOG_INFO,
			       "peer %" PRIu64 " (%s) proved its membership",
			       p->id, p->url);
	p->proven = true;
	transport__lane_kick(ln);
}

void transport__hello_start(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	char hex[PEER_PROOF_NONCE_HEX + 1];
	char head[sizeof(PEER_PROOF_PATH) + PEER_PROOF_NONCE_HEX +
		  TRANSPORT_MAX_URL + 128];
	const struct post rec = {.hello = true};
	int n;

	if (peer_proof_nonce(ln->nonce) != 0) {
		transport__lane_failed(ln, "no random bytes for a hello");
		return;
	}
	peer_proof_nonce_hex(ln->nonce, hex);
	/* No token, no client URL: nothing but who asks. */
	n = snprintf(head, sizeof(head),
		     "GET " PEER_PROOF_PATH "?nonce=%s HTTP/1.1\r\nHost: %s\r\n"
		     "%s: %s\r\n\r\n",
		     hex, p->host_header, TRANSPORT_HEADER_FROM, t->self_str);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    transport__lane_write(ln, head, (size_t)n, NULL, &rec) != 0) {
		hello_failed(ln, false, "cannot send the hello");
		return;
	}
	ln->hello = true;
	ln->proven = false;
}

/* ---- answering ---- */

bool transport__head_is_hello(const char *head)
{
	static const char line[] = "GET " PEER_PROOF_PATH "?";

	return strncmp(head, line, sizeof(line) - 1) == 0;
}

static void hello_reply(struct evhttp_request *req, int code,
			const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s", text);
	evhttp_send_reply(req, code, reason, NULL);
}

/* Takes one answer from the bucket; false when it is empty. */
static bool hello_allowed(struct transport *t)
{
	uint64_t now = clock_now_ms();

	if (t->hello_refill_ms == 0) {
		t->hello_bucket = HELLO_BURST;
	} else if (now > t->hello_refill_ms) {
		t->hello_bucket += (double)(now - t->hello_refill_ms) *
				   HELLO_PER_SECOND / 1000.0;
		if (t->hello_bucket > HELLO_BURST)
			t->hello_bucket = HELLO_BURST;
	}
	t->hello_refill_ms = now;
	if (t->hello_bucket < 1.0)
		return false;
	t->hello_bucket -= 1.0;
	return true;
}

/* GET /raft/hello?nonce=HEX, X-Kvd-From: ID. Answered without a token:
 * the answer is a MAC over the asker's nonce and both ids, which tells a
 * stranger nothing of the token and is good for nothing but this
 * question (peer_proof.h). */
static void handle_hello(struct evhttp_request *req, void *arg)
{
	struct transport *t = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *q = u ? evhttp_uri_get_query(u) : NULL;
	uint8_t nonce[PEER_PROOF_NONCE_BYTES], mac[PEER_PROOF_MAC_BYTES];
	char body[PEER_PROOF_ANSWER_MAX];
	struct evkeyvalq args;
	raft_id from = 0;
	int bad = 0;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		t->bad_requests++;
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET");
		hello_reply(req, 405, "Method Not Allowed", "use GET\n");
		return;
	}
	if (t->token == NULL) {
		hello_reply(req, 404, "Not Found",
			    "this member has no peer token\n");
		return;
	}
	if (!hello_allowed(t)) {
		t->hellos_limited++;
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", "1");
		hello_reply(req, 429, "Too Many Requests", "too many hellos\n");
		return;
	}
	TAILQ_INIT(&args);
	if (q == NULL || evhttp_parse_query_str(q, &args) != 0 ||
	    peer_proof_parse_nonce(evhttp_find_header(&args, "nonce"), nonce) !=
		0)
		bad = 1;
	evhttp_clear_headers(&args);
	if (!bad && (!transport__parse_id(
			 evhttp_find_header(h, TRANSPORT_HEADER_FROM), &from) ||
		     from == t->self))
		bad = 2;
	if (bad) {
		t->bad_requests++;
		hello_reply(req, 400, "Bad Request",
			    bad == 1 ? "bad nonce\n"
				     : "bad " TRANSPORT_HEADER_FROM "\n");
		return;
	}
	peer_proof_compute(t->token, t->token_len, nonce, t->self, from, mac);
	if (peer_proof_format_answer(t->self, mac, body, sizeof(body)) == 0) {
		hello_reply(req, 500, "Internal Server Error", "internal\n");
		return;
	}
	t->hellos_answered++;
	hello_reply(req, 200, "OK", body);
}

int transport__hello_attach(struct transport *t, struct evhttp *http)
{
	return evhttp_set_cb(http, PEER_PROOF_PATH, handle_hello, t) == 0
		   ? TRANSPORT_OK
		   : TRANSPORT_EEVENT;
}
