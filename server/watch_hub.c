/* watch_hub.c - the watchers of one member and the delivery of every
 * applied change to the ones it concerns (watch_hub.h). */
#include "watch_hub.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* Changes read from the history per catch-up slice, and per loop turn
 * over all catch-up watchers: a slice is one LMDB read transaction; a
 * turn's budget bounds how long other work waits behind catch-up. */
#define CATCHUP_SLICE	    1024
#define CATCHUP_TURN_BUDGET 8192
/* Changes read per history read when handing out an apply's changes. */
#define DISPATCH_SLICE 4096
#define BUCKETS_MIN    64
/* Progress events sent per loop turn at most. */
#define PROGRESS_TURN 256

enum wstate { W_CATCHUP, W_LIVE };

struct bucket;

struct watcher {
	struct watch_hub *hub;
	const struct watcher_ops *ops;
	void *arg;
	uint8_t *match;
	size_t match_len;
	bool exact, stream;
	enum wstate state;
	/* Every change below it was passed or is not covered (below
	 * `from`). */
	raft_index cursor;
	struct bucket *bucket; /* live */
	struct watcher *bnext, *bprev;
	/* Catch-up run queue; in_queue / in_flight say where it is. */
	struct watcher *qnext, *qprev;
	bool in_queue, in_flight, paused;
	/* Streams, oldest send first: the progress order. */
	struct watcher *pnext, *pprev;
	uint64_t last_ms;
	struct watcher *anext, *aprev; /* every watcher */
	/* A round's watchers that were passed a change, to flush. */
	struct watcher *dnext;
	bool dirty;
	/* Set when it is to end after the current activity. */
	bool ending;
	enum watch_end why;
	raft_index oldest; /* WATCH_END_COMPACTED: where history starts */
	struct watcher *enext;
};

/* The live watchers of one exact key or one prefix. */
struct bucket {
	struct bucket *next;
	uint64_t hash;
	bool exact;
	size_t len;
	struct watcher *head;
	uint8_t key[];
};

struct list {
	struct watcher *head, *tail;
};

struct watch_hub {
	struct event_base *base;
	struct kv *const *kvp;
	struct watch_hub_options opts;
	raft_index dispatched;
	struct bucket **table;
	size_t nbuckets, nused;
	/* Live prefix watchers per prefix length, and the lengths in use in
	 * increasing order: a change's key is looked up at those alone. */
	uint32_t prefix_count[KV_KEY_MAX + 1];
	uint16_t lens[KV_KEY_MAX + 1];
	size_t nlens;
	size_t live;
	struct watcher *queue_head, *queue_tail;
	struct watcher *prog_head, *prog_tail;
	struct watcher *all_head;
	struct watcher *dirty;
	struct watcher *ended;
	struct event *catchup_ev, *progress_ev, *dispatch_ev;
	raft_index pending; /* watch_hub_applied_soon()'s index */
	struct watch_hub_stats st;
};

/* ---- the index of live watchers ---- */

