/* fuzz_auth.c - libFuzzer target for the parsers auth trusts with bytes
 * from the network (server/auth.c, server/auth_json.c): any bytes as the
 * body of POST /v1/auth/tokens, as an Authorization header value, and as
 * a request's header block. What the body parser accepts follows the
 * token rules and goes through the token record codec unchanged; a bearer
 * token and a parsed path lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "auth_json.h"
#include "fuzz_common.h"
#include "kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_body(const char *body, size_t size)
{
	struct kv_token t, back;
	uint8_t rec[KV_TOKEN_MAX];
	char why[256] = "";

	if (auth_json_parse_token(body, size, &t, why, sizeof(why)) != 0) {
		FUZZ_CHECK(why[0] != '\0');
		return;
	}
	FUZZ_CHECK(kv_token_name_valid(t.name, t.name_len));
	FUZZ_CHECK(auth_role_name(t.role) != NULL);
	FUZZ_CHECK(t.prefix_len <= KV_AUTH_PREFIX_MAX);
	FUZZ_CHECK(t.role != KV_ROLE_ADMIN || t.prefix_len == 0);
	memset(t.hash, 0xA5, sizeof(t.hash));
	int64_t n = kv_token_encode(&t, rec, sizeof(rec));
	FUZZ_CHECK(n == (int64_t)(KV_TOKEN_HEAD + t.name_len + t.prefix_len));
	FUZZ_CHECK(kv_token_decode(rec, (size_t)n, &back) == 0);
	FUZZ_CHECK(back.role == t.role && back.name_len == t.name_len &&
		   back.prefix_len == t.prefix_len);
	FUZZ_CHECK(memcmp(back.name, t.name, t.name_len) == 0);
	FUZZ_CHECK(t.prefix_len == 0 ||
		   memcmp(back.prefix, t.prefix, t.prefix_len) == 0);
}

static void check_bearer(const char *v, size_t size)
{
	const char *tok;
	size_t len;

	if (auth_bearer(v, size, &tok, &len) != 0)
		return;
	FUZZ_CHECK(tok > v && tok + len <= v + size);
	FUZZ_CHECK(len >= 1 && len <= AUTH_TOKEN_MAX);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(tok[i] > ' ' && tok[i] <= '~');
}

static void check_head(const char *head, size_t size)
{
	struct auth_head h;

	if (auth_head_parse(head, size, &h) != 0)
		return;
	FUZZ_CHECK(h.path_len >= 1);
	/* Inside the block, or the "/" an absolute target without a path
	 * stands for. */
	FUZZ_CHECK((h.path >= head && h.path + h.path_len <= head + size) ||
		   (h.path_len == 1 && h.path[0] == '/'));
	FUZZ_CHECK(h.authorization == NULL ||
		   (h.authorization >= head &&
		    h.authorization + h.authorization_len <= head + size));
	if (h.authorization != NULL)
		check_bearer(h.authorization, h.authorization_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copies of exactly @size bytes: ASan sees a read past the input. */
	char *p = (char *)fuzz_dup(data, size);

	check_body(p, size);
	check_bearer(p, size);
	check_head(p, size);
	free(p);
	return 0;
}
