/* fuzz_msg_codec.c - libFuzzer target for msg_codec_decode() (peer message
 * bodies, raft/peer/msg_codec.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "msg_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits (mode bit 0x02) so the fuzzer reaches every limit check with
 * inputs of a few hundred bytes. */
static const struct msg_codec_limits small_limits = {
    .max_msgs = 3,
    .max_entries = 3,
    .max_entry_bytes = 64,
    .max_body_bytes = 1024,
};

/* Every pointer of a decoded batch stays inside the arrays and the body. */
static void check_batch(const struct msg_batch *b, const uint8_t *body,
			size_t len, const struct msg_codec_limits *lim)
{
	size_t entries = 0;

	FUZZ_CHECK((b->n_msgs == 0) == (b->msgs == NULL));
	FUZZ_CHECK((b->n_entries == 0) == (b->entries == NULL));
	for (size_t i = 0; i < b->n_msgs; i++) {
		const struct raft_msg *m = &b->msgs[i];

		/* What decodes must pass the encoder's own check. */
		FUZZ_CHECK(msg_codec_check(m, lim) == MSG_CODEC_OK);
		FUZZ_CHECK(m->from != 0 && m->to != 0);
		if (m->n_entries == 0)
			continue;
		FUZZ_CHECK(m->entries == b->entries + entries);
		entries += m->n_entries;
		FUZZ_CHECK(entries <= b->n_entries);
		for (size_t j = 0; j < m->n_entries; j++) {
			const struct raft_entry *e = &m->entries[j];

			FUZZ_CHECK(e->type >= 1 && e->type <= 3);
			if (e->len == 0)
				continue;
			/* Zero-copy: the data lies inside the body. */
			FUZZ_CHECK(e->data >= body &&
				   e->data + e->len <= body + len);
		}
	}
	FUZZ_CHECK(entries == b->n_entries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	size_t len = size - 1;
	uint8_t *body = fuzz_dup(data + 1, len);
	const struct msg_codec_limits *lim =
	    (mode & 0x02) ? &small_limits : NULL;
	struct msg_batch b;
	size_t err_off = (size_t)-1;

	if (mode & FUZZ_FIX_CRC)
		fuzz_fix_frames(body, len);

	int rc = msg_codec_decode(body, len, lim, &b, &err_off);
	if (rc != MSG_CODEC_OK) {
		FUZZ_CHECK(rc < 0);
		FUZZ_CHECK(rc != MSG_CODEC_EINVAL && rc != MSG_CODEC_ENOMEM);
		FUZZ_CHECK(err_off <= len);
		FUZZ_CHECK(b.msgs == NULL && b.entries == NULL);
		FUZZ_CHECK(strcmp(msg_codec_strerror(rc), "unknown error") !=
			   0);
		free(body);
		return 0;
	}
	check_batch(&b, body, len, lim);

	/* The encoding is canonical: encoding what was decoded gives back
	 * exactly the body. */
	uint8_t *re = NULL;
	size_t relen = 0;
	if (b.n_msgs > 0) {
		FUZZ_CHECK(msg_codec_encode_batch(b.msgs, b.n_msgs, lim, &re,
						  &relen) == MSG_CODEC_OK);
		FUZZ_CHECK(relen == len);
		FUZZ_CHECK(memcmp(re, body, len) == 0);
		/* And one message at a time, at the same offsets. */
		size_t off = 0;
		for (size_t i = 0; i < b.n_msgs; i++) {
			size_t w = 0, sz = msg_codec_size(&b.msgs[i]);

			FUZZ_CHECK(sz <= len - off);
			FUZZ_CHECK(msg_codec_encode(&b.msgs[i], lim, re, sz,
						    &w) == MSG_CODEC_OK);
			FUZZ_CHECK(w == sz);
			FUZZ_CHECK(memcmp(re, body + off, sz) == 0);
			off += sz;
		}
		FUZZ_CHECK(off == len);
	} else {
		FUZZ_CHECK(len == 0);
	}
	free(re);
	msg_batch_free(&b);
	free(body);
	return 0;
}
