/* fuzz_watch_stream.c - libFuzzer target for libkvc's watch stream readers:
 * the bytes of an HTTP answer through kvc_stream.c (head, chunked, sized or
 * close-ended body cut into lines) and each line through kvc_watch_line.c.
 *
 * Input: byte 0 seeds the sizes of the pieces the rest is fed in (1 to 64
 * bytes, or all at once when it is 0), byte 1 says whether the end of input
 * follows (bit 0). Properties: no crash, leak or undefined behaviour; the
 * reading is the same whatever the pieces (compared with one whole feed);
 * no line above the bound; an error is sticky; a parsed event has the
 * fields of its kind, in range. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvc_stream.h"
#include "kvc_watch_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small, so that the fuzzer reaches it. */
#define MAX_LINE 256

/* A digest of one reading: what came out, in order (but the MOREs, whose
 * number depends on the pieces). */
struct reading {
	uint64_t hash;
	int last; /* the final step: END, CUT, MORE or an error */
};

static void mix(struct reading *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		r->hash = (r->hash ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
}

static void check_line(const char *line, size_t len)
{
	struct kvc_watch_line l;
	const char *why = NULL;
	int rc = kvc_watch_line_parse(line, len, &l, &why);
	FUZZ_CHECK(why != NULL);
	if (rc < 0) {
		FUZZ_CHECK(rc == KVC_EPROTO || rc == KVC_ENOMEM);
		FUZZ_CHECK(l.key == NULL && l.value == NULL && l.error == NULL);
		return;
	}
	FUZZ_CHECK(rc == 0);
	switch (l.type) {
	case KVC_LINE_PUT:
		FUZZ_CHECK(l.value != NULL);
		FUZZ_CHECK(((const char *)l.value)[l.value_len] == '\0');
		/* fallthrough */
	case KVC_LINE_DELETE:
		FUZZ_CHECK(l.key != NULL && l.index >= 1);
		FUZZ_CHECK(strlen(l.key) >= 1 && strlen(l.key) <= KVC_MAX_KEY);
		break;
	case KVC_LINE_PROGRESS:
		FUZZ_CHECK(l.key == NULL);
		break;
	case KVC_LINE_ERROR:
		FUZZ_CHECK(l.error != NULL && *l.error && l.message != NULL);
		if (strcmp(l.error, "compacted") == 0)
			FUZZ_CHECK(l.oldest >= 1);
		break;
	default:
		FUZZ_CHECK(0);
	}
	FUZZ_CHECK(l.index <= INT64_MAX);
	kvc_watch_line_clear(&l);
}

/* Steps @s until it needs input or is finished; true when finished. */
static bool drain(struct kvc_stream *s, struct reading *r, bool lines)
{
	for (;;) {
		const char *line;
		size_t len;
		int rc = kvc_stream_next(s, &line, &len);
		r->last = rc;
		if (rc == KVC_STREAM_MORE)
			return false;
		mix(r, &rc, sizeof(rc));
		if (rc == KVC_STREAM_HEAD) {
			FUZZ_CHECK(s->status >= 200 && s->status <= 599);
			FUZZ_CHECK(s->index <= INT64_MAX);
			mix(r, &s->status, sizeof(s->status));
			mix(r, &s->index, sizeof(s->index));
			continue;
		}
		if (rc == KVC_STREAM_LINE || rc == KVC_STREAM_END) {
			FUZZ_CHECK(len <= MAX_LINE);
			mix(r, &len, sizeof(len));
			mix(r, line, len);
			if (lines)
				check_line(line, len);
			if (rc == KVC_STREAM_LINE)
				continue;
		}
		if (rc < 0) {
			/* Sticky. */
			FUZZ_CHECK(kvc_stream_next(s, &line, &len) == rc);
		}
		return true;
	}
}

static struct reading read_all(const uint8_t *in, size_t n, uint8_t seed,
			       bool eof, bool lines)
{
	struct reading r = {.hash = 0xcbf29ce484222325ull};
	struct kvc_stream s;
	kvc_stream_init(&s, MAX_LINE);
	uint32_t x = seed * 2654435761u + 1;
	size_t at = 0;
	bool done = false;
	while (at < n && !done) {
		size_t piece = n - at;
		if (seed) {
			x = x * 1103515245u + 12345u;
			piece = 1 + (x >> 16) % 64;
			if (piece > n - at)
				piece = n - at;
		}
		FUZZ_CHECK(kvc_stream_feed(&s, in + at, piece) == 0);
		at += piece;
		done = drain(&s, &r, lines);
	}
	if (!done) {
		if (n == 0)
			done = drain(&s, &r, lines);
		if (!done && eof) {
			kvc_stream_eof(&s);
			FUZZ_CHECK(drain(&s, &r, lines));
		}
	}
	kvc_stream_free(&s);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t seed = data[0];
	bool eof = data[1] & 1;
	const uint8_t *in = data + 2;
	size_t n = size - 2;
	struct reading pieces = read_all(in, n, seed, eof, true);
	struct reading whole = read_all(in, n, 0, eof, false);
	/* Pieces change nothing but the number of MOREs. */
	FUZZ_CHECK(pieces.last == whole.last);
	FUZZ_CHECK(pieces.hash == whole.hash);
	return 0;
}
