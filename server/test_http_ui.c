/* test_http_ui.c - unit tests of the embedded status page: the generated
 * table, the file lookup and the markup the page's CSP allows. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http_ui.h"

/* What server/ui/ holds and the types the generator must give them. */
static const struct {
	const char *name;
	const char *type;
} expected[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.css", "text/css; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static const struct ui_asset *must_find(const char *name)
{
	const struct ui_asset *a = http_ui_find(name);
	ck_assert_msg(a != NULL, "%s is not embedded", name);
	return a;
}

/* The asset's bytes as a NUL-terminated string (the generator ends each
 * array with a NUL beyond len). */
static const char *text_of(const struct ui_asset *a)
{
	ck_assert_uint_eq(a->bytes[a->len], 0);
	ck_assert_uint_eq(strlen((const char *)a->bytes), a->len);
	return (const char *)a->bytes;
}

START_TEST(every_file_embedded_with_its_type)
{
	ck_assert_uint_eq(ui_assets_count, N_EXPECTED);
	for (size_t i = 0; i < N_EXPECTED; i++) {
		const struct ui_asset *a = must_find(expected[i].name);
		ck_assert_str_eq(a->name, expected[i].name);
		ck_assert_str_eq(a->content_type, expected[i].type);
		ck_assert_uint_gt(a->len, 0);
		text_of(a);
	}
	for (size_t i = 0; i < ui_assets_count; i++)
		for (size_t j = i + 1; j < ui_assets_count; j++)
			ck_assert_str_ne(ui_assets[i].name, ui_assets[j].name);
}
END_TEST

START_TEST(etags_are_quoted_hashes)
{
	for (size_t i = 0; i < ui_assets_count; i++) {
		const char *e = ui_assets[i].etag;
		ck_assert_uint_eq(strlen(e), 18);
		ck_assert_int_eq(e[0], '"');
		ck_assert_int_eq(e[17], '"');
		ck_assert_uint_eq(strspn(e + 1, "0123456789abcdef"), 16);
		for (size_t j = i + 1; j < ui_assets_count; j++)
			ck_assert_str_ne(e, ui_assets[j].etag);
	}
}
END_TEST

START_TEST(lookup_of_names)
{
	/* /ui/ itself is the page. */
	ck_assert_ptr_eq(http_ui_find(""), must_find("index.html"));
	ck_assert_ptr_null(http_ui_find(NULL));
	ck_assert_ptr_null(http_ui_find("missing.js"));
	ck_assert_ptr_null(http_ui_find("APP.JS"));
	ck_assert_ptr_null(http_ui_find("app.js/"));
	ck_assert_ptr_null(http_ui_find("../app.js"));
	ck_assert_ptr_null(http_ui_find("./app.js"));
	ck_assert_ptr_null(http_ui_find("x/app.js"));
	ck_assert_ptr_null(http_ui_find(".hidden"));
	ck_assert_ptr_null(http_ui_find("app.js\n"));
}
END_TEST

START_TEST(paths_the_page_answers)
{
	ck_assert(http_ui_path("/"));
	ck_assert(http_ui_path("/ui"));
	ck_assert(http_ui_path("/ui/"));
	ck_assert(http_ui_path("/ui/app.js"));
	ck_assert(http_ui_path("/ui/nothing"));
	ck_assert(!http_ui_path(""));
	ck_assert(!http_ui_path("/uix"));
	ck_assert(!http_ui_path("/v1/status"));
	ck_assert(!http_ui_path("//"));
}
END_TEST

/* The CSP forbids inline script and style: the page must load its code
 * from files, or the browser silently ignores it. */
START_TEST(page_needs_no_inline_code)
{
	const char *html = text_of(must_find("index.html"));
	ck_assert_ptr_nonnull(strstr(html, "<script src=\"app.js\""));
	ck_assert_ptr_nonnull(strstr(html, "href=\"app.css\""));
	ck_assert_ptr_null(strstr(html, "<script>"));
	ck_assert_ptr_null(strstr(html, "<style"));
	ck_assert_ptr_null(strstr(html, " style="));
	ck_assert_ptr_null(strstr(html, " onclick="));
	ck_assert_ptr_null(strstr(html, " onload="));
	/* Nothing from outside the member. */
	for (size_t i = 0; i < ui_assets_count; i++) {
		const char *t = text_of(&ui_assets[i]);
		ck_assert_msg(strstr(t, "http://") == NULL &&
				  strstr(t, "https://") == NULL,
			      "%s names an external URL", ui_assets[i].name);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_ui");
	TCase *tc = tcase_create("assets");
	tcase_add_test(tc, every_file_embedded_with_its_type);
	tcase_add_test(tc, etags_are_quoted_hashes);
	tcase_add_test(tc, lookup_of_names);
	tcase_add_test(tc, paths_the_page_answers);
	tcase_add_test(tc, page_needs_no_inline_code);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
