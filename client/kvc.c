/* kvc.c - libkvc: the API of kvc.h (keys, lists, status, membership) on
 * top of the HTTP layer in kvc_http.c. */
#include "kvc.h"
#include "kvc_http.h"

#include "clock.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

static const char *const errstr[] = {
    [0] = "success",
    [-KVC_EINVAL] = "invalid argument",
    [-KVC_ENOMEM] = "out of memory",
    [-KVC_ENOTFOUND] = "not found",
    [-KVC_ECAS] = "compare-and-swap failed",
    [-KVC_EUNAVAILABLE] = "cluster unavailable",
    [-KVC_ETIMEOUT] = "timed out",
    [-KVC_EBADREQ] = "bad request",
    [-KVC_ETOO_LARGE] = "too large",
    [-KVC_ECONFLICT] = "conflict",
    [-KVC_EPROTO] = "unexpected response",
    [-KVC_ESERVER] = "server error",
    [-KVC_ECOMPACTED] = "history compacted",
    [-KVC_ECANCELED] = "cancelled",
};

const char *kvc_strerror(int rc)
{
	if (rc > 0 || -rc >= (int)(sizeof(errstr) / sizeof(errstr[0])))
		return "unknown error";
	return errstr[-rc];
}

const char *kvc_errmsg(const struct kvc *h)
{
	return h ? h->errmsg : "";
}

bool kvc_outcome_unknown(const struct kvc *h)
{
	return h ? h->maybe_sent : false;
}

/* kvc.h's version is the build's (meson.build's project version). */
_Static_assert(KVC_VERSION_MAJOR == KVC_BUILD_MAJOR &&
		   KVC_VERSION_MINOR == KVC_BUILD_MINOR &&
		   KVC_VERSION_PATCH == KVC_BUILD_PATCH,
	       "kvc.h's KVC_VERSION_* match meson.build's version");

const char *kvc_version(int *major, int *minor, int *patch)
{
	if (major)
		*major = KVC_VERSION_MAJOR;
	if (minor)
		*minor = KVC_VERSION_MINOR;
	if (patch)
		*patch = KVC_VERSION_PATCH;
	return KVC_VERSION_STRING;
}

/* The fields of libkvc 0.1's options, which a @size of 0 stands for. */
#define KVC_OPTIONS_SIZE_0_1                                                   \
	(offsetof(struct kvc_options, stale_reads) + sizeof(bool))

void kvc_options_init(struct kvc_options *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->connect_timeout_ms = 1000;
	o->request_timeout_ms = 5000;
	o->retry_deadline_ms = 10000;
	o->stale_reads = false;
}

/* Why the calling thread's last kvc_open() failed. */
static _Thread_local char open_error[KVC_ERRMSG];

const char *kvc_open_error(void)
{
	return open_error;
}

static void set_open_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void set_open_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(open_error, sizeof(open_error), fmt, ap);
	va_end(ap);
}

