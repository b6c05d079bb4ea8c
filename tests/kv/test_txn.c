/* test_txn.c - the codec of ops 3..7 and leases (kv_cmd_*), the
 * transaction body (kv_txn_check/encode/decode: every rule, every
 * truncation) and the results reader (kv_txn_result_next). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "kv.h"
#include "kv_internal.h"
#include "test_kv.h"

#define S(x) ((const uint8_t *)(x))

static struct kv_cmd cmd_of(uint8_t op)
{
	struct kv_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.client_id = 7;
	c.seq = 3;
	c.origin = 2;
	c.request_id = 99;
	return c;
}

/* Encodes @c into an exact-size heap buffer and decodes it back. */
static void round_trip(const struct kv_cmd *c, struct kv_cmd *d, uint8_t **buf,
		       size_t *len)
{
	ck_assert_int_eq(kv_cmd_encode_alloc(c, buf, len), 0);
	ck_assert_uint_eq(*len, kv_cmd_size(c));
	ck_assert_int_eq(kv_cmd_decode(*buf, *len, d), 0);
	ck_assert_uint_eq(d->op, c->op);
	ck_assert_uint_eq(d->key_len, c->key_len);
	ck_assert_uint_eq(d->value_len, c->value_len);
	ck_assert_uint_eq(d->lease, c->lease);
	if (c->key_len)
		ck_assert_mem_eq(d->key, c->key, c->key_len);
	if (c->value_len)
		ck_assert_mem_eq(d->value, c->value, c->value_len);
}

/* Decodes a copy of @buf in an exact-size heap buffer (ASan: no
 * over-read). */
static int decode_copy(const uint8_t *buf, size_t len, struct kv_cmd *d)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct kv_cmd scratch;
	int rv;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	rv = kv_cmd_decode(copy, len, d ? d : &scratch);
	free(copy);
	return rv;
}

START_TEST(test_put_with_lease)
{
	struct kv_cmd c = cmd_of(KV_OP_PUT), d;
	uint8_t *buf, head[128];
	size_t len;

	c.key = S("svc/a");
	c.key_len = 5;
	c.value = S("addr");
	c.value_len = 4;
	c.lease = 0x0102030405060708ull;
	round_trip(&c, &d, &buf, &len);
	ck_assert_uint_eq(len, KV_CMD_HEADER_SIZE + 5 + 4 + 8);
	ck_assert_uint_eq(buf[2], KV_CMD_F_LEASE);
	/* The lease id follows the value, little-endian. */
	ck_assert_uint_eq(le_get_u64(buf + len - 8), c.lease);
	/* encode_head writes the lease past the value's place. */
	memset(head, 0xEE, sizeof(head));
	c.value = NULL;
	ck_assert_int_eq(kv_cmd_encode_head(&c, head, sizeof(head)),
			 (int64_t)len);
	memcpy(head + KV_CMD_HEADER_SIZE + 5, "addr", 4);
	ck_assert_mem_eq(head, buf, len);
	/* A lease of 0 on the wire: refused (no lease is no flag). */
	memset(buf + len - 8, 0, 8);
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_LEASE);
	/* The flag without its 8 bytes, or with a byte more. */
	c.value = S("addr");
	free(buf);
	ck_assert_int_eq(kv_cmd_encode_alloc(&c, &buf, &len), 0);
	ck_assert_int_eq(decode_copy(buf, len - 1, NULL), KV_ECMD_TRUNCATED);
	buf[2] = 0;
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_TRAILING);
	free(buf);
	/* A lease on any other op. */
	c = cmd_of(KV_OP_DELETE);
	c.key = S("k");
	c.key_len = 1;
	c.lease = 5;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.op = KV_OP_DELETE_PREFIX;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
}
END_TEST

