/* test_codec.c - the command codec (round trips, byte layout, every
 * malformed input) and kv_key_valid()'s UTF-8 and control-character rules. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "test_kv.h"

static struct kv_cmd sample(void)
{
	struct kv_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = KV_OP_PUT;
	c.has_cas = 1;
	c.cas = 0x1122334455667788ull;
	c.client_id = 0xA1A2A3A4A5A6A7A8ull;
	c.seq = 42;
	c.origin = 3;
	c.request_id = 0xFFFFFFFFFFFFFFFFull;
	c.key = (const uint8_t *)"users/\xc3\xa9t\xc3\xa9";
	c.key_len = strlen((const char *)c.key);
	c.value = (const uint8_t *)"hello\0world";
	c.value_len = 11;
	return c;
}

/* Encodes @c into an exactly sized malloc'd buffer, so ASan catches any
 * read past its end by the decoder. */
static uint8_t *encode(const struct kv_cmd *c, size_t *len)
{
	uint8_t *buf = NULL;

	ck_assert_int_eq(kv_cmd_encode_alloc(c, &buf, len), 0);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(*len, kv_cmd_size(c));
	return buf;
}

START_TEST(test_round_trip_put_with_cas)
{
	struct kv_cmd c = sample(), d;
	size_t len;
	uint8_t *buf = encode(&c, &len);

	ck_assert_uint_eq(len, KV_CMD_HEADER_SIZE + c.key_len + 11);
	ck_assert_int_eq(kv_cmd_decode(buf, len, &d), 0);
	ck_assert_uint_eq(d.op, KV_OP_PUT);
	ck_assert_uint_eq(d.has_cas, 1);
	ck_assert_uint_eq(d.cas, c.cas);
	ck_assert_uint_eq(d.client_id, c.client_id);
	ck_assert_uint_eq(d.seq, 42);
	ck_assert_uint_eq(d.origin, 3);
	ck_assert_uint_eq(d.request_id, c.request_id);
	/* Zero-copy: key and value point into the buffer. */
	ck_assert_ptr_eq(d.key, buf + KV_CMD_HEADER_SIZE);
	ck_assert_ptr_eq(d.value, buf + KV_CMD_HEADER_SIZE + c.key_len);
	ck_assert_uint_eq(d.key_len, c.key_len);
	ck_assert_mem_eq(d.key, c.key, c.key_len);
	ck_assert_uint_eq(d.value_len, 11);
	ck_assert_mem_eq(d.value, c.value, 11);
	free(buf);
}
END_TEST

/* kv_cmd_encode_head() plus the value placed by the caller is byte for byte
 * kv_cmd_encode(); it refuses what kv_cmd_encode() refuses. */
START_TEST(test_encode_head_then_value)
{
	struct kv_cmd c = sample(), bad;
	size_t len;
	uint8_t *whole = encode(&c, &len);
	uint8_t *parts = malloc(len);

	ck_assert_ptr_nonnull(parts);
	memset(parts, 0xee, len);
	c.value = NULL; /* not read */
	ck_assert_int_eq(kv_cmd_encode_head(&c, parts, len), (int64_t)len);
	memcpy(parts + KV_CMD_HEADER_SIZE + c.key_len, whole + len - 11, 11);
	ck_assert_mem_eq(parts, whole, len);
	ck_assert_int_eq(kv_cmd_encode_head(&c, parts, len - 1), KV_EINVAL);
	bad = c;
	bad.key_len = 0;
	ck_assert_int_eq(kv_cmd_encode_head(&bad, parts, len),
			 KV_ECMD_KEY_EMPTY);
	free(parts);
	free(whole);
}
END_TEST

