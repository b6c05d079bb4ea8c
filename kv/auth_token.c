/* auth_token.c - the token record (the operand of AUTH_ENABLE and
 * TOKEN_PUT, and the value of the "auth" table): its codec and rules,
 * without the store, so the server's parsers and the fuzz target use them
 * alone. */
#include <string.h>

#include "kv.h"
#include "byteorder.h"

int kv_token_name_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > KV_AUTH_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return 0;
	}
	return 1;
}

/* The rules a token follows, shared by encode and decode. */
static int token_ok(const struct kv_token *t)
{
	if (t->role < KV_ROLE_ADMIN || t->role > KV_ROLE_READONLY)
		return 0;
	if (!kv_token_name_valid(t->name, t->name_len))
		return 0;
	if (t->prefix_len > KV_AUTH_PREFIX_MAX)
		return 0;
	if (t->prefix_len != 0 && !kv_key_valid(t->prefix, t->prefix_len))
		return 0;
	/* An admin reaches everything: a prefix would suggest otherwise. */
	return t->role != KV_ROLE_ADMIN || t->prefix_len == 0;
}

int64_t kv_token_encode(const struct kv_token *t, uint8_t *out, size_t cap)
{
	size_t size;

	if (t == NULL || !token_ok(t))
		return KV_ECMD_AUTH;
	size = KV_TOKEN_HEAD + t->name_len + t->prefix_len;
	if (out == NULL || cap < size)
		return KV_EINVAL;
	out[0] = t->role;
	out[1] = (uint8_t)t->name_len;
	le_put_u16(out + 2, (uint16_t)t->prefix_len);
	memcpy(out + 4, t->hash, KV_AUTH_HASH_SIZE);
	memcpy(out + KV_TOKEN_HEAD, t->name, t->name_len);
	if (t->prefix_len != 0)
		memcpy(out + KV_TOKEN_HEAD + t->name_len, t->prefix,
		       t->prefix_len);
	return (int64_t)size;
}

int kv_token_decode(const uint8_t *p, size_t len, struct kv_token *t)
{
	size_t name_len, prefix_len;

	if (p == NULL || t == NULL || len < KV_TOKEN_HEAD)
		return KV_ECMD_AUTH;
	name_len = p[1];
	prefix_len = le_get_u16(p + 2);
	if (name_len > KV_AUTH_NAME_MAX || prefix_len > KV_AUTH_PREFIX_MAX ||
	    len != KV_TOKEN_HEAD + name_len + prefix_len)
		return KV_ECMD_AUTH;
	memset(t, 0, sizeof(*t));
	t->role = p[0];
	memcpy(t->hash, p + 4, KV_AUTH_HASH_SIZE);
	t->name_len = name_len;
	memcpy(t->name, p + KV_TOKEN_HEAD, name_len);
	t->name[name_len] = '\0';
	t->prefix_len = prefix_len;
	if (prefix_len != 0)
		memcpy(t->prefix, p + KV_TOKEN_HEAD + name_len, prefix_len);
	return token_ok(t) ? 0 : KV_ECMD_AUTH;
}
