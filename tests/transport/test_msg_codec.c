/* test_msg_codec.c - round trips and every malformed body of the peer codec. */
#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "msg_codec.h"
#include "wal.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x1234567887654321ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static struct raft_msg make_msg(uint8_t type)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = 1 + rnd() % 1000;
	m.to = 1 + rnd() % 1000;
	m.term = 1000 + rnd() % 1000;
	m.index = rnd() % 100000;
	m.log_term = 1 + rnd() % 1000; /* <= term */
	m.commit = rnd() % (RAFT_INDEX_MAX + 1);
	m.reject = rnd() & 1;
	m.hint_index = rnd() % (RAFT_INDEX_MAX + 1);
	m.hint_term = rnd() % (RAFT_TERM_MAX + 1);
	m.context = rnd();
	return m;
}

/* Entries valid for an APPEND @m: consecutive after m->index, terms from
 * log_term up to term. Data is malloc'd (freed by free_entries). */
static struct raft_entry *make_entries(const struct raft_msg *m, size_t n)
{
	struct raft_entry *e = calloc(n ? n : 1, sizeof(*e));
	raft_term term = m->log_term;

	ck_assert_ptr_nonnull(e);
	for (size_t i = 0; i < n; i++) {
		if (rnd() % 3 == 0 && term < m->term)
			term++;
		e[i].term = m->type == RAFT_MSG_APPEND ? term : 0;
		e[i].index = m->type == RAFT_MSG_APPEND ? m->index + 1 + i : 0;
		e[i].type = (uint8_t)(1 + rnd() % 3);
		e[i].len = (uint32_t)(i % 4 == 0 ? 0 : rnd() % 300);
		if (e[i].len) {
			e[i].data = malloc(e[i].len);
			ck_assert_ptr_nonnull(e[i].data);
			for (uint32_t j = 0; j < e[i].len; j++)
				e[i].data[j] = (uint8_t)rnd();
		}
	}
	return e;
}

static void free_entries(struct raft_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].data);
	free(e);
}

static void assert_msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->from, b->from);
	ck_assert_uint_eq(a->to, b->to);
	ck_assert_uint_eq(a->term, b->term);
	ck_assert_uint_eq(a->index, b->index);
	ck_assert_uint_eq(a->log_term, b->log_term);
	ck_assert_uint_eq(a->commit, b->commit);
	ck_assert_int_eq(a->reject, b->reject);
	ck_assert_uint_eq(a->hint_index, b->hint_index);
	ck_assert_uint_eq(a->hint_term, b->hint_term);
	ck_assert_uint_eq(a->context, b->context);
	ck_assert_uint_eq(a->n_entries, b->n_entries);
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct raft_entry *x = &a->entries[i],
					*y = &b->entries[i];

		ck_assert_uint_eq(x->term, y->term);
		ck_assert_uint_eq(x->index, y->index);
		ck_assert_uint_eq(x->type, y->type);
		ck_assert_uint_eq(x->len, y->len);
		if (x->len)
			ck_assert_mem_eq(x->data, y->data, x->len);
		else
			ck_assert_ptr_null(y->data);
	}
}

/* Writes a message frame with explicit raw fields (may be invalid). */
struct raw_msg {
	uint8_t version, type, flags, reserved;
	uint32_t n_entries;
	uint64_t from, to, term, index, log_term, commit, hint_index, hint_term,
	    context;
	uint32_t payload_len;		  /* normally MSG_CODEC_PAYLOAD_SIZE */
	uint64_t frame_term, frame_index; /* normally 0 */
};

static struct raw_msg raw_default(uint8_t type, uint32_t n_entries)
{
	struct raw_msg r = {
	    .version = MSG_CODEC_VERSION,
	    .type = type,
	    .n_entries = n_entries,
	    .from = 1,
	    .to = 2,
	    .term = 5,
	    .index = 10,
	    .log_term = 3,
	    .payload_len = MSG_CODEC_PAYLOAD_SIZE,
	};
	return r;
}

