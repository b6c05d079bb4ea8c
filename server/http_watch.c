/* http_watch.c - watch streams and blocking reads over HTTP: what a
 * watcher of the hub (watch_hub.h) writes to its client. */
#include "http_watch.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_auth.h"
#include "http_util.h"
#include "kv.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "log.h"
#include "metrics.h"
#include "watch_hub.h"

/* Unread output beyond which a live stream is ended (slow_consumer), and
 * beyond which a catch-up stream pauses until its output is written. */
#define STREAM_OUTPUT_CAP   (8u * 1024 * 1024)
#define CATCHUP_PAUSE_BYTES (1024u * 1024)

struct stream {
	struct kvdraft_node *n;
	struct watch_hub *hub;
	struct watcher *w;
	struct evhttp_request *req;
	bool sse;
	bool paused;
	struct evbuffer *pending;
	/* Auth (§1.8): the caller, checked again when the auth state
	 * changed. */
	struct http_auth_hold auth;
};

/* ---- formatting ---- */

/* A key as a JSON string: keys are UTF-8 (kv_key_valid()); quotes,
 * backslashes and any byte below 0x20 are escaped. */
static int add_json_string(struct evbuffer *b, const uint8_t *p, size_t len)
{
	int rc = evbuffer_add(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		uint8_t c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (i > run)
			rc |= evbuffer_add(b, p + run, i - run);
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			rc |= evbuffer_add(b, esc, 2);
		} else {
			rc |= evbuffer_add_printf(b, "\\u%04x", c) < 0;
		}
		run = i + 1;
	}
	if (rc == 0 && len > run)
		rc = evbuffer_add(b, p + run, len - run);
	return rc == 0 ? evbuffer_add(b, "\"", 1) : -1;
}

/* The JSON object of a change, without a newline. */
static int add_change_json(struct evbuffer *b, const struct kv_event *ev)
{
	bool put = ev->type == KV_EVENT_PUT;
	int rc = evbuffer_add_printf(b, "{\"type\":\"%s\",\"key\":",
				     put ? "put" : "delete") < 0;
	rc |= add_json_string(b, ev->key, ev->key_len);
	if (put && rc == 0) {
		size_t n = http_base64_len(ev->value_len);
		struct evbuffer_iovec v;
		rc |= evbuffer_add(b, ",\"value\":\"", 10);
		if (rc == 0 && n > 0) {
			if (evbuffer_reserve_space(b, (ev_ssize_t)n, &v, 1) < 1)
				return -1;
			http_base64_to(v.iov_base, ev->value, ev->value_len);
			v.iov_len = n;
			rc |= evbuffer_commit_space(b, &v, 1);
		}
		rc |= evbuffer_add(b, "\"", 1);
	}
	rc |= evbuffer_add_printf(b, ",\"index\":%" PRIu64 "}", ev->index) < 0;
	return rc == 0 ? 0 : -1;
}

/* One event in the stream's framing: a line, or an SSE frame (an id
 * when @id is nonzero). @json is the object's text. */
static int add_frame(struct evbuffer *out, bool sse, const char *type,
		     uint64_t id, struct evbuffer *json)
{
	int rc = 0;
	if (sse) {
		if (id != 0)
			rc |= evbuffer_add_printf(out, "id: %" PRIu64 "\n",
						  id) < 0;
		rc |= evbuffer_add_printf(out, "event: %s\ndata: ", type) < 0;
	}
	rc |= evbuffer_add(out, evbuffer_pullup(json, -1),
			   evbuffer_get_length(json));
	rc |= evbuffer_add(out, sse ? "\n\n" : "\n", sse ? 2 : 1);
	return rc == 0 ? 0 : -1;
}

/* ---- a stream ---- */

static size_t unread_bytes(struct stream *s)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
	size_t n = evbuffer_get_length(s->pending);
	if (evcon != NULL)
		n += evbuffer_get_length(bufferevent_get_output(
		    evhttp_connection_get_bufferevent(evcon)));
	return n;
}

