/* http_auth.c - auth on the client API (see http_auth.h): the caller of a
 * request, the one check every route passes through, the header-block
 * gate, and POST /v1/auth/enable, POST /v1/auth/disable, GET and POST
 * /v1/auth/tokens, DELETE /v1/auth/tokens/{name}.
 *
 * A secret is made here, on the member that takes the request (32 bytes
 * from getrandom(2), "kvd_" and their base64url): only its SHA-256 goes
 * into the log and the store, and the secret goes back to the caller
 * alone, never into a log line, a metric or a file. */
#include "http_auth.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth_json.h"
#include "clock.h"
#include "http_api.h"
#include "http_util.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "log.h"

#define ROUTE	      ROUTE_AUTH
#define SECRET_BYTES  32 /* 256 bits of randomness */
#define SECRET_PREFIX "kvd_"
/* "kvd_" and the unpadded base64url of SECRET_BYTES, and a NUL. */
#define SECRET_LEN (4 + (SECRET_BYTES * 4 + 2) / 3)

_Static_assert(SECRET_LEN <= AUTH_TOKEN_MAX, "our secrets parse");

/* ---- who is asking ---- */

/* SHA-256 of @len bytes at @p. 0, or -1 when OpenSSL fails. */
static int sha256(const void *p, size_t len, uint8_t out[KV_AUTH_HASH_SIZE])
{
	unsigned int n = 0;

	if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != KV_AUTH_HASH_SIZE)
		return -1;
	return 0;
}

/* Fills @c for the token @tok (@len bytes; NULL: none) against the store.
 * 0, or -1 when the store cannot be read. */
static int identify(struct kvdraft_node *n, const char *tok, size_t len,
		    struct http_auth_caller *c)
{
	struct kv *kv = kv_app_store(n);
	uint8_t hash[KV_AUTH_HASH_SIZE];
	int on = kv_auth_enabled(kv), rc;

	memset(c, 0, sizeof(*c));
	c->who.role = AUTH_ROLE_NONE;
	if (on < 0)
		return -1;
	c->enabled = on == 1;
	if (!c->enabled || tok == NULL)
		return 0;
	if (sha256(tok, len, hash) != 0)
		return -1;
	rc = kv_auth_lookup(kv, hash, &c->tok);
	if (rc == KV_ENOTFOUND)
		return 0;
	if (rc != 0)
		return -1;
	/* Found by the hash as an LMDB key; the bytes compared once more in
	 * constant time, so no answer depends on how much of it matched. */
	if (CRYPTO_memcmp(c->tok.hash, hash, KV_AUTH_HASH_SIZE) != 0)
		return 0;
	c->who.role = c->tok.role;
	c->who.prefix = c->tok.prefix;
	c->who.prefix_len = c->tok.prefix_len;
	return 0;
}

static enum auth_method method_of(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return AUTH_M_GET;
	case EVHTTP_REQ_HEAD:
		return AUTH_M_HEAD;
	case EVHTTP_REQ_PUT:
		return AUTH_M_PUT;
	case EVHTTP_REQ_POST:
		return AUTH_M_POST;
	case EVHTTP_REQ_DELETE:
		return AUTH_M_DELETE;
	default:
		return AUTH_M_OTHER;
	}
}

static void refuse(struct kvdraft_node *n, struct evhttp_request *req,
		   enum metrics_route route, double t0, int status)
{
	struct metrics *m = kvd_metrics(n);

	if (status == 401) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "WWW-Authenticate", "Bearer realm=\"kvd\"");
		http_send_error(req, 401, "unauthorized",
				"a valid token is required: Authorization: "
				"Bearer TOKEN",
				NULL);
	} else {
		http_send_error(req, 403, "forbidden",
				"the token's role or prefix does not allow "
				"this request",
				NULL);
	}
	metrics_auth_failure(m, status);
	metrics_http(m, route, status, clock_now_seconds() - t0);
}

