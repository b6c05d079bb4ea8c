/* kvc_lease.c - libkvc's leases (DESIGN.md §1.6): grant, keepalive,
 * revoke, info and list over /v1/leases. */
#include "kvc.h"
#include "kvc_http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* §1.6: a TTL is 1..86400 seconds. */
#define LEASE_TTL_MAX 86400u

int kvc_lease_grant(struct kvc *h, uint64_t ttl_s, uint64_t *id)
{
	if (!h || ttl_s < 1 || ttl_s > LEASE_TTL_MAX || !id)
		return KVC_EINVAL;
	char body[48];
	snprintf(body, sizeof(body), "{\"ttl\":%" PRIu64 "}", ttl_s);
	/* A grant creates a lease: one sequence number across retries, so
	 * that a retried grant does not make a second one. */
	struct call c = {.method = EVHTTP_REQ_POST,
			 .path = "/v1/leases",
			 .body = body,
			 .body_len = strlen(body),
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc == 0 && (kvc_http_get_u64(j, "id", id) < 0 || *id == 0)) {
		kvc_http_set_errmsg(h, "grant answer without a lease \"id\"");
		rc = KVC_EPROTO;
	}
	json_decref(j);
	return rc;
}

/* Sends @c and reads the answer's member @name, in @lo..@hi, into *@out
 * (when not NULL). 0, KVC_EPROTO (saying @errmsg) or the call's error;
 * *@out is only written on 0. */
static int call_u64(struct kvc *h, const struct call *c, const char *name,
		    uint64_t lo, uint64_t hi, const char *errmsg, uint64_t *out)
{
	json_t *j;
	int rc = kvc_http_call_json(h, c, false, &j);
	uint64_t v = 0;
	if (rc == 0 &&
	    (kvc_http_get_u64(j, name, &v) < 0 || v < lo || v > hi)) {
		kvc_http_set_errmsg(h, errmsg);
		rc = KVC_EPROTO;
	}
	if (rc == 0 && out)
		*out = v;
	json_decref(j);
	return rc;
}

int kvc_lease_keepalive(struct kvc *h, uint64_t id, uint64_t *ttl_s)
{
	if (!h || id == 0)
		return KVC_EINVAL;
	char path[64];
	snprintf(path, sizeof(path), "/v1/leases/%" PRIu64 "/keepalive", id);
	/* No X-Kv-Seq: a keepalive changes nothing but a deadline, so a
	 * repeated one is harmless, and members need not log it. */
	struct call c = {
	    .method = EVHTTP_REQ_POST, .path = path, .to_leader = true};
	return call_u64(h, &c, "ttl", 1, LEASE_TTL_MAX,
			"keepalive answer without a valid \"ttl\"", ttl_s);
}

int kvc_lease_revoke(struct kvc *h, uint64_t id, uint64_t *deleted)
{
	if (!h || id == 0)
		return KVC_EINVAL;
	char path[48];
	snprintf(path, sizeof(path), "/v1/leases/%" PRIu64, id);
	struct call c = {.method = EVHTTP_REQ_DELETE,
			 .path = path,
			 .to_leader = true,
			 .seq = ++h->seq};
	return call_u64(h, &c, "deleted", 0, UINT64_MAX,
			"revoke answer without \"deleted\"", deleted);
}

void kvc_leases_free(struct kvc_lease *leases, size_t n)
{
	if (!leases)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < leases[i].n_keys; k++)
			free(leases[i].keys[k]);
		free(leases[i].keys);
	}
	free(leases);
}

/* Fills @l from one lease object of an answer; its keys too when
 * @with_keys. 0, KVC_EPROTO or KVC_ENOMEM (@l's keys are then released
 * by kvc_leases_free()). */
