/* kvc.h - libkvc: a blocking C client for a kvd cluster.
 *
 * Use (man 3 kvc describes every function):
 *     struct kvc_options o;
 *     struct kvc *h;
 *     kvc_options_init(&o);
 *     o.retry_deadline_ms = 15000;
 *     int rc = kvc_open("http://10.0.0.1:7001,http://10.0.0.2:7001", &o,
 *                       &h);
 *     if (rc < 0)
 *             fprintf(stderr, "%s: %s\n", kvc_strerror(rc),
 *                     kvc_open_error());
 *     if (rc == 0)
 *             rc = kvc_put(h, "greeting", "hello", 5, &index);
 *     if (rc < 0 && h)
 *             fprintf(stderr, "%s: %s\n", kvc_strerror(rc), kvc_errmsg(h));
 *     kvc_close(h);
 *
 * Every call blocks until it has an answer or the retry deadline passes.
 * Connections to members are kept open between calls (HTTP/1.1
 * keep-alive, up to 4 per handle).
 * The library finds the leader through GET /v1/status on the endpoints and
 * sends writes straight to it. On a connection failure, a 503 or a 504 it
 * forgets the leader, waits a jittered, exponentially growing pause and
 * tries again, until the handle's retry deadline. Each logical write carries
 * X-Kv-Client (16 random hex digits per handle) and X-Kv-Seq (one number per
 * logical write, the same on every retry), so a write retried across a
 * leader change is applied at most once. When every endpoint has refused
 * the connection twice in a row (nothing listens there: a cluster not
 * started, a wrong port), the call gives up at once with KVC_EUNAVAILABLE
 * and kvc_errmsg() says "connection refused", rather than waiting out the
 * deadline.
 *
 * Threads: a handle is not thread-safe. Use one handle per thread; distinct
 * handles share nothing and may be used concurrently.
 *
 * Signals: while a call talks to a member, SIGPIPE is blocked in the calling
 * thread (a member closing a connection must not kill the process); one
 * raised by that exchange is discarded, the thread's mask is restored.
 *
 * Errors: functions return 0 or a negative KVC_E* code; kvc_strerror()
 * names a code, kvc_errmsg() gives the context of the handle's last error
 * (for instance the server's "message").
 *
 * Keys are NUL-terminated UTF-8 strings (1-511 bytes, no control
 * characters); values are byte arrays with a length.
 */
#ifndef KVC_KVC_H_
#define KVC_KVC_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of kvc.h; kvc_version() says the library's, which may be
 * newer (the same major number keeps the ABI: libkvc.so.MAJOR). */
#define KVC_VERSION_MAJOR  0
#define KVC_VERSION_MINOR  1
#define KVC_VERSION_PATCH  0
#define KVC_VERSION_STRING "0.1.0"

/* The version of the libkvc a program runs with, "MAJOR.MINOR.PATCH"
 * (static); each of @major, @minor and @patch, unless NULL, receives its
 * number. */
const char *kvc_version(int *major, int *minor, int *patch);

enum kvc_error {
	KVC_OK = 0,
	KVC_EINVAL = -1,       /* bad argument (NULL, bad endpoint URL, ...) */
	KVC_ENOMEM = -2,       /* out of memory */
	KVC_ENOTFOUND = -3,    /* key or member absent (404) */
	KVC_ECAS = -4,	       /* compare-and-swap failed (412) */
	KVC_EUNAVAILABLE = -5, /* no member or no leader reachable (503) */
	KVC_ETIMEOUT = -6,     /* the retry deadline passed (504) */
	KVC_EBADREQ = -7,      /* the server rejected the request (400) */
	KVC_ETOO_LARGE = -8,   /* value or response too large (413) */
	KVC_ECONFLICT = -9,    /* conflicting membership change (409) */
	KVC_EPROTO = -10,      /* unexpected or malformed response */
	KVC_ESERVER = -11,     /* the server failed (500, other status) */
	KVC_ECOMPACTED = -12,  /* a watch's position is older than the
				  history a member keeps (410) */
	KVC_ECANCELED = -13,   /* kvc_async.h: the call was cancelled
				  (kvc_async_close()) */
	KVC_EUNAUTHORIZED = -14, /* no token, or one the cluster does not
				    know (401; auth is on) */
	KVC_EFORBIDDEN = -15	 /* the token's role does not allow the
				    request (403) */
};
/* A value far above a member's --max-value-bytes: the member closes the
 * connection without reading it, and its 413 is lost with the connection.
 * When a request of 1 MiB or more loses its connection while sending,
 * libkvc asks the member again with the headers alone (no body, so nothing
 * is applied) and returns KVC_ETOO_LARGE when it answers 413.
 *
 * Writes that fail with KVC_EUNAVAILABLE or KVC_ETIMEOUT: the outcome is
 * unknown unless kvc_outcome_unknown() says otherwise. A write that
 * reached a member may have been applied, and one that timed out may still
 * commit later (for instance once a majority is back). Neither code means
 * "not applied"; read the key back to find out. */

