/* kvc_lock.c - libkvc's locks (DESIGN.md §1.6): a fair mutex on a lease,
 * a compare-and-swap create and a blocking read of the predecessor, as
 * etcd's concurrency recipe builds it. */
#include "kvc.h"
#include "kvc_http.h"
#include "kvc_lock_queue.h"

#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A key is at most 511 bytes: NAME, "/" and 16 hex digits. */
#define LOCK_NAME_MAX (511 - 17)
/* The pause before trying again after a failed list or wait. */
#define LOCK_RETRY_PAUSE_MS 200

struct kvc_lock {
	struct kvc *h;
	char *key;
	uint64_t index;
};

/* The waiter that comes before @mine, or NULL: @mine holds the lock. */
const struct kvc_lock_waiter *
kvc_lock_predecessor(const struct kvc_lock_waiter *w, size_t n,
		     const struct kvc_lock_waiter *mine)
{
	const struct kvc_lock_waiter *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct kvc_lock_waiter *c = &w[i];
		if (c == mine)
			continue;
		bool before =
		    c->index < mine->index ||
		    (c->index == mine->index && strcmp(c->key, mine->key) < 0);
		if (!before)
			continue;
		if (!best || c->index > best->index ||
		    (c->index == best->index && strcmp(c->key, best->key) > 0))
			best = c;
	}
	return best;
}

static void waiters_free(struct kvc_lock_waiter *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i].key);
	free(w);
}

/* Every key under @prefix with its mod index, all pages. */
static int list_waiters(struct kvc *h, const char *prefix,
			struct kvc_lock_waiter **out, size_t *n)
{
	struct kvc_lock_waiter *w = NULL;
	size_t cnt = 0, cap = 0;
	char *after = NULL;
	int rc;
	for (;;) {
		struct kvc_kv *kvs;
		size_t got;
		bool more;
		rc = kvc_list(h, prefix, after, 1000, &kvs, &got, &more);
		if (rc < 0)
			break;
		if (cnt + got > cap) {
			size_t ncap = (cnt + got) * 2;
			struct kvc_lock_waiter *nw =
			    realloc(w, ncap * sizeof(*w));
			if (!nw) {
				kvc_kvs_free(kvs, got);
				rc = KVC_ENOMEM;
				break;
			}
			w = nw;
			cap = ncap;
		}
		for (size_t i = 0; i < got; i++) {
			w[cnt].key = kvs[i].key; /* taken from kvs */
			w[cnt].index = kvs[i].index;
			kvs[i].key = NULL;
			cnt++;
		}
		free(after);
		after = got ? strdup(w[cnt - 1].key) : NULL;
		kvc_kvs_free(kvs, got);
		if (!more || got == 0)
			break;
		if (!after) {
			rc = KVC_ENOMEM;
			break;
		}
	}
	free(after);
	if (rc < 0) {
		waiters_free(w, cnt);
		return rc;
	}
	*out = w;
	*n = cnt;
	return 0;
}

/* Waits up to @wait_ms for @key to change after mod index @index (a
 * blocking read, §1.5). 0 when it changed or the wait ended, KVC_ENOTFOUND
 * when it is gone, else the error. */
static int wait_change(struct kvc *h, const char *key, uint64_t index,
		       uint64_t wait_ms)
{
	char q[80];
	snprintf(q, sizeof(q), "?wait_index=%" PRIu64 "&wait=%" PRIu64 "ms",
		 index, wait_ms);
	char *path = kvc_http_kv_path(key, q);
	if (!path)
		return KVC_ENOMEM;
	struct call c = {
	    .method = EVHTTP_REQ_GET, .path = path, .to_leader = true};
	int rc = kvc_http_call_status(h, &c);
	free(path);
	return rc;
}

/* Errors a waiter outlasts: members down, no leader, a member failing. */
static bool transient(int rc)
{
	return rc == KVC_EUNAVAILABLE || rc == KVC_ETIMEOUT ||
	       rc == KVC_ESERVER;
}

static void pause_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Deletes a waiter's @key, keeping the handle's message of the error
 * that made it leave. */
static void leave_queue(struct kvc *h, const char *key)
{
	char msg[KVC_ERRMSG];
	snprintf(msg, sizeof(msg), "%s", h->errmsg);
	kvc_delete(h, key, NULL, NULL);
	snprintf(h->errmsg, sizeof(h->errmsg), "%s", msg);
}

