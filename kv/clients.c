/* clients.c - the exactly-once table: each client's last sequence number
 * and the first result of its command ("clients"), ordered by the index of
 * that command ("ages") for expiry and eviction, and the total size of the
 * records (meta "client_bytes") for the byte cap, all in apply's write
 * transaction (docs/FORMAT.md, "The LMDB store"). This file is the only
 * writer of client records, so the counter cannot drift from them. */
#include <string.h>

#include "apply.h"
#include "byteorder.h"

static void age_key(uint8_t k[16], uint64_t index, uint64_t client)
{
	be_put_u64(k, index);
	be_put_u64(k + 8, client);
}

#define BYTES_KEY     "client_bytes"
#define BYTES_KEY_LEN (sizeof(BYTES_KEY) - 1)

/* Reads the counter into @c at the batch's first use. */
static int bytes_load(struct apply_ctx *c)
{
	MDB_val k = {BYTES_KEY_LEN, BYTES_KEY}, v;
	int rc;

	if (c->client_bytes_loaded)
		return 0;
	rc = mdb_get(c->txn, c->kv->meta, &k, &v);
	/* kv_open() stores it, so a missing one is damage too. */
	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 8))
		return KV_ECORRUPT;
	if (rc != 0)
		return apply_mdb_fail(c, rc, "reading the client bytes");
	c->client_bytes = le_get_u64(v.mv_data);
	c->client_bytes_loaded = 1;
	return 0;
}

/* Takes a forgotten or replaced record's @size off the counter. */
static int bytes_sub(struct apply_ctx *c, uint64_t size)
{
	if (size > c->client_bytes)
		return KV_ECORRUPT; /* the counter and the records disagree */
	c->client_bytes -= size;
	c->client_bytes_dirty = 1;
	return 0;
}

/* Forgets the client at the cursor's current "ages" key and that key. */
static int forget_at(struct apply_ctx *c, MDB_cursor *cur, MDB_val *ak)
{
	uint8_t ck[8];
	MDB_val k = {8, ck}, v;
	int rc, rv;

	if (ak->mv_size != 16)
		return KV_ECORRUPT;
	rv = bytes_load(c);
	if (rv != 0)
		return rv;
	memcpy(ck, (const uint8_t *)ak->mv_data + 8, 8);
	rc = mdb_cursor_del(cur, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "deleting an age");
	rc = mdb_get(c->txn, c->kv->clients, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return apply_mdb_fail(c, rc, "reading a client");
	rv = bytes_sub(c, v.mv_size);
	if (rv != 0)
		return rv;
	rc = mdb_del(c->txn, c->kv->clients, &k, NULL);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "deleting a client");
	return 0;
}

/* Before a record of @size bytes is written: while the other records'
 * bytes (the counter, less @replaced, the size of the record being
 * replaced) and @size exceed max_client_bytes, forgets the client first
 * in "ages". The client being written is never one of them: it has no age
 * key now (a new client never had one; clients_remember() deleted a known
 * one's). If its record alone exceeds the cap, every other client goes
 * and it is still stored, so the table holds at most the cap plus one
 * record. */
