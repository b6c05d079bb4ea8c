/* kvctl_txn.c - `kvctl txn` (a transaction's JSON, DESIGN.md §1.7) and
 * `kvctl del --prefix P`: the writes of many keys at one index. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl_cmd.h"

#define MAX_TXN_FILE_BYTES (64u << 20)

const char kvctl_txn_usage[] = "kvctl txn [--file F]";
const char kvctl_txn_help[] =
    "usage: kvctl txn [--file F]\n"
    "Sends the transaction read from stdin (or file F) as POST /v1/txn\n"
    "and prints the answer's JSON on one line: {\"succeeded\", \"index\",\n"
    "\"results\"}. The transaction is DESIGN.md 1.7's JSON, for instance\n"
    "  {\"compare\": [{\"key\": \"k\", \"target\": \"mod_index\", \"op\": "
    "\"==\",\n"
    "                \"value\": 0}],\n"
    "   \"success\": [{\"put\": {\"key\": \"k\", \"value\": \"djE=\"}}],\n"
    "   \"failure\": [{\"get\": {\"key\": \"k\"}}]}\n"
    "(values base64). Exits 0 when the success branch ran, 1 when the\n"
    "failure branch ran; a transaction the cluster refuses exits 4 (bad\n"
    "JSON, limits) or 1 (an unknown lease).";

/* Reads file @path (at most 64 MiB). 0 or -1 with errno. */
static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	while (b) {
		if (n == cap) {
			char *nb = cap < MAX_TXN_FILE_BYTES
				       ? realloc(b, cap * 2)
				       : NULL;
			if (!nb) {
				errno =
				    cap < MAX_TXN_FILE_BYTES ? ENOMEM : EFBIG;
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				errno = EIO;
				free(b);
				b = NULL;
			}
			break;
		}
	}
	int saved = errno;
	fclose(f);
	if (!b) {
		errno = saved ? saved : ENOMEM;
		return -1;
	}
	*buf = b;
	*len = n;
	return 0;
}

int kvctl_cmd_txn(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--file", true}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 0);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	char *body = NULL;
	size_t len = 0;
	if (vals[0] && strcmp(vals[0], "-") != 0) {
		if (read_file(vals[0], &body, &len) < 0) {
			char text[1200];
			snprintf(text, sizeof(text), "reading %s: %s", vals[0],
				 strerror(errno));
			report_text(g, "invalid_argument", text);
			return EXIT_OTHER;
		}
	} else {
		int rc = read_stdin((void **)&body, &len);
		if (rc < 0) {
			char text[256];
			snprintf(text, sizeof(text), "reading stdin: %s",
				 kvc_strerror(rc));
			report_text(g, error_code(rc), text);
			return EXIT_OTHER;
		}
	}
	/* A text that is not JSON at all is a mistake of the caller, said
	 * before any member is asked; the server checks the rest. */
	json_error_t err;
	json_t *parsed = json_loadb(body, len, 0, &err);
	if (!json_is_object(parsed)) {
		char text[400];
		snprintf(text, sizeof(text),
			 "the transaction is not a JSON object: %s (line %d)",
			 parsed ? "another JSON value" : err.text, err.line);
		json_decref(parsed);
		free(body);
		report_text(g, "bad_request", text);
		return EXIT_OTHER;
	}
	json_decref(parsed);
	int ec = open_handle(g);
	if (ec) {
		free(body);
		return ec;
	}
	char *result = NULL;
	bool succeeded = false;
	int rc = kvc_txn_json(g->h, body, len, &result, &succeeded);
	free(body);
	if (rc == KVC_ENOTFOUND)
		return report(g, rc); /* an unknown lease: exit 1 */
	if (rc < 0)
		return report_write(g, rc, "the transaction");
	puts(result);
	free(result);
	if (fflush(stdout) != 0)
		return EXIT_OTHER;
	return succeeded ? EXIT_OK : EXIT_NOTFOUND;
}

int kvctl_del_prefix(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--prefix", true}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 0);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	/* An empty prefix would delete every key: too easy to type by
	 * mistake (an unset shell variable). */
	if (!vals[0] || !*vals[0])
		return fail_usage(cmd_current->usage, "%s",
				  "--prefix needs a non-empty prefix");
	if (!key_allowed(vals[0]))
		return bad_key(vals[0]);
	int ec = open_handle(g);
	if (ec)
		return ec;
	uint64_t deleted = 0, index = 0;
	int rc = kvc_del_prefix(g->h, vals[0], &deleted, &index);
	if (rc < 0)
		return report_write(g, rc, "the delete");
	return print_pair(g, "index", index, "deleted", deleted, deleted);
}