START_TEST(test_round_trip_delete_and_empty_put)
{
	struct kv_cmd c = sample(), d;
	size_t len;
	uint8_t *buf;

	c.op = KV_OP_DELETE;
	c.has_cas = 0;
	c.cas = 0;
	c.client_id = 0;
	c.seq = 0;
	c.value = NULL;
	c.value_len = 0;
	buf = encode(&c, &len);
	ck_assert_int_eq(kv_cmd_decode(buf, len, &d), 0);
	ck_assert_uint_eq(d.op, KV_OP_DELETE);
	ck_assert_uint_eq(d.has_cas, 0);
	ck_assert_uint_eq(d.client_id, 0);
	ck_assert_uint_eq(d.value_len, 0);
	ck_assert_ptr_null(d.value);
	free(buf);

	c.op = KV_OP_PUT;
	buf = encode(&c, &len);
	ck_assert_uint_eq(len, KV_CMD_HEADER_SIZE + c.key_len);
	ck_assert_int_eq(kv_cmd_decode(buf, len, &d), 0);
	ck_assert_uint_eq(d.op, KV_OP_PUT);
	ck_assert_uint_eq(d.value_len, 0);
	free(buf);
}
END_TEST

/* The layout docs/FORMAT.md documents, byte by byte. */
START_TEST(test_byte_layout)
{
	struct kv_cmd c = sample();
	uint8_t buf[256];
	int64_t n;

	memset(buf, 0xEE, sizeof(buf));
	n = kv_cmd_encode(&c, buf, sizeof(buf));
	ck_assert_int_eq(n, (int64_t)kv_cmd_size(&c));
	ck_assert_uint_eq(buf[0], 1);	 /* version */
	ck_assert_uint_eq(buf[1], 1);	 /* op PUT */
	ck_assert_uint_eq(buf[2], 0x01); /* flags: CAS */
	ck_assert_uint_eq(buf[3], 0);
	ck_assert_uint_eq(buf[4], c.key_len); /* key_len u16 LE */
	ck_assert_uint_eq(buf[5], 0);
	ck_assert_uint_eq(buf[6] | buf[7], 0);
	ck_assert_uint_eq(buf[8], 11); /* value_len u32 LE */
	ck_assert_uint_eq(buf[9] | buf[10] | buf[11], 0);
	ck_assert_uint_eq(buf[12] | buf[13] | buf[14] | buf[15], 0);
	ck_assert_uint_eq(buf[16], 0x88); /* cas u64 LE */
	ck_assert_uint_eq(buf[23], 0x11);
	ck_assert_uint_eq(buf[24], 0xA8); /* client id */
	ck_assert_uint_eq(buf[31], 0xA1);
	ck_assert_uint_eq(buf[32], 42);	  /* seq */
	ck_assert_uint_eq(buf[40], 3);	  /* origin */
	ck_assert_uint_eq(buf[48], 0xFF); /* request id */
	ck_assert_uint_eq(buf[55], 0xFF);
	ck_assert_mem_eq(buf + 56, c.key, c.key_len);
	ck_assert_mem_eq(buf + 56 + c.key_len, "hello\0world", 11);
	ck_assert_uint_eq(buf[n], 0xEE); /* nothing written past the end */
}
END_TEST

START_TEST(test_encode_errors)
{
	struct kv_cmd c = sample();
	uint8_t buf[256];
	uint8_t *p = (uint8_t *)1;
	size_t len = 0;
	uint8_t big[KV_KEY_MAX + 1];

	ck_assert_int_eq(kv_cmd_encode(&c, buf, kv_cmd_size(&c) - 1),
			 KV_EINVAL);
	ck_assert_int_eq(kv_cmd_encode(&c, NULL, 0), KV_EINVAL);
	c.key = (const uint8_t *)"bad\nkey";
	c.key_len = 7;
	ck_assert_int_eq(kv_cmd_encode(&c, buf, sizeof(buf)),
			 KV_ECMD_KEY_INVALID);
	ck_assert_int_eq(kv_cmd_encode_alloc(&c, &p, &len),
			 KV_ECMD_KEY_INVALID);
	ck_assert_ptr_null(p);
	c = sample();
	memset(big, 'k', sizeof(big));
	c.key = big;
	c.key_len = sizeof(big);
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_KEY_TOO_LONG);
	c.key_len = 0;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_KEY_EMPTY);
	c = sample();
	c.op = KV_OP_MAX + 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_OP);
	c = sample();
	c.has_cas = 0;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_CAS);
	c = sample();
	c.client_id = 0;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_SEQ);
	c = sample();
	c.op = KV_OP_DELETE;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_DELETE_VALUE);
	c = sample();
	c.value_len = (size_t)KV_VALUE_MAX + 1;
	ck_assert_int_eq(kv_cmd_check(&c), KV_ECMD_VALUE_TOO_LONG);
	c = sample();
	c.value = NULL;
	ck_assert_int_eq(kv_cmd_check(&c), KV_EINVAL);
	ck_assert_int_eq(kv_cmd_check(NULL), KV_EINVAL);
}
END_TEST

