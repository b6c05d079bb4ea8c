/* txn_json.h - the JSON body of POST /v1/txn (DESIGN.md §1.7) read into a
 * struct kv_txn: strict, pure (no IO), with one precise line per refusal. */
#ifndef SERVER_TXN_JSON_H_
#define SERVER_TXN_JSON_H_

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

/* A list op's limit when the body gives none (as GET /v1/kv's). */
#define TXN_JSON_LIST_LIMIT_DEFAULT 1000

enum txn_json_status {
	TXN_JSON_OK = 0,
	TXN_JSON_BAD = -1,	 /* 400 bad_request: @why says which rule */
	TXN_JSON_TOO_LARGE = -2, /* 413 too_large: a put's value is larger
				  * than the limit given */
	TXN_JSON_NOMEM = -3	 /* 500 internal */
};

/* What the keys and values of a parsed struct kv_txn point into: the JSON
 * tree (keys) and one buffer of decoded base64 (values). Owned by the
 * caller; txn_json_free() releases it once the transaction was encoded. */
struct txn_json {
	void *root;	/* json_t *, the parsed body */
	uint8_t *bytes; /* decoded values, back to back */
	size_t used, cap;
};

/* Reads @len bytes of @body (JSON, need not be NUL-terminated) into @t
 * (zeroed first; about 24 KiB, the caller's): {"compare": [...],
 * "success": [...], "failure": [...]}, each optional (empty when absent),
 * nothing else. Keys are checked as the URL routes check them
 * (kv_key_allowed() for a put's key, kv_key_valid() for the others),
 * base64 strictly (RFC 4648 with padding, no whitespace, no stray bits),
 * numbers as JSON integers in range, and every rule of kv_txn_check().
 * A put's value longer than @max_value bytes is TXN_JSON_TOO_LARGE.
 * @keep holds what @t points into, also after an error (free it with
 * txn_json_free() either way). On an error @why holds one line naming
 * the place (e.g. "success[2].put.key: ..."). */
int txn_json_parse(const char *body, size_t len, uint64_t max_value,
		   struct kv_txn *t, struct txn_json *keep, char *why,
		   size_t whylen);

/* Releases what txn_json_parse() kept (@keep zeroed; safe twice). */
void txn_json_free(struct txn_json *keep);

/* Decodes strict base64 (RFC 4648, padded, no whitespace, the unused bits
 * of the last group zero) of @len chars at @s into @out (room for
 * 3 * @len / 4 bytes). Returns the bytes written, or -1. */
int64_t txn_json_base64_decode(const char *s, size_t len, uint8_t *out);

#endif /* SERVER_TXN_JSON_H_ */