int kvc_open(const char *endpoints, const struct kvc_options *opts,
	     struct kvc **out)
{
	open_error[0] = '\0';
	if (!endpoints || !out) {
		set_open_error("%s is NULL", !out ? "out" : "endpoints");
		return KVC_EINVAL;
	}
	*out = NULL;
	if (opts && opts->size != 0 && opts->size < KVC_OPTIONS_SIZE_0_1) {
		set_open_error("options of %zu bytes: not initialised "
			       "(kvc_options_init())",
			       opts->size);
		return KVC_EINVAL;
	}
	struct kvc *h = calloc(1, sizeof(*h));
	if (!h) {
		set_open_error("out of memory");
		return KVC_ENOMEM;
	}
	int rc = KVC_EINVAL;
	const char *p = endpoints;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0) {
			if (h->n_eps == KVC_MAX_ENDPOINTS) {
				set_open_error("more than %d endpoints",
					       KVC_MAX_ENDPOINTS);
				goto fail;
			}
			struct endpoint *ep = &h->eps[h->n_eps];
			if (kvc_http_parse_endpoint(p, len, ep) < 0) {
				set_open_error(
				    "bad endpoint \"%.*s\": expected "
				    "http://HOST[:PORT] or HOST[:PORT]",
				    (int)(len > 300 ? 300 : len), p);
				goto fail;
			}
			h->n_eps++;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (h->n_eps == 0) {
		set_open_error("no endpoint given");
		goto fail;
	}
	kvc_options_init(&h->opts);
	if (opts) {
		/* The fields the program knew of; the rest keep their
		 * defaults. */
		size_t n = opts->size ? opts->size : KVC_OPTIONS_SIZE_0_1;
		memcpy(&h->opts, opts,
		       n < sizeof(h->opts) ? n : sizeof(h->opts));
		h->opts.size = sizeof(h->opts);
	}
	if (h->opts.connect_timeout_ms <= 0)
		h->opts.connect_timeout_ms = 1000;
	if (h->opts.request_timeout_ms <= 0)
		h->opts.request_timeout_ms = 5000;
	if (h->opts.retry_deadline_ms <= 0)
		h->opts.retry_deadline_ms = 10000;

	unsigned char id[8];
	if (kvc_http_read_random(id, sizeof(id)) < 0) {
		set_open_error("cannot read /dev/urandom for the client id");
		rc = KVC_ESERVER;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(h->client_id + 2 * i, 3, "%02x", id[i]);
	memcpy(&h->rng, id, sizeof(h->rng));
	h->rng ^= (uint64_t)getpid() << 32 | clock_now_ms();
	if (h->rng == 0)
		h->rng = 0x9e3779b97f4a7c15u;
	h->cur = (size_t)(kvc_http_rng_next(h) % h->n_eps);

	rc = KVC_ENOMEM;
	h->base = event_base_new();
	if (!h->base) {
		set_open_error("cannot create an event base");
		goto fail;
	}
	*out = h;
	return 0;
fail:
	kvc_close(h);
	return rc;
}

void kvc_close(struct kvc *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < KVC_CONN_CACHE; i++)
		if (h->conns[i].conn)
			evhttp_connection_free(h->conns[i].conn);
	if (h->base)
		event_base_free(h->base);
	free(h);
}

int kvc_get(struct kvc *h, const char *key, unsigned flags, void **value,
	    size_t *len, uint64_t *mod_index)
{
	if (!h || !kvc_http_key_ok(key) || !value || !len)
		return KVC_EINVAL;
	bool stale = (flags & KVC_GET_STALE) || h->opts.stale_reads;
	char *path = kvc_http_kv_path(key, stale ? "?consistency=stale" : NULL);
	if (!path)
		return KVC_ENOMEM;
	struct call c = {
	    .method = EVHTTP_REQ_GET, .path = path, .to_leader = !stale};
	struct resp r;
	int rc = kvc_http_call(h, &c, &r);
	free(path);
	if (rc < 0)
		return rc;
	rc = kvc_http_status_to_rc(h, &r);
	if (rc == 0) {
		if (!r.has_x_kv_index) {
			kvc_http_set_errmsg(h, "no X-Kv-Index header");
			rc = KVC_EPROTO;
		} else {
			*value = r.body; /* NUL-terminated by on_response */
			*len = r.len;
			if (mod_index)
				*mod_index = r.x_kv_index;
			r.body = NULL;
		}
	}
	kvc_http_resp_clear(&r);
	return rc;
}

/* PUT or DELETE on a key, with optional cas; a PUT with a nonzero @lease
 * attaches the key to it. */
