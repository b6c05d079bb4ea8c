/* kvc_auth.c - libkvc's auth calls (DESIGN.md §1.8): enable, disable, and
 * the tokens' create, list and revoke over /v1/auth. */
#include "kvc.h"
#include "kvc_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The string member @name of @j, copied into *@out (caller frees). 0,
 * KVC_EPROTO (absent or not a string, saying so) or KVC_ENOMEM. */
static int get_str(struct kvc *h, json_t *j, const char *name, char **out)
{
	const char *v = json_string_value(json_object_get(j, name));
	if (!v) {
		kvc_http_set_errmsg(h, "answer without a string \"%s\"", name);
		return KVC_EPROTO;
	}
	*out = strdup(v);
	return *out ? 0 : KVC_ENOMEM;
}

int kvc_auth_enable(struct kvc *h, char **token)
{
	if (!h || !token)
		return KVC_EINVAL;
	*token = NULL;
	/* A sequence number across retries: a retried enable that the
	 * cluster already applied gets the first answer, not a 409. */
	struct call c = {.method = EVHTTP_REQ_POST,
			 .path = "/v1/auth/enable",
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc == 0)
		rc = get_str(h, j, "token", token);
	json_decref(j);
	return rc;
}

int kvc_auth_disable(struct kvc *h)
{
	if (!h)
		return KVC_EINVAL;
	struct call c = {.method = EVHTTP_REQ_POST,
			 .path = "/v1/auth/disable",
			 .to_leader = true,
			 .seq = ++h->seq};
	return kvc_http_call_status(h, &c);
}

int kvc_token_create(struct kvc *h, const char *name, const char *role,
		     const char *prefix, char **token)
{
	if (!h || !name || !*name || !role || !*role || !token)
		return KVC_EINVAL;
	*token = NULL;
	json_t *req = json_pack("{s:s,s:s,s:s}", "name", name, "role", role,
				"prefix", prefix ? prefix : "");
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body)
		return KVC_ENOMEM;
	struct call c = {.method = EVHTTP_REQ_POST,
			 .path = "/v1/auth/tokens",
			 .body = body,
			 .body_len = strlen(body),
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	free(body);
	if (rc == 0)
		rc = get_str(h, j, "token", token);
	json_decref(j);
	return rc;
}

void kvc_tokens_free(struct kvc_token *tokens, size_t n)
{
	if (!tokens)
		return;
	for (size_t i = 0; i < n; i++) {
		free(tokens[i].name);
		free(tokens[i].role);
		free(tokens[i].prefix);
	}
	free(tokens);
}

int kvc_token_list(struct kvc *h, struct kvc_token **tokens, size_t *n)
{
	if (!h || !tokens || !n)
		return KVC_EINVAL;
	*tokens = NULL;
	*n = 0;
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = "/v1/auth/tokens",
			 .to_leader = true};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc < 0)
		return rc;
	json_t *arr = json_object_get(j, "tokens");
	if (!json_is_array(arr)) {
		kvc_http_set_errmsg(h, "answer without a \"tokens\" array");
		json_decref(j);
		return KVC_EPROTO;
	}
	size_t cnt = json_array_size(arr);
	struct kvc_token *t = calloc(cnt ? cnt : 1, sizeof(*t));
	if (!t) {
		json_decref(j);
		return KVC_ENOMEM;
	}
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		json_t *o = json_array_get(arr, i);
		rc = get_str(h, o, "name", &t[i].name);
		if (rc == 0)
			rc = get_str(h, o, "role", &t[i].role);
		/* An admin token may come without a prefix. */
		if (rc == 0 && !json_object_get(o, "prefix"))
			t[i].prefix = strdup("");
		else if (rc == 0)
			rc = get_str(h, o, "prefix", &t[i].prefix);
		if (rc == 0 && !t[i].prefix)
			rc = KVC_ENOMEM;
	}
	json_decref(j);
	if (rc < 0) {
		kvc_tokens_free(t, cnt);
		return rc;
	}
	*tokens = t;
	*n = cnt;
	return 0;
}

int kvc_token_revoke(struct kvc *h, const char *name)
{
	if (!h || !name || !*name)
		return KVC_EINVAL;
	char *enc = evhttp_uriencode(name, -1, 0);
	if (!enc)
		return KVC_ENOMEM;
	size_t len = strlen(enc) + 32;
	char *path = malloc(len);
	if (!path) {
		free(enc);
		return KVC_ENOMEM;
	}
	snprintf(path, len, "/v1/auth/tokens/%s", enc);
	free(enc);
	struct call c = {.method = EVHTTP_REQ_DELETE,
			 .path = path,
			 .to_leader = true,
			 .seq = ++h->seq};
	int rc = kvc_http_call_status(h, &c);
	free(path);
	return rc;
}