bool http_auth_check(struct kvdraft_node *n, struct evhttp_request *req,
		     enum evhttp_cmd_type cmd, const char *path,
		     const char *query, enum metrics_route route, double t0,
		     struct http_auth_caller *caller)
{
	struct http_auth_caller local, *c = caller != NULL ? caller : &local;
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	const char *tok = NULL;
	size_t tok_len = 0;
	enum auth_method m = method_of(cmd);
	enum auth_class cls = auth_classify(m, path);
	int verdict;

	if (h != NULL && auth_bearer(h, strlen(h), &tok, &tok_len) != 0)
		tok = NULL;
	if (identify(n, tok, tok_len, c) != 0) {
		http_send_error(req, 500, "internal",
				"the auth state could not be read", NULL);
		metrics_http(kvd_metrics(n), route, 500,
			     clock_now_seconds() - t0);
		return false;
	}
	if (!c->enabled || cls == AUTH_C_OPEN)
		return true;
	/* The key or prefix the request names, decoded as its route decodes
	 * it; a request the route will refuse as malformed is checked on
	 * what it names anyway. */
	uint8_t *scope = NULL;
	size_t scope_len = 0;
	struct http_param p[] = {{.name = "prefix"}, {.name = "key"}};
	const size_t np = 2;
	bool oom = false, txn = strcmp(path, "/v1/txn") == 0;
	if (strncmp(path, "/v1/kv/", 7) == 0) {
		scope = (uint8_t *)evhttp_uridecode(path + 7, 0, &scope_len);
		oom = scope == NULL;
	} else if (strcmp(path, "/v1/kv") == 0 ||
		   strcmp(path, "/v1/watch") == 0) {
		oom = http_parse_query(query, p, np) != 0;
	}
	if (oom) {
		http_params_free(p, np);
		http_send_error(req, 500, "internal", "out of memory", NULL);
		metrics_http(kvd_metrics(n), route, 500,
			     clock_now_seconds() - t0);
		return false;
	}
	if (scope != NULL) {
		verdict = auth_check(true, &c->who, m, path, scope, scope_len);
	} else if (txn) {
		verdict = auth_check(true, &c->who, m, path, NULL, 0);
	} else if (p[1].value != NULL && p[0].value == NULL &&
		   strcmp(path, "/v1/watch") == 0) {
		/* A watch of one key. */
		verdict = auth_check(true, &c->who, m, path,
				     (const uint8_t *)p[1].value, p[1].len);
	} else {
		/* A list, a prefix delete or a watch of a prefix: no prefix
		 * is every key. A watch naming both (which its route
		 * refuses) must be allowed both. */
		verdict =
		    auth_check(true, &c->who, m, path,
			       (const uint8_t *)(p[0].value ? p[0].value : ""),
			       p[0].value ? p[0].len : 0);
		if (verdict == AUTH_ALLOW && p[1].value != NULL &&
		    strcmp(path, "/v1/watch") == 0)
			verdict =
			    auth_check(true, &c->who, m, path,
				       (const uint8_t *)p[1].value, p[1].len);
	}
	free(scope);
	http_params_free(p, np);
	if (verdict == AUTH_ALLOW)
		return true;
	refuse(n, req, route, t0, verdict);
	return false;
}

bool http_auth_txn(struct kvdraft_node *n, struct evhttp_request *req,
		   enum metrics_route route, double t0,
		   const struct http_auth_caller *caller,
		   const struct kv_txn *t)
{
	const struct auth_who *w;
	bool ok = true;

	if (caller == NULL || !caller->enabled)
		return true;
	w = &caller->who;
	for (size_t i = 0; i < t->n_compares && ok; i++)
		ok = auth_scope_ok(w, t->compares[i].key,
				   t->compares[i].key_len);
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < t->n_ops[b] && ok; i++)
			ok = auth_scope_ok(w, t->ops[b][i].key,
					   t->ops[b][i].key_len);
	if (!ok)
		refuse(n, req, route, t0, 403);
	return ok;
}

struct lease_scope {
	const struct auth_who *who;
	bool outside;
};