static int kv_write(struct kvc *h, enum evhttp_cmd_type method, const char *key,
		    const void *value, size_t len, bool has_cas, uint64_t cas,
		    uint64_t lease, uint64_t *index, bool *deleted)
{
	if (!h || !kvc_http_key_ok(key) || (len && !value))
		return KVC_EINVAL;
	char q[80] = "";
	if (has_cas)
		snprintf(q, sizeof(q), "?cas=%" PRIu64, cas);
	if (lease)
		snprintf(q + strlen(q), sizeof(q) - strlen(q),
			 "%clease=%" PRIu64, has_cas ? '&' : '?', lease);
	char *path = kvc_http_kv_path(key, q);
	if (!path)
		return KVC_ENOMEM;
	/* One sequence number per logical write, kept across retries. */
	struct call c = {.method = method,
			 .path = path,
			 .body = value,
			 .body_len = len,
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, true, &j);
	free(path);
	if (rc == 0 || rc == KVC_ECAS) {
		uint64_t idx = 0;
		if (!j || kvc_http_get_u64(j, "index", &idx) < 0) {
			kvc_http_set_errmsg(h, "response without \"index\"");
			rc = KVC_EPROTO;
		} else {
			if (index)
				*index = idx;
			if (rc == 0 && method == EVHTTP_REQ_DELETE) {
				json_t *d = json_object_get(j, "deleted");
				if (!json_is_boolean(d))
					rc = KVC_EPROTO;
				else if (deleted)
					*deleted = json_is_true(d);
			}
		}
	}
	json_decref(j);
	return rc;
}

int kvc_put(struct kvc *h, const char *key, const void *value, size_t len,
	    uint64_t *index)
{
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, false, 0, 0, index,
			NULL);
}

int kvc_cas_put(struct kvc *h, const char *key, const void *value, size_t len,
		uint64_t cas, uint64_t *index)
{
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, true, cas, 0, index,
			NULL);
}

int kvc_delete(struct kvc *h, const char *key, uint64_t *index, bool *deleted)
{
	return kv_write(h, EVHTTP_REQ_DELETE, key, NULL, 0, false, 0, 0, index,
			deleted);
}

int kvc_cas_delete(struct kvc *h, const char *key, uint64_t cas,
		   uint64_t *index, bool *deleted)
{
	return kv_write(h, EVHTTP_REQ_DELETE, key, NULL, 0, true, cas, 0, index,
			deleted);
}

int kvc_put_lease(struct kvc *h, const char *key, const void *value, size_t len,
		  uint64_t lease, uint64_t *index)
{
	if (lease == 0)
		return KVC_EINVAL;
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, false, 0, lease,
			index, NULL);
}

int kvc_cas_put_lease(struct kvc *h, const char *key, const void *value,
		      size_t len, uint64_t cas, uint64_t lease, uint64_t *index)
{
	if (lease == 0)
		return KVC_EINVAL;
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, true, cas, lease,
			index, NULL);
}

void kvc_kvs_free(struct kvc_kv *kvs, size_t n)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

int kvc_list(struct kvc *h, const char *prefix, const char *after,
	     unsigned limit, struct kvc_kv **kvs, size_t *n, bool *more)
{
	if (!h || !kvs || !n)
		return KVC_EINVAL;
	*kvs = NULL;
	*n = 0;
	struct evbuffer *pb = evbuffer_new();
	if (!pb)
		return KVC_ENOMEM;
	int rc = KVC_ENOMEM;
	char sep = '?';
	evbuffer_add_printf(pb, "/v1/kv");
	const char *names[2] = {"prefix", "after"};
	const char *vals[2] = {prefix, after};
	for (int i = 0; i < 2; i++) {
		if (!vals[i] || !*vals[i])
			continue;
		char *e = evhttp_uriencode(vals[i], -1, 0);
		if (!e)
			goto out_pb;
		evbuffer_add_printf(pb, "%c%s=%s", sep, names[i], e);
		free(e);
		sep = '&';
	}
	if (limit) {
		evbuffer_add_printf(pb, "%climit=%u", sep, limit);
		sep = '&';
	}
	if (h->opts.stale_reads)
		evbuffer_add_printf(pb, "%cconsistency=stale", sep);
	evbuffer_add(pb, "", 1);
	const char *path = (const char *)evbuffer_pullup(pb, -1);
	if (!path)
		goto out_pb;
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = path,
			 .to_leader = !h->opts.stale_reads};
	json_t *j;
	rc = kvc_http_call_json(h, &c, false, &j);
	if (rc < 0)
		goto out_pb;
	json_t *arr = json_object_get(j, "kvs");
	json_t *m = json_object_get(j, "more");
	rc = KVC_EPROTO;
	if (!json_is_array(arr) || !json_is_boolean(m))
		goto out_j;
	size_t cnt = json_array_size(arr);
	struct kvc_kv *out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (!out) {
		rc = KVC_ENOMEM;
		goto out_j;
	}
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *v = json_string_value(json_object_get(e, "value"));
		rc = KVC_EPROTO;
		if (!k || !v || kvc_http_get_u64(e, "index", &out[i].index) < 0)
			goto bad;
		rc = kvc_http_b64_decode(v, &out[i].value, &out[i].value_len);
		if (rc < 0)
			goto bad;
		out[i].key = strdup(k);
		if (!out[i].key) {
			rc = KVC_ENOMEM;
			goto bad;
		}
	}
	*kvs = out;
	*n = cnt;
	if (more)
		*more = json_is_true(m);
	rc = 0;
	goto out_j;
