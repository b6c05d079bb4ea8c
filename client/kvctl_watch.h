/* kvctl_watch.h - `kvctl watch`: print every change to a key or under a
 * prefix as it commits, resuming on another member when one fails. */
#ifndef CLIENT_KVCTL_WATCH_H_
#define CLIENT_KVCTL_WATCH_H_

#include <stdbool.h>
#include <stdint.h>

#include "kvc.h"

struct kvctl_watch_opts {
	const char *key; /* the key, or the prefix with @prefix */
	bool prefix;
	uint64_t from;	/* 0: changes after now */
	uint64_t count; /* stop after this many changes; 0: never */
	bool json;	/* print the event objects, one per line */
};

/* kvctl_watch()'s result when writing to stdout failed (said on stderr). */
#define KVCTL_WATCH_EOUTPUT 1

/* Watches through @h and prints one line per change on stdout, flushed at
 * once: PUT<TAB>KEY<TAB>VALUE<TAB>INDEX or DELETE<TAB>KEY<TAB>INDEX (key and
 * value escaped as by `kvctl list`), or with @o->json the event objects
 * {"type","key","value" (base64),"index"}. Returns 0 after @o->count
 * changes or on SIGINT/SIGTERM, a negative KVC_E* code when the watch
 * failed (kvc_errmsg(@h) says more; nothing printed yet), or
 * KVCTL_WATCH_EOUTPUT. */
int kvctl_watch(struct kvc *h, const struct kvctl_watch_opts *o);

#endif /* CLIENT_KVCTL_WATCH_H_ */