static size_t put_raw_msg(uint8_t *out, const struct raw_msg *r)
{
	uint8_t p[256];

	memset(p, 0, sizeof(p));
	p[0] = r->version;
	p[1] = r->type;
	p[2] = r->flags;
	p[3] = r->reserved;
	le_put_u32(p + 4, r->n_entries);
	le_put_u64(p + 8, r->from);
	le_put_u64(p + 16, r->to);
	le_put_u64(p + 24, r->term);
	le_put_u64(p + 32, r->index);
	le_put_u64(p + 40, r->log_term);
	le_put_u64(p + 48, r->commit);
	le_put_u64(p + 56, r->hint_index);
	le_put_u64(p + 64, r->hint_term);
	le_put_u64(p + 72, r->context);
	return frame_encode(out, FRAME_MESSAGE, r->frame_term, r->frame_index,
			    p, r->payload_len);
}

static size_t put_entry(uint8_t *out, uint8_t type, raft_term term,
			raft_index index, const char *data)
{
	return frame_encode(out, type, term, index, data,
			    (uint32_t)strlen(data));
}

static int decode(const uint8_t *b, size_t len,
		  const struct msg_codec_limits *lim, size_t *n_msgs)
{
	struct msg_batch batch;
	int rc = msg_codec_decode(b, len, lim, &batch, NULL);

	if (n_msgs)
		*n_msgs = batch.n_msgs;
	if (rc != MSG_CODEC_OK) {
		ck_assert_ptr_null(batch.msgs);
		ck_assert_uint_eq(batch.n_msgs, 0);
	}
	msg_batch_free(&batch);
	return rc;
}

/* ---- round trips ---- */

START_TEST(test_roundtrip_every_type_without_entries)
{
	for (uint8_t type = RAFT_MSG_APPEND; type <= RAFT_MSG_SNAPSHOT;
	     type++) {
		struct raft_msg m = make_msg(type);
		struct msg_batch b;
		uint8_t *body;
		size_t len, off = 99;

		ck_assert_int_eq(
		    msg_codec_encode_batch(&m, 1, NULL, &body, &len),
		    MSG_CODEC_OK);
		ck_assert_uint_eq(len, msg_codec_size(&m));
		ck_assert_uint_eq(len,
				  FRAME_HEADER_SIZE + MSG_CODEC_PAYLOAD_SIZE);
		ck_assert_int_eq(msg_codec_decode(body, len, NULL, &b, &off),
				 MSG_CODEC_OK);
		ck_assert_uint_eq(off, 99); /* untouched on success */
		ck_assert_uint_eq(b.n_msgs, 1);
		ck_assert_uint_eq(b.n_entries, 0);
		ck_assert_ptr_null(b.msgs[0].entries);
		assert_msg_equal(&m, &b.msgs[0]);
		msg_batch_free(&b);
		free(body);
	}
}
END_TEST

/* A SNAPSHOT message names the snapshot (index, log_term) and the leader's
 * commit; the snapshot's bytes travel separately, so it carries no
 * entries. */
START_TEST(test_roundtrip_snapshot)
{
	struct raft_msg m = make_msg(RAFT_MSG_SNAPSHOT);
	uint8_t buf[1024], *body;
	struct raw_msg r;
	struct msg_batch b;
	size_t len;

	m.index = 123456789;
	m.log_term = 7;
	m.term = 9;
	m.commit = 123456800;
	m.reject = false;
	ck_assert_int_eq(msg_codec_encode_batch(&m, 1, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_int_eq(msg_codec_decode(body, len, NULL, &b, NULL),
			 MSG_CODEC_OK);
	ck_assert_uint_eq(b.n_msgs, 1);
	ck_assert_uint_eq(b.msgs[0].type, RAFT_MSG_SNAPSHOT);
	assert_msg_equal(&m, &b.msgs[0]);
	msg_batch_free(&b);
	free(body);

	m.entries = make_entries(&m, 1);
	m.n_entries = 1;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EENTRIES);
	free_entries(m.entries, 1);
	r = raw_default(RAFT_MSG_SNAPSHOT, 1);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EENTRIES);
}
END_TEST

