/* lease.c - leases (§1.6): LEASE_GRANT, LEASE_REVOKE and LEASE_EXPIRE
 * applied to the tables apply_key.c keeps, and the reads of them.
 *
 *   "leases"     id u64 BE          -> [ttl u64 LE][keys u64 LE]
 *   "lease_keys" [id u64 BE][key]   -> empty (a lease's keys, in order)
 *   "key_lease"  key                -> id u64 BE
 *
 * The store knows only which leases exist and what is attached to them:
 * when a lease is due is the leader's to decide, on its own clock, and it
 * says so through the log (LEASE_EXPIRE), so every member ends the same
 * leases at the same index. */
#include <string.h>

#include "apply.h"
#include "byteorder.h"

#define LEASE_REC 16

/* Ends lease @id, which exists: every attached key deleted as changes of
 * @e, then the lease itself. Adds the keys deleted to *@count. */
static int end_lease(struct apply_ctx *c, struct apply_entry *e, uint64_t id,
		     uint64_t *count)
{
	uint8_t start[8], key[KV_KEY_MAX], ik[8];
	MDB_cursor *cur;
	MDB_val k, v, lk = {8, ik};
	int rc, rv = 0, deleted;

	be_put_u64(start, id);
	rc = mdb_cursor_open(c->txn, c->kv->lease_keys, &cur);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "opening a cursor");
	for (;;) {
		/* Sought afresh each time: deleting the key detaches it,
		 * which deletes the record under the cursor. */
		k.mv_size = 8;
		k.mv_data = start;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			rv = apply_mdb_fail(c, rc, "walking a lease's keys");
			break;
		}
		if (k.mv_size < 8 || memcmp(k.mv_data, start, 8) != 0)
			break;
		size_t key_len = k.mv_size - 8;
		if (key_len == 0 || key_len > KV_KEY_MAX) {
			rv = KV_ECORRUPT;
			break;
		}
		memcpy(key, (const uint8_t *)k.mv_data + 8, key_len);
		rv = apply_delete_key(c, e, key, key_len, &deleted);
		if (rv != 0)
			break;
		/* An attached key that is not stored: the tables disagree
		 * (and the walk would not advance). */
		if (!deleted) {
			rv = KV_ECORRUPT;
			break;
		}
		(*count)++;
	}
	mdb_cursor_close(cur);
	if (rv != 0)
		return rv;
	be_put_u64(ik, id);
	rc = mdb_get(c->txn, c->kv->leases, &lk, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? KV_ECORRUPT
					  : apply_mdb_fail(c, rc, "a lease");
	if (v.mv_size != LEASE_REC || le_get_u64((uint8_t *)v.mv_data + 8) != 0)
		return KV_ECORRUPT;
	rc = mdb_del(c->txn, c->kv->leases, &lk, NULL);
	return rc != 0 ? apply_mdb_fail(c, rc, "deleting a lease") : 0;
}