START_TEST(test_delete_prefix_rules)
{
	struct kv_cmd c = cmd_of(KV_OP_DELETE_PREFIX), d;
	uint8_t *buf, big[KV_KEY_MAX + 1];
	size_t len;

	/* Empty prefix: every key. */
	round_trip(&c, &d, &buf, &len);
	ck_assert_uint_eq(len, KV_CMD_HEADER_SIZE);
	ck_assert_ptr_null(d.key);
	free(buf);
	c.key = S("users/");
	c.key_len = 6;
	round_trip(&c, &d, &buf, &len);
	ck_assert_ptr_eq(d.key, buf + KV_CMD_HEADER_SIZE);
	/* A value on the wire. */
	buf[8] = 1;
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_ARGS);
	/* CAS. */
	buf[8] = 0;
	buf[2] = KV_CMD_F_CAS;
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_ARGS);
	/* Invalid bytes in the prefix. */
	buf[2] = 0;
	buf[KV_CMD_HEADER_SIZE] = 0x01;
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_KEY_INVALID);
	free(buf);
	c.has_cas = 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
	c.has_cas = 0;
	c.value = S("v");
	c.value_len = 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
	c.value = NULL;
	c.value_len = 0;
	memset(big, 'p', sizeof(big));
	c.key = big;
	c.key_len = KV_KEY_MAX;
	ck_assert_int_eq(kv_cmd_check(&c), 0);
	c.key_len = KV_KEY_MAX + 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_KEY_TOO_LONG);
	c.key = S("a\nb");
	c.key_len = 3;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_KEY_INVALID);
}
END_TEST

START_TEST(test_lease_op_rules)
{
	struct kv_cmd c, d;
	uint8_t v[8 * (KV_LEASE_EXPIRE_MAX + 1)], *buf;
	size_t len;

	memset(v, 0, sizeof(v));
	/* GRANT: 8 bytes of TTL, 1..86400. */
	c = cmd_of(KV_OP_LEASE_GRANT);
	c.value = v;
	c.value_len = 8;
	le_put_u64(v, 1);
	round_trip(&c, &d, &buf, &len);
	ck_assert_uint_eq(le_get_u64(d.value), 1);
	/* A key on a lease op, and the TTL's bounds on the wire. */
	le_put_u64(buf + KV_CMD_HEADER_SIZE, 0);
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_LEASE);
	le_put_u64(buf + KV_CMD_HEADER_SIZE, KV_LEASE_TTL_MAX + 1);
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_LEASE);
	le_put_u64(buf + KV_CMD_HEADER_SIZE, KV_LEASE_TTL_MAX);
	ck_assert_int_eq(decode_copy(buf, len, NULL), 0);
	buf[4] = 1;
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_ARGS);
	free(buf);
	le_put_u64(v, 0);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	le_put_u64(v, UINT64_MAX);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	le_put_u64(v, 60);
	c.value_len = 7;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 16;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 8;
	c.key = S("k");
	c.key_len = 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
	c.key = NULL;
	c.key_len = 0;
	c.has_cas = 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_ARGS);
	c.has_cas = 0;
	c.lease = 4;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);

	/* REVOKE: 8 bytes, a nonzero id. */
	c = cmd_of(KV_OP_LEASE_REVOKE);
	c.value = v;
	c.value_len = 8;
	le_put_u64(v, 12345);
	round_trip(&c, &d, &buf, &len);
	free(buf);
	le_put_u64(v, 0);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 0;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);

	/* EXPIRE: 1..1024 nonzero ids. */
	c = cmd_of(KV_OP_LEASE_EXPIRE);
	c.value = v;
	for (size_t i = 0; i <= KV_LEASE_EXPIRE_MAX; i++)
		le_put_u64(v + 8 * i, i + 1);
	c.value_len = 8;
	round_trip(&c, &d, &buf, &len);
	free(buf);
	c.value_len = 8 * KV_LEASE_EXPIRE_MAX;
	round_trip(&c, &d, &buf, &len);
	/* An id of 0 anywhere in the list, on the wire. */
	memset(buf + len - 8, 0, 8);
	ck_assert_int_eq(decode_copy(buf, len, NULL), KV_ECMD_LEASE);
	free(buf);
	c.value_len = 8 * (KV_LEASE_EXPIRE_MAX + 1);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 0;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 12;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
	c.value_len = 16;
	le_put_u64(v + 8, 0);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_LEASE);
}
END_TEST