static int parse_lease(json_t *o, bool with_keys, struct kvc_lease *l)
{
	if (kvc_http_get_u64(o, "id", &l->id) < 0 || l->id == 0 ||
	    kvc_http_get_u64(o, "ttl", &l->ttl) < 0 ||
	    kvc_http_get_u64(o, "remaining_ms", &l->remaining_ms) < 0 ||
	    l->ttl > LEASE_TTL_MAX ||
	    l->remaining_ms > (uint64_t)LEASE_TTL_MAX * 1000 * 4)
		return KVC_EPROTO;
	if (!with_keys)
		return 0;
	json_t *keys = json_object_get(o, "keys");
	if (!json_is_array(keys))
		return KVC_EPROTO;
	size_t n = json_array_size(keys);
	l->keys = calloc(n ? n : 1, sizeof(*l->keys));
	if (!l->keys)
		return KVC_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_array_get(keys, i));
		if (!k)
			return KVC_EPROTO;
		l->keys[i] = strdup(k);
		if (!l->keys[i])
			return KVC_ENOMEM;
		l->n_keys = i + 1;
	}
	return 0;
}

int kvc_lease_info(struct kvc *h, uint64_t id, struct kvc_lease **out)
{
	if (!h || id == 0 || !out)
		return KVC_EINVAL;
	*out = NULL;
	char path[48];
	snprintf(path, sizeof(path), "/v1/leases/%" PRIu64, id);
	struct call c = {
	    .method = EVHTTP_REQ_GET, .path = path, .to_leader = true};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc < 0)
		return rc;
	struct kvc_lease *l = calloc(1, sizeof(*l));
	rc = l ? parse_lease(j, true, l) : KVC_ENOMEM;
	if (rc == KVC_EPROTO)
		kvc_http_set_errmsg(h, "malformed lease answer");
	if (rc < 0)
		kvc_leases_free(l, 1);
	else
		*out = l;
	json_decref(j);
	return rc;
}

/* One page of GET /v1/leases after id @after, appended to *@out (*@n
 * leases, room for *@cap); *@more says whether more follow (a member that
 * does not page says nothing: none). */
static int list_page(struct kvc *h, uint64_t after, struct kvc_lease **out,
		     size_t *n, size_t *cap, bool *more)
{
	char path[80];
	snprintf(path, sizeof(path), "/v1/leases?limit=1000&after=%" PRIu64,
		 after);
	struct call c = {
	    .method = EVHTTP_REQ_GET, .path = path, .to_leader = true};
	json_t *j;
	int rc = kvc_http_call_json(h, &c, false, &j);
	if (rc < 0)
		return rc;
	json_t *arr = json_object_get(j, "leases");
	json_t *m = json_object_get(j, "more");
	size_t cnt = json_array_size(arr);
	rc = KVC_EPROTO;
	if (!json_is_array(arr) || (m && !json_is_boolean(m)))
		goto done;
	*more = json_is_true(m) && cnt > 0;
	if (*n + cnt > *cap) {
		size_t ncap = (*n + cnt) * 2;
		struct kvc_lease *nl = realloc(*out, ncap * sizeof(**out));
		rc = KVC_ENOMEM;
		if (!nl)
			goto done;
		memset(nl + *n, 0, (ncap - *n) * sizeof(*nl));
		*out = nl;
		*cap = ncap;
	}
	rc = 0;
	size_t first = *n;
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		rc = parse_lease(json_array_get(arr, i), false, &(*out)[*n]);
		if (rc == 0)
			(*n)++;
	}
	/* Ids grow page after page: anything else would loop. */
	if (rc == 0 && cnt > 0 && (*out)[first].id <= after)
		rc = KVC_EPROTO;
done:
	json_decref(j);
	return rc;
}

int kvc_lease_list(struct kvc *h, struct kvc_lease **leases, size_t *n)
{
	if (!h || !leases || !n)
		return KVC_EINVAL;
	*leases = NULL;
	*n = 0;
	struct kvc_lease *out = NULL;
	size_t cnt = 0, cap = 0;
	bool more = true;
	uint64_t after = 0;
	int rc = 0;
	while (more && rc == 0) {
		rc = list_page(h, after, &out, &cnt, &cap, &more);
		if (rc == 0 && cnt > 0)
			after = out[cnt - 1].id;
	}
	if (rc == KVC_EPROTO)
		kvc_http_set_errmsg(h, "malformed lease list");
	if (rc < 0) {
		kvc_leases_free(out, cnt);
		return rc;
	}
	*leases = out;
	*n = cnt;
	return 0;
}
