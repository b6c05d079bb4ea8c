/* transport_share.c - large entry frames encoded once, referenced by every
 * peer's body (see transport_share.h). */
#include "transport_share.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "frame.h"

/* Frames kept until the next loop turn: one ready rarely carries more
 * large entries than this; a miss only costs a second encoding. */
#define SHARE_SLOTS 8

struct shared_frame {
	unsigned refs; /* the cache's, plus one per body referencing it */
	raft_index index;
	raft_term term;
	uint32_t len;	 /* payload bytes */
	uint8_t bytes[]; /* frame_size(len) bytes */
};

struct share_cache {
	struct event *drop_ev;
	struct shared_frame *slot[SHARE_SLOTS];
	size_t next; /* slot replaced next when all are taken */
};

static void frame_unref(struct shared_frame *f)
{
	assert(f->refs > 0);
	if (--f->refs == 0)
		free(f);
}

/* evbuffer's cleanup of a reference: the body no longer needs the frame. */
static void body_done(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	frame_unref(arg);
}

static void drop_all(struct share_cache *sc)
{
	for (size_t i = 0; i < SHARE_SLOTS; i++) {
		if (sc->slot[i] != NULL)
			frame_unref(sc->slot[i]);
		sc->slot[i] = NULL;
	}
	sc->next = 0;
}

static void drop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drop_all(arg);
}

struct share_cache *share_cache_new(struct event_base *base)
{
	struct share_cache *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		return NULL;
	sc->drop_ev = event_new(base, -1, 0, drop_cb, sc);
	if (sc->drop_ev == NULL) {
		free(sc);
		return NULL;
	}
	return sc;
}

void share_cache_free(struct share_cache *sc)
{
	if (sc == NULL)
		return;
	drop_all(sc);
	event_free(sc->drop_ev);
	free(sc);
}

static struct shared_frame *lookup(struct share_cache *sc,
				   const struct raft_entry *e)
{
	for (size_t i = 0; i < SHARE_SLOTS; i++) {
		struct shared_frame *f = sc->slot[i];
		if (f != NULL && f->index == e->index && f->term == e->term &&
		    f->len == e->len)
			return f;
	}
	return NULL;
}

static struct shared_frame *make(struct share_cache *sc,
				 const struct raft_entry *e)
{
	struct shared_frame *f = malloc(sizeof(*f) + frame_size(e->len));

	if (f == NULL)
		return NULL;
	f->refs = 1; /* the cache's */
	f->index = e->index;
	f->term = e->term;
	f->len = e->len;
	frame_encode(f->bytes, e->type, e->term, e->index, e->data, e->len);
	if (sc->slot[sc->next] != NULL)
		frame_unref(sc->slot[sc->next]);
	sc->slot[sc->next] = f;
	sc->next = (sc->next + 1) % SHARE_SLOTS;
	/* Dropped after this loop turn's callbacks: every follower's
	 * AppendEntries of one ready is queued within one callback. */
	event_active(sc->drop_ev, EV_TIMEOUT, 1);
	return f;
}

int share_cache_append(struct share_cache *sc, struct evbuffer *buf,
		       const struct raft_entry *e, uint64_t *encoded,
		       uint64_t *shared)
{
	struct shared_frame *f;

	assert(e->len >= SHARE_MIN_BYTES);
	/* An entry without a term or index (a forwarded proposal) has no
	 * identity to share by. */
	f = e->index != 0 ? lookup(sc, e) : NULL;
	bool made = f == NULL;
	if (made) {
		f = make(sc, e);
		if (f == NULL)
			return -1;
	}
	f->refs++;
	if (evbuffer_add_reference(buf, f->bytes, frame_size(f->len), body_done,
				   f) != 0) {
		f->refs--;
		return -1;
	}
	(*(made ? encoded : shared))++;
	return 0;
}