/* A transaction using every compare target and op type. */
static struct kv_txn *sample_txn(void)
{
	struct kv_txn *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	t->n_compares = 3;
	t->compares[0] = (struct kv_compare){.target = KV_CMP_MOD,
					     .op = KV_CMP_LT,
					     .key = S("a"),
					     .key_len = 1,
					     .number = 0x1122334455667788ull};
	t->compares[1] = (struct kv_compare){.target = KV_CMP_VALUE,
					     .op = KV_CMP_NE,
					     .key = S("b/\xc3\xa9"),
					     .key_len = 4,
					     .value = S("v\0w"),
					     .value_len = 3};
	t->compares[2] = (struct kv_compare){.target = KV_CMP_EXISTS,
					     .op = KV_CMP_EQ,
					     .key = S("c"),
					     .key_len = 1,
					     .number = 1};
	t->n_ops[0] = 5;
	t->ops[0][0] = (struct kv_txn_op){.type = KV_TXN_PUT,
					  .key = S("a"),
					  .key_len = 1,
					  .value = S("new"),
					  .value_len = 3,
					  .lease = 77};
	t->ops[0][1] = (struct kv_txn_op){
	    .type = KV_TXN_DELETE, .key = S("b"), .key_len = 1};
	t->ops[0][2] = (struct kv_txn_op){
	    .type = KV_TXN_DELETE_PREFIX, .key = S("old/"), .key_len = 4};
	t->ops[0][3] =
	    (struct kv_txn_op){.type = KV_TXN_GET, .key = S("a"), .key_len = 1};
	t->ops[0][4] = (struct kv_txn_op){.type = KV_TXN_LIST, .limit = 10};
	t->n_ops[1] = 2;
	/* An empty prefix: every key (no other write in its branch). */
	t->ops[1][0] =
	    (struct kv_txn_op){.type = KV_TXN_GET, .key = S("a"), .key_len = 1};
	t->ops[1][1] = (struct kv_txn_op){.type = KV_TXN_DELETE_PREFIX};
	return t;
}

static uint8_t *encode_txn(const struct kv_txn *t, size_t *len)
{
	size_t n = kv_txn_size(t);
	uint8_t *buf = malloc(n);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(kv_txn_encode(t, buf, n), (int64_t)n);
	*len = n;
	return buf;
}

static void assert_txn_eq(const struct kv_txn *a, const struct kv_txn *b)
{
	ck_assert_uint_eq(a->n_compares, b->n_compares);
	for (size_t i = 0; i < a->n_compares; i++) {
		const struct kv_compare *x = &a->compares[i],
					*y = &b->compares[i];
		ck_assert_uint_eq(x->target, y->target);
		ck_assert_uint_eq(x->op, y->op);
		ck_assert_uint_eq(x->key_len, y->key_len);
		ck_assert_mem_eq(x->key, y->key, x->key_len);
		ck_assert_uint_eq(x->value_len, y->value_len);
		if (x->value_len)
			ck_assert_mem_eq(x->value, y->value, x->value_len);
		ck_assert_uint_eq(x->number, y->number);
	}
	for (int b_ = 0; b_ < 2; b_++) {
		ck_assert_uint_eq(a->n_ops[b_], b->n_ops[b_]);
		for (size_t i = 0; i < a->n_ops[b_]; i++) {
			const struct kv_txn_op *x = &a->ops[b_][i],
					       *y = &b->ops[b_][i];
			ck_assert_uint_eq(x->type, y->type);
			ck_assert_uint_eq(x->key_len, y->key_len);
			if (x->key_len)
				ck_assert_mem_eq(x->key, y->key, x->key_len);
			ck_assert_uint_eq(x->value_len, y->value_len);
			if (x->value_len)
				ck_assert_mem_eq(x->value, y->value,
						 x->value_len);
			ck_assert_uint_eq(x->lease, y->lease);
			ck_assert_uint_eq(x->limit, y->limit);
		}
	}
}