/* Decodes a copy of @buf[0..len) in an exact-size heap buffer. */
static int decode_copy(const uint8_t *buf, size_t len)
{
	struct kv_cmd d;
	uint8_t *copy = malloc(len ? len : 1);
	int rv;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	rv = kv_cmd_decode(copy, len, &d);
	free(copy);
	return rv;
}

START_TEST(test_decode_malformed)
{
	struct kv_cmd c = sample();
	uint8_t good[256], b[256];
	size_t n = (size_t)kv_cmd_encode(&c, good, sizeof(good));

#define MUTATE(off, val, want)                                                 \
	do {                                                                   \
		memcpy(b, good, n);                                            \
		b[off] = (val);                                                \
		ck_assert_int_eq(decode_copy(b, n), want);                     \
	} while (0)

	ck_assert_int_eq(decode_copy(good, 0), KV_ECMD_TRUNCATED);
	ck_assert_int_eq(decode_copy(good, KV_CMD_HEADER_SIZE - 1),
			 KV_ECMD_TRUNCATED);
	MUTATE(0, 0, KV_ECMD_VERSION);
	MUTATE(0, 2, KV_ECMD_VERSION);
	MUTATE(1, 0, KV_ECMD_OP);
	MUTATE(1, KV_OP_MAX + 1, KV_ECMD_OP);
	MUTATE(1, 0xFF, KV_ECMD_OP);
	MUTATE(2, 0x04, KV_ECMD_FLAGS);
	MUTATE(2, 0x81, KV_ECMD_FLAGS);
	MUTATE(3, 1, KV_ECMD_FLAGS);
	MUTATE(6, 1, KV_ECMD_FLAGS);
	MUTATE(7, 1, KV_ECMD_FLAGS);
	MUTATE(12, 1, KV_ECMD_FLAGS);
	MUTATE(15, 1, KV_ECMD_FLAGS);
	MUTATE(2, 0x00, KV_ECMD_CAS); /* cas set, flag clear */
	/* Key lengths: 0, 512, 65535 and one byte longer than present. */
	memcpy(b, good, n);
	b[4] = 0;
	b[5] = 0;
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_KEY_EMPTY);
	b[4] = 0x00;
	b[5] = 0x02;
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_KEY_TOO_LONG);
	b[4] = 0xFF;
	b[5] = 0xFF;
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_KEY_TOO_LONG);
	/* Value length above the hard cap, and a huge one that must not wrap
	 * the length arithmetic. */
	memcpy(b, good, n);
	b[8] = 0x01;
	b[9] = 0x00;
	b[10] = 0x00;
	b[11] = 0x04; /* 64 MiB + 1 */
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_VALUE_TOO_LONG);
	b[8] = b[9] = b[10] = b[11] = 0xFF;
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_VALUE_TOO_LONG);
	memcpy(b, good, n);
	b[8] = 12; /* one more value byte than present */
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_TRUNCATED);
	b[8] = 10; /* one fewer: the last byte is trailing */
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_TRAILING);
	memcpy(b, good, n);
	b[n] = 'x';
	ck_assert_int_eq(decode_copy(b, n + 1), KV_ECMD_TRAILING);
	/* DELETE carrying a value. */
	MUTATE(1, KV_OP_DELETE, KV_ECMD_DELETE_VALUE);
	/* seq without a client id. */
	memcpy(b, good, n);
	memset(b + 24, 0, 8);
	ck_assert_int_eq(decode_copy(b, n), KV_ECMD_SEQ);
	/* Key bytes: a control character, an overlong, a surrogate. */
	MUTATE(56, 0x01, KV_ECMD_KEY_INVALID);
	MUTATE(56, 0x7F, KV_ECMD_KEY_INVALID);
	MUTATE(56, 0xC0, KV_ECMD_KEY_INVALID);
	MUTATE(56, 0x80, KV_ECMD_KEY_INVALID);