static int lease_key_cb(void *arg, const uint8_t *key, size_t len)
{
	struct lease_scope *ls = arg;

	ls->outside = !auth_scope_ok(ls->who, key, len);
	return ls->outside ? 1 : 0;
}

bool http_auth_lease(struct kvdraft_node *n, struct evhttp_request *req,
		     enum metrics_route route, double t0,
		     const struct http_auth_caller *caller, uint64_t id)
{
	struct lease_scope ls = {.who = caller != NULL ? &caller->who : NULL};
	int64_t rc;

	if (caller == NULL || !caller->enabled ||
	    caller->who.role == AUTH_ROLE_ADMIN || caller->who.prefix_len == 0)
		return true;
	rc = kv_lease_keys(kv_app_store(n), id, SIZE_MAX / 2, lease_key_cb, &ls,
			   NULL);
	if (rc >= 0 && !ls.outside)
		return true;
	if (rc < 0 && rc != KV_ESTOPPED) {
		http_send_error(req, 500, "internal", kv_strerror((int)rc),
				NULL);
		metrics_http(kvd_metrics(n), route, 500,
			     clock_now_seconds() - t0);
		return false;
	}
	refuse(n, req, route, t0, 403);
	return false;
}

void http_auth_hold(const struct http_auth_caller *caller,
		    struct http_auth_hold *h)
{
	memset(h, 0, sizeof(*h));
	h->generation = kv_auth_generation();
	if (caller != NULL && caller->who.role != AUTH_ROLE_NONE) {
		h->has_token = true;
		memcpy(h->hash, caller->tok.hash, KV_AUTH_HASH_SIZE);
	}
}

bool http_auth_hold_ok(struct kvdraft_node *n, struct http_auth_hold *h)
{
	uint64_t gen = kv_auth_generation();
	struct kv *kv = kv_app_store(n);
	struct kv_token t;
	int on;

	if (gen == h->generation)
		return true;
	on = kv_auth_enabled(kv);
	if (on == 0 ||
	    (on == 1 && h->has_token && kv_auth_lookup(kv, h->hash, &t) == 0)) {
		h->generation = gen;
		return true;
	}
	return false;
}

bool http_auth_recheck(struct kvdraft_node *n, struct evhttp_request *req,
		       enum metrics_route route, double t0,
		       struct http_auth_hold *h)
{
	if (http_auth_hold_ok(n, h))
		return true;
	refuse(n, req, route, t0, 401);
	return false;
}

/* ---- the gate ---- */

bool http_auth_gate_on(void *arg)
{
	return kv_auth_enabled(kv_app_store(arg)) != 0;
}

bool http_auth_gate_refuse(void *arg, const char *head, size_t len)
{
	struct kvdraft_node *n = arg;
	struct http_auth_caller c;
	struct auth_head h;
	char *path;
	bool open;
	const char *tok = NULL;
	size_t tok_len = 0;

	/* Not a request line evhttp takes: it refuses it itself. */
	if (auth_head_parse(head, len, &h) != 0)
		return false;
	/* The routes open to all (/ui/ and below too, whatever the length
	 * of the path). */
	path = strndup(h.path, h.path_len);
	if (path == NULL)
		return false; /* the route answers, after the body */
	open = auth_path_open(path);
	free(path);
	if (open)
		return false;
	if (h.authorization != NULL &&
	    auth_bearer(h.authorization, h.authorization_len, &tok, &tok_len) !=
		0)
		tok = NULL;
	/* The store unreadable: let the route answer (500). */
	if (identify(n, tok, tok_len, &c) != 0)
		return false;
	return c.enabled && c.who.role == AUTH_ROLE_NONE;
}

/* ---- the routes ---- */

struct acall {
	struct kvdraft_node *n;
	struct evhttp_request *req;
	double t0;
	uint8_t op;
	struct kv_token tok; /* TOKEN_PUT, AUTH_ENABLE */
	char secret[SECRET_LEN + 1];
};

