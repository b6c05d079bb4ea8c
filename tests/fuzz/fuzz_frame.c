/* fuzz_frame.c - libFuzzer target for frame_decode() (raft/base/frame.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "frame.h"
#include "fuzz_common.h"

/* Largest payload the target lets the decoder accept; a length above it
 * must give FRAME_ETOO_LARGE before any payload byte is read. */
#define MAX_LEN 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	size_t len = size - 1;
	/* An exact-size heap copy: ASan reports any read past its end. */
	uint8_t *buf = fuzz_dup(data + 1, len);

	if (mode & FUZZ_FIX_CRC)
		fuzz_fix_frames(buf, len);

	/* Both CRC implementations agree on every input. */
	if (crc32c_hw_available())
		FUZZ_CHECK(crc32c_hw(0, buf, len) == crc32c_sw(0, buf, len));

	/* Decode every frame laid end to end, as the WAL and the peer
	 * protocol do. */
	size_t off = 0;
	while (off < len) {
		struct frame f;
		size_t consumed = (size_t)-1;
		uint32_t max_len = (mode & 0x02) ? 16 : MAX_LEN;
		int rc =
		    frame_decode(buf + off, len - off, max_len, &f, &consumed);

		if (rc != FRAME_OK) {
			FUZZ_CHECK(rc < 0 && rc >= FRAME_EZERO);
			FUZZ_CHECK(consumed == (size_t)-1); /* untouched */
			FUZZ_CHECK(strcmp(frame_strerror(rc),
					  "unknown frame error") != 0);
			if (len - off < FRAME_HEADER_SIZE)
				FUZZ_CHECK(rc == FRAME_ETRUNCATED);
			break;
		}
		/* Success: the frame lies inside the buffer, within the
		 * limit, and encoding it again gives back the same bytes. */
		FUZZ_CHECK(consumed == frame_size(f.len));
		FUZZ_CHECK(consumed <= len - off);
		FUZZ_CHECK(f.len <= max_len);
		FUZZ_CHECK(f.payload == buf + off + FRAME_HEADER_SIZE);
		FUZZ_CHECK(f.type == 1 || f.type == 2 || f.type == 3 ||
			   f.type == 16 || f.type == 17 || f.type == 32 ||
			   f.type == 33);
		uint8_t *re = malloc(consumed);
		FUZZ_CHECK(re != NULL);
		FUZZ_CHECK(frame_encode(re, f.type, f.term, f.index, f.payload,
					f.len) == consumed);
		FUZZ_CHECK(memcmp(re, buf + off, consumed) == 0);
		/* Any single flipped bit of the header is detected. */
		size_t bit =
		    (f.term ^ f.index ^ f.len) % (FRAME_HEADER_SIZE * 8);
		struct frame g;
		size_t c2 = 0;
		re[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		FUZZ_CHECK(frame_decode(re, consumed, max_len, &g, &c2) !=
			   FRAME_OK);
		free(re);
		off += consumed;
	}
	free(buf);
	return 0;
}