int apply_lease_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		   raft_index index, struct kv_result *r)
{
	struct apply_entry e = {.index = index, .n = 0};
	uint8_t ik[8], rec[LEASE_REC];
	MDB_val k = {8, ik}, v = {LEASE_REC, rec};
	int rc, rv;

	r->index = index;
	r->status = KV_APPLIED;
	switch (cmd->op) {
	case KV_OP_LEASE_GRANT:
		/* The id is the entry's index: unique, never reused, the
		 * same on every member. */
		be_put_u64(ik, index);
		le_put_u64(rec, le_get_u64(cmd->value));
		le_put_u64(rec + 8, 0);
		rc = mdb_put(c->txn, c->kv->leases, &k, &v, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			return KV_ECORRUPT; /* an id above the applied index */
		if (rc != 0)
			return apply_mdb_fail(c, rc, "writing a lease");
		r->lease_id = index;
		r->lease_ttl = le_get_u64(cmd->value);
		return 0;
	case KV_OP_LEASE_REVOKE:
		r->lease_id = le_get_u64(cmd->value);
		rv = apply_lease_exists(c, r->lease_id);
		if (rv < 0)
			return rv;
		if (rv == 0) {
			r->status = KV_LEASE_NOT_FOUND;
			return 0;
		}
		return end_lease(c, &e, r->lease_id, &r->count);
	case KV_OP_LEASE_EXPIRE:
		/* Ids that no longer exist were ended by an earlier entry (a
		 * revoke, or an expiry proposed twice): not an error. */
		for (size_t i = 0; i < cmd->value_len; i += 8) {
			uint64_t id = le_get_u64(cmd->value + i);
			rv = apply_lease_exists(c, id);
			if (rv < 0)
				return rv;
			if (rv == 1) {
				rv = end_lease(c, &e, id, &r->count);
				if (rv != 0)
					return rv;
			}
		}
		return 0;
	}
	return KV_EINVAL; /* not a lease op: the dispatcher's bug */
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

static int lease_from(uint64_t id, const MDB_val *v, struct kv_lease *out)
{
	if (v->mv_size != LEASE_REC)
		return KV_ECORRUPT;
	out->id = id;
	out->ttl = le_get_u64(v->mv_data);
	out->keys = le_get_u64((const uint8_t *)v->mv_data + 8);
	return 0;
}

int kv_lease_get(struct kv *kv, uint64_t id, struct kv_lease *out)
{
	MDB_txn *txn;
	uint8_t ik[8];
	MDB_val k = {8, ik}, v;
	int rc, rv;

	if (kv == NULL || out == NULL)
		return KV_EINVAL;
	if (kv_read_begin(kv, &txn) != 0)
		return KV_ELMDB;
	be_put_u64(ik, id);
	rc = mdb_get(txn, kv->leases, &k, &v);
	if (rc == MDB_NOTFOUND)
		rv = KV_ENOTFOUND;
	else if (rc != 0)
		rv = KV_ELMDB;
	else
		rv = lease_from(id, &v, out);
	mdb_txn_abort(txn);
	return rv;
}

int64_t kv_lease_list(struct kv *kv, uint64_t after, size_t limit,
		      kv_lease_cb cb, void *arg, int *more)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint8_t ik[8];
	MDB_val k = {8, ik}, v;
	struct kv_lease l;
	int64_t count = 0;
	int rc;

	if (more != NULL)
		*more = 0;
	if (kv == NULL || cb == NULL || limit == 0 || limit > INT64_MAX)
		return KV_EINVAL;
	if (after == UINT64_MAX)
		return 0;
	if (kv_read_cursor(kv, kv->leases, &txn, &cur) != 0)
		return KV_ELMDB;
	be_put_u64(ik, after + 1);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((size_t)count == limit) {
			if (more != NULL)
				*more = 1;
			break;
		}
		if (k.mv_size != 8 ||
		    lease_from(be_get_u64(k.mv_data), &v, &l) != 0) {
			count = KV_ECORRUPT;
			goto out;
		}
		if (cb(arg, &l) != 0) {
			count = KV_ESTOPPED;
			goto out;
		}
		count++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		count = KV_ELMDB;
out:
	return kv_read_end(txn, cur, count);
}

int64_t kv_lease_keys(struct kv *kv, uint64_t id, size_t limit,
		      kv_lease_key_cb cb, void *arg, int *more)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	uint8_t start[8];
	MDB_val k = {8, start}, v;
	int64_t count = 0;
	int rc;

	if (more != NULL)
		*more = 0;
	if (kv == NULL || cb == NULL || limit == 0 || limit > INT64_MAX)
		return KV_EINVAL;
	if (kv_read_cursor(kv, kv->lease_keys, &txn, &cur) != 0)
		return KV_ELMDB;
	be_put_u64(start, id);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 8 || memcmp(k.mv_data, start, 8) != 0)
			break;
		if ((size_t)count == limit) {
			if (more != NULL)
				*more = 1;
			break;
		}
		if (k.mv_size == 8 || k.mv_size > 8 + KV_KEY_MAX) {
			count = KV_ECORRUPT;
			goto out;
		}
		if (cb(arg, (const uint8_t *)k.mv_data + 8, k.mv_size - 8) !=
		    0) {
			count = KV_ESTOPPED;
			goto out;
		}
		count++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		count = KV_ELMDB;
out:
	return kv_read_end(txn, cur, count);
}

int kv_key_lease(struct kv *kv, const uint8_t *key, size_t keylen,
		 uint64_t *lease)
{
	MDB_txn *txn;
	MDB_val k = {keylen, (void *)key}, v;
	int rc, rv = 0;

	if (kv == NULL || lease == NULL || !kv_key_valid(key, keylen))
		return KV_EINVAL;
	*lease = 0;
	if (kv_read_begin(kv, &txn) != 0)
		return KV_ELMDB;
	rc = mdb_get(txn, kv->data, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rv = KV_ENOTFOUND;
		goto out;
	}
	if (rc != 0) {
		rv = KV_ELMDB;
		goto out;
	}
	rc = mdb_get(txn, kv->key_lease, &k, &v);
	if (rc == 0 && v.mv_size != 8)
		rv = KV_ECORRUPT;
	else if (rc == 0)
		*lease = be_get_u64(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		rv = KV_ELMDB;
out:
	mdb_txn_abort(txn);
	return rv;
}

int64_t kv_lease_count(struct kv *kv)
{
	return kv == NULL ? KV_EINVAL : kv_db_entries(kv, kv->leases);
}