START_TEST(test_txn_round_trip)
{
	struct kv_txn *t = sample_txn(), *d = calloc(1, sizeof(*d));
	struct kv_cmd c = cmd_of(KV_OP_TXN), dc;
	size_t len, clen;
	uint8_t *buf = encode_txn(t, &len), *cbuf, *re;

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), 0);
	assert_txn_eq(t, d);
	/* Pointers into the buffer: zero-copy. */
	ck_assert(d->compares[0].key >= buf && d->compares[0].key < buf + len);
	re = malloc(len);
	ck_assert_int_eq(kv_txn_encode(d, re, len), (int64_t)len);
	ck_assert_mem_eq(re, buf, len);
	ck_assert_int_eq(kv_txn_encode(d, re, len - 1), KV_EINVAL);
	ck_assert_int_eq(kv_txn_encode(d, NULL, len), KV_EINVAL);
	free(re);
	/* The documented head: counts, then the first compare. */
	ck_assert_uint_eq(le_get_u16(buf), 3);
	ck_assert_uint_eq(le_get_u16(buf + 2), 5);
	ck_assert_uint_eq(le_get_u16(buf + 4), 2);
	ck_assert_uint_eq(le_get_u16(buf + 6), 0);
	ck_assert_uint_eq(buf[8], KV_CMP_MOD);
	ck_assert_uint_eq(buf[9], KV_CMP_LT);
	ck_assert_uint_eq(le_get_u16(buf + 10), 1);
	ck_assert_uint_eq(le_get_u32(buf + 12), 0);
	ck_assert_uint_eq(le_get_u64(buf + 16), 0x1122334455667788ull);
	ck_assert_uint_eq(buf[24], 'a');
	/* As a command's value. */
	c.value = buf;
	c.value_len = len;
	round_trip(&c, &dc, &cbuf, &clen);
	free(cbuf);
	/* An empty transaction is one too. */
	memset(t, 0, sizeof(*t));
	free(buf);
	buf = encode_txn(t, &len);
	ck_assert_uint_eq(len, 8);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), 0);
	ck_assert_uint_eq(d->n_compares + d->n_ops[0] + d->n_ops[1], 0);
	free(buf);
	free(t);
	free(d);
}
END_TEST

/* Fields an op or target does not take are encoded as zero, and refused
 * when not zero on the wire. */
START_TEST(test_txn_unused_fields)
{
	struct kv_txn *t = calloc(1, sizeof(*t)), *d = calloc(1, sizeof(*d));
	uint8_t *buf;
	size_t len;

	t->n_compares = 1;
	t->compares[0] = (struct kv_compare){.target = KV_CMP_MOD,
					     .op = KV_CMP_EQ,
					     .key = S("k"),
					     .key_len = 1,
					     .value = S("ignored"),
					     .value_len = 7};
	t->n_ops[0] = 1;
	t->ops[0][0] = (struct kv_txn_op){.type = KV_TXN_GET,
					  .key = S("k"),
					  .key_len = 1,
					  .value = S("x"),
					  .value_len = 1,
					  .lease = 9,
					  .limit = 3};
	ck_assert_int_eq(kv_txn_check(t, NULL, 0), 0);
	buf = encode_txn(t, &len);
	ck_assert_uint_eq(len, 8 + 16 + 1 + 20 + 1);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), 0);
	ck_assert_uint_eq(d->compares[0].value_len, 0);
	ck_assert_uint_eq(d->ops[0][0].lease, 0);
	ck_assert_uint_eq(d->ops[0][0].limit, 0);
	/* Nonzero on the wire: the op's lease, its limit, its reserved
	 * byte, the compare's number on a VALUE target. */
	le_put_u64(buf + 8 + 17 + 8, 1);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), KV_ECMD_TXN);
	le_put_u64(buf + 8 + 17 + 8, 0);
	le_put_u32(buf + 8 + 17 + 16, 1);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), KV_ECMD_TXN);
	le_put_u32(buf + 8 + 17 + 16, 0);
	buf[8 + 17 + 1] = 1;
	ck_assert_int_eq(kv_txn_decode(buf, len, d), KV_ECMD_TXN);
	buf[8 + 17 + 1] = 0;
	buf[8] = KV_CMP_VALUE;
	le_put_u64(buf + 16, 1);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), KV_ECMD_TXN);
	le_put_u64(buf + 16, 0);
	ck_assert_int_eq(kv_txn_decode(buf, len, d), 0);
	le_put_u16(buf + 6, 1); /* reserved */
	ck_assert_int_eq(kv_txn_decode(buf, len, d), KV_ECMD_TXN);
	free(buf);
	free(t);
	free(d);
}
END_TEST

