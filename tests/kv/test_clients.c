/* test_clients.c - the exactly-once table's byte cap (max_client_bytes):
 * the oldest clients go first, never the one being written; the same
 * clients go however entries are batched; the meta "client_bytes"
 * counter is counted at the open of a store without it and checked by
 * kv_check() with limit 0 only. */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "kv.h"
#include "test_kv.h"

#define S(x) ((const uint8_t *)(x))

#define REC   32 /* a PUT's or DELETE's client record */
#define REC_X 64 /* a TXN's, before its results */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

struct store {
	char dir[64];
	struct kv_options o;
	struct kv *kv;
};

static void store_open(struct store *s)
{
	char err[256] = "";
	int rv;

	if (s->dir[0] == 0) {
		strcpy(s->dir, "/tmp/kv-clients.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(s->dir));
	}
	rv = kv_open(s->dir, &s->o, &s->kv, err, sizeof(err));
	ck_assert_msg(rv == 0, "kv_open: %s (%s)", kv_strerror(rv), err);
}

static void store_init(struct store *s, uint64_t max_client_bytes,
		       uint64_t max_clients, uint64_t expiry)
{
	memset(s, 0, sizeof(*s));
	kv_options_init(&s->o);
	s->o.max_client_bytes = max_client_bytes;
	s->o.max_clients = max_clients;
	s->o.client_expiry_entries = expiry;
	store_open(s);
}

static void store_remove(struct store *s)
{
	char p[128];

	kv_close(s->kv);
	s->kv = NULL;
	snprintf(p, sizeof(p), "%s/kv/data.mdb", s->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv/lock.mdb", s->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv", s->dir);
	rmdir(p);
	ck_assert_int_eq(rmdir(s->dir), 0);
}

/* With the store closed: the meta record "client_bytes" straight from
 * LMDB. @op: 'g' reads it into *@val (returns 0, or MDB_NOTFOUND), 'd'
 * deletes it, 's' stores *@val (@len bytes of it: 8, or a bad size). */
static int raw_meta(const char *dir, int op, uint64_t *val, size_t len)
{
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = {12, "client_bytes"}, v;
	uint8_t buf[8];
	int rc;

	snprintf(path, sizeof(path), "%s/kv", dir);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	if (op == 'g') {
		rc = mdb_get(txn, meta, &k, &v);
		if (rc == 0) {
			ck_assert_uint_eq(v.mv_size, 8);
			*val = le_get_u64(v.mv_data);
		}
	} else if (op == 'd') {
		rc = mdb_del(txn, meta, &k, NULL);
	} else {
		le_put_u64(buf, *val);
		v.mv_size = len;
		v.mv_data = buf;
		rc = mdb_put(txn, meta, &k, &v, 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	return rc;
}

/* The counter as stored: closes and reopens the store around the read. */
static uint64_t client_bytes(struct store *s)
{
	uint64_t n = 0;

	kv_close(s->kv);
	s->kv = NULL;
	ck_assert_int_eq(raw_meta(s->dir, 'g', &n, 8), 0);
	store_open(s);
	return n;
}

static void check_whole(struct kv *kv)
{
	char err[256] = "";
	int rv = kv_check(kv, 0, err, sizeof(err));

	ck_assert_msg(rv == 0, "kv_check: %s (%s)", kv_strerror(rv), err);
}

static uint64_t n_clients(struct kv *kv)
{
	struct kv_stats st;

	ck_assert_int_eq(kv_stats(kv, &st), 0);
	return st.clients;
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

static struct kv_cmd put_cmd(uint64_t client, uint64_t seq, const char *key,
			     const char *val)
{
	return (struct kv_cmd){.op = KV_OP_PUT,
			       .client_id = client,
			       .seq = seq,
			       .key = S(key),
			       .key_len = strlen(key),
			       .value = S(val),
			       .value_len = strlen(val)};
}

/* A TXN of client @client, seq @seq, whose one op GETs @key: its record
 * holds the key's value. Its body is malloc'd into *@body. */
static struct kv_cmd get_txn_cmd(uint64_t client, uint64_t seq, const char *key,
				 uint8_t **body)
{
	struct kv_txn *t = calloc(1, sizeof(*t));
	size_t n;

	ck_assert_ptr_nonnull(t);
	t->n_ops[0] = 1;
	t->ops[0][0].type = KV_TXN_GET;
	t->ops[0][0].key = S(key);
	t->ops[0][0].key_len = strlen(key);
	n = kv_txn_size(t);
	*body = malloc(n);
	ck_assert_ptr_nonnull(*body);
	ck_assert_int_eq(kv_txn_encode(t, *body, n), (int64_t)n);
	free(t);
	return (struct kv_cmd){.op = KV_OP_TXN,
			       .client_id = client,
			       .seq = seq,
			       .value = *body,
			       .value_len = n};
}

/* Applies @c as the next entry. */
static struct kv_result apply(struct kv *kv, const struct kv_cmd *c)
{
	struct raft_entry e = entry(kv_applied_index(kv) + 1, c);
	struct kv_result r;
	char err[256] = "";
	int rv = kv_apply(kv, &e, 1, &r, err, sizeof(err));

	free(e.data);
	ck_assert_msg(rv == 0, "kv_apply: %s (%s)", kv_strerror(rv), err);
	return r;
}

static struct kv_result put(struct kv *kv, uint64_t client, uint64_t seq)
{
	struct kv_cmd c = put_cmd(client, seq, "k", "v");

	return apply(kv, &c);
}

static struct kv_result get_txn(struct kv *kv, uint64_t client, uint64_t seq,
				const char *key)
{
	uint8_t *body;
	struct kv_cmd c = get_txn_cmd(client, seq, key, &body);
	struct kv_result r = apply(kv, &c);

	free(body);
	return r;
}

/* A value of @n bytes of @ch under @key, written without a client. */
static void put_big(struct kv *kv, const char *key, size_t n, char ch)
{
	char *v = malloc(n + 1);
	struct kv_cmd c;

	ck_assert_ptr_nonnull(v);
	memset(v, ch, n);
	v[n] = 0;
	c = put_cmd(0, 0, key, v);
	ck_assert_uint_eq(apply(kv, &c).status, KV_APPLIED);
	free(v);
}

/* ------------------------------------------------------------------------ */
/* The cap                                                                  */

START_TEST(test_cap_evicts_oldest_in_order)
{
	struct store s;
	struct kv_result r, r2;
	uint64_t txn_rec;

	/* Room for three PUT records; no count cap, no expiry. */
	store_init(&s, 3 * REC, 0, 0);
	ck_assert_uint_eq(client_bytes(&s), 0);
	ck_assert_uint_eq(put(s.kv, 1, 1).status, KV_APPLIED);
	ck_assert_uint_eq(put(s.kv, 2, 1).status, KV_APPLIED);
	ck_assert_uint_eq(put(s.kv, 3, 1).status, KV_APPLIED);
	ck_assert_uint_eq(n_clients(s.kv), 3);
	ck_assert_uint_eq(client_bytes(&s), 3 * REC);
	/* A record replaced by one of the same size evicts nothing: client
	 * 1 becomes the newest, 2 the oldest. */
	ck_assert_uint_eq(put(s.kv, 1, 2).status, KV_APPLIED);
	ck_assert_uint_eq(n_clients(s.kv), 3);
	/* A fourth client forgets the oldest, client 2, and only it. */
	ck_assert_uint_eq(put(s.kv, 4, 1).status, KV_APPLIED);
	ck_assert_uint_eq(n_clients(s.kv), 3);
	ck_assert_uint_eq(client_bytes(&s), 3 * REC);
	ck_assert_uint_eq(put(s.kv, 3, 1).duplicate, 1);
	ck_assert_uint_eq(put(s.kv, 1, 2).duplicate, 1);
	/* Client 2's retry was forgotten: it is applied as new, and forgets
	 * client 3, now the oldest. */
	r = put(s.kv, 2, 1);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 0);
	ck_assert_uint_eq(put(s.kv, 3, 1).duplicate, 0); /* forgets 1 */
	ck_assert_uint_eq(put(s.kv, 4, 1).duplicate, 1);
	ck_assert_uint_eq(n_clients(s.kv), 3);
	check_whole(s.kv);

	/* Reopened with room for 160 bytes (5 PUT records; 96 held now by
	 * clients 2, 3, 4), client 4 (the oldest) replaces its record with a
	 * TXN's, with 30 bytes of value: 97..128 bytes, so the other two and
	 * it exceed 160, and only the oldest other, client 2, goes, not
	 * client 4 itself. */
	kv_close(s.kv);
	s.o.max_client_bytes = 5 * REC;
	store_open(&s);
	put_big(s.kv, "v", 30, 'a');
	r = get_txn(s.kv, 4, 2, "v");
	ck_assert_uint_eq(r.status, KV_APPLIED);
	txn_rec = REC_X + r.txn_len;
	ck_assert_uint_gt(txn_rec, 3 * REC);
	ck_assert_uint_le(txn_rec, 4 * REC);
	ck_assert_uint_eq(n_clients(s.kv), 2); /* 3 and 4 */
	ck_assert_uint_eq(client_bytes(&s), REC + txn_rec);
	r2 = get_txn(s.kv, 4, 2, "v");
	ck_assert_uint_eq(r2.duplicate, 1);
	ck_assert_uint_eq(r2.txn_len, r.txn_len);
	ck_assert_uint_eq(put(s.kv, 3, 1).duplicate, 1);
	check_whole(s.kv);

	/* A record bigger than the whole cap forgets every other client and
	 * is still stored: a retry is answered byte for byte. */
	put_big(s.kv, "w", 300, 'b');
	r = get_txn(s.kv, 5, 1, "w");
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_gt(REC_X + r.txn_len, 5 * REC);
	ck_assert_uint_eq(n_clients(s.kv), 1);
	ck_assert_uint_eq(client_bytes(&s), REC_X + r.txn_len);
	r2 = get_txn(s.kv, 5, 1, "w");
	ck_assert_uint_eq(r2.duplicate, 1);
	ck_assert_uint_eq(r2.txn_len, r.txn_len);
	/* The next client forgets it. */
	ck_assert_uint_eq(put(s.kv, 6, 1).status, KV_APPLIED);
	ck_assert_uint_eq(n_clients(s.kv), 1);
	ck_assert_uint_eq(client_bytes(&s), REC);
	ck_assert_uint_eq(get_txn(s.kv, 5, 1, "w").duplicate, 0);
	check_whole(s.kv);
	store_remove(&s);
}
END_TEST

START_TEST(test_no_cap)
{
	struct store s;

	store_init(&s, 0, 0, 0);
	for (uint64_t c = 1; c <= 50; c++)
		ck_assert_uint_eq(put(s.kv, c, 1).status, KV_APPLIED);
	ck_assert_uint_eq(n_clients(s.kv), 50);
	ck_assert_uint_eq(client_bytes(&s), 50 * REC);
	check_whole(s.kv);
	store_remove(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Determinism: a random history split into batches in different ways     */

#define D_CLIENTS 8
#define D_ENTRIES 300
#define D_STORES  3

START_TEST(test_cap_same_on_every_split)
{
	uint64_t state = test_seed() ^ 0xc11e47ull;
	struct raft_entry *es = calloc(D_ENTRIES, sizeof(*es));
	struct kv_result *res[D_STORES];
	struct store s[D_STORES];
	uint64_t seq[D_CLIENTS + 1] = {0}, digest[D_STORES], bytes[D_STORES];
	uint64_t max_rec = REC;
	raft_index idx = 0;
	char err[256];

	ck_assert_ptr_nonnull(es);
	/* The history: values of random sizes, TXNs that read them (records
	 * of 64 + up to ~400 bytes), PUTs, and retries of a client's last
	 * command. A cap of 500 bytes, 6 clients at most, expiry after 80
	 * entries: all three rules take turns. */
	while (idx < D_ENTRIES) {
		uint64_t c = 1 + test_rand(&state) % D_CLIENTS;
		unsigned what = (unsigned)(test_rand(&state) % 10);
		char key[8], *val;
		uint8_t *body = NULL;
		struct kv_cmd cmd;
		size_t n;

		snprintf(key, sizeof(key), "k%u",
			 (unsigned)(test_rand(&state) % 4));
		if (what < 3) {
			n = (size_t)(test_rand(&state) % 400);
			val = malloc(n + 1);
			ck_assert_ptr_nonnull(val);
			memset(val, 'a' + (int)(idx % 26), n);
			val[n] = 0;
			cmd = put_cmd(0, 0, key, val);
			es[idx] = entry(idx + 1, &cmd);
			free(val);
		} else {
			/* A retry (seq unchanged) one time in four. */
			if (seq[c] == 0 || test_rand(&state) % 4 != 0)
				seq[c]++;
			if (what < 7)
				cmd = get_txn_cmd(c, seq[c], key, &body);
			else
				cmd = put_cmd(c, seq[c], key, "p");
			es[idx] = entry(idx + 1, &cmd);
			free(body);
		}
		idx++;
	}

	for (int i = 0; i < D_STORES; i++) {
		store_init(&s[i], 500, 6, 80);
		res[i] = calloc(D_ENTRIES + D_CLIENTS, sizeof(**res));
		ck_assert_ptr_nonnull(res[i]);
	}
	/* Store 0: one entry at a time; 1: all in one batch; 2: random
	 * batches of 1..40. */
	for (size_t i = 0; i < D_ENTRIES; i++)
		ck_assert_int_eq(
		    kv_apply(s[0].kv, &es[i], 1, &res[0][i], err, sizeof(err)),
		    0);
	ck_assert_int_eq(
	    kv_apply(s[1].kv, es, D_ENTRIES, res[1], err, sizeof(err)), 0);
	for (size_t i = 0; i < D_ENTRIES;) {
		size_t n = 1 + (size_t)(test_rand(&state) % 40);

		if (n > D_ENTRIES - i)
			n = D_ENTRIES - i;
		ck_assert_int_eq(
		    kv_apply(s[2].kv, &es[i], n, &res[2][i], err, sizeof(err)),
		    0);
		i += n;
	}
	for (size_t i = 0; i < D_ENTRIES; i++) {
		free(es[i].data);
		if (res[0][i].op == KV_OP_TXN && res[0][i].client_id != 0 &&
		    REC_X + res[0][i].txn_len > max_rec)
			max_rec = REC_X + res[0][i].txn_len;
	}
	/* Every client's last command once more, probing what each store
	 * remembers: the same replies, duplicates or not. */
	for (uint64_t c = 1; c <= D_CLIENTS; c++) {
		if (seq[c] == 0)
			continue;
		for (int i = 0; i < D_STORES; i++) {
			struct kv_result r = put(s[i].kv, c, seq[c]);

			res[i][D_ENTRIES + c - 1] = r;
		}
	}
	for (int i = 0; i < D_STORES; i++) {
		check_whole(s[i].kv);
		ck_assert_int_eq(kv_digest(s[i].kv, &digest[i]), 0);
		bytes[i] = client_bytes(&s[i]);
		ck_assert_uint_le(bytes[i], 500 + max_rec);
	}
	for (int i = 1; i < D_STORES; i++) {
		ck_assert_uint_eq(n_clients(s[i].kv), n_clients(s[0].kv));
		ck_assert_uint_eq(digest[i], digest[0]);
		ck_assert_uint_eq(bytes[i], bytes[0]);
		for (size_t j = 0; j < D_ENTRIES + D_CLIENTS; j++) {
			struct kv_result *a = &res[0][j], *b = &res[i][j];

			ck_assert_msg(a->status == b->status &&
					  a->duplicate == b->duplicate &&
					  a->index == b->index &&
					  a->txn_len == b->txn_len,
				      "result %zu differs in store %d (seed "
				      "%llu)",
				      j, i, (unsigned long long)test_seed());
		}
	}
	for (int i = 0; i < D_STORES; i++) {
		store_remove(&s[i]);
		free(res[i]);
	}
	free(es);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The counter                                                              */

START_TEST(test_store_without_counter_counts_at_open)
{
	struct store s;
	struct kv_result r;
	uint64_t before, after = 0, bad;
	char err[256] = "";
	struct kv *kv;

	store_init(&s, 0, 0, 0);
	put_big(s.kv, "v", 100, 'x');
	ck_assert_uint_eq(put(s.kv, 1, 1).status, KV_APPLIED);
	r = get_txn(s.kv, 2, 1, "v");
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(put(s.kv, 3, 1).status, KV_APPLIED);
	before = client_bytes(&s);
	ck_assert_uint_eq(before, 2 * REC + REC_X + r.txn_len);

	/* A store written before the counter existed: opening counts it. */
	kv_close(s.kv);
	s.kv = NULL;
	ck_assert_int_eq(raw_meta(s.dir, 'd', NULL, 0), 0);
	ck_assert_int_eq(raw_meta(s.dir, 'g', &after, 8), MDB_NOTFOUND);
	store_open(&s);
	ck_assert_uint_eq(client_bytes(&s), before);
	check_whole(s.kv);
	/* ...and keeps it from then on. */
	ck_assert_uint_eq(put(s.kv, 4, 1).status, KV_APPLIED);
	ck_assert_uint_eq(client_bytes(&s), before + REC);
	check_whole(s.kv);

	/* A stale counter (left by a version that wrote records without
	 * it) is counted again at open. */
	kv_close(s.kv);
	s.kv = NULL;
	bad = before + REC + 1;
	ck_assert_int_eq(raw_meta(s.dir, 's', &bad, 8), 0);
	store_open(&s);
	ck_assert_uint_eq(client_bytes(&s), before + REC);
	check_whole(s.kv);

	/* One of the wrong size is refused at open. */
	kv_close(s.kv);
	s.kv = NULL;
	ck_assert_int_eq(raw_meta(s.dir, 's', &bad, 4), 0);
	ck_assert_int_eq(kv_open(s.dir, &s.o, &kv, err, sizeof(err)),
			 KV_ECORRUPT);
	ck_assert_int_eq(raw_meta(s.dir, 'd', NULL, 0), 0);
	store_open(&s);
	check_whole(s.kv);
	store_remove(&s);
}
END_TEST

Suite *kv_clients_suite(void)
{
	Suite *s = suite_create("kv_clients");
	TCase *tc = tcase_create("cap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cap_evicts_oldest_in_order);
	tcase_add_test(tc, test_no_cap);
	tcase_add_test(tc, test_cap_same_on_every_split);
	tcase_add_test(tc, test_store_without_counter_counts_at_open);
	suite_add_tcase(s, tc);
	return s;
}