static bool client_gone(struct stream *s)
{
	return evhttp_request_get_connection(s->req) == NULL;
}

/* The JSON of the last change formatted: the hub hands one change to
 * every stream it concerns in a row, so a write watched by a thousand
 * streams is formatted once. A change is named by its index and key (an
 * index changes a key at most once). Loop thread only. */
static struct {
	struct evbuffer *json;
	bool valid;
	raft_index index;
	size_t key_len;
	uint8_t key[KV_KEY_MAX];
} last_change;

static struct evbuffer *change_json(const struct kv_event *ev)
{
	if (last_change.valid && last_change.index == ev->index &&
	    last_change.key_len == ev->key_len &&
	    memcmp(last_change.key, ev->key, ev->key_len) == 0)
		return last_change.json;
	if (last_change.json == NULL &&
	    (last_change.json = evbuffer_new()) == NULL)
		return NULL;
	struct evbuffer *b = last_change.json;
	last_change.valid = false;
	evbuffer_drain(b, evbuffer_get_length(b));
	if (ev->key_len > KV_KEY_MAX || add_change_json(b, ev) != 0 ||
	    evbuffer_pullup(b, -1) == NULL)
		return NULL;
	last_change.index = ev->index;
	last_change.key_len = ev->key_len;
	memcpy(last_change.key, ev->key, ev->key_len);
	last_change.valid = true;
	return b;
}

static void stream_flush(void *arg);

/* Whether the stream may go on (http_auth_hold_ok()). When it may not
 * (its token revoked; or auth turned on, and it was opened without one),
 * its last line says so and WATCH_STOP ends it. */
static int stream_authorized(struct stream *s)
{
	if (http_auth_hold_ok(s->n, &s->auth))
		return WATCH_GO_ON;
	struct evbuffer *json = evbuffer_new();
	if (json != NULL &&
	    evbuffer_add_printf(
		json, "{\"type\":\"error\",\"error\":"
		      "\"unauthorized\",\"message\":\"the stream's "
		      "token was revoked, or auth was turned on\"}") > 0)
		add_frame(s->pending, s->sse, "error", 0, json);
	if (json != NULL)
		evbuffer_free(json);
	stream_flush(s);
	return WATCH_STOP;
}

static int stream_change(void *arg, const struct kv_event *ev)
{
	struct stream *s = arg;
	if (client_gone(s))
		return WATCH_STOP;
	if (stream_authorized(s) != WATCH_GO_ON)
		return WATCH_STOP;
	struct evbuffer *json = change_json(ev);
	int rc = json == NULL ||
		 add_frame(s->pending, s->sse,
			   ev->type == KV_EVENT_PUT ? "put" : "delete",
			   ev->index, json) != 0;
	if (rc != 0)
		return WATCH_SLOW; /* out of memory: end it rather than skip */
	size_t unread = unread_bytes(s);
	if (unread > STREAM_OUTPUT_CAP)
		return WATCH_SLOW;
	if (unread > CATCHUP_PAUSE_BYTES && !s->paused) {
		/* No-op for a live stream; a catch-up one waits for its
		 * output to leave (chunk_written). */
		s->paused = true;
		watch_hub_pause(s->hub, s->w);
	}
	return WATCH_GO_ON;
}

/* Everything sent so far was written to the socket. */
static void chunk_written(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct stream *s = arg;
	if (s->paused) {
		s->paused = false;
		watch_hub_resume(s->hub, s->w);
	}
}

static void stream_flush(void *arg)
{
	struct stream *s = arg;
	if (evbuffer_get_length(s->pending) > 0)
		evhttp_send_reply_chunk_with_cb(s->req, s->pending,
						chunk_written, s);
}

