/* ui_assets.h - the status page's files (server/ui/), embedded at build
 * time by gen_ui_assets.py into the generated ui_assets.c. */
#ifndef SERVER_UI_ASSETS_H_
#define SERVER_UI_ASSETS_H_

#include <stddef.h>

/* One embedded file. Every pointer is static, for the process's life. */
struct ui_asset {
	const char *name;	  /* base name, e.g. "app.js" */
	const char *content_type; /* from the extension, with a charset */
	const unsigned char *bytes;
	size_t len;
	const char *etag; /* quoted, "<16 hex digits of SHA-256>" */
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_assets_count;

#endif /* SERVER_UI_ASSETS_H_ */
