/* test_auth.c - ops 8..11 on the LMDB store: the token record codec,
 * enable / disable / token put / token delete with every conflict,
 * lookups by hash, exactly-once replay, and tokens across reopen,
 * snapshot/restore, kv_check and the digest. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"
#include "test_kv.h"

struct store {
	char dir[64];
	struct kv *kv;
};

static void store_open(struct store *s)
{
	char err[256] = "";
	int rv;

	if (s->dir[0] == 0) {
		strcpy(s->dir, "/tmp/kv-auth.XXXXXX");
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
	snprintf(p, sizeof(p), "%s/snap", s->dir);
	unlink(p);
	ck_assert_int_eq(rmdir(s->dir), 0);
}

/* A token named @name whose hash is @name's bytes repeated (distinct per
 * name, which is all the store needs). */
static struct kv_token token(const char *name, uint8_t role, const char *prefix)
{
	struct kv_token t;

	memset(&t, 0, sizeof(t));
	t.role = role;
	t.name_len = strlen(name);
	memcpy(t.name, name, t.name_len);
	for (size_t i = 0; i < KV_AUTH_HASH_SIZE; i++)
		t.hash[i] = (uint8_t)name[i % t.name_len] ^ (uint8_t)i;
	t.prefix_len = strlen(prefix);
	memcpy(t.prefix, prefix, t.prefix_len);
	return t;
}

/* Applies op @op with @value as the next entry, with exactly-once identity
 * (@client, @seq) when @client is not 0. */
static struct kv_result apply_raw(struct kv *kv, uint8_t op,
				  const uint8_t *value, size_t len,
				  uint64_t client, uint64_t seq, int next)
{
	struct kv_cmd c = {.op = op,
			   .value = value,
			   .value_len = len,
			   .client_id = client,
			   .seq = seq};
	struct raft_entry e = {.term = 1,
			       .index = kv_applied_index(kv) + (next ? 1 : 0),
			       .type = RAFT_ENTRY_NORMAL};
	struct kv_result r;
	char err[256] = "";
	size_t n;
	int rv;

	ck_assert_int_eq(kv_cmd_encode_alloc(&c, &e.data, &n), 0);
	e.len = (uint32_t)n;
	rv = kv_apply(kv, &e, 1, &r, err, sizeof(err));
	free(e.data);
	ck_assert_msg(rv == 0, "kv_apply: %s (%s)", kv_strerror(rv), err);
	return r;
}

static struct kv_result apply_token(struct kv *kv, uint8_t op,
				    const struct kv_token *t)
{
	uint8_t rec[KV_TOKEN_MAX];
	int64_t n = kv_token_encode(t, rec, sizeof(rec));

	ck_assert_int_gt(n, 0);
	return apply_raw(kv, op, rec, (size_t)n, 0, 0, 1);
}

static struct kv_result apply_delete(struct kv *kv, const char *name)
{
	return apply_raw(kv, KV_OP_TOKEN_DELETE, (const uint8_t *)name,
			 strlen(name), 0, 0, 1);
}

static struct kv_result apply_disable(struct kv *kv)
{
	return apply_raw(kv, KV_OP_AUTH_DISABLE, NULL, 0, 0, 0, 1);
}

static int has(struct kv *kv, const struct kv_token *t)
{
	struct kv_token got;
	int rv = kv_auth_lookup(kv, t->hash, &got);

	if (rv == KV_ENOTFOUND)
		return 0;
	ck_assert_int_eq(rv, 0);
	ck_assert_str_eq(got.name, t->name);
	ck_assert_uint_eq(got.role, t->role);
	ck_assert_uint_eq(got.prefix_len, t->prefix_len);
	ck_assert(memcmp(got.prefix, t->prefix, t->prefix_len) == 0);
	return 1;
}

static int count_cb(void *arg, const struct kv_token *t)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static int64_t count(struct kv *kv)
{
	int n = 0;
	int64_t rv = kv_auth_list(kv, count_cb, &n);

	ck_assert_int_eq(rv, n);
	return rv;
}

static uint64_t digest(struct kv *kv)
{
	uint64_t d;

	ck_assert_int_eq(kv_digest(kv, &d), 0);
	return d;
}

static void check_store(struct kv *kv)
{
	char err[256] = "";
	int rv = kv_check(kv, 0, err, sizeof(err));

	ck_assert_msg(rv == 0, "kv_check: %s (%s)", kv_strerror(rv), err);
}

