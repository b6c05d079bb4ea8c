/* kvc_watch_line.h - libkvc's parser of one line of a watch stream
 * (internal, not installed): the JSON event objects of DESIGN.md §1.5. */
#ifndef KVC_KVC_WATCH_LINE_H_
#define KVC_KVC_WATCH_LINE_H_

#include "kvc_http.h"

#include <stddef.h>
#include <stdint.h>

/* Kinds of line; the first two are kvc.h's KVC_EVENT_PUT and _DELETE. */
#define KVC_LINE_PUT	  KVC_EVENT_PUT
#define KVC_LINE_DELETE	  KVC_EVENT_DELETE
#define KVC_LINE_PROGRESS 3
#define KVC_LINE_ERROR	  4

#define KVC_MAX_KEY 511 /* bytes of a key (DESIGN.md §1.3) */

/* One parsed line. Every pointer is malloc'd and owned by the struct
 * (kvc_watch_line_clear()); those a kind does not have are NULL. */
struct kvc_watch_line {
	int type;
	uint64_t index;	  /* put, delete (>= 1), progress (>= 0) */
	char *key;	  /* put, delete */
	void *value;	  /* put: value_len bytes plus a trailing NUL */
	size_t value_len; /* put */
	char *error;	  /* error: its code ("shutting_down", ...) */
	char *message;	  /* error: "" when absent */
	uint64_t oldest;  /* error "compacted": >= 1 */
};

/* Parses the @len bytes of @s (one line without its '\n') strictly: one
 * JSON object without duplicate names whose "type" is put, delete,
 * progress or error, with each field of its kind present and well typed
 * (indexes integers in range, keys 1-511 bytes without control characters,
 * values base64). Fields a kind does not use are allowed (a later server may
 * add some). 0 with *@out filled (the caller clears it), KVC_EPROTO with
 * *@why a static reason and *@out empty, or KVC_ENOMEM. */
KVC_INTERNAL int kvc_watch_line_parse(const char *s, size_t len,
				      struct kvc_watch_line *out,
				      const char **why);

/* Releases what @l holds and zeroes it. */
KVC_INTERNAL void kvc_watch_line_clear(struct kvc_watch_line *l);

#endif /* KVC_KVC_WATCH_LINE_H_ */
