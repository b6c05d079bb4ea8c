/* test_watch_parse.c - Check tests of libkvc's watch stream readers, no
 * network: kvc_stream.c (HTTP head, chunked/sized/close-ended bodies cut
 * into lines, fed at every split point) and kvc_watch_line.c (the event
 * lines of DESIGN.md §1.5, strictly). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvc_stream.h"
#include "kvc_watch_line.h"

#define MAX_LINES 32

/* What a reader made of an answer. */
struct result {
	int head; /* times KVC_STREAM_HEAD was seen */
	int status;
	bool has_index;
	uint64_t index;
	bool ndjson;
	char *lines[MAX_LINES];
	int n_lines;
	char *rest; /* the END's rest, or NULL when no END */
	bool cut;   /* KVC_STREAM_CUT */
	int err;    /* a negative code, else 0 */
};

static void result_free(struct result *r)
{
	for (int i = 0; i < r->n_lines; i++)
		free(r->lines[i]);
	free(r->rest);
	memset(r, 0, sizeof(*r));
}

/* Steps @s until it needs input; true when it is finished (END, CUT or an
 * error). */
static bool drain(struct kvc_stream *s, struct result *r)
{
	for (;;) {
		const char *line;
		size_t len;
		int rc = kvc_stream_next(s, &line, &len);
		switch (rc) {
		case KVC_STREAM_MORE:
			return false;
		case KVC_STREAM_HEAD:
			r->head++;
			r->status = s->status;
			r->has_index = s->has_index;
			r->index = s->index;
			r->ndjson = s->ndjson;
			break;
		case KVC_STREAM_LINE:
			ck_assert_int_lt(r->n_lines, MAX_LINES);
			r->lines[r->n_lines++] = strndup(line, len);
			break;
		case KVC_STREAM_END:
			r->rest = strndup(line, len);
			return true;
		case KVC_STREAM_CUT:
			r->cut = true;
			return true;
		default:
			ck_assert_int_lt(rc, 0);
			r->err = rc;
			return true;
		}
	}
}

/* Reads @len bytes of @in fed as pieces split at @cut1 and @cut2, then an
 * end of input (when @eof). */
static void read_split(const char *in, size_t len, size_t cut1, size_t cut2,
		       bool eof, size_t max_line, struct result *r)
{
	struct kvc_stream s;
	kvc_stream_init(&s, max_line);
	memset(r, 0, sizeof(*r));
	size_t cuts[3] = {cut1, cut2, len};
	size_t at = 0;
	bool done = false;
	for (int i = 0; i < 3 && !done; i++) {
		if (cuts[i] < at)
			continue;
		ck_assert_int_eq(kvc_stream_feed(&s, in + at, cuts[i] - at), 0);
		at = cuts[i];
		done = drain(&s, r);
	}
	if (!done && eof) {
		kvc_stream_eof(&s);
		drain(&s, r);
	}
	kvc_stream_free(&s);
}

static bool same(const struct result *a, const struct result *b)
{
	if (a->head != b->head || a->status != b->status ||
	    a->index != b->index || a->n_lines != b->n_lines ||
	    a->cut != b->cut || a->err != b->err ||
	    (a->rest == NULL) != (b->rest == NULL))
		return false;
	for (int i = 0; i < a->n_lines; i++)
		if (strcmp(a->lines[i], b->lines[i]) != 0)
			return false;
	return !a->rest || strcmp(a->rest, b->rest) == 0;
}

/* Every way of splitting @in into three pieces reads the same as @in in
 * one piece; returns that reading in *@r. */
static void read_every_split(const char *in, bool eof, size_t max_line,
			     struct result *r)
{
	size_t len = strlen(in);
	read_split(in, len, len, len, eof, max_line, r);
	for (size_t c1 = 0; c1 <= len; c1++) {
		for (size_t c2 = c1; c2 <= len; c2++) {
			struct result o;
			read_split(in, len, c1, c2, eof, max_line, &o);
			if (!same(r, &o))
				ck_abort_msg("split at %zu and %zu of %s reads "
					     "differently",
					     c1, c2, in);
			result_free(&o);
		}
	}
}

