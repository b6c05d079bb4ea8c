/* auth.c - tokens and roles (§1.8): the token record codec, AUTH_ENABLE,
 * AUTH_DISABLE, TOKEN_PUT and TOKEN_DELETE applied to the auth tables,
 * and the reads the server checks each request against.
 *
 *   "auth"      name            -> token record (kv_token_encode())
 *   "auth_hash" SHA-256 (32)    -> name
 *   "meta"      "auth"          -> [on u8] (1; absent when off)
 *
 * Only the hash of a secret is ever stored or replicated: the member that
 * takes a request makes the secret, hashes it, and hands the secret back
 * to the caller alone. Disabling drops every token: the next enable
 * replaces them all with a new root anyway, and a token that outlived the
 * auth it was made under would be a secret waiting to be reused. The token
 * record codec is auth_token.c's. */
#include <stdatomic.h>
#include <string.h>

#include "apply.h"
#include "byteorder.h"

static _Atomic uint64_t auth_generation = 1;

uint64_t kv_auth_generation(void)
{
	return atomic_load(&auth_generation);
}

void kv_auth_bump(void)
{
	atomic_fetch_add(&auth_generation, 1);
}

static const MDB_val meta_auth_key = {4, "auth"};

/* ------------------------------------------------------------------------ */
/* Apply                                                                    */

/* Whether auth is on, inside @txn: 1, 0, or a negative kv code (an LMDB
 * failure recorded in @c when @c is not NULL). */
static int auth_on(struct kv *kv, MDB_txn *txn)
{
	MDB_val k = meta_auth_key, v;
	int rc = mdb_get(txn, kv->meta, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return KV_ELMDB;
	if (v.mv_size != 1 || ((const uint8_t *)v.mv_data)[0] != 1)
		return KV_ECORRUPT;
	return 1;
}

/* Drops every token (both tables). */
static int drop_tokens(struct apply_ctx *c)
{
	int rc = mdb_drop(c->txn, c->kv->auth, 0);

	if (rc == 0)
		rc = mdb_drop(c->txn, c->kv->auth_hash, 0);
	return rc != 0 ? apply_mdb_fail(c, rc, "dropping the tokens") : 0;
}

/* Stores token @t (its record @rec, @len bytes) in both tables; a name or
 * hash that exists is KV_CONFLICT in @r. */
static int put_token(struct apply_ctx *c, const struct kv_token *t,
		     const uint8_t *rec, size_t len, struct kv_result *r)
{
	MDB_val nk = {t->name_len, (void *)t->name}, nv = {len, (void *)rec};
	MDB_val hk = {KV_AUTH_HASH_SIZE, (void *)t->hash}, hv = nk, v;
	int rc;

	rc = mdb_get(c->txn, c->kv->auth, &nk, &v);
	if (rc == 0 || (rc = mdb_get(c->txn, c->kv->auth_hash, &hk, &v)) == 0) {
		r->status = KV_CONFLICT;
		r->count = KV_CONFLICT_EXISTS;
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "reading a token");
	rc = mdb_put(c->txn, c->kv->auth, &nk, &nv, MDB_NOOVERWRITE);
	if (rc == 0)
		rc = mdb_put(c->txn, c->kv->auth_hash, &hk, &hv,
			     MDB_NOOVERWRITE);
	return rc != 0 ? apply_mdb_fail(c, rc, "writing a token") : 0;
}

/* The number of admin tokens, or a negative code. At most
 * KV_AUTH_TOKENS_MAX records are read. */
static int64_t count_admins(struct apply_ctx *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int64_t n = 0;
	int rc = mdb_cursor_open(c->txn, c->kv->auth, &cur);

	if (rc != 0)
		return apply_mdb_fail(c, rc, "opening a cursor");
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (v.mv_size < KV_TOKEN_HEAD) {
			mdb_cursor_close(cur);
			return KV_ECORRUPT;
		}
		if (((const uint8_t *)v.mv_data)[0] == KV_ROLE_ADMIN)
			n++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? n : apply_mdb_fail(c, rc, "counting");
}

static int delete_token(struct apply_ctx *c, const struct kv_cmd *cmd,
			struct kv_result *r)
{
	MDB_val nk = {cmd->value_len, (void *)cmd->value}, v;
	struct kv_token t;
	int rc = mdb_get(c->txn, c->kv->auth, &nk, &v);

	if (rc == MDB_NOTFOUND) {
		r->status = KV_NOT_FOUND;
		return 0;
	}
	if (rc != 0)
		return apply_mdb_fail(c, rc, "reading a token");
	if (kv_token_decode(v.mv_data, v.mv_size, &t) != 0)
		return KV_ECORRUPT;
	if (t.role == KV_ROLE_ADMIN) {
		int64_t admins = count_admins(c);
		if (admins < 0)
			return (int)admins;
		if (admins <= 1) {
			r->status = KV_CONFLICT;
			r->count = KV_CONFLICT_LAST_ADMIN;
			return 0;
		}
	}
	MDB_val hk = {KV_AUTH_HASH_SIZE, t.hash};
	rc = mdb_del(c->txn, c->kv->auth_hash, &hk, NULL);
	if (rc == MDB_NOTFOUND)
		return KV_ECORRUPT; /* the tables disagree */
	if (rc == 0)
		rc = mdb_del(c->txn, c->kv->auth, &nk, NULL);
	return rc != 0 ? apply_mdb_fail(c, rc, "deleting a token") : 0;
}

int kv_auth_load(struct kv *kv, MDB_txn *txn)
{
	int on = auth_on(kv, txn);

	if (on < 0)
		return on;
	kv->auth_on = on;
	return 0;
}

static int apply_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		    raft_index index, struct kv_result *r);

