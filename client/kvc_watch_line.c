/* kvc_watch_line.c - parses one watch event line (kvc_watch_line.h). */
#include "kvc_watch_line.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void kvc_watch_line_clear(struct kvc_watch_line *l)
{
	free(l->key);
	free(l->value);
	free(l->error);
	free(l->message);
	memset(l, 0, sizeof(*l));
}

/* An integer field, within [@min, INT64_MAX] (jansson's range). */
static bool get_index(json_t *o, const char *name, uint64_t min, uint64_t *out)
{
	json_t *v = json_object_get(o, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* A key as DESIGN.md §1.3 allows it: 1-511 bytes of UTF-8 (jansson checked
 * the encoding) without control characters. */
static bool key_ok(const char *k, size_t n)
{
	if (n == 0 || n > KVC_MAX_KEY)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static int dup_string(json_t *v, char **out)
{
	*out = strdup(json_string_value(v));
	return *out ? 0 : KVC_ENOMEM;
}

int kvc_watch_line_parse(const char *s, size_t len, struct kvc_watch_line *out,
			 const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = "";
	json_error_t jerr;
	json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc = KVC_EPROTO;
	if (!json_is_object(o)) {
		*why = o ? "not a JSON object" : "not JSON";
		goto out;
	}
	const char *type = json_string_value(json_object_get(o, "type"));
	if (!type) {
		*why = "no \"type\"";
		goto out;
	}
	if (strcmp(type, "put") == 0 || strcmp(type, "delete") == 0) {
		out->type = type[0] == 'p' ? KVC_LINE_PUT : KVC_LINE_DELETE;
		json_t *k = json_object_get(o, "key");
		if (!json_is_string(k) ||
		    !key_ok(json_string_value(k), json_string_length(k))) {
			*why = "bad \"key\"";
			goto out;
		}
		if (!get_index(o, "index", 1, &out->index)) {
			*why = "bad \"index\"";
			goto out;
		}
		if ((rc = dup_string(k, &out->key)) < 0)
			goto out;
		if (out->type == KVC_LINE_PUT) {
			json_t *v = json_object_get(o, "value");
			rc = json_is_string(v)
				 ? kvc_http_b64_decode(json_string_value(v),
						       &out->value,
						       &out->value_len)
				 : KVC_EPROTO;
			if (rc < 0) {
				*why = "bad \"value\"";
				goto out;
			}
		}
	} else if (strcmp(type, "progress") == 0) {
		out->type = KVC_LINE_PROGRESS;
		if (!get_index(o, "index", 0, &out->index)) {
			*why = "bad \"index\"";
			goto out;
		}
	} else if (strcmp(type, "error") == 0) {
		out->type = KVC_LINE_ERROR;
		json_t *e = json_object_get(o, "error");
		json_t *m = json_object_get(o, "message");
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    (m && !json_is_string(m))) {
			*why = "bad \"error\" or \"message\"";
			goto out;
		}
		if (strcmp(json_string_value(e), "compacted") == 0 &&
		    !get_index(o, "oldest", 1, &out->oldest)) {
			*why = "bad \"oldest\"";
			goto out;
		}
		if ((rc = dup_string(e, &out->error)) < 0)
			goto out;
		out->message = strdup(m ? json_string_value(m) : "");
		if (!out->message) {
			rc = KVC_ENOMEM;
			goto out;
		}
	} else {
		*why = "unknown \"type\"";
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		kvc_watch_line_clear(out);
	if (rc == KVC_ENOMEM)
		*why = "out of memory";
	json_decref(o);
	return rc;
}