static int check_why(const struct kv_txn *t, const char *want)
{
	char why[128];
	int rv = kv_txn_check(t, why, sizeof(why));

	if (rv != 0 && want != NULL)
		ck_assert_msg(strstr(why, want) != NULL,
			      "why \"%s\" lacks \"%s\"", why, want);
	return rv;
}

START_TEST(test_txn_check_rules)
{
	struct kv_txn *t = calloc(1, sizeof(*t));
	uint8_t big[KV_KEY_MAX + 1];
	static const char *keys[KV_TXN_MAX_OPS + 1];
	static char names[KV_TXN_MAX_OPS + 1][8];

	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(kv_txn_check(NULL, NULL, 0), KV_EINVAL);
	ck_assert_int_eq(check_why(t, NULL), 0);
	/* Counts: 128 compares and 128 ops per branch, not one more. */
	for (size_t i = 0; i <= KV_TXN_MAX_OPS; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		keys[i] = names[i];
	}
	t->n_compares = KV_TXN_MAX_COMPARES;
	for (size_t i = 0; i < KV_TXN_MAX_COMPARES; i++)
		t->compares[i] =
		    (struct kv_compare){.target = KV_CMP_EXISTS,
					.op = KV_CMP_EQ,
					.key = S(keys[i]),
					.key_len = strlen(keys[i])};
	ck_assert_int_eq(check_why(t, NULL), 0);
	t->n_compares++;
	ck_assert_int_eq(check_why(t, "compares"), KV_ECMD_TXN);
	t->n_compares = 0;
	for (int b = 0; b < 2; b++) {
		t->n_ops[b] = KV_TXN_MAX_OPS;
		for (size_t i = 0; i < KV_TXN_MAX_OPS; i++)
			t->ops[b][i] =
			    (struct kv_txn_op){.type = KV_TXN_PUT,
					       .key = S(keys[i]),
					       .key_len = strlen(keys[i])};
		ck_assert_int_eq(check_why(t, NULL), 0);
		t->n_ops[b]++;
		ck_assert_int_eq(check_why(t, "ops (at most"), KV_ECMD_TXN);
		t->n_ops[b] = 0;
	}

	/* Compares: target, operator, exists' operators and number, key,
	 * value. */
	t->n_compares = 1;
	struct kv_compare *c = &t->compares[0];
	*c = (struct kv_compare){
	    .target = 0, .op = KV_CMP_EQ, .key = S("k"), .key_len = 1};
	ck_assert_int_eq(check_why(t, "target"), KV_ECMD_TXN);
	c->target = 4;
	ck_assert_int_eq(check_why(t, "target"), KV_ECMD_TXN);
	c->target = KV_CMP_MOD;
	for (uint8_t op = KV_CMP_EQ; op <= KV_CMP_GT; op++) {
		c->op = op;
		ck_assert_int_eq(check_why(t, NULL), 0);
	}
	c->op = 0;
	ck_assert_int_eq(check_why(t, "operator"), KV_ECMD_TXN);
	c->op = 5;
	ck_assert_int_eq(check_why(t, "operator"), KV_ECMD_TXN);
	c->target = KV_CMP_EXISTS;
	c->op = KV_CMP_LT;
	ck_assert_int_eq(check_why(t, "exists"), KV_ECMD_TXN);
	c->op = KV_CMP_GT;
	ck_assert_int_eq(check_why(t, "exists"), KV_ECMD_TXN);
	c->op = KV_CMP_NE;
	c->number = 2;
	ck_assert_int_eq(check_why(t, "0 or 1"), KV_ECMD_TXN);
	c->number = 0;
	ck_assert_int_eq(check_why(t, NULL), 0);
	c->key_len = 0;
	ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
	c->key = big;
	c->key_len = KV_KEY_MAX + 1;
	ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
	c->key = S("a\x7f");
	c->key_len = 2;
	ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
	c->key = S("k");
	c->key_len = 1;
	c->target = KV_CMP_VALUE;
	c->value = NULL;
	c->value_len = 1;
	ck_assert_int_eq(check_why(t, "no value"), KV_ECMD_TXN);
	c->value = S("v");
	c->value_len = (size_t)KV_VALUE_MAX + 1;
	ck_assert_int_eq(check_why(t, "too long"), KV_ECMD_TXN);
	c->value_len = 1;
	ck_assert_int_eq(check_why(t, NULL), 0);
	t->n_compares = 0;

	/* Ops: type, keys (a put's key must be allowed: no C1 control),
	 * prefixes may be empty, values, list limits. */
	t->n_ops[1] = 1;
	struct kv_txn_op *o = &t->ops[1][0];
	*o = (struct kv_txn_op){.type = 0, .key = S("k"), .key_len = 1};
	ck_assert_int_eq(check_why(t, "failure op 0: unknown type"),
			 KV_ECMD_TXN);
	o->type = 6;
	ck_assert_int_eq(check_why(t, "unknown type"), KV_ECMD_TXN);
	for (uint8_t ty = KV_TXN_PUT; ty <= KV_TXN_GET; ty++) {
		o->type = ty;
		o->key = S("k");
		o->key_len = 1;
		ck_assert_int_eq(check_why(t, NULL), 0);
		o->key = S("\xc2\x85");
		o->key_len = 2;
		ck_assert_int_eq(check_why(t, "key"),
				 ty == KV_TXN_PUT ? KV_ECMD_TXN : 0);
		o->key = S("\x01");
		o->key_len = 1;
		ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
		o->key = big;
		o->key_len = KV_KEY_MAX + 1;
		ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
		o->key = NULL;
		o->key_len = 0;
		ck_assert_int_eq(check_why(t, "key"),
				 ty == KV_TXN_DELETE_PREFIX ? 0 : KV_ECMD_TXN);
	}
	o->type = KV_TXN_PUT;
	o->key = S("k");
	o->key_len = 1;
	o->value_len = 1;
	ck_assert_int_eq(check_why(t, "no value"), KV_ECMD_TXN);
	o->value = S("v");
	o->value_len = (size_t)KV_VALUE_MAX + 1;
	ck_assert_int_eq(check_why(t, "too long"), KV_ECMD_TXN);
	o->value_len = 0;
	o->type = KV_TXN_LIST;
	o->limit = 0;
	ck_assert_int_eq(check_why(t, "limit 0"), KV_ECMD_TXN);
	o->limit = KV_TXN_LIST_MAX + 1;
	ck_assert_int_eq(check_why(t, "limit"), KV_ECMD_TXN);
	o->limit = KV_TXN_LIST_MAX;
	ck_assert_int_eq(check_why(t, NULL), 0);
	o->limit = 1;
	o->key = NULL;
	o->key_len = 0;
	ck_assert_int_eq(check_why(t, NULL), 0);
	o->key = S("\xff");
	o->key_len = 1;
	ck_assert_int_eq(check_why(t, "key"), KV_ECMD_TXN);
	free(t);
}
END_TEST

