/* kvc_watch_pos.c - libkvc's watch position (kvc_watch_pos.h): where a
 * watch resumes, and what a resumed stream must send, checked. */
#include "kvc_watch_pos.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

/* The position's invariants (see kvc_watch_pos.h). */
static void check_position(const struct kvc_watch_pos *w)
{
	/* Only the index of the last change can be incomplete... */
	assert(w->last <= w->done + 1);
	/* ...and only for a prefix (a key changes once per index). */
	assert(w->prefix || w->last <= w->done);
	assert(w->skip <= w->n_last &&
	       (w->skip == 0 || w->skip_index == w->last));
	assert(w->n_last > 0 || w->last == 0);
}

/* Where the next stream starts (see kvc_watch_pos.h); 0: from now. */
uint64_t kvc_watch_pos_next_from(struct kvc_watch_pos *w)
{
	w->skip = 0;
	if (!w->known)
		return 0;
	if (w->last > w->done) {
		w->skip_index = w->last;
		w->skip = w->n_last;
		return w->last;
	}
	return w->done + 1;
}

int kvc_watch_pos_progress(struct kvc_watch_pos *w, uint64_t index,
			   char *detail, size_t n)
{
	/* A progress below the position is no news (a member that lags
	 * behind the one the watch left). One that passes an index whose
	 * changes are still to be sent again is a lie. */
	if (w->skip && index >= w->skip_index) {
		snprintf(detail, n,
			 "progress %" PRIu64 " before the changes at "
			 "%" PRIu64 " were sent again",
			 index, w->skip_index);
		return -1;
	}
	if (index > w->done)
		w->done = index;
	check_position(w);
	return 0;
}

int kvc_watch_pos_change(struct kvc_watch_pos *w, uint64_t i, const char **what,
			 char *detail, size_t n)
{
	if (w->skip) {
		if (i == w->skip_index) {
			w->skip--;
			check_position(w);
			return 0;
		}
		snprintf(detail, n,
			 "%" PRIu32 " change(s) at %" PRIu64 " not sent again",
			 w->skip, w->skip_index);
		*what = "broken resume";
		return -1;
	}
	if (i <= w->done || i < w->last) {
		snprintf(detail, n, "index %" PRIu64 " after %" PRIu64, i,
			 w->last > w->done ? w->last : w->done);
		*what = "a change out of order or twice";
		return -1;
	}
	if (i == w->last) {
		w->n_last++;
	} else {
		w->done = i - 1;
		w->last = i;
		w->n_last = 1;
	}
	if (!w->prefix)
		w->done = i;
	check_position(w);
	return 1;
}
