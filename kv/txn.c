/* txn.c - the transaction body codec (the value of a KV_OP_TXN command)
 * and the results blob apply hands out (docs/FORMAT.md, "Transactions").
 *
 * Body, all integers little-endian:
 *   [n_compares u16][n_success u16][n_failure u16][reserved u16 = 0]
 *   n_compares x [target u8][op u8][key_len u16][value_len u32]
 *                [number u64][key][value]
 *   n_success + n_failure x [type u8][reserved u8 = 0][key_len u16]
 *                [value_len u32][lease u64][limit u32][key][value]
 * Results: one item per op of the branch taken (a LIST followed by its
 * KV items):
 *   [type u8][flag u8][key_len u16][value_len u32][index u64][count u64]
 *   [key][value]
 * Fields a compare target or op type does not take are written as zero
 * and must be zero when decoded, so that a body has one encoding and
 * decode(encode(t)) re-encodes to the same bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "kv.h"
#include "kv_internal.h"

#define BODY_HDR    8
#define COMPARE_HDR 16
#define OP_HDR	    20
#define ITEM_HDR    24

_Static_assert(KV_TXN_MAX_COMPARES <= UINT16_MAX &&
		   KV_TXN_MAX_OPS <= UINT16_MAX,
	       "the counts fit their u16 fields");

/* KV_ECMD_TXN, with the rule broken in @why. */
__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whylen,
						      const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen != 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return KV_ECMD_TXN;
}

/* The value bytes an op or compare carries: only PUT and VALUE do. */
static size_t op_value_len(const struct kv_txn_op *o)
{
	return o->type == KV_TXN_PUT ? o->value_len : 0;
}

static size_t cmp_value_len(const struct kv_compare *c)
{
	return c->target == KV_CMP_VALUE ? c->value_len : 0;
}

static int is_prefix(const uint8_t *p, size_t plen, const uint8_t *k,
		     size_t klen)
{
	return plen <= klen && (plen == 0 || memcmp(p, k, plen) == 0);
}

static int is_write(uint8_t type)
{
	return type == KV_TXN_PUT || type == KV_TXN_DELETE ||
	       type == KV_TXN_DELETE_PREFIX;
}

/* Whether writes @a and @b of one branch touch a common key: two point
 * writes of the same key, a prefix covering a point write, or two
 * prefixes one of which starts with the other. */
static int writes_overlap(const struct kv_txn_op *a, const struct kv_txn_op *b)
{
	int ap = a->type == KV_TXN_DELETE_PREFIX;
	int bp = b->type == KV_TXN_DELETE_PREFIX;

	if (ap && bp)
		return is_prefix(a->key, a->key_len, b->key, b->key_len) ||
		       is_prefix(b->key, b->key_len, a->key, a->key_len);
	if (ap)
		return is_prefix(a->key, a->key_len, b->key, b->key_len);
	if (bp)
		return is_prefix(b->key, b->key_len, a->key, a->key_len);
	return a->key_len == b->key_len &&
	       memcmp(a->key, b->key, a->key_len) == 0;
}

static int check_compare(const struct kv_compare *c, size_t i, char *why,
			 size_t whylen)
{
	if (c->target < KV_CMP_MOD || c->target > KV_CMP_EXISTS)
		return fail(why, whylen, "compare %zu: unknown target %u", i,
			    c->target);
	if (c->op < KV_CMP_EQ || c->op > KV_CMP_GT)
		return fail(why, whylen, "compare %zu: unknown operator %u", i,
			    c->op);
	if (c->target == KV_CMP_EXISTS && c->op != KV_CMP_EQ &&
	    c->op != KV_CMP_NE)
		return fail(why, whylen,
			    "compare %zu: exists takes == and != only", i);
	if (c->target == KV_CMP_EXISTS && c->number > 1)
		return fail(why, whylen,
			    "compare %zu: exists compares with 0 or 1", i);
	if (!kv_key_valid(c->key, c->key_len))
		return fail(why, whylen,
			    "compare %zu: key of %zu bytes is not a valid key",
			    i, c->key_len);
	if (c->target == KV_CMP_VALUE) {
		if (c->value_len > KV_VALUE_MAX)
			return fail(why, whylen,
				    "compare %zu: value of %zu bytes is too "
				    "long",
				    i, c->value_len);
		if (c->value == NULL && c->value_len != 0)
			return fail(why, whylen, "compare %zu: no value", i);
	}
	return 0;
}

