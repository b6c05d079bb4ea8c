/* kvc_txn_body.h - libkvc's transaction bodies (not installed): a builder
 * to §1.7's request JSON, and the answer's JSON to struct kvc_txn_result,
 * with no network, so that tests can drive them on bytes. */
#ifndef KVC_KVC_TXN_BODY_H_
#define KVC_KVC_TXN_BODY_H_

#include "kvc.h"
#include "kvc_http.h"

#include <jansson.h>

/* The request body of @t (checked: no error recorded in it) as a new JSON
 * object the caller owns, or NULL when out of memory. */
KVC_INTERNAL json_t *kvc_txn_body_request(const struct kvc_txn *t);

/* Parses the answer @j to @t: {"succeeded", "index", "results"} with one
 * result per op of the branch taken, each of the shape its op has. On
 * success *@res is the caller's (kvc_txn_result_free()). KVC_EPROTO with
 * a reason in @why (@whylen bytes) for an answer that does not fit @t,
 * or KVC_ENOMEM. */
KVC_INTERNAL int kvc_txn_body_result(json_t *j, const struct kvc_txn *t,
				     struct kvc_txn_result **res, char *why,
				     size_t whylen);

/* The first error a builder call on @t returned (0: none). */
KVC_INTERNAL int kvc_txn_body_error(const struct kvc_txn *t);

/* @len bytes of @p in standard base64 with padding, as a malloc'd
 * NUL-terminated string the caller frees; NULL when out of memory. */
KVC_INTERNAL char *kvc_txn_body_b64(const void *p, size_t len);

#endif /* KVC_KVC_TXN_BODY_H_ */
