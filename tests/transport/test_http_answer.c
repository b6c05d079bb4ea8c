/* test_http_answer.c - the strict parser of answer heads the peer lanes
 * read (raft/peer/http_answer.c): good answers, every refusal, and that a
 * prefix of a good head asks for more rather than failing. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_answer.h"

#define MAX_HEAD 1024
#define MAX_BODY 4096

static long parse(const char *s, struct http_answer *a)
{
	return http_answer_parse(s, strlen(s), MAX_HEAD, MAX_BODY, a);
}

START_TEST(test_good_answers)
{
	struct http_answer a;
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
			"Content-Type: text/plain\r\n\r\nhello world\n";

	ck_assert_int_eq(parse(s, &a), (long)(strstr(s, "hello") - s));
	ck_assert_int_eq(a.status, 200);
	ck_assert_int_eq(a.minor, 1);
	ck_assert_uint_eq(a.content_length, 12);
	ck_assert(!a.close);
	ck_assert(!a.interim);
	ck_assert_str_eq(a.reason, "OK");

	ck_assert_int_gt(parse("HTTP/1.1 204 No Content\r\n\r\n", &a), 0);
	ck_assert_int_eq(a.status, 204);
	ck_assert_uint_eq(a.content_length, 0);

	/* No reason at all, header names in any case, OWS around values. */
	ck_assert_int_gt(parse("HTTP/1.1 500\r\ncontent-length:\t3 \r\n"
			       "CONNECTION: foo, Close\r\n\r\nabc",
			       &a),
			 0);
	ck_assert_int_eq(a.status, 500);
	ck_assert_str_eq(a.reason, "");
	ck_assert_uint_eq(a.content_length, 3);
	ck_assert(a.close);

	/* HTTP/1.0 closes unless it says keep-alive. */
	ck_assert_int_gt(
	    parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &a), 0);
	ck_assert(a.close);
	ck_assert_int_gt(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
			       "Connection: keep-alive\r\n\r\n",
			       &a),
			 0);
	ck_assert(!a.close);

	/* 100 Continue: interim, no body. */
	ck_assert_int_gt(parse("HTTP/1.1 100 Continue\r\n\r\n", &a), 0);
	ck_assert(a.interim);
	ck_assert_uint_eq(a.content_length, 0);

	/* The biggest body allowed. */
	ck_assert_int_gt(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n", &a), 0);
	ck_assert_uint_eq(a.content_length, MAX_BODY);
}
END_TEST

START_TEST(test_refusals)
{
	static const struct {
		const char *text;
		long want;
	} cases[] = {
	    {"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 099 x\r\n\r\n", HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 600 x\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 200 O\001K\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_ESTATUS},
	    {"garbage\r\n\r\n", HTTP_ANSWER_ESTATUS},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nNo colon\r\n\r\n",
	     HTTP_ANSWER_EHEADER},
	    {"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
	     HTTP_ANSWER_EHEADER},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n",
	     HTTP_ANSWER_EHEADER},
	    {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", HTTP_ANSWER_EHEADER},
	    {"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
	     HTTP_ANSWER_EHEADER},
	    {"HTTP/1.1 200 OK\r\n\r\n", HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: "
	     "1\r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 4097\r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	     HTTP_ANSWER_ELENGTH},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	     HTTP_ANSWER_ECHUNKED},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
	     HTTP_ANSWER_EINTERIM},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_answer a;
		long rc = parse(cases[i].text, &a);

		ck_assert_msg(rc == cases[i].want, "case %zu: %ld, want %ld", i,
			      rc, cases[i].want);
		ck_assert_str_ne(http_answer_strerror(rc), "unknown error");
	}
}
END_TEST

/* Read a byte at a time, a good head is "more" until its last byte. */
START_TEST(test_prefixes_ask_for_more)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
	size_t head = (size_t)(strstr(s, "abcde") - s);
	struct http_answer a;

	for (size_t n = 0; n < head; n++)
		ck_assert_int_eq(
		    http_answer_parse(s, n, MAX_HEAD, MAX_BODY, &a),
		    HTTP_ANSWER_MORE);
	for (size_t n = head; n <= strlen(s); n++)
		ck_assert_int_eq(
		    http_answer_parse(s, n, MAX_HEAD, MAX_BODY, &a),
		    (long)head);
}
END_TEST

/* A head of exactly the limit passes; one byte more, or no end within the
 * limit, is refused rather than waited for. */
START_TEST(test_head_limit)
{
	char buf[MAX_HEAD + 64];
	const char *start = "HTTP/1.1 204 x\r\nX: ";
	size_t n = strlen(start);
	struct http_answer a;

	memcpy(buf, start, n);
	memset(buf + n, 'v', MAX_HEAD - n - 4);
	memcpy(buf + MAX_HEAD - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(http_answer_parse(buf, MAX_HEAD, MAX_HEAD, 0, &a),
			 MAX_HEAD);
	ck_assert_int_eq(http_answer_parse(buf, MAX_HEAD, MAX_HEAD - 1, 0, &a),
			 HTTP_ANSWER_ETOO_LONG);
	memset(buf + n, 'v', sizeof(buf) - n);
	ck_assert_int_eq(http_answer_parse(buf, MAX_HEAD - 1, MAX_HEAD, 0, &a),
			 HTTP_ANSWER_MORE);
	ck_assert_int_eq(http_answer_parse(buf, MAX_HEAD, MAX_HEAD, 0, &a),
			 HTTP_ANSWER_ETOO_LONG);
	ck_assert_int_eq(http_answer_parse(buf, sizeof(buf), MAX_HEAD, 0, &a),
			 HTTP_ANSWER_ETOO_LONG);
}
END_TEST

static Suite *http_answer_suite(void)
{
	Suite *s = suite_create("http_answer");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_good_answers);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_prefixes_ask_for_more);
	tcase_add_test(tc, test_head_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_answer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