static int stream_progress(void *arg, raft_index index)
{
	struct stream *s = arg;
	if (client_gone(s))
		return WATCH_STOP;
	if (stream_authorized(s) != WATCH_GO_ON)
		return WATCH_STOP;
	/* The streams due together mostly share the index: its line is
	 * formatted once. */
	static struct evbuffer *json;
	static raft_index json_index;
	if (json == NULL && (json = evbuffer_new()) == NULL)
		return WATCH_SLOW;
	if (json_index != index || evbuffer_get_length(json) == 0) {
		evbuffer_drain(json, evbuffer_get_length(json));
		if (evbuffer_add_printf(
			json, "{\"type\":\"progress\",\"index\":%" PRIu64 "}",
			index) < 0 ||
		    evbuffer_pullup(json, -1) == NULL) {
			evbuffer_drain(json, evbuffer_get_length(json));
			return WATCH_SLOW;
		}
		json_index = index;
	}
	int rc = add_frame(s->pending, s->sse, "progress", index, json);
	if (rc != 0)
		return WATCH_SLOW;
	if (unread_bytes(s) > STREAM_OUTPUT_CAP)
		return WATCH_SLOW;
	stream_flush(s);
	return WATCH_GO_ON;
}

static bool stream_alive(void *arg)
{
	return !client_gone(arg);
}

static const char *end_code(enum watch_end why, const char **msg)
{
	switch (why) {
	case WATCH_END_SLOW_CONSUMER:
		*msg = "the client read too slowly: more than 8 MiB unread";
		return "slow_consumer";
	case WATCH_END_COMPACTED:
		*msg = "the changes from the stream's position are no longer "
		       "kept (a snapshot replaced this member's state); "
		       "resume from oldest after re-reading";
		return "compacted";
	case WATCH_END_REMOVED:
		*msg = "this member was removed from the cluster";
		return "removed";
	case WATCH_END_SHUTTING_DOWN:
		*msg = "the member is shutting down";
		return "shutting_down";
	default:
		*msg = "the member could not read its change history";
		return "internal";
	}
}

static void stream_end(void *arg, enum watch_end why, raft_index oldest)
{
	struct stream *s = arg;
	if (!client_gone(s) && why != WATCH_END_DONE) {
		const char *msg, *code = end_code(why, &msg);
		struct evbuffer *json = evbuffer_new();
		if (json != NULL) {
			json_t *o = json_pack("{s:s,s:s,s:s}", "type", "error",
					      "error", code, "message", msg);
			if (o != NULL && why == WATCH_END_COMPACTED)
				json_object_set_new(
				    o, "oldest",
				    json_integer((json_int_t)oldest));
			char *text =
			    o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
			if (text != NULL &&
			    evbuffer_add(json, text, strlen(text)) == 0)
				add_frame(s->pending, s->sse, "error", 0, json);
			free(text);
			json_decref(o);
			evbuffer_free(json);
		}
		stream_flush(s);
	}
	/* Frees the request when its connection is gone. */
	evhttp_send_reply_end(s->req);
	evbuffer_free(s->pending);
	free(s);
}

static const struct watcher_ops stream_ops = {
    .change = stream_change,
    .flush = stream_flush,
    .progress = stream_progress,
    .alive = stream_alive,
    .end = stream_end,
};

/* ---- parsing ---- */

int http_parse_last_event_id(const char *s, uint64_t *id)
{
	return http_parse_u64(s, strlen(s), 0, INT64_MAX - 1, id);
}

/* ---- GET /v1/watch ---- */

static void count(struct kvdraft_node *n, int status, double t0)
{
	metrics_http(kvd_metrics(n), ROUTE_WATCH, status,
		     clock_now_seconds() - t0);
}

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			double t0, int status, const char *code,
			const char *msg, json_t *extra)
{
	http_send_error(req, status, code, msg, extra);
	count(n, status, t0);
}

