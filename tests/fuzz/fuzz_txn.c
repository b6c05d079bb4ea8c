/* fuzz_txn.c - libFuzzer target for the transaction body codec
 * (kv_txn_decode/encode/check, kv/kv.h) and the results reader
 * (kv_txn_result_next). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What kv_txn_check() promises of a decoded transaction, read again
 * independently of it. */
static void check_shape(const struct kv_txn *t)
{
	FUZZ_CHECK(t->n_compares <= KV_TXN_MAX_COMPARES);
	for (size_t i = 0; i < t->n_compares; i++) {
		const struct kv_compare *c = &t->compares[i];
		FUZZ_CHECK(c->target >= KV_CMP_MOD &&
			   c->target <= KV_CMP_EXISTS);
		FUZZ_CHECK(c->op >= KV_CMP_EQ && c->op <= KV_CMP_GT);
		FUZZ_CHECK(kv_key_valid(c->key, c->key_len));
		FUZZ_CHECK(c->target == KV_CMP_VALUE || c->value_len == 0);
	}
	for (int b = 0; b < 2; b++) {
		FUZZ_CHECK(t->n_ops[b] <= KV_TXN_MAX_OPS);
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			const struct kv_txn_op *o = &t->ops[b][i];
			FUZZ_CHECK(o->type >= KV_TXN_PUT &&
				   o->type <= KV_TXN_LIST);
			FUZZ_CHECK(o->key_len <= KV_KEY_MAX);
			FUZZ_CHECK(o->type == KV_TXN_PUT ||
				   (o->value_len == 0 && o->lease == 0));
			if (o->type == KV_TXN_LIST)
				FUZZ_CHECK(o->limit >= 1 &&
					   o->limit <= KV_TXN_LIST_MAX);
			/* No two writes of one branch touch one key. */
			for (size_t j = 0; j < i; j++) {
				const struct kv_txn_op *p = &t->ops[b][j];
				if (o->type > KV_TXN_DELETE_PREFIX ||
				    p->type > KV_TXN_DELETE_PREFIX)
					continue;
				if (o->type != KV_TXN_DELETE_PREFIX &&
				    p->type != KV_TXN_DELETE_PREFIX)
					FUZZ_CHECK(o->key_len != p->key_len ||
						   memcmp(o->key, p->key,
							  o->key_len) != 0);
			}
		}
	}
}

/* The input as a body: decodes to a transaction that re-encodes to the
 * very same bytes, or is refused with KV_ECMD_TXN. */
static void body_direction(const uint8_t *buf, size_t len, struct kv_txn *t)
{
	int rc = kv_txn_decode(buf, len, t);

	if (rc != 0) {
		FUZZ_CHECK(rc == KV_ECMD_TXN);
		return;
	}
	check_shape(t);
	FUZZ_CHECK(kv_txn_check(t, NULL, 0) == 0);
	FUZZ_CHECK(kv_txn_size(t) == len);
	uint8_t *re = malloc(len);
	FUZZ_CHECK(re != NULL);
	FUZZ_CHECK(kv_txn_encode(t, re, len) == (int64_t)len);
	FUZZ_CHECK(memcmp(re, buf, len) == 0);
	FUZZ_CHECK(kv_txn_encode(t, re, len - 1) == KV_EINVAL);
	free(re);

	/* As a TXN command: the encoder accepts it, the decoder frames it. */
	struct kv_cmd c = {.op = KV_OP_TXN, .value = buf, .value_len = len},
		      back;
	uint8_t *cmd = NULL;
	size_t clen = 0;
	FUZZ_CHECK(kv_cmd_encode_alloc(&c, &cmd, &clen) == 0);
	FUZZ_CHECK(kv_cmd_decode(cmd, clen, &back) == 0);
	FUZZ_CHECK(back.value_len == len && memcmp(back.value, buf, len) == 0);
	free(cmd);
}

/* The input as a results blob: the reader stops at the end or reports
 * KV_ECORRUPT, and every item it hands out lies inside the blob. */
static void results_direction(const uint8_t *buf, size_t len)
{
	struct kv_txn_reader rd;
	struct kv_txn_item it;
	int rc;

	kv_txn_result_begin(&rd, buf, len);
	while ((rc = kv_txn_result_next(&rd, &it)) == 1) {
		FUZZ_CHECK(it.type >= KV_TXN_PUT && it.type <= KV_TXN_ITEM_KV);
		FUZZ_CHECK(it.key_len <= KV_KEY_MAX);
		if (it.key_len)
			FUZZ_CHECK(it.key >= buf &&
				   it.key + it.key_len <= buf + len);
		if (it.value_len)
			FUZZ_CHECK(it.value >= buf &&
				   it.value + it.value_len <= buf + len);
	}
	FUZZ_CHECK(rc == 0 || rc == KV_ECORRUPT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_dup(data, size);
	struct kv_txn *t = malloc(sizeof(*t));

	FUZZ_CHECK(t != NULL);
	body_direction(buf, size, t);
	results_direction(buf, size);
	free(t);
	free(buf);
	return 0;
}
