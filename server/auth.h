/* auth.h - who may do what (§1.8): the one decision every request of the
 * client API passes through, and the parsers of what it is made from (the
 * Authorization header, a request's header block). Pure: no store, no
 * libevent, no clock; unit-tested in test_auth.c. */
#ifndef SERVER_AUTH_H_
#define SERVER_AUTH_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Roles; the numbers are the store's (enum kv_role). NONE: no token, or
 * one the store does not know. */
enum auth_role {
	AUTH_ROLE_NONE = 0,
	AUTH_ROLE_ADMIN = 1,
	AUTH_ROLE_READWRITE = 2,
	AUTH_ROLE_READONLY = 3
};

enum auth_method {
	AUTH_M_GET,
	AUTH_M_HEAD,
	AUTH_M_PUT,
	AUTH_M_POST,
	AUTH_M_DELETE,
	AUTH_M_OTHER
};

/* What a route needs (auth_classify()). */
enum auth_class {
	AUTH_C_OPEN,	/* /healthz, /readyz, GET /, /ui/: no token */
	AUTH_C_ANY,	/* any valid token: status, GET members, and
			 * requests the router answers 404 or 405 */
	AUTH_C_READ,	/* reads, lists, watches under the prefix */
	AUTH_C_WRITE,	/* writes, prefix deletes, transactions under it */
	AUTH_C_LEASE,	/* /v1/leases and below */
	AUTH_C_METRICS, /* /metrics */
	AUTH_C_ADMIN	/* members changes, leader transfer, snapshots,
			 * /v1/auth/ */
};

/* The caller of a request: its role and, for readwrite and readonly, the
 * key prefix it reaches (admin: ignored). */
struct auth_who {
	int role; /* enum auth_role */
	const uint8_t *prefix;
	size_t prefix_len;
};

/* auth_check()'s answer: allowed, or the HTTP status to refuse with. */
enum auth_verdict {
	AUTH_ALLOW = 0,
	AUTH_UNAUTHORIZED = 401,
	AUTH_FORBIDDEN = 403
};

/* The class of @path (the raw path of the request target, without the
 * query) under @m. */
enum auth_class auth_classify(enum auth_method m, const char *path);

/* Whether @path needs no token whatever the method: /healthz, /readyz, /,
 * /ui and everything under /ui/. */
bool auth_path_open(const char *path);

/* Whether @who reaches @scope (@len bytes, a key or a key prefix): it
 * starts with @who's prefix (admin: always). */
bool auth_scope_ok(const struct auth_who *who, const uint8_t *scope,
		   size_t len);

/* The decision. With auth off (@enabled false) everything is allowed;
 * else OPEN routes are; else a caller without a valid token (@who NULL
 * or role NONE) is 401; else the role decides (403 when it does not
 * allow the class), and for READ and WRITE also @scope (@len bytes: the
 * key, or the list / watch / delete prefix, "" for none) must be within
 * @who's prefix. A NULL @scope skips that test: the route checks each of
 * its keys itself with auth_scope_ok() (a transaction). */
enum auth_verdict auth_check(bool enabled, const struct auth_who *who,
			     enum auth_method m, const char *path,
			     const uint8_t *scope, size_t len);

/* A secret's longest accepted length in a header (ours are 47 bytes). */
#define AUTH_TOKEN_MAX 256

/* Parses an Authorization header value "Bearer T" (the scheme in any
 * case, spaces around T ignored): *@tok and *@len point at T, 1..
 * AUTH_TOKEN_MAX visible ASCII characters. 0, or -1 when it is not that
 * shape. */
int auth_bearer(const char *value, size_t vlen, const char **tok, size_t *len);

/* What the gate needs from a request's header block. */
struct auth_head {
	enum auth_method method;
	const char *path; /* into the block, not NUL-terminated */
	size_t path_len;
	const char *authorization; /* the first Authorization value, OWS
				    * trimmed, or NULL */
	size_t authorization_len;
};

/* Parses the header block @head (@len bytes, its blank line included;
 * lines end with "\n" or "\r\n", as evhttp reads them): the request line
 * "METHOD TARGET VERSION" and the first Authorization header. A target
 * in absolute form (http://host/path) gives its path. 0, or -1 when the
 * request line has not that shape. */
int auth_head_parse(const char *head, size_t len, struct auth_head *out);

#endif /* SERVER_AUTH_H_ */
