/* test_apply.c - ops 3..7 on the LMDB store: prefix deletes, leases
 * (grant, attach, detach, revoke, expire), transactions (every compare,
 * results, atomic failure), their events at one index, exactly-once
 * replay of every new result, determinism across batch splits, and
 * leases across reopen and snapshot/restore. */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "kv.h"
#include "test_kv.h"

#define S(x) ((const uint8_t *)(x))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

struct store {
	char dir[64];
	struct kv *kv;
};

static void store_open(struct store *s)
{
	char err[256] = "";
	int rv;

	if (s->dir[0] == 0) {
		strcpy(s->dir, "/tmp/kv-apply.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(s->dir));
	}
	rv = kv_open(s->dir, NULL, &s->kv, err, sizeof(err));
	ck_assert_msg(rv == 0, "kv_open: %s (%s)", kv_strerror(rv), err);
}

static void store_close(struct store *s, int remove)
{
	char p[128];

	kv_close(s->kv);
	s->kv = NULL;
	if (!remove)
		return;
	snprintf(p, sizeof(p), "%s/kv/data.mdb", s->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv/lock.mdb", s->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv", s->dir);
	rmdir(p);
	ck_assert_int_eq(rmdir(s->dir), 0);
}

static struct raft_entry entry(raft_index idx, const struct kv_cmd *c)
{
	struct raft_entry e = {
	    .term = 1, .index = idx, .type = RAFT_ENTRY_NORMAL};
	size_t len;

	ck_assert_int_eq(kv_cmd_encode_alloc(c, &e.data, &len), 0);
	e.len = (uint32_t)len;
	return e;
}

static struct kv_cmd put_cmd(const char *key, const char *val, uint64_t lease)
{
	return (struct kv_cmd){.op = KV_OP_PUT,
			       .key = S(key),
			       .key_len = strlen(key),
			       .value = S(val),
			       .value_len = strlen(val),
			       .lease = lease};
}

static struct kv_cmd del_cmd(const char *key)
{
	return (struct kv_cmd){
	    .op = KV_OP_DELETE, .key = S(key), .key_len = strlen(key)};
}

static struct kv_cmd prefix_cmd(const char *prefix)
{
	return (struct kv_cmd){.op = KV_OP_DELETE_PREFIX,
			       .key = S(prefix),
			       .key_len = strlen(prefix)};
}

/* A lease op; @buf (8 * n bytes) holds the operands. */
static struct kv_cmd lease_cmd(uint8_t op, uint8_t *buf, const uint64_t *v,
			       size_t n)
{
	for (size_t i = 0; i < n; i++)
		le_put_u64(buf + 8 * i, v[i]);
	return (struct kv_cmd){.op = op, .value = buf, .value_len = 8 * n};
}

/* A TXN command whose body (malloc'd into *@body) encodes @t. */
static struct kv_cmd txn_cmd(const struct kv_txn *t, uint8_t **body)
{
	size_t n = kv_txn_size(t);

	*body = malloc(n);
	ck_assert_ptr_nonnull(*body);
	ck_assert_int_eq(kv_txn_encode(t, *body, n), (int64_t)n);
	return (struct kv_cmd){.op = KV_OP_TXN, .value = *body, .value_len = n};
}

/* Applies @c as the entry at the store's applied index + 1. */
static struct kv_result apply(struct kv *kv, const struct kv_cmd *c)
{
	struct raft_entry e = entry(kv_applied_index(kv) + 1, c);
	struct kv_result r;
	char err[256] = "";
	int rv = kv_apply(kv, &e, 1, &r, err, sizeof(err));

	free(e.data);
	ck_assert_msg(rv == 0, "kv_apply: %s (%s)", kv_strerror(rv), err);
	ck_assert_uint_eq(r.entry_index, e.index);
	return r;
}

static uint64_t grant(struct kv *kv, uint64_t ttl)
{
	uint8_t b[8];
	struct kv_cmd c = lease_cmd(KV_OP_LEASE_GRANT, b, &ttl, 1);
	struct kv_result r = apply(kv, &c);

	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.op, KV_OP_LEASE_GRANT);
	ck_assert_uint_eq(r.lease_id, r.entry_index);
	ck_assert_uint_eq(r.lease_ttl, ttl);
	return r.lease_id;
}

static void put(struct kv *kv, const char *key, const char *val, uint64_t lease)
{
	struct kv_cmd c = put_cmd(key, val, lease);

	ck_assert_uint_eq(apply(kv, &c).status, KV_APPLIED);
}

static int has(struct kv *kv, const char *key)
{
	int rv = kv_get(kv, S(key), strlen(key), NULL, NULL, NULL);

	ck_assert(rv == 0 || rv == KV_ENOTFOUND);
	return rv == 0;
}

static uint64_t lease_of(struct kv *kv, const char *key)
{
	uint64_t l = 99;

	ck_assert_int_eq(kv_key_lease(kv, S(key), strlen(key), &l), 0);
	return l;
}

static uint64_t lease_keys(struct kv *kv, uint64_t id)
{
	struct kv_lease l;

	ck_assert_int_eq(kv_lease_get(kv, id, &l), 0);
	ck_assert_uint_eq(l.id, id);
	return l.keys;
}

static void check_store(struct kv *kv)
{
	char err[256] = "";

	ck_assert_msg(kv_check(kv, 0, err, sizeof(err)) == 0, "%s", err);
}

/* The events of one index, as "d:key" / "p:key=value" joined by ' '. */
struct evs {
	raft_index index;
	char text[1024];
	int n;
};

static int ev_cb(void *arg, const struct kv_event *ev)
{
	struct evs *e = arg;
	size_t at = strlen(e->text);

	if (ev->index != e->index)
		return 0;
	snprintf(e->text + at, sizeof(e->text) - at, "%s%c:%.*s", at ? " " : "",
		 ev->type == KV_EVENT_PUT ? 'p' : 'd', (int)ev->key_len,
		 (const char *)ev->key);
	if (ev->type == KV_EVENT_PUT) {
		at = strlen(e->text);
		snprintf(e->text + at, sizeof(e->text) - at, "=%.*s",
			 (int)ev->value_len, (const char *)ev->value);
	}
	e->n++;
	return 0;
}

