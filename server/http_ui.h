/* http_ui.h - the status page (DESIGN.md §1.9): GET /ui/ and its files,
 * embedded in the binary, and GET / redirected to it. */
#ifndef SERVER_HTTP_UI_H_
#define SERVER_HTTP_UI_H_

#include <stdbool.h>

#include "ui_assets.h"

struct evhttp_request;

/* Where the page lives, and where GET / sends a browser. */
#define HTTP_UI_PREFIX "/ui/"

/* The embedded file served at HTTP_UI_PREFIX @name ("" is index.html), or
 * NULL when there is none. @name is a URL path's tail, not trusted: any
 * '/' or leading '.' finds nothing. */
const struct ui_asset *http_ui_find(const char *name);

/* True for the paths http_ui_serve() answers: "/", "/ui" and everything
 * under "/ui/". */
bool http_ui_path(const char *path);

/* Answers @req for @path (http_ui_path() true): the file with its
 * Content-Type, ETag (304 on a matching If-None-Match), no-cache and the
 * security headers; a redirect for "/" and "/ui"; a JSON 404 for unknown
 * files and 405 for methods other than GET and HEAD. Returns the status
 * sent, for the caller's metrics. */
int http_ui_serve(struct evhttp_request *req, const char *path);

#endif /* SERVER_HTTP_UI_H_ */
