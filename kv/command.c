/* command.c - the state machine command codec (docs/FORMAT.md, kv). */
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "byteorder.h"

/* Header field offsets; see docs/FORMAT.md for the table. */
enum {
	OFF_VERSION = 0,
	OFF_OP = 1,
	OFF_FLAGS = 2,
	OFF_RESERVED1 = 3,
	OFF_KEY_LEN = 4,
	OFF_RESERVED2 = 6,
	OFF_VALUE_LEN = 8,
	OFF_RESERVED3 = 12,
	OFF_CAS = 16,
	OFF_CLIENT = 24,
	OFF_SEQ = 32,
	OFF_ORIGIN = 40,
	OFF_REQUEST = 48
};

_Static_assert(OFF_REQUEST + 8 == KV_CMD_HEADER_SIZE, "header size");
_Static_assert(OFF_ORIGIN == KV_CMD_IDENTITY_OFFSET &&
		   OFF_REQUEST == OFF_ORIGIN + 8,
	       "the identity the node writes: origin, then request id");
/* The lengths travel in fields of 2 and 4 bytes, and a whole command is
 * one frame's payload, whose length is a uint32_t (frame.h). */
_Static_assert(KV_KEY_MAX <= UINT16_MAX, "key length fits its u16 field");
_Static_assert(KV_VALUE_MAX <= UINT32_MAX, "value length fits its field");
_Static_assert((uint64_t)KV_CMD_HEADER_SIZE + KV_KEY_MAX + KV_VALUE_MAX <=
		   UINT32_MAX,
	       "the largest command fits one frame's payload");

size_t kv_cmd_size(const struct kv_cmd *cmd)
{
	return KV_CMD_HEADER_SIZE + cmd->key_len + cmd->value_len;
}

/* The field rules shared by encode and decode, in the order decode meets
 * them (so both report the same code for the same command). */
static int check_fields(uint8_t op, int has_cas, uint64_t cas,
			uint64_t client_id, uint64_t seq, size_t key_len,
			size_t value_len)
{
	if (op != KV_OP_PUT && op != KV_OP_DELETE)
		return KV_ECMD_OP;
	if (!has_cas && cas != 0)
		return KV_ECMD_CAS;
	if (client_id == 0 && seq != 0)
		return KV_ECMD_SEQ;
	if (key_len == 0)
		return KV_ECMD_KEY_EMPTY;
	if (key_len > KV_KEY_MAX)
		return KV_ECMD_KEY_TOO_LONG;
	if (value_len > KV_VALUE_MAX)
		return KV_ECMD_VALUE_TOO_LONG;
	if (op == KV_OP_DELETE && value_len != 0)
		return KV_ECMD_DELETE_VALUE;
	return 0;
}

int kv_cmd_check(const struct kv_cmd *cmd)
{
	int rv;

	if (cmd == NULL)
		return KV_EINVAL;
	if (cmd->has_cas > 1)
		return KV_ECMD_FLAGS;
	rv = check_fields(cmd->op, cmd->has_cas, cmd->cas, cmd->client_id,
			  cmd->seq, cmd->key_len, cmd->value_len);
	if (rv != 0)
		return rv;
	if (cmd->key == NULL || (cmd->value == NULL && cmd->value_len != 0))
		return KV_EINVAL;
	if (!kv_key_valid(cmd->key, cmd->key_len))
		return KV_ECMD_KEY_INVALID;
	return 0;
}

int64_t kv_cmd_encode_head(const struct kv_cmd *cmd, uint8_t *out, size_t cap)
{
	struct kv_cmd c;
	size_t size;
	int rv;

	if (cmd == NULL)
		return KV_EINVAL;
	/* The value is the caller's to place: check everything else. */
	c = *cmd;
	c.value = c.value_len != 0 ? (const uint8_t *)"" : NULL;
	rv = kv_cmd_check(&c);
	if (rv != 0)
		return rv;
	size = kv_cmd_size(cmd);
	if (out == NULL || cap < size)
		return KV_EINVAL;
	memset(out, 0, KV_CMD_HEADER_SIZE);
	out[OFF_VERSION] = KV_CMD_VERSION;
	out[OFF_OP] = cmd->op;
	out[OFF_FLAGS] = cmd->has_cas ? KV_CMD_F_CAS : 0;
	le_put_u16(out + OFF_KEY_LEN, (uint16_t)cmd->key_len);
	le_put_u32(out + OFF_VALUE_LEN, (uint32_t)cmd->value_len);
	le_put_u64(out + OFF_CAS, cmd->cas);
	le_put_u64(out + OFF_CLIENT, cmd->client_id);
	le_put_u64(out + OFF_SEQ, cmd->seq);
	le_put_u64(out + OFF_ORIGIN, cmd->origin);
	le_put_u64(out + OFF_REQUEST, cmd->request_id);
	memcpy(out + KV_CMD_HEADER_SIZE, cmd->key, cmd->key_len);
	return (int64_t)size;
}

