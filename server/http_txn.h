/* http_txn.h - POST /v1/txn and DELETE /v1/kv?prefix=P (DESIGN.md §1.7;
 * docs/API.md, "Transactions" and "Delete a prefix"). */
#ifndef SERVER_HTTP_TXN_H_
#define SERVER_HTTP_TXN_H_

struct evhttp_request;
struct http_auth_caller;
struct kvdraft_node;

/* POST /v1/txn: reads the JSON body (txn_json.h), proposes one KV_OP_TXN
 * entry and answers once it is applied here: 200 {"succeeded", "index",
 * "results"}, or 400, 403 (a key outside @caller's prefix:
 * http_auth_txn()), 404 (a put's lease does not exist), 409, 413, ... */
void http_txn_post(struct kvdraft_node *n, struct evhttp_request *req,
		   double t0, const struct http_auth_caller *caller);

/* DELETE /v1/kv?prefix=P: one KV_OP_DELETE_PREFIX entry; 200 {"index",
 * "deleted": N}. prefix is required; "prefix=" (empty) deletes every key. */
void http_delete_prefix(struct kvdraft_node *n, struct evhttp_request *req,
			const char *query, double t0);

#endif /* SERVER_HTTP_TXN_H_ */