/* Options of kvc_open(); a zero field takes the default.
 *
 * Initialise with kvc_options_init() and then set the fields: @size says
 * which fields the program knew of when it was built, so that a newer
 * libkvc, whose struct has more fields at its end, reads only those and
 * gives the others their defaults. A struct initialised in the source
 * with zeroes and designated fields ({.retry_deadline_ms = 5000}) has
 * @size 0, read as the fields up to @stale_reads (libkvc 0.1's). */
struct kvc_options {
	size_t size; /* sizeof(struct kvc_options), set by kvc_options_init() */
	int connect_timeout_ms; /* per TCP connect; default 1000 */
	int request_timeout_ms; /* per HTTP attempt; default 5000 */
	int retry_deadline_ms; /* whole call, retries included; default 10000 */
	bool stale_reads;      /* kvc_get() reads locally by default */
	/* Security (DESIGN.md §1.8); each string is copied by kvc_open(),
	 * NULL (the default) leaves it unset. */
	const char *token;  /* sent as "Authorization: Bearer TOKEN" on
			       every request; never logged or said */
	const char *cacert; /* PEM CA file that https:// members'
			       certificates must chain to; NULL: the
			       system's store */
	const char *cert;   /* PEM client certificate presented to
			       https:// members (with @key) */
	const char *key;    /* PEM private key of @cert */
	/* New fields go here, at the end, with a default for a zero. */
};

/* Sets @o->size and every field of @o to its default. */
void kvc_options_init(struct kvc_options *o);

/* Opaque handle. */
struct kvc;

/* Flags of kvc_get(). */
#define KVC_GET_STALE 1u /* serve from any member's local state */

/* Opens a handle on the cluster reachable through @endpoints, a comma-
 * separated list of client URLs ("http://host:port", "https://host:port"
 * or "host:port", which is http). No network traffic happens here. @opts
 * may be NULL (all defaults); it is copied, as is @endpoints. On success
 * *@out owns the handle; release it with kvc_close(). https:// members are
 * spoken to over TLS 1.2 or newer: their certificate must chain to
 * @opts->cacert (or the system's store) and name the URL's host (a DNS
 * name, or an IP address in its IP SANs); @opts->cert and @opts->key are
 * presented when the member asks for a client certificate. Errors:
 * KVC_EINVAL (no or bad endpoint, more than 64 endpoints, options whose
 * @size is too small to be initialised, a token with control characters,
 * a CA, certificate or key file that does not load, a certificate without
 * its key), KVC_ENOMEM, KVC_ESERVER (no randomness for the client id); then
 * kvc_open_error() says why. */
int kvc_open(const char *endpoints, const struct kvc_options *opts,
	     struct kvc **out);

/* Why the last kvc_open() in the calling thread failed, naming the bad
 * endpoint if one was ("" after a success). Owned by libkvc, one per
 * thread, valid until the thread's next kvc_open(). */
const char *kvc_open_error(void);

/* Releases @h and everything it holds. NULL is allowed. */
void kvc_close(struct kvc *h);

/* Names an error code. The string is static. */
const char *kvc_strerror(int rc);

