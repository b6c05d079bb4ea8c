/* example.c - a small libkvc program: write, read, compare-and-swap, list
 * and delete a key.
 *
 * Build against the installed library:
 *     cc -o example example.c $(pkg-config --cflags --libs kvc)
 * Run:
 *     ./example http://127.0.0.1:7001,http://127.0.0.1:7002
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvc.h>

static int fail(struct kvc *h, const char *what, int rc)
{
	fprintf(stderr, "example: %s: %s (%s)\n", what, kvc_strerror(rc),
		kvc_errmsg(h));
	kvc_close(h);
	return 1;
}

int main(int argc, char **argv)
{
	const char *endpoints = argc > 1 ? argv[1] : "http://127.0.0.1:7001";
	const char *key = argc > 2 ? argv[2] : "example/greeting";
	/* kvc_options_init() first: fields a newer libkvc adds keep their
	 * defaults. */
	struct kvc_options opts;
	kvc_options_init(&opts);
	opts.retry_deadline_ms = 15000;
	struct kvc *h;
	int rc = kvc_open(endpoints, &opts, &h);
	if (rc < 0) {
		fprintf(stderr, "example: kvc_open: %s (%s)\n",
			kvc_strerror(rc), kvc_open_error());
		return 1;
	}

	uint64_t index;
	rc = kvc_put(h, key, "hello", 5, &index);
	if (rc < 0)
		return fail(h, "put", rc);
	printf("put %s at index %" PRIu64 "\n", key, index);

	void *value;
	size_t len;
	uint64_t mod;
	rc = kvc_get(h, key, 0, &value, &len, &mod);
	if (rc < 0)
		return fail(h, "get", rc);
	printf("get %s = %.*s (mod index %" PRIu64 ")\n", key, (int)len,
	       (char *)value, mod);
	int same = len == 5 && memcmp(value, "hello", 5) == 0 && mod == index;
	free(value); /* the caller owns the value */
	if (!same) {
		fprintf(stderr, "example: read back something else\n");
		kvc_close(h);
		return 1;
	}

	/* Compare-and-swap: only the writer that saw mod index @mod wins. */
	rc = kvc_cas_put(h, key, "world", 5, mod, &index);
	if (rc < 0)
		return fail(h, "cas put", rc);
	uint64_t current;
	rc = kvc_cas_put(h, key, "stale", 5, mod, &current);
	if (rc != KVC_ECAS)
		return fail(h, "second cas put should fail", rc);
	printf("cas with a stale index failed as it should: current %" PRIu64
	       "\n",
	       current);

	struct kvc_kv *kvs;
	size_t n;
	bool more;
	rc = kvc_list(h, "example/", NULL, 10, &kvs, &n, &more);
	if (rc < 0)
		return fail(h, "list", rc);
	for (size_t i = 0; i < n; i++)
		printf("list %s = %.*s\n", kvs[i].key, (int)kvs[i].value_len,
		       (char *)kvs[i].value);
	kvc_kvs_free(kvs, n);

	bool deleted;
	rc = kvc_delete(h, key, &index, &deleted);
	if (rc < 0)
		return fail(h, "delete", rc);
	printf("deleted %s: %s\n", key, deleted ? "yes" : "no");

	struct kvc_status *st;
	rc = kvc_status(h, NULL, &st);
	if (rc < 0)
		return fail(h, "status", rc);
	printf("member %" PRIu64 " is %s, leader %" PRIu64 ", %zu members\n",
	       st->id, st->state, st->leader, st->n_members);
	kvc_status_free(st);
	kvc_close(h);
	return deleted ? 0 : 1;
}