static const char *events_at(struct kv *kv, raft_index index, struct evs *out)
{
	raft_index next;

	memset(out, 0, sizeof(*out));
	out->index = index;
	ck_assert_int_eq(
	    kv_events_read(kv, index, S(""), 0, 0, 100000, ev_cb, out, &next),
	    0);
	return out->text;
}

/* The results blob as text: one token per item. */
static void results_text(const uint8_t *blob, size_t len, char *out, size_t cap)
{
	struct kv_txn_reader rd;
	struct kv_txn_item it;
	int rv;

	out[0] = 0;
	kv_txn_result_begin(&rd, blob, len);
	while ((rv = kv_txn_result_next(&rd, &it)) == 1) {
		size_t at = strlen(out);
		snprintf(out + at, cap - at, "%s%u/%u/%llu/%llu/%.*s/%.*s",
			 at ? " " : "", it.type, it.flag,
			 (unsigned long long)it.index,
			 (unsigned long long)it.count, (int)it.key_len,
			 it.key ? (const char *)it.key : "", (int)it.value_len,
			 it.value ? (const char *)it.value : "");
	}
	ck_assert_int_eq(rv, 0);
}

static uint64_t digest(struct kv *kv)
{
	uint64_t d;

	ck_assert_int_eq(kv_digest(kv, &d), 0);
	return d;
}

static struct kv_txn *new_txn(void)
{
	struct kv_txn *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	return t;
}

static void add_cmp(struct kv_txn *t, uint8_t target, uint8_t op,
		    const char *key, const char *value, uint64_t number)
{
	t->compares[t->n_compares++] =
	    (struct kv_compare){.target = target,
				.op = op,
				.key = S(key),
				.key_len = strlen(key),
				.value = value ? S(value) : NULL,
				.value_len = value ? strlen(value) : 0,
				.number = number};
}

static void add_op(struct kv_txn *t, int branch, uint8_t type, const char *key,
		   const char *value, uint64_t lease, uint32_t limit)
{
	t->ops[branch][t->n_ops[branch]++] =
	    (struct kv_txn_op){.type = type,
			       .key = key ? S(key) : NULL,
			       .key_len = key ? strlen(key) : 0,
			       .value = value ? S(value) : NULL,
			       .value_len = value ? strlen(value) : 0,
			       .lease = lease,
			       .limit = limit};
}

/* Applies @t; returns the result, with its blob as text in @text. */
static struct kv_result apply_txn(struct kv *kv, const struct kv_txn *t,
				  char *text, size_t cap)
{
	uint8_t *body;
	struct kv_cmd c = txn_cmd(t, &body);
	struct kv_result r = apply(kv, &c);

	free(body);
	ck_assert_uint_eq(r.op, KV_OP_TXN);
	if (text != NULL)
		results_text(r.txn, r.txn_len, text, cap);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Prefix deletes                                                           */

START_TEST(test_delete_prefix)
{
	struct store s = {0};
	struct kv_result r;
	struct kv_cmd c;
	struct evs ev;
	uint64_t l;

	store_open(&s);
	l = grant(s.kv, 60);
	put(s.kv, "a", "0", 0);
	put(s.kv, "a/2", "2", l);
	put(s.kv, "a/1", "1", 0);
	put(s.kv, "a/3", "3", l);
	put(s.kv, "b", "4", 0);
	ck_assert_uint_eq(lease_keys(s.kv, l), 2);
	c = prefix_cmd("a/");
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.op, KV_OP_DELETE_PREFIX);
	ck_assert_uint_eq(r.count, 3);
	ck_assert_uint_eq(r.index, r.entry_index);
	/* One index, n = 0, 1, 2 in key order. */
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "d:a/1 d:a/2 d:a/3");
	ck_assert(has(s.kv, "a") && has(s.kv, "b") && !has(s.kv, "a/1"));
	/* Their lease attachments went with them. */
	ck_assert_uint_eq(lease_keys(s.kv, l), 0);
	/* Nothing under the prefix: no change, no event. */
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.count, 0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "");
	/* The empty prefix: every key. */
	c = prefix_cmd("");
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_int_eq(kv_count(s.kv), 0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "d:a d:b");
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Leases                                                                   */

START_TEST(test_lease_attach_move_detach)
{
	struct store s = {0};
	struct kv_result r;
	struct kv_cmd c;
	struct evs ev;
	uint64_t l1, l2, d0;
	char *v;

	store_open(&s);
	ck_assert_int_eq(kv_lease_count(s.kv), 0);
	l1 = grant(s.kv, 10);
	l2 = grant(s.kv, KV_LEASE_TTL_MAX);
	ck_assert_int_eq(kv_lease_count(s.kv), 2);
	put(s.kv, "k", "v1", l1);
	ck_assert_uint_eq(lease_of(s.kv, "k"), l1);
	ck_assert_uint_eq(lease_keys(s.kv, l1), 1);
	/* A PUT to another lease moves the key. */
	put(s.kv, "k", "v2", l2);
	ck_assert_uint_eq(lease_of(s.kv, "k"), l2);
	ck_assert_uint_eq(lease_keys(s.kv, l1), 0);
	ck_assert_uint_eq(lease_keys(s.kv, l2), 1);
	/* A PUT without a lease detaches it. */
	put(s.kv, "k", "v3", 0);
	ck_assert_uint_eq(lease_of(s.kv, "k"), 0);
	ck_assert_uint_eq(lease_keys(s.kv, l2), 0);
	/* So does a DELETE. */
	put(s.kv, "k", "v4", l2);
	c = del_cmd("k");
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.deleted, 1);
	ck_assert_uint_eq(lease_keys(s.kv, l2), 0);
	uint64_t tmp;
	ck_assert_int_eq(kv_key_lease(s.kv, S("k"), 1, &tmp), KV_ENOTFOUND);
	ck_assert_int_eq(kv_key_lease(s.kv, S("k\n"), 2, &tmp), KV_EINVAL);
	/* A PUT to a lease that does not exist: no effect, no event. */
	put(s.kv, "k", "kept", 0);
	d0 = digest(s.kv);
	c = put_cmd("k", "lost", 12345);
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_LEASE_NOT_FOUND);
	ck_assert_uint_eq(r.index, r.entry_index);
	ck_assert_uint_eq(digest(s.kv), d0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "");
	ck_assert_int_eq(kv_get(s.kv, S("k"), 1, (uint8_t **)&v, NULL, NULL),
			 0);
	ck_assert_mem_eq(v, "kept", 4);
	free(v);
	/* CAS is checked before the lease. */
	c.has_cas = 1;
	c.cas = 1;
	ck_assert_uint_eq(apply(s.kv, &c).status, KV_CAS_FAILED);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

