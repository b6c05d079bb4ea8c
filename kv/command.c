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
_Static_assert((uint64_t)KV_CMD_HEADER_SIZE + KV_KEY_MAX + KV_VALUE_MAX + 8 <=
		   UINT32_MAX,
	       "the largest command fits one frame's payload");

size_t kv_cmd_size(const struct kv_cmd *cmd)
{
	return KV_CMD_HEADER_SIZE + cmd->key_len + cmd->value_len +
	       (cmd->lease != 0 ? 8 : 0);
}

static int op_known(uint8_t op)
{
	return op >= KV_OP_PUT && op <= KV_OP_MAX;
}

/* The field rules shared by encode and decode, in the order decode meets
 * them (so both report the same code for the same command). Only sizes
 * and header fields: what the value holds is checked by check_value(). */
static int check_fields(uint8_t op, int has_cas, uint64_t cas, int has_lease,
			uint64_t client_id, uint64_t seq, size_t key_len,
			size_t value_len)
{
	int point = op == KV_OP_PUT || op == KV_OP_DELETE;

	if (!op_known(op))
		return KV_ECMD_OP;
	if (!has_cas && cas != 0)
		return KV_ECMD_CAS;
	if (has_cas && !point)
		return KV_ECMD_ARGS;
	if (has_lease && op != KV_OP_PUT)
		return KV_ECMD_LEASE;
	if (client_id == 0 && seq != 0)
		return KV_ECMD_SEQ;
	if (point && key_len == 0)
		return KV_ECMD_KEY_EMPTY;
	if (key_len > KV_KEY_MAX)
		return KV_ECMD_KEY_TOO_LONG;
	/* TXN and the lease ops name no key: their operands are the value. */
	if (!point && op != KV_OP_DELETE_PREFIX && key_len != 0)
		return KV_ECMD_ARGS;
	if (value_len > KV_VALUE_MAX)
		return KV_ECMD_VALUE_TOO_LONG;
	if (op == KV_OP_DELETE && value_len != 0)
		return KV_ECMD_DELETE_VALUE;
	if (op == KV_OP_DELETE_PREFIX && value_len != 0)
		return KV_ECMD_ARGS;
	if ((op == KV_OP_LEASE_GRANT || op == KV_OP_LEASE_REVOKE) &&
	    value_len != 8)
		return KV_ECMD_LEASE;
	if (op == KV_OP_LEASE_EXPIRE && (value_len == 0 || value_len % 8 != 0 ||
					 value_len / 8 > KV_LEASE_EXPIRE_MAX))
		return KV_ECMD_LEASE;
	if (op == KV_OP_AUTH_DISABLE && value_len != 0)
		return KV_ECMD_ARGS;
	if ((op == KV_OP_AUTH_ENABLE || op == KV_OP_TOKEN_PUT) &&
	    (value_len < KV_TOKEN_HEAD || value_len > KV_TOKEN_MAX))
		return KV_ECMD_AUTH;
	if (op == KV_OP_TOKEN_DELETE &&
	    (value_len == 0 || value_len > KV_AUTH_NAME_MAX))
		return KV_ECMD_AUTH;
	return 0;
}

/* The rules on the bytes of the key, the lease and a lease op's value,
 * after check_fields() passed and the bytes are known to be present. A
 * TXN body is not looked at here: decoding it is apply's (kv_cmd_decode()
 * checks only the framing), and kv_cmd_check() checks it separately. */
static int check_value(uint8_t op, const uint8_t *key, size_t key_len,
		       const uint8_t *value, size_t value_len)
{
	if (key_len != 0 && !kv_key_valid(key, key_len))
		return KV_ECMD_KEY_INVALID;
	if (op == KV_OP_LEASE_GRANT) {
		uint64_t ttl = le_get_u64(value);
		if (ttl < 1 || ttl > KV_LEASE_TTL_MAX)
			return KV_ECMD_LEASE;
	} else if (op == KV_OP_LEASE_REVOKE || op == KV_OP_LEASE_EXPIRE) {
		for (size_t i = 0; i < value_len; i += 8)
			if (le_get_u64(value + i) == 0)
				return KV_ECMD_LEASE;
	} else if (op == KV_OP_AUTH_ENABLE || op == KV_OP_TOKEN_PUT) {
		struct kv_token t;
		if (kv_token_decode(value, value_len, &t) != 0)
			return KV_ECMD_AUTH;
		/* Enabling makes the one admin that can do the rest. */
		if (op == KV_OP_AUTH_ENABLE && t.role != KV_ROLE_ADMIN)
			return KV_ECMD_AUTH;
	} else if (op == KV_OP_TOKEN_DELETE) {
		if (!kv_token_name_valid((const char *)value, value_len))
			return KV_ECMD_AUTH;
	}
	return 0;
}