#undef MUTATE
	/* Every proper prefix is refused (and never over-read: ASan). */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(decode_copy(good, i), KV_ECMD_TRUNCATED);
	ck_assert_int_eq(decode_copy(good, n), 0);
}
END_TEST

/* Any byte string either decodes to a command that re-encodes to the same
 * bytes, or is refused; never a crash or an over-read. */
START_TEST(test_decode_random_mutations)
{
	struct kv_cmd c = sample(), d;
	uint8_t good[256], b[256], re[256];
	size_t n = (size_t)kv_cmd_encode(&c, good, sizeof(good));
	uint64_t seed = test_seed();

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = n;
		uint8_t *copy;
		int flips = 1 + (int)(test_rand(&seed) % 3), rv;

		memcpy(b, good, n);
		for (int f = 0; f < flips; f++)
			b[test_rand(&seed) % n] = (uint8_t)test_rand(&seed);
		if (test_rand(&seed) % 4 == 0)
			len = test_rand(&seed) % (n + 1);
		copy = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b, len);
		rv = kv_cmd_decode(copy, len, &d);
		if (rv == 0 && d.op == KV_OP_TXN &&
		    kv_cmd_check(&d) == KV_ECMD_TXN) {
			/* The body is apply's to decode (kv_cmd_decode()). */
		} else if (rv == 0) {
			ck_assert_int_eq(kv_cmd_encode(&d, re, sizeof(re)),
					 (int64_t)len);
			ck_assert_mem_eq(re, copy, len);
		} else {
			ck_assert_int_le(rv, KV_ECMD_TRUNCATED);
			ck_assert_int_ge(rv, KV_ECMD_ARGS);
		}
		free(copy);
	}
}
END_TEST

static int valid(const char *s)
{
	return kv_key_valid((const uint8_t *)s, strlen(s));
}

