/* fuzz_stream_frame.c - libFuzzer target for the frame reader of peer
 * streams (raft/peer/stream_frame.c): the first byte picks the direction
 * (receiver's or sender's side), the rest is read as a stream of frames
 * as stream_recv.c and stream_send.c read it, each messages frame's
 * payload decoded with the checks of a /raft/messages body. An accepted
 * header has a type the direction carries and a length within the limit
 * (8 for a ping or pong); its verdict does not depend on what follows it;
 * a header rebuilt from it is the same bytes; fewer than 5 bytes ask for
 * more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "msg_codec.h"
#include "stream_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LEN 4096 /* the body limit the reader is given */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_codec_limits lim = {.max_body_bytes = MAX_LEN,
				       .max_msgs = 64};
	enum stream_frame_dir dir;
	size_t off = 1;

	if (size < 1)
		return 0;
	dir = (data[0] & 1) ? STREAM_TO_SENDER : STREAM_TO_RECEIVER;
	while (off < size) {
		struct stream_frame_hdr f, g;
		uint8_t again[STREAM_FRAME_HEAD];
		int rc = stream_frame_parse(data + off, size - off, dir,
					    MAX_LEN, &f);

		if (rc == STREAM_FRAME_MORE) {
			FUZZ_CHECK(size - off < STREAM_FRAME_HEAD);
			break;
		}
		if (rc < 0) {
			FUZZ_CHECK(stream_frame_strerror(rc) != NULL);
			/* The header alone gives the same verdict. */
			FUZZ_CHECK(stream_frame_parse(data + off,
						      STREAM_FRAME_HEAD, dir,
						      MAX_LEN, &g) == rc);
			break;
		}
		FUZZ_CHECK(rc == 1);
		FUZZ_CHECK(f.len <= MAX_LEN);
		if (dir == STREAM_TO_RECEIVER)
			FUZZ_CHECK(f.type == STREAM_FRAME_MESSAGES ||
				   f.type == STREAM_FRAME_PING);
		else
			FUZZ_CHECK(f.type == STREAM_FRAME_PONG);
		if (f.type != STREAM_FRAME_MESSAGES)
			FUZZ_CHECK(f.len == STREAM_PING_BYTES);
		else
			FUZZ_CHECK(f.len > 0);
		FUZZ_CHECK(stream_frame_parse(data + off, STREAM_FRAME_HEAD,
					      dir, MAX_LEN, &g) == 1 &&
			   g.type == f.type && g.len == f.len);
		FUZZ_CHECK(stream_frame_parse(data + off, STREAM_FRAME_HEAD - 1,
					      dir, MAX_LEN,
					      &g) == STREAM_FRAME_MORE);
		stream_frame_head(again, f.type, f.len);
		FUZZ_CHECK(memcmp(again, data + off, STREAM_FRAME_HEAD) == 0);
		off += STREAM_FRAME_HEAD;
		if (size - off < f.len)
			break; /* the payload is not all in: wait */
		if (f.type == STREAM_FRAME_MESSAGES) {
			struct msg_batch b;
			size_t err_off = 0;

			if (msg_codec_decode(data + off, f.len, &lim, &b,
					     &err_off) == MSG_CODEC_OK) {
				FUZZ_CHECK(b.n_msgs <= lim.max_msgs);
				msg_batch_free(&b);
			} else {
				FUZZ_CHECK(err_off <= f.len);
			}
		}
		off += f.len;
	}
	return 0;
}
