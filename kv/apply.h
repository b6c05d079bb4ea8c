/* apply.h - what kv.c's apply (the dispatcher) shares with the files that
 * apply the ops: apply_key.c (writes of one key and the lease tables
 * under them), lease.c (LEASE_GRANT, _REVOKE, _EXPIRE), apply_txn.c (TXN,
 * DELETE_PREFIX, the results arena), auth.c (AUTH_*, TOKEN_*), and with
 * clients.c (the exactly-once
 * table). Everything here runs inside apply's
 * one write transaction and must be deterministic: it reads only the store
 * and the entry. */
#ifndef KV_APPLY_H_
#define KV_APPLY_H_

#include <lmdb.h>

#include "kv.h"
#include "kv_internal.h"

#define VALUE_HDR 8 /* mod index before the value bytes in "data" */

/* Inside one apply: a failure is either an LMDB code (> 0 or LMDB's own
 * negatives, kept in *rc) or a kv code. We keep the LMDB code apart so the
 * caller can recognise MDB_MAP_FULL and grow. */
struct apply_ctx {
	struct kv *kv;
	MDB_txn *txn;
	int mdb_rc;	  /* the LMDB code that failed, 0 if none */
	const char *what; /* which step failed */
	/* The "client_bytes" counter (clients.c), read at the batch's first
	 * client write and written back once at its end if it changed: an
	 * attempt that aborts leaves nothing behind. */
	uint64_t client_bytes;
	int client_bytes_loaded;
	int client_bytes_dirty;
	/* An auth op was applied in this batch (auth.c): once committed,
	 * kv->auth_on becomes @auth_on and kv_auth_generation() moves. */
	int auth_changed;
	int auth_on;
};

/* Records LMDB's @rc as the failure of step @what; returns KV_ELMDB. */
int apply_mdb_fail(struct apply_ctx *c, int rc, const char *what);

/* Client record: [last seq u64][index u64][mod index u64][status u8]
 * [deleted u8][6 reserved zero bytes]. The ops past PUT and DELETE have
 * more to replay and extend it (CLIENT_REC_EXT bytes and a TXN's
 * results): [op u8][succeeded u8][6 zero][count u64][lease id u64]
 * [lease ttl u64][results]. PUT and DELETE keep the 32 bytes a member
 * that predates ops 3..7 reads. */
#define CLIENT_REC_SIZE 32
#define CLIENT_REC_EXT	64

/* ---- clients.c ---- */

/* Before the entry at @index: forget clients whose last command is older
 * than index - client_expiry_entries, and, if @admit, make room for one
 * more client under max_clients (kv_options). 0 or a negative code. */
int clients_expire(struct apply_ctx *c, raft_index index, int admit);

/* Fills @r with the first result, replayed from the client record @rec
 * (@len bytes, CLIENT_REC_SIZE or more). 0 or KV_ENOMEM. */
int clients_replay(struct kv *kv, struct kv_result *r, const uint8_t *rec,
		   size_t len);

/* Records @r as @cmd's client's result for its seq, replacing
 * @old_index's age key (if @known) with one at @index; first forgets the
 * oldest other clients while the records would exceed max_client_bytes
 * (kv_options). */
int clients_remember(struct apply_ctx *c, const struct kv_cmd *cmd,
		     raft_index index, const struct kv_result *r, int known,
		     uint64_t old_index);

/* At the end of a batch, before its commit: writes the "client_bytes"
 * counter back if the batch changed it. 0 or a negative code. */
int clients_bytes_flush(struct apply_ctx *c);

/* At open, inside its write transaction: counts the client records and
 * stores the sum as the "client_bytes" counter when it is missing (a
 * store from before it existed) or differs (one an older version wrote
 * records into). 0, KV_ECORRUPT (a counter of the wrong size) or an LMDB
 * code. */
int clients_bytes_init(struct kv *kv, MDB_txn *txn);

/* For kv_check(): whether the counter equals the sum of the records'
 * sizes (a walk of every client record). 0, -1 (it does not, or is
 * missing) or an LMDB code. */
