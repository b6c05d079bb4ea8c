/* apply_key.c - the writes of one key that every op shares (PUT, DELETE,
 * a transaction's ops, prefix deletes, lease ends) and the lease tables
 * kept in step with them: a key's attachment moves with every write to
 * it, so "leases"' key counts, "lease_keys" and "key_lease" always agree
 * with "data" (docs/FORMAT.md, "The LMDB store"). */
#include <string.h>

#include "apply.h"
#include "byteorder.h"

#define LEASE_REC 16 /* [ttl u64 LE][keys u64 LE] */

int apply_mdb_fail(struct apply_ctx *c, int rc, const char *what)
{
	c->mdb_rc = rc;
	c->what = what;
	return KV_ELMDB;
}

int apply_lease_exists(struct apply_ctx *c, uint64_t id)
{
	uint8_t ik[8];
	MDB_val k = {8, ik}, v;
	int rc;

	be_put_u64(ik, id);
	rc = mdb_get(c->txn, c->kv->leases, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return apply_mdb_fail(c, rc, "reading a lease");
	return v.mv_size == LEASE_REC ? 1 : KV_ECORRUPT;
}

/* Adds @delta (+1 or -1) to lease @id's key count. */
static int count_keys(struct apply_ctx *c, uint64_t id, int delta)
{
	uint8_t ik[8], rec[LEASE_REC];
	MDB_val k = {8, ik}, v;
	uint64_t n;
	int rc;

	be_put_u64(ik, id);
	rc = mdb_get(c->txn, c->kv->leases, &k, &v);
	if (rc == MDB_NOTFOUND)
		return KV_ECORRUPT; /* a key attached to no lease */
	if (rc != 0)
		return apply_mdb_fail(c, rc, "reading a lease");
	if (v.mv_size != LEASE_REC)
		return KV_ECORRUPT;
	memcpy(rec, v.mv_data, LEASE_REC);
	n = le_get_u64(rec + 8);
	if (delta < 0 && n == 0)
		return KV_ECORRUPT;
	le_put_u64(rec + 8, delta < 0 ? n - 1 : n + 1);
	v.mv_size = LEASE_REC;
	v.mv_data = rec;
	rc = mdb_put(c->txn, c->kv->leases, &k, &v, 0);
	return rc != 0 ? apply_mdb_fail(c, rc, "writing a lease") : 0;
}

/* Sets the lease @key is attached to: @lease, or none when 0. The new
 * lease must exist. */
static int attach(struct apply_ctx *c, const uint8_t *key, size_t key_len,
		  uint64_t lease)
{
	uint8_t lk[8 + KV_KEY_MAX], idb[8];
	MDB_val k = {key_len, (void *)key}, v, l = {8 + key_len, lk};
	MDB_val e = {0, NULL};
	uint64_t old = 0;
	int rc, rv;

	rc = mdb_get(c->txn, c->kv->key_lease, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "reading a key's lease");
	if (rc == 0) {
		if (v.mv_size != 8)
			return KV_ECORRUPT;
		old = be_get_u64(v.mv_data);
	}
	if (old == lease)
		return 0;
	memcpy(lk + 8, key, key_len);
	if (old != 0) {
		be_put_u64(lk, old);
		rc = mdb_del(c->txn, c->kv->lease_keys, &l, NULL);
		if (rc == MDB_NOTFOUND)
			return KV_ECORRUPT; /* the tables disagree */
		if (rc != 0)
			return apply_mdb_fail(c, rc, "detaching a key");
		rv = count_keys(c, old, -1);
		if (rv != 0)
			return rv;
	}
	if (lease == 0) {
		rc = mdb_del(c->txn, c->kv->key_lease, &k, NULL);
		return rc != 0 ? apply_mdb_fail(c, rc, "detaching a key") : 0;
	}
	be_put_u64(lk, lease);
	rc = mdb_put(c->txn, c->kv->lease_keys, &l, &e, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "attaching a key");
	be_put_u64(idb, lease);
	v.mv_size = 8;
	v.mv_data = idb;
	rc = mdb_put(c->txn, c->kv->key_lease, &k, &v, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "attaching a key");
	return count_keys(c, lease, +1);
}

int apply_put_key(struct apply_ctx *c, struct apply_entry *e,
		  const uint8_t *key, size_t key_len, const uint8_t *value,
		  size_t value_len, uint64_t lease)
{
	MDB_val k = {key_len, (void *)key}, v;
	int rc;

	v.mv_size = VALUE_HDR + value_len;
	v.mv_data = NULL;
	/* MDB_RESERVE: LMDB hands us the space; one copy of the value. */
	rc = mdb_put(c->txn, c->kv->data, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing a key");
	le_put_u64(v.mv_data, e->index);
	if (value_len != 0)
		memcpy((uint8_t *)v.mv_data + VALUE_HDR, value, value_len);
	rc = kv_events_put(c->kv, c->txn, e->index, e->n++, KV_EVENT_PUT, key,
			   key_len, value, value_len);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing an event");
	return attach(c, key, key_len, lease);
}

int apply_delete_key(struct apply_ctx *c, struct apply_entry *e,
		     const uint8_t *key, size_t key_len, int *deleted)
{
	MDB_val k = {key_len, (void *)key};
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	rc = mdb_del(c->txn, c->kv->data, &k, NULL);
	/* Deleting a key that does not exist is no change: no event. */
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return apply_mdb_fail(c, rc, "deleting a key");
	if (deleted != NULL)
		*deleted = 1;
	rc = kv_events_put(c->kv, c->txn, e->index, e->n++, KV_EVENT_DELETE,
			   key, key_len, NULL, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing an event");
	return attach(c, key, key_len, 0);
}

int apply_delete_prefix(struct apply_ctx *c, struct apply_entry *e,
			const uint8_t *prefix, size_t len, uint64_t *count)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t key[KV_KEY_MAX];
	size_t key_len;
	int rc, rv = 0;

	rc = mdb_cursor_open(c->txn, c->kv->data, &cur);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "opening a cursor");
	for (;;) {
		/* Found afresh each time: the delete below changes the tree
		 * under the cursor. Keys with a prefix are contiguous. */
		if (len == 0) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		} else {
			k.mv_size = len;
			k.mv_data = (void *)prefix;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		}
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			rv = apply_mdb_fail(c, rc, "walking a prefix");
			break;
		}
		if (k.mv_size < len ||
		    (len != 0 && memcmp(k.mv_data, prefix, len) != 0))
			break;
		if (k.mv_size == 0 || k.mv_size > KV_KEY_MAX) {
			rv = KV_ECORRUPT;
			break;
		}
		/* A copy: the key's bytes live in a page the delete frees. */
		key_len = k.mv_size;
		memcpy(key, k.mv_data, key_len);
		rv = apply_delete_key(c, e, key, key_len, NULL);
		if (rv != 0)
			break;
		(*count)++;
	}
	mdb_cursor_close(cur);
	return rv;
}