START_TEST(test_roundtrip_with_entries_zero_copy)
{
	const uint8_t types[] = {RAFT_MSG_APPEND, RAFT_MSG_PROPOSE};

	for (size_t t = 0; t < 2; t++) {
		for (size_t n = 1; n <= 40; n += 13) {
			struct raft_msg m = make_msg(types[t]);
			struct msg_batch b;
			uint8_t *body;
			size_t len;

			m.entries = make_entries(&m, n);
			m.n_entries = n;
			ck_assert_int_eq(
			    msg_codec_encode_batch(&m, 1, NULL, &body, &len),
			    MSG_CODEC_OK);
			ck_assert_int_eq(
			    msg_codec_decode(body, len, NULL, &b, NULL),
			    MSG_CODEC_OK);
			ck_assert_uint_eq(b.n_msgs, 1);
			ck_assert_uint_eq(b.n_entries, n);
			assert_msg_equal(&m, &b.msgs[0]);
			/* Entry data points into the body (zero-copy). */
			for (size_t i = 0; i < n; i++) {
				const uint8_t *d = b.msgs[0].entries[i].data;

				if (d)
					ck_assert(d >= body && d < body + len);
			}
			msg_batch_free(&b);
			ck_assert_ptr_null(b.msgs);
			free(body);
			free_entries(m.entries, n);
		}
	}
}
END_TEST