static void acall_free(struct acall *c)
{
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	free(c);
}

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			double t0, int status, const char *code,
			const char *msg)
{
	http_send_error(req, status, code, msg, NULL);
	metrics_http(kvd_metrics(n), ROUTE, status, clock_now_seconds() - t0);
}

static void reply_json(struct kvdraft_node *n, struct evhttp_request *req,
		       double t0, json_t *body, const struct http_u64 *nums,
		       size_t nn)
{
	http_send_json_u64(req, 200, body, nums, nn);
	metrics_http(kvd_metrics(n), ROUTE, 200, clock_now_seconds() - t0);
}

static void reply_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			     double t0, int err)
{
	http_api_node_error(n, req, ROUTE, t0, err);
}

/* A new secret in @out and its hash in @hash. 0, or -1 when the kernel
 * or OpenSSL fails. */
static int new_secret(char out[SECRET_LEN + 1], uint8_t hash[KV_AUTH_HASH_SIZE])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[SECRET_BYTES];
	size_t got = 0, o = 4;
	uint32_t acc = 0;
	int bits = 0;

	while (got < sizeof(r)) {
		ssize_t k = getrandom(r + got, sizeof(r) - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	memcpy(out, SECRET_PREFIX, 4);
	for (size_t i = 0; i < sizeof(r); i++) {
		acc = (acc << 8) | r[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
	return o == SECRET_LEN && sha256(out, SECRET_LEN, hash) == 0 ? 0 : -1;
}

static const char *conflict_text(uint64_t why)
{
	switch (why) {
	case KV_CONFLICT_AUTH_ON:
		return "auth is on already";
	case KV_CONFLICT_AUTH_OFF:
		return "auth is off: POST /v1/auth/enable first";
	case KV_CONFLICT_EXISTS:
		return "a token of that name exists";
	case KV_CONFLICT_TOO_MANY:
		return "1000 tokens exist already: revoke one first";
	case KV_CONFLICT_LAST_ADMIN:
		return "the last admin token cannot be revoked: make another "
		       "first, or disable auth";
	default:
		return "the auth state does not allow it";
	}
}

static void write_done(void *arg, int err, const void *result)
{
	struct acall *c = arg;
	const struct kv_result *res = result;

	if (err == KVDRAFT_OK && res->status == KV_STALE_SEQ)
		err = KVD_ESTALE_SEQ;
	else if (err == KVDRAFT_OK && res->status != KV_APPLIED &&
		 res->status != KV_CONFLICT && res->status != KV_NOT_FOUND)
		err = KVDRAFT_EINTERNAL;
	if (err != KVDRAFT_OK) {
		reply_node_error(c->n, c->req, c->t0, err);
	} else if (res->status == KV_CONFLICT) {
		reply_error(c->n, c->req, c->t0, 409, "conflict",
			    conflict_text(res->count));
	} else if (res->status == KV_NOT_FOUND) {
		reply_error(c->n, c->req, c->t0, 404, "not_found",
			    "no token of that name");
	} else if (res->duplicate &&
		   (c->op == KV_OP_AUTH_ENABLE || c->op == KV_OP_TOKEN_PUT)) {
		/* The first attempt's secret went to it alone, and the one
		 * made for this retry was never stored. */
		reply_error(c->n, c->req, c->t0, 409, "conflict",
			    "this request was applied before: its token was "
			    "the answer to the first attempt");
	} else if (c->op == KV_OP_AUTH_ENABLE) {
		reply_json(c->n, c->req, c->t0,
			   json_pack("{s:s}", "token", c->secret), NULL, 0);
	} else if (c->op == KV_OP_TOKEN_PUT) {
		reply_json(c->n, c->req, c->t0,
			   json_pack("{s:s, s:s, s:s%, s:s}", "name",
				     c->tok.name, "role",
				     auth_role_name(c->tok.role), "prefix",
				     (const char *)c->tok.prefix,
				     c->tok.prefix_len, "token", c->secret),
			   NULL, 0);
	} else {
		const struct http_u64 idx = {"index", res->index};
		reply_json(c->n, c->req, c->t0, json_object(), &idx, 1);
	}
	acall_free(c);
}

/* Proposes auth op @op with operand @value (@len bytes). Takes @c. */
static void propose(struct acall *c, const uint8_t *value, size_t len)
{
	struct kv_cmd cmd = {.op = c->op, .value = value, .value_len = len};
	const char *msg = NULL;
	uint8_t *buf;
	size_t blen;
	int rc;

	if (http_parse_identity(c->req, &cmd.client_id, &cmd.seq, &msg) != 0) {
		reply_error(c->n, c->req, c->t0, 400, "bad_request", msg);
		acall_free(c);
		return;
	}
	rc = kv_cmd_encode_alloc(&cmd, &buf, &blen);
	if (rc != 0) {
		log_error("cannot encode an auth command: %s", kv_strerror(rc));
		reply_node_error(c->n, c->req, c->t0, KVDRAFT_EINTERNAL);
		acall_free(c);
		return;
	}
	rc = kvdraft_node_propose(c->n, buf, blen, write_done, c);
	free(buf);
	if (rc != KVDRAFT_OK) {
		reply_node_error(c->n, c->req, c->t0, rc);
		acall_free(c);
	}
}

static struct acall *acall_new(struct kvdraft_node *n,
			       struct evhttp_request *req, double t0,
			       uint8_t op)
{
	struct acall *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return NULL;
	}
	c->n = n;
	c->req = req;
	c->t0 = t0;
	c->op = op;
	return c;
}

/* Makes @c's secret and proposes its token @c->tok (name, role, prefix
 * set) with @c->op. */
static void propose_token(struct acall *c)
{
	uint8_t rec[KV_TOKEN_MAX];
	int64_t len;

	if (new_secret(c->secret, c->tok.hash) != 0) {
		log_error("cannot make a token's secret (getrandom or "
			  "SHA-256 failed)");
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    "cannot make a secret");
		acall_free(c);
		return;
	}
	len = kv_token_encode(&c->tok, rec, sizeof(rec));
	if (len < 0) {
		reply_error(c->n, c->req, c->t0, 400, "bad_request",
			    kv_strerror((int)len));
		acall_free(c);
		return;
	}
	propose(c, rec, (size_t)len);
}

static bool body_empty(struct kvdraft_node *n, struct evhttp_request *req,
		       double t0)
{
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) == 0)
		return true;
	reply_error(n, req, t0, 400, "bad_request", "this route takes no body");
	return false;
}