static uint64_t key_hash(bool exact, const uint8_t *p, size_t len)
{
	uint64_t h = exact ? 0xcbf29ce484222325ull : 0x84222325cbf29ce4ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static struct bucket **bucket_slot(struct watch_hub *hub, bool exact,
				   const uint8_t *p, size_t len, uint64_t h)
{
	struct bucket **b = &hub->table[h & (hub->nbuckets - 1)];
	for (; *b != NULL; b = &(*b)->next)
		if ((*b)->hash == h && (*b)->exact == exact &&
		    (*b)->len == len && memcmp((*b)->key, p, len) == 0)
			break;
	return b;
}

static struct bucket *bucket_find(struct watch_hub *hub, bool exact,
				  const uint8_t *p, size_t len)
{
	return *bucket_slot(hub, exact, p, len, key_hash(exact, p, len));
}

static void table_grow(struct watch_hub *hub)
{
	size_t n = hub->nbuckets * 2;
	struct bucket **t = calloc(n, sizeof(*t));
	if (t == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < hub->nbuckets; i++) {
		struct bucket *b = hub->table[i], *next;
		for (; b != NULL; b = next) {
			next = b->next;
			b->next = t[b->hash & (n - 1)];
			t[b->hash & (n - 1)] = b;
		}
	}
	free(hub->table);
	hub->table = t;
	hub->nbuckets = n;
}

static void lens_update(struct watch_hub *hub)
{
	hub->nlens = 0;
	for (size_t l = 0; l <= KV_KEY_MAX; l++)
		if (hub->prefix_count[l] != 0)
			hub->lens[hub->nlens++] = (uint16_t)l;
}

/* Puts @w into the index (it becomes live). -1 when out of memory. */
static int index_add(struct watch_hub *hub, struct watcher *w)
{
	uint64_t h = key_hash(w->exact, w->match, w->match_len);
	struct bucket **slot =
	    bucket_slot(hub, w->exact, w->match, w->match_len, h);
	struct bucket *b = *slot;
	if (b == NULL) {
		b = malloc(sizeof(*b) + w->match_len);
		if (b == NULL)
			return -1;
		b->next = NULL;
		b->hash = h;
		b->exact = w->exact;
		b->len = w->match_len;
		b->head = NULL;
		if (w->match_len > 0)
			memcpy(b->key, w->match, w->match_len);
		*slot = b;
		if (++hub->nused > hub->nbuckets)
			table_grow(hub);
	}
	w->bucket = b;
	w->bprev = NULL;
	w->bnext = b->head;
	if (b->head != NULL)
		b->head->bprev = w;
	b->head = w;
	if (!w->exact && hub->prefix_count[w->match_len]++ == 0)
		lens_update(hub);
	hub->live++;
	hub->st.catching_up--;
	w->state = W_LIVE;
	return 0;
}

static void index_remove(struct watch_hub *hub, struct watcher *w)
{
	struct bucket *b = w->bucket;
	if (b == NULL)
		return;
	if (w->bprev != NULL)
		w->bprev->bnext = w->bnext;
	else
		b->head = w->bnext;
	if (w->bnext != NULL)
		w->bnext->bprev = w->bprev;
	w->bucket = NULL;
	w->bnext = w->bprev = NULL;
	if (!w->exact && --hub->prefix_count[w->match_len] == 0)
		lens_update(hub);
	hub->live--;
	if (b->head == NULL) {
		struct bucket **slot =
		    bucket_slot(hub, b->exact, b->key, b->len, b->hash);
		*slot = b->next;
		free(b);
		hub->nused--;
	}
}

/* ---- lists ---- */

static void queue_push(struct watch_hub *hub, struct watcher *w)
{
	w->qnext = NULL;
	w->qprev = hub->queue_tail;
	if (hub->queue_tail != NULL)
		hub->queue_tail->qnext = w;
	else
		hub->queue_head = w;
	hub->queue_tail = w;
	w->in_queue = true;
	event_active(hub->catchup_ev, EV_TIMEOUT, 0);
}

static void queue_unlink(struct watch_hub *hub, struct watcher *w)
{
	if (!w->in_queue)
		return;
	if (w->qprev != NULL)
		w->qprev->qnext = w->qnext;
	else
		hub->queue_head = w->qnext;
	if (w->qnext != NULL)
		w->qnext->qprev = w->qprev;
	else
		hub->queue_tail = w->qprev;
	w->qnext = w->qprev = NULL;
	w->in_queue = false;
}

static void progress_arm(struct watch_hub *hub)
{
	if (hub->prog_head == NULL || evtimer_pending(hub->progress_ev, NULL))
		return;
	uint64_t due = hub->prog_head->last_ms + hub->opts.progress_ms;
	uint64_t now = clock_now_ms();
	struct timeval tv = clock_ms_to_timeval(due > now ? due - now : 0);
	evtimer_add(hub->progress_ev, &tv);
}

static void prog_unlink(struct watch_hub *hub, struct watcher *w)
{
	/* A new stream is in no list yet: without neighbours and not the
	 * head, it has nothing to unlink (taking it for the head would
	 * empty the list, and the streams in it would get no progress). */
	if (!w->stream || (w->pprev == NULL && hub->prog_head != w))
		return;
	if (w->pprev != NULL)
		w->pprev->pnext = w->pnext;
	else
		hub->prog_head = w->pnext;
	if (w->pnext != NULL)
		w->pnext->pprev = w->pprev;
	else
		hub->prog_tail = w->pprev;
	w->pnext = w->pprev = NULL;
}

/* @w sent something now: it goes last in the progress order. */
static void prog_touch(struct watch_hub *hub, struct watcher *w)
{
	if (!w->stream)
		return;
	prog_unlink(hub, w);
	w->last_ms = clock_now_ms();
	w->pprev = hub->prog_tail;
	if (hub->prog_tail != NULL)
		hub->prog_tail->pnext = w;
	else
		hub->prog_head = w;
	hub->prog_tail = w;
	progress_arm(hub);
}

/* ---- ending ---- */

static void watcher_unlink(struct watch_hub *hub, struct watcher *w)
{
	index_remove(hub, w);
	queue_unlink(hub, w);
	prog_unlink(hub, w);
	if (w->aprev != NULL)
		w->aprev->anext = w->anext;
	else
		hub->all_head = w->anext;
	if (w->anext != NULL)
		w->anext->aprev = w->aprev;
	if (w->stream)
		hub->st.streams--;
	else
		hub->st.waiters--;
	if (w->state == W_CATCHUP)
		hub->st.catching_up--;
}

static void watcher_free(struct watcher *w)
{
	free(w->match);
	free(w);
}

/* Marks @w to end with @why once the current activity is over. */
static void mark_ending(struct watch_hub *hub, struct watcher *w,
			enum watch_end why)
{
	if (w->ending)
		return;
	w->ending = true;
	w->why = why;
	w->enext = hub->ended;
	hub->ended = w;
}

/* Ends the watchers marked: their owners hear it, then they are freed. */
static void reap(struct watch_hub *hub)
{
	while (hub->ended != NULL) {
		struct watcher *w = hub->ended;
		hub->ended = w->enext;
		watcher_unlink(hub, w);
		if (w->why == WATCH_END_SLOW_CONSUMER)
			hub->st.ended_slow++;
		else if (w->why == WATCH_END_COMPACTED)
			hub->st.ended_compacted++;
		w->ops->end(w->arg, w->why, w->oldest);
		watcher_free(w);
	}
}

static void take_verdict(struct watch_hub *hub, struct watcher *w, int rc)
{
	if (rc == WATCH_STOP)
		mark_ending(hub, w, WATCH_END_DONE);
	else if (rc != WATCH_GO_ON)
		mark_ending(hub, w, WATCH_END_SLOW_CONSUMER);
}

static void pass(struct watch_hub *hub, struct watcher *w,
		 const struct kv_event *ev)
{
	hub->st.changes_sent++;
	take_verdict(hub, w, w->ops->change(w->arg, ev));
	if (!w->dirty) {
		w->dirty = true;
		w->dnext = hub->dirty;
		hub->dirty = w;
	}
}

/* The end of a round: what was gathered leaves. */
static void flush_dirty(struct watch_hub *hub)
{
	while (hub->dirty != NULL) {
		struct watcher *w = hub->dirty;
		hub->dirty = w->dnext;
		w->dirty = false;
		if (!w->ending && w->ops->flush != NULL)
			w->ops->flush(w->arg);
		prog_touch(hub, w);
	}
}

/* ---- live delivery ---- */

static void pass_bucket(struct watch_hub *hub, struct bucket *b,
			const struct kv_event *ev)
{
	for (struct watcher *w = b != NULL ? b->head : NULL; w != NULL;
	     w = w->bnext)
		if (!w->ending && ev->index >= w->cursor)
			pass(hub, w, ev);
}

static int dispatch_cb(void *arg, const struct kv_event *ev)
{
	struct watch_hub *hub = arg;
	pass_bucket(hub, bucket_find(hub, true, ev->key, ev->key_len), ev);
	for (size_t i = 0; i < hub->nlens && hub->lens[i] <= ev->key_len; i++)
		pass_bucket(hub, bucket_find(hub, false, ev->key, hub->lens[i]),
			    ev);
	return 0;
}

/* Every live watcher goes back to catch-up, after what it was passed:
 * everything up to the last index handed out. */
static void all_to_catchup(struct watch_hub *hub)
{
	for (struct watcher *w = hub->all_head; w != NULL; w = w->anext)
		if (w->state == W_LIVE && !w->ending) {
			index_remove(hub, w);
			if (w->cursor <= hub->dispatched)
				w->cursor = hub->dispatched + 1;
			w->state = W_CATCHUP;
			hub->st.catching_up++;
			if (!w->paused && !w->in_flight)
				queue_push(hub, w);
		}
}

static void check_removed(struct watch_hub *hub)
{
	if (hub->opts.removed != NULL && hub->all_head != NULL &&
	    hub->opts.removed(hub->opts.removed_arg))
		watch_hub_end_all(hub, WATCH_END_REMOVED);
}

void watch_hub_applied(struct watch_hub *hub, raft_index applied)
{
	if (applied <= hub->dispatched)
		return;
	raft_index from = hub->dispatched + 1;
	/* Nobody live: nothing to read. Catch-up watchers read for
	 * themselves. */
	while (hub->live > 0 && from <= applied) {
		raft_index next = from;
		int rc =
		    kv_events_read(*hub->kvp, from, (const uint8_t *)"", 0, 0,
				   DISPATCH_SLICE, dispatch_cb, hub, &next);
		if (rc == KV_ECOMPACTED) {
			/* The history is smaller than one apply's changes:
			 * catch-up finds where each watcher stands. */
			all_to_catchup(hub);
			break;
		}
		if (rc != 0) {
			log_error("watch: reading the history at %" PRIu64
				  ": %s",
				  from, kv_strerror(rc));
			for (struct watcher *w = hub->all_head; w != NULL;
			     w = w->anext)
				if (w->state == W_LIVE)
					mark_ending(hub, w, WATCH_END_INTERNAL);
			break;
		}
		if (next <= from)
			break;
		from = next;
	}
	/* A live watcher's cursor stays its `from`: live, it has been
	 * passed everything up to here (all_to_catchup() moves it on). */
	hub->dispatched = applied;
	flush_dirty(hub);
	reap(hub);
	check_removed(hub);
}

static void dispatch_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct watch_hub *hub = arg;
	watch_hub_applied(hub, hub->pending);
}

