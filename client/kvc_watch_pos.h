/* kvc_watch_pos.h - libkvc's watch position (internal, not installed): where
 * a watch stands in the history and where a new stream resumes, shared by
 * the blocking watch (kvc_watch.c) and the event-loop one (kvc_async.c).
 * Pure: no IO, no clock.
 *
 * The position. Every change at an index <= done has been returned; last is
 * the index of the last change returned and n_last how many changes at last
 * were returned. A key changes at most once per index, so a key watch has
 * done == last after each change; a prefix watch knows that last is
 * complete only when a later change or a progress event says so. A new
 * stream asks from = done + 1 when last is complete; else from = last, and
 * the first n_last changes it sends again are skipped: resuming at last + 1
 * would lose the rest of a transaction's changes, resuming at last without
 * skipping would return some twice. */
#ifndef KVC_KVC_WATCH_POS_H_
#define KVC_KVC_WATCH_POS_H_

#include "kvc_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvc_watch_pos {
	bool prefix; /* a prefix watch (else one key) */
	bool known;  /* done is known (the first stream said it, or from) */
	uint64_t done;
	uint64_t last;
	uint32_t n_last;
	uint64_t skip_index; /* a resumed stream's changes at this index... */
	uint32_t skip;	     /* ...still to skip */
};

/* Where the next stream starts; 0: from now. Arms the skipping. */
KVC_INTERNAL uint64_t kvc_watch_pos_next_from(struct kvc_watch_pos *p);

/* A progress event at @index. 0, or -1 with @detail (@n bytes) saying how
 * the stream broke its resume promise. */
KVC_INTERNAL int kvc_watch_pos_progress(struct kvc_watch_pos *p, uint64_t index,
					char *detail, size_t n);

/* A change at @index. 1: new, hand it out; 0: one sent again, skip it; -1
 * with @what (static) and @detail (@n bytes) saying what the stream did
 * wrong. */
KVC_INTERNAL int kvc_watch_pos_change(struct kvc_watch_pos *p, uint64_t index,
				      const char **what, char *detail,
				      size_t n);

#endif /* KVC_KVC_WATCH_POS_H_ */