static int collect_lease(void *arg, const struct kv_lease *l)
{
	char *out = arg;
	size_t at = strlen(out);

	snprintf(out + at, 256 - at, "%s%llu:%llu:%llu", at ? " " : "",
		 (unsigned long long)l->id, (unsigned long long)l->ttl,
		 (unsigned long long)l->keys);
	return 0;
}

static int collect_key(void *arg, const uint8_t *key, size_t len)
{
	char *out = arg;
	size_t at = strlen(out);

	snprintf(out + at, 256 - at, "%s%.*s", at ? " " : "", (int)len,
		 (const char *)key);
	return 0;
}

static int stop_cb(void *arg, const struct kv_lease *l)
{
	(void)arg;
	(void)l;
	return 1;
}

START_TEST(test_lease_reads)
{
	struct store s = {0};
	char out[256] = "", want[256];
	struct kv_lease l;
	int more;

	store_open(&s);
	uint64_t a = grant(s.kv, 5), b = grant(s.kv, 6), c = grant(s.kv, 7);
	put(s.kv, "x/2", "", b);
	put(s.kv, "x/1", "", b);
	put(s.kv, "y", "", c);
	ck_assert_int_eq(kv_lease_list(s.kv, 0, 2, collect_lease, out, &more),
			 2);
	ck_assert_int_eq(more, 1);
	snprintf(want, sizeof(want), "%llu:5:0 %llu:6:2", (unsigned long long)a,
		 (unsigned long long)b);
	ck_assert_str_eq(out, want);
	out[0] = 0;
	ck_assert_int_eq(kv_lease_list(s.kv, b, 10, collect_lease, out, &more),
			 1);
	ck_assert_int_eq(more, 0);
	ck_assert_int_eq(kv_lease_list(s.kv, 0, 10, stop_cb, NULL, NULL),
			 KV_ESTOPPED);
	ck_assert_int_eq(
	    kv_lease_list(s.kv, UINT64_MAX, 10, collect_lease, out, NULL), 0);
	out[0] = 0;
	ck_assert_int_eq(kv_lease_keys(s.kv, b, 10, collect_key, out, &more),
			 2);
	ck_assert_str_eq(out, "x/1 x/2");
	out[0] = 0;
	ck_assert_int_eq(kv_lease_keys(s.kv, b, 1, collect_key, out, &more), 1);
	ck_assert_int_eq(more, 1);
	ck_assert_int_eq(kv_lease_keys(s.kv, 999, 10, collect_key, out, &more),
			 0);
	ck_assert_int_eq(kv_lease_get(s.kv, 999, &l), KV_ENOTFOUND);
	ck_assert_int_eq(kv_lease_get(s.kv, c, &l), 0);
	ck_assert_uint_eq(l.ttl, 7);
	ck_assert_uint_eq(l.keys, 1);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_lease_revoke)
{
	struct store s = {0};
	struct kv_result r;
	struct kv_cmd c;
	struct evs ev;
	uint8_t b[8];
	uint64_t l, other, id;

	store_open(&s);
	l = grant(s.kv, 30);
	other = grant(s.kv, 30);
	put(s.kv, "s/b", "2", l);
	put(s.kv, "s/a", "1", l);
	put(s.kv, "s/c", "3", other);
	put(s.kv, "t", "4", l);
	c = lease_cmd(KV_OP_LEASE_REVOKE, b, &l, 1);
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.op, KV_OP_LEASE_REVOKE);
	ck_assert_uint_eq(r.count, 3);
	ck_assert_uint_eq(r.lease_id, l);
	ck_assert_uint_eq(r.lease_ttl, 0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "d:s/a d:s/b d:t");
	ck_assert(!has(s.kv, "s/a") && !has(s.kv, "t") && has(s.kv, "s/c"));
	struct kv_lease tmp;
	ck_assert_int_eq(kv_lease_get(s.kv, l, &tmp), KV_ENOTFOUND);
	ck_assert_int_eq(kv_lease_count(s.kv), 1);
	/* Unknown (or already ended): KV_LEASE_NOT_FOUND, no effect. */
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_LEASE_NOT_FOUND);
	ck_assert_uint_eq(r.count, 0);
	id = 777;
	c = lease_cmd(KV_OP_LEASE_REVOKE, b, &id, 1);
	ck_assert_uint_eq(apply(s.kv, &c).status, KV_LEASE_NOT_FOUND);
	/* A lease with no keys ends too. */
	id = grant(s.kv, 1);
	c = lease_cmd(KV_OP_LEASE_REVOKE, b, &id, 1);
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.count, 0);
	/* A PUT to the ended lease fails. */
	c = put_cmd("s/a", "x", l);
	ck_assert_uint_eq(apply(s.kv, &c).status, KV_LEASE_NOT_FOUND);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_lease_expire)
{
	struct store s = {0};
	struct kv_result r;
	struct kv_cmd c;
	struct evs ev;
	uint8_t b[8 * 5];
	uint64_t ids[5];

	store_open(&s);
	ids[0] = grant(s.kv, 5);
	ids[1] = 424242; /* unknown */
	ids[2] = grant(s.kv, 5);
	ids[3] = ids[0];	 /* listed twice: ended once */
	ids[4] = grant(s.kv, 5); /* not listed below */
	put(s.kv, "e/1", "", ids[0]);
	put(s.kv, "e/2", "", ids[2]);
	put(s.kv, "e/0", "", ids[2]);
	put(s.kv, "keep", "", ids[4]);
	c = lease_cmd(KV_OP_LEASE_EXPIRE, b, ids, 4);
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.op, KV_OP_LEASE_EXPIRE);
	ck_assert_uint_eq(r.count, 3);
	/* All at one index, in the order the leases are listed. */
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "d:e/1 d:e/0 d:e/2");
	ck_assert_int_eq(kv_lease_count(s.kv), 1);
	ck_assert(has(s.kv, "keep"));
	/* Every id unknown: applied, nothing deleted. */
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.count, 0);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Transactions                                                             */