void watch_hub_applied_soon(struct watch_hub *hub, raft_index applied)
{
	if (applied > hub->pending)
		hub->pending = applied;
	if (hub->live == 0) { /* nothing to send: no reason to wait */
		watch_hub_applied(hub, hub->pending);
		return;
	}
	if (!evtimer_pending(hub->dispatch_ev, NULL)) {
		struct timeval zero = {0, 0};
		evtimer_add(hub->dispatch_ev, &zero);
	}
}

/* ---- catch-up ---- */

static int catchup_cb(void *arg, const struct kv_event *ev)
{
	struct watcher *w = arg;
	pass(w->hub, w, ev);
	/* Stopping splits nothing that matters: the watcher ends. */
	return w->ending;
}

static void catchup_one(struct watch_hub *hub, struct watcher *w, size_t budget)
{
	raft_index next = w->cursor;
	int rc = kv_events_read(*hub->kvp, w->cursor, w->match, w->match_len,
				w->exact, budget, catchup_cb, w, &next);
	flush_dirty(hub);
	if (w->ending)
		return;
	if (rc == KV_ECOMPACTED) {
		w->oldest = next;
		mark_ending(hub, w, WATCH_END_COMPACTED);
		return;
	}
	if (rc != 0) {
		log_error("watch: reading the history at %" PRIu64 ": %s",
			  w->cursor, kv_strerror(rc));
		mark_ending(hub, w, WATCH_END_INTERNAL);
		return;
	}
	if (next > w->cursor)
		w->cursor = next;
	if (w->cursor > hub->dispatched) {
		if (index_add(hub, w) != 0)
			mark_ending(hub, w, WATCH_END_INTERNAL);
		return;
	}
	if (!w->paused)
		queue_push(hub, w);
}