int kvc_lock(struct kvc *h, const char *name, uint64_t lease, int timeout_ms,
	     struct kvc_lock **out)
{
	if (!h || !name || !*name || strlen(name) > LOCK_NAME_MAX ||
	    lease == 0 || !out)
		return KVC_EINVAL;
	*out = NULL;
	uint64_t start = clock_now_ms();
	bool limited = timeout_ms >= 0;
	uint64_t deadline = start + (limited ? (uint64_t)timeout_ms : 0);
	size_t nl = strlen(name);
	struct kvc_lock *l = calloc(1, sizeof(*l));
	char *prefix = malloc(nl + 2);
	if (l)
		l->key = malloc(nl + 18);
	if (!l || !prefix || !l->key) {
		free(prefix);
		if (l)
			free(l->key);
		free(l);
		return KVC_ENOMEM;
	}
	l->h = h;
	snprintf(prefix, nl + 2, "%s/", name);
	snprintf(l->key, nl + 18, "%s/%016" PRIx64, name, lease);

	/* Created only if absent, so that its mod index is the index it
	 * was created at: its place in the queue. One that exists already
	 * is this lease's from an earlier call: keep its place. */
	uint64_t idx = 0;
	int rc = kvc_cas_put_lease(h, l->key, "", 0, 0, lease, &idx);
	if (rc == KVC_ECAS)
		rc = 0;
	if (rc < 0)
		goto fail_nokey;
	l->index = idx;

	for (;;) {
		struct kvc_lock_waiter *w = NULL;
		size_t n = 0;
		rc = list_waiters(h, prefix, &w, &n);
		if (rc < 0 && !transient(rc))
			goto fail;
		const struct kvc_lock_waiter *mine = NULL, *pred = NULL;
		for (size_t i = 0; rc == 0 && i < n; i++)
			if (strcmp(w[i].key, l->key) == 0)
				mine = &w[i];
		if (rc == 0 && !mine) {
			/* The lease ended (its keys go with it), or someone
			 * deleted the key: either way our place is lost. */
			waiters_free(w, n);
			kvc_http_set_errmsg(h,
					    "the lock's key %s is gone "
					    "(did the lease end?)",
					    l->key);
			rc = KVC_ENOTFOUND;
			goto fail_nokey;
		}
		if (rc == 0) {
			l->index = mine->index;
			pred = kvc_lock_predecessor(w, n, mine);
			if (!pred) {
				waiters_free(w, n);
				free(prefix);
				*out = l;
				return 0;
			}
		}
		char *pkey = pred ? strdup(pred->key) : NULL;
		uint64_t pidx = pred ? pred->index : 0;
		waiters_free(w, n);
		if (pred && !pkey) {
			rc = KVC_ENOMEM;
			goto fail;
		}
		uint64_t now = clock_now_ms();
		if (limited && now >= deadline) {
			free(pkey);
			kvc_http_set_errmsg(h,
					    "lock %s not acquired within "
					    "%d ms",
					    name, timeout_ms);
			rc = KVC_ETIMEOUT;
			goto fail;
		}
		/* The wait must end before the attempt's timeout, or the
		 * quiet answer would count as a failed member. */
		uint64_t req = (uint64_t)h->opts.request_timeout_ms;
		uint64_t wait = req > 1000 ? req - 500 : req / 2;
		if (limited && wait > deadline - now)
			wait = deadline - now;
		if (wait < 1)
			wait = 1;
		if (pkey) {
			/* Only the immediate predecessor: its release
			 * wakes us alone (no thundering herd). Changed,
			 * gone or quiet: list again. */
			rc = wait_change(h, pkey, pidx, wait);
			free(pkey);
			if (rc == KVC_ENOTFOUND)
				rc = 0;
			if (rc < 0 && !transient(rc))
				goto fail;
		}
		/* A failed list or wait (members down, no leader): the
		 * place in the queue is kept; try again until the
		 * deadline. */
		if (rc < 0)
			pause_ms(LOCK_RETRY_PAUSE_MS);
	}
fail:
	/* Leave the queue: a waiter key left behind would hold up every
	 * later waiter until the lease ends. Keep the error's message. */
	leave_queue(h, l->key);
fail_nokey:
	free(prefix);
	free(l->key);
	free(l);
	return rc;
}

const char *kvc_lock_key(const struct kvc_lock *l)
{
	return l ? l->key : "";
}

uint64_t kvc_lock_index(const struct kvc_lock *l)
{
	return l ? l->index : 0;
}

int kvc_unlock(struct kvc_lock *l)
{
	if (!l)
		return 0;
	int rc = kvc_delete(l->h, l->key, NULL, NULL);
	free(l->key);
	free(l);
	return rc;
}
