/* apply_txn.c - applies transactions (§1.7) and prefix deletes, and holds
 * the arena their results are handed out from.
 *
 * A transaction's compares read the state before it; then the ops of the
 * branch taken run in order in a nested LMDB transaction, so a get after a
 * put of the same key sees the new value, and a transaction that fails
 * part way (a put to a lease that does not exist, results over
 * KV_TXN_RESULT_MAX) is aborted whole: its writes, events and lease
 * attachments vanish with it, and every member decides the same. */
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "byteorder.h"

/* One block of results: never moves once linked into kv->arena. */
struct kv_arena {
	struct kv_arena *next;
	size_t len, cap;
	uint8_t data[];
};

void kv_arena_reset(struct kv *kv)
{
	while (kv->arena != NULL) {
		struct kv_arena *next = kv->arena->next;
		free(kv->arena);
		kv->arena = next;
	}
}

static void arena_link(struct kv *kv, struct kv_arena *a)
{
	a->next = kv->arena;
	kv->arena = a;
}

const uint8_t *kv_arena_copy(struct kv *kv, const uint8_t *src, size_t len)
{
	struct kv_arena *a = malloc(sizeof(*a) + len);

	if (a == NULL)
		return NULL;
	a->len = a->cap = len;
	if (len != 0)
		memcpy(a->data, src, len);
	arena_link(kv, a);
	return a->data;
}

/* The results of one transaction while it runs: a block not yet linked,
 * so it may still move. */
struct results {
	struct kv_arena *blk;
	int too_large;
};

/* Room for @need more bytes; 0, KV_ENOMEM, or 1 when the results would
 * exceed KV_TXN_RESULT_MAX (res->too_large set). */
static int reserve(struct results *res, size_t need)
{
	size_t len = res->blk != NULL ? res->blk->len : 0;
	size_t cap = res->blk != NULL ? res->blk->cap : 0;
	struct kv_arena *b;

	if (need > KV_TXN_RESULT_MAX - len) {
		res->too_large = 1;
		return 1;
	}
	if (len + need <= cap)
		return 0;
	cap = cap < 4096 ? 4096 : cap;
	while (cap < len + need)
		cap *= 2;
	if (cap > KV_TXN_RESULT_MAX)
		cap = KV_TXN_RESULT_MAX;
	b = realloc(res->blk, sizeof(*b) + cap);
	if (b == NULL)
		return KV_ENOMEM;
	if (res->blk == NULL)
		b->len = 0;
	b->cap = cap;
	b->next = NULL;
	res->blk = b;
	return 0;
}

/* Appends @it; returns its offset in the block through @at (may be
 * NULL). 0, 1 (too large) or KV_ENOMEM. */
static int add_item(struct results *res, const struct kv_txn_item *it,
		    size_t *at)
{
	int rv = reserve(res, kv_txn_item_size(it->key_len, it->value_len));

	if (rv != 0)
		return rv;
	if (at != NULL)
		*at = res->blk->len;
	uint8_t *end = kv_txn_item_write(res->blk->data + res->blk->len, it);
	res->blk->len = (size_t)(end - res->blk->data);
	return 0;
}

/* Whether @op holds of an order @d (< 0, 0, > 0: less, equal, greater). */
static int holds(uint8_t op, int d)
{
	switch (op) {
	case KV_CMP_EQ:
		return d == 0;
	case KV_CMP_NE:
		return d != 0;
	case KV_CMP_LT:
		return d < 0;
	case KV_CMP_GT:
		return d > 0;
	}
	return 0;
}

static int order_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Whether compare @cmp holds on the state of c->txn: 1, 0 or a negative
 * code. */
static int compare_holds(struct apply_ctx *c, const struct kv_compare *cmp)
{
	MDB_val k = {cmp->key_len, (void *)cmp->key}, v;
	int rc = mdb_get(c->txn, c->kv->data, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "reading a compared key");
	if (rc == 0 && v.mv_size < VALUE_HDR)
		return KV_ECORRUPT;
	switch (cmp->target) {
	case KV_CMP_MOD:
		return holds(cmp->op,
			     order_u64(rc == 0 ? le_get_u64(v.mv_data) : 0,
				       cmp->number));
	case KV_CMP_EXISTS:
		return holds(cmp->op, order_u64(rc == 0, cmp->number));
	case KV_CMP_VALUE:
		/* An absent key has no value: only != holds. */
		if (rc == MDB_NOTFOUND)
			return cmp->op == KV_CMP_NE;
		/* Bytes first, then length: "ab" < "abc" < "b". */
		size_t n = v.mv_size - VALUE_HDR, m = cmp->value_len;
		size_t common = n < m ? n : m;
		int d = common != 0
			    ? memcmp((const uint8_t *)v.mv_data + VALUE_HDR,
				     cmp->value, common)
			    : 0;
		return holds(cmp->op, d != 0 ? d : order_u64(n, m));
	}
	return KV_ECORRUPT; /* kv_txn_decode() allows no other target */
}

/* A list op: its item, then up to limit KV items, from c->txn (which holds
 * the transaction's earlier writes). 0, 1 (too large) or a code. */
static int run_list(struct apply_ctx *c, const struct kv_txn_op *o,
		    struct results *res)
{
	struct kv_txn_item it = {.type = KV_TXN_LIST};
	MDB_cursor *cur;
	MDB_val k, v;
	size_t at;
	uint64_t n = 0;
	int rc, rv;