static void catchup_turn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct watch_hub *hub = arg;
	size_t budget = CATCHUP_TURN_BUDGET;
	/* Round robin, one slice each, so that one long catch-up does not
	 * keep the others waiting. */
	struct watcher *last = hub->queue_tail;
	while (hub->queue_head != NULL && budget > 0) {
		struct watcher *w = hub->queue_head;
		queue_unlink(hub, w);
		w->in_flight = true;
		size_t slice = budget < CATCHUP_SLICE ? budget : CATCHUP_SLICE;
		catchup_one(hub, w, slice);
		w->in_flight = false;
		budget -= slice;
		if (w == last)
			break;
	}
	reap(hub);
	if (hub->queue_head != NULL)
		event_active(hub->catchup_ev, EV_TIMEOUT, 0);
}

void watch_hub_pause(struct watch_hub *hub, struct watcher *w)
{
	w->paused = true;
	queue_unlink(hub, w);
}

void watch_hub_resume(struct watch_hub *hub, struct watcher *w)
{
	if (!w->paused)
		return;
	w->paused = false;
	if (w->state == W_CATCHUP && !w->in_queue && !w->in_flight &&
	    !w->ending)
		queue_push(hub, w);
}

/* ---- progress ---- */

static void progress_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct watch_hub *hub = arg;
	uint64_t now = clock_now_ms();
	/* At most the streams there are (each moves to the back once), and
	 * at most PROGRESS_TURN of them a loop turn: streams opened together
	 * come due together, and ten thousand lines in one go would hold up
	 * heartbeats and writes; the rest go on the next turn. */
	uint64_t k =
	    hub->st.streams < PROGRESS_TURN ? hub->st.streams : PROGRESS_TURN;
	bool more = false;
	for (; hub->prog_head != NULL; k--) {
		struct watcher *w = hub->prog_head;
		if (w->last_ms + hub->opts.progress_ms > now)
			break;
		if (k == 0) {
			more = true;
			break;
		}
		if (!w->ending && w->ops->alive != NULL &&
		    !w->ops->alive(w->arg))
			mark_ending(hub, w, WATCH_END_DONE);
		if (w->state == W_LIVE && !w->ending && w->ops->progress) {
			raft_index p = w->cursor - 1 > hub->dispatched
					   ? w->cursor - 1
					   : hub->dispatched;
			hub->st.progress_sent++;
			take_verdict(hub, w, w->ops->progress(w->arg, p));
		}
		prog_touch(hub, w);
	}
	reap(hub);
	check_removed(hub);
	if (more) {
		struct timeval zero = {0, 0};
		evtimer_add(hub->progress_ev, &zero);
	} else {
		progress_arm(hub);
	}
}