static int check_op(const struct kv_txn_op *o, int branch, size_t i, char *why,
		    size_t whylen)
{
	const char *bn = branch == 0 ? "success" : "failure";
	char where[32];

	snprintf(where, sizeof(where), "%s op %zu", bn, i);
	switch (o->type) {
	case KV_TXN_PUT:
		if (!kv_key_allowed(o->key, o->key_len))
			goto bad_key;
		if (o->value_len > KV_VALUE_MAX)
			return fail(why, whylen,
				    "%s: value of %zu bytes is too long", where,
				    o->value_len);
		if (o->value == NULL && o->value_len != 0)
			return fail(why, whylen, "%s: no value", where);
		return 0;
	case KV_TXN_DELETE:
	case KV_TXN_GET:
		if (!kv_key_valid(o->key, o->key_len))
			goto bad_key;
		return 0;
	case KV_TXN_DELETE_PREFIX:
	case KV_TXN_LIST:
		if (o->key_len != 0 && !kv_key_valid(o->key, o->key_len))
			goto bad_key;
		if (o->type == KV_TXN_LIST &&
		    (o->limit < 1 || o->limit > KV_TXN_LIST_MAX))
			return fail(why, whylen,
				    "%s: list limit %u is not 1..10000", where,
				    (unsigned)o->limit);
		return 0;
	}
	return fail(why, whylen, "%s: unknown type %u", where, o->type);
bad_key:
	return fail(why, whylen, "%s: key of %zu bytes is not a valid key",
		    where, o->key_len);
}

int kv_txn_check(const struct kv_txn *t, char *why, size_t whylen)
{
	int rv;

	if (why != NULL && whylen != 0)
		why[0] = '\0';
	if (t == NULL)
		return KV_EINVAL;
	if (t->n_compares > KV_TXN_MAX_COMPARES)
		return fail(why, whylen, "%zu compares (at most %d)",
			    t->n_compares, KV_TXN_MAX_COMPARES);
	for (int b = 0; b < 2; b++)
		if (t->n_ops[b] > KV_TXN_MAX_OPS)
			return fail(why, whylen, "%zu %s ops (at most %d)",
				    t->n_ops[b], b == 0 ? "success" : "failure",
				    KV_TXN_MAX_OPS);
	for (size_t i = 0; i < t->n_compares; i++) {
		rv = check_compare(&t->compares[i], i, why, whylen);
		if (rv != 0)
			return rv;
	}
	for (int b = 0; b < 2; b++) {
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			rv = check_op(&t->ops[b][i], b, i, why, whylen);
			if (rv != 0)
				return rv;
		}
		/* At most 128 ops: the pairs are at most 8128. */
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			const struct kv_txn_op *a = &t->ops[b][i];
			if (!is_write(a->type))
				continue;
			for (size_t j = i + 1; j < t->n_ops[b]; j++) {
				const struct kv_txn_op *o = &t->ops[b][j];
				if (is_write(o->type) && writes_overlap(a, o))
					return fail(why, whylen,
						    "%s ops %zu and %zu write "
						    "the same key",
						    b == 0 ? "success"
							   : "failure",
						    i, j);
			}
		}
	}
	return 0;
}

