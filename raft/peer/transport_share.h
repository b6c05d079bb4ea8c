/* transport_share.h - a large entry's frame encoded once for every peer.
 *
 * A leader replicates each new entry to every follower in the same loop
 * turn, each in its own AppendEntries body. Encoding a 16 MiB entry means
 * a 16 MiB copy and CRC per follower, on the loop, into memory that is
 * often fresh (every page faulted in): enough to stall the loop past the
 * election timeout. Entries at or above SHARE_MIN_BYTES are therefore
 * encoded once into a reference-counted frame that every body references
 * (evbuffer_add_reference: no copy); the last body to be sent or freed
 * frees it.
 *
 * The frame is found again by the entry's (index, term): by Raft's Log
 * Matching property two entries with the same index and term hold the same
 * data (§5.3), so a frame made for one follower is right for any other.
 * The cache keeps a frame only until the loop's next turn (an event), so it
 * never holds memory on its own.
 *
 * Threads: the caller's event_base only.
 */
#ifndef RAFT_TRANSPORT_SHARE_H_
#define RAFT_TRANSPORT_SHARE_H_

#include <stddef.h>
#include <stdint.h>

#include "raft.h"

struct event_base;
struct evbuffer;

/* Entries of at least this many bytes are shared. */
#define SHARE_MIN_BYTES ((size_t)64 << 10)

struct share_cache;

/* Returns a cache on @base (not owned; must outlive it), or NULL. */
struct share_cache *share_cache_new(struct event_base *base);

/* Drops the cache's references; frames still in bodies live on until those
 * are freed. NULL is a no-op. */
void share_cache_free(struct share_cache *sc);

/* Appends the frame of entry @e (e->len >= SHARE_MIN_BYTES) to @buf, made
 * now or taken from the cache. Returns 0, or -1 when out of memory
 * (nothing appended). Counts into *@encoded or *@shared. */
int share_cache_append(struct share_cache *sc, struct evbuffer *buf,
		       const struct raft_entry *e, uint64_t *encoded,
		       uint64_t *shared);

#endif /* RAFT_TRANSPORT_SHARE_H_ */