/* ---- the hub ---- */

struct watch_hub *watch_hub_new(struct event_base *base, struct kv *const *kvp,
				raft_index applied,
				const struct watch_hub_options *opts)
{
	struct watch_hub *hub = calloc(1, sizeof(*hub));
	if (hub == NULL)
		return NULL;
	hub->base = base;
	hub->kvp = kvp;
	hub->opts = *opts;
	if (hub->opts.progress_ms == 0)
		hub->opts.progress_ms = 5000;
	hub->dispatched = applied;
	hub->pending = applied;
	hub->nbuckets = BUCKETS_MIN;
	hub->table = calloc(hub->nbuckets, sizeof(*hub->table));
	hub->catchup_ev = event_new(base, -1, 0, catchup_turn, hub);
	hub->progress_ev = evtimer_new(base, progress_due, hub);
	hub->dispatch_ev = evtimer_new(base, dispatch_due, hub);
	if (hub->table == NULL || hub->catchup_ev == NULL ||
	    hub->progress_ev == NULL || hub->dispatch_ev == NULL) {
		watch_hub_free(hub);
		return NULL;
	}
	return hub;
}

void watch_hub_end_all(struct watch_hub *hub, enum watch_end why)
{
	for (struct watcher *w = hub->all_head; w != NULL; w = w->anext)
		mark_ending(hub, w, why);
	reap(hub);
}