START_TEST(test_key_valid_utf8)
{
	/* Well-formed, including the edges of each range. */
	ck_assert(valid("a"));
	ck_assert(valid(" ~"));
	ck_assert(valid("\xc2\x80"));	      /* U+0080 */
	ck_assert(valid("\xc3\xa9"));	      /* é */
	ck_assert(valid("\xdf\xbf"));	      /* U+07FF */
	ck_assert(valid("\xe0\xa0\x80"));     /* U+0800 */
	ck_assert(valid("\xe2\x82\xac"));     /* € */
	ck_assert(valid("\xed\x9f\xbf"));     /* U+D7FF */
	ck_assert(valid("\xee\x80\x80"));     /* U+E000 */
	ck_assert(valid("\xef\xbf\xbf"));     /* U+FFFF */
	ck_assert(valid("\xf0\x90\x80\x80")); /* U+10000 */
	ck_assert(valid("\xf0\x9f\x98\x80")); /* emoji */
	ck_assert(valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	/* Overlong forms. */
	ck_assert(!valid("\xc0\x80"));
	ck_assert(!valid("\xc1\xbf"));
	ck_assert(!valid("\xe0\x80\x80"));
	ck_assert(!valid("\xe0\x9f\xbf"));
	ck_assert(!valid("\xf0\x80\x80\x80"));
	ck_assert(!valid("\xf0\x8f\xbf\xbf"));
	/* Surrogates. */
	ck_assert(!valid("\xed\xa0\x80"));
	ck_assert(!valid("\xed\xbf\xbf"));
	/* Above U+10FFFF and impossible bytes. */
	ck_assert(!valid("\xf4\x90\x80\x80"));
	ck_assert(!valid("\xf5\x80\x80\x80"));
	ck_assert(!valid("\xff"));
	ck_assert(!valid("\xfe"));
	/* Stray continuation, cut sequences, bad continuation. */
	ck_assert(!valid("\x80"));
	ck_assert(!valid("a\xbf"));
	ck_assert(!valid("\xc3"));
	ck_assert(!valid("a\xe2\x82"));
	ck_assert(!valid("\xf0\x9f\x98"));
	ck_assert(!valid("\xe2\x28\xa1"));
	ck_assert(!valid("\xf0\x9f\x28\x80"));
	ck_assert(!valid("\xc3\xa9\xc3"));
}
END_TEST

START_TEST(test_key_valid_controls_and_length)
{
	uint8_t k[KV_KEY_MAX + 2];
	uint8_t nul[2] = {'a', 0};

	for (int c = 0; c < 0x20; c++) {
		uint8_t b[3] = {'x', (uint8_t)c, 'y'};
		ck_assert(!kv_key_valid(b, 3));
	}
	ck_assert(!valid("\x7f"));
	ck_assert(!kv_key_valid(nul, 2));
	ck_assert(!kv_key_valid(NULL, 0));
	ck_assert(!kv_key_valid(NULL, 3));
	memset(k, 'a', sizeof(k));
	ck_assert(!kv_key_valid(k, 0));
	ck_assert(kv_key_valid(k, 1));
	ck_assert(kv_key_valid(k, 511));
	ck_assert(!kv_key_valid(k, 512));
	/* A multibyte character that ends exactly at 511 bytes, and one that
	 * would end at 512. */
	k[509] = 0xc3;
	k[510] = 0xa9;
	ck_assert(kv_key_valid(k, 511));
	k[510] = 0xc3;
	k[511] = 0xa9;
	ck_assert(!kv_key_valid(k, 512));
	ck_assert(!kv_key_valid(k, 511)); /* cut in the middle */
}
END_TEST

static int allowed(const char *s)
{
	return kv_key_allowed((const uint8_t *)s, strlen(s));
}

START_TEST(test_key_allowed_refuses_c1_controls)
{
	struct kv_cmd c = sample(), d;
	size_t len;
	uint8_t *buf;

	/* U+0080..U+009F are control characters: a new key refuses them. */
	ck_assert(!allowed("\xc2\x80"));
	ck_assert(!allowed("a\xc2\x85z"));
	ck_assert(!allowed("\xc2\x9f"));
	ck_assert(!allowed("\xc3\xa9\xc2\x90"));
	/* Their neighbours, and what kv_key_valid() refuses, as before. */
	ck_assert(allowed("\xc2\xa0"));
	ck_assert(allowed("\xc2\xbf"));
	ck_assert(allowed("\xc3\xa9"));
	ck_assert(allowed("\xe2\x82\xac"));
	ck_assert(allowed("a"));
	ck_assert(!allowed("\x7f"));
	ck_assert(!allowed("\x01"));
	ck_assert(!allowed("\xc0\x80"));
	ck_assert(!allowed(""));
	/* The codec keeps its rule: an entry holding such a key, written
	 * before they were refused, decodes and applies on every member. */
	ck_assert(valid("\xc2\x85"));
	c.key = (const uint8_t *)"old\xc2\x85key";
	c.key_len = strlen((const char *)c.key);
	buf = encode(&c, &len);
	ck_assert_int_eq(kv_cmd_decode(buf, len, &d), 0);
	ck_assert_uint_eq(d.key_len, c.key_len);
	free(buf);
}
END_TEST

START_TEST(test_strerror_names_every_code)
{
	/* Codes 0..KV_ECOMPACTED and KV_ECMD_TRUNCATED..KV_ECMD_ARGS
	 * exist. */
	for (int e = 0; e >= KV_ECMD_ARGS; e--) {
		int named = e >= KV_ECOMPACTED || e <= KV_ECMD_TRUNCATED;

		ck_assert_int_eq(strcmp(kv_strerror(e), "unknown error") != 0,
				 named);
	}
	ck_assert_str_eq(kv_strerror(12345), "unknown error");
}
END_TEST

Suite *kv_codec_suite(void)
{
	Suite *s = suite_create("kv-codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_round_trip_put_with_cas);
	tcase_add_test(tc, test_encode_head_then_value);
	tcase_add_test(tc, test_round_trip_delete_and_empty_put);
	tcase_add_test(tc, test_byte_layout);
	tcase_add_test(tc, test_encode_errors);
	tcase_add_test(tc, test_decode_malformed);
	tcase_add_test(tc, test_decode_random_mutations);
	suite_add_tcase(s, tc);
	tc = tcase_create("key");
	tcase_add_test(tc, test_key_valid_utf8);
	tcase_add_test(tc, test_key_valid_controls_and_length);
	tcase_add_test(tc, test_key_allowed_refuses_c1_controls);
	tcase_add_test(tc, test_strerror_names_every_code);
	suite_add_tcase(s, tc);
	return s;
}
