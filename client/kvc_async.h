/* kvc_async.h - libkvc's event-loop API: non-blocking put, get, delete and
 * watch on a libevent event_base the caller owns and runs.
 *
 * The semantics are those of the blocking calls of kvc.h: the leader is
 * found and written to; a call is retried with jittered backoff on a
 * connection failure, a 503 or a 504, on another member when the one used
 * fails, until the retry deadline of its options; a retried put or delete
 * carries the same X-Kv-Client and X-Kv-Seq, so it applies once. A watch
 * resumes on the next member at the next index, with no change lost and
 * none twice, as kvc_watch_next() does.
 *
 * Threads: a handle belongs to one event_base and is not thread-safe; call
 * it, and get its callbacks, on the thread that runs that base. Each call
 * that returns 0 calls its callback exactly once (a watch: once per change,
 * then once with an error when it ends), never from inside the call that
 * started it.
 *
 * Connections: each request in flight uses a connection of its own
 * (HTTP/1.1 keep-alive; no pipelining), taken from a bounded pool per
 * handle; requests beyond the bound wait in order. Idle connections stay
 * registered on the base, so event_base_dispatch() does not return by itself
 * while the handle is open. Each watch has a
 * connection of its own. They are libevent bufferevents, so TLS comes as a
 * bufferevent_openssl in their place, and a token as one more header: both
 * will be fields of struct kvc_options, and nothing here changes. */
#ifndef KVC_KVC_ASYNC_H_
#define KVC_KVC_ASYNC_H_

#include "kvc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* Opaque handle. */
struct kvc_async;

/* Requests in flight at once per handle (watches not counted); more wait. */
#define KVC_ASYNC_MAX_CONNS 16

/* Opens a handle on @base for the cluster reachable through @endpoints,
 * as kvc_open() does (same endpoints, same options; NULL: the defaults).
 * Nothing is sent yet. 0 with *@out set, or KVC_EINVAL (kvc_open_error()
 * says why) or KVC_ENOMEM. */
int kvc_async_open(struct event_base *base, const char *endpoints,
		   const struct kvc_options *opts, struct kvc_async **out);

/* Cancels everything pending, calling each pending callback once with
 * KVC_ECANCELED (each live watch's too; what those callbacks start is
 * cancelled in turn), then releases @a. Not from inside one of @a's
 * callbacks. NULL is allowed. */
void kvc_async_close(struct kvc_async *a);

/* During a callback of @a: the context of its error ("" if none), and, for
 * a put or a delete that failed with KVC_ETIMEOUT or KVC_EUNAVAILABLE,
 * whether it may have been applied (kvc_outcome_unknown()). */
const char *kvc_async_errmsg(const struct kvc_async *a);
bool kvc_async_outcome_unknown(const struct kvc_async *a);

/* Callbacks. @err is 0 or a KVC_E* code; the other arguments are valid
 * only during the call, and only when @err is 0 (a put's and a delete's
 * @index also on KVC_ECAS, as in kvc.h). */
typedef void (*kvc_put_cb)(void *arg, int err, uint64_t index);
typedef void (*kvc_get_cb)(void *arg, int err, const void *value, size_t len,
			   uint64_t mod_index);
typedef void (*kvc_del_cb)(void *arg, int err, uint64_t index, bool deleted);

/* Start kvc_put(), kvc_get() (@flags: KVC_GET_STALE) and kvc_delete(); the
 * value is copied. 0: @cb will be called once; else a code (KVC_EINVAL,
 * KVC_ENOMEM) and @cb will not be called. */
int kvc_async_put(struct kvc_async *a, const char *key, const void *value,
		  size_t len, kvc_put_cb cb, void *arg);
int kvc_async_get(struct kvc_async *a, const char *key, unsigned flags,
		  kvc_get_cb cb, void *arg);
int kvc_async_del(struct kvc_async *a, const char *key, kvc_del_cb cb,
		  void *arg);

/* Opaque watch. */
struct kvc_async_watch;

/* One change (@err 0, @ev valid during the call), or the end of the watch
 * (@err a definite error: KVC_ECOMPACTED, KVC_EPROTO, KVC_EUNAVAILABLE when
 * no member served within the retry deadline, KVC_ECANCELED; @ev NULL).
 * After an end the watch is released. */
typedef void (*kvc_event_cb)(void *arg, int err, const struct kvc_event *ev);

/* Watches @key (KVC_WATCH_PREFIX in @flags: a prefix) from index @from (0:
 * from now), as kvc_watch_open(). 0 with *@out set (may be NULL when not
 * wanted), or KVC_EINVAL or KVC_ENOMEM and @cb will not be called. */
int kvc_async_watch(struct kvc_async *a, const char *key, unsigned flags,
		    uint64_t from, kvc_event_cb cb, void *arg,
		    struct kvc_async_watch **out);

/* Every change at an index <= the value returned has been delivered (see
 * kvc_watch_index()). */
uint64_t kvc_async_watch_index(const struct kvc_async_watch *w);

/* Ends @w without calling its callback again, and releases it; allowed
 * from inside its own callback. NULL is allowed. */
void kvc_async_watch_cancel(struct kvc_async_watch *w);

#ifdef __cplusplus
}
#endif

#endif /* KVC_KVC_ASYNC_H_ */