size_t kv_txn_size(const struct kv_txn *t)
{
	size_t n = BODY_HDR;

	for (size_t i = 0; i < t->n_compares && i < KV_TXN_MAX_COMPARES; i++)
		n += COMPARE_HDR + t->compares[i].key_len +
		     cmp_value_len(&t->compares[i]);
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < t->n_ops[b] && i < KV_TXN_MAX_OPS; i++)
			n += OP_HDR + t->ops[b][i].key_len +
			     op_value_len(&t->ops[b][i]);
	return n;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *src, size_t n)
{
	if (n != 0)
		memcpy(p, src, n);
	return p + n;
}

int64_t kv_txn_encode(const struct kv_txn *t, uint8_t *out, size_t cap)
{
	size_t size;
	uint8_t *p = out;
	int rv = kv_txn_check(t, NULL, 0);

	if (rv != 0)
		return rv;
	size = kv_txn_size(t);
	if (out == NULL || cap < size || size > INT64_MAX)
		return KV_EINVAL;
	le_put_u16(p, (uint16_t)t->n_compares);
	le_put_u16(p + 2, (uint16_t)t->n_ops[0]);
	le_put_u16(p + 4, (uint16_t)t->n_ops[1]);
	le_put_u16(p + 6, 0);
	p += BODY_HDR;
	for (size_t i = 0; i < t->n_compares; i++) {
		const struct kv_compare *c = &t->compares[i];
		size_t vlen = cmp_value_len(c);

		p[0] = c->target;
		p[1] = c->op;
		le_put_u16(p + 2, (uint16_t)c->key_len);
		le_put_u32(p + 4, (uint32_t)vlen);
		le_put_u64(p + 8, c->target == KV_CMP_VALUE ? 0 : c->number);
		p = put_bytes(p + COMPARE_HDR, c->key, c->key_len);
		p = put_bytes(p, c->value, vlen);
	}
	for (int b = 0; b < 2; b++) {
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			const struct kv_txn_op *o = &t->ops[b][i];
			size_t vlen = op_value_len(o);

			p[0] = o->type;
			p[1] = 0;
			le_put_u16(p + 2, (uint16_t)o->key_len);
			le_put_u32(p + 4, (uint32_t)vlen);
			le_put_u64(p + 8, o->type == KV_TXN_PUT ? o->lease : 0);
			le_put_u32(p + 16,
				   o->type == KV_TXN_LIST ? o->limit : 0);
			p = put_bytes(p + OP_HDR, o->key, o->key_len);
			p = put_bytes(p, o->value, vlen);
		}
	}
	if ((size_t)(p - out) != size)
		return KV_EINVAL; /* not reached: kv_txn_size() agrees */
	return (int64_t)size;
}