static int make_room(struct apply_ctx *c, uint64_t size, uint64_t replaced)
{
	uint64_t cap = c->kv->opts.max_client_bytes;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, rv = 0;

	if (cap == 0)
		return 0;
	for (;;) {
		uint64_t others;

		if (c->client_bytes < replaced) {
			rv = KV_ECORRUPT; /* the counter lost the record */
			break;
		}
		others = c->client_bytes - replaced;
		if (others == 0 || (size <= cap && others <= cap - size))
			break;
		if (cur == NULL) {
			rc = mdb_cursor_open(c->txn, c->kv->ages, &cur);
			if (rc != 0)
				return apply_mdb_fail(
				    c, rc, "opening the ages cursor");
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc != 0) {
			rv = rc == MDB_NOTFOUND
				 ? KV_ECORRUPT /* bytes left, no client */
				 : apply_mdb_fail(c, rc, "evicting");
			break;
		}
		rv = forget_at(c, cur, &k);
		if (rv != 0)
			break;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rv;
}

/* Before the entry at @index: forget clients whose last command is older
 * than index - client_expiry_entries, and, if @admit, make room for one
 * more client under max_clients. Both decisions depend only on the applied
 * entries, so every member makes them identically at the same index. */
int clients_expire(struct apply_ctx *c, raft_index index, int admit)
{
	const struct kv_options *o = &c->kv->opts;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat st;
	uint64_t count;
	int rc, rv = 0;

	rc = mdb_cursor_open(c->txn, c->kv->ages, &cur);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "opening the ages cursor");
	if (o->client_expiry_entries != 0 && index > o->client_expiry_entries) {
		uint64_t oldest_kept = index - o->client_expiry_entries;

		while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
			if (k.mv_size != 16) {
				rv = KV_ECORRUPT;
				goto out;
			}
			if (be_get_u64(k.mv_data) >= oldest_kept)
				break;
			rv = forget_at(c, cur, &k);
			if (rv != 0)
				goto out;
		}
		if (rc != 0 && rc != MDB_NOTFOUND) {
			rv = apply_mdb_fail(c, rc, "walking ages");
			goto out;
		}
	}
	if (admit && o->max_clients != 0) {
		rc = mdb_stat(c->txn, c->kv->clients, &st);
		if (rc != 0) {
			rv = apply_mdb_fail(c, rc, "counting clients");
			goto out;
		}
		count = st.ms_entries;
		while (count >= o->max_clients) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
			if (rc != 0) {
				rv = rc == MDB_NOTFOUND
					 ? KV_ECORRUPT /* tables disagree */
					 : apply_mdb_fail(c, rc, "evicting");
				goto out;
			}
			rv = forget_at(c, cur, &k);
			if (rv != 0)
				goto out;
			count--;
		}
	}
out:
	mdb_cursor_close(cur);
	return rv;
}

/* The first result, replayed from the client record @rec (@len bytes:
 * CLIENT_REC_SIZE, or CLIENT_REC_EXT and a TXN's results, which are
 * copied into the arena). 0 or KV_ENOMEM. */
int clients_replay(struct kv *kv, struct kv_result *r, const uint8_t *rec,
		   size_t len)
{
	r->status = rec[24];
	r->deleted = rec[25];
	r->index = le_get_u64(rec + 8);
	r->mod_index = le_get_u64(rec + 16);
	r->duplicate = 1;
	if (len < CLIENT_REC_EXT)
		return 0;
	r->op = rec[32];
	r->succeeded = rec[33];
	r->count = le_get_u64(rec + 40);
	r->lease_id = le_get_u64(rec + 48);
	r->lease_ttl = le_get_u64(rec + 56);
	if (len > CLIENT_REC_EXT) {
		r->txn = kv_arena_copy(kv, rec + CLIENT_REC_EXT,
				       len - CLIENT_REC_EXT);
		if (r->txn == NULL)
			return KV_ENOMEM;
		r->txn_len = len - CLIENT_REC_EXT;
	}
	return 0;
}

/* Records @r as client's result for seq, replacing @old_index's age key
 * (if @known) with one at @index. */