/* kv_cmd_check() without the TXN body when @body is 0. */
static int check_cmd(const struct kv_cmd *cmd, int body)
{
	int rv;

	if (cmd == NULL)
		return KV_EINVAL;
	if (cmd->has_cas > 1)
		return KV_ECMD_FLAGS;
	rv = check_fields(cmd->op, cmd->has_cas, cmd->cas, cmd->lease != 0,
			  cmd->client_id, cmd->seq, cmd->key_len,
			  cmd->value_len);
	if (rv != 0)
		return rv;
	if ((cmd->key == NULL && cmd->key_len != 0) ||
	    (cmd->value == NULL && cmd->value_len != 0))
		return KV_EINVAL;
	rv = check_value(cmd->op, cmd->key, cmd->key_len, cmd->value,
			 cmd->value_len);
	if (rv != 0)
		return rv;
	if (body && cmd->op == KV_OP_TXN) {
		/* The encoder validates the body so that a member never
		 * proposes one that every member would skip. */
		struct kv_txn *t = malloc(sizeof(*t));
		if (t == NULL)
			return KV_ENOMEM;
		rv = kv_txn_decode(cmd->value, cmd->value_len, t);
		free(t);
	}
	return rv;
}

int kv_cmd_check(const struct kv_cmd *cmd)
{
	return check_cmd(cmd, 1);
}

int64_t kv_cmd_encode_head(const struct kv_cmd *cmd, uint8_t *out, size_t cap)
{
	struct kv_cmd c;
	size_t size;
	int rv;

	if (cmd == NULL)
		return KV_EINVAL;
	/* A PUT's value is the caller's to place: check everything else. The
	 * other ops' values are operands, checked like kv_cmd_encode()'s. */
	c = *cmd;
	if (c.op == KV_OP_PUT)
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
	out[OFF_FLAGS] = (uint8_t)((cmd->has_cas ? KV_CMD_F_CAS : 0) |
				   (cmd->lease != 0 ? KV_CMD_F_LEASE : 0));
	le_put_u16(out + OFF_KEY_LEN, (uint16_t)cmd->key_len);
	le_put_u32(out + OFF_VALUE_LEN, (uint32_t)cmd->value_len);
	le_put_u64(out + OFF_CAS, cmd->cas);
	le_put_u64(out + OFF_CLIENT, cmd->client_id);
	le_put_u64(out + OFF_SEQ, cmd->seq);
	le_put_u64(out + OFF_ORIGIN, cmd->origin);
	le_put_u64(out + OFF_REQUEST, cmd->request_id);
	if (cmd->key_len != 0)
		memcpy(out + KV_CMD_HEADER_SIZE, cmd->key, cmd->key_len);
	if (cmd->lease != 0)
		le_put_u64(out + KV_CMD_HEADER_SIZE + cmd->key_len +
			       cmd->value_len,
			   cmd->lease);
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
	size_t key_len, value_len, lease_len;
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
	if (!op_known(buf[OFF_OP]))
		return KV_ECMD_OP;
	flags = buf[OFF_FLAGS];
	if ((flags & ~(KV_CMD_F_CAS | KV_CMD_F_LEASE)) != 0 ||
	    buf[OFF_RESERVED1] != 0 || le_get_u16(buf + OFF_RESERVED2) != 0 ||
	    le_get_u32(buf + OFF_RESERVED3) != 0)
		return KV_ECMD_FLAGS;
	out->op = buf[OFF_OP];
	out->has_cas = (flags & KV_CMD_F_CAS) ? 1 : 0;
	out->cas = le_get_u64(buf + OFF_CAS);
	out->client_id = le_get_u64(buf + OFF_CLIENT);
	out->seq = le_get_u64(buf + OFF_SEQ);
	out->origin = le_get_u64(buf + OFF_ORIGIN);
	out->request_id = le_get_u64(buf + OFF_REQUEST);
	out->lease = 0;
	key_len = le_get_u16(buf + OFF_KEY_LEN);
	value_len = le_get_u32(buf + OFF_VALUE_LEN);
	lease_len = (flags & KV_CMD_F_LEASE) ? 8 : 0;
	rv = check_fields(out->op, out->has_cas, out->cas, lease_len != 0,
			  out->client_id, out->seq, key_len, value_len);
	if (rv != 0)
		return rv;
	/* key_len <= 511 and value_len <= 64 MiB here: no overflow. */
	if (len - KV_CMD_HEADER_SIZE < key_len + value_len + lease_len)
		return KV_ECMD_TRUNCATED;
	if (len - KV_CMD_HEADER_SIZE > key_len + value_len + lease_len)
		return KV_ECMD_TRAILING;
	out->key = key_len ? buf + KV_CMD_HEADER_SIZE : NULL;
	out->key_len = key_len;
	out->value = value_len ? buf + KV_CMD_HEADER_SIZE + key_len : NULL;
	out->value_len = value_len;
	rv = check_value(out->op, out->key, key_len, out->value, value_len);
	if (rv != 0)
		return rv;
	if (lease_len != 0) {
		out->lease =
		    le_get_u64(buf + KV_CMD_HEADER_SIZE + key_len + value_len);
		/* 0 is "no lease", which is said by the flag's absence: one
		 * encoding per command. */
		if (out->lease == 0)
			return KV_ECMD_LEASE;
	}
	return 0;
}
