/* fuzz_lane_answer.c - libFuzzer target for the parser of the answers a
 * peer lane reads (raft/peer/http_answer.c): any bytes as a stream of
 * pipelined answers, each head parsed and its body skipped, as lane_conn.c
 * does. An accepted head lies within the input, names a status in
 * 100..599, a body within the limit and a printable reason; the verdict
 * does not depend on what follows the head; its prefixes ask for more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http_answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEAD 512
#define MAX_BODY 1024

static void check_head(const char *p, size_t len, long rc,
		       const struct http_answer *a)
{
	struct http_answer b;

	FUZZ_CHECK(rc > 0 && (size_t)rc <= len && rc <= MAX_HEAD);
	FUZZ_CHECK(a->status >= 100 && a->status <= 599 && a->status != 101);
	FUZZ_CHECK(a->minor == 0 || a->minor == 1);
	FUZZ_CHECK(a->content_length <= MAX_BODY);
	FUZZ_CHECK(a->interim == (a->status < 200));
	if (a->status < 200 || a->status == 204 || a->status == 304)
		FUZZ_CHECK(a->content_length == 0);
	FUZZ_CHECK(memchr(a->reason, '\0', sizeof(a->reason)) != NULL);
	for (const char *r = a->reason; *r; r++)
		FUZZ_CHECK(*r >= 0x20 && *r < 0x7f);
	/* The head alone gives the same verdict. */
	FUZZ_CHECK(http_answer_parse(p, (size_t)rc, MAX_HEAD, MAX_BODY, &b) ==
		   rc);
	FUZZ_CHECK(b.status == a->status &&
		   b.content_length == a->content_length &&
		   b.close == a->close && strcmp(b.reason, a->reason) == 0);
	/* Read in pieces, it is never refused before it is whole. */
	FUZZ_CHECK(http_answer_parse(p, (size_t)rc - 1, MAX_HEAD, MAX_BODY,
				     &b) == HTTP_ANSWER_MORE);
	FUZZ_CHECK(http_answer_parse(p, (size_t)rc / 2, MAX_HEAD, MAX_BODY,
				     &b) == HTTP_ANSWER_MORE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t off = 0;

	/* Answers one after the other, as a pipelined connection reads
	 * them, until one is refused, incomplete or closes. */
	while (off < size) {
		struct http_answer a;
		long rc = http_answer_parse(p + off, size - off, MAX_HEAD,
					    MAX_BODY, &a);

		if (rc == HTTP_ANSWER_MORE) {
			FUZZ_CHECK(size - off < MAX_HEAD);
			break;
		}
		if (rc < 0) {
			FUZZ_CHECK(http_answer_strerror(rc) != NULL);
			break;
		}
		check_head(p + off, size - off, rc, &a);
		if ((uint64_t)(size - off - (size_t)rc) < a.content_length)
			break;
		off += (size_t)rc + a.content_length;
		if (a.close)
			break;
	}
	return 0;
}
