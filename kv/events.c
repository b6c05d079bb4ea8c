/* events.c - the watch history: every change (a PUT, or a DELETE of a key
 * that existed) recorded in the LMDB database "events" in the same write
 * transaction as the change itself, so it is exactly as durable as the
 * store, travels in its snapshots, and never disagrees with it.
 *
 *   key   [index u64 BE][n u32 BE]   (n: the n-th change at that index)
 *   value [type u8][key len u16 LE][key][value]
 *
 * "meta" "events_floor" -> [index u64 LE]: the history holds every change
 * at an index >= floor (trimming moves it up; a store older than the
 * history starts it at its applied index + 1). The oldest events go, whole
 * indexes at a time, once more than 2 N are kept (N = watch_history),
 * down to N.
 */
#include <string.h>

#include "byteorder.h"
#include "kv.h"
#include "kv_internal.h"

#define EVENT_KEY_SIZE 12
#define EVENT_HDR      3 /* type u8, key length u16 LE */

static const MDB_val floor_key = {12, "events_floor"};

static void event_key(uint8_t k[EVENT_KEY_SIZE], raft_index index, uint32_t n)
{
	be_put_u64(k, index);
	be_put_u32(k + 8, n);
}

int kv_events_put(struct kv *kv, MDB_txn *txn, raft_index index, uint32_t n,
		  uint8_t type, const uint8_t *key, size_t key_len,
		  const uint8_t *value, size_t value_len)
{
	uint8_t k[EVENT_KEY_SIZE];
	MDB_val mk = {EVENT_KEY_SIZE, k}, mv;
	if (kv->opts.watch_history == 0)
		return 0;
	event_key(k, index, n);
	mv.mv_size = EVENT_HDR + key_len + value_len;
	mv.mv_data = NULL;
	/* Keys only grow (indexes are applied in order): appended at the
	 * end of the tree, and the value copied once into LMDB's space. */
	int rc = mdb_put(txn, kv->events, &mk, &mv, MDB_APPEND | MDB_RESERVE);
	if (rc != 0)
		return rc;
	uint8_t *p = mv.mv_data;
	/* The type is said, not guessed from @value: an empty value may
	 * come as NULL. */
	p[0] = type;
	le_put_u16(p + 1, (uint16_t)key_len);
	memcpy(p + EVENT_HDR, key, key_len);
	if (value_len > 0)
		memcpy(p + EVENT_HDR + key_len, value, value_len);
	return 0;
}

int kv_events_floor_init(struct kv *kv, MDB_txn *txn)
{
	MDB_val v;
	int rc = mdb_get(txn, kv->meta, (MDB_val *)&floor_key, &v);
	if (rc != MDB_NOTFOUND)
		return rc == 0 && v.mv_size != 8 ? MDB_CORRUPTED : rc;
	uint8_t buf[8];
	MDB_val nv = {8, buf};
	le_put_u64(buf, kv->applied_index + 1);
	return mdb_put(txn, kv->meta, (MDB_val *)&floor_key, &nv, 0);
}

int kv_events_trim(struct kv *kv, MDB_txn *txn)
{
	uint64_t keep = kv->opts.watch_history;
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, v;
	if (keep == 0)
		return 0;
	int rc = mdb_stat(txn, kv->events, &st);
	if (rc != 0 || st.ms_entries <= 2 * keep)
		return rc;
	rc = mdb_cursor_open(txn, kv->events, &cur);
	if (rc != 0)
		return rc;
	uint64_t drop = st.ms_entries - keep, dropped = 0;
	raft_index last = 0;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != EVENT_KEY_SIZE) {
			rc = MDB_CORRUPTED;
			break;
		}
		raft_index idx = be_get_u64(k.mv_data);
		/* Whole indexes only: the floor stays exact. */
		if ((dropped >= drop || dropped >= KV_EVENTS_TRIM_MAX) &&
		    idx != last)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		last = idx;
		dropped++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (last == 0)
		return 0;
	uint8_t buf[8];
	MDB_val nv = {8, buf};
	le_put_u64(buf, last + 1);
	return mdb_put(txn, kv->meta, (MDB_val *)&floor_key, &nv, 0);
}

int kv_events_read(struct kv *kv, raft_index from, const uint8_t *match,
		   size_t match_len, int exact, size_t max_scan, kv_event_fn fn,
		   void *arg, raft_index *next)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t start[EVENT_KEY_SIZE];
	int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return KV_ELMDB;
	rc = mdb_get(txn, kv->meta, (MDB_val *)&floor_key, &v);
	raft_index floor = rc == 0 && v.mv_size == 8 ? le_get_u64(v.mv_data)
						     : kv->applied_index + 1;
	int rv = 0;
	if (from < floor) {
		*next = floor;
		rv = KV_ECOMPACTED;
		goto out;
	}
	/* Everything up to the applied index of this snapshot of the store
	 * is scanned; where the scan stopped is where to resume. */
	rc = mdb_get(txn, kv->meta, &(MDB_val){7, "applied"}, &v);
	raft_index applied =
	    rc == 0 && v.mv_size == 16 ? le_get_u64(v.mv_data) : 0;
	*next = from > applied ? from : applied + 1;
	rc = mdb_cursor_open(txn, kv->events, &cur);
	if (rc != 0) {
		rv = KV_ELMDB;
		goto out;
	}
	event_key(start, from, 0);
	k.mv_size = EVENT_KEY_SIZE;
	k.mv_data = start;
	size_t scanned = 0;
	raft_index cur_index = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != EVENT_KEY_SIZE || v.mv_size < EVENT_HDR) {
			rv = KV_ECORRUPT;
			goto out;
		}
		struct kv_event ev;
		const uint8_t *p = v.mv_data;
		ev.index = be_get_u64(k.mv_data);
		/* Stop between indexes only: a caller resuming at *next sees
		 * the rest of an index's changes with the first. */
		if (scanned >= max_scan && ev.index != cur_index) {
			*next = ev.index;
			break;
		}
		cur_index = ev.index;
		scanned++;
		ev.type = p[0];
		ev.key_len = le_get_u16(p + 1);
		if (EVENT_HDR + ev.key_len > v.mv_size) {
			rv = KV_ECORRUPT;
			goto out;
		}
		ev.key = p + EVENT_HDR;
		ev.value = p + EVENT_HDR + ev.key_len;
		ev.value_len = v.mv_size - EVENT_HDR - ev.key_len;
		int hit = exact ? ev.key_len == match_len &&
				      memcmp(ev.key, match, match_len) == 0
				: ev.key_len >= match_len &&
				      memcmp(ev.key, match, match_len) == 0;
		if (hit && fn(arg, &ev) != 0) {
			*next = ev.index + 1;
			break;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		rv = KV_ELMDB;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rv;
}