static const char chunked_stream[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/x-ndjson\r\n"
    "X-Kv-Index: 41\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "39\r\n"
    "{\"type\":\"put\",\"key\":\"a/x\",\"value\":\"aGVsbG8=\",\"index\":42}\n"
    "\r\n"
    /* a line split over two chunks, a chunk with two lines and an
     * extension, upper-case hex */
    "5\r\n{\"typ\r\n"
    "1A;ext=1\r\ne\":\"progress\",\"index\":42}\n\r\n"
    "1F\r\n{\"type\":\"progress\",\"index\":43}\n\r\n"
    "0\r\n"
    "Trailer: x\r\n"
    "\r\n";

START_TEST(test_chunked_at_every_split)
{
	struct result r;
	read_every_split(chunked_stream, false, 1024, &r);
	ck_assert_int_eq(r.head, 1);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.has_index);
	ck_assert_uint_eq(r.index, 41);
	ck_assert(r.ndjson);
	ck_assert_int_eq(r.n_lines, 3);
	ck_assert_str_eq(r.lines[0], "{\"type\":\"put\",\"key\":\"a/x\","
				     "\"value\":\"aGVsbG8=\",\"index\":42}");
	ck_assert_str_eq(r.lines[1], "{\"type\":\"progress\",\"index\":42}");
	ck_assert_str_eq(r.lines[2], "{\"type\":\"progress\",\"index\":43}");
	ck_assert_ptr_nonnull(r.rest);
	ck_assert_str_eq(r.rest, "");
	ck_assert_int_eq(r.err, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_chunked_cut_mid_stream)
{
	/* The connection dies inside the second chunk: the whole lines before
	 * it are read, then CUT, never the half line. */
	size_t len = strlen(chunked_stream);
	for (size_t end = 0; end + 1 < len; end++) {
		char *in = strndup(chunked_stream, end);
		struct result r;
		read_split(in, end, end, end, true, 1024, &r);
		ck_assert_msg(r.cut, "input cut at %zu is not CUT", end);
		ck_assert_int_eq(r.err, 0);
		ck_assert_ptr_null(r.rest);
		ck_assert_int_le(r.n_lines, 3);
		result_free(&r);
		free(in);
	}
}
END_TEST

START_TEST(test_sized_error_body)
{
	const char in[] =
	    "HTTP/1.1 410 Gone\r\n"
	    "Content-Type: application/json\r\n"
	    "content-length: 46\r\n"
	    "\r\n"
	    "{\"error\":\"compacted\",\"message\":\"m\",\"oldest\":7}"
	    "ignored after the body";
	struct result r;
	read_every_split(in, false, 1024, &r);
	ck_assert_int_eq(r.status, 410);
	ck_assert(!r.ndjson);
	ck_assert(!r.has_index);
	ck_assert_int_eq(r.n_lines, 0);
	ck_assert_str_eq(
	    r.rest, "{\"error\":\"compacted\",\"message\":\"m\",\"oldest\":7}");
	result_free(&r);
}
END_TEST

START_TEST(test_body_until_close)
{
	/* HTTP/1.0 style: no length, the close ends the body; bare LFs. */
	const char in[] = "HTTP/1.0 503 Service Unavailable\n"
			  "Retry-After: 1\n"
			  "\n"
			  "line one\nline two";
	struct result r;
	read_every_split(in, true, 1024, &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_int_eq(r.n_lines, 1);
	ck_assert_str_eq(r.lines[0], "line one");
	ck_assert_str_eq(r.rest, "line two");
	ck_assert(!r.cut);
	result_free(&r);
	/* Without the close, it waits. */
	read_split(in, strlen(in), 0, 0, false, 1024, &r);
	ck_assert_ptr_null(r.rest);
	ck_assert(!r.cut);
	result_free(&r);
}
END_TEST

START_TEST(test_line_bound)
{
	char in[512];
	/* A line of exactly the bound passes, one byte more does not, also
	 * before its '\n' arrives. */
	snprintf(in, sizeof(in),
		 "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
		 "0123456789\n%s",
		 "ab");
	struct result r;
	read_every_split(in, false, 10, &r);
	ck_assert_int_eq(r.n_lines, 1);
	ck_assert_str_eq(r.rest, "ab");
	result_free(&r);
	read_every_split(in, false, 9, &r);
	ck_assert_int_eq(r.err, KVC_ETOO_LARGE);
	result_free(&r);
	snprintf(in, sizeof(in),
		 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "10\r\n0123456789abcdef\r\n");
	read_every_split(in, false, 9, &r);
	ck_assert_int_eq(r.err, KVC_ETOO_LARGE);
	ck_assert_int_eq(r.n_lines, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_huge_line_bounded_memory)
{
	/* 64 MiB of body without a newline, fed in 64 KiB pieces: the error
	 * comes once the bound (1 MiB) is passed, not at the end. */
	struct kvc_stream s;
	kvc_stream_init(&s, 1u << 20);
	const char head[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n";
	ck_assert_int_eq(kvc_stream_feed(&s, head, strlen(head)), 0);
	static char piece[65536];
	memset(piece, 'x', sizeof(piece));
	struct result r = {0};
	int fed = 0;
	bool done = drain(&s, &r);
	while (!done && fed < 1024) {
		ck_assert_int_eq(kvc_stream_feed(&s, piece, sizeof(piece)), 0);
		fed++;
		done = drain(&s, &r);
	}
	ck_assert(done);
	ck_assert_int_eq(r.err, KVC_ETOO_LARGE);
	ck_assert_int_le(fed, 17);
	ck_assert_int_le(s.b_cap, 4u << 20);
	/* Errors are sticky. */
	const char *line;
	size_t len;
	ck_assert_int_eq(kvc_stream_next(&s, &line, &len), KVC_ETOO_LARGE);
	kvc_stream_free(&s);
	result_free(&r);
}
END_TEST

START_TEST(test_bad_heads_and_framing)
{
	static const char *const bad[] = {
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 100 Continue\r\n\r\n",
	    "HTTP/1.1 700 What\r\n\r\n",
	    "ICY 200 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX-Kv-Index: 9223372036854775808\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX-Kv-Index: 12 3\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX-Kv-Index:\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "10000000000000000\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1 x\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nab\r\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nabc\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct result r;
		read_every_split(bad[i], true, 1024, &r);
		ck_assert_msg(r.err == KVC_EPROTO, "accepted: %s", bad[i]);
		result_free(&r);
	}
	/* A head beyond its bound. */
	size_t n = KVC_STREAM_MAX_HEAD + 64;
	char *big = malloc(n + 1);
	memcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ", 25);
	memset(big + 25, 'a', n - 25);
	big[n] = '\0';
	struct result r;
	read_split(big, n, n, n, false, 1024, &r);
	ck_assert_int_eq(r.err, KVC_EPROTO);
	result_free(&r);
	free(big);
}
END_TEST

START_TEST(test_no_body_statuses)
{
	struct result r;
	read_every_split("HTTP/1.1 204 No Content\r\n\r\n", false, 64, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(r.rest, "");
	result_free(&r);
	read_every_split("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false,
			 64, &r);
	ck_assert_str_eq(r.rest, "");
	ck_assert(!r.ndjson);
	result_free(&r);
	read_every_split("HTTP/1.1 200 OK\r\nContent-Type: "
			 "application/x-ndjson; charset=utf-8\r\n"
			 "Content-Length: 0\r\n\r\n",
			 false, 64, &r);
	ck_assert(r.ndjson);
	result_free(&r);
	read_every_split("HTTP/1.1 200 OK\r\nContent-Type: "
			 "application/x-ndjsonx\r\nContent-Length: 0\r\n\r\n",
			 false, 64, &r);
	ck_assert(!r.ndjson);
	result_free(&r);
}
END_TEST

/* --- event lines --- */

static int parse(const char *s, struct kvc_watch_line *l)
{
	const char *why = NULL;
	int rc = kvc_watch_line_parse(s, strlen(s), l, &why);
	ck_assert_ptr_nonnull(why);
	if (rc < 0) {
		ck_assert_str_ne(why, "");
		ck_assert_ptr_null(l->key);
		ck_assert_ptr_null(l->value);
	}
	return rc;
}

START_TEST(test_line_kinds)
{
	struct kvc_watch_line l;
	ck_assert_int_eq(parse("{\"type\":\"put\",\"key\":\"a/x\",\"value\":"
			       "\"aGVsbG8=\",\"index\":42}",
			       &l),
			 0);
	ck_assert_int_eq(l.type, KVC_EVENT_PUT);
	ck_assert_str_eq(l.key, "a/x");
	ck_assert_uint_eq(l.value_len, 5);
	ck_assert_mem_eq(l.value, "hello", 6); /* with its NUL */
	ck_assert_uint_eq(l.index, 42);
	kvc_watch_line_clear(&l);

	ck_assert_int_eq(
	    parse("{\"type\":\"put\",\"key\":\"k\",\"value\":\"\",\"index\":1}",
		  &l),
	    0);
	ck_assert_uint_eq(l.value_len, 0);
	kvc_watch_line_clear(&l);

	/* Field order is free; fields a later server adds are allowed. */
	ck_assert_int_eq(parse(" {\"index\":9223372036854775807,\"key\":"
			       "\"\\u00e9t\\u00e9\",\"type\":\"delete\","
			       "\"prev\":1} ",
			       &l),
			 0);
	ck_assert_int_eq(l.type, KVC_EVENT_DELETE);
	ck_assert_str_eq(l.key, "\xc3\xa9t\xc3\xa9");
	ck_assert_uint_eq(l.index, INT64_MAX);
	ck_assert_ptr_null(l.value);
	kvc_watch_line_clear(&l);

	ck_assert_int_eq(parse("{\"type\":\"progress\",\"index\":0}", &l), 0);
	ck_assert_int_eq(l.type, KVC_LINE_PROGRESS);
	ck_assert_uint_eq(l.index, 0);
	kvc_watch_line_clear(&l);

	ck_assert_int_eq(
	    parse("{\"type\":\"error\",\"error\":\"shutting_down\","
		  "\"message\":\"bye\"}",
		  &l),
	    0);
	ck_assert_int_eq(l.type, KVC_LINE_ERROR);
	ck_assert_str_eq(l.error, "shutting_down");
	ck_assert_str_eq(l.message, "bye");
	kvc_watch_line_clear(&l);

	ck_assert_int_eq(
	    parse("{\"type\":\"error\",\"error\":\"removed\"}", &l), 0);
	ck_assert_str_eq(l.message, "");
	kvc_watch_line_clear(&l);

	ck_assert_int_eq(parse("{\"type\":\"error\",\"error\":\"compacted\","
			       "\"message\":\"m\",\"oldest\":77}",
			       &l),
			 0);
	ck_assert_uint_eq(l.oldest, 77);
	kvc_watch_line_clear(&l);
}
END_TEST

START_TEST(test_bad_lines)
{
	char longkey[700];
	memset(longkey, 'k', 512);
	longkey[512] = '\0';
	char withlong[800];
	snprintf(withlong, sizeof(withlong),
		 "{\"type\":\"delete\",\"key\":\"%s\",\"index\":1}", longkey);
	const char *const bad[] = {
	    "",
	    "   ",
	    "null",
	    "[]",
	    "\"put\"",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"aGk=\",\"index\":1",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"aGk=\",\"index\":1}x",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"aGk=\",\"index\":1}{}",
	    "{}",
	    "{\"type\":1}",
	    "{\"type\":\"pot\",\"key\":\"k\",\"index\":1}",
	    "{\"type\":\"put\",\"key\":\"k\",\"index\":1}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"aGk\",\"index\":1}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"a*k=\",\"index\":1}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":null,\"index\":1}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"\",\"index\":0}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"\",\"index\":-3}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"\",\"index\":1.0}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"\",\"index\":\"1\"}",
	    "{\"type\":\"put\",\"key\":\"k\",\"value\":\"\","
	    "\"index\":99999999999999999999}",
	    "{\"type\":\"delete\",\"key\":\"\",\"index\":1}",
	    "{\"type\":\"delete\",\"key\":\"a\\nb\",\"index\":1}",
	    "{\"type\":\"delete\",\"key\":\"a\\u0000b\",\"index\":1}",
	    "{\"type\":\"delete\",\"key\":\"a\\u007fb\",\"index\":1}",
	    "{\"type\":\"delete\",\"key\":7,\"index\":1}",
	    "{\"type\":\"delete\",\"key\":\"k\"}",
	    "{\"type\":\"delete\",\"key\":\"k\",\"index\":1,\"index\":2}",
	    "{\"type\":\"delete\",\"key\":\"\xff\",\"index\":1}",
	    "{\"type\":\"progress\"}",
	    "{\"type\":\"progress\",\"index\":-1}",
	    "{\"type\":\"error\"}",
	    "{\"type\":\"error\",\"error\":\"\"}",
	    "{\"type\":\"error\",\"error\":\"x\",\"message\":5}",
	    "{\"type\":\"error\",\"error\":\"compacted\",\"message\":\"m\"}",
	    "{\"type\":\"error\",\"error\":\"compacted\",\"oldest\":0}",
	    withlong,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kvc_watch_line l;
		ck_assert_msg(parse(bad[i], &l) == KVC_EPROTO, "accepted: %s",
			      bad[i]);
	}
	/* 511 bytes is the longest key. */
	longkey[511] = '\0';
	snprintf(withlong, sizeof(withlong),
		 "{\"type\":\"delete\",\"key\":\"%s\",\"index\":1}", longkey);
	struct kvc_watch_line l;
	ck_assert_int_eq(parse(withlong, &l), 0);
	kvc_watch_line_clear(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watch-parse");
	TCase *t = tcase_create("stream");
	tcase_add_test(t, test_chunked_at_every_split);
	tcase_add_test(t, test_chunked_cut_mid_stream);
	tcase_add_test(t, test_sized_error_body);
	tcase_add_test(t, test_body_until_close);
	tcase_add_test(t, test_line_bound);
	tcase_add_test(t, test_huge_line_bounded_memory);
	tcase_add_test(t, test_bad_heads_and_framing);
	tcase_add_test(t, test_no_body_statuses);
	tcase_set_timeout(t, 120);
	suite_add_tcase(s, t);
	TCase *l = tcase_create("lines");
	tcase_add_test(l, test_line_kinds);
	tcase_add_test(l, test_bad_lines);
	suite_add_tcase(s, l);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
