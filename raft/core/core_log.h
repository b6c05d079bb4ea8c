/* core_log.h - the in-memory Raft log, offset by a snapshot index/term. */
#ifndef RAFT_CORE_LOG_H_
#define RAFT_CORE_LOG_H_

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"

/* The entries after the snapshot, plus the bookkeeping of how far they are
 * handed out for storage, durable, committed and handed out for applying:
 *
 *   snap_index <= applied_handed <= commit <= last
 *   persisted <= stable_handed <= last
 *
 * ents[k] has index snap_index + 1 + k. Each entry's payload is a buffer
 * from core_buf.h owned (referenced) by the log. */
struct raft_log {
	struct raft_entry *ents;
	size_t n;
	size_t cap;
	raft_index snap_index;
	raft_term snap_term;
	raft_index stable_handed;  /* entries <= this went out in a ready */
	raft_index persisted;	   /* entries <= this are durable */
	raft_index commit;	   /* known committed */
	raft_index applied_handed; /* entries <= this went out to apply */
};

/* Creates a log after (@snap_index, @snap_term) holding copies of @ents
 * (consecutive, from snap_index + 1), all counted as durable. Returns 0,
 * -1 when out of memory (the log is then empty and needs no close). */
int raft__log_init(struct raft_log *l, raft_index snap_index,
		   raft_term snap_term, const struct raft_entry *ents,
		   size_t n);
void raft__log_close(struct raft_log *l);

raft_index raft__log_first_index(const struct raft_log *l);
raft_index raft__log_last_index(const struct raft_log *l);
raft_term raft__log_last_term(const struct raft_log *l);

/* The term of the entry at @index: the snapshot term at snap_index, 0 at
 * index 0, and 0 ("unknown") below the snapshot or past the end. */
raft_term raft__log_term_at(const struct raft_log *l, raft_index index);

/* The entry at @index, or NULL when it is not in memory. */
const struct raft_entry *raft__log_get(const struct raft_log *l,
				       raft_index index);

/* Appends @e at last + 1 (its index must be that), taking over the
 * reference on e->data. Returns 0, or -1 when out of memory (then the
 * caller still owns e->data). */
int raft__log_append(struct raft_log *l, const struct raft_entry *e);

/* Removes every entry with index >= @index (Raft §5.3). Committed entries
 * are never removed: asserts @index > commit. */
void raft__log_truncate_from(struct raft_log *l, raft_index index);

/* Raft §5.4.1: is a log ending at (@last_index, @last_term) at least as
 * up-to-date as this one? */
bool raft__log_is_up_to_date(const struct raft_log *l, raft_index last_index,
			     raft_term last_term);

/* The first index of the run of entries that has the term of @index, not
 * looking below @floor (the conflict hint for fast backtracking). */
raft_index raft__log_term_start(const struct raft_log *l, raft_index index,
				raft_index floor);

/* How many entries from @from (at most @max_n, and at most @max_bytes of
 * payload, but at least one entry when any exists) go in one message. */
size_t raft__log_batch(const struct raft_log *l, raft_index from, size_t max_n,
		       size_t max_bytes);

/* Drops the entries up to @index (snap_index < @index <= last), which
 * becomes the snapshot index with the term the entry had. The bookkeeping
 * indexes below @index are raised to it. */
void raft__log_compact(struct raft_log *l, raft_index index);

/* Drops every entry: the log starts after (@index, @term), which counts as
 * durable, committed and applied (a snapshot replaced the log). */
void raft__log_reset(struct raft_log *l, raft_index index, raft_term term);

/* Entries are durable up to @index with term @term (ignored when the log
 * has changed there, or when it was never handed out). Returns whether the
 * persisted index advanced. */
bool raft__log_persisted(struct raft_log *l, raft_index index, raft_term term);

#endif /* RAFT_CORE_LOG_H_ */