bad:
	if (rc == KVC_EPROTO)
		kvc_http_set_errmsg(h, "malformed list entry");
	kvc_kvs_free(out, cnt);
out_j:
	if (rc == KVC_EPROTO && !h->errmsg[0])
		kvc_http_set_errmsg(h, "malformed list response");
	json_decref(j);
out_pb:
	evbuffer_free(pb);
	return rc;
}

void kvc_members_free(struct kvc_member *members, size_t n)
{
	if (!members)
		return;
	for (size_t i = 0; i < n; i++) {
		free(members[i].peer_url);
		free(members[i].client_url);
	}
	free(members);
}

static int parse_members(json_t *arr, struct kvc_member **out, size_t *n)
{
	if (!json_is_array(arr))
		return KVC_EPROTO;
	size_t cnt = json_array_size(arr);
	struct kvc_member *m = calloc(cnt ? cnt : 1, sizeof(*m));
	if (!m)
		return KVC_ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		json_t *e = json_array_get(arr, i);
		const char *p =
		    json_string_value(json_object_get(e, "peer_url"));
		const char *c =
		    json_string_value(json_object_get(e, "client_url"));
		json_t *v = json_object_get(e, "voter");
		if (!p || kvc_http_get_u64(e, "id", &m[i].id) < 0 ||
		    !json_is_boolean(v)) {
			rc = KVC_EPROTO;
			break;
		}
		m[i].voter = json_is_true(v);
		m[i].peer_url = strdup(p);
		m[i].client_url = strdup(c ? c : "");
		if (!m[i].peer_url || !m[i].client_url)
			rc = KVC_ENOMEM;
	}
	if (rc < 0) {
		kvc_members_free(m, cnt);
		return rc;
	}
	*out = m;
	*n = cnt;
	return 0;
}

void kvc_status_free(struct kvc_status *st)
{
	if (!st)
		return;
	free(st->state);
	free(st->leader_client_url);
	kvc_members_free(st->members, st->n_members);
	free(st);
}

int kvc_status(struct kvc *h, const char *url, struct kvc_status **st)
{
	if (!h || !st)
		return KVC_EINVAL;
	*st = NULL;
	struct endpoint ep;
	if (url && kvc_http_parse_endpoint(url, strlen(url), &ep) < 0)
		return KVC_EINVAL;
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = "/v1/status",
			 .fixed = url ? &ep : NULL};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc < 0)
		return rc;
	struct kvc_status *s = calloc(1, sizeof(*s));
	rc = KVC_ENOMEM;
	if (!s)
		goto out_j;
	rc = KVC_EPROTO;
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *lurl =
	    json_string_value(json_object_get(j, "leader_client_url"));
	if (!state || kvc_http_get_u64(j, "id", &s->id) < 0 ||
	    kvc_http_get_u64(j, "term", &s->term) < 0 ||
	    kvc_http_get_u64(j, "leader", &s->leader) < 0 ||
	    kvc_http_get_u64(j, "commit_index", &s->commit_index) < 0 ||
	    kvc_http_get_u64(j, "applied_index", &s->applied_index) < 0 ||
	    kvc_http_get_u64(j, "last_index", &s->last_index) < 0 ||
	    kvc_http_get_u64(j, "snapshot_index", &s->snapshot_index) < 0) {
		kvc_http_set_errmsg(h, "malformed status response");
		goto out_s;
	}
	rc = parse_members(json_object_get(j, "members"), &s->members,
			   &s->n_members);
	if (rc < 0)
		goto out_s;
	s->state = strdup(state);
	s->leader_client_url = strdup(lurl ? lurl : "");
	rc = KVC_ENOMEM;
	if (!s->state || !s->leader_client_url)
		goto out_s;
	*st = s;
	s = NULL;
	rc = 0;
