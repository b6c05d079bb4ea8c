/* test_libkvc_coord.c - Check tests of libkvc's leases, transactions,
 * prefix deletes and locks against a running member or cluster
 * (KVC_ENDPOINTS, started by test_coord.py). */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvc.h"

static const char *endpoints;
static struct kvc *h;
static char prefix[64]; /* per run, so reruns on one cluster don't clash */

static struct kvc *open_handle(void)
{
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 30000;
	struct kvc *x;
	ck_assert_int_eq(kvc_open(endpoints, &o, &x), 0);
	return x;
}

static void setup(void)
{
	h = open_handle();
}

static void teardown(void)
{
	kvc_close(h);
	h = NULL;
}

static void key(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", prefix, name);
}

/* Reads @k: 1 with its value in @buf (NUL-terminated), 0 when absent. */
static int read_key(const char *k, char *buf, size_t n)
{
	void *v;
	size_t len;
	int rc = kvc_get(h, k, 0, &v, &len, NULL);
	if (rc == KVC_ENOTFOUND)
		return 0;
	ck_assert_int_eq(rc, 0);
	snprintf(buf, n, "%.*s", (int)len, (char *)v);
	free(v);
	return 1;
}

START_TEST(test_txn_both_branches)
{
	char a[128], b[128], p[128], c[128];
	key(a, sizeof(a), "txn/a");
	key(b, sizeof(b), "txn/b");
	key(c, sizeof(c), "txn/c");
	key(p, sizeof(p), "txn/");
	uint64_t ia;
	ck_assert_int_eq(kvc_put(h, a, "1", 1, &ia), 0);
	ck_assert_int_eq(kvc_put(h, b, "x", 1, NULL), 0);

	/* Every compare holds: the success branch, every kind of op. */
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	kvc_txn_cmp_mod(t, a, KVC_CMP_EQ, ia);
	kvc_txn_cmp_value(t, a, KVC_CMP_EQ, "1", 1);
	kvc_txn_cmp_value(t, b, KVC_CMP_GT, "w", 1);
	kvc_txn_cmp_exists(t, c, false);
	kvc_txn_put(t, KVC_TXN_SUCCESS, a, "2", 1, 0);
	kvc_txn_get(t, KVC_TXN_SUCCESS, a); /* sees the put before it */
	kvc_txn_del(t, KVC_TXN_SUCCESS, b);
	kvc_txn_get(t, KVC_TXN_SUCCESS, c);
	kvc_txn_list(t, KVC_TXN_SUCCESS, p, 10);
	kvc_txn_get(t, KVC_TXN_FAILURE, a);
	struct kvc_txn_result *r;
	ck_assert_int_eq(kvc_txn_commit(h, t, &r), 0);
	ck_assert(r->succeeded);
	ck_assert_uint_gt(r->index, ia);
	ck_assert_uint_eq(r->n_results, 5);
	ck_assert_int_eq(r->results[0].type, KVC_TXN_OP_PUT);
	ck_assert_uint_eq(r->results[0].index, r->index);
	ck_assert(r->results[1].found);
	ck_assert_str_eq(r->results[1].value, "2");
	ck_assert_uint_eq(r->results[1].index, r->index);
	ck_assert(r->results[2].deleted);
	ck_assert(!r->results[3].found);
	ck_assert_uint_eq(r->results[4].n_kvs, 1); /* a alone: b deleted */
	ck_assert_str_eq(r->results[4].kvs[0].key, a);
	uint64_t first = r->index;
	kvc_txn_result_free(r);

	/* The same compares fail now: the failure branch, nothing else. */
	ck_assert_int_eq(kvc_txn_commit(h, t, &r), 0);
	ck_assert(!r->succeeded);
	ck_assert_uint_eq(r->n_results, 1);
	ck_assert(r->results[0].found);
	ck_assert_str_eq(r->results[0].value, "2");
	ck_assert_uint_eq(r->results[0].index, first);
	kvc_txn_result_free(r);
	kvc_txn_free(t);
	char v[16];
	ck_assert_int_eq(read_key(b, v, sizeof(v)), 0);

	/* A builder error is returned by the commit, nothing is sent. */
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	ck_assert_int_eq(kvc_txn_get(t, 7, a), KVC_EINVAL);
	kvc_txn_put(t, KVC_TXN_SUCCESS, a, "3", 1, 0);
	ck_assert_int_eq(kvc_txn_commit(h, t, &r), KVC_EINVAL);
	kvc_txn_free(t);
	ck_assert_int_eq(read_key(a, v, sizeof(v)), 1);
	ck_assert_str_eq(v, "2");
}
END_TEST