/* Sets op @i of branch 0 to a write @type of @key. */
static void w(struct kv_txn *t, size_t i, uint8_t type, const char *key)
{
	t->ops[0][i] = (struct kv_txn_op){
	    .type = type, .key = S(key), .key_len = strlen(key)};
	if (t->n_ops[0] <= i)
		t->n_ops[0] = i + 1;
}

START_TEST(test_txn_check_writes_once)
{
	struct kv_txn *t = calloc(1, sizeof(*t));

	/* Two point writes of one key, in any combination. */
	w(t, 0, KV_TXN_PUT, "a");
	w(t, 1, KV_TXN_PUT, "a");
	ck_assert_int_eq(check_why(t, "ops 0 and 1"), KV_ECMD_TXN);
	w(t, 1, KV_TXN_DELETE, "a");
	ck_assert_int_eq(check_why(t, "same key"), KV_ECMD_TXN);
	w(t, 0, KV_TXN_DELETE, "a");
	ck_assert_int_eq(check_why(t, "same key"), KV_ECMD_TXN);
	/* Different keys, and reads of a written key, are fine. */
	w(t, 1, KV_TXN_PUT, "ab");
	w(t, 2, KV_TXN_GET, "a");
	w(t, 3, KV_TXN_LIST, "");
	t->ops[0][3].limit = 5;
	ck_assert_int_eq(check_why(t, NULL), 0);
	/* A delete_prefix covering a put, before or after it. */
	w(t, 4, KV_TXN_DELETE_PREFIX, "a");
	ck_assert_int_eq(check_why(t, "ops 0 and 4"), KV_ECMD_TXN);
	w(t, 4, KV_TXN_DELETE_PREFIX, "ab");
	ck_assert_int_eq(check_why(t, "ops 1 and 4"), KV_ECMD_TXN);
	w(t, 4, KV_TXN_DELETE_PREFIX, "abc");
	ck_assert_int_eq(check_why(t, NULL), 0);
	w(t, 0, KV_TXN_DELETE_PREFIX, "");
	ck_assert_int_eq(check_why(t, "ops 0 and 1"), KV_ECMD_TXN);
	/* Nested prefixes, either order; equal prefixes; disjoint ones. */
	memset(t, 0, sizeof(*t));
	w(t, 0, KV_TXN_DELETE_PREFIX, "x/");
	w(t, 1, KV_TXN_DELETE_PREFIX, "x/y");
	ck_assert_int_eq(check_why(t, "same key"), KV_ECMD_TXN);
	w(t, 0, KV_TXN_DELETE_PREFIX, "x/y/z");
	ck_assert_int_eq(check_why(t, "same key"), KV_ECMD_TXN);
	w(t, 0, KV_TXN_DELETE_PREFIX, "x/y");
	ck_assert_int_eq(check_why(t, "same key"), KV_ECMD_TXN);
	w(t, 0, KV_TXN_DELETE_PREFIX, "x/z");
	ck_assert_int_eq(check_why(t, NULL), 0);
	/* The rule is per branch: the other branch may write the key. */
	memset(t, 0, sizeof(*t));
	w(t, 0, KV_TXN_PUT, "a");
	t->n_ops[1] = 1;
	t->ops[1][0] = t->ops[0][0];
	ck_assert_int_eq(check_why(t, NULL), 0);
	free(t);
}
END_TEST