int64_t kv_cmd_encode(const struct kv_cmd *cmd, uint8_t *out, size_t cap)
{
	int rv = kv_cmd_check(cmd);
	int64_t size;

	if (rv != 0)
		return rv;
	size = kv_cmd_encode_head(cmd, out, cap);
	if (size > 0 && cmd->value_len != 0)
		memcpy(out + KV_CMD_HEADER_SIZE + cmd->key_len, cmd->value,
		       cmd->value_len);
	return size;
}

int kv_cmd_encode_alloc(const struct kv_cmd *cmd, uint8_t **out, size_t *len)
{
	uint8_t *buf;
	int64_t n;
	int rv;

	if (out == NULL || len == NULL)
		return KV_EINVAL;
	*out = NULL;
	rv = kv_cmd_check(cmd);
	if (rv != 0)
		return rv;
	buf = malloc(kv_cmd_size(cmd));
	if (buf == NULL)
		return KV_ENOMEM;
	n = kv_cmd_encode(cmd, buf, kv_cmd_size(cmd));
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int kv_cmd_decode(const uint8_t *buf, size_t len, struct kv_cmd *out)
{
	uint8_t flags;
	size_t key_len, value_len;
	int rv;

	if (buf == NULL || out == NULL)
		return buf == NULL && len == 0 ? KV_ECMD_TRUNCATED : KV_EINVAL;
	/* The version comes first so that a future layout with another header
	 * size is reported as a version problem, not as truncation. */
	if (len < 1)
		return KV_ECMD_TRUNCATED;
	if (buf[OFF_VERSION] != KV_CMD_VERSION)
		return KV_ECMD_VERSION;
	if (len < KV_CMD_HEADER_SIZE)
		return KV_ECMD_TRUNCATED;
	if (buf[OFF_OP] != KV_OP_PUT && buf[OFF_OP] != KV_OP_DELETE)
		return KV_ECMD_OP;
	flags = buf[OFF_FLAGS];
	if ((flags & ~KV_CMD_F_CAS) != 0 || buf[OFF_RESERVED1] != 0 ||
	    le_get_u16(buf + OFF_RESERVED2) != 0 ||
	    le_get_u32(buf + OFF_RESERVED3) != 0)
		return KV_ECMD_FLAGS;
	out->op = buf[OFF_OP];
	out->has_cas = (flags & KV_CMD_F_CAS) ? 1 : 0;
	out->cas = le_get_u64(buf + OFF_CAS);
	out->client_id = le_get_u64(buf + OFF_CLIENT);
	out->seq = le_get_u64(buf + OFF_SEQ);
	out->origin = le_get_u64(buf + OFF_ORIGIN);
	out->request_id = le_get_u64(buf + OFF_REQUEST);
	key_len = le_get_u16(buf + OFF_KEY_LEN);
	value_len = le_get_u32(buf + OFF_VALUE_LEN);
	rv = check_fields(out->op, out->has_cas, out->cas, out->client_id,
			  out->seq, key_len, value_len);
	if (rv != 0)
		return rv;
	/* key_len <= 511 and value_len <= 64 MiB here: no overflow. */
	if (len - KV_CMD_HEADER_SIZE < key_len + value_len)
		return KV_ECMD_TRUNCATED;
	if (len - KV_CMD_HEADER_SIZE > key_len + value_len)
		return KV_ECMD_TRAILING;
	out->key = buf + KV_CMD_HEADER_SIZE;
	out->key_len = key_len;
	out->value = value_len ? buf + KV_CMD_HEADER_SIZE + key_len : NULL;
	out->value_len = value_len;
	if (!kv_key_valid(out->key, key_len))
		return KV_ECMD_KEY_INVALID;
	return 0;
}