out_s:
	kvc_status_free(s);
out_j:
	json_decref(j);
	return rc;
}

int kvc_ready(struct kvc *h, const char *url)
{
	if (!h || !url)
		return KVC_EINVAL;
	struct endpoint ep;
	if (kvc_http_parse_endpoint(url, strlen(url), &ep) < 0)
		return KVC_EINVAL;
	/* One question: a 503 is the answer "not ready", not a reason to
	 * ask again. */
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = "/readyz",
			 .fixed = &ep,
			 .once = true};
	struct resp r;
	int rc = kvc_http_call(h, &c, &r);
	if (rc < 0)
		return rc;
	rc = kvc_http_status_to_rc(h, &r);
	if (rc == KVC_EUNAVAILABLE && !h->errmsg[0])
		kvc_http_set_errmsg(h, "not ready");
	kvc_http_resp_clear(&r);
	return rc;
}

int kvc_members(struct kvc *h, struct kvc_member **members, size_t *n)
{
	if (!h || !members || !n)
		return KVC_EINVAL;
	struct call c = {.method = EVHTTP_REQ_GET, .path = "/v1/members"};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc == 0) {
		rc = parse_members(json_object_get(j, "members"), members, n);
		if (rc == KVC_EPROTO)
			kvc_http_set_errmsg(h, "malformed members response");
	}
	json_decref(j);
	return rc;
}

/* A membership or leadership request with a JSON body (or none). */
static int admin_call(struct kvc *h, enum evhttp_cmd_type method,
		      const char *path, json_t *body)
{
	char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			return KVC_ENOMEM;
	}
	/* Membership changes and transfers answer once done (a learner
	 * catching up, an election): let one attempt use the whole deadline
	 * rather than repeat a change that may be under way. */
	struct call c = {.method = method,
			 .path = path,
			 .body = text,
			 .body_len = text ? strlen(text) : 0,
			 .to_leader = true,
			 .long_wait = true};
	int rc = kvc_http_call_status(h, &c);
	free(text);
	return rc;
}

int kvc_member_add(struct kvc *h, uint64_t id, const char *peer_url)
{
	if (!h || id == 0 || !peer_url || !*peer_url)
		return KVC_EINVAL;
	json_t *b =
	    json_pack("{s:I,s:s}", "id", (json_int_t)id, "peer_url", peer_url);
	if (!b)
		return KVC_ENOMEM;
	return admin_call(h, EVHTTP_REQ_POST, "/v1/members", b);
}

int kvc_member_remove(struct kvc *h, uint64_t id)
{
	if (!h || id == 0)
		return KVC_EINVAL;
	char path[48];
	snprintf(path, sizeof(path), "/v1/members/%" PRIu64, id);
	return admin_call(h, EVHTTP_REQ_DELETE, path, NULL);
}

int kvc_leader_transfer(struct kvc *h, uint64_t to)
{
	if (!h || to == 0)
		return KVC_EINVAL;
	json_t *b = json_pack("{s:I}", "to", (json_int_t)to);
	if (!b)
		return KVC_ENOMEM;
	return admin_call(h, EVHTTP_REQ_POST, "/v1/leader/transfer", b);
}