START_TEST(test_txn_compares)
{
	struct store s = {0};
	struct kv_txn *t = new_txn();
	raft_index mod;

	store_open(&s);
	put(s.kv, "k", "bcd", 0);
	mod = kv_applied_index(s.kv);
	static const struct {
		uint8_t target, op;
		const char *key, *value;
		int64_t number_off; /* MOD: mod + this; EXISTS: the number */
		int want;
	} cases[] = {
	    /* Mod index of a present key. */
	    {KV_CMP_MOD, KV_CMP_EQ, "k", NULL, 0, 1},
	    {KV_CMP_MOD, KV_CMP_EQ, "k", NULL, 1, 0},
	    {KV_CMP_MOD, KV_CMP_NE, "k", NULL, 1, 1},
	    {KV_CMP_MOD, KV_CMP_NE, "k", NULL, 0, 0},
	    {KV_CMP_MOD, KV_CMP_LT, "k", NULL, 1, 1},
	    {KV_CMP_MOD, KV_CMP_LT, "k", NULL, 0, 0},
	    {KV_CMP_MOD, KV_CMP_GT, "k", NULL, -1, 1},
	    {KV_CMP_MOD, KV_CMP_GT, "k", NULL, 0, 0},
	    /* An absent key's mod index is 0. */
	    {KV_CMP_MOD, KV_CMP_EQ, "none", NULL, -100, 1},
	    {KV_CMP_MOD, KV_CMP_LT, "none", NULL, 0, 1},
	    {KV_CMP_MOD, KV_CMP_GT, "none", NULL, -100, 0},
	    /* Values: bytes, then length. */
	    {KV_CMP_VALUE, KV_CMP_EQ, "k", "bcd", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_EQ, "k", "bc", 0, 0},
	    {KV_CMP_VALUE, KV_CMP_NE, "k", "bce", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_NE, "k", "bcd", 0, 0},
	    {KV_CMP_VALUE, KV_CMP_LT, "k", "bce", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_LT, "k", "bcda", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_LT, "k", "bc", 0, 0},
	    {KV_CMP_VALUE, KV_CMP_GT, "k", "bc", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_GT, "k", "", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_GT, "k", "c", 0, 0},
	    /* An absent key has no value: only != holds. */
	    {KV_CMP_VALUE, KV_CMP_EQ, "none", "", 0, 0},
	    {KV_CMP_VALUE, KV_CMP_NE, "none", "", 0, 1},
	    {KV_CMP_VALUE, KV_CMP_LT, "none", "z", 0, 0},
	    {KV_CMP_VALUE, KV_CMP_GT, "none", "", 0, 0},
	    /* Existence. */
	    {KV_CMP_EXISTS, KV_CMP_EQ, "k", NULL, 1, 1},
	    {KV_CMP_EXISTS, KV_CMP_EQ, "k", NULL, 0, 0},
	    {KV_CMP_EXISTS, KV_CMP_NE, "k", NULL, 0, 1},
	    {KV_CMP_EXISTS, KV_CMP_EQ, "none", NULL, 0, 1},
	    {KV_CMP_EXISTS, KV_CMP_NE, "none", NULL, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t number =
		    cases[i].target == KV_CMP_MOD
			? (cases[i].number_off <= -100
			       ? 0
			       : mod + (uint64_t)cases[i].number_off)
			: (uint64_t)cases[i].number_off;
		memset(t, 0, sizeof(*t));
		add_cmp(t, cases[i].target, cases[i].op, cases[i].key,
			cases[i].value, number);
		struct kv_result r = apply_txn(s.kv, t, NULL, 0);
		ck_assert_uint_eq(r.status, KV_APPLIED);
		ck_assert_msg(r.succeeded == cases[i].want, "case %zu", i);
	}
	/* All compares must hold; none is success. */
	memset(t, 0, sizeof(*t));
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).succeeded, 1);
	add_cmp(t, KV_CMP_EXISTS, KV_CMP_EQ, "k", NULL, 1);
	add_cmp(t, KV_CMP_EXISTS, KV_CMP_EQ, "none", NULL, 1);
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).succeeded, 0);
	/* Compares read the state before the transaction's own writes. */
	memset(t, 0, sizeof(*t));
	add_cmp(t, KV_CMP_EXISTS, KV_CMP_EQ, "new", NULL, 0);
	add_op(t, 0, KV_TXN_PUT, "new", "1", 0, 0);
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).succeeded, 1);
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).succeeded, 0);
	free(t);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_txn_ops_and_results)
{
	struct store s = {0};
	struct kv_txn *t = new_txn();
	struct kv_result r;
	struct evs ev;
	char text[2048], want[2048];
	uint64_t l, m1;

	store_open(&s);
	l = grant(s.kv, 60);
	put(s.kv, "d/1", "x", 0);
	put(s.kv, "d/2", "y", l);
	put(s.kv, "gone", "z", 0);
	m1 = kv_applied_index(s.kv);
	put(s.kv, "l/a", "A", 0);
	add_cmp(t, KV_CMP_VALUE, KV_CMP_EQ, "gone", "z", 0);
	add_op(t, 0, KV_TXN_GET, "k", NULL, 0, 0);	  /* absent */
	add_op(t, 0, KV_TXN_PUT, "k", "new", l, 0);	  /* attaches */
	add_op(t, 0, KV_TXN_GET, "k", NULL, 0, 0);	  /* sees it */
	add_op(t, 0, KV_TXN_DELETE, "gone", NULL, 0, 0);  /* existed */
	add_op(t, 0, KV_TXN_DELETE, "never", NULL, 0, 0); /* did not */
	add_op(t, 0, KV_TXN_DELETE_PREFIX, "d/", NULL, 0, 0);
	add_op(t, 0, KV_TXN_PUT, "l/b", "B", 0, 0);
	add_op(t, 0, KV_TXN_LIST, "l/", NULL, 0, 1);  /* more */
	add_op(t, 0, KV_TXN_LIST, "l/", NULL, 0, 10); /* sees l/b */
	add_op(t, 0, KV_TXN_LIST, "zz", NULL, 0, 10); /* empty */
	add_op(t, 1, KV_TXN_GET, "gone", NULL, 0, 0);
	r = apply_txn(s.kv, t, text, sizeof(text));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.succeeded, 1);
	ck_assert_uint_eq(r.index, r.entry_index);
	raft_index I = r.index;
	unsigned long long lm = (unsigned long long)m1 + 1;
	snprintf(want, sizeof(want),
		 "4/0/0/0/k/ 1/0/%llu/0// 4/1/%llu/0/k/new 2/1/0/0// "
		 "2/0/0/0// 3/0/0/2// 1/0/%llu/0// 5/1/0/1// 6/0/%llu/0/l/a/A "
		 "5/0/0/2// 6/0/%llu/0/l/a/A 6/0/%llu/0/l/b/B 5/0/0/0//",
		 (unsigned long long)I, (unsigned long long)I,
		 (unsigned long long)I, lm, lm, (unsigned long long)I);
	ck_assert_str_eq(text, want);
	/* One index, n counting up in the order of the ops. */
	ck_assert_str_eq(events_at(s.kv, I, &ev),
			 "p:k=new d:gone d:d/1 d:d/2 p:l/b=B");
	ck_assert_uint_eq(lease_of(s.kv, "k"), l);
	ck_assert_uint_eq(lease_keys(s.kv, l), 1); /* k; d/2 went */
	/* The failure branch, run because "gone" is gone. */
	r = apply_txn(s.kv, t, text, sizeof(text));
	ck_assert_uint_eq(r.succeeded, 0);
	ck_assert_str_eq(text, "4/0/0/0/gone/");
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "");
	/* A transaction with no ops in its branch has empty results. */
	memset(t, 0, sizeof(*t));
	r = apply_txn(s.kv, t, text, sizeof(text));
	ck_assert_uint_eq(r.txn_len, 0);
	ck_assert_str_eq(text, "");
	free(t);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