START_TEST(test_roundtrip_mixed_batch)
{
	enum { N = 200 };
	struct raft_msg msgs[N];
	struct msg_batch b;
	uint8_t *body;
	size_t len, total = 0, expect_entries = 0;

	for (size_t i = 0; i < N; i++) {
		msgs[i] = make_msg((uint8_t)(1 + i % 12));
		if (msgs[i].type == RAFT_MSG_APPEND ||
		    msgs[i].type == RAFT_MSG_PROPOSE) {
			msgs[i].n_entries = i % 5;
			msgs[i].entries = make_entries(&msgs[i], i % 5);
			expect_entries += i % 5;
		}
		total += msg_codec_size(&msgs[i]);
	}
	ck_assert_int_eq(msg_codec_encode_batch(msgs, N, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_uint_eq(len, total);
	ck_assert_int_eq(msg_codec_decode(body, len, NULL, &b, NULL),
			 MSG_CODEC_OK);
	ck_assert_uint_eq(b.n_msgs, N);
	ck_assert_uint_eq(b.n_entries, expect_entries);
	for (size_t i = 0; i < N; i++)
		assert_msg_equal(&msgs[i], &b.msgs[i]);
	msg_batch_free(&b);
	free(body);
	for (size_t i = 0; i < N; i++)
		if (msgs[i].entries)
			free_entries(msgs[i].entries, msgs[i].n_entries);
}
END_TEST

START_TEST(test_empty_body_is_zero_messages)
{
	struct msg_batch b;
	uint8_t *body;
	size_t len;

	ck_assert_int_eq(msg_codec_decode(NULL, 0, NULL, &b, NULL),
			 MSG_CODEC_OK);
	ck_assert_uint_eq(b.n_msgs, 0);
	ck_assert_ptr_null(b.msgs);
	msg_batch_free(&b);
	ck_assert_int_eq(msg_codec_encode_batch(NULL, 0, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_uint_eq(len, 0);
	free(body);
}
END_TEST

/* An APPEND at index 0 (the very first entries) and at the largest index
 * that still has room for its entries both round trip. */
START_TEST(test_append_index_edges)
{
	struct raft_msg m = make_msg(RAFT_MSG_APPEND);
	struct msg_batch b;
	uint8_t *body;
	size_t len;

	m.index = 0;
	m.log_term = 0;
	m.entries = make_entries(&m, 3);
	m.n_entries = 3;
	ck_assert_int_eq(msg_codec_encode_batch(&m, 1, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_int_eq(msg_codec_decode(body, len, NULL, &b, NULL),
			 MSG_CODEC_OK);
	assert_msg_equal(&m, &b.msgs[0]);
	msg_batch_free(&b);
	free(body);
	free_entries(m.entries, 3);

	/* The index space ends at RAFT_INDEX_MAX (the WAL's last index). */
	m.index = RAFT_INDEX_MAX - 2;
	m.entries = make_entries(&m, 2);
	m.n_entries = 2;
	ck_assert_uint_eq(m.entries[1].index, RAFT_INDEX_MAX);
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_OK);
	free_entries(m.entries, 2);
	m.index = RAFT_INDEX_MAX - 1;
	m.entries = make_entries(&m, 2);
	m.n_entries = 2;
	ck_assert_uint_eq(m.entries[1].index, UINT64_MAX);
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_ERANGE);
	free_entries(m.entries, 2);
}
END_TEST

_Static_assert(RAFT_INDEX_MAX == WAL_MAX_INDEX,
	       "the core's index space is the WAL's");

/* Issue 13: one message with term 2^64 - 1 left a cluster leaderless
 * forever. Every term and index field, of a message and of its entries,
 * is range checked by the decoder, and the encoder refuses the same. */
START_TEST(test_numbers_out_of_range)
{
	static const struct {
		const char *name;
		size_t off; /* in struct raw_msg */
		uint64_t bad, good;
	} fields[] = {
	    {"term", offsetof(struct raw_msg, term), RAFT_TERM_MAX + 1,
	     RAFT_TERM_MAX},
	    {"log_term", offsetof(struct raw_msg, log_term), UINT64_MAX,
	     RAFT_TERM_MAX},
	    {"hint_term", offsetof(struct raw_msg, hint_term),
	     RAFT_TERM_MAX + 1, RAFT_TERM_MAX},
	    {"index", offsetof(struct raw_msg, index), UINT64_MAX,
	     RAFT_INDEX_MAX},
	    {"commit", offsetof(struct raw_msg, commit), UINT64_MAX,
	     RAFT_INDEX_MAX},
	    {"hint_index", offsetof(struct raw_msg, hint_index), UINT64_MAX,
	     RAFT_INDEX_MAX},
	};
	uint8_t buf[1024];
	struct raw_msg r;
	size_t n;

	ck_assert_uint_eq(RAFT_TERM_MAX, (uint64_t)INT64_MAX);
	ck_assert_uint_eq(RAFT_INDEX_MAX, UINT64_MAX - 1);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct raft_msg m;

		r = raw_default(RAFT_MSG_HEARTBEAT, 0);
		memcpy((char *)&r + fields[i].off, &fields[i].bad, 8);
		if (decode(buf, put_raw_msg(buf, &r), NULL, NULL) !=
		    MSG_CODEC_ERANGE)
			ck_abort_msg("%s %" PRIu64 " not refused",
				     fields[i].name, fields[i].bad);
		r = raw_default(RAFT_MSG_HEARTBEAT, 0);
		memcpy((char *)&r + fields[i].off, &fields[i].good, 8);
		if (decode(buf, put_raw_msg(buf, &r), NULL, NULL) !=
		    MSG_CODEC_OK)
			ck_abort_msg("%s %" PRIu64 " refused", fields[i].name,
				     fields[i].good);
		/* The encoder refuses what the decoder would. */
		m = make_msg(RAFT_MSG_HEARTBEAT);
		if (!strcmp(fields[i].name, "term"))
			m.term = fields[i].bad;
		else if (!strcmp(fields[i].name, "log_term"))
			m.log_term = fields[i].bad;
		else if (!strcmp(fields[i].name, "hint_term"))
			m.hint_term = fields[i].bad;
		else if (!strcmp(fields[i].name, "index"))
			m.index = fields[i].bad;
		else if (!strcmp(fields[i].name, "commit"))
			m.commit = fields[i].bad;
		else
			m.hint_index = fields[i].bad;
		ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_ERANGE);
	}

	/* The audit's message: a heartbeat in term 2^64 - 1. */
	r = raw_default(RAFT_MSG_HEARTBEAT, 0);
	r.term = UINT64_MAX;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ERANGE);

	/* Entry terms and indexes: an APPEND whose entries are consistent
	 * with its header but end past the index space, and a PROPOSE entry
	 * with an out-of-range term or index. */
	r = raw_default(RAFT_MSG_APPEND, 1);
	r.index = RAFT_INDEX_MAX;
	r.log_term = 3;
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 5, UINT64_MAX, "x");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_ERANGE);
	r = raw_default(RAFT_MSG_PROPOSE, 1);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, UINT64_MAX, 0, "x");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_ERANGE);
	r = raw_default(RAFT_MSG_PROPOSE, 1);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 0, UINT64_MAX, "x");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_ERANGE);
	r = raw_default(RAFT_MSG_PROPOSE, 1);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 0, 0, "x");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_OK);
}
END_TEST

/* ---- malformed bodies ---- */

