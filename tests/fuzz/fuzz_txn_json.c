/* fuzz_txn_json.c - libFuzzer target for POST /v1/txn's body parser
 * (server/txn_json.c): any bytes as the body; whatever it accepts passes
 * kv_txn_check(), encodes and decodes to the same transaction; its
 * base64 is one text per byte string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kv.h"
#include "txn_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The put value limit the target passes: small, so that 413 is reached. */
#define MAX_VALUE 64

static struct kv_txn txn, back;

static int same_bytes(const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Padded RFC 4648 base64 of @len bytes at @p into @dst (NUL-ended). */
static void b64(const uint8_t *p, size_t len, char *dst)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				  "tuvwxyz0123456789+/";
	size_t w = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		dst[w++] = tab[v >> 18 & 63];
		dst[w++] = tab[v >> 12 & 63];
		dst[w++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		dst[w++] = i + 2 < len ? tab[v & 63] : '=';
	}
	dst[w] = '\0';
}

static void check_base64(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(size / 4 * 3 + 1);
	char *again = malloc(size + 5);
	FUZZ_CHECK(out != NULL && again != NULL);
	int64_t n = txn_json_base64_decode((const char *)data, size, out);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n <= size / 4 * 3);
		b64(out, (size_t)n, again);
		FUZZ_CHECK(strlen(again) == size &&
			   memcmp(again, data, size) == 0);
	}
	free(out);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_base64(data, size);
	uint8_t *body = fuzz_dup(data, size);
	struct txn_json keep;
	char why[256];
	int rc = txn_json_parse((const char *)body, size, MAX_VALUE, &txn,
				&keep, why, sizeof(why));
	FUZZ_CHECK(rc == TXN_JSON_OK || rc == TXN_JSON_BAD ||
		   rc == TXN_JSON_TOO_LARGE || rc == TXN_JSON_NOMEM);
	FUZZ_CHECK(rc == TXN_JSON_OK || why[0] != '\0');
	if (rc == TXN_JSON_OK) {
		FUZZ_CHECK(kv_txn_check(&txn, NULL, 0) == 0);
		size_t len = kv_txn_size(&txn);
		uint8_t *enc = malloc(len > 0 ? len : 1);
		FUZZ_CHECK(enc != NULL);
		FUZZ_CHECK(kv_txn_encode(&txn, enc, len) == (int64_t)len);
		FUZZ_CHECK(kv_txn_decode(enc, len, &back) == 0);
		FUZZ_CHECK(back.n_compares == txn.n_compares);
		for (size_t i = 0; i < txn.n_compares; i++) {
			const struct kv_compare *a = &txn.compares[i],
						*b = &back.compares[i];
			FUZZ_CHECK(a->target == b->target && a->op == b->op);
			FUZZ_CHECK(same_bytes(a->key, a->key_len, b->key,
					      b->key_len));
			FUZZ_CHECK(a->target == KV_CMP_VALUE
				       ? same_bytes(a->value, a->value_len,
						    b->value, b->value_len)
				       : a->number == b->number);
		}
		for (int br = 0; br < 2; br++) {
			FUZZ_CHECK(back.n_ops[br] == txn.n_ops[br]);
			for (size_t i = 0; i < txn.n_ops[br]; i++) {
				const struct kv_txn_op *a = &txn.ops[br][i],
						       *b = &back.ops[br][i];
				FUZZ_CHECK(a->type == b->type);
				FUZZ_CHECK(same_bytes(a->key, a->key_len,
						      b->key, b->key_len));
				if (a->type == KV_TXN_PUT) {
					FUZZ_CHECK(a->value_len <= MAX_VALUE);
					FUZZ_CHECK(a->lease == b->lease);
					FUZZ_CHECK(same_bytes(
					    a->value, a->value_len, b->value,
					    b->value_len));
				}
				if (a->type == KV_TXN_LIST)
					FUZZ_CHECK(a->limit == b->limit &&
						   a->limit >= 1 &&
						   a->limit <= KV_TXN_LIST_MAX);
			}
		}
		free(enc);
	}
	txn_json_free(&keep);
	free(body);
	return 0;
}
