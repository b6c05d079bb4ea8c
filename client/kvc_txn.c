/* kvc_txn.c - libkvc's multi-key writes: transactions (POST /v1/txn, the
 * body built by kvc_txn_body.c) and prefix deletes (DELETE
 * /v1/kv?prefix=P). */
#include "kvc.h"
#include "kvc_http.h"
#include "kvc_txn_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

/* POSTs @len bytes of @json to /v1/txn as one logical write (one
 * X-Kv-Seq across retries). On 200 *@j holds the parsed answer. */
static int txn_post(struct kvc *h, const char *json, size_t len, json_t **j)
{
	struct call c = {.method = EVHTTP_REQ_POST,
			 .path = "/v1/txn",
			 .body = json,
			 .body_len = len,
			 .to_leader = true,
			 .seq = ++h->seq};
	int rc = kvc_http_call_json(h, &c, false, j);
	if (rc == 0 && !*j)
		rc = KVC_EPROTO;
	return rc;
}

int kvc_txn_commit(struct kvc *h, const struct kvc_txn *t,
		   struct kvc_txn_result **res)
{
	if (!h || !t || !res)
		return KVC_EINVAL;
	*res = NULL;
	int rc = kvc_txn_body_error(t);
	if (rc < 0) {
		kvc_http_set_errmsg(h,
				    "a builder call on this transaction "
				    "failed: %s",
				    kvc_strerror(rc));
		return rc;
	}
	json_t *body = kvc_txn_body_request(t);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return KVC_ENOMEM;
	json_t *j = NULL;
	rc = txn_post(h, text, strlen(text), &j);
	free(text);
	if (rc == 0) {
		char why[256];
		rc = kvc_txn_body_result(j, t, res, why, sizeof(why));
		if (rc == KVC_EPROTO)
			kvc_http_set_errmsg(h, "%s", why);
	}
	json_decref(j);
	return rc;
}

int kvc_txn_json(struct kvc *h, const char *json, size_t len, char **result,
		 bool *succeeded)
{
	if (!h || (!json && len))
		return KVC_EINVAL;
	json_t *j = NULL;
	int rc = txn_post(h, json ? json : "", len, &j);
	json_t *s = json_object_get(j, "succeeded");
	if (rc == 0 && !json_is_boolean(s)) {
		kvc_http_set_errmsg(h, "transaction answer without "
				       "\"succeeded\"");
		rc = KVC_EPROTO;
	}
	if (rc == 0 && result) {
		*result = json_dumps(j, JSON_COMPACT);
		if (!*result)
			rc = KVC_ENOMEM;
	}
	if (rc == 0 && succeeded)
		*succeeded = json_is_true(s);
	json_decref(j);
	return rc;
}

int kvc_del_prefix(struct kvc *h, const char *prefix, uint64_t *deleted,
		   uint64_t *index)
{
	if (!h || !prefix)
		return KVC_EINVAL;
	char *enc = evhttp_uriencode(prefix, -1, 0);
	if (!enc)
		return KVC_ENOMEM;
	size_t n = strlen(enc) + 32;
	char *path = malloc(n);
	if (!path) {
		free(enc);
		return KVC_ENOMEM;
	}
	/* An empty prefix is sent as "prefix=": every key (the server
	 * refuses a DELETE /v1/kv without the parameter). */
	snprintf(path, n, "/v1/kv?prefix=%s", enc);
	free(enc);
	struct call c = {.method = EVHTTP_REQ_DELETE,
			 .path = path,
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	free(path);
	uint64_t d = 0, idx = 0;
	if (rc == 0 && (kvc_http_get_u64(j, "deleted", &d) < 0 ||
			kvc_http_get_u64(j, "index", &idx) < 0)) {
		kvc_http_set_errmsg(h, "prefix delete answer without "
				       "\"deleted\" or \"index\"");
		rc = KVC_EPROTO;
	}
	if (rc == 0) {
		if (deleted)
			*deleted = d;
		if (index)
			*index = idx;
	}
	json_decref(j);
	return rc;
}
