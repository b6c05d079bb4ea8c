/* http_watch.h - GET /v1/watch (NDJSON or Server-Sent Events streams) and
 * blocking reads (?wait_index=N&wait=D), on the member's watch hub
 * (watch_hub.h; docs/API.md, "Watch"). */
#ifndef SERVER_HTTP_WATCH_H_
#define SERVER_HTTP_WATCH_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
struct http_auth_caller;
struct kvdraft_node;

/* A blocking read's default `wait`. */
#define HTTP_WAIT_DEFAULT_MS 60000u

/* GET /v1/watch?key=K|prefix=P[&from=I]: answers or starts a stream.
 * @caller (allowed by http_auth_check()): a stream whose token is revoked,
 * or that was opened without one before auth was turned on, ends with an
 * "unauthorized" error line before its next event or progress line. */
void http_watch_open(struct kvdraft_node *n, struct evhttp_request *req,
		     const char *query, double t0,
		     const struct http_auth_caller *caller);

/* Parses a Last-Event-ID header: the decimal index of the last event the
 * client saw, 0..INT64_MAX - 1. 0 and *@id, or -1. */
int http_parse_last_event_id(const char *s, uint64_t *id);

/* Calls @ready(@arg) on a later loop turn once the key @match (@exact) or
 * a key under the prefix @match changed at an index > @after, or after
 * @wait_ms (plus a jitter of up to 1/16 of it, so that many waiters do
 * not wake at once), or at once when the history no longer reaches back
 * to @after + 1. Returns 0, or -1 when out of memory (@ready is not
 * called). */
int http_watch_wait(struct kvdraft_node *n, const uint8_t *match,
		    size_t match_len, bool exact, uint64_t after,
		    uint64_t wait_ms, void (*ready)(void *arg), void *arg);

struct evbuffer;
/* The watch hub's gauges and counters, in the Prometheus text format. */
void http_watch_metrics(struct kvdraft_node *n, struct evbuffer *out);

#endif /* SERVER_HTTP_WATCH_H_ */
