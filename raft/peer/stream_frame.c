/* stream_frame.c - the frame header of a peer stream (stream_frame.h). */
#include "stream_frame.h"

void stream_frame_head(uint8_t out[STREAM_FRAME_HEAD], uint8_t type,
		       uint32_t len)
{
	out[0] = type;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int stream_frame_parse(const uint8_t *p, size_t avail,
		       enum stream_frame_dir dir, size_t max_len,
		       struct stream_frame_hdr *out)
{
	uint32_t len;

	if (avail < STREAM_FRAME_HEAD)
		return STREAM_FRAME_MORE;
	len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
	      (uint32_t)p[3] << 8 | (uint32_t)p[4];
	switch (p[0]) {
	case STREAM_FRAME_MESSAGES:
		if (dir != STREAM_TO_RECEIVER)
			return STREAM_FRAME_ETYPE;
		/* Checked before anything is buffered for it: the length
		 * comes from the network. */
		if (len > max_len)
			return STREAM_FRAME_ETOO_LARGE;
		if (len == 0)
			return STREAM_FRAME_ELENGTH;
		break;
	case STREAM_FRAME_PING:
	case STREAM_FRAME_PONG:
		if ((p[0] == STREAM_FRAME_PING) != (dir == STREAM_TO_RECEIVER))
			return STREAM_FRAME_ETYPE;
		if (len != STREAM_PING_BYTES)
			return STREAM_FRAME_ELENGTH;
		break;
	default:
		return STREAM_FRAME_ETYPE;
	}
	out->type = p[0];
	out->len = len;
	return 1;
}

const char *stream_frame_strerror(int err)
{
	switch (err) {
	case STREAM_FRAME_ETYPE:
		return "unknown frame type";
	case STREAM_FRAME_ELENGTH:
		return "bad frame length";
	case STREAM_FRAME_ETOO_LARGE:
		return "frame above the body limit";
	default:
		return "unknown frame error";
	}
}
