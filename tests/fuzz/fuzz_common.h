/* fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/. */
#ifndef TESTS_FUZZ_COMMON_H_
#define TESTS_FUZZ_COMMON_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "frame.h"

/* A property of the code under test that failed. Stays on in every build
 * (no NDEBUG): abort() makes libFuzzer keep the input as a crash. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n",        \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* Mode bits taken from the first input byte by targets that decode frames.
 * Random bytes almost never carry valid CRCs, so most of what a fuzzer
 * makes would stop at the first checksum; with FUZZ_FIX_CRC the target
 * first rewrites the checksums so the mutations reach the layers above. */
#define FUZZ_FIX_CRC 0x01

/* Rewrites, in place, both checksums of each frame laid end to end in
 * @buf (@len bytes), walking by each header's length field. Stops at an
 * all-zero header (the end of a WAL segment) or at a length running past
 * the end (left as a torn tail). Everything else of the header is left as
 * the input had it, so bad versions, types and reserved bits still reach
 * the decoder. Returns the number of bytes walked over. */
static inline size_t fuzz_fix_frames(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= FRAME_HEADER_SIZE) {
		uint8_t *h = buf + off;
		uint32_t plen = le_get_u32(h + 12);
		int zero = 1;

		for (int i = 0; i < FRAME_HEADER_SIZE && zero; i++)
			zero = h[i] == 0;
		if (zero || plen > len - off - FRAME_HEADER_SIZE)
			break;
		le_put_u32(h + 4, crc32c(0, h + FRAME_HEADER_SIZE, plen));
		le_put_u32(h, crc32c(0, h + 4, FRAME_HEADER_SIZE - 4));
		off += frame_size(plen);
	}
	return off;
}

/* A malloc'd copy of @data (at least one byte, so a zero-length input still
 * has a distinct heap object whose bounds ASan checks). */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	FUZZ_CHECK(p != NULL);
	if (len)
		memcpy(p, data, len);
	return p;
}

#endif /* TESTS_FUZZ_COMMON_H_ */
