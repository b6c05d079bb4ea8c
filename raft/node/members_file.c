/* members_file.c - the member list and its file members.json: load,
 * atomic store, lookup, the API's JSON of the list. */
#include "members_file.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define MEMBERS_VERSION 1

struct member *members_find(struct members *ms, uint64_t id)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].id == id)
			return &ms->m[i];
	return NULL;
}

int members_load(const char *dir, struct members *out, char *err, size_t errlen)
{
	char path[4096];
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s/%s", dir, MEMBERS_FILE);
	memset(out, 0, sizeof(*out));
	if (access(path, F_OK) != 0) {
		if (errno == ENOENT)
			return 0;
		return util_fail(err, errlen, "cannot access %s: %s", path,
				 strerror(errno));
	}
	json_t *root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		return util_fail(err, errlen, "%s: %s (line %d)", path,
				 jerr.text, jerr.line);
	int rc = -1;
	json_t *arr = json_object_get(root, "members");
	json_t *ver = json_object_get(root, "version");
	if (!json_is_integer(ver) ||
	    json_integer_value(ver) != MEMBERS_VERSION) {
		util_fail(err, errlen, "%s: unknown version", path);
		goto out;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > NODE_MEMBERS_MAX) {
		util_fail(err, errlen, "%s: \"members\" is not a list of 1..%d",
			  path, NODE_MEMBERS_MAX);
		goto out;
	}
	size_t i;
	json_t *it;
	json_array_foreach(arr, i, it)
	{
		json_t *id = json_object_get(it, "id");
		json_t *url = json_object_get(it, "peer_url");
		json_t *voter = json_object_get(it, "voter");
		struct node_addr a;
		if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
		    !json_is_string(url) ||
		    strlen(json_string_value(url)) >= NODE_URL_MAX ||
		    node_parse_url(json_string_value(url), &a) != 0) {
			util_fail(err, errlen, "%s: member %zu is malformed",
				  path, i);
			goto out;
		}
		struct member *m = &out->m[out->n++];
		m->id = (uint64_t)json_integer_value(id);
		strcpy(m->peer_url, json_string_value(url));
		m->voter = voter == NULL || json_is_true(voter);
	}
	rc = 1;
out:
	json_decref(root);
	return rc;
}

int members_store(const char *dir, const struct members *ms, char *err,
		  size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, MEMBERS_FILE);
	json_t *arr = json_array();
	json_t *root =
	    json_pack("{s:i, s:o}", "version", MEMBERS_VERSION, "members", arr);
	if (root == NULL)
		return util_fail(err, errlen, "out of memory");
	for (size_t i = 0; i < ms->n; i++)
		json_array_append_new(
		    arr, json_pack("{s:I, s:s, s:b}", "id",
				   (json_int_t)ms->m[i].id, "peer_url",
				   ms->m[i].peer_url, "voter", ms->m[i].voter));
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (text == NULL)
		return util_fail(err, errlen, "out of memory");
	/* The file ends with a newline, as a text file should. */
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (line == NULL) {
		free(text);
		return util_fail(err, errlen, "out of memory");
	}
	text = line;
	text[len] = '\n';
	text[len + 1] = '\0';
	int rc = util_write_file(path, text, len + 1, err, errlen);
	free(text);
	return rc;
}