/* Context of the last error on @h ("" if none). Owned by @h, valid until
 * the next call on @h. */
const char *kvc_errmsg(const struct kvc *h);

/* After a write (put, delete, membership change, transfer) failed with
 * KVC_EUNAVAILABLE or KVC_ETIMEOUT: true when its outcome is unknown (an
 * attempt reached a member, which may have applied it, or may still: a
 * write that timed out can commit later); false when no attempt reached
 * any member, so the write was certainly not applied. A write whose
 * outcome is unknown can be resolved by reading the key back; retrying it
 * on the same handle does not reuse the failed write's X-Kv-Seq. */
bool kvc_outcome_unknown(const struct kvc *h);

/* Reads @key. Linearizable unless @flags has KVC_GET_STALE or the handle
 * was opened with stale_reads. On success *@value is a malloc'd buffer of
 * *@len bytes plus a trailing NUL (not counted), owned by the caller
 * (free()); *@mod_index, if not NULL, is the key's mod index.
 * KVC_ENOTFOUND when the key is absent. */
int kvc_get(struct kvc *h, const char *key, unsigned flags, void **value,
	    size_t *len, uint64_t *mod_index);

/* Writes @len bytes of @value (copied; may be NULL when @len is 0) under
 * @key. *@index, if not NULL, receives the raft index it was applied at. */
int kvc_put(struct kvc *h, const char *key, const void *value, size_t len,
	    uint64_t *index);

/* As kvc_put(), only if the key's mod index is @cas (0: the key must not
 * exist). On KVC_ECAS, *@index receives the key's current mod index (0 if
 * absent). */
int kvc_cas_put(struct kvc *h, const char *key, const void *value, size_t len,
		uint64_t cas, uint64_t *index);

/* As kvc_put() and kvc_cas_put(), attaching @key to lease @lease (not 0;
 * from kvc_lease_grant()): the key is deleted when the lease ends (revoked
 * or expired). A later write without a lease detaches it. KVC_ENOTFOUND
 * when the lease does not exist (expired, revoked, never granted). */
int kvc_put_lease(struct kvc *h, const char *key, const void *value, size_t len,
		  uint64_t lease, uint64_t *index);
int kvc_cas_put_lease(struct kvc *h, const char *key, const void *value,
		      size_t len, uint64_t cas, uint64_t lease,
		      uint64_t *index);

/* Deletes @key. *@index (if not NULL) receives the raft index of the
 * delete, *@deleted (if not NULL) whether the key existed. */
int kvc_delete(struct kvc *h, const char *key, uint64_t *index, bool *deleted);

/* As kvc_delete(), only if the key's mod index is @cas. On KVC_ECAS,
 * *@index receives the current mod index. */
int kvc_cas_delete(struct kvc *h, const char *key, uint64_t cas,
		   uint64_t *index, bool *deleted);

/* One key-value pair of kvc_list(). */
struct kvc_kv {
	char *key;   /* NUL-terminated */
	void *value; /* value_len bytes plus a trailing NUL */
	size_t value_len;
	uint64_t index; /* mod index */
};

/* Lists keys starting with @prefix (NULL or "": all) strictly after @after
 * (NULL or "": from the first), at most @limit (0: the server's default of
 * 1000) in key order. On success *@kvs is an array of *@n pairs owned by the
 * caller (release with kvc_kvs_free()), *@more says whether further keys
 * match: pass the last key as @after to get the next page. Linearizable
 * unless the handle reads stale. */
int kvc_list(struct kvc *h, const char *prefix, const char *after,
	     unsigned limit, struct kvc_kv **kvs, size_t *n, bool *more);

/* Releases an array from kvc_list(). NULL is allowed. */
void kvc_kvs_free(struct kvc_kv *kvs, size_t n);

/* Deletes every key starting with @prefix (not NULL; "" deletes every
 * key) at one raft index (DELETE /v1/kv?prefix=P). *@deleted (if not
 * NULL) receives how many keys were deleted, *@index (if not NULL) the
 * index. Exactly once across retries, like kvc_put(). */
