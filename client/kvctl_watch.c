/* kvctl_watch.c - `kvctl watch` (see kvctl_watch.h), on libkvc's watch. */
#include "kvctl_watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvctl_cmd.h"
#include "kvctl_print.h"

/* How long one wait for a change lasts. A signal normally ends the wait at
 * once (kvc_watch_next() returns on EINTR); the bound only covers a signal
 * that lands between the check of the flag and the wait. */
#define WAIT_MS 1000

static int print_json_event(const struct kvc_event *ev)
{
	json_t *j;
	if (ev->type == KVC_EVENT_PUT) {
		char *b = kvctl_b64_encode(ev->value, ev->value_len);
		if (!b)
			return -1;
		j = json_pack("{s:s,s:s,s:s,s:I}", "type", "put", "key",
			      ev->key, "value", b, "index",
			      (json_int_t)ev->index);
		free(b);
	} else {
		j = json_pack("{s:s,s:s,s:I}", "type", "delete", "key", ev->key,
			      "index", (json_int_t)ev->index);
	}
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!s)
		return -1;
	puts(s);
	free(s);
	return 0;
}

static int print_event(const struct kvc_event *ev, bool json)
{
	if (json) {
		if (print_json_event(ev) < 0)
			return -1;
	} else {
		bool put = ev->type == KVC_EVENT_PUT;
		fputs(put ? "PUT\t" : "DELETE\t", stdout);
		kvctl_print_escaped((const unsigned char *)ev->key,
				    strlen(ev->key));
		if (put) {
			putchar('\t');
			kvctl_print_escaped(ev->value, ev->value_len);
		}
		printf("\t%" PRIu64 "\n", ev->index);
	}
	/* One line at a time, so that a reader (`| head -1`) sees each
	 * change as it commits. */
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

int kvctl_watch(struct kvc *h, const struct kvctl_watch_opts *o)
{
	struct kvc_watch *w;
	/* The open keeps the default signal actions: an interrupt while no
	 * member answers yet just ends kvctl. */
	int rc = kvc_watch_open(h, o->key, o->prefix ? KVC_WATCH_PREFIX : 0,
				o->from, &w);
	if (rc < 0)
		return rc;
	catch_stop_signals();
	uint64_t seen = 0;
	while (!kvctl_stop && (o->count == 0 || seen < o->count)) {
		struct kvc_event ev;
		rc = kvc_watch_next(w, &ev, WAIT_MS);
		if (rc == KVC_ETIMEOUT)
			continue;
		if (rc < 0)
			break;
		if (print_event(&ev, o->json) < 0) {
			fprintf(stderr, "kvctl: writing stdout failed\n");
			rc = KVCTL_WATCH_EOUTPUT;
			break;
		}
		seen++;
	}
	if (kvctl_stop || (o->count && seen == o->count))
		rc = 0;
	kvc_watch_close(w);
	return rc;
}