static uint8_t *sample_body(size_t *len, size_t *bounds, size_t *n_bounds)
{
	struct raft_msg msgs[3];
	uint8_t *body;
	size_t off = 0;

	msgs[0] = make_msg(RAFT_MSG_HEARTBEAT);
	msgs[1] = make_msg(RAFT_MSG_APPEND);
	msgs[1].entries = make_entries(&msgs[1], 3);
	msgs[1].n_entries = 3;
	msgs[2] = make_msg(RAFT_MSG_VOTE_RESP);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 3, NULL, &body, len),
			 MSG_CODEC_OK);
	*n_bounds = 0;
	bounds[(*n_bounds)++] = 0;
	for (size_t i = 0; i < 3; i++) {
		off += msg_codec_size(&msgs[i]);
		bounds[(*n_bounds)++] = off;
	}
	free_entries(msgs[1].entries, 3);
	return body;
}

START_TEST(test_truncate_at_every_length)
{
	size_t len, bounds[4], nb;
	uint8_t *body = sample_body(&len, bounds, &nb);

	for (size_t cut = 0; cut < len; cut++) {
		/* A private copy of exactly @cut bytes, so ASan catches any
		 * read past the end. */
		uint8_t *copy = malloc(cut ? cut : 1);
		size_t n, at_bound = SIZE_MAX;
		int rc;

		memcpy(copy, body, cut);
		for (size_t i = 0; i < nb; i++)
			if (bounds[i] == cut)
				at_bound = i;
		rc = decode(copy, cut, NULL, &n);
		if (at_bound != SIZE_MAX) {
			/* A cut between messages is a shorter valid body. */
			ck_assert_int_eq(rc, MSG_CODEC_OK);
			ck_assert_uint_eq(n, at_bound);
		} else {
			ck_assert_msg(rc == FRAME_ETRUNCATED, "cut %zu: %s",
				      cut, msg_codec_strerror(rc));
		}
		free(copy);
	}
	free(body);
}
END_TEST

START_TEST(test_flip_every_bit)
{
	size_t len, bounds[4], nb;
	uint8_t *body = sample_body(&len, bounds, &nb);
	size_t seen[200] = {0};

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *copy = malloc(len);
			size_t off = SIZE_MAX;
			struct msg_batch b;
			int rc;

			memcpy(copy, body, len);
			copy[i] ^= (uint8_t)(1u << bit);
			rc = msg_codec_decode(copy, len, NULL, &b, &off);
			/* CRC-32C catches every single-bit error. */
			ck_assert_msg(rc < 0, "flip byte %zu bit %d accepted",
				      i, bit);
			ck_assert_ptr_null(b.msgs);
			ck_assert(off < len);
			ck_assert_str_ne(msg_codec_strerror(rc),
					 "unknown error");
			seen[-rc]++;
			free(copy);
		}
	}
	/* The header checksum guards most bytes; a flipped version byte is
	 * named as such. */
	ck_assert_uint_gt(seen[-FRAME_EHEADER_CRC], 0);
	ck_assert_uint_gt(seen[-FRAME_EPAYLOAD_CRC], 0);
	ck_assert_uint_gt(seen[-FRAME_EVERSION], 0);
	free(body);
}
END_TEST

START_TEST(test_random_garbage_never_crashes)
{
	uint8_t buf[512];
	size_t len, bounds[4], nb;
	uint8_t *body = sample_body(&len, bounds, &nb);

	for (int round = 0; round < 20000; round++) {
		size_t n = rnd() % sizeof(buf);
		uint8_t *copy;
		int rc;

		if (round % 2 == 0) {
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd();
		} else {
			/* A valid body with a few random bytes changed. */
			n = len < sizeof(buf) ? len : sizeof(buf);
			memcpy(buf, body, n);
			for (int k = 0; k < 1 + (int)(rnd() % 4); k++)
				buf[rnd() % n] = (uint8_t)rnd();
		}
		copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		rc = decode(copy, n, NULL, NULL);
		if (n > 0 && round % 2 == 0)
			ck_assert_int_lt(rc, 0);
		free(copy);
	}
	free(body);
}
END_TEST

START_TEST(test_bad_message_fields)
{
	uint8_t buf[1024];
	struct raw_msg r;

	r = raw_default(0, 0);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EMSG_TYPE);
	r = raw_default(RAFT_MSG_SNAPSHOT + 1, 0);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EMSG_TYPE);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.version = 2;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EVERSION);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.payload_len = MSG_CODEC_PAYLOAD_SIZE - 1;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ELENGTH);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.payload_len = 0;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ELENGTH);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.payload_len = MSG_CODEC_PAYLOAD_SIZE + 8;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ELENGTH);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.flags = 0x02;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ERESERVED);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.reserved = 1;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ERESERVED);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.frame_term = 7;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ERESERVED);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.from = 0;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EID);
	r = raw_default(RAFT_MSG_VOTE, 0);
	r.to = 0;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EID);
	/* The reject flag alone is fine. */
	r = raw_default(RAFT_MSG_VOTE_RESP, 0);
	r.flags = MSG_CODEC_FLAG_REJECT;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_OK);
}
END_TEST