int kvc_del_prefix(struct kvc *h, const char *prefix, uint64_t *deleted,
		   uint64_t *index);

/* A cluster member as /v1/status and /v1/members describe it. */
struct kvc_member {
	uint64_t id;
	char *peer_url;
	char *client_url; /* "" when not known yet */
	bool voter;
};

/* One member's /v1/status. */
struct kvc_status {
	uint64_t id;
	char *state; /* leader, follower, candidate, learner, removed */
	uint64_t term;
	uint64_t leader; /* 0: unknown */
	char *leader_client_url;
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t last_index;
	uint64_t snapshot_index;
	struct kvc_member *members;
	size_t n_members;
};

/* Fetches the status of the member at client URL @url, or, when @url is
 * NULL, of the first endpoint that answers. On success *@st is owned by the
 * caller (release with kvc_status_free()). A single URL is tried within the
 * retry deadline, without waiting for a leader. */
int kvc_status(struct kvc *h, const char *url, struct kvc_status **st);

/* Asks the member at client URL @url whether it is ready (GET /readyz:
 * it knows a leader and has applied what that leader committed), once,
 * within the handle's request timeout. 0 when ready; KVC_EUNAVAILABLE
 * when the member answered that it is not (kvc_errmsg() gives its reason)
 * or did not answer; KVC_ETIMEOUT when it was silent; KVC_EINVAL for a bad
 * @url. */
int kvc_ready(struct kvc *h, const char *url);

/* Releases a status. NULL is allowed. */
void kvc_status_free(struct kvc_status *st);

/* Lists the cluster members. *@members is an array of *@n owned by the
 * caller (release with kvc_members_free()). */
int kvc_members(struct kvc *h, struct kvc_member **members, size_t *n);

/* Releases an array from kvc_members(). NULL is allowed. */
void kvc_members_free(struct kvc_member *members, size_t n);

/* Adds member @id with peer URL @peer_url (copied); returns once the new
 * configuration is committed. */
int kvc_member_add(struct kvc *h, uint64_t id, const char *peer_url);

/* Removes member @id; returns once the configuration is committed. */
int kvc_member_remove(struct kvc *h, uint64_t id);

/* Asks the leader to hand leadership to member @to; returns once @to
 * leads. Like kvc_member_add() and kvc_member_remove(), one attempt may
 * wait up to the whole retry deadline (the member answers when done). */
int kvc_leader_transfer(struct kvc *h, uint64_t to);

/* Watches (DESIGN.md §1.5): every change to a key, or to every key under a
 * prefix, exactly once, in index order, with no gap, also when the member
 * serving the watch fails.
 *
 *     struct kvc_watch *w;
 *     struct kvc_event ev;
 *     int rc = kvc_watch_open(h, "config/", KVC_WATCH_PREFIX, 0, &w);
 *     while (rc == 0 || rc == KVC_ETIMEOUT || rc == KVC_EUNAVAILABLE) {
 *             rc = kvc_watch_next(w, &ev, 1000);
 *             if (rc == 0)
 *                     printf("%s %s at %" PRIu64 "\n", ev.type ==
 *                            KVC_EVENT_PUT ? "put" : "delete", ev.key,
 *                            ev.index);
 *     }
 *     kvc_watch_close(w);
 *
 * A watch streams GET /v1/watch from one member over its own connection.
 * When that member fails (connection refused, reset or silent, the stream
 * ended, or an error event such as "shutting_down", "removed" or
 * "slow_consumer"), the watch resumes on the next endpoint at the index
 * after the last change it returned (or after the last progress event),
 * retrying across the endpoints with jittered backoff for up to the
 * handle's retry deadline. Changes that share an index (a transaction's)
 * are resumed within that index: none is returned twice. A stream that
 * brings nothing, not even a progress event, for 30 s (or 3 request
 * timeouts, if longer) is taken for dead: keep a member's
 * --watch-progress-ms well below that.
 *
 * Threads: a watch belongs to its handle: use both from one thread at a
 * time. The handle may serve other calls between kvc_watch_next() calls
 * (the watch has its own connection); close every watch before its handle.
 * Errors of a watch leave their context in kvc_errmsg() of its handle. */

