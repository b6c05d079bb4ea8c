/* http_ui.c - serves the status page's embedded files under /ui/ with
 * their types, validators and a strict Content-Security-Policy. */
#include "http_ui.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "http_util.h"

/* Everything the page loads comes from this member: its own script and
 * style files (no inline script or style, so an injected one never runs),
 * and its fetches go back to the member that served it. Framing is
 * refused so the page cannot be overlaid by another site. */
#define UI_CSP                                                                 \
	"default-src 'self'; script-src 'self'; style-src 'self'; "            \
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; "        \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const struct ui_asset *http_ui_find(const char *name)
{
	if (name == NULL)
		return NULL;
	if (name[0] == '\0')
		name = "index.html";
	/* Only the flat names the generator accepted can match; this keeps
	 * the table, not the path, the judge of what exists. */
	if (name[0] == '.' || strchr(name, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < ui_assets_count; i++)
		if (strcmp(ui_assets[i].name, name) == 0)
			return &ui_assets[i];
	return NULL;
}

bool http_ui_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0 ||
	       strncmp(path, HTTP_UI_PREFIX, strlen(HTTP_UI_PREFIX)) == 0;
}

static int redirect(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Location", HTTP_UI_PREFIX);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	struct evbuffer *b = evbuffer_new();
	if (b != NULL)
		evbuffer_add_printf(b, "see %s\n", HTTP_UI_PREFIX);
	evhttp_send_reply(req, 302, "Found", b);
	if (b != NULL)
		evbuffer_free(b);
	return 302;
}

int http_ui_serve(struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET, HEAD");
		http_send_error(req, 405, "method_not_allowed",
				"method not allowed on this path", NULL);
		return 405;
	}
	if (strncmp(path, HTTP_UI_PREFIX, strlen(HTTP_UI_PREFIX)) != 0)
		return redirect(req);
	const struct ui_asset *a = http_ui_find(path + strlen(HTTP_UI_PREFIX));
	if (a == NULL) {
		http_send_error(req, 404, "not_found", "no such file", NULL);
		return 404;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", a->content_type);
	/* Names carry no version, so every use revalidates; the ETag makes
	 * that a 304 without the bytes until the binary changes. */
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "ETag", a->etag);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy", UI_CSP);
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	const char *inm = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "If-None-Match");
	if (inm != NULL && strstr(inm, a->etag) != NULL) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return 304;
	}
	struct evbuffer *b = evbuffer_new();
	if (b == NULL ||
	    evbuffer_add_reference(b, a->bytes, a->len, NULL, NULL) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		http_send_error(req, 500, "internal", "out of memory", NULL);
		return 500;
	}
	evhttp_send_reply(req, 200, http_reason(200), b);
	evbuffer_free(b);
	return 200;
}
