/* auth_json.c - POST /v1/auth/tokens's body, parsed strictly. */
#include "auth_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[] = {NULL, "admin", "readwrite",
					 "readonly"};

const char *auth_role_name(int role)
{
	return role >= KV_ROLE_ADMIN && role <= KV_ROLE_READONLY
		   ? role_names[role]
		   : NULL;
}

int auth_json_parse_token(const char *body, size_t len, struct kv_token *out,
			  char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *j, *v;
	const char *key, *s;
	size_t n;
	int rv = -1;

	memset(out, 0, sizeof(*out));
	/* Duplicate names are refused: which one would count is a guess. */
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		snprintf(why, whylen, "the body is not JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(j)) {
		snprintf(why, whylen, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(j, key, v)
	{
		if (strcmp(key, "name") != 0 && strcmp(key, "role") != 0 &&
		    strcmp(key, "prefix") != 0) {
			snprintf(why, whylen,
				 "unknown field (allowed: name, role, prefix)");
			goto out;
		}
		if (!json_is_string(v)) {
			snprintf(why, whylen, "%s must be a string", key);
			goto out;
		}
	}
	v = json_object_get(j, "name");
	s = v != NULL ? json_string_value(v) : NULL;
	n = v != NULL ? json_string_length(v) : 0;
	if (s == NULL || !kv_token_name_valid(s, n)) {
		snprintf(why, whylen,
			 "name must be 1-64 characters of A-Z a-z 0-9 . _ -");
		goto out;
	}
	memcpy(out->name, s, n);
	out->name_len = n;
	v = json_object_get(j, "role");
	s = v != NULL ? json_string_value(v) : NULL;
	for (int r = KV_ROLE_ADMIN; s != NULL && r <= KV_ROLE_READONLY; r++)
		if (strcmp(s, role_names[r]) == 0 &&
		    strlen(s) == json_string_length(v))
			out->role = (uint8_t)r;
	if (out->role == 0) {
		snprintf(why, whylen,
			 "role must be \"admin\", \"readwrite\" or "
			 "\"readonly\"");
		goto out;
	}
	v = json_object_get(j, "prefix");
	n = v != NULL ? json_string_length(v) : 0;
	if (n > KV_AUTH_PREFIX_MAX ||
	    (n > 0 &&
	     !kv_key_valid((const uint8_t *)json_string_value(v), n))) {
		snprintf(why, whylen,
			 "prefix must be a key prefix: at most 511 bytes of "
			 "UTF-8 without control characters");
		goto out;
	}
	if (n > 0 && out->role == KV_ROLE_ADMIN) {
		snprintf(why, whylen,
			 "an admin token reaches every key: it takes no "
			 "prefix");
		goto out;
	}
	if (n > 0)
		memcpy(out->prefix, json_string_value(v), n);
	out->prefix_len = n;
	rv = 0;
out:
	json_decref(j);
	return rv;
}