/* Flags of kvc_watch_open(). */
#define KVC_WATCH_PREFIX 1u /* @key is a prefix: every key starting with it */

/* Types of a change. */
#define KVC_EVENT_PUT	 1
#define KVC_EVENT_DELETE 2

/* One change, as kvc_watch_next() returns it. */
struct kvc_event {
	int type;    /* KVC_EVENT_PUT or KVC_EVENT_DELETE */
	char *key;   /* NUL-terminated */
	void *value; /* PUT: value_len bytes plus a trailing NUL; DELETE:
			NULL */
	size_t value_len;
	uint64_t index; /* the raft index of the change */
};

/* Opaque watch. */
struct kvc_watch;

/* Watches @key (with KVC_WATCH_PREFIX in @flags: every key starting with
 * @key, which may then be "") for changes at indexes >= @from, or, when
 * @from is 0, for changes after the serving member's applied index at the
 * time of the call. Blocks until a member accepts the stream (within the
 * handle's retry deadline): a change committed after the call returns is
 * seen. @key is copied. On success *@out owns the watch; release it with
 * kvc_watch_close(); on error *@out is NULL. Errors: KVC_EINVAL;
 * KVC_ECOMPACTED when @from is older than the history (kvc_watch_oldest()
 * says where it starts); KVC_EBADREQ (a key the server refuses);
 * KVC_EUNAVAILABLE or KVC_ETIMEOUT when no member accepted in time. */
int kvc_watch_open(struct kvc *h, const char *key, unsigned flags,
		   uint64_t from, struct kvc_watch **out);

/* Waits up to @timeout_ms (< 0: without a limit; 0: only what has arrived)
 * for the next change and stores it in *@ev. The key and value belong to
 * @w and stay valid until the next call on @w. Progress events are not
 * returned: they advance kvc_watch_index().
 * Returns 0 with *@ev set, or:
 *  - KVC_ETIMEOUT: no change within @timeout_ms, or a signal handler ran in
 *    the calling thread (so that a program can check a flag it set); the
 *    watch goes on, call again.
 *  - KVC_EUNAVAILABLE: a member failed and no other accepted the stream
 *    within the retry deadline; the watch keeps its position and the next
 *    call tries again.
 *  - KVC_ECOMPACTED: the watch cannot resume without a gap (a member's
 *    history no longer holds its position; see kvc_watch_oldest()).
 *  - KVC_EPROTO: the server broke the stream's promises (a malformed event
 *    line, one above 16 MiB of value, a change out of order or twice, a key
 *    that is not watched).
 *  - KVC_ENOMEM, KVC_EBADREQ, KVC_ENOTFOUND (a member without watches),
 *    KVC_ESERVER.
 * These last three kinds are definite: every later call returns the same.
 */
int kvc_watch_next(struct kvc_watch *w, struct kvc_event *ev, int timeout_ms);

/* Every change at an index <= the value returned has been returned by
 * kvc_watch_next() (changes sharing the index of the last one returned may
 * still follow). Reopening with @from = this + 1 loses nothing. */
uint64_t kvc_watch_index(const struct kvc_watch *w);

/* After a watch of @h failed with KVC_ECOMPACTED (kvc_watch_open() or
 * kvc_watch_next()): the oldest index the member's history still held, the
 * @from to reopen with after re-reading the keys (kvc_errmsg() names it
 * too). 0 when no watch of @h failed so. */
uint64_t kvc_watch_oldest(const struct kvc *h);

/* Ends the watch and releases it (and the last event's key and value).
 * NULL is allowed. */
void kvc_watch_close(struct kvc_watch *w);

/* ---------------------------------------------------------------------
 * Leases (DESIGN.md §1.6). A lease lives for its TTL
 * after it was granted or last kept alive; when it ends (expiry or
 * revoke) every key attached to it (kvc_put_lease()) is deleted at one
 * index. Lease ids are positive; 0 is never a lease.
 */

/* Grants a lease of @ttl_s seconds (1..86400); *@id receives its id.
 * Exactly once across retries. */
