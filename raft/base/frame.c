/* frame.c - encode and decode CRC-framed records (layout in frame.h). */
#include "frame.h"

#include <string.h>

#include "crc32c.h"

/* Byte offsets of the header fields; docs/FORMAT.md lists them too. */
enum {
	OFF_HEADER_CRC = 0,
	OFF_PAYLOAD_CRC = 4,
	OFF_VERSION = 8,
	OFF_TYPE = 9,
	OFF_RESERVED = 10,
	OFF_LENGTH = 12,
	OFF_TERM = 16,
	OFF_INDEX = 24,
	/* The header CRC starts after its own field. */
	HEADER_CRC_START = OFF_PAYLOAD_CRC
};

_Static_assert(OFF_INDEX + 8 == FRAME_HEADER_SIZE, "header layout");

static int type_known(uint8_t type)
{
	switch (type) {
	case FRAME_ENTRY_NORMAL:
	case FRAME_ENTRY_NOOP:
	case FRAME_ENTRY_CONFIG:
	case FRAME_HARD_STATE:
	case FRAME_SEGMENT:
	case FRAME_MESSAGE:
	case FRAME_SNAPSHOT_CHUNK:
		return 1;
	default:
		return 0;
	}
}

static uint32_t header_crc(const uint8_t *hdr)
{
	return crc32c(0, hdr + HEADER_CRC_START,
		      FRAME_HEADER_SIZE - HEADER_CRC_START);
}

void frame_encode_header(uint8_t *out, uint8_t type, raft_term term,
			 raft_index index, uint32_t len)
{
	/* The payload CRC is inside the header CRC's range: compute it first.
	 */
	le_put_u32(out + OFF_PAYLOAD_CRC,
		   crc32c(0, out + FRAME_HEADER_SIZE, len));
	out[OFF_VERSION] = FRAME_VERSION;
	out[OFF_TYPE] = type;
	le_put_u16(out + OFF_RESERVED, 0);
	le_put_u32(out + OFF_LENGTH, len);
	le_put_u64(out + OFF_TERM, term);
	le_put_u64(out + OFF_INDEX, index);
	le_put_u32(out + OFF_HEADER_CRC, header_crc(out));
}

size_t frame_encode(uint8_t *out, uint8_t type, raft_term term,
		    raft_index index, const void *payload, uint32_t len)
{
	/* memmove: a caller may pass a payload already sitting at out + 32. */
	if (len > 0)
		memmove(out + FRAME_HEADER_SIZE, payload, len);
	frame_encode_header(out, type, term, index, len);
	return frame_size(len);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int frame_decode(const uint8_t *buf, size_t avail, uint32_t max_len,
		 struct frame *out, size_t *consumed)
{
	uint32_t len;

	/* The order of the checks is part of the format (docs/FORMAT.md): each
	 * field is trusted only after the checks before it passed, and the
	 * length is read only from a header whose CRC matched. */
	if (avail < FRAME_HEADER_SIZE)
		return FRAME_ETRUNCATED;
	if (all_zero(buf, FRAME_HEADER_SIZE))
		return FRAME_EZERO;
	if (buf[OFF_VERSION] != FRAME_VERSION)
		return FRAME_EVERSION;
	if (le_get_u32(buf + OFF_HEADER_CRC) != header_crc(buf))
		return FRAME_EHEADER_CRC;
	if (le_get_u16(buf + OFF_RESERVED) != 0 || !type_known(buf[OFF_TYPE]))
		return FRAME_ETYPE;
	len = le_get_u32(buf + OFF_LENGTH);
	if (len > max_len)
		return FRAME_ETOO_LARGE;
	if (avail - FRAME_HEADER_SIZE < len)
		return FRAME_ETRUNCATED;
	if (le_get_u32(buf + OFF_PAYLOAD_CRC) !=
	    crc32c(0, buf + FRAME_HEADER_SIZE, len))
		return FRAME_EPAYLOAD_CRC;

	out->type = buf[OFF_TYPE];
	out->term = le_get_u64(buf + OFF_TERM);
	out->index = le_get_u64(buf + OFF_INDEX);
	out->len = len;
	out->payload = buf + FRAME_HEADER_SIZE;
	*consumed = frame_size(len);
	return FRAME_OK;
}

int frame_header_intact(const uint8_t *buf, size_t avail, uint32_t *len)
{
	if (buf == NULL || avail < FRAME_HEADER_SIZE ||
	    le_get_u32(buf + OFF_HEADER_CRC) != header_crc(buf))
		return 0;
	if (len != NULL)
		*len = le_get_u32(buf + OFF_LENGTH);
	return 1;
}

const char *frame_strerror(int err)
{
	switch (err) {
	case FRAME_OK:
		return "ok";
	case FRAME_ETRUNCATED:
		return "frame truncated: fewer bytes than the header or length "
		       "say";
	case FRAME_EVERSION:
		return "unknown frame version";
	case FRAME_EHEADER_CRC:
		return "frame header checksum mismatch";
	case FRAME_ETOO_LARGE:
		return "frame payload longer than the allowed maximum";
	case FRAME_EPAYLOAD_CRC:
		return "frame payload checksum mismatch";
	case FRAME_ETYPE:
		return "unknown frame type or nonzero reserved bits";
	case FRAME_EZERO:
		return "all-zero frame header (preallocated space)";
	default:
		return "unknown frame error";
	}
}
