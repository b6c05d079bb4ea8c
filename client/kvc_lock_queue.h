/* kvc_lock_queue.h - the order of a lock's waiters (not installed): who
 * comes before whom under NAME/, a pure function so that tests can check
 * it without a cluster. */
#ifndef KVC_KVC_LOCK_QUEUE_H_
#define KVC_KVC_LOCK_QUEUE_H_

#include "kvc_http.h"

#include <stddef.h>
#include <stdint.h>

/* One waiter: a key under NAME/ and its mod index. */
struct kvc_lock_waiter {
	char *key;
	uint64_t index;
};

/* The waiter of the @n in @w that comes just before @mine (one of them):
 * the greatest mod index below its own, ties broken by key; NULL when
 * @mine comes first and so holds the lock. First come (lowest index),
 * first served. */
KVC_INTERNAL const struct kvc_lock_waiter *
kvc_lock_predecessor(const struct kvc_lock_waiter *w, size_t n,
		     const struct kvc_lock_waiter *mine);

#endif /* KVC_KVC_LOCK_QUEUE_H_ */
