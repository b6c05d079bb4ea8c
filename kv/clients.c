/* clients.c - the exactly-once table: each client's last sequence number
 * and the first result of its command ("clients"), ordered by the index of
 * that command ("ages") for expiry and eviction, all in apply's write
 * transaction (docs/FORMAT.md, "The LMDB store"). */
#include <string.h>

#include "apply.h"
#include "byteorder.h"

static void age_key(uint8_t k[16], uint64_t index, uint64_t client)
{
	be_put_u64(k, index);
	be_put_u64(k + 8, client);
}

/* Forgets the client at the cursor's current "ages" key and that key. */
static int forget_at(struct apply_ctx *c, MDB_cursor *cur, MDB_val *ak)
{
	uint8_t ck[8];
	MDB_val k = {8, ck};
	int rc;

	if (ak->mv_size != 16)
		return KV_ECORRUPT;
	memcpy(ck, (const uint8_t *)ak->mv_data + 8, 8);
	rc = mdb_cursor_del(cur, 0);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "deleting an age");
	rc = mdb_del(c->txn, c->kv->clients, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "deleting a client");
	return 0;
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
	int rc;

	be_put_u64(ck, cmd->client_id);
	if (known) {
		age_key(ak, old_index, cmd->client_id);
		rc = mdb_del(c->txn, c->kv->ages, &a, NULL);
		if (rc != 0)
			return rc == MDB_NOTFOUND
				   ? KV_ECORRUPT
				   : apply_mdb_fail(c, rc, "deleting an age");
	}
	/* Written in place (MDB_RESERVE): a TXN's results may be MiBs. */
	v.mv_size = cmd->op == KV_OP_PUT || cmd->op == KV_OP_DELETE
			? CLIENT_REC_SIZE
			: CLIENT_REC_EXT + r->txn_len;
	v.mv_data = NULL;
	rc = mdb_put(c->txn, c->kv->clients, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "writing a client");
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