int kvc_lease_grant(struct kvc *h, uint64_t ttl_s, uint64_t *id);

/* Restarts lease @id's TTL; *@ttl_s (if not NULL) receives its TTL in
 * seconds. KVC_ENOTFOUND when the lease has expired or never existed.
 * Keep a lease alive every TTL/3 or so: the lease may end TTL seconds
 * after the keepalive was SENT (not answered). */
int kvc_lease_keepalive(struct kvc *h, uint64_t id, uint64_t *ttl_s);

/* Ends lease @id now, deleting its keys at one index; *@deleted (if not
 * NULL) receives how many. KVC_ENOTFOUND when it does not exist. */
int kvc_lease_revoke(struct kvc *h, uint64_t id, uint64_t *deleted);

/* A lease as kvc_lease_info() and kvc_lease_list() describe it. */
struct kvc_lease {
	uint64_t id;
	uint64_t ttl;	       /* seconds */
	uint64_t remaining_ms; /* until it expires, unless kept alive */
	char **keys;	       /* kvc_lease_info(): the attached keys,
				* NUL-terminated; kvc_lease_list(): NULL */
	size_t n_keys;
};

/* Describes lease @id with its keys (GET /v1/leases/{id}). On success
 * *@out is one struct owned by the caller: release it with
 * kvc_leases_free(*@out, 1). KVC_ENOTFOUND when it does not exist. */
int kvc_lease_info(struct kvc *h, uint64_t id, struct kvc_lease **out);

/* Lists the leases (GET /v1/leases), without their keys. On success
 * *@leases is an array of *@n owned by the caller (kvc_leases_free()). */
int kvc_lease_list(struct kvc *h, struct kvc_lease **leases, size_t *n);

/* Releases @n leases from kvc_lease_info() or kvc_lease_list() and their
 * keys. NULL is allowed. */
void kvc_leases_free(struct kvc_lease *leases, size_t n);

/* ---------------------------------------------------------------------
 * Transactions (DESIGN.md §1.7): compares, then the
 * ops of the success branch if every compare holds, else those of the
 * failure branch, all at one raft index. Built without JSON:
 *
 *     struct kvc_txn *t;
 *     struct kvc_txn_result *res;
 *     kvc_txn_new(&t);
 *     kvc_txn_cmp_mod(t, "config", KVC_CMP_EQ, seen_index);
 *     kvc_txn_put(t, KVC_TXN_SUCCESS, "config", "v2", 2, 0);
 *     kvc_txn_get(t, KVC_TXN_FAILURE, "config");
 *     int rc = kvc_txn_commit(h, t, &res);
 *     if (rc == 0 && !res->succeeded)
 *             ... res->results[0] is the get of the failure branch ...
 *     kvc_txn_result_free(res);
 *     kvc_txn_free(t);
 *
 * The builder copies every key and value it is given. Its functions
 * return 0, KVC_EINVAL (a NULL or empty key where one is needed, a key
 * over 511 bytes, an unknown op or branch, a limit outside 1..10000) or
 * KVC_ETOO_LARGE (more than 128 compares, or 128 ops in a branch); a
 * builder that failed once keeps failing in kvc_txn_commit() (so that a
 * chain of calls may be checked once). The server checks the rest (a key
 * written twice in a branch, --max-txn-bytes): KVC_EBADREQ or
 * KVC_ETOO_LARGE.
 */

/* Compare ops and branches. */
enum kvc_cmp_op { KVC_CMP_EQ = 1, KVC_CMP_NE, KVC_CMP_LT, KVC_CMP_GT };
#define KVC_TXN_SUCCESS 0
#define KVC_TXN_FAILURE 1

/* Opaque transaction under construction. */
struct kvc_txn;

/* A new, empty transaction in *@out (kvc_txn_free()). KVC_EINVAL,
 * KVC_ENOMEM. */
int kvc_txn_new(struct kvc_txn **out);

/* Compares @key's mod index (0 when absent) with @index. */
int kvc_txn_cmp_mod(struct kvc_txn *t, const char *key, enum kvc_cmp_op op,
		    uint64_t index);
