/* test_auth.c - the auth decision (auth.c) as a table: every route of the
 * client API under every role (admin, readwrite and readonly with a
 * prefix, no token, an unknown token) with auth on, and everything open
 * with auth off; the prefix rules; the Authorization and header block
 * parsers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define S(x) ((const uint8_t *)(x))

/* Columns: admin, readwrite "app/", readonly "app/", no token, unknown
 * token (the store does not know it: role NONE). */
enum { C_ADMIN, C_RW, C_RO, C_NONE, C_UNKNOWN, N_COLS };

struct row {
	enum auth_method m;
	const char *path;
	const char *scope; /* NULL: the route checks its keys itself */
	int want[N_COLS];
};

#define A AUTH_ALLOW
#define U AUTH_UNAUTHORIZED
#define F AUTH_FORBIDDEN

static const struct row rows[] = {
    /* Open to all. */
    {AUTH_M_GET, "/healthz", "", {A, A, A, A, A}},
    {AUTH_M_GET, "/readyz", "", {A, A, A, A, A}},
    {AUTH_M_GET, "/", "", {A, A, A, A, A}},
    {AUTH_M_GET, "/ui/", "", {A, A, A, A, A}},
    {AUTH_M_GET, "/ui/app.js", "", {A, A, A, A, A}},
    {AUTH_M_POST, "/healthz", "", {A, A, A, A, A}},
    /* Any valid token. */
    {AUTH_M_GET, "/v1/status", "", {A, A, A, U, U}},
    {AUTH_M_GET, "/v1/members", "", {A, A, A, U, U}},
    {AUTH_M_HEAD, "/v1/members", "", {A, A, A, U, U}},
    {AUTH_M_GET, "/v1/nowhere", "", {A, A, A, U, U}},
    {AUTH_M_GET, "/metrics", "", {A, A, A, U, U}},
    /* Admin only. */
    {AUTH_M_POST, "/v1/members", "", {A, F, F, U, U}},
    {AUTH_M_DELETE, "/v1/members/4", "", {A, F, F, U, U}},
    {AUTH_M_POST, "/v1/leader/transfer", "", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/snapshot", "", {A, F, F, U, U}},
    {AUTH_M_POST, "/v1/auth/enable", "", {A, F, F, U, U}},
    {AUTH_M_POST, "/v1/auth/disable", "", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/auth/tokens", "", {A, F, F, U, U}},
    {AUTH_M_POST, "/v1/auth/tokens", "", {A, F, F, U, U}},
    {AUTH_M_DELETE, "/v1/auth/tokens/x", "", {A, F, F, U, U}},
    /* Keys inside the prefix. */
    {AUTH_M_GET, "/v1/kv/app/a", "app/a", {A, A, A, U, U}},
    {AUTH_M_HEAD, "/v1/kv/app/a", "app/a", {A, A, A, U, U}},
    {AUTH_M_PUT, "/v1/kv/app/a", "app/a", {A, A, F, U, U}},
    {AUTH_M_DELETE, "/v1/kv/app/a", "app/a", {A, A, F, U, U}},
    {AUTH_M_GET, "/v1/kv", "app/", {A, A, A, U, U}},
    {AUTH_M_GET, "/v1/kv", "app/x", {A, A, A, U, U}},
    {AUTH_M_DELETE, "/v1/kv", "app/x", {A, A, F, U, U}},
    {AUTH_M_GET, "/v1/watch", "app/", {A, A, A, U, U}},
    {AUTH_M_POST, "/v1/txn", NULL, {A, A, F, U, U}},
    /* ... and outside it: a list or watch of everything too. */
    {AUTH_M_GET, "/v1/kv/other", "other", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/kv/app", "app", {A, F, F, U, U}},
    {AUTH_M_PUT, "/v1/kv/other", "other", {A, F, F, U, U}},
    {AUTH_M_DELETE, "/v1/kv/other", "other", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/kv", "", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/kv", "ap", {A, F, F, U, U}},
    {AUTH_M_DELETE, "/v1/kv", "", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/watch", "", {A, F, F, U, U}},
    {AUTH_M_GET, "/v1/watch", "b", {A, F, F, U, U}},
    /* Leases: readwrite (and admin). */
    {AUTH_M_POST, "/v1/leases", "", {A, A, F, U, U}},
    {AUTH_M_GET, "/v1/leases", "", {A, A, F, U, U}},
    {AUTH_M_GET, "/v1/leases/5", "", {A, A, F, U, U}},
    {AUTH_M_POST, "/v1/leases/5/keepalive", "", {A, A, F, U, U}},
    {AUTH_M_DELETE, "/v1/leases/5", "", {A, A, F, U, U}},
    /* Methods the router refuses with 405: any valid token gets there. */
    {AUTH_M_OTHER, "/v1/kv/app/a", "app/a", {A, A, A, U, U}},
    {AUTH_M_PUT, "/v1/status", "", {A, A, A, U, U}},
};

static struct auth_who who_of(int col)
{
	struct auth_who w = {.role = AUTH_ROLE_NONE};

	switch (col) {
	case C_ADMIN:
		w.role = AUTH_ROLE_ADMIN;
		break;
	case C_RW:
	case C_RO:
		w.role = col == C_RW ? AUTH_ROLE_READWRITE : AUTH_ROLE_READONLY;
		w.prefix = S("app/");
		w.prefix_len = 4;
		break;
	}
	return w;
}

START_TEST(test_matrix)
{
	static const char *const names[N_COLS] = {
	    "admin", "readwrite", "readonly", "none", "unknown"};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		for (int col = 0; col < N_COLS; col++) {
			struct auth_who w = who_of(col);
			const struct auth_who *wp = col == C_NONE ? NULL : &w;
			const uint8_t *scope = r->scope ? S(r->scope) : NULL;
			size_t len = r->scope ? strlen(r->scope) : 0;
			int got =
			    auth_check(true, wp, r->m, r->path, scope, len);
			ck_assert_msg(got == r->want[col],
				      "%d %s scope \"%s\" as %s: %d, want %d",
				      (int)r->m, r->path,
				      r->scope ? r->scope : "(route)",
				      names[col], got, r->want[col]);
			/* Auth off: everything is allowed. */
			ck_assert_int_eq(
			    auth_check(false, wp, r->m, r->path, scope, len),
			    AUTH_ALLOW);
		}
	}
}
END_TEST

START_TEST(test_scope)
{
	struct auth_who rw = who_of(C_RW), admin = who_of(C_ADMIN);
	struct auth_who all = {.role = AUTH_ROLE_READONLY};

	ck_assert(auth_scope_ok(&rw, S("app/"), 4));
	ck_assert(auth_scope_ok(&rw, S("app/x/y"), 7));
	ck_assert(!auth_scope_ok(&rw, S("app"), 3));
	ck_assert(!auth_scope_ok(&rw, S("apq/"), 4));
	ck_assert(!auth_scope_ok(&rw, NULL, 0));
	ck_assert(auth_scope_ok(&admin, S("z"), 1));
	/* An empty prefix reaches every key. */
	ck_assert(auth_scope_ok(&all, S(""), 0));
	ck_assert(auth_scope_ok(&all, S("z"), 1));
	ck_assert(!auth_scope_ok(NULL, S("z"), 1));
	/* A role the store does not have is no token. */
	struct auth_who odd = {.role = 7};
	ck_assert_int_eq(
	    auth_check(true, &odd, AUTH_M_GET, "/v1/status", S(""), 0),
	    AUTH_UNAUTHORIZED);
}
END_TEST

START_TEST(test_bearer)
{
	const char *t;
	size_t n;

	ck_assert_int_eq(auth_bearer("Bearer kvd_abc", 14, &t, &n), 0);
	ck_assert_uint_eq(n, 7);
	ck_assert(memcmp(t, "kvd_abc", 7) == 0);
	ck_assert_int_eq(auth_bearer("bearer   x  ", 12, &t, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(auth_bearer("Bearer", 6, &t, &n), -1);
	ck_assert_int_eq(auth_bearer("Bearer ", 7, &t, &n), -1);
	ck_assert_int_eq(auth_bearer("Basic abc", 9, &t, &n), -1);
	ck_assert_int_eq(auth_bearer("Bearerx abc", 11, &t, &n), -1);
	ck_assert_int_eq(auth_bearer("Bearer a b", 10, &t, &n), -1);
	ck_assert_int_eq(auth_bearer("Bearer a\x7f", 9, &t, &n), -1);
	ck_assert_int_eq(auth_bearer(NULL, 0, &t, &n), -1);
	char big[AUTH_TOKEN_MAX + 9];
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', AUTH_TOKEN_MAX + 1);
	ck_assert_int_eq(auth_bearer(big, AUTH_TOKEN_MAX + 7, &t, &n), 0);
	ck_assert_int_eq(auth_bearer(big, AUTH_TOKEN_MAX + 8, &t, &n), -1);
}
END_TEST

static int parse(const char *head, struct auth_head *h)
{
	return auth_head_parse(head, strlen(head), h);
}

START_TEST(test_head)
{
	struct auth_head h;

	ck_assert_int_eq(parse("PUT /v1/kv/a?cas=0 HTTP/1.1\r\nHost: x\r\n"
			       "authorization:  Bearer T1 \r\n"
			       "Authorization: Bearer T2\r\n\r\n",
			       &h),
			 0);
	ck_assert_int_eq(h.method, AUTH_M_PUT);
	ck_assert_uint_eq(h.path_len, 8);
	ck_assert(memcmp(h.path, "/v1/kv/a", 8) == 0);
	ck_assert_uint_eq(h.authorization_len, 9);
	ck_assert(memcmp(h.authorization, "Bearer T1", 9) == 0);
	/* LF-only lines; no Authorization; the header after the blank line
	 * is body. */
	ck_assert_int_eq(parse("GET /healthz HTTP/1.0\nA: b\n\n"
			       "Authorization: Bearer x\n",
			       &h),
			 0);
	ck_assert_int_eq(h.method, AUTH_M_GET);
	ck_assert_ptr_null(h.authorization);
	/* Absolute form. */
	ck_assert_int_eq(parse("DELETE http://h:1/v1/kv?prefix=a HTTP/1.1\r\n"
			       "\r\n",
			       &h),
			 0);
	ck_assert_int_eq(h.method, AUTH_M_DELETE);
	ck_assert_uint_eq(h.path_len, 6);
	ck_assert_int_eq(parse("GET http://h HTTP/1.1\r\n\r\n", &h), 0);
	ck_assert_uint_eq(h.path_len, 1);
	ck_assert_int_eq(parse("PATCH /x HTTP/1.1\r\n\r\n", &h), 0);
	ck_assert_int_eq(h.method, AUTH_M_OTHER);
	/* Not a request line. */
	ck_assert_int_eq(parse("GET\r\n\r\n", &h), -1);
	ck_assert_int_eq(parse(" / HTTP/1.1\r\n\r\n", &h), -1);
	ck_assert_int_eq(parse("GET x HTTP/1.1\r\n\r\n", &h), -1);
	ck_assert_int_eq(parse("GET /", &h), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_matrix);
	tcase_add_test(tc, test_scope);
	tcase_add_test(tc, test_bearer);
	tcase_add_test(tc, test_head);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
