/* noop_server.c - the evhttp ceiling: answers every request with 200. */

/*
 * scripts/bench compiles this when ../shared/anchors/evhttp_noop.c is not
 * present, and measures it with wrk: no kvd request can be served faster
 * by evhttp on the same machine, so "stale GET" is compared with it.
 *
 * Usage: noop_server [PORT]   (listens on 127.0.0.1, default port 18080)
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void noop_reply(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = arg;

	/* The body is a copy of a shared buffer: nothing to build per call. */
	evbuffer_drain(body, evbuffer_get_length(body));
	evbuffer_add(body, "ok\n", 3);
	evhttp_send_reply(req, 200, "OK", body);
}

int main(int argc, char **argv)
{
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct evbuffer *body = NULL;
	int port = argc > 1 ? atoi(argv[1]) : 18080;
	int rc = 1;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "noop_server: bad port '%s'\n", argv[1]);
		return 2;
	}
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	body = evbuffer_new();
	if (!base || !http || !body) {
		fprintf(stderr, "noop_server: out of memory\n");
		goto out;
	}
	if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "noop_server: cannot listen on 127.0.0.1:%d\n",
			port);
		goto out;
	}
	evhttp_set_gencb(http, noop_reply, body);
	rc = event_base_dispatch(base) == 0 ? 0 : 1;
out:
	if (body)
		evbuffer_free(body);
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	return rc;
}