int kv_txn_decode(const uint8_t *buf, size_t len, struct kv_txn *t)
{
	const uint8_t *p = buf, *end;

	if (t == NULL || (buf == NULL && len != 0))
		return KV_EINVAL;
	if (len < BODY_HDR)
		return KV_ECMD_TXN;
	end = buf + len;
	t->n_compares = le_get_u16(p);
	t->n_ops[0] = le_get_u16(p + 2);
	t->n_ops[1] = le_get_u16(p + 4);
	if (le_get_u16(p + 6) != 0 || t->n_compares > KV_TXN_MAX_COMPARES ||
	    t->n_ops[0] > KV_TXN_MAX_OPS || t->n_ops[1] > KV_TXN_MAX_OPS)
		return KV_ECMD_TXN;
	p += BODY_HDR;
	for (size_t i = 0; i < t->n_compares; i++) {
		struct kv_compare *c = &t->compares[i];
		size_t klen, vlen;

		if ((size_t)(end - p) < COMPARE_HDR)
			return KV_ECMD_TXN;
		c->target = p[0];
		c->op = p[1];
		klen = le_get_u16(p + 2);
		vlen = le_get_u32(p + 4);
		c->number = le_get_u64(p + 8);
		p += COMPARE_HDR;
		/* Each length against what is left, one at a time: no sum
		 * that could wrap. */
		if (klen > KV_KEY_MAX || klen > (size_t)(end - p))
			return KV_ECMD_TXN;
		c->key = klen ? p : NULL;
		c->key_len = klen;
		p += klen;
		if (vlen > (size_t)(end - p))
			return KV_ECMD_TXN;
		c->value = vlen ? p : NULL;
		c->value_len = vlen;
		p += vlen;
		if ((c->target != KV_CMP_VALUE && vlen != 0) ||
		    (c->target == KV_CMP_VALUE && c->number != 0))
			return KV_ECMD_TXN;
	}
	for (int b = 0; b < 2; b++) {
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			struct kv_txn_op *o = &t->ops[b][i];
			size_t klen, vlen;

			if ((size_t)(end - p) < OP_HDR)
				return KV_ECMD_TXN;
			o->type = p[0];
			klen = le_get_u16(p + 2);
			vlen = le_get_u32(p + 4);
			o->lease = le_get_u64(p + 8);
			o->limit = le_get_u32(p + 16);
			if (p[1] != 0)
				return KV_ECMD_TXN;
			p += OP_HDR;
			if (klen > KV_KEY_MAX || klen > (size_t)(end - p))
				return KV_ECMD_TXN;
			o->key = klen ? p : NULL;
			o->key_len = klen;
			p += klen;
			if (vlen > (size_t)(end - p))
				return KV_ECMD_TXN;
			o->value = vlen ? p : NULL;
			o->value_len = vlen;
			p += vlen;
			if ((o->type != KV_TXN_PUT &&
			     (vlen != 0 || o->lease != 0)) ||
			    (o->type != KV_TXN_LIST && o->limit != 0))
				return KV_ECMD_TXN;
		}
	}
	if (p != end)
		return KV_ECMD_TXN;
	return kv_txn_check(t, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

size_t kv_txn_item_size(size_t key_len, size_t value_len)
{
	return ITEM_HDR + key_len + value_len;
}

uint8_t *kv_txn_item_write(uint8_t *out, const struct kv_txn_item *it)
{
	out[0] = it->type;
	out[1] = it->flag;
	le_put_u16(out + 2, (uint16_t)it->key_len);
	le_put_u32(out + 4, (uint32_t)it->value_len);
	le_put_u64(out + 8, it->index);
	le_put_u64(out + 16, it->count);
	out = put_bytes(out + ITEM_HDR, it->key, it->key_len);
	return put_bytes(out, it->value, it->value_len);
}

void kv_txn_result_begin(struct kv_txn_reader *rd, const uint8_t *blob,
			 size_t len)
{
	rd->p = blob;
	rd->end = blob != NULL ? blob + len : NULL;
}

int kv_txn_result_next(struct kv_txn_reader *rd, struct kv_txn_item *it)
{
	const uint8_t *p = rd->p;
	size_t klen, vlen;

	if (p == rd->end)
		return 0;
	if (p == NULL || rd->end == NULL || p > rd->end ||
	    (size_t)(rd->end - p) < ITEM_HDR)
		return KV_ECORRUPT;
	it->type = p[0];
	it->flag = p[1];
	klen = le_get_u16(p + 2);
	vlen = le_get_u32(p + 4);
	it->index = le_get_u64(p + 8);
	it->count = le_get_u64(p + 16);
	if (it->type < KV_TXN_PUT || it->type > KV_TXN_ITEM_KV ||
	    it->flag > 1 || klen > KV_KEY_MAX)
		return KV_ECORRUPT;
	p += ITEM_HDR;
	if (klen > (size_t)(rd->end - p) || vlen > (size_t)(rd->end - p - klen))
		return KV_ECORRUPT;
	it->key = klen ? p : NULL;
	it->key_len = klen;
	it->value = vlen ? p + klen : NULL;
	it->value_len = vlen;
	rd->p = p + klen + vlen;
	return 1;
}
