/* test_frame.c - CRC-32C vectors and agreement (of memory and of a file),
 * the hex codec, frame codec round trips and every malformed-input error. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "frame.h"
#include "hex.h"

/* A deterministic generator so a failing case can be replayed exactly. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next();
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 appendix B.4 vectors, plus the usual "123456789" check value. */
static void check_vectors(crc_fn fn, const char *name)
{
	uint8_t buf[48];
	static const uint8_t iscsi_read[48] = {
	    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
	    0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

	memset(buf, 0, 32);
	ck_assert_msg(fn(0, buf, 32) == 0x8A9136AAu, "%s zeros", name);
	memset(buf, 0xff, 32);
	ck_assert_msg(fn(0, buf, 32) == 0x62A8AB43u, "%s ones", name);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_msg(fn(0, buf, 32) == 0x46DD794Eu, "%s incrementing", name);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_msg(fn(0, buf, 32) == 0x113FDB5Cu, "%s decrementing", name);
	ck_assert_msg(fn(0, iscsi_read, 48) == 0xD9963A56u, "%s iscsi read",
		      name);
	ck_assert_msg(fn(0, "123456789", 9) == 0xE3069283u, "%s check", name);
	ck_assert_msg(fn(0, NULL, 0) == 0, "%s empty", name);
}

START_TEST(test_crc_vectors_sw)
{
	check_vectors(crc32c_sw, "sw");
	check_vectors(crc32c, "dispatch");
}
END_TEST

START_TEST(test_crc_vectors_hw)
{
	if (!crc32c_hw_available()) {
		fprintf(stderr, "no SSE4.2 on this CPU: hw vectors skipped\n");
		return;
	}
	check_vectors(crc32c_hw, "hw");
}
END_TEST

/* Both paths agree for every length 0..1024 at every alignment 0..15. */
START_TEST(test_crc_hw_sw_agree)
{
	enum { MAXLEN = 1024, ALIGNS = 16 };
	uint8_t *mem = malloc(MAXLEN + ALIGNS);

	ck_assert_ptr_nonnull(mem);
	rng_state = 1;
	for (size_t align = 0; align < ALIGNS; align++) {
		for (size_t len = 0; len <= MAXLEN; len++) {
			uint8_t *p = mem + align;
			uint32_t seed = (uint32_t)rng_next();
			uint32_t sw;

			fill_random(p, len);
			sw = crc32c_sw(seed, p, len);
			ck_assert_uint_eq(crc32c(seed, p, len), sw);
			if (crc32c_hw_available())
				ck_assert_msg(crc32c_hw(seed, p, len) == sw,
					      "len %zu align %zu", len, align);
		}
	}
	free(mem);
}
END_TEST

/* Buffers of three blocks and more take the three-chain path
 * (crc32c.c): lengths around every multiple of the three blocks, up to
 * 64 KiB and at odd alignments, agree with the table; so do pieces of a
 * long buffer extended one after the other. */
START_TEST(test_crc_hw_long_agree)
{
	enum { MAXLEN = 65536 + 3 * 1024 + 17, ALIGNS = 8 };
	uint8_t *mem = malloc(MAXLEN + ALIGNS);

	ck_assert_ptr_nonnull(mem);
	if (!crc32c_hw_available()) {
		fprintf(stderr,
			"no SSE4.2 on this CPU: long hw check skipped\n");
		free(mem);
		return;
	}
	rng_state = 4;
	fill_random(mem, MAXLEN + ALIGNS);
	for (size_t align = 0; align < ALIGNS; align += 3) {
		const uint8_t *p = mem + align;

		for (size_t base = 3 * 1024 - 8; base + 16 <= MAXLEN;
		     base += 3 * 1024) {
			for (size_t len = base; len < base + 16; len++) {
				uint32_t seed = (uint32_t)rng_next();

				ck_assert_msg(crc32c_hw(seed, p, len) ==
						  crc32c_sw(seed, p, len),
					      "len %zu align %zu", len, align);
			}
		}
	}
	uint32_t whole = crc32c_sw(0, mem, MAXLEN), c = 0;
	size_t off = 0, piece = 1;

	while (off < MAXLEN) {
		size_t n = piece < MAXLEN - off ? piece : MAXLEN - off;

		c = crc32c_hw(c, mem + off, n);
		off += n;
		piece = piece * 3 + 5;
	}
	ck_assert_uint_eq(c, whole);
	free(mem);
}
END_TEST

/* crc32c(crc32c(0, a), b) == crc32c(0, a || b): callers extend in pieces. */
START_TEST(test_crc_extend)
{
	uint8_t buf[300];

	rng_state = 2;
	fill_random(buf, sizeof(buf));
	uint32_t whole = crc32c_sw(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t a = crc32c_sw(0, buf, cut);
		ck_assert_uint_eq(crc32c_sw(a, buf + cut, sizeof(buf) - cut),
				  whole);
		a = crc32c(0, buf, cut);
		ck_assert_uint_eq(crc32c(a, buf + cut, sizeof(buf) - cut),
				  whole);
	}
}
END_TEST

/* crc32c_file() reads in 1 MiB chunks: a file across a chunk boundary has
 * the CRC and size of the same bytes in memory. */
START_TEST(test_crc_file)
{
	size_t len = (1u << 20) + 4097;
	uint8_t *buf = malloc(len);
	char path[] = "/tmp/test_frame_crc_XXXXXX", err[256] = "";
	uint64_t size = 0;
	uint32_t crc = 0;

	ck_assert_ptr_nonnull(buf);
	rng_state = 3;
	fill_random(buf, len);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(crc32c_file(path, &size, &crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(size, len);
	ck_assert_uint_eq(crc, crc32c(0, buf, len));
	/* An empty file: size 0, CRC 0. */
	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_int_eq(crc32c_file(path, &size, &crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_uint_eq(crc, 0);
	unlink(path);
	/* A missing file: -1, the path named, the outputs untouched. */
	size = 7;
	ck_assert_int_eq(crc32c_file(path, &size, &crc, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_uint_eq(size, 7);
	free(buf);
}
END_TEST

START_TEST(test_hex_round_trip)
{
	const uint8_t in[] = {0x00, 0x7f, 0x80, 0xff, 0x12};
	char *h = hex_encode(in, sizeof(in));
	uint8_t *out = NULL;
	size_t len = 0;

	ck_assert_str_eq(h, "007f80ff12");
	ck_assert_int_eq(hex_decode(h, sizeof(in), &out, &len), 0);
	ck_assert_uint_eq(len, sizeof(in));
	ck_assert_int_eq(memcmp(out, in, len), 0);
	free(out);
	free(h);
	/* Upper case is read too; nothing encodes to it. */
	ck_assert_int_eq(hex_decode("7F", 1, &out, &len), 0);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(out[0], 0x7f);
	free(out);
	/* Empty: zero bytes. */
	h = hex_encode(in, 0);
	ck_assert_str_eq(h, "");
	ck_assert_int_eq(hex_decode(h, 0, &out, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(out);
	free(h);
}
END_TEST

START_TEST(test_hex_refused)
{
	uint8_t *out = NULL;
	size_t len = 99;

	ck_assert_int_eq(hex_decode("abc", 8, &out, &len), -1);
	ck_assert_int_eq(hex_decode("zz", 8, &out, &len), -1);
	ck_assert_int_eq(hex_decode("0g", 8, &out, &len), -1);
	ck_assert_int_eq(hex_decode("00 1", 8, &out, &len), -1);
	/* More bytes than the caller's limit. */
	ck_assert_int_eq(hex_decode("000102", 2, &out, &len), -1);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(len, 99);
	ck_assert_int_eq(hex_decode("0001", 2, &out, &len), 0);
	ck_assert_uint_eq(len, 2);
	free(out);
}
END_TEST

/* Encodes into a malloc'd buffer of exactly the frame's size (so ASan sees
 * any over-read by the decoder). The caller frees it. */
static uint8_t *encode_exact(uint8_t type, raft_term term, raft_index index,
			     const void *payload, uint32_t len, size_t *size)
{
	uint8_t *buf = malloc(frame_size(len));

	ck_assert_ptr_nonnull(buf);
	*size = frame_encode(buf, type, term, index, payload, len);
	ck_assert_uint_eq(*size, frame_size(len));
	return buf;
}

static void round_trip(uint8_t type, raft_term term, raft_index index,
		       uint32_t len)
{
	uint8_t *payload = len ? malloc(len) : NULL;
	struct frame f;
	size_t size, consumed = 0;
	uint8_t *buf;

	if (len)
		fill_random(payload, len);
	buf = encode_exact(type, term, index, payload, len, &size);
	ck_assert_int_eq(frame_decode(buf, size, len, &f, &consumed), FRAME_OK);
	ck_assert_uint_eq(consumed, size);
	ck_assert_uint_eq(f.type, type);
	ck_assert_uint_eq(f.term, term);
	ck_assert_uint_eq(f.index, index);
	ck_assert_uint_eq(f.len, len);
	ck_assert_ptr_eq(f.payload, buf + FRAME_HEADER_SIZE);
	if (len)
		ck_assert_int_eq(memcmp(f.payload, payload, len), 0);
	free(buf);
	free(payload);
}

START_TEST(test_round_trip_empty)
{
	round_trip(FRAME_ENTRY_NOOP, 3, 7, 0);
}
END_TEST

START_TEST(test_round_trip_one_byte)
{
	rng_state = 3;
	round_trip(FRAME_ENTRY_NORMAL, 1, 1, 1);
}
END_TEST

START_TEST(test_round_trip_one_mib)
{
	rng_state = 4;
	round_trip(FRAME_SNAPSHOT_CHUNK, 12, 345678, 1u << 20);
}
END_TEST

START_TEST(test_round_trip_max_term_index)
{
	rng_state = 5;
	round_trip(FRAME_HARD_STATE, UINT64_MAX, UINT64_MAX, 17);
}
END_TEST

START_TEST(test_round_trip_every_type)
{
	static const uint8_t types[] = {FRAME_ENTRY_NORMAL,  FRAME_ENTRY_NOOP,
					FRAME_ENTRY_CONFIG,  FRAME_HARD_STATE,
					FRAME_SEGMENT,	     FRAME_MESSAGE,
					FRAME_SNAPSHOT_CHUNK};

	rng_state = 6;
	for (size_t i = 0; i < sizeof(types); i++)
		round_trip(types[i], i, i * 1000, (uint32_t)i * 3);
}
END_TEST

/* frame_encode_header over a payload built in place gives the same bytes as
 * frame_encode, and frames decode back to back from one buffer. */
START_TEST(test_in_place_and_consecutive)
{
	uint8_t a[FRAME_HEADER_SIZE + 10], b[FRAME_HEADER_SIZE + 10];
	uint8_t two[2 * sizeof(a)];
	struct frame f;
	size_t consumed;

	rng_state = 7;
	fill_random(b + FRAME_HEADER_SIZE, 10);
	frame_encode(a, FRAME_MESSAGE, 9, 10, b + FRAME_HEADER_SIZE, 10);
	frame_encode_header(b, FRAME_MESSAGE, 9, 10, 10);
	ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);

	memcpy(two, a, sizeof(a));
	frame_encode(two + sizeof(a), FRAME_ENTRY_NORMAL, 9, 11,
		     a + FRAME_HEADER_SIZE, 10);
	ck_assert_int_eq(frame_decode(two, sizeof(two), 10, &f, &consumed),
			 FRAME_OK);
	ck_assert_uint_eq(consumed, sizeof(a));
	ck_assert_int_eq(frame_decode(two + consumed, sizeof(two) - consumed,
				      10, &f, &consumed),
			 FRAME_OK);
	ck_assert_uint_eq(f.index, 11);
}
END_TEST

/* Decodes @buf[0..n) copied into an exact-size heap block. */
static int decode_exact(const uint8_t *buf, size_t n, uint32_t max_len,
			size_t *consumed)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct frame f;
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, n);
	rc = frame_decode(copy, n, max_len, &f, consumed);
	free(copy);
	return rc;
}

START_TEST(test_truncated_every_length)
{
	uint8_t payload[100];
	size_t size;
	uint8_t *buf;

	rng_state = 8;
	fill_random(payload, sizeof(payload));
	buf = encode_exact(FRAME_ENTRY_NORMAL, 2, 3, payload, sizeof(payload),
			   &size);
	for (size_t n = 0; n < size; n++) {
		size_t consumed = 12345;

		ck_assert_msg(decode_exact(buf, n, 1000, &consumed) ==
				  FRAME_ETRUNCATED,
			      "length %zu", n);
		ck_assert_uint_eq(consumed, 12345); /* untouched on error */
	}
	free(buf);
}
END_TEST

/* CRC-32C catches every single-bit error, and which check fires depends
 * only on where the bit is: version byte, header, or payload. */
START_TEST(test_flip_every_bit)
{
	uint8_t payload[7] = {1, 2, 3, 4, 5, 6, 7};
	size_t size;
	uint8_t *buf = encode_exact(FRAME_ENTRY_NORMAL, 5, 6, payload,
				    sizeof(payload), &size);

	for (size_t bit = 0; bit < size * 8; bit++) {
		size_t byte = bit / 8, consumed = 0;
		int want, rc;

		buf[byte] ^= (uint8_t)(1u << (bit % 8));
		if (byte == 8)
			want = FRAME_EVERSION;
		else if (byte < FRAME_HEADER_SIZE)
			want = FRAME_EHEADER_CRC;
		else
			want = FRAME_EPAYLOAD_CRC;
		rc = decode_exact(buf, size, 1u << 20, &consumed);
		ck_assert_msg(rc == want, "bit %zu: got %d (%s), want %d", bit,
			      rc, frame_strerror(rc), want);
		buf[byte] ^= (uint8_t)(1u << (bit % 8));
	}
	free(buf);
}
END_TEST

/* Rewrites the header CRC after a deliberate edit, so the check under test
 * is the one that fires rather than the checksum. */
static void reseal_header(uint8_t *buf)
{
	le_put_u32(buf, crc32c(0, buf + 4, FRAME_HEADER_SIZE - 4));
}

START_TEST(test_wrong_version)
{
	uint8_t buf[FRAME_HEADER_SIZE];
	size_t consumed;

	frame_encode(buf, FRAME_ENTRY_NOOP, 1, 1, NULL, 0);
	buf[8] = FRAME_VERSION + 1;
	ck_assert_int_eq(decode_exact(buf, sizeof(buf), 0, &consumed),
			 FRAME_EVERSION);
	reseal_header(buf); /* even with a matching CRC */
	ck_assert_int_eq(decode_exact(buf, sizeof(buf), 0, &consumed),
			 FRAME_EVERSION);
	buf[8] = 0;
	ck_assert_int_eq(decode_exact(buf, sizeof(buf), 0, &consumed),
			 FRAME_EVERSION);
}
END_TEST

START_TEST(test_too_large)
{
	uint8_t payload[64] = {0};
	size_t size, consumed;
	uint8_t *buf = encode_exact(FRAME_ENTRY_NORMAL, 1, 1, payload,
				    sizeof(payload), &size);

	ck_assert_int_eq(decode_exact(buf, size, 63, &consumed),
			 FRAME_ETOO_LARGE);
	ck_assert_int_eq(decode_exact(buf, size, 64, &consumed), FRAME_OK);
	/* Decided from the header alone, before any payload byte is read. */
	ck_assert_int_eq(decode_exact(buf, FRAME_HEADER_SIZE, 0, &consumed),
			 FRAME_ETOO_LARGE);
	free(buf);

	/* A huge declared length with only a header present. */
	uint8_t hdr[FRAME_HEADER_SIZE];
	frame_encode(hdr, FRAME_ENTRY_NORMAL, 1, 1, NULL, 0);
	le_put_u32(hdr + 12, UINT32_MAX);
	reseal_header(hdr);
	ck_assert_int_eq(decode_exact(hdr, sizeof(hdr), 1u << 20, &consumed),
			 FRAME_ETOO_LARGE);
	ck_assert_int_eq(decode_exact(hdr, sizeof(hdr), UINT32_MAX, &consumed),
			 FRAME_ETRUNCATED);
}
END_TEST

START_TEST(test_nonzero_reserved)
{
	uint8_t buf[FRAME_HEADER_SIZE];
	size_t consumed;

	for (int bit = 0; bit < 16; bit++) {
		frame_encode(buf, FRAME_ENTRY_NORMAL, 1, 1, NULL, 0);
		le_put_u16(buf + 10, (uint16_t)(1u << bit));
		reseal_header(buf);
		ck_assert_int_eq(decode_exact(buf, sizeof(buf), 0, &consumed),
				 FRAME_ETYPE);
	}
}
END_TEST

START_TEST(test_unknown_type)
{
	uint8_t buf[FRAME_HEADER_SIZE];
	size_t consumed;
	int known = 0;

	for (int t = 0; t < 256; t++) {
		int rc;

		frame_encode(buf, (uint8_t)t, 1, 1, NULL, 0);
		rc = decode_exact(buf, sizeof(buf), 0, &consumed);
		if (t == 1 || t == 2 || t == 3 || t == 16 || t == 17 ||
		    t == 32 || t == 33) {
			ck_assert_int_eq(rc, FRAME_OK);
			known++;
		} else {
			ck_assert_msg(rc == FRAME_ETYPE, "type %d gave %d", t,
				      rc);
		}
	}
	ck_assert_int_eq(known, 7);
}
END_TEST

START_TEST(test_zero_header)
{
	uint8_t buf[FRAME_HEADER_SIZE + 8] = {0};
	size_t consumed = 99;

	ck_assert_int_eq(decode_exact(buf, FRAME_HEADER_SIZE, 100, &consumed),
			 FRAME_EZERO);
	ck_assert_int_eq(decode_exact(buf, sizeof(buf), 100, &consumed),
			 FRAME_EZERO);
	/* Too short to be a header at all. */
	ck_assert_int_eq(
	    decode_exact(buf, FRAME_HEADER_SIZE - 1, 100, &consumed),
	    FRAME_ETRUNCATED);
	/* One nonzero byte anywhere makes it not a zero header. */
	buf[31] = 1;
	ck_assert_int_ne(decode_exact(buf, FRAME_HEADER_SIZE, 100, &consumed),
			 FRAME_EZERO);
	ck_assert_uint_eq(consumed, 99);
}
END_TEST

/* Random garbage and random corruptions of valid frames never decode past
 * the buffer (ASan) and only succeed when the frame is intact. */
START_TEST(test_random_garbage)
{
	uint8_t good[FRAME_HEADER_SIZE + 40];
	uint8_t buf[sizeof(good)];
	size_t consumed;

	rng_state = 9;
	fill_random(good + FRAME_HEADER_SIZE, 40);
	frame_encode(good, FRAME_ENTRY_NORMAL, 4, 4, good + FRAME_HEADER_SIZE,
		     40);
	for (int i = 0; i < 20000; i++) {
		size_t n = rng_next() % (sizeof(buf) + 1);
		int rc;

		if (i % 2) {
			fill_random(buf, n);
		} else {
			memcpy(buf, good, sizeof(buf));
			for (int k = 1 + (int)(rng_next() % 4); k > 0; k--)
				buf[rng_next() % sizeof(buf)] ^=
				    (uint8_t)(1 + rng_next() % 255);
		}
		rc = decode_exact(buf, n, 1u << 20, &consumed);
		ck_assert_int_le(rc, 0);
		ck_assert_int_ge(rc, FRAME_EZERO);
		if (rc == FRAME_OK)
			ck_assert_int_eq(memcmp(buf, good, consumed), 0);
	}
}
END_TEST

/* frame_header_intact: true exactly when the 32 header bytes are there and
 * their checksum holds, whatever the payload, version or type say. */
START_TEST(test_header_intact)
{
	uint8_t payload[40];
	uint32_t len = 0;
	size_t size;
	uint8_t *buf;

	fill_random(payload, sizeof(payload));
	buf = encode_exact(FRAME_ENTRY_NORMAL, 2, 9, payload, sizeof(payload),
			   &size);
	/* Only the header is needed: a cut payload still has a sound one. */
	ck_assert_int_eq(frame_header_intact(buf, FRAME_HEADER_SIZE, &len), 1);
	ck_assert_uint_eq(len, sizeof(payload));
	ck_assert_int_eq(frame_header_intact(buf, size, NULL), 1);
	ck_assert_int_eq(frame_header_intact(buf, FRAME_HEADER_SIZE - 1, &len),
			 0);
	/* A damaged payload leaves the header intact. */
	buf[FRAME_HEADER_SIZE] ^= 1;
	ck_assert_int_eq(frame_header_intact(buf, size, NULL), 1);
	/* A version the decoder refuses, resealed: still a whole header. */
	buf[8] = FRAME_VERSION + 1;
	ck_assert_int_eq(frame_header_intact(buf, size, NULL), 0);
	reseal_header(buf);
	ck_assert_int_eq(frame_header_intact(buf, size, NULL), 1);
	/* Any flipped header bit (the CRC field included) breaks it. */
	for (size_t bit = 0; bit < FRAME_HEADER_SIZE * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_msg(!frame_header_intact(buf, size, NULL), "bit %zu",
			      bit);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(buf);
}
END_TEST

START_TEST(test_strerror_distinct)
{
	static const int codes[] = {FRAME_OK,	      FRAME_ETRUNCATED,
				    FRAME_EVERSION,   FRAME_EHEADER_CRC,
				    FRAME_ETOO_LARGE, FRAME_EPAYLOAD_CRC,
				    FRAME_ETYPE,      FRAME_EZERO};
	size_t n = sizeof(codes) / sizeof(codes[0]);

	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(frame_strerror(codes[i]));
		ck_assert_str_ne(frame_strerror(codes[i]),
				 frame_strerror(-100));
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_int_ne(codes[i], codes[j]);
			ck_assert_str_ne(frame_strerror(codes[i]),
					 frame_strerror(codes[j]));
		}
	}
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *crc = tcase_create("crc32c");
	TCase *codec = tcase_create("codec");
	TCase *bad = tcase_create("malformed");

	tcase_set_timeout(crc, 60);
	tcase_add_test(crc, test_crc_vectors_sw);
	tcase_add_test(crc, test_crc_vectors_hw);
	tcase_add_test(crc, test_crc_hw_sw_agree);
	tcase_add_test(crc, test_crc_hw_long_agree);
	tcase_add_test(crc, test_crc_extend);
	tcase_add_test(crc, test_crc_file);
	tcase_add_test(crc, test_hex_round_trip);
	tcase_add_test(crc, test_hex_refused);
	suite_add_tcase(s, crc);

	tcase_set_timeout(codec, 60);
	tcase_add_test(codec, test_round_trip_empty);
	tcase_add_test(codec, test_round_trip_one_byte);
	tcase_add_test(codec, test_round_trip_one_mib);
	tcase_add_test(codec, test_round_trip_max_term_index);
	tcase_add_test(codec, test_round_trip_every_type);
	tcase_add_test(codec, test_in_place_and_consecutive);
	suite_add_tcase(s, codec);

	tcase_set_timeout(bad, 60);
	tcase_add_test(bad, test_truncated_every_length);
	tcase_add_test(bad, test_flip_every_bit);
	tcase_add_test(bad, test_wrong_version);
	tcase_add_test(bad, test_too_large);
	tcase_add_test(bad, test_nonzero_reserved);
	tcase_add_test(bad, test_unknown_type);
	tcase_add_test(bad, test_zero_header);
	tcase_add_test(bad, test_random_garbage);
	tcase_add_test(bad, test_header_intact);
	tcase_add_test(bad, test_strerror_distinct);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