START_TEST(test_txn_json)
{
	char a[128], body[512];
	key(a, sizeof(a), "json/a");
	snprintf(body, sizeof(body),
		 "{\"compare\":[{\"key\":\"%s\",\"target\":\"exists\","
		 "\"op\":\"==\",\"value\":false}],\"success\":[{\"put\":"
		 "{\"key\":\"%s\",\"value\":\"aGk=\"}}],\"failure\":[]}",
		 a, a);
	char *res = NULL;
	bool ok = false;
	ck_assert_int_eq(kvc_txn_json(h, body, strlen(body), &res, &ok), 0);
	ck_assert(ok);
	ck_assert_ptr_nonnull(strstr(res, "\"succeeded\":true"));
	free(res);
	ck_assert_int_eq(kvc_txn_json(h, body, strlen(body), NULL, &ok), 0);
	ck_assert(!ok);
	ck_assert_int_eq(kvc_txn_json(h, "{\"compare\":3}", 13, NULL, &ok),
			 KVC_EBADREQ);
}
END_TEST

START_TEST(test_del_prefix)
{
	char k[160], p[128], other[128];
	key(p, sizeof(p), "dp/");
	key(other, sizeof(other), "dq");
	for (int i = 0; i < 5; i++) {
		snprintf(k, sizeof(k), "%s%d", p, i);
		ck_assert_int_eq(kvc_put(h, k, "v", 1, NULL), 0);
	}
	ck_assert_int_eq(kvc_put(h, other, "v", 1, NULL), 0);
	uint64_t deleted = 0, index = 0;
	ck_assert_int_eq(kvc_del_prefix(h, p, &deleted, &index), 0);
	ck_assert_uint_eq(deleted, 5);
	ck_assert_uint_gt(index, 0);
	ck_assert_int_eq(kvc_del_prefix(h, p, &deleted, NULL), 0);
	ck_assert_uint_eq(deleted, 0);
	char v[16];
	ck_assert_int_eq(read_key(other, v, sizeof(v)), 1);
	ck_assert_int_eq(kvc_del_prefix(h, NULL, NULL, NULL), KVC_EINVAL);
}
END_TEST

START_TEST(test_lease_lifecycle)
{
	char a[128], b[128];
	key(a, sizeof(a), "lease/a");
	key(b, sizeof(b), "lease/b");
	uint64_t id = 0;
	ck_assert_int_eq(kvc_lease_grant(h, 30, &id), 0);
	ck_assert_uint_gt(id, 0);
	ck_assert_int_eq(kvc_put_lease(h, a, "1", 1, id, NULL), 0);
	ck_assert_int_eq(kvc_cas_put_lease(h, b, "2", 1, 0, id, NULL), 0);
	ck_assert_int_eq(kvc_cas_put_lease(h, b, "2", 1, 0, id, NULL),
			 KVC_ECAS);
	uint64_t ttl = 0;
	ck_assert_int_eq(kvc_lease_keepalive(h, id, &ttl), 0);
	ck_assert_uint_eq(ttl, 30);

	struct kvc_lease *l;
	ck_assert_int_eq(kvc_lease_info(h, id, &l), 0);
	ck_assert_uint_eq(l->id, id);
	ck_assert_uint_eq(l->ttl, 30);
	ck_assert_uint_le(l->remaining_ms, 30000);
	ck_assert_uint_eq(l->n_keys, 2);
	ck_assert_str_eq(l->keys[0], a);
	ck_assert_str_eq(l->keys[1], b);
	kvc_leases_free(l, 1);

	struct kvc_lease *ls;
	size_t n;
	ck_assert_int_eq(kvc_lease_list(h, &ls, &n), 0);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		if (ls[i].id == id) {
			seen = true;
			ck_assert_ptr_null(ls[i].keys);
		}
	ck_assert(seen);
	kvc_leases_free(ls, n);

	uint64_t deleted = 0;
	ck_assert_int_eq(kvc_lease_revoke(h, id, &deleted), 0);
	ck_assert_uint_eq(deleted, 2);
	char v[16];
	ck_assert_int_eq(read_key(a, v, sizeof(v)), 0);
	ck_assert_int_eq(read_key(b, v, sizeof(v)), 0);
	ck_assert_int_eq(kvc_lease_keepalive(h, id, &ttl), KVC_ENOTFOUND);
	ck_assert_int_eq(kvc_lease_revoke(h, id, NULL), KVC_ENOTFOUND);
	ck_assert_int_eq(kvc_lease_info(h, id, &l), KVC_ENOTFOUND);
	ck_assert_int_eq(kvc_put_lease(h, a, "1", 1, id, NULL), KVC_ENOTFOUND);
	ck_assert_int_eq(kvc_put_lease(h, a, "1", 1, 0, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_lease_grant(h, 0, &id), KVC_EINVAL);
	ck_assert_int_eq(kvc_lease_grant(h, 86401, &id), KVC_EINVAL);
}
END_TEST

/* A second handle's kvc_lock() in a thread. */
struct waiter {
	const char *name;
	uint64_t lease;
	int timeout_ms;
	int rc;
	struct kvc_lock *lock;
	struct kvc *h;
};

static void *wait_lock(void *arg)
{
	struct waiter *w = arg;
	w->rc = kvc_lock(w->h, w->name, w->lease, w->timeout_ms, &w->lock);
	return NULL;
}

START_TEST(test_lock_unlock)
{
	char name[128];
	key(name, sizeof(name), "lock");
	uint64_t l1, l2;
	ck_assert_int_eq(kvc_lease_grant(h, 60, &l1), 0);
	ck_assert_int_eq(kvc_lease_grant(h, 60, &l2), 0);
	struct kvc_lock *lk;
	ck_assert_int_eq(kvc_lock(h, name, l1, 10000, &lk), 0);
	char want[160];
	snprintf(want, sizeof(want), "%s/%016" PRIx64, name, l1);
	ck_assert_str_eq(kvc_lock_key(lk), want);
	uint64_t first = kvc_lock_index(lk);
	ck_assert_uint_gt(first, 0);

	/* Held: a second lease times out, and leaves no waiter key. */
	struct kvc *h2 = open_handle();
	struct kvc_lock *lk2;
	ck_assert_int_eq(kvc_lock(h2, name, l2, 300, &lk2), KVC_ETIMEOUT);
	struct kvc_kv *kvs;
	size_t n;
	bool more;
	char pfx[160];
	snprintf(pfx, sizeof(pfx), "%s/", name);
	ck_assert_int_eq(kvc_list(h, pfx, NULL, 0, &kvs, &n, &more), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(kvs[0].key, want);
	kvc_kvs_free(kvs, n);

	/* A waiter without a limit gets it once the holder unlocks. */
	struct waiter w = {
	    .name = name, .lease = l2, .timeout_ms = -1, .h = h2};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, wait_lock, &w), 0);
	/* Wait until its key is queued (two keys), then unlock. */
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(kvc_list(h, pfx, NULL, 0, &kvs, &n, &more), 0);
		kvc_kvs_free(kvs, n);
		if (n == 2)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(kvc_unlock(lk), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.rc, 0);
	ck_assert_uint_gt(kvc_lock_index(w.lock), first);

	/* The same lease locking again keeps its key and place. */
	struct kvc_lock *again;
	ck_assert_int_eq(kvc_lock(h2, name, l2, 1000, &again), 0);
	ck_assert_uint_eq(kvc_lock_index(again), kvc_lock_index(w.lock));
	kvc_unlock(again);
	kvc_unlock(w.lock); /* already gone: deleted is false, rc 0 */

	/* An unknown lease, bad arguments. */
	ck_assert_int_eq(kvc_lease_revoke(h, l1, NULL), 0);
	ck_assert_int_eq(kvc_lock(h, name, l1, 1000, &lk), KVC_ENOTFOUND);
	ck_assert_int_eq(kvc_lock(h, "", l2, 1000, &lk), KVC_EINVAL);
	ck_assert_int_eq(kvc_lock(h, name, 0, 1000, &lk), KVC_EINVAL);
	ck_assert_int_eq(kvc_unlock(NULL), 0);
	kvc_lease_revoke(h, l2, NULL);
	kvc_close(h2);
}
END_TEST

