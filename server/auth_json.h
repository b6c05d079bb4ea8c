/* auth_json.h - the body of POST /v1/auth/tokens, parsed strictly (the
 * model is txn_json.h): {"name": N, "role": R, "prefix": P}. */
#ifndef SERVER_AUTH_JSON_H_
#define SERVER_AUTH_JSON_H_

#include <stddef.h>

#include "kv.h"

/* The role's name ("admin", "readwrite", "readonly"), or NULL. */
const char *auth_role_name(int role);

/* Parses @body (@len bytes): a JSON object with exactly "name" (a string,
 * kv_token_name_valid()), "role" (one of the role names) and optionally
 * "prefix" (a string, "" or a valid key; not with "admin", which reaches
 * everything), nothing else. Fills @out's name, role and prefix (not its
 * hash). 0, or -1 with one line saying what is wrong in @why. */
int auth_json_parse_token(const char *body, size_t len, struct kv_token *out,
			  char *why, size_t whylen);

#endif /* SERVER_AUTH_JSON_H_ */