/* With two faults in one message, the one docs/FORMAT.md lists first is
 * reported: version, length, reserved, type, ids, entry count, entries. */
START_TEST(test_message_check_order)
{
	struct msg_codec_limits lim = {.max_entries = 2};
	uint8_t buf[1024];
	struct raw_msg r;

	r = raw_default(0, 0); /* bad type ... */
	r.version = 2;	       /* ... and version */
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EVERSION);
	r = raw_default(0, 0);
	r.payload_len = MSG_CODEC_PAYLOAD_SIZE - 8;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ELENGTH);
	r = raw_default(0, 0);
	r.reserved = 1;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_ERESERVED);
	r = raw_default(RAFT_MSG_SNAPSHOT + 1, 0);
	r.from = 0;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_EMSG_TYPE);
	r = raw_default(RAFT_MSG_VOTE, 3);
	r.to = 0;
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), &lim, NULL),
			 MSG_CODEC_EID);
	/* Over the entry count on a type without entries: the count. */
	r = raw_default(RAFT_MSG_VOTE, 3);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), &lim, NULL),
			 MSG_CODEC_ETOO_MANY_ENTRIES);
	r = raw_default(RAFT_MSG_VOTE, 1);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), &lim, NULL),
			 MSG_CODEC_EENTRIES);
	/* The highest type, SNAPSHOT (13), is known. */
	r = raw_default(RAFT_MSG_SNAPSHOT, 0);
	ck_assert_int_eq(decode(buf, put_raw_msg(buf, &r), NULL, NULL),
			 MSG_CODEC_OK);
}
END_TEST

START_TEST(test_bad_frames_pass_through)
{
	uint8_t buf[1024];
	struct raw_msg r = raw_default(RAFT_MSG_VOTE, 0);
	size_t n = put_raw_msg(buf, &r);

	/* Frame errors keep their frame codes. */
	buf[8] = 9; /* version */
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_EVERSION);
	n = put_raw_msg(buf, &r);
	buf[20] ^= 1; /* term, covered by the header CRC */
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_EHEADER_CRC);
	n = put_raw_msg(buf, &r);
	buf[FRAME_HEADER_SIZE + 50] ^= 1; /* payload */
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_EPAYLOAD_CRC);
	memset(buf, 0, 64);
	ck_assert_int_eq(decode(buf, 64, NULL, NULL), FRAME_EZERO);
	/* An unknown frame type. */
	n = frame_encode(buf, 99, 0, 0, "x", 1);
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_ETYPE);
	/* A message payload far too long for any version. */
	{
		static uint8_t big[8192];
		size_t m = frame_encode(big, FRAME_MESSAGE, 0, 0,
					big + FRAME_HEADER_SIZE, 4097);
		ck_assert_int_eq(decode(big, m, NULL, NULL), FRAME_ETOO_LARGE);
	}
}
END_TEST

START_TEST(test_frame_order)
{
	uint8_t buf[2048];
	size_t n;
	struct raw_msg r;

	/* An entry frame where a message is expected. */
	n = put_entry(buf, RAFT_ENTRY_NORMAL, 1, 1, "cmd");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EFRAME_TYPE);
	/* A message frame where an entry is expected. */
	r = raw_default(RAFT_MSG_APPEND, 1);
	n = put_raw_msg(buf, &r);
	r = raw_default(RAFT_MSG_VOTE, 0);
	n += put_raw_msg(buf + n, &r);
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EFRAME_TYPE);
	/* A non-entry frame type (WAL hard state) as an entry. */
	r = raw_default(RAFT_MSG_APPEND, 1);
	n = put_raw_msg(buf, &r);
	n += frame_encode(buf + n, FRAME_HARD_STATE, 4, 11, "hs", 2);
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_TYPE);
	/* Fewer entry frames than announced. */
	r = raw_default(RAFT_MSG_APPEND, 2);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 11, "a");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_ETRUNCATED);
}
END_TEST