int clients_remember(struct apply_ctx *c, const struct kv_cmd *cmd,
		     raft_index index, const struct kv_result *r, int known,
		     uint64_t old_index)
{
	uint8_t ck[8], ak[16], *rec;
	MDB_val k = {8, ck}, v;
	MDB_val a = {16, ak}, e = {0, NULL};
	uint64_t replaced = 0, size;
	int rc, rv;

	rv = bytes_load(c);
	if (rv != 0)
		return rv;
	be_put_u64(ck, cmd->client_id);
	if (known) {
		age_key(ak, old_index, cmd->client_id);
		rc = mdb_del(c->txn, c->kv->ages, &a, NULL);
		if (rc != 0)
			return rc == MDB_NOTFOUND
				   ? KV_ECORRUPT
				   : apply_mdb_fail(c, rc, "deleting an age");
		rc = mdb_get(c->txn, c->kv->clients, &k, &v);
		if (rc != 0)
			return rc == MDB_NOTFOUND
				   ? KV_ECORRUPT
				   : apply_mdb_fail(c, rc, "reading a client");
		replaced = v.mv_size;
		if (replaced > c->client_bytes)
			return KV_ECORRUPT;
	}
	size = cmd->op == KV_OP_PUT || cmd->op == KV_OP_DELETE
		   ? CLIENT_REC_SIZE
		   : CLIENT_REC_EXT + r->txn_len;
	rv = make_room(c, size, replaced);
	if (rv != 0)
		return rv;
	/* Written in place (MDB_RESERVE): a TXN's results may be MiBs. */
	v.mv_size = size;
	v.mv_data = NULL;
	rc = mdb_put(c->txn, c->kv->clients, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing a client");
	c->client_bytes = c->client_bytes - replaced + size;
	c->client_bytes_dirty = 1;
	rec = v.mv_data;
	memset(rec, 0, v.mv_size < CLIENT_REC_EXT ? v.mv_size : CLIENT_REC_EXT);
	le_put_u64(rec, cmd->seq);
	le_put_u64(rec + 8, r->index);
	le_put_u64(rec + 16, r->mod_index);
	rec[24] = r->status;
	rec[25] = r->deleted;
	if (v.mv_size >= CLIENT_REC_EXT) {
		rec[32] = r->op;
		rec[33] = r->succeeded;
		le_put_u64(rec + 40, r->count);
		le_put_u64(rec + 48, r->lease_id);
		le_put_u64(rec + 56, r->lease_ttl);
		if (r->txn_len != 0)
			memcpy(rec + CLIENT_REC_EXT, r->txn, r->txn_len);
	}
	age_key(ak, index, cmd->client_id);
	rc = mdb_put(c->txn, c->kv->ages, &a, &e, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing an age");
	return 0;
}

int clients_bytes_flush(struct apply_ctx *c)
{
	MDB_val k = {BYTES_KEY_LEN, BYTES_KEY}, v;
	uint8_t buf[8];
	int rc;

	if (!c->client_bytes_dirty)
		return 0;
	le_put_u64(buf, c->client_bytes);
	v.mv_size = 8;
	v.mv_data = buf;
	rc = mdb_put(c->txn, c->kv->meta, &k, &v, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing the client bytes");
	c->client_bytes_dirty = 0;
	return 0;
}

/* The sum of the sizes of every client record into *@sum. */
static int bytes_count(struct kv *kv, MDB_txn *txn, uint64_t *sum)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, kv->clients, &cur);

	if (rc != 0)
		return rc;
	*sum = 0;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
		*sum += v.mv_size;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int clients_bytes_init(struct kv *kv, MDB_txn *txn)
{
	MDB_val k = {BYTES_KEY_LEN, BYTES_KEY}, v = {0, NULL};
	uint8_t buf[8];
	uint64_t sum;
	int rc = mdb_get(txn, kv->meta, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == 0 && v.mv_size != 8)
		return KV_ECORRUPT;
	/* Counted at every open (one walk of at most max_clients records):
	 * a store written by a version without the counter (an older member
	 * in a rolling upgrade, or a snapshot it sent) may hold a stale one,
	 * and every member must evict from the same total. */
	int have = rc == 0;
	uint64_t stored = have ? le_get_u64(v.mv_data) : 0;
	rc = bytes_count(kv, txn, &sum);
	if (rc != 0)
		return rc;
	if (have && stored == sum)
		return 0;
	le_put_u64(buf, sum);
	v.mv_size = 8;
	v.mv_data = buf;
	return mdb_put(txn, kv->meta, &k, &v, 0);
}

int clients_bytes_check(struct kv *kv, MDB_txn *txn)
{
	MDB_val k = {BYTES_KEY_LEN, BYTES_KEY}, v;
	uint64_t sum;
	int rc = mdb_get(txn, kv->meta, &k, &v);

	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 8))
		return -1;
	if (rc != 0)
		return rc;
	rc = bytes_count(kv, txn, &sum);
	if (rc != 0)
		return rc;
	return sum == le_get_u64(v.mv_data) ? 0 : -1;
}