/* Compares @key's value with the @len bytes of @value (bytewise; an
 * absent key's value is unequal to every value and neither < nor >). */
int kvc_txn_cmp_value(struct kvc_txn *t, const char *key, enum kvc_cmp_op op,
		      const void *value, size_t len);
/* Holds when @key exists (@exists true) or does not (false). */
int kvc_txn_cmp_exists(struct kvc_txn *t, const char *key, bool exists);

/* Ops of branch @branch (KVC_TXN_SUCCESS or KVC_TXN_FAILURE), applied in
 * the order added. put: @lease 0 for none. list: @limit 1..10000 keys. */
int kvc_txn_put(struct kvc_txn *t, int branch, const char *key,
		const void *value, size_t len, uint64_t lease);
int kvc_txn_del(struct kvc_txn *t, int branch, const char *key);
int kvc_txn_del_prefix(struct kvc_txn *t, int branch, const char *prefix);
int kvc_txn_get(struct kvc_txn *t, int branch, const char *key);
int kvc_txn_list(struct kvc_txn *t, int branch, const char *prefix,
		 unsigned limit);

/* Kinds of op results. */
enum kvc_txn_op_type {
	KVC_TXN_OP_PUT = 1,
	KVC_TXN_OP_DEL,
	KVC_TXN_OP_DEL_PREFIX,
	KVC_TXN_OP_GET,
	KVC_TXN_OP_LIST
};

/* The result of one op of the branch taken. */
struct kvc_txn_op_result {
	enum kvc_txn_op_type type;
	uint64_t index; /* PUT: the transaction's index; GET: the key's
			   mod index (0 when absent) */
	char *key;	/* GET: the key read, NUL-terminated; else NULL */
	bool found;	/* GET: whether the key exists */
	void *value;	/* GET (found): value_len bytes plus a NUL */
	size_t value_len;
	bool deleted;	    /* DEL: whether the key existed */
	uint64_t count;	    /* DEL_PREFIX: keys deleted */
	struct kvc_kv *kvs; /* LIST: n_kvs pairs in key order */
	size_t n_kvs;
	bool more; /* LIST: further keys match */
};

/* A committed transaction's outcome. */
struct kvc_txn_result {
	bool succeeded; /* the success branch ran (every compare held) */
	uint64_t index; /* the raft index it was applied at */
	struct kvc_txn_op_result *results; /* one per op of that branch */
	size_t n_results;
};

/* Sends @t (POST /v1/txn), exactly once across retries. On success
 * *@res is owned by the caller (kvc_txn_result_free()); the branch that
 * ran is a success either way: check (*@res)->succeeded. @t is not
 * changed and may be committed again (a new transaction each time). */
int kvc_txn_commit(struct kvc *h, const struct kvc_txn *t,
		   struct kvc_txn_result **res);

/* Releases a result, or a builder. NULL is allowed. */
void kvc_txn_result_free(struct kvc_txn_result *res);
void kvc_txn_free(struct kvc_txn *t);

/* Sends a transaction written as §1.7's JSON (@len bytes of @json, not
 * checked here) and returns the server's answer: *@result (if not NULL)
 * a malloc'd NUL-terminated JSON text the caller frees, *@succeeded (if
 * not NULL) its "succeeded". For programs that hold the JSON already
 * (kvctl txn). */
int kvc_txn_json(struct kvc *h, const char *json, size_t len, char **result,
		 bool *succeeded);

/* ---------------------------------------------------------------------
 * Locks (DESIGN.md §1.6): a mutex named by a key
 * prefix, fair (first come, first served), held as long as a lease lives.
 *
 * kvc_lock() creates the key NAME/<lease id as 16 hex digits> attached to
 * @lease (only if absent: its mod index is the index it was created at;
 * one that exists already for this lease is reused), then lists NAME/:
 * the key with the lowest mod index holds the lock. A waiter watches only
 * its immediate predecessor (a blocking read of its key), so a release
 * wakes one waiter, not all. The lock is released by kvc_unlock(), or
 * when the lease ends: a holder that dies without unlocking frees the
 * lock once its lease expires.
 *
 * THE CALLER KEEPS THE LEASE ALIVE, while waiting and while holding:
 * kvc_lease_keepalive() every TTL/3 from another thread with its own
 * handle (kvc_lock() blocks). Once the lease expires the lock may be held
 * by another: a holder must stop acting under the lock before its lease
 * could have expired (TTL after the send time of the last keepalive
 * answered 200), as `kvctl lock` does. kvc_lock_index() is a fencing
 * token: it grows with every new holder.
 */

