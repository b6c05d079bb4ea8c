/* fuzz_command.c - libFuzzer target for the state machine command codec
 * (kv_cmd_decode and kv_key_valid, kv/kv.h; TXN bodies: fuzz_txn.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An independent reading of kv.h's key rule, written from the Unicode
 * table of well-formed UTF-8 byte sequences (Unicode 15, table 3-7):
 * 1..KV_KEY_MAX bytes, no overlong forms, no surrogates, nothing above
 * U+10FFFF, no byte below 0x20 and no 0x7F. */
static int ref_key_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	if (n < 1 || n > KV_KEY_MAX)
		return 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t need;
		uint32_t cp, min;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int cmd_equal(const struct kv_cmd *a, const struct kv_cmd *b)
{
	return a->op == b->op && a->has_cas == b->has_cas && a->cas == b->cas &&
	       a->client_id == b->client_id && a->seq == b->seq &&
	       a->origin == b->origin && a->request_id == b->request_id &&
	       a->lease == b->lease && a->key_len == b->key_len &&
	       (a->key_len == 0 || memcmp(a->key, b->key, a->key_len) == 0) &&
	       a->value_len == b->value_len &&
	       (a->value_len == 0 ||
		memcmp(a->value, b->value, a->value_len) == 0);
}

/* Decoding the input: success means the encoder gives back exactly the
 * input (the whole input: trailing bytes are an error). */
static void decode_direction(const uint8_t *buf, size_t len)
{
	struct kv_cmd cmd;
	int rc = kv_cmd_decode(buf, len, &cmd);

	if (rc != 0) {
		FUZZ_CHECK(rc <= KV_ECMD_TRUNCATED && rc >= KV_ECMD_AUTH &&
			   rc != KV_ECMD_TXN);
		FUZZ_CHECK(strncmp(kv_strerror(rc), "unknown", 7) != 0);
		return;
	}
	FUZZ_CHECK(len >= KV_CMD_HEADER_SIZE);
	/* The framing decoded; a TXN's body is apply's to decode, and only
	 * the encoder refuses a bad one. */
	rc = kv_cmd_check(&cmd);
	if (cmd.op == KV_OP_TXN && rc == KV_ECMD_TXN)
		return;
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(kv_cmd_size(&cmd) == len);
	FUZZ_CHECK(cmd.op >= KV_OP_PUT && cmd.op <= KV_OP_MAX);
	if (cmd.op == KV_OP_PUT || cmd.op == KV_OP_DELETE)
		FUZZ_CHECK(cmd.key_len > 0);
	if (cmd.key_len > 0) {
		FUZZ_CHECK(cmd.key == buf + KV_CMD_HEADER_SIZE);
		FUZZ_CHECK(ref_key_valid(cmd.key, cmd.key_len));
	} else {
		FUZZ_CHECK(cmd.op != KV_OP_PUT && cmd.op != KV_OP_DELETE);
	}
	FUZZ_CHECK(cmd.op == KV_OP_PUT || cmd.op == KV_OP_TXN ||
		   cmd.op >= KV_OP_LEASE_GRANT || cmd.value_len == 0);
	FUZZ_CHECK(cmd.op == KV_OP_PUT || cmd.lease == 0);
	if (cmd.op == KV_OP_LEASE_GRANT) {
		FUZZ_CHECK(cmd.value_len == 8);
		uint64_t ttl = get_u64(cmd.value);
		FUZZ_CHECK(ttl >= 1 && ttl <= KV_LEASE_TTL_MAX);
	}
	if (cmd.op == KV_OP_LEASE_REVOKE || cmd.op == KV_OP_LEASE_EXPIRE) {
		FUZZ_CHECK(cmd.value_len >= 8 && cmd.value_len % 8 == 0 &&
			   cmd.value_len <= 8 * KV_LEASE_EXPIRE_MAX);
		for (size_t i = 0; i < cmd.value_len; i += 8)
			FUZZ_CHECK(get_u64(cmd.value + i) != 0);
	}
	FUZZ_CHECK(cmd.has_cas || cmd.cas == 0);
	FUZZ_CHECK(cmd.client_id != 0 || cmd.seq == 0);

	uint8_t *re = malloc(len);
	FUZZ_CHECK(re != NULL);
	FUZZ_CHECK(kv_cmd_encode(&cmd, re, len) == (int64_t)len);
	FUZZ_CHECK(memcmp(re, buf, len) == 0);
	/* One byte short of room is refused, never overrun. */
	FUZZ_CHECK(kv_cmd_encode(&cmd, re, len - 1) == KV_EINVAL);
	free(re);
}

/* Encoding a command built from the input: whatever the encoder accepts
 * decodes to the same command. */
static void encode_direction(const uint8_t *data, size_t size)
{
	enum { FIXED = 3 + 5 * 8 + 2 };
	struct kv_cmd cmd, back;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (size < FIXED)
		return;
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = data[0] % 9;
	cmd.has_cas = data[1] % 3;
	cmd.cas = get_u64(data + 3);
	cmd.client_id = get_u64(data + 11);
	cmd.seq = get_u64(data + 19);
	cmd.origin = get_u64(data + 27);
	cmd.request_id = get_u64(data + 35);
	/* Sparse ids are the rule, so often clear the optional ones. */
	if (data[2] & 0x01)
		cmd.cas = 0;
	if (data[2] & 0x02)
		cmd.seq = 0;
	if (data[2] & 0x04)
		cmd.client_id = 0;
	if (data[2] & 0x08)
		cmd.lease = get_u64(data + 3) | 1;
	size_t rest = size - FIXED;
	size_t klen = (size_t)(data[43] | (data[44] << 8)) % 1024;
	if (klen > rest)
		klen = rest;
	cmd.key = data + FIXED;
	cmd.key_len = klen;
	cmd.value = rest > klen ? data + FIXED + klen : NULL;
	cmd.value_len = rest - klen;

	int chk = kv_cmd_check(&cmd);
	int rc = kv_cmd_encode_alloc(&cmd, &buf, &len);
	FUZZ_CHECK(rc == chk);
	if (rc != 0) {
		FUZZ_CHECK(buf == NULL);
		return;
	}
	FUZZ_CHECK(len == kv_cmd_size(&cmd));
	FUZZ_CHECK(cmd.key_len == 0 || ref_key_valid(cmd.key, cmd.key_len));
	FUZZ_CHECK(kv_cmd_decode(buf, len, &back) == 0);
	FUZZ_CHECK(cmd_equal(&cmd, &back));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_dup(data, size);

	decode_direction(buf, size);
	encode_direction(buf, size);
	/* The key rule against the reference, on the raw input and on its
	 * tail past a command header (where keys sit). */
	FUZZ_CHECK(kv_key_valid(buf, size) == ref_key_valid(buf, size));
	if (size > KV_CMD_HEADER_SIZE)
		FUZZ_CHECK(kv_key_valid(buf + KV_CMD_HEADER_SIZE,
					size - KV_CMD_HEADER_SIZE) ==
			   ref_key_valid(buf + KV_CMD_HEADER_SIZE,
					 size - KV_CMD_HEADER_SIZE));
	free(buf);
	return 0;
}