/* A transaction that fails leaves nothing: not its writes, events,
 * lease attachments or prefix deletes. */
START_TEST(test_txn_failure_is_atomic)
{
	struct store s = {0};
	struct kv_txn *t = new_txn();
	struct kv_result r;
	struct evs ev;
	uint64_t l, d0;
	char *big;

	store_open(&s);
	l = grant(s.kv, 60);
	put(s.kv, "a", "1", 0);
	put(s.kv, "p/x", "2", l);
	d0 = digest(s.kv);
	add_op(t, 0, KV_TXN_PUT, "a", "changed", l, 0);
	add_op(t, 0, KV_TXN_DELETE_PREFIX, "p/", NULL, 0, 0);
	add_op(t, 0, KV_TXN_PUT, "b", "new", 0, 0);
	add_op(t, 0, KV_TXN_PUT, "c", "new", 999, 0); /* no such lease */
	r = apply_txn(s.kv, t, NULL, 0);
	ck_assert_uint_eq(r.status, KV_LEASE_NOT_FOUND);
	ck_assert_uint_eq(r.txn_len, 0);
	ck_assert_ptr_null(r.txn);
	ck_assert_uint_eq(r.index, r.entry_index);
	ck_assert_uint_eq(digest(s.kv), d0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "");
	ck_assert_uint_eq(lease_of(s.kv, "a"), 0);
	ck_assert_uint_eq(lease_keys(s.kv, l), 1);
	ck_assert_uint_eq(kv_applied_index(s.kv), r.entry_index);

	/* Results over KV_TXN_RESULT_MAX: five values of 1 MiB, listed. */
	big = malloc(1024 * 1024 + 1);
	memset(big, 'v', 1024 * 1024);
	big[1024 * 1024] = 0;
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof(key), "big/%d", i);
		put(s.kv, key, big, 0);
	}
	d0 = digest(s.kv);
	memset(t, 0, sizeof(*t));
	add_op(t, 0, KV_TXN_PUT, "a", "changed", 0, 0);
	add_op(t, 0, KV_TXN_LIST, "big/", NULL, 0, 10);
	r = apply_txn(s.kv, t, NULL, 0);
	ck_assert_uint_eq(r.status, KV_TOO_LARGE);
	ck_assert_uint_eq(digest(s.kv), d0);
	ck_assert_str_eq(events_at(s.kv, r.index, &ev), "");
	/* Even four are over 4 MiB with their items' headers; three fit. */
	t->ops[0][1].limit = 4;
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).status, KV_TOO_LARGE);
	t->ops[0][1].limit = 3;
	r = apply_txn(s.kv, t, NULL, 0);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_gt(r.txn_len, 3u * 1024 * 1024);
	ck_assert_uint_le(r.txn_len, KV_TXN_RESULT_MAX);
	/* Gets count too. */
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 5; i++)
		add_op(t, 0, KV_TXN_GET, i % 2 ? "big/1" : "big/0", NULL, 0, 0);
	ck_assert_uint_eq(apply_txn(s.kv, t, NULL, 0).status, KV_TOO_LARGE);
	free(big);
	free(t);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_txn_bad_body_is_skipped)
{
	struct store s = {0};
	uint8_t body[8] = {1, 0, 0, 0, 0, 0, 0, 0}; /* one compare, absent */
	struct kv_cmd c = {.op = KV_OP_TXN,
			   .value = body,
			   .value_len = sizeof(body),
			   .client_id = 5,
			   .seq = 1};
	struct raft_entry e;
	struct kv_result r;
	char err[128];
	uint8_t *buf;

	store_open(&s);
	/* The encoder refuses it ... */
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_TXN);
	/* ... so it is built by hand: a valid empty body, then broken. */
	body[0] = 0;
	e = entry(1, &c);
	buf = (uint8_t *)e.data;
	buf[e.len - 8] = 1;
	ck_assert_int_eq(kv_apply(s.kv, &e, 1, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.status, KV_BAD_COMMAND);
	ck_assert_int_eq(r.cmd_error, KV_ECMD_TXN);
	ck_assert_uint_eq(kv_applied_index(s.kv), 1);
	free(e.data);
	/* Apply allocates for transactions now: running out of memory
	 * leaves the store as it was, and the batch may come again. */
	ck_assert(kv_retryable(KV_ENOMEM));
	ck_assert(!kv_retryable(KV_ECORRUPT));
	store_close(&s, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Exactly-once                                                             */

/* Applies @c as client 9's seq @seq, then again as a retry at a later
 * index: the retry replays the first result, byte for byte, and changes
 * nothing. */
static struct kv_result once(struct kv *kv, struct kv_cmd c, uint64_t seq)
{
	struct kv_result a, b;
	uint64_t d;
	uint8_t *blob = NULL;

	c.client_id = 9;
	c.seq = seq;
	a = apply(kv, &c);
	ck_assert_uint_eq(a.duplicate, 0);
	if (a.txn_len) {
		blob = malloc(a.txn_len);
		memcpy(blob, a.txn, a.txn_len);
	}
	d = digest(kv);
	b = apply(kv, &c);
	ck_assert_uint_eq(b.duplicate, 1);
	ck_assert_uint_eq(b.status, a.status);
	ck_assert_uint_eq(b.op, a.op);
	ck_assert_uint_eq(b.index, a.index);
	ck_assert_uint_eq(b.count, a.count);
	ck_assert_uint_eq(b.succeeded, a.succeeded);
	ck_assert_uint_eq(b.lease_id, a.lease_id);
	ck_assert_uint_eq(b.lease_ttl, a.lease_ttl);
	ck_assert_uint_eq(b.mod_index, a.mod_index);
	ck_assert_uint_eq(b.txn_len, a.txn_len);
	if (a.txn_len)
		ck_assert_mem_eq(b.txn, blob, a.txn_len);
	ck_assert_uint_eq(digest(kv), d);
	free(blob);
	return a;
}

START_TEST(test_exactly_once_replays)
{
	struct store s = {0};
	struct kv_txn *t = new_txn();
	struct kv_result r;
	struct kv_cmd c;
	uint8_t b[8], *body;
	uint64_t ttl = 33, l;

	store_open(&s);
	c = lease_cmd(KV_OP_LEASE_GRANT, b, &ttl, 1);
	r = once(s.kv, c, 1);
	l = r.lease_id;
	ck_assert_uint_eq(r.lease_ttl, 33);
	ck_assert_int_eq(kv_lease_count(s.kv), 1); /* granted once */
	put(s.kv, "p/1", "a", l);
	put(s.kv, "p/2", "b", 0);
	put(s.kv, "q", "c", l);
	add_op(t, 0, KV_TXN_GET, "q", NULL, 0, 0);
	add_op(t, 0, KV_TXN_PUT, "n", "v", 0, 0);
	add_op(t, 0, KV_TXN_LIST, "p/", NULL, 0, 5);
	c = txn_cmd(t, &body);
	r = once(s.kv, c, 2);
	ck_assert_uint_eq(r.succeeded, 1);
	ck_assert_uint_gt(r.txn_len, 0);
	free(body);
	/* A failed transaction replays its failure. */
	memset(t, 0, sizeof(*t));
	add_op(t, 0, KV_TXN_PUT, "n", "v", 4242, 0);
	c = txn_cmd(t, &body);
	ck_assert_uint_eq(once(s.kv, c, 3).status, KV_LEASE_NOT_FOUND);
	free(body);
	c = prefix_cmd("p/");
	ck_assert_uint_eq(once(s.kv, c, 4).count, 2);
	c = lease_cmd(KV_OP_LEASE_REVOKE, b, &l, 1);
	r = once(s.kv, c, 5);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.lease_id, l);
	c = lease_cmd(KV_OP_LEASE_EXPIRE, b, &l, 1);
	ck_assert_uint_eq(once(s.kv, c, 6).status, KV_APPLIED);
	/* PUT and DELETE keep the old record. */
	c = put_cmd("z", "1", 0);
	ck_assert_uint_eq(once(s.kv, c, 7).op, KV_OP_PUT);
	/* Across a reopen the records are still there. */
	store_close(&s, 0);
	store_open(&s);
	c = prefix_cmd("p/");
	c.client_id = 9;
	c.seq = 4;
	r = apply(s.kv, &c);
	ck_assert_uint_eq(r.status, KV_STALE_SEQ);
	free(t);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Determinism, durability                                                  */

struct table {
	char text[4096];
};

static int table_key(void *arg, const uint8_t *key, size_t len)
{
	struct table *tb = arg;
	size_t at = strlen(tb->text);

	snprintf(tb->text + at, sizeof(tb->text) - at, " %.*s", (int)len,
		 (const char *)key);
	return 0;
}

static int table_lease(void *arg, const struct kv_lease *l)
{
	struct table *tb = arg;
	size_t at = strlen(tb->text);

	snprintf(tb->text + at, sizeof(tb->text) - at, "|%llu:%llu:%llu",
		 (unsigned long long)l->id, (unsigned long long)l->ttl,
		 (unsigned long long)l->keys);
	return 0;
}

/* Every lease, its TTL, count and keys, as text. */
static void lease_table(struct kv *kv, struct table *tb)
{
	struct table ids = {""};
	char *p;

	tb->text[0] = 0;
	ck_assert_int_ge(kv_lease_list(kv, 0, 1000, table_lease, &ids, NULL),
			 0);
	for (p = strchr(ids.text, '|'); p != NULL; p = strchr(p + 1, '|')) {
		uint64_t id = strtoull(p + 1, NULL, 10);
		size_t at = strlen(tb->text);
		snprintf(tb->text + at, sizeof(tb->text) - at, "%.*s",
			 (int)(strchr(p + 1, '|') ? strchr(p + 1, '|') - p
						  : (long)strlen(p)),
			 p);
		ck_assert_int_ge(
		    kv_lease_keys(kv, id, 1000, table_key, tb, NULL), 0);
	}
}

/* A seeded history of every op, applied to two stores in different
 * batch splits: the same results, digests and lease tables. */
START_TEST(test_same_entries_same_state)
{
	struct store a = {0}, b = {0};
	uint64_t seed = test_seed();
	enum { N = 400 };
	struct raft_entry *e = calloc(N, sizeof(*e));
	struct kv_result *ra = calloc(N, sizeof(*ra)),
			 *rb = calloc(N, sizeof(*rb));
	struct kv_txn *t = new_txn();
	static const char *keys[] = {"a", "a/1", "a/2", "b", "b/1", "c"};
	char err[256];
	size_t i;

	store_open(&a);
	store_open(&b);
	for (i = 0; i < N; i++) {
		uint64_t r = test_rand(&seed), ids[3];
		const char *k = keys[r % 6];
		uint64_t lease = (r >> 8) % 3 ? 0 : 1 + (r >> 12) % (i + 1);
		uint8_t buf[24], *body = NULL;
		struct kv_cmd c;

		for (int j = 0; j < 3; j++)
			ids[j] = 1 + test_rand(&seed) % (i + 1);
		switch ((r >> 20) % 9) {
		case 0:
		case 1:
			c = put_cmd(k, "v", lease);
			break;
		case 2:
			c = del_cmd(k);
			break;
		case 3:
			c = prefix_cmd(r & 1 ? "a" : "b/");
			break;
		case 4: {
			uint64_t ttl = 1 + r % 100;
			c = lease_cmd(KV_OP_LEASE_GRANT, buf, &ttl, 1);
			break;
		}
		case 5:
			c = lease_cmd(KV_OP_LEASE_REVOKE, buf, ids, 1);
			break;
		case 6:
			c = lease_cmd(KV_OP_LEASE_EXPIRE, buf, ids, 3);
			break;
		default:
			memset(t, 0, sizeof(*t));
			add_cmp(t, KV_CMP_EXISTS, KV_CMP_EQ, k, NULL, 1);
			add_op(t, 0, KV_TXN_PUT, keys[(r >> 30) % 6], "t",
			       lease, 0);
			add_op(t, 0, KV_TXN_LIST, "", NULL, 0, 3);
			add_op(t, 1, KV_TXN_DELETE_PREFIX, "b", NULL, 0, 0);
			add_op(t, 1, KV_TXN_GET, "a", NULL, 0, 0);
			c = txn_cmd(t, &body);
			break;
		}
		c.client_id = 1 + r % 4;
		c.seq = i / 2; /* some retries */
		e[i] = entry(i + 1, &c);
		free(body);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(
		    kv_apply(a.kv, &e[i], 1, &ra[i], err, sizeof(err)), 0);
		/* Copy the blob out: the next apply frees it. */
		if (ra[i].txn_len) {
			uint8_t *copy = malloc(ra[i].txn_len);
			memcpy(copy, ra[i].txn, ra[i].txn_len);
			ra[i].txn = copy;
		}
	}
	for (i = 0; i < N;) {
		size_t n = 1 + test_rand(&seed) % 50;
		if (n > N - i)
			n = N - i;
		ck_assert_int_eq(
		    kv_apply(b.kv, &e[i], n, &rb[i], err, sizeof(err)), 0);
		/* Blobs of one batch stay valid together. */
		for (size_t j = i; j < i + n; j++) {
			ck_assert_uint_eq(rb[j].status, ra[j].status);
			ck_assert_uint_eq(rb[j].count, ra[j].count);
			ck_assert_uint_eq(rb[j].succeeded, ra[j].succeeded);
			ck_assert_uint_eq(rb[j].lease_id, ra[j].lease_id);
			ck_assert_uint_eq(rb[j].txn_len, ra[j].txn_len);
			if (ra[j].txn_len)
				ck_assert_mem_eq(rb[j].txn, ra[j].txn,
						 ra[j].txn_len);
		}
		i += n;
	}
	ck_assert_uint_eq(digest(a.kv), digest(b.kv));
	struct table ta, tb;
	lease_table(a.kv, &ta);
	lease_table(b.kv, &tb);
	ck_assert_str_eq(ta.text, tb.text);
	ck_assert_int_gt(kv_lease_count(a.kv), 0);
	check_store(a.kv);
	check_store(b.kv);
	for (i = 0; i < N; i++) {
		free(e[i].data);
		free((void *)ra[i].txn);
	}
	free(e);
	free(ra);
	free(rb);
	free(t);
	store_close(&a, 1);
	store_close(&b, 1);
}
END_TEST

START_TEST(test_leases_survive_reopen_and_snapshot)
{
	struct store s = {0}, r = {0};
	char snap[128], err[256];
	struct table before, after;
	uint64_t l, d;

	store_open(&s);
	l = grant(s.kv, 45);
	put(s.kv, "svc/a", "1", l);
	put(s.kv, "svc/b", "2", l);
	lease_table(s.kv, &before);
	d = digest(s.kv);
	store_close(&s, 0);
	store_open(&s);
	lease_table(s.kv, &after);
	ck_assert_str_eq(after.text, before.text);
	ck_assert_uint_eq(lease_of(s.kv, "svc/b"), l);
	check_store(s.kv);

	snprintf(snap, sizeof(snap), "%s/snap", s.dir);
	ck_assert_int_eq(kv_snapshot(s.kv, snap, NULL, NULL, err, sizeof(err)),
			 0);
	strcpy(r.dir, "/tmp/kv-apply.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r.dir));
	ck_assert_int_eq(kv_restore(r.dir, snap, err, sizeof(err)), 0);
	store_open(&r);
	lease_table(r.kv, &after);
	ck_assert_str_eq(after.text, before.text);
	ck_assert_uint_eq(digest(r.kv), d);
	ck_assert_uint_eq(lease_of(r.kv, "svc/a"), l);
	check_store(r.kv);
	/* The restored lease works: revoking it deletes its keys. */
	uint8_t b[8];
	struct kv_cmd c = lease_cmd(KV_OP_LEASE_REVOKE, b, &l, 1);
	ck_assert_uint_eq(apply(r.kv, &c).count, 2);
	store_close(&r, 1);
	store_close(&s, 1);
}
END_TEST

/* A store written before leases (five databases, format 1) opens: the
 * lease databases are created empty and work, and kv_check reads them. */
START_TEST(test_store_from_before_leases_opens)
{
	struct store s = {0};
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	static const char *const dbs[] = {"data", "meta", "clients", "ages",
					  "events"};
	uint8_t fmt[4], applied[16], val[9];
	uint64_t l;

	strcpy(s.dir, "/tmp/kv-apply.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s.dir));
	snprintf(path, sizeof(path), "%s/kv", s.dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 5), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(mdb_dbi_open(txn, dbs[i], MDB_CREATE, &dbi),
				 0);
		MDB_val k, v;
		if (i == 0) {
			le_put_u64(val, 7);
			val[8] = 'v';
			k = (MDB_val){3, "old"};
			v = (MDB_val){9, val};
			ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
		} else if (i == 1) {
			le_put_u32(fmt, 1);
			k = (MDB_val){6, "format"};
			v = (MDB_val){4, fmt};
			ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
			le_put_u64(applied, 7);
			le_put_u64(applied + 8, 1);
			k = (MDB_val){7, "applied"};
			v = (MDB_val){16, applied};
			ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
		}
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	store_open(&s);
	check_store(s.kv);
	ck_assert_uint_eq(kv_applied_index(s.kv), 7);
	ck_assert_int_eq(kv_lease_count(s.kv), 0);
	ck_assert_uint_eq(lease_of(s.kv, "old"), 0);
	l = grant(s.kv, 9);
	ck_assert_uint_eq(l, 8);
	put(s.kv, "old", "w", l);
	ck_assert_uint_eq(lease_keys(s.kv, l), 1);
	check_store(s.kv);

	/* kv_check reads the lease databases' shapes: one record of the
	 * wrong size in each is found. */
	static const char *const lease_dbs[] = {"leases", "lease_keys",
						"key_lease"};
	for (int i = 0; i < 3; i++) {
		char err[256] = "";
		MDB_val k = {3, "bad"}, v = {3, "bad"};
		store_close(&s, 0);
		ck_assert_int_eq(mdb_env_create(&env), 0);
		ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
		ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
		ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
		ck_assert_int_eq(mdb_dbi_open(txn, lease_dbs[i], 0, &dbi), 0);
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
		ck_assert_int_eq(mdb_txn_commit(txn), 0);
		mdb_env_close(env);
		store_open(&s);
		ck_assert_int_eq(kv_check(s.kv, 0, err, sizeof(err)),
				 KV_ECORRUPT);
		ck_assert_ptr_nonnull(strstr(err, lease_dbs[i]));
		/* Mended, for the next database. */
		store_close(&s, 0);
		ck_assert_int_eq(mdb_env_create(&env), 0);
		ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
		ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
		ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
		ck_assert_int_eq(mdb_dbi_open(txn, lease_dbs[i], 0, &dbi), 0);
		ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
		ck_assert_int_eq(mdb_txn_commit(txn), 0);
		mdb_env_close(env);
		store_open(&s);
		check_store(s.kv);
	}
	store_close(&s, 1);
}
END_TEST

Suite *kv_apply_suite(void)
{
	Suite *s = suite_create("kv-apply");
	TCase *tc = tcase_create("prefix-lease");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delete_prefix);
	tcase_add_test(tc, test_lease_attach_move_detach);
	tcase_add_test(tc, test_lease_reads);
	tcase_add_test(tc, test_lease_revoke);
	tcase_add_test(tc, test_lease_expire);
	suite_add_tcase(s, tc);
	tc = tcase_create("txn");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_txn_compares);
	tcase_add_test(tc, test_txn_ops_and_results);
	tcase_add_test(tc, test_txn_failure_is_atomic);
	tcase_add_test(tc, test_txn_bad_body_is_skipped);
	suite_add_tcase(s, tc);
	tc = tcase_create("once-determinism");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exactly_once_replays);
	tcase_add_test(tc, test_same_entries_same_state);
	tcase_add_test(tc, test_leases_survive_reopen_and_snapshot);
	tcase_add_test(tc, test_store_from_before_leases_opens);
	suite_add_tcase(s, tc);
	return s;
}