START_TEST(test_token_codec)
{
	struct kv_token t = token("app-1.x_y", KV_ROLE_READWRITE, "app/"), d;
	uint8_t rec[KV_TOKEN_MAX], bad[KV_TOKEN_MAX];
	int64_t n = kv_token_encode(&t, rec, sizeof(rec));

	ck_assert_int_eq(n, KV_TOKEN_HEAD + 9 + 4);
	ck_assert_int_eq(kv_token_decode(rec, (size_t)n, &d), 0);
	ck_assert_str_eq(d.name, "app-1.x_y");
	ck_assert(memcmp(d.hash, t.hash, KV_AUTH_HASH_SIZE) == 0);
	ck_assert_uint_eq(d.prefix_len, 4);
	/* Every length is checked: short, long, trailing. */
	for (int64_t i = 0; i < n; i++)
		ck_assert_int_eq(kv_token_decode(rec, (size_t)i, &d),
				 KV_ECMD_AUTH);
	memcpy(bad, rec, (size_t)n);
	bad[n] = 'x';
	ck_assert_int_eq(kv_token_decode(bad, (size_t)n + 1, &d), KV_ECMD_AUTH);
	/* Roles, names, prefixes. */
	memcpy(bad, rec, (size_t)n);
	bad[0] = 0;
	ck_assert_int_eq(kv_token_decode(bad, (size_t)n, &d), KV_ECMD_AUTH);
	bad[0] = 4;
	ck_assert_int_eq(kv_token_decode(bad, (size_t)n, &d), KV_ECMD_AUTH);
	memcpy(bad, rec, (size_t)n);
	bad[KV_TOKEN_HEAD] = '/';
	ck_assert_int_eq(kv_token_decode(bad, (size_t)n, &d), KV_ECMD_AUTH);
	memcpy(bad, rec, (size_t)n);
	bad[n - 1] = '\n'; /* a prefix with a control character */
	ck_assert_int_eq(kv_token_decode(bad, (size_t)n, &d), KV_ECMD_AUTH);
	t = token("root", KV_ROLE_ADMIN, "p");
	ck_assert_int_eq(kv_token_encode(&t, rec, sizeof(rec)), KV_ECMD_AUTH);
	t = token("x", KV_ROLE_READONLY, "");
	t.name_len = 0;
	ck_assert_int_eq(kv_token_encode(&t, rec, sizeof(rec)), KV_ECMD_AUTH);
	t = token("n", KV_ROLE_READONLY, "");
	ck_assert_int_eq(kv_token_encode(&t, rec, KV_TOKEN_HEAD), KV_EINVAL);

	char name[KV_AUTH_NAME_MAX + 2];
	memset(name, 'a', sizeof(name));
	ck_assert(kv_token_name_valid(name, KV_AUTH_NAME_MAX));
	ck_assert(!kv_token_name_valid(name, KV_AUTH_NAME_MAX + 1));
	ck_assert(!kv_token_name_valid(name, 0));
	ck_assert(!kv_token_name_valid("a b", 3));
	ck_assert(!kv_token_name_valid("a/b", 3));
	ck_assert(kv_token_name_valid("A.z_0-9", 7));
}
END_TEST

START_TEST(test_commands_checked)
{
	struct kv_token t = token("ro", KV_ROLE_READONLY, "x/");
	uint8_t rec[KV_TOKEN_MAX];
	int64_t n = kv_token_encode(&t, rec, sizeof(rec));
	struct kv_cmd c = {
	    .op = KV_OP_AUTH_ENABLE, .value = rec, .value_len = (size_t)n};

	/* Enabling names an admin. */
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_AUTH);
	c.op = KV_OP_TOKEN_PUT;
	ck_assert_int_eq(kv_cmd_check(&c), 0);
	c.value_len = (size_t)n - 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_AUTH);
	c.op = KV_OP_AUTH_DISABLE;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
	c.value_len = 0;
	c.value = NULL;
	ck_assert_int_eq(kv_cmd_check(&c), 0);
	c.op = KV_OP_TOKEN_DELETE;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_AUTH);
	c.value = (const uint8_t *)"a/b";
	c.value_len = 3;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_AUTH);
	c.value_len = 1;
	ck_assert_int_eq(kv_cmd_check(&c), 0);
	c.key = (const uint8_t *)"k";
	c.key_len = 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
}
END_TEST