	rv = add_item(res, &it, &at);
	if (rv != 0)
		return rv;
	rc = mdb_cursor_open(c->txn, c->kv->data, &cur);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "opening a cursor");
	if (o->key_len == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	} else {
		k.mv_size = o->key_len;
		k.mv_data = (void *)o->key;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < o->key_len ||
		    (o->key_len != 0 &&
		     memcmp(k.mv_data, o->key, o->key_len) != 0))
			break;
		if (n == o->limit) {
			res->blk->data[at + 1] = 1; /* more */
			break;
		}
		if (v.mv_size < VALUE_HDR || k.mv_size > KV_KEY_MAX) {
			rv = KV_ECORRUPT;
			break;
		}
		it = (struct kv_txn_item){.type = KV_TXN_ITEM_KV,
					  .index = le_get_u64(v.mv_data),
					  .key = k.mv_data,
					  .key_len = k.mv_size,
					  .value = (const uint8_t *)v.mv_data +
						   VALUE_HDR,
					  .value_len = v.mv_size - VALUE_HDR};
		rv = add_item(res, &it, NULL);
		if (rv != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rv != 0)
		return rv;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "listing");
	le_put_u64(res->blk->data + at + 16, n);
	return 0;
}

/* Runs op @o of the branch taken. 0, 1 (the transaction fails: *@status
 * says why) or a negative code. */
static int run_op(struct apply_ctx *c, struct apply_entry *e,
		  const struct kv_txn_op *o, struct results *res,
		  uint8_t *status)
{
	struct kv_txn_item it = {.type = o->type};
	MDB_val k = {o->key_len, (void *)o->key}, v;
	int rv, rc, flag;

	switch (o->type) {
	case KV_TXN_PUT:
		if (o->lease != 0) {
			rv = apply_lease_exists(c, o->lease);
			if (rv < 0)
				return rv;
			if (rv == 0) {
				*status = KV_LEASE_NOT_FOUND;
				return 1;
			}
		}
		rv = apply_put_key(c, e, o->key, o->key_len, o->value,
				   o->value_len, o->lease);
		if (rv != 0)
			return rv;
		it.index = e->index;
		break;
	case KV_TXN_DELETE:
		rv = apply_delete_key(c, e, o->key, o->key_len, &flag);
		if (rv != 0)
			return rv;
		it.flag = (uint8_t)flag;
		break;
	case KV_TXN_DELETE_PREFIX:
		rv = apply_delete_prefix(c, e, o->key, o->key_len, &it.count);
		if (rv != 0)
			return rv;
		break;
	case KV_TXN_GET:
		rc = mdb_get(c->txn, c->kv->data, &k, &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return apply_mdb_fail(c, rc, "reading a key");
		it.key = o->key;
		it.key_len = o->key_len;
		if (rc == 0) {
			if (v.mv_size < VALUE_HDR)
				return KV_ECORRUPT;
			it.flag = 1;
			it.index = le_get_u64(v.mv_data);
			it.value = (const uint8_t *)v.mv_data + VALUE_HDR;
			it.value_len = v.mv_size - VALUE_HDR;
		}
		break;
	case KV_TXN_LIST:
		rv = run_list(c, o, res);
		goto done;
	default:
		return KV_ECORRUPT; /* kv_txn_decode() allows no other type */
	}
	rv = add_item(res, &it, NULL);
done:
	if (rv == 1)
		*status = KV_TOO_LARGE;
	return rv;
}

int apply_txn(struct apply_ctx *c, const struct kv_txn *t, raft_index index,
	      struct kv_result *r)
{
	struct apply_entry e = {.index = index, .n = 0};
	struct results res = {NULL, 0};
	MDB_txn *parent = c->txn, *child;
	uint8_t status = KV_APPLIED;
	int branch = 0, rv = 0, rc;

	r->index = index;
	/* Every compare on the state before the transaction; all must
	 * hold for the success branch. */
	for (size_t i = 0; i < t->n_compares && branch == 0; i++) {
		rv = compare_holds(c, &t->compares[i]);
		if (rv < 0)
			return rv;
		if (rv == 0)
			branch = 1;
	}
	rc = mdb_txn_begin(c->kv->env, parent, 0, &child);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "beginning a transaction");
	c->txn = child;
	rv = 0;
	for (size_t i = 0; i < t->n_ops[branch] && rv == 0; i++)
		rv = run_op(c, &e, &t->ops[branch][i], &res, &status);
	c->txn = parent;
	if (rv != 0) {
		/* Failed (1) or an error (< 0): nothing of it stays. */
		mdb_txn_abort(child);
		free(res.blk);
		if (rv < 0)
			return rv;
		r->status = status;
		return 0;
	}
	rc = mdb_txn_commit(child);
	if (rc != 0) {
		free(res.blk);
		return apply_mdb_fail(c, rc, "committing a transaction");
	}
	r->status = KV_APPLIED;
	r->succeeded = branch == 0;
	if (res.blk != NULL) {
		arena_link(c->kv, res.blk);
		r->txn = res.blk->data;
		r->txn_len = res.blk->len;
	}
	return 0;
}

int apply_delete_prefix_op(struct apply_ctx *c, const struct kv_cmd *cmd,
			   raft_index index, struct kv_result *r)
{
	struct apply_entry e = {.index = index, .n = 0};

	r->index = index;
	r->status = KV_APPLIED;
	return apply_delete_prefix(c, &e, cmd->key, cmd->key_len, &r->count);
}