static void handle_enable(struct kvdraft_node *n, struct evhttp_request *req,
			  double t0)
{
	struct acall *c;

	if (!body_empty(n, req, t0))
		return;
	/* Only while off (the store decides again when it applies). */
	if (kv_auth_enabled(kv_app_store(n)) == 1) {
		reply_error(n, req, t0, 409, "conflict",
			    conflict_text(KV_CONFLICT_AUTH_ON));
		return;
	}
	c = acall_new(n, req, t0, KV_OP_AUTH_ENABLE);
	if (c == NULL)
		return;
	c->tok.role = KV_ROLE_ADMIN;
	memcpy(c->tok.name, "root", 5);
	c->tok.name_len = 4;
	propose_token(c);
}

static void handle_disable(struct kvdraft_node *n, struct evhttp_request *req,
			   double t0)
{
	struct acall *c;

	if (!body_empty(n, req, t0))
		return;
	c = acall_new(n, req, t0, KV_OP_AUTH_DISABLE);
	if (c != NULL)
		propose(c, NULL, 0);
}

static void handle_create(struct kvdraft_node *n, struct evhttp_request *req,
			  double t0)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	char why[256];
	struct acall *c;

	if (body == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	if (len > 4096) {
		reply_error(n, req, t0, 413, "too_large",
			    "the body is larger than 4096 bytes");
		return;
	}
	c = acall_new(n, req, t0, KV_OP_TOKEN_PUT);
	if (c == NULL)
		return;
	if (auth_json_parse_token(body, len, &c->tok, why, sizeof(why)) != 0) {
		reply_error(n, req, t0, 400, "bad_request", why);
		acall_free(c);
		return;
	}
	propose_token(c);
}