START_TEST(test_enable_put_delete_disable)
{
	struct store s = {0};
	struct kv_token root = token("root", KV_ROLE_ADMIN, "");
	struct kv_token rw = token("rw", KV_ROLE_READWRITE, "app/");
	struct kv_token ro = token("ro", KV_ROLE_READONLY, "");
	struct kv_result r;

	store_open(&s);
	ck_assert_int_eq(kv_auth_enabled(s.kv), 0);
	/* While off: no token can be made, none deleted, no disable. */
	r = apply_token(s.kv, KV_OP_TOKEN_PUT, &rw);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_AUTH_OFF);
	ck_assert_uint_eq(apply_delete(s.kv, "rw").status, KV_NOT_FOUND);
	r = apply_disable(s.kv);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_AUTH_OFF);
	uint64_t off_digest = digest(s.kv);

	/* Readers holding a permission are told to look again. */
	uint64_t gen = kv_auth_generation();
	r = apply_token(s.kv, KV_OP_AUTH_ENABLE, &root);
	ck_assert_uint_ne(kv_auth_generation(), gen);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.op, KV_OP_AUTH_ENABLE);
	ck_assert_int_eq(kv_auth_enabled(s.kv), 1);
	ck_assert(has(s.kv, &root));
	ck_assert_uint_ne(digest(s.kv), off_digest);
	r = apply_token(s.kv, KV_OP_AUTH_ENABLE, &root);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_AUTH_ON);

	ck_assert_uint_eq(apply_token(s.kv, KV_OP_TOKEN_PUT, &rw).status,
			  KV_APPLIED);
	ck_assert_uint_eq(apply_token(s.kv, KV_OP_TOKEN_PUT, &ro).status,
			  KV_APPLIED);
	ck_assert(has(s.kv, &rw) && has(s.kv, &ro));
	ck_assert_int_eq(count(s.kv), 3);
	/* A name that exists, and a hash that exists under another name. */
	struct kv_token again = token("rw", KV_ROLE_READONLY, "");
	r = apply_token(s.kv, KV_OP_TOKEN_PUT, &again);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_EXISTS);
	struct kv_token same_hash = token("other", KV_ROLE_READONLY, "");
	memcpy(same_hash.hash, ro.hash, KV_AUTH_HASH_SIZE);
	r = apply_token(s.kv, KV_OP_TOKEN_PUT, &same_hash);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_EXISTS);
	ck_assert(has(s.kv, &ro));

	/* Revocation: gone from the lookup at once. */
	ck_assert_uint_eq(apply_delete(s.kv, "ro").status, KV_APPLIED);
	ck_assert(!has(s.kv, &ro));
	ck_assert_uint_eq(apply_delete(s.kv, "ro").status, KV_NOT_FOUND);
	/* The last admin stays; a second one lets the first go. */
	r = apply_delete(s.kv, "root");
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_LAST_ADMIN);
	struct kv_token admin2 = token("admin2", KV_ROLE_ADMIN, "");
	ck_assert_uint_eq(apply_token(s.kv, KV_OP_TOKEN_PUT, &admin2).status,
			  KV_APPLIED);
	ck_assert_uint_eq(apply_delete(s.kv, "root").status, KV_APPLIED);
	ck_assert(!has(s.kv, &root));
	check_store(s.kv);

	/* Disable drops every token; enable again starts from its root. */
	ck_assert_uint_eq(apply_disable(s.kv).status, KV_APPLIED);
	ck_assert_int_eq(kv_auth_enabled(s.kv), 0);
	ck_assert_int_eq(count(s.kv), 0);
	ck_assert(!has(s.kv, &rw));
	ck_assert_uint_eq(digest(s.kv), off_digest);
	ck_assert_uint_eq(apply_token(s.kv, KV_OP_AUTH_ENABLE, &root).status,
			  KV_APPLIED);
	ck_assert_int_eq(count(s.kv), 1);
	check_store(s.kv);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_token_limit)
{
	struct store s = {0};
	struct kv_token root = token("root", KV_ROLE_ADMIN, "");
	char name[16];

	store_open(&s);
	ck_assert_uint_eq(apply_token(s.kv, KV_OP_AUTH_ENABLE, &root).status,
			  KV_APPLIED);
	for (int i = 1; i < KV_AUTH_TOKENS_MAX; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		struct kv_token t = token(name, KV_ROLE_READONLY, "");
		ck_assert_uint_eq(apply_token(s.kv, KV_OP_TOKEN_PUT, &t).status,
				  KV_APPLIED);
	}
	struct kv_token t = token("one-more", KV_ROLE_READONLY, "");
	struct kv_result r = apply_token(s.kv, KV_OP_TOKEN_PUT, &t);
	ck_assert_uint_eq(r.status, KV_CONFLICT);
	ck_assert_uint_eq(r.count, KV_CONFLICT_TOO_MANY);
	ck_assert_uint_eq(apply_delete(s.kv, "t1").status, KV_APPLIED);
	ck_assert_uint_eq(apply_token(s.kv, KV_OP_TOKEN_PUT, &t).status,
			  KV_APPLIED);
	ck_assert_int_eq(count(s.kv), KV_AUTH_TOKENS_MAX);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_exactly_once)
{
	struct store s = {0};
	struct kv_token root = token("root", KV_ROLE_ADMIN, "");
	struct kv_token rw = token("rw", KV_ROLE_READWRITE, "a");
	uint8_t rec[KV_TOKEN_MAX];
	int64_t n;
	struct kv_result r;

	store_open(&s);
	n = kv_token_encode(&root, rec, sizeof(rec));
	r = apply_raw(s.kv, KV_OP_AUTH_ENABLE, rec, (size_t)n, 7, 1, 1);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	/* The retry (a later entry, same identity) replays the first
	 * result: not the conflict a second enable would be. */
	r = apply_raw(s.kv, KV_OP_AUTH_ENABLE, rec, (size_t)n, 7, 1, 1);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.op, KV_OP_AUTH_ENABLE);
	n = kv_token_encode(&rw, rec, sizeof(rec));
	r = apply_raw(s.kv, KV_OP_TOKEN_PUT, rec, (size_t)n, 7, 2, 1);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	r = apply_raw(s.kv, KV_OP_TOKEN_PUT, rec, (size_t)n, 7, 2, 1);
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 1);
	r = apply_raw(s.kv, KV_OP_TOKEN_DELETE, (const uint8_t *)"nope", 4, 7,
		      3, 1);
	ck_assert_uint_eq(r.status, KV_NOT_FOUND);
	r = apply_raw(s.kv, KV_OP_TOKEN_DELETE, (const uint8_t *)"nope", 4, 7,
		      3, 1);
	ck_assert_uint_eq(r.status, KV_NOT_FOUND);
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_int_eq(count(s.kv), 2);
	store_close(&s, 1);
}
END_TEST