/* Every proper prefix of a body is refused, never over-read (ASan), and
 * so is a byte more; random mutations either decode to a transaction
 * that re-encodes to the same bytes or are refused. */
START_TEST(test_txn_truncations_and_mutations)
{
	struct kv_txn *t = sample_txn(), *d = calloc(1, sizeof(*d));
	size_t len;
	uint8_t *buf = encode_txn(t, &len), *b, *re;
	uint64_t seed = test_seed();

	for (size_t i = 0; i < len; i++) {
		b = malloc(i ? i : 1);
		memcpy(b, buf, i);
		ck_assert_int_eq(kv_txn_decode(b, i, d), KV_ECMD_TXN);
		free(b);
	}
	b = malloc(len + 1);
	memcpy(b, buf, len);
	b[len] = 0;
	ck_assert_int_eq(kv_txn_decode(b, len + 1, d), KV_ECMD_TXN);
	free(b);
	/* Counts above the limits, before any element is read. */
	b = malloc(len);
	memcpy(b, buf, len);
	le_put_u16(b, KV_TXN_MAX_COMPARES + 1);
	ck_assert_int_eq(kv_txn_decode(b, len, d), KV_ECMD_TXN);
	le_put_u16(b, 3);
	le_put_u16(b + 4, 0xFFFF);
	ck_assert_int_eq(kv_txn_decode(b, len, d), KV_ECMD_TXN);
	/* A key length of 512 and a huge value length. */
	memcpy(b, buf, len);
	le_put_u16(b + 10, KV_KEY_MAX + 1);
	ck_assert_int_eq(kv_txn_decode(b, len, d), KV_ECMD_TXN);
	memcpy(b, buf, len);
	le_put_u32(b + 12, 0xFFFFFFFFu);
	ck_assert_int_eq(kv_txn_decode(b, len, d), KV_ECMD_TXN);
	free(b);
	ck_assert_int_eq(kv_txn_decode(NULL, 0, d), KV_ECMD_TXN);
	ck_assert_int_eq(kv_txn_decode(buf, len, NULL), KV_EINVAL);

	re = malloc(len);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = len;
		int flips = 1 + (int)(test_rand(&seed) % 3), rv;

		b = malloc(len);
		memcpy(b, buf, len);
		for (int f = 0; f < flips; f++)
			b[test_rand(&seed) % len] = (uint8_t)test_rand(&seed);
		if (test_rand(&seed) % 4 == 0)
			n = test_rand(&seed) % (len + 1);
		rv = kv_txn_decode(b, n, d);
		if (rv == 0) {
			ck_assert_uint_eq(kv_txn_size(d), n);
			ck_assert_int_eq(kv_txn_encode(d, re, len), (int64_t)n);
			ck_assert_mem_eq(re, b, n);
		} else {
			ck_assert_int_eq(rv, KV_ECMD_TXN);
		}
		free(b);
	}
	free(re);
	free(buf);
	free(t);
	free(d);
}
END_TEST