static void handle_revoke(struct kvdraft_node *n, struct evhttp_request *req,
			  const char *raw, double t0)
{
	size_t len = 0;
	char *name = evhttp_uridecode(raw, 0, &len);
	struct acall *c;

	if (name == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	if (!kv_token_name_valid(name, len)) {
		free(name);
		reply_error(n, req, t0, 400, "bad_request",
			    "a token name is 1-64 characters of A-Z a-z 0-9 . "
			    "_ -");
		return;
	}
	c = acall_new(n, req, t0, KV_OP_TOKEN_DELETE);
	if (c != NULL)
		propose(c, (const uint8_t *)name, len);
	free(name);
}

struct list_state {
	json_t *arr;
	bool failed;
};

static int list_cb(void *arg, const struct kv_token *t)
{
	struct list_state *ls = arg;
	json_t *o = json_pack("{s:s, s:s, s:s%}", "name", t->name, "role",
			      auth_role_name(t->role), "prefix",
			      (const char *)t->prefix, t->prefix_len);

	if (json_array_append_new(ls->arr, o) != 0) {
		ls->failed = true;
		return 1;
	}
	return 0;
}

static void list_done(void *arg, int err, const void *result)
{
	struct acall *c = arg;
	struct list_state ls = {.arr = json_array()};
	int64_t rc;

	(void)result;
	if (err != KVDRAFT_OK) {
		json_decref(ls.arr);
		reply_node_error(c->n, c->req, c->t0, err);
		acall_free(c);
		return;
	}
	rc = ls.arr == NULL ? KV_ENOMEM
			    : kv_auth_list(kv_app_store(c->n), list_cb, &ls);
	if (rc < 0 || ls.failed) {
		json_decref(ls.arr);
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    rc < 0 ? kv_strerror((int)rc) : "out of memory");
	} else {
		reply_json(c->n, c->req, c->t0,
			   json_pack("{s:o}", "tokens", ls.arr), NULL, 0);
	}
	acall_free(c);
}

/* GET /v1/auth/tokens: linearizable, like a key read. */
static void handle_list(struct kvdraft_node *n, struct evhttp_request *req,
			double t0)
{
	struct acall *c = acall_new(n, req, t0, 0);
	int rc;

	if (c == NULL)
		return;
	rc = kvdraft_node_read(n, list_done, c);
	if (rc != KVDRAFT_OK) {
		reply_node_error(n, req, t0, rc);
		acall_free(c);
	}
}

static void not_allowed(struct kvdraft_node *n, struct evhttp_request *req,
			double t0, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  allow);
	reply_error(n, req, t0, 405, "method_not_allowed",
		    "method not allowed on this path");
}

void http_auth_handle(struct kvdraft_node *n, struct evhttp_request *req,
		      const char *path, double t0)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *sub = path + strlen(HTTP_AUTH_PATH);

	if (strcmp(sub, "/enable") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_enable(n, req, t0);
		else
			not_allowed(n, req, t0, "POST");
	} else if (strcmp(sub, "/disable") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_disable(n, req, t0);
		else
			not_allowed(n, req, t0, "POST");
	} else if (strcmp(sub, "/tokens") == 0) {
		if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
			handle_list(n, req, t0);
		else if (cmd == EVHTTP_REQ_POST)
			handle_create(n, req, t0);
		else
			not_allowed(n, req, t0, "GET, POST");
	} else if (strncmp(sub, "/tokens/", 8) == 0 && sub[8] != '\0' &&
		   strchr(sub + 8, '/') == NULL) {
		if (cmd == EVHTTP_REQ_DELETE)
			handle_revoke(n, req, sub + 8, t0);
		else
			not_allowed(n, req, t0, "DELETE");
	} else {
		reply_error(n, req, t0, 404, "not_found", "no such path");
	}
}