START_TEST(test_lock_gone_with_lease)
{
	/* A holder whose lease is revoked loses its key; the waiter behind
	 * it gets the lock without any unlock. */
	char name[128];
	key(name, sizeof(name), "lock2");
	uint64_t l1, l2;
	ck_assert_int_eq(kvc_lease_grant(h, 60, &l1), 0);
	ck_assert_int_eq(kvc_lease_grant(h, 60, &l2), 0);
	struct kvc_lock *lk;
	ck_assert_int_eq(kvc_lock(h, name, l1, 10000, &lk), 0);
	struct kvc *h2 = open_handle();
	struct waiter w = {
	    .name = name, .lease = l2, .timeout_ms = 60000, .h = h2};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, wait_lock, &w), 0);
	char pfx[160];
	snprintf(pfx, sizeof(pfx), "%s/", name);
	size_t n = 0;
	for (int i = 0; i < 3000 && n != 2; i++) {
		struct kvc_kv *kvs;
		bool more;
		ck_assert_int_eq(kvc_list(h, pfx, NULL, 0, &kvs, &n, &more), 0);
		kvc_kvs_free(kvs, n);
		if (n != 2)
			usleep(10000);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(kvc_lease_revoke(h, l1, NULL), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.rc, 0);
	kvc_unlock(w.lock);
	kvc_unlock(lk); /* its key went with the lease */
	kvc_lease_revoke(h, l2, NULL);
	kvc_close(h2);
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_ENDPOINTS");
	if (!endpoints || !*endpoints) {
		fprintf(stderr, "test_libkvc_coord: set KVC_ENDPOINTS\n");
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "coord-%ld-%d", (long)time(NULL),
		 (int)getpid());
	Suite *s = suite_create("libkvc-coord");
	TCase *t = tcase_create("coord");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_txn_both_branches);
	tcase_add_test(t, test_txn_json);
	tcase_add_test(t, test_del_prefix);
	tcase_add_test(t, test_lease_lifecycle);
	tcase_add_test(t, test_lock_unlock);
	tcase_add_test(t, test_lock_gone_with_lease);
	tcase_set_timeout(t, 300);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