void http_watch_open(struct kvdraft_node *n, struct evhttp_request *req,
		     const char *query, double t0,
		     const struct http_auth_caller *caller)
{
	struct http_param p[] = {
	    {.name = "key"}, {.name = "prefix"}, {.name = "from"}};
	const size_t np = 3;
	if (http_parse_query(query, p, np) != 0) {
		http_params_free(p, np);
		reply_error(n, req, t0, 500, "internal", "out of memory", NULL);
		return;
	}
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *accept = evhttp_find_header(in, "Accept");
	const char *last_id = evhttp_find_header(in, "Last-Event-ID");
	bool sse = accept != NULL && strstr(accept, "text/event-stream");
	bool exact = p[0].value != NULL;
	const struct http_param *m = exact ? &p[0] : &p[1];
	uint64_t from = 0, id;
	const char *msg = NULL;
	if ((p[0].value == NULL) == (p[1].value == NULL))
		msg = "give one of key and prefix";
	else if (exact && !kv_key_valid((const uint8_t *)m->value, m->len))
		msg = "keys are 1-511 bytes of UTF-8 without control "
		      "characters";
	else if (!exact && m->len > KV_KEY_MAX)
		msg = "a prefix is at most 511 bytes";
	else if (p[2].value != NULL &&
		 http_parse_u64(p[2].value, p[2].len, 1, INT64_MAX, &from) != 0)
		msg = "from must be an index in [1, 2^63-1]";
	else if (p[2].value == NULL && last_id != NULL) {
		/* `from` wins over Last-Event-ID (DESIGN.md §1.5). */
		if (http_parse_last_event_id(last_id, &id) != 0)
			msg = "Last-Event-ID must be an index";
		else
			from = id + 1;
	}
	if (msg != NULL) {
		reply_error(n, req, t0, 400, "bad_request", msg, NULL);
		goto out;
	}
	struct watch_hub *hub = kvd_watch_hub(n);
	struct stream *s = calloc(1, sizeof(*s));
	struct evbuffer *pending = evbuffer_new();
	if (s == NULL || pending == NULL) {
		free(s);
		if (pending != NULL)
			evbuffer_free(pending);
		reply_error(n, req, t0, 500, "internal", "out of memory", NULL);
		goto out;
	}
	s->n = n;
	s->hub = hub;
	s->req = req;
	s->sse = sse;
	s->pending = pending;
	http_auth_hold(caller, &s->auth);
	/* The store's applied index: without `from` the stream starts after
	 * it (the hub may not have handed out its changes yet). */
	raft_index applied = kv_applied_index(kv_app_store(n)), oldest = 0;
	int rc =
	    kvd_member_removed(n)
		? WATCH_END_REMOVED
		: watch_hub_add(hub, (const uint8_t *)m->value, m->len, exact,
				from, true, &stream_ops, s, &s->w, &oldest);
	if (rc != 0) {
		evbuffer_free(pending);
		free(s);
		if (rc == WATCH_END_REMOVED)
			reply_error(n, req, t0, 503, "unavailable",
				    "this member was removed from the cluster",
				    NULL);
		else if (rc == KV_ECOMPACTED)
			reply_error(
			    n, req, t0, 410, "compacted",
			    "changes from that index are no longer "
			    "kept; oldest is the first index a watch "
			    "can start from",
			    json_pack("{s:I}", "oldest", (json_int_t)oldest));
		else if (rc == WATCH_HUB_EFULL)
			reply_error(n, req, t0, 503, "unavailable",
				    "too many watch streams on this member "
				    "(--max-watchers)",
				    NULL);
		else
			reply_error(n, req, t0, 500, "internal",
				    kv_strerror(rc), NULL);
		goto out;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char idx[32];
	snprintf(idx, sizeof(idx), "%" PRIu64, applied);
	evhttp_add_header(h, "Content-Type",
			  sse ? "text/event-stream" : "application/x-ndjson");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Kv-Index", idx);
	evhttp_send_reply_start(req, 200, "OK");
	count(n, 200, t0);
out:
	http_params_free(p, np);
}

/* ---- blocking reads ---- */

struct waiter {
	struct watch_hub *hub;
	struct watcher *w;
	struct event *timer;
	void (*ready)(void *arg);
	void *arg;
};

static int wait_change(void *arg, const struct kv_event *ev)
{
	(void)arg;
	(void)ev;
	return WATCH_STOP;
}

static void wait_end(void *arg, enum watch_end why, raft_index oldest)
{
	(void)why;
	(void)oldest;
	struct waiter *wt = arg;
	event_free(wt->timer);
	/* Whatever ended the wait, the answer is the read as it stands. */
	wt->ready(wt->arg);
	free(wt);
}

static const struct watcher_ops wait_ops = {
    .change = wait_change,
    .end = wait_end,
};

static void wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct waiter *wt = arg;
	watch_hub_end(wt->hub, wt->w, WATCH_END_TIMEOUT);
}