void watch_hub_free(struct watch_hub *hub)
{
	if (hub == NULL)
		return;
	watch_hub_end_all(hub, WATCH_END_SHUTTING_DOWN);
	if (hub->table != NULL)
		for (size_t i = 0; i < hub->nbuckets; i++)
			while (hub->table[i] != NULL) {
				struct bucket *b = hub->table[i];
				hub->table[i] = b->next;
				free(b);
			}
	free(hub->table);
	if (hub->catchup_ev != NULL)
		event_free(hub->catchup_ev);
	if (hub->progress_ev != NULL)
		event_free(hub->progress_ev);
	if (hub->dispatch_ev != NULL)
		event_free(hub->dispatch_ev);
	free(hub);
}

int watch_hub_add(struct watch_hub *hub, const uint8_t *match, size_t match_len,
		  bool exact, raft_index from, bool stream,
		  const struct watcher_ops *ops, void *arg,
		  struct watcher **out, raft_index *oldest)
{
	if (match_len > KV_KEY_MAX || (exact && match_len == 0))
		return KV_EINVAL;
	if (match_len == 0)
		match = (const uint8_t *)""; /* a prefix of every key */
	if (stream && hub->st.streams >= hub->opts.max_streams) {
		hub->st.refused++;
		return WATCH_HUB_EFULL;
	}
	if (from == 0) /* the store's: a hand-out may be pending */
		from = kv_applied_index(*hub->kvp) + 1;
	else {
		/* Refused now rather than on the first catch-up turn, so
		 * that the client gets a 410 rather than a stream that
		 * ends at once. */
		raft_index next = from;
		int rc = kv_events_read(*hub->kvp, from, match, match_len,
					exact, 0, NULL, NULL, &next);
		if (rc == KV_ECOMPACTED) {
			*oldest = next;
			return rc;
		}
		if (rc != 0)
			return rc;
	}
	struct watcher *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return KV_ENOMEM;
	w->match = malloc(match_len > 0 ? match_len : 1);
	if (w->match == NULL) {
		free(w);
		return KV_ENOMEM;
	}
	if (match_len > 0)
		memcpy(w->match, match, match_len);
	w->hub = hub;
	w->ops = ops;
	w->arg = arg;
	w->match_len = match_len;
	w->exact = exact;
	w->stream = stream;
	w->cursor = from;
	w->anext = hub->all_head;
	if (hub->all_head != NULL)
		hub->all_head->aprev = w;
	hub->all_head = w;
	if (stream)
		hub->st.streams++;
	else
		hub->st.waiters++;
	hub->st.catching_up++; /* until index_add() */
	prog_touch(hub, w);
	*oldest = from;
	*out = w;
	if (from > hub->dispatched) {
		if (index_add(hub, w) != 0) {
			watcher_unlink(hub, w);
			watcher_free(w);
			return KV_ENOMEM;
		}
		return 0;
	}
	queue_push(hub, w);
	return 0;
}

void watch_hub_remove(struct watch_hub *hub, struct watcher *w)
{
	if (w->ending) { /* never reaped: its owner is done with it */
		struct watcher **p = &hub->ended;
		while (*p != w)
			p = &(*p)->enext;
		*p = w->enext;
	}
	watcher_unlink(hub, w);
	if (w->dirty) {
		struct watcher **p = &hub->dirty;
		while (*p != w)
			p = &(*p)->dnext;
		*p = w->dnext;
	}
	watcher_free(w);
}

void watch_hub_end(struct watch_hub *hub, struct watcher *w, enum watch_end why)
{
	mark_ending(hub, w, why);
	reap(hub);
}

void watch_hub_reset(struct watch_hub *hub, raft_index applied)
{
	all_to_catchup(hub);
	hub->dispatched = applied;
	hub->pending = applied;
}

raft_index watch_hub_applied_index(const struct watch_hub *hub)
{
	return hub->dispatched;
}

void watch_hub_stats(const struct watch_hub *hub, struct watch_hub_stats *st)
{
	*st = hub->st;
}