int apply_auth_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		  raft_index index, struct kv_result *r)
{
	int rv = apply_op(c, cmd, index, r), on;

	if (rv != 0)
		return rv;
	/* The state after it, which the store adopts once the batch is
	 * committed. Whatever the outcome: a conflict changes nothing, but
	 * telling the readers to look again costs them one lookup. */
	on = auth_on(c->kv, c->txn);
	if (on < 0)
		return on;
	c->auth_on = on;
	c->auth_changed = 1;
	return 0;
}

static int apply_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		    raft_index index, struct kv_result *r)
{
	struct kv_token t;
	MDB_val mk = meta_auth_key, mv = {1, "\1"};
	MDB_stat st;
	int on, rc, rv;

	r->index = index;
	r->status = KV_APPLIED;
	on = auth_on(c->kv, c->txn);
	if (on < 0)
		return on;
	switch (cmd->op) {
	case KV_OP_AUTH_ENABLE:
		if (on) {
			r->status = KV_CONFLICT;
			r->count = KV_CONFLICT_AUTH_ON;
			return 0;
		}
		/* Decoded by kv_cmd_decode() already: cannot fail here. */
		if (kv_token_decode(cmd->value, cmd->value_len, &t) != 0)
			return KV_EINVAL;
		rv = drop_tokens(c);
		if (rv != 0)
			return rv;
		rv = put_token(c, &t, cmd->value, cmd->value_len, r);
		if (rv != 0 || r->status != KV_APPLIED)
			return rv;
		rc = mdb_put(c->txn, c->kv->meta, &mk, &mv, 0);
		return rc != 0 ? apply_mdb_fail(c, rc, "turning auth on") : 0;
	case KV_OP_AUTH_DISABLE:
		if (!on) {
			r->status = KV_CONFLICT;
			r->count = KV_CONFLICT_AUTH_OFF;
			return 0;
		}
		rv = drop_tokens(c);
		if (rv != 0)
			return rv;
		rc = mdb_del(c->txn, c->kv->meta, &mk, NULL);
		return rc != 0 ? apply_mdb_fail(c, rc, "turning auth off") : 0;
	case KV_OP_TOKEN_PUT:
		if (!on) {
			r->status = KV_CONFLICT;
			r->count = KV_CONFLICT_AUTH_OFF;
			return 0;
		}
		if (kv_token_decode(cmd->value, cmd->value_len, &t) != 0)
			return KV_EINVAL;
		rc = mdb_stat(c->txn, c->kv->auth, &st);
		if (rc != 0)
			return apply_mdb_fail(c, rc, "counting the tokens");
		if (st.ms_entries >= KV_AUTH_TOKENS_MAX) {
			r->status = KV_CONFLICT;
			r->count = KV_CONFLICT_TOO_MANY;
			return 0;
		}
		return put_token(c, &t, cmd->value, cmd->value_len, r);
	case KV_OP_TOKEN_DELETE:
		if (!on) { /* no tokens while off */
			r->status = KV_NOT_FOUND;
			return 0;
		}
		return delete_token(c, cmd, r);
	}
	return KV_EINVAL; /* not an auth op: the dispatcher's bug */
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

int kv_auth_enabled(struct kv *kv)
{
	/* In memory: asked by every request of the client API. */
	return kv == NULL ? KV_EINVAL : kv->auth_on;
}

int kv_auth_lookup(struct kv *kv, const uint8_t hash[KV_AUTH_HASH_SIZE],
		   struct kv_token *out)
{
	MDB_txn *txn;
	MDB_val hk = {KV_AUTH_HASH_SIZE, (void *)hash}, nv, rv_;
	int rc, rv;

	if (kv == NULL || hash == NULL || out == NULL)
		return KV_EINVAL;
	if (kv_read_begin(kv, &txn) != 0)
		return KV_ELMDB;
	rc = mdb_get(txn, kv->auth_hash, &hk, &nv);
	if (rc == 0)
		rc = mdb_get(txn, kv->auth, &nv, &rv_);
	if (rc == MDB_NOTFOUND)
		rv = KV_ENOTFOUND;
	else if (rc != 0)
		rv = KV_ELMDB;
	else if (kv_token_decode(rv_.mv_data, rv_.mv_size, out) != 0 ||
		 memcmp(out->hash, hash, KV_AUTH_HASH_SIZE) != 0)
		rv = KV_ECORRUPT;
	else
		rv = 0;
	mdb_txn_abort(txn);
	return rv;
}

int64_t kv_auth_list(struct kv *kv, kv_token_cb cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct kv_token t;
	int64_t count = 0;
	int rc;

	if (kv == NULL || cb == NULL)
		return KV_EINVAL;
	if (kv_read_cursor(kv, kv->auth, &txn, &cur) != 0)
		return KV_ELMDB;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (kv_token_decode(v.mv_data, v.mv_size, &t) != 0) {
			count = KV_ECORRUPT;
			goto out;
		}
		if (cb(arg, &t) != 0) {
			count = KV_ESTOPPED;
			goto out;
		}
		count++;
	}
	if (rc != MDB_NOTFOUND)
		count = KV_ELMDB;
out:
	return kv_read_end(txn, cur, count);
}

/* ------------------------------------------------------------------------ */
/* kv_check() and kv_digest()                                               */

int kv_auth_record_ok(const MDB_val *k, const MDB_val *v)
{
	struct kv_token t;

	return kv_token_decode(v->mv_data, v->mv_size, &t) == 0 &&
	       k->mv_size == t.name_len &&
	       memcmp(k->mv_data, t.name, t.name_len) == 0;
}

int kv_auth_hash_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size == KV_AUTH_HASH_SIZE &&
	       kv_token_name_valid(v->mv_data, v->mv_size);
}

int kv_auth_digest(struct kv *kv, MDB_txn *txn, uint64_t *h,
		   uint64_t (*fnv)(uint64_t, const void *, size_t))
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t num[4];
	int on = auth_on(kv, txn), rc;

	if (on < 0)
		return on;
	if (!on)
		return 0; /* off means no tokens: digests as before auth */
	*h = fnv(*h, "auth", 4);
	rc = mdb_cursor_open(txn, kv->auth, &cur);
	if (rc != 0)
		return KV_ELMDB;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		le_put_u32(num, (uint32_t)v.mv_size);
		*h = fnv(*h, num, 4);
		*h = fnv(*h, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : KV_ELMDB;
}