START_TEST(test_inconsistent_entries)
{
	uint8_t buf[2048];
	size_t n, off;
	struct raw_msg r;
	struct msg_batch b;

	/* raw_default: term 5, index 10, log_term 3. */
	r = raw_default(RAFT_MSG_APPEND, 2);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 11, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 12, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_OK);

	/* A gap. */
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 11, "a");
	off = n;
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 13, "b");
	ck_assert_int_eq(msg_codec_decode(buf, n, NULL, &b, &off),
			 MSG_CODEC_EENTRY_INDEX);
	ck_assert_uint_eq(off, n - frame_size(1)); /* the bad frame */
	/* Not right after prevLogIndex. */
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 10, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 11, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_INDEX);
	/* Index 0 (would wrap): prevLogIndex 2^64 - 1 is out of range
	 * before the entries are looked at; at the end of the index space
	 * the entry index 0 is inconsistent. */
	r.index = UINT64_MAX;
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 0, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 1, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_ERANGE);
	r.index = RAFT_INDEX_MAX;
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 0, "a");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_INDEX);
	r.index = 10;
	/* Terms decreasing, below log_term, above the message term. */
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 5, 11, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 12, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_TERM);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 2, 11, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 3, 12, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_TERM);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 5, 11, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 6, 12, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRY_TERM);
	/* Entries on a type that carries none. */
	r = raw_default(RAFT_MSG_HEARTBEAT, 1);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 4, 11, "a");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_EENTRIES);
	/* Proposals have no index or term yet: not checked. */
	r = raw_default(RAFT_MSG_PROPOSE, 2);
	n = put_raw_msg(buf, &r);
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 0, 0, "a");
	n += put_entry(buf + n, RAFT_ENTRY_NORMAL, 0, 0, "b");
	ck_assert_int_eq(decode(buf, n, NULL, NULL), MSG_CODEC_OK);
}
END_TEST

START_TEST(test_limits)
{
	struct msg_codec_limits lim = {0};
	struct raft_msg msgs[3];
	struct msg_batch b;
	uint8_t *body, buf[256];
	size_t len, n;
	struct raw_msg r;

	for (int i = 0; i < 3; i++)
		msgs[i] = make_msg(RAFT_MSG_HEARTBEAT);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 3, NULL, &body, &len),
			 MSG_CODEC_OK);
	lim.max_msgs = 2;
	ck_assert_int_eq(decode(body, len, &lim, NULL),
			 MSG_CODEC_ETOO_MANY_MSGS);
	free(body);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 3, &lim, &body, &n),
			 MSG_CODEC_ETOO_MANY_MSGS);
	ck_assert_ptr_null(body);
	lim.max_msgs = 3;
	ck_assert_int_eq(decode(buf, 0, &lim, NULL), MSG_CODEC_OK);
	lim.max_msgs = 0;
	lim.max_body_bytes = len - 1;
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 3, &lim, &body, &n),
			 MSG_CODEC_ETOO_LARGE);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 3, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_int_eq(msg_codec_decode(body, len, &lim, &b, NULL),
			 MSG_CODEC_ETOO_LARGE);
	free(body);

	/* Entries per message. */
	memset(&lim, 0, sizeof(lim));
	lim.max_entries = 2;
	msgs[0] = make_msg(RAFT_MSG_APPEND);
	msgs[0].entries = make_entries(&msgs[0], 3);
	msgs[0].n_entries = 3;
	ck_assert_int_eq(msg_codec_check(&msgs[0], &lim),
			 MSG_CODEC_ETOO_MANY_ENTRIES);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 1, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_int_eq(decode(body, len, &lim, NULL),
			 MSG_CODEC_ETOO_MANY_ENTRIES);
	free(body);
	free_entries(msgs[0].entries, 3);

	/* Bytes per entry: refused before the payload is read. */
	memset(&lim, 0, sizeof(lim));
	lim.max_entry_bytes = 10;
	msgs[0] = make_msg(RAFT_MSG_PROPOSE);
	msgs[0].entries = make_entries(&msgs[0], 2);
	msgs[0].n_entries = 2;
	free(msgs[0].entries[1].data);
	msgs[0].entries[1].len = 11;
	msgs[0].entries[1].data = calloc(1, 11);
	ck_assert_int_eq(msg_codec_check(&msgs[0], &lim), MSG_CODEC_ETOO_LARGE);
	ck_assert_int_eq(msg_codec_encode_batch(msgs, 1, NULL, &body, &len),
			 MSG_CODEC_OK);
	ck_assert_int_eq(decode(body, len, &lim, NULL), FRAME_ETOO_LARGE);
	lim.max_entry_bytes = 11;
	ck_assert_int_eq(decode(body, len, &lim, NULL), MSG_CODEC_OK);
	free(body);
	free_entries(msgs[0].entries, 2);

	/* A count of 2^32-1 entries is refused without allocating. */
	r = raw_default(RAFT_MSG_APPEND, UINT32_MAX);
	n = put_raw_msg(buf, &r);
	ck_assert_int_eq(decode(buf, n, NULL, NULL),
			 MSG_CODEC_ETOO_MANY_ENTRIES);
	/* Within the limit but absent: truncated, not a huge allocation. */
	r = raw_default(RAFT_MSG_APPEND, 60000);
	n = put_raw_msg(buf, &r);
	ck_assert_int_eq(decode(buf, n, NULL, NULL), FRAME_ETRUNCATED);
}
END_TEST