/* The answer on a later loop turn, as a change would come. */
static void wait_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct waiter *wt = arg;
	wt->ready(wt->arg);
	event_free(wt->timer);
	free(wt);
}

int http_watch_wait(struct kvdraft_node *n, const uint8_t *match,
		    size_t match_len, bool exact, uint64_t after,
		    uint64_t wait_ms, void (*ready)(void *arg), void *arg)
{
	struct waiter *wt = calloc(1, sizeof(*wt));
	if (wt == NULL)
		return -1;
	wt->hub = kvd_watch_hub(n);
	wt->ready = ready;
	wt->arg = arg;
	raft_index oldest;
	int rc =
	    after >= INT64_MAX
		? KV_EINVAL
		: watch_hub_add(wt->hub, match, match_len, exact, after + 1,
				false, &wait_ops, wt, &wt->w, &oldest);
	if (rc != 0) {
		/* The history cannot say whether it changed (or the wait
		 * cannot be kept): answer as if it had. */
		wt->timer = evtimer_new(kvd_base(n), wait_now, wt);
		struct timeval zero = {0, 0};
		if (wt->timer == NULL || evtimer_add(wt->timer, &zero) != 0) {
			if (wt->timer != NULL)
				event_free(wt->timer);
			free(wt);
			return -1;
		}
		return 0;
	}
	uint32_t r = 0;
	evutil_secure_rng_get_bytes(&r, sizeof(r));
	uint64_t jitter = wait_ms / 16 > 0 ? r % (wait_ms / 16 + 1) : 0;
	struct timeval tv = clock_ms_to_timeval(wait_ms + jitter);
	wt->timer = evtimer_new(kvd_base(n), wait_timeout, wt);
	if (wt->timer == NULL || evtimer_add(wt->timer, &tv) != 0) {
		if (wt->timer != NULL)
			event_free(wt->timer);
		watch_hub_remove(wt->hub, wt->w);
		free(wt);
		return -1;
	}
	return 0;
}

void http_watch_metrics(struct kvdraft_node *n, struct evbuffer *out)
{
	struct watch_hub_stats w;
	watch_hub_stats(kvd_watch_hub(n), &w);
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} rows[] = {
	    {"kvd_watch_streams", "gauge", "Watch streams open on this member.",
	     w.streams},
	    {"kvd_watch_waiters", "gauge",
	     "Blocking reads waiting for a change.", w.waiters},
	    {"kvd_watch_catching_up", "gauge",
	     "Watchers reading the change history.", w.catching_up},
	    {"kvd_watch_changes_sent_total", "counter",
	     "Changes passed to watchers.", w.changes_sent},
	    {"kvd_watch_progress_sent_total", "counter",
	     "Progress events sent to idle streams.", w.progress_sent},
	    {"kvd_watch_slow_consumers_total", "counter",
	     "Streams ended for more than 8 MiB unread.", w.ended_slow},
	    {"kvd_watch_compacted_total", "counter",
	     "Streams ended because their next change was no longer kept.",
	     w.ended_compacted},
	    {"kvd_watch_refused_total", "counter",
	     "Watch streams refused at --max-watchers.", w.refused},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		metrics_write_value(out, rows[i].name, rows[i].type,
				    rows[i].help, (double)rows[i].v);
}