START_TEST(test_txn_results_reader)
{
	struct kv_txn_item in[4] = {
	    {.type = KV_TXN_PUT, .index = 9},
	    {.type = KV_TXN_GET,
	     .flag = 1,
	     .index = 5,
	     .key = S("k"),
	     .key_len = 1,
	     .value = S("val"),
	     .value_len = 3},
	    {.type = KV_TXN_LIST, .flag = 1, .count = 1},
	    {.type = KV_TXN_ITEM_KV,
	     .index = 4,
	     .key = S("k"),
	     .key_len = 1,
	     .value = S("val"),
	     .value_len = 3},
	};
	struct kv_txn_reader rd;
	struct kv_txn_item it;
	uint8_t blob[256], *p = blob;
	size_t len;

	for (int i = 0; i < 4; i++)
		p = kv_txn_item_write(p, &in[i]);
	len = (size_t)(p - blob);
	ck_assert_uint_eq(len, 4 * 24 + 2 * 4);
	ck_assert_uint_eq(kv_txn_item_size(1, 3), 28);
	kv_txn_result_begin(&rd, blob, len);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(kv_txn_result_next(&rd, &it), 1);
		ck_assert_uint_eq(it.type, in[i].type);
		ck_assert_uint_eq(it.flag, in[i].flag);
		ck_assert_uint_eq(it.index, in[i].index);
		ck_assert_uint_eq(it.count, in[i].count);
		ck_assert_uint_eq(it.key_len, in[i].key_len);
		ck_assert_uint_eq(it.value_len, in[i].value_len);
		if (it.value_len)
			ck_assert_mem_eq(it.value, in[i].value, it.value_len);
	}
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), 0);
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), 0);
	/* Empty results. */
	kv_txn_result_begin(&rd, NULL, 0);
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), 0);
	/* Every cut is malformed, never over-read; so are a bad type, flag
	 * and key length. */
	for (size_t n = 1; n < len; n++) {
		uint8_t *c = malloc(n);
		int rv;

		memcpy(c, blob, n);
		kv_txn_result_begin(&rd, c, n);
		while ((rv = kv_txn_result_next(&rd, &it)) == 1)
			;
		ck_assert_int_eq(
		    rv, (n == 24 || n == 52 || n == 76) ? 0 : KV_ECORRUPT);
		free(c);
	}
	blob[0] = 0;
	kv_txn_result_begin(&rd, blob, len);
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), KV_ECORRUPT);
	blob[0] = 7;
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), KV_ECORRUPT);
	blob[0] = KV_TXN_PUT;
	blob[1] = 2;
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), KV_ECORRUPT);
	blob[1] = 0;
	le_put_u16(blob + 2, KV_KEY_MAX + 1);
	ck_assert_int_eq(kv_txn_result_next(&rd, &it), KV_ECORRUPT);
}
END_TEST

Suite *kv_txn_codec_suite(void)
{
	Suite *s = suite_create("kv-txn-codec");
	TCase *tc = tcase_create("ops");

	tcase_add_test(tc, test_put_with_lease);
	tcase_add_test(tc, test_delete_prefix_rules);
	tcase_add_test(tc, test_lease_op_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("txn");
	tcase_add_test(tc, test_txn_round_trip);
	tcase_add_test(tc, test_txn_unused_fields);
	tcase_add_test(tc, test_txn_check_rules);
	tcase_add_test(tc, test_txn_check_writes_once);
	tcase_add_test(tc, test_txn_truncations_and_mutations);
	tcase_add_test(tc, test_txn_results_reader);
	suite_add_tcase(s, tc);
	return s;
}