START_TEST(test_encode_refuses_what_decode_would)
{
	struct raft_msg m = make_msg(RAFT_MSG_VOTE);
	uint8_t small[16], *body;
	size_t len;

	ck_assert_int_eq(msg_codec_encode(&m, NULL, small, sizeof(small), NULL),
			 MSG_CODEC_EINVAL);
	m.type = 0;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EMSG_TYPE);
	m.type = RAFT_MSG_SNAPSHOT + 1;
	ck_assert_int_eq(msg_codec_encode_batch(&m, 1, NULL, &body, &len),
			 MSG_CODEC_EMSG_TYPE);
	ck_assert_ptr_null(body);
	m = make_msg(RAFT_MSG_VOTE);
	m.from = 0;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EID);
	m = make_msg(RAFT_MSG_HEARTBEAT);
	m.entries = make_entries(&m, 1);
	m.n_entries = 1;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EENTRIES);
	free_entries(m.entries, 1);

	m = make_msg(RAFT_MSG_APPEND);
	m.entries = make_entries(&m, 3);
	m.n_entries = 3;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_OK);
	m.entries[2].index++;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EENTRY_INDEX);
	m.entries[2].index--;
	m.entries[2].term = m.term + 1;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EENTRY_TERM);
	m.entries[2].term = m.entries[1].term;
	m.entries[2].type = FRAME_HARD_STATE;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EENTRY_TYPE);
	m.entries[2].type = RAFT_ENTRY_NORMAL;
	free_entries(m.entries, 3);
	m.entries = NULL;
	ck_assert_int_eq(msg_codec_check(&m, NULL), MSG_CODEC_EINVAL);
}
END_TEST

START_TEST(test_strerror_distinct)
{
	const char *seen[32];
	size_t n = 0;

	for (int e = MSG_CODEC_ERANGE; e <= MSG_CODEC_ENOMEM; e++)
		seen[n++] = msg_codec_strerror(e);
	for (int e = FRAME_EZERO; e <= FRAME_ETRUNCATED; e++)
		seen[n++] = msg_codec_strerror(e);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_ne(seen[i], "unknown error");
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(seen[i], seen[j]);
	}
	ck_assert_str_eq(msg_codec_strerror(-12345), "unknown error");
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("msg_codec");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip_every_type_without_entries);
	tcase_add_test(tc, test_roundtrip_snapshot);
	tcase_add_test(tc, test_roundtrip_with_entries_zero_copy);
	tcase_add_test(tc, test_roundtrip_mixed_batch);
	tcase_add_test(tc, test_empty_body_is_zero_messages);
	tcase_add_test(tc, test_append_index_edges);
	tcase_add_test(tc, test_numbers_out_of_range);
	tcase_add_test(tc, test_truncate_at_every_length);
	tcase_add_test(tc, test_flip_every_bit);
	tcase_add_test(tc, test_random_garbage_never_crashes);
	tcase_add_test(tc, test_bad_message_fields);
	tcase_add_test(tc, test_message_check_order);
	tcase_add_test(tc, test_bad_frames_pass_through);
	tcase_add_test(tc, test_frame_order);
	tcase_add_test(tc, test_inconsistent_entries);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_encode_refuses_what_decode_would);
	tcase_add_test(tc, test_strerror_distinct);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