/* Opaque held lock. */
struct kvc_lock;

/* Acquires lock @name (a key prefix: 1..494 bytes; "/" and the lease id
 * are appended) for @lease, waiting at most @timeout_ms (< 0: without a
 * limit). On success *@out owns the held lock (kvc_unlock()); it refers
 * to @h, which must outlive it. Errors: KVC_ETIMEOUT (not acquired in
 * time; the waiter key was deleted), KVC_ENOTFOUND (the lease does not
 * exist, or ended while waiting), the errors of kvc_put() and kvc_list().
 * Once its key exists, a waiter outlasts members failing and elections
 * (KVC_EUNAVAILABLE, KVC_ETIMEOUT, KVC_ESERVER of a list or wait): it
 * keeps its place and tries again until @timeout_ms. */
int kvc_lock(struct kvc *h, const char *name, uint64_t lease, int timeout_ms,
	     struct kvc_lock **out);

/* The key that holds @l (NAME/<lease id>), owned by @l. */
const char *kvc_lock_key(const struct kvc_lock *l);

/* The index the key was created at: larger for each later holder. */
uint64_t kvc_lock_index(const struct kvc_lock *l);

/* Releases the lock (deletes its key) and frees @l (NULL is allowed),
 * also when the delete fails (the lease's end releases it then). Returns
 * 0 or the delete's error. */
int kvc_unlock(struct kvc_lock *l);

/* ---------------------------------------------------------------------
 * Auth (DESIGN.md §1.8). Every call of a handle opened with a token sends
 * it; without one, a cluster with auth on answers KVC_EUNAUTHORIZED, and
 * a token whose role does not allow a call gets KVC_EFORBIDDEN. The calls
 * below are admin-only once auth is on. Secrets returned are malloc'd
 * strings owned by the caller (free()); they are shown once by the
 * cluster, which keeps only their hashes. */

/* Turns auth on (POST /v1/auth/enable) and stores in *@token the token of
 * role admin named "root". KVC_ECONFLICT when auth is already on. */
int kvc_auth_enable(struct kvc *h, char **token);

/* Turns auth off (POST /v1/auth/disable). */
int kvc_auth_disable(struct kvc *h);

/* A token as kvc_token_list() describes it (no secret). */
struct kvc_token {
	char *name;
	char *role;   /* "admin", "readwrite" or "readonly" */
	char *prefix; /* the keys it may reach ("" : all) */
};

/* Creates the token @name of @role ("admin", "readwrite", "readonly")
 * for the keys under @prefix (NULL: ""), and stores its secret in
 * *@token (POST /v1/auth/tokens). KVC_ECONFLICT when @name exists (or
 * the cluster holds its most tokens), KVC_EBADREQ for a name, role or
 * prefix the cluster refuses. */
int kvc_token_create(struct kvc *h, const char *name, const char *role,
		     const char *prefix, char **token);

/* Lists the tokens (GET /v1/auth/tokens). On success *@tokens is an array
 * of *@n owned by the caller (kvc_tokens_free()). */
int kvc_token_list(struct kvc *h, struct kvc_token **tokens, size_t *n);

/* Releases @n tokens of kvc_token_list(). NULL is allowed. */
void kvc_tokens_free(struct kvc_token *tokens, size_t n);

/* Revokes the token @name (DELETE /v1/auth/tokens/{name}): every member
 * refuses it once it applies the revocation. KVC_ENOTFOUND when no token
 * has that name. */
int kvc_token_revoke(struct kvc *h, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* KVC_KVC_H_ */