START_TEST(test_tokens_survive_reopen_and_snapshot)
{
	struct store s = {0}, r = {0};
	struct kv_token root = token("root", KV_ROLE_ADMIN, "");
	struct kv_token rw = token("rw", KV_ROLE_READWRITE, "app/");
	char snap[128], err[256];
	uint64_t d;

	store_open(&s);
	apply_token(s.kv, KV_OP_AUTH_ENABLE, &root);
	apply_token(s.kv, KV_OP_TOKEN_PUT, &rw);
	d = digest(s.kv);
	store_close(&s, 0);
	store_open(&s);
	ck_assert_int_eq(kv_auth_enabled(s.kv), 1);
	ck_assert(has(s.kv, &root) && has(s.kv, &rw));
	ck_assert_uint_eq(digest(s.kv), d);
	check_store(s.kv);

	snprintf(snap, sizeof(snap), "%s/snap", s.dir);
	ck_assert_int_eq(kv_snapshot(s.kv, snap, NULL, NULL, err, sizeof(err)),
			 0);
	strcpy(r.dir, "/tmp/kv-auth.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r.dir));
	ck_assert_int_eq(kv_restore(r.dir, snap, err, sizeof(err)), 0);
	store_open(&r);
	ck_assert_int_eq(kv_auth_enabled(r.kv), 1);
	ck_assert(has(r.kv, &root) && has(r.kv, &rw));
	ck_assert_uint_eq(digest(r.kv), d);
	check_store(r.kv);
	/* The restored tables work: revoking there removes the lookup. */
	ck_assert_uint_eq(apply_delete(r.kv, "rw").status, KV_APPLIED);
	ck_assert(!has(r.kv, &rw));
	ck_assert_uint_ne(digest(r.kv), d);
	store_close(&r, 1);
	store_close(&s, 1);
}
END_TEST

Suite *kv_auth_suite(void)
{
	Suite *s = suite_create("kv-auth");
	TCase *tc = tcase_create("auth");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_token_codec);
	tcase_add_test(tc, test_commands_checked);
	tcase_add_test(tc, test_enable_put_delete_disable);
	tcase_add_test(tc, test_token_limit);
	tcase_add_test(tc, test_exactly_once);
	tcase_add_test(tc, test_tokens_survive_reopen_and_snapshot);
	suite_add_tcase(s, tc);
	return s;
}