int clients_bytes_check(struct kv *kv, MDB_txn *txn);

/* ---- apply_key.c ---- */

/* The changes of one entry: the n of the next event at its index. */
struct apply_entry {
	raft_index index;
	uint32_t n;
};

/* Whether lease @id exists: 1, 0, or a negative kv code. */
int apply_lease_exists(struct apply_ctx *c, uint64_t id);

/* Writes @key = @value with mod index e->index, records the PUT event
 * (e->n, then counted up) and attaches the key to @lease (0: detaches
 * it), which must exist. 0 or a negative kv code. */
int apply_put_key(struct apply_ctx *c, struct apply_entry *e,
		  const uint8_t *key, size_t key_len, const uint8_t *value,
		  size_t value_len, uint64_t lease);

/* Deletes @key if it exists (*@deleted = 1, may be NULL), recording the
 * DELETE event and dropping its lease attachment. 0 or a negative code. */
int apply_delete_key(struct apply_ctx *c, struct apply_entry *e,
		     const uint8_t *key, size_t key_len, int *deleted);

/* Deletes every key starting with @prefix (@len 0: every key), in key
 * order, as apply_delete_key() does; adds the number to *@count. */
int apply_delete_prefix(struct apply_ctx *c, struct apply_entry *e,
			const uint8_t *prefix, size_t len, uint64_t *count);

/* ---- lease.c ---- */

/* Applies a LEASE_GRANT, _REVOKE or _EXPIRE command at @index: fills
 * @r's status, count, lease_id and lease_ttl. 0 or a negative code. */
int apply_lease_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		   raft_index index, struct kv_result *r);

/* ---- auth.c ---- */

/* Applies an AUTH_ENABLE, AUTH_DISABLE, TOKEN_PUT or TOKEN_DELETE command
 * at @index: fills @r's status (KV_APPLIED, KV_CONFLICT with the reason
 * in count, KV_NOT_FOUND). 0 or a negative code. */
int apply_auth_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		  raft_index index, struct kv_result *r);

/* Moves kv_auth_generation() (kv.c, after a commit and at open). */
void kv_auth_bump(void);

/* At open, inside its transaction: kv->auth_on from meta "auth". 0 or a
 * negative code. */
int kv_auth_load(struct kv *kv, MDB_txn *txn);

/* kv_check()'s shape checks of an "auth" and an "auth_hash" record. */
int kv_auth_record_ok(const MDB_val *k, const MDB_val *v);
int kv_auth_hash_ok(const MDB_val *k, const MDB_val *v);

/* kv_digest()'s part for auth, inside @txn: nothing while auth is off,
 * else "auth" and every token record in name order, hashed into *@h with
 * @fnv. 0 or a negative code. */
int kv_auth_digest(struct kv *kv, MDB_txn *txn, uint64_t *h,
		   uint64_t (*fnv)(uint64_t, const void *, size_t));

/* ---- apply_txn.c ---- */

/* Applies the transaction @t (decoded from the TXN command) at @index:
 * fills @r's status, succeeded and txn/txn_len (in the arena). A
 * transaction that fails (KV_LEASE_NOT_FOUND, KV_TOO_LARGE) leaves
 * nothing: its writes run in a nested LMDB transaction. 0 or a negative
 * code. */
int apply_txn(struct apply_ctx *c, const struct kv_txn *t, raft_index index,
	      struct kv_result *r);

/* Applies a DELETE_PREFIX command at @index (r->count). */
int apply_delete_prefix_op(struct apply_ctx *c, const struct kv_cmd *cmd,
			   raft_index index, struct kv_result *r);

/* A copy of @len bytes of @src in @kv's arena (valid until the next
 * kv_apply() or kv_close()), or NULL when out of memory. */
const uint8_t *kv_arena_copy(struct kv *kv, const uint8_t *src, size_t len);

/* Frees everything the arena holds. */
void kv_arena_reset(struct kv *kv);

#endif /* KV_APPLY_H_ */
