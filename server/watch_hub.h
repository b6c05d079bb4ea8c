/* watch_hub.h - who watches what on this member, and the delivery of each
 * applied change to them (docs/ARCHITECTURE.md, "Watches").
 *
 * A watcher follows one key or one prefix from an index on. It starts in
 * catch-up: the hub reads its changes from the store's durable history
 * (kv_events_read()) a bounded slice per loop turn, so an old `from`
 * never stalls the loop. Once it has read up to the applied index it is
 * live: it sits in the hub's index (a hash of exact keys and of prefixes,
 * looked up only at the prefix lengths in use), and every apply's changes
 * are read once from the store and handed to the live watchers that match
 * them. An idle watcher costs nothing but its place in those tables and,
 * for streams, one progress event per --watch-progress-ms.
 *
 * The hub owns no connection: what a watcher does with a change is its
 * owner's (struct watcher_ops: a stream writes a line, a blocking read
 * answers). Loop thread only.
 */
#ifndef SERVER_WATCH_HUB_H_
#define SERVER_WATCH_HUB_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.h"

struct event_base;
struct watch_hub;
struct watcher;

/* Why a watcher ends (the owner's end() says it to its client). */
enum watch_end {
	WATCH_END_OWNER = 0,	 /* watch_hub_remove(): no end() call */
	WATCH_END_SLOW_CONSUMER, /* its owner asked (output over the cap) */
	WATCH_END_COMPACTED,	 /* its next change is gone from the history
				  * (a snapshot install jumped past it) */
	WATCH_END_REMOVED,	 /* this member left the cluster */
	WATCH_END_SHUTTING_DOWN, /* the member stops */
	WATCH_END_TIMEOUT,	 /* a deadline passed (blocking reads) */
	WATCH_END_INTERNAL,	 /* the store could not be read */
	WATCH_END_DONE		 /* its owner asked (WATCH_STOP) */
};

/* What change() and progress() return. */
#define WATCH_GO_ON 0
#define WATCH_STOP  1	 /* end with WATCH_END_DONE after the round */
#define WATCH_SLOW  (-1) /* end with WATCH_END_SLOW_CONSUMER */

/* watch_hub_add(): the streams allowed (max_streams) are open. */
#define WATCH_HUB_EFULL (-200)

struct watcher_ops {
	/* A change at or after the watcher's cursor. The changes of one
	 * index come one after another, never split across rounds. Returns
	 * WATCH_GO_ON, or WATCH_STOP / WATCH_SLOW to end the watcher after
	 * the round (no further change is passed). */
	int (*change)(void *arg, const struct kv_event *ev);
	/* The end of a round that passed at least one change: send what
	 * change() gathered. Optional. */
	void (*flush)(void *arg);
	/* Nothing was passed for the progress period: every change up to
	 * @index was. Optional (NULL: no progress). Returns as change(). */
	int (*progress)(void *arg, raft_index index);
	/* Optional: whether its client is still there, asked once per
	 * progress period of a stream whatever its state (a catch-up stream
	 * paused on a client that left would otherwise wait forever). */
	bool (*alive)(void *arg);
	/* The hub ends the watcher (it is freed after this returns; the
	 * owner must not call the hub with it again). @oldest: the oldest
	 * index the history holds (WATCH_END_COMPACTED). */
	void (*end)(void *arg, enum watch_end why, raft_index oldest);
};

struct watch_hub_options {
	unsigned max_streams; /* watchers that count (streams) */
	unsigned progress_ms; /* --watch-progress-ms */
	/* Optional: whether this member was removed from the cluster,
	 * asked after each apply and each progress period (its watchers
	 * then end with WATCH_END_REMOVED). */
	bool (*removed)(void *arg);
	void *removed_arg;
};

/* A hub over the store *@kvp (a pointer to the owner's pointer: a
 * snapshot install replaces the store), whose changes up to @applied are
 * old. NULL when out of memory. */
struct watch_hub *watch_hub_new(struct event_base *base, struct kv *const *kvp,
				raft_index applied,
				const struct watch_hub_options *opts);

/* Ends every watcher (WATCH_END_SHUTTING_DOWN) and frees @hub. */
void watch_hub_free(struct watch_hub *hub);

/* Adds a watcher of key @match (@exact) or of prefix @match from index
 * @from (0: after the store's applied index). @stream: it counts toward
 * max_streams and gets progress events. Errors: KV_ECOMPACTED (*@oldest:
 * the oldest index the history holds), WATCH_HUB_EFULL, KV_ENOMEM,
 * KV_ELMDB. On success *@out is the watcher and
 * *@oldest the index its first change may have (from, or applied + 1).
 * The first change() comes from a later loop turn, never from here. */
int watch_hub_add(struct watch_hub *hub, const uint8_t *match, size_t match_len,
		  bool exact, raft_index from, bool stream,
		  const struct watcher_ops *ops, void *arg,
		  struct watcher **out, raft_index *oldest);

/* The owner drops @w (its client left): no end() call. Not from within
 * @w's own callbacks (return -1 from change() instead). */
void watch_hub_remove(struct watch_hub *hub, struct watcher *w);

/* Ends @w with @why from outside a round (a blocking read's deadline):
 * end() is called. */
void watch_hub_end(struct watch_hub *hub, struct watcher *w,
		   enum watch_end why);

/* Pauses @w's catch-up until watch_hub_resume() (its owner's output is
 * full); live watchers are not paused, their owners cap their output
 * instead. Both may be called from @w's callbacks. */
void watch_hub_pause(struct watch_hub *hub, struct watcher *w);
void watch_hub_resume(struct watch_hub *hub, struct watcher *w);

/* The store applied up to @applied: the changes after the last call go
 * to the live watchers that match them. */
void watch_hub_applied(struct watch_hub *hub, raft_index applied);

/* As watch_hub_applied(), from a zero timer when a live watcher may be
 * concerned: the loop first writes the answers of the entries just applied
 * (their writers wait on them), then hands the changes out. */
void watch_hub_applied_soon(struct watch_hub *hub, raft_index applied);

/* The store was replaced (a snapshot install) and holds up to @applied:
 * every live watcher goes back to catch-up from its cursor, which the
 * installed history serves or ends with WATCH_END_COMPACTED. */
void watch_hub_reset(struct watch_hub *hub, raft_index applied);

/* Ends every watcher with @why (WATCH_END_REMOVED, _SHUTTING_DOWN). */
void watch_hub_end_all(struct watch_hub *hub, enum watch_end why);

/* The index up to which changes were handed out. */
raft_index watch_hub_applied_index(const struct watch_hub *hub);

struct watch_hub_stats {
	uint64_t streams;      /* open streams */
	uint64_t waiters;      /* other watchers (blocking reads) */
	uint64_t catching_up;  /* watchers reading the history */
	uint64_t changes_sent; /* change() calls, since start */
	uint64_t progress_sent;
	uint64_t ended_slow; /* ended with WATCH_END_SLOW_CONSUMER */
	uint64_t ended_compacted;
	uint64_t refused; /* adds refused for max_streams */
};
void watch_hub_stats(const struct watch_hub *hub, struct watch_hub_stats *st);

#endif /* SERVER_WATCH_HUB_H_ */
