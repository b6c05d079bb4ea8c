/* kv_internal.h - struct kv, shared by kv.c (the store, apply), events.c
 * (the watch history), and the files of apply.h. */
#ifndef KV_KV_INTERNAL_H_
#define KV_KV_INTERNAL_H_

#include <lmdb.h>

#include "kv.h"

struct kv_arena;

struct kv {
	MDB_env *env;
	MDB_dbi data;
	MDB_dbi meta;
	MDB_dbi clients;
	MDB_dbi ages;
	MDB_dbi events; /* the watch history (events.c) */
	/* Leases (apply_key.c, lease.c): id (u64 BE) -> [ttl u64 LE][keys
	 * u64 LE]; [id u64 BE][key] -> empty; key -> id (u64 BE). */
	MDB_dbi leases;
	MDB_dbi lease_keys;
	MDB_dbi key_lease;
	/* The results of the last kv_apply()'s transactions (apply_txn.c):
	 * blocks that never move once handed out, freed by the next
	 * kv_apply() and kv_close(). */
	struct kv_arena *arena;
	/* A transaction decoded in apply: too big for the stack (kv.h). */
	struct kv_txn *txn_scratch;
	struct kv_options opts;
	char *path; /* <dir>/kv, for kv_reopen() */
	uint64_t map_bytes;
	raft_index applied_index;
	raft_term applied_term;
	int needs_reopen; /* a failed commit left the environment unusable */
};

/* Inside apply's write transaction @txn: records the change of @key at
 * @index (n-th of that index): a put (enum kv_event_type) of @value, which
 * may be empty (then NULL too), or a delete (events.c). 0 or an LMDB
 * code. */
int kv_events_put(struct kv *kv, MDB_txn *txn, raft_index index, uint32_t n,
		  uint8_t type, const uint8_t *key, size_t key_len,
		  const uint8_t *value, size_t value_len);

/* Inside apply's write transaction: drops the oldest events when more
 * than 2 N are kept, down to N, at most KV_EVENTS_TRIM_MAX a call. 0 or
 * an LMDB code. */
int kv_events_trim(struct kv *kv, MDB_txn *txn);
#define KV_EVENTS_TRIM_MAX 10000

/* At open, inside its write transaction: a store without a history yet
 * starts it after its applied index. 0 or an LMDB code. */
int kv_events_floor_init(struct kv *kv, MDB_txn *txn);

/* Begins a read-only transaction on @kv (kv.c: adopts a map another
 * process grew). 0 or an LMDB code. */
int kv_read_begin(struct kv *kv, MDB_txn **txn);

/* kv_read_begin() and a cursor on @dbi in it; on failure nothing stays
 * open. 0 or an LMDB code. */
int kv_read_cursor(struct kv *kv, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur);

/* Ends a read: closes @cur (when not NULL), aborts @txn; returns @count,
 * so a scan's exit path is one line. */
int64_t kv_read_end(MDB_txn *txn, MDB_cursor *cur, int64_t count);

/* The number of entries in @dbi, in a read transaction of its own, or
 * KV_ELMDB. */
int64_t kv_db_entries(struct kv *kv, MDB_dbi dbi);

/* The size of a transaction result item with @key_len and @value_len
 * bytes, and its writer: @out has room for kv_txn_item_size(); returns
 * the byte after it (txn.c; read back by kv_txn_result_next()). */
size_t kv_txn_item_size(size_t key_len, size_t value_len);
uint8_t *kv_txn_item_write(uint8_t *out, const struct kv_txn_item *it);

#endif /* KV_KV_INTERNAL_H_ */
