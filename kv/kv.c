/* kv.c - the LMDB-backed state machine: apply committed entries, read keys.
 *
 * LMDB layout (docs/FORMAT.md, kv): ten named databases in one
 * environment at <data-dir>/kv/:
 *   "data"    key bytes            -> [mod index u64 LE][value bytes]
 *   "meta"    "format"             -> [version u32 LE]
 *             "applied"            -> [index u64 LE][term u64 LE]
 *             "client_bytes"       -> [u64 LE] (clients.c)
 *   "clients" client id (u64 BE)   -> client record (CLIENT_REC_SIZE bytes,
 *             or CLIENT_REC_EXT and more for ops 3..11)
 *   "ages"    [last index u64 BE][client id u64 BE] -> empty
 *   "events"  [index u64 BE][n u32 BE] -> [type u8][key len u16 LE][key]
 *             [value] (events.c: the watch history)
 *   "leases", "lease_keys", "key_lease": leases and their keys (lease.c)
 *   "auth", "auth_hash": tokens (auth.c); meta "auth" says auth is on
 * "ages" orders clients by the index of their last command, which makes
 * expiry and eviction a walk from its first key (clients.c). The ops past
 * PUT and DELETE are applied by the files of apply.h; this file
 * dispatches.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "kv.h"
#include "kv_internal.h"
#include "apply.h"
#include "byteorder.h"
#include "durable.h"

#define KV_FORMAT_VERSION 1

/* Named databases: data, meta, clients, ages, events, leases, lease_keys,
 * key_lease, auth, auth_hash. */
#define N_DBS 10

#define DEFAULT_MAP_BYTES	 (1ull << 30)
#define DEFAULT_MAX_MAP_BYTES	 (1ull << 40)
#define DEFAULT_CLIENT_EXPIRY	 1000000ull
#define DEFAULT_MAX_CLIENTS	 100000ull
#define DEFAULT_MAX_CLIENT_BYTES (256ull << 20)
#define DEFAULT_WATCH_HISTORY	 100000ull
#define MIN_MAP_BYTES		 (64ull * 1024)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void kv_options_init(struct kv_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->map_bytes = DEFAULT_MAP_BYTES;
	opts->max_map_bytes = DEFAULT_MAX_MAP_BYTES;
	opts->client_expiry_entries = DEFAULT_CLIENT_EXPIRY;
	opts->max_clients = DEFAULT_MAX_CLIENTS;
	opts->max_client_bytes = DEFAULT_MAX_CLIENT_BYTES;
	opts->sync_mode = KV_SYNC_NONE;
	opts->watch_history = DEFAULT_WATCH_HISTORY;
}

/* Begins a transaction. If another process grew the map (MDB_MAP_RESIZED),
 * adopts the new size and tries once more. */
static int txn_begin(struct kv *kv, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(kv->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED) {
		MDB_envinfo info;

		rc = mdb_env_set_mapsize(kv->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(kv->env, NULL, flags, txn);
		if (rc == 0 && mdb_env_info(kv->env, &info) == 0)
			kv->map_bytes = info.me_mapsize;
	}
	return rc;
}

int kv_read_begin(struct kv *kv, MDB_txn **txn)
{
	return txn_begin(kv, MDB_RDONLY, txn);
}

int kv_read_cursor(struct kv *kv, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
	int rc = kv_read_begin(kv, txn);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(*txn, dbi, cur);
	if (rc != 0)
		mdb_txn_abort(*txn);
	return rc;
}

int64_t kv_read_end(MDB_txn *txn, MDB_cursor *cur, int64_t count)
{
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return count;
}

int64_t kv_db_entries(struct kv *kv, MDB_dbi dbi)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc = kv_read_begin(kv, &txn);

	if (rc != 0)
		return KV_ELMDB;
	rc = mdb_stat(txn, dbi, &st);
	mdb_txn_abort(txn);
	return rc != 0 ? KV_ELMDB : (int64_t)st.ms_entries;
}

static int load_meta(struct kv *kv, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = {6, "format"}, v;
	uint8_t buf[16];
	int rc;

	rc = mdb_get(txn, kv->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		/* A new store: stamp the format. */
		le_put_u32(buf, KV_FORMAT_VERSION);
		v.mv_size = 4;
		v.mv_data = buf;
		rc = mdb_put(txn, kv->meta, &k, &v, 0);
		if (rc != 0)
			goto lmdb_err;
	} else if (rc != 0) {
		goto lmdb_err;
	} else if (v.mv_size != 4 ||
		   le_get_u32(v.mv_data) != KV_FORMAT_VERSION) {
		set_err(err, errlen, "kv: store format %u is not %u",
			v.mv_size == 4 ? le_get_u32(v.mv_data) : 0,
			KV_FORMAT_VERSION);
		return KV_EFORMAT;
	}
	k.mv_size = 7;
	k.mv_data = "applied";
	rc = mdb_get(txn, kv->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		kv->applied_index = 0;
		kv->applied_term = 0;
		return 0;
	}
	if (rc != 0)
		goto lmdb_err;
	if (v.mv_size != 16) {
		set_err(err, errlen, "kv: applied record has %zu bytes",
			v.mv_size);
		return KV_ECORRUPT;
	}
	kv->applied_index = le_get_u64(v.mv_data);
	kv->applied_term = le_get_u64((const uint8_t *)v.mv_data + 8);
	return 0;
lmdb_err:
	set_err(err, errlen, "kv: reading meta: %s", mdb_strerror(rc));
	return KV_ELMDB;
}

/* LMDB codes that mean the file itself is damaged (not the system
 * failing): KV_ECORRUPT, which the server answers by rebuilding the store
 * (kv.h, kv_open()). */
static int mdb_damaged(int rc)
{
	return rc == MDB_INVALID || rc == MDB_CORRUPTED ||
	       rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE ||
	       rc == MDB_BAD_VALSIZE;
}

/* A data.mdb shorter than the pages its meta page counts would make LMDB
 * read past the end of its mapping (SIGBUS) at the first access: it is
 * checked before any page but the meta pages is read. */
static int check_file_size(struct kv *kv, char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat fst;
	char *data = malloc(strlen(kv->path) + 10);
	int rc;

	if (data == NULL)
		return KV_ENOMEM;
	sprintf(data, "%s/data.mdb", kv->path);
	rc = stat(data, &fst);
	free(data);
	if (rc != 0) {
		set_err(err, errlen, "kv: stat %s/data.mdb: %s", kv->path,
			strerror(errno));
		return KV_EIO;
	}
	if (mdb_env_info(kv->env, &info) != 0 ||
	    mdb_env_stat(kv->env, &st) != 0) {
		set_err(err, errlen, "kv: %s: cannot read the meta page",
			kv->path);
		return KV_ECORRUPT;
	}
	uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if ((uint64_t)fst.st_size < need) {
		set_err(err, errlen,
			"kv: %s/data.mdb has %llu bytes but its meta page "
			"counts %llu (truncated)",
			kv->path, (unsigned long long)fst.st_size,
			(unsigned long long)need);
		return KV_ECORRUPT;
	}
	return 0;
}

#define DAMAGED_FILE "damaged"

int kv_mark_damaged(const char *dir, const char *why)
{
	char *p = malloc(strlen(dir) + sizeof("/kv/" DAMAGED_FILE));
	int fd, rv = KV_EIO;

	if (p == NULL)
		return KV_ENOMEM;
	sprintf(p, "%s/kv/" DAMAGED_FILE, dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd >= 0) {
		size_t len = why != NULL ? strlen(why) : 0;
		if ((len == 0 || write(fd, why, len) == (ssize_t)len) &&
		    fsync(fd) == 0)
			rv = 0;
		close(fd);
	}
	if (rv == 0 && durable_sync_parent(p) != 0)
		rv = KV_EIO;
	free(p);
	return rv;
}

/* KV_ECORRUPT with the recorded reason when kv_mark_damaged() marked the
 * store at @path (<dir>/kv), else 0. */
static int check_marked(const char *path, char *err, size_t errlen)
{
	char *p = malloc(strlen(path) + sizeof("/" DAMAGED_FILE));
	char why[256] = "";
	int fd;

	if (p == NULL)
		return KV_ENOMEM;
	sprintf(p, "%s/" DAMAGED_FILE, path);
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return 0;
	ssize_t got = read(fd, why, sizeof(why) - 1);
	close(fd);
	why[got > 0 ? got : 0] = '\0';
	for (char *c = why; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	set_err(err, errlen, "kv: %s was found damaged at run time: %s", path,
		why[0] ? why : "(no reason recorded)");
	return KV_ECORRUPT;
}

/* Opens the LMDB environment at kv->path with a map of at least
 * @map_bytes, opens its databases (creating missing ones) and loads the
 * applied index. On failure kv->env is NULL. */
static int open_env(struct kv *kv, uint64_t map_bytes, char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	unsigned flags = MDB_NOTLS;
	int rc, rv;

	/* Why MDB_NOSYNC by default: the WAL already fsyncs every committed
	 * entry, so a second fsync per applied batch buys nothing after a
	 * process crash (LMDB's pages are in the page cache at commit) and
	 * after a power loss the server replays the WAL above the applied
	 * index. kv_sync() runs before the WAL forgets anything. The caveat
	 * (enum kv_sync_mode) is a power loss on a filesystem that reorders
	 * writes, which can damage unsynced LMDB pages: KV_SYNC_META avoids it
	 * at one fdatasync per batch. */
	if (kv->opts.sync_mode == KV_SYNC_NONE)
		flags |= MDB_NOSYNC;
	else if (kv->opts.sync_mode == KV_SYNC_META)
		flags |= MDB_NOMETASYNC;

	rc = mdb_env_create(&kv->env);
	if (rc != 0)
		goto lmdb_fail;
	rc = mdb_env_set_maxdbs(kv->env, N_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(kv->env, map_bytes);
	if (rc == 0)
		rc = mdb_env_open(kv->env, kv->path, flags, 0600);
	if (rc != 0)
		goto lmdb_fail;
	/* An existing file larger than map_bytes keeps its size. */
	rc = mdb_env_info(kv->env, &info);
	if (rc != 0)
		goto lmdb_fail;
	kv->map_bytes = info.me_mapsize;
	rv = check_file_size(kv, err, errlen);
	if (rv != 0)
		goto fail;
	/* Reader slots left by a killed process would pin old pages and make
	 * the file grow; clear them. */
	(void)mdb_reader_check(kv->env, NULL);

	rc = txn_begin(kv, 0, &txn);
	if (rc != 0)
		goto lmdb_fail;
	rc = mdb_dbi_open(txn, "data", MDB_CREATE, &kv->data);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &kv->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &kv->clients);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "ages", MDB_CREATE, &kv->ages);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "events", MDB_CREATE, &kv->events);
	/* Created when missing: a store from before leases opens as one
	 * without any. */
	if (rc == 0)
		rc = mdb_dbi_open(txn, "leases", MDB_CREATE, &kv->leases);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "lease_keys", MDB_CREATE,
				  &kv->lease_keys);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "key_lease", MDB_CREATE, &kv->key_lease);
	/* The same for a store from before tokens. */
	if (rc == 0)
		rc = mdb_dbi_open(txn, "auth", MDB_CREATE, &kv->auth);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "auth_hash", MDB_CREATE, &kv->auth_hash);
	if (rc != 0)
		goto lmdb_fail;
	rv = load_meta(kv, txn, err, errlen);
	if (rv != 0)
		goto fail;
	rc = kv_events_floor_init(kv, txn);
	if (rc != 0)
		goto lmdb_fail;
	rc = clients_bytes_init(kv, txn);
	if (rc == KV_ECORRUPT) {
		set_err(err, errlen, "kv: client_bytes record has a bad size");
		rv = rc;
		goto fail;
	}
	if (rc != 0)
		goto lmdb_fail;
	rv = kv_auth_load(kv, txn);
	if (rv != 0) {
		set_err(err, errlen, "kv: meta \"auth\" has a bad shape");
		goto fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto lmdb_fail;
	return 0;

lmdb_fail:
	set_err(err, errlen, "kv: opening %s: %s", kv->path, mdb_strerror(rc));
	rv = mdb_damaged(rc) ? KV_ECORRUPT : KV_ELMDB;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (kv->env != NULL)
		mdb_env_close(kv->env);
	kv->env = NULL;
	return rv;
}

int kv_open(const char *dir, const struct kv_options *opts, struct kv **out,
	    char *err, size_t errlen)
{
	struct kv *kv = NULL;
	struct stat st;
	int rv, created = 0;

	if (dir == NULL || out == NULL) {
		set_err(err, errlen, "kv: no data directory");
		return KV_EINVAL;
	}
	*out = NULL;
	kv = calloc(1, sizeof(*kv));
	if (kv == NULL)
		return KV_ENOMEM;
	if (opts != NULL)
		kv->opts = *opts;
	else
		kv_options_init(&kv->opts);
	if (kv->opts.map_bytes < MIN_MAP_BYTES ||
	    kv->opts.max_map_bytes < kv->opts.map_bytes ||
	    kv->opts.sync_mode > KV_SYNC_FULL) {
		set_err(err, errlen,
			"kv: bad options (map %llu bytes, max %llu, sync %d)",
			(unsigned long long)kv->opts.map_bytes,
			(unsigned long long)kv->opts.max_map_bytes,
			(int)kv->opts.sync_mode);
		rv = KV_EINVAL;
		goto fail;
	}

	kv->path = malloc(strlen(dir) + 4);
	if (kv->path == NULL) {
		rv = KV_ENOMEM;
		goto fail;
	}
	sprintf(kv->path, "%s/kv", dir);
	if (mkdir(kv->path, 0700) == 0) {
		created = 1;
	} else if (errno != EEXIST) {
		set_err(err, errlen, "kv: mkdir %s: %s", kv->path,
			strerror(errno));
		rv = KV_EIO;
		goto fail;
	}
	if (stat(kv->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		set_err(err, errlen, "kv: %s is not a directory", kv->path);
		rv = KV_EIO;
		goto fail;
	}
	rv = check_marked(kv->path, err, errlen);
	if (rv == 0)
		rv = open_env(kv, kv->opts.map_bytes, err, errlen);
	if (rv != 0)
		goto fail;
	/* kv_sync() makes data.mdb's contents durable before the WAL forgets
	 * entries, but only a directory fsync makes its name (and a new kv/
	 * directory's) durable: without it a power loss could lose the whole
	 * store after the WAL was compacted. */
	if (durable_sync_dir(kv->path) != 0 ||
	    (created && durable_sync_parent(kv->path) != 0)) {
		set_err(err, errlen, "kv: syncing directory %s: %s", kv->path,
			strerror(errno));
		rv = KV_EIO;
		goto fail;
	}
	/* A store opened anew (a restored snapshot, a rebuilt one) may hold
	 * other tokens than the handle before it. */
	kv_auth_bump();
	*out = kv;
	return 0;

fail:
	if (kv->env != NULL)
		mdb_env_close(kv->env);
	free(kv->path);
	free(kv);
	return rv;
}

int kv_needs_reopen(const struct kv *kv)
{
	return kv != NULL && kv->needs_reopen;
}

int kv_reopen(struct kv *kv, char *err, size_t errlen)
{
	int rv;

	if (kv == NULL) {
		set_err(err, errlen, "kv: reopen: no store");
		return KV_EINVAL;
	}
	/* No sync: whatever LMDB wrote is in the page cache already, and the
	 * reopened environment reads the same file. */
	if (kv->env != NULL)
		mdb_env_close(kv->env);
	kv->env = NULL;
	rv = open_env(kv, kv->map_bytes, err, errlen);
	if (rv == 0)
		kv->needs_reopen = 0;
	kv_auth_bump();
	return rv;
}

void kv_close(struct kv *kv)
{
	if (kv == NULL)
		return;
	/* Best effort: a clean close leaves LMDB durable even though commits
	 * did not sync. Callers wanting to know use kv_sync() first. */
	if (kv->env != NULL) {
		(void)mdb_env_sync(kv->env, 1);
		mdb_env_close(kv->env);
	}
	kv_arena_reset(kv);
	free(kv->txn_scratch);
	free(kv->path);
	free(kv);
}

int kv_sync(struct kv *kv, char *err, size_t errlen)
{
	int rc;

	if (kv == NULL)
		return KV_EINVAL;
	rc = mdb_env_sync(kv->env, 1);
	if (rc != 0) {
		set_err(err, errlen, "kv: sync: %s", mdb_strerror(rc));
		return KV_ELMDB;
	}
	return 0;
}

/* Walks at most @limit records from @op_first on with @op_next in @dbi,
 * checking each record's shape with @ok. Returns 0, an LMDB code, or -1
 * for a record of the wrong shape. */
static int walk_edge(MDB_txn *txn, MDB_dbi dbi, MDB_cursor_op op_first,
		     MDB_cursor_op op_next, uint64_t limit,
		     int (*ok)(const MDB_val *k, const MDB_val *v))
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, op_first);
	for (uint64_t i = 0; rc == 0 && (limit == 0 || i < limit); i++) {
		if (!ok(&k, &v)) {
			rc = -1;
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, op_next);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int data_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size >= 1 && k->mv_size <= KV_KEY_MAX &&
	       v->mv_size >= VALUE_HDR;
}

static int meta_ok(const MDB_val *k, const MDB_val *v)
{
	(void)v;
	return k->mv_size > 0;
}

static int clients_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size == 8 &&
	       (v->mv_size == CLIENT_REC_SIZE ||
		(v->mv_size >= CLIENT_REC_EXT &&
		 v->mv_size - CLIENT_REC_EXT <= KV_TXN_RESULT_MAX));
}

static int ages_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size == 16 && v->mv_size == 0;
}

/* [index u64 BE][n u32 BE] -> [type][key len u16 LE][key][value]. */
static int events_ok(const MDB_val *k, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	return k->mv_size == 12 && v->mv_size >= 3 &&
	       (p[0] == KV_EVENT_PUT || p[0] == KV_EVENT_DELETE) &&
	       3u + le_get_u16(p + 1) <= v->mv_size;
}

/* id u64 BE -> [ttl u64 LE][keys u64 LE] (lease.c). */
static int leases_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size == 8 && v->mv_size == 16;
}

/* [id u64 BE][key] -> empty. */
static int lease_keys_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size > 8 && k->mv_size <= 8 + KV_KEY_MAX &&
	       v->mv_size == 0;
}

/* key -> id u64 BE. */
static int key_lease_ok(const MDB_val *k, const MDB_val *v)
{
	return k->mv_size >= 1 && k->mv_size <= KV_KEY_MAX && v->mv_size == 8;
}

int kv_check(struct kv *kv, uint64_t limit, char *err, size_t errlen)
{
	static const char *const names[N_DBS] = {
	    "data",   "meta",	    "clients",	 "ages", "events",
	    "leases", "lease_keys", "key_lease", "auth", "auth_hash"};
	int (*const oks[N_DBS])(const MDB_val *, const MDB_val *) = {
	    data_ok,	       meta_ok,	       clients_ok,    ages_ok,
	    events_ok,	       leases_ok,      lease_keys_ok, key_lease_ok,
	    kv_auth_record_ok, kv_auth_hash_ok};
	MDB_dbi dbis[N_DBS];
	MDB_txn *txn;
	int rc;

	if (kv == NULL || kv->env == NULL) {
		set_err(err, errlen, "kv: check: no store");
		return KV_EINVAL;
	}
	dbis[0] = kv->data;
	dbis[1] = kv->meta;
	dbis[2] = kv->clients;
	dbis[3] = kv->ages;
	dbis[4] = kv->events;
	dbis[5] = kv->leases;
	dbis[6] = kv->lease_keys;
	dbis[7] = kv->key_lease;
	dbis[8] = kv->auth;
	dbis[9] = kv->auth_hash;
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0) {
		set_err(err, errlen, "kv: check: %s", mdb_strerror(rc));
		return mdb_damaged(rc) ? KV_ECORRUPT : KV_ELMDB;
	}
	for (int i = 0; i < N_DBS; i++) {
		/* Both ends: every branch page on the way down the left and
		 * right edges of the tree, and the leaves there. */
		rc =
		    walk_edge(txn, dbis[i], MDB_FIRST, MDB_NEXT, limit, oks[i]);
		if (rc == 0 && limit != 0)
			rc = walk_edge(txn, dbis[i], MDB_LAST, MDB_PREV, limit,
				       oks[i]);
		if (rc != 0) {
			mdb_txn_abort(txn);
			if (rc == -1) {
				set_err(err, errlen,
					"kv: check: a record of \"%s\" has "
					"an impossible shape",
					names[i]);
				return KV_ECORRUPT;
			}
			set_err(err, errlen, "kv: check: reading \"%s\": %s",
				names[i], mdb_strerror(rc));
			return mdb_damaged(rc) ? KV_ECORRUPT : KV_ELMDB;
		}
	}
	/* The byte counter only on a whole walk: it sums every record. */
	rc = limit == 0 ? clients_bytes_check(kv, txn) : 0;
	mdb_txn_abort(txn);
	if (rc == -1) {
		set_err(err, errlen,
			"kv: check: \"client_bytes\" is not the size of the "
			"client records");
		return KV_ECORRUPT;
	}
	if (rc != 0) {
		set_err(err, errlen, "kv: check: counting client bytes: %s",
			mdb_strerror(rc));
		return mdb_damaged(rc) ? KV_ECORRUPT : KV_ELMDB;
	}
	return 0;
}

raft_index kv_applied_index(const struct kv *kv)
{
	return kv->applied_index;
}

raft_term kv_applied_term(const struct kv *kv)
{
	return kv->applied_term;
}

/* ------------------------------------------------------------------------ */
/* Apply                                                                    */

/* struct apply_ctx and apply_mdb_fail(): apply.h; the exactly-once table:
 * clients.c. */

/* Applies the PUT/DELETE itself; fills @r. */
static int apply_op(struct apply_ctx *c, const struct kv_cmd *cmd,
		    raft_index index, struct kv_result *r)
{
	struct apply_entry e = {.index = index, .n = 0};
	MDB_val k = {cmd->key_len, (void *)cmd->key}, v;
	uint64_t cur_mod = 0;
	int exists, rc, rv, deleted;

	rc = mdb_get(c->txn, c->kv->data, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "reading a key");
	exists = rc == 0;
	if (exists) {
		if (v.mv_size < VALUE_HDR)
			return KV_ECORRUPT;
		cur_mod = le_get_u64(v.mv_data);
	}
	r->index = index;
	/* CAS M: the key's mod index must be M; M = 0 means "absent". */
	if (cmd->has_cas && cmd->cas != cur_mod) {
		r->status = KV_CAS_FAILED;
		r->mod_index = cur_mod;
		return 0;
	}
	if (cmd->op == KV_OP_PUT) {
		/* A PUT to a lease that does not exist (ended, or never
		 * granted) has no effect: the key would outlive it. */
		if (cmd->lease != 0) {
			rv = apply_lease_exists(c, cmd->lease);
			if (rv < 0)
				return rv;
			if (rv == 0) {
				r->status = KV_LEASE_NOT_FOUND;
				r->mod_index = cur_mod;
				return 0;
			}
		}
		r->status = KV_APPLIED;
		rv = apply_put_key(c, &e, cmd->key, cmd->key_len, cmd->value,
				   cmd->value_len, cmd->lease);
		if (rv != 0)
			return rv;
		r->mod_index = index;
	} else {
		r->status = KV_APPLIED;
		rv = apply_delete_key(c, &e, cmd->key, cmd->key_len, &deleted);
		if (rv != 0)
			return rv;
		r->deleted = (uint8_t)deleted;
		r->mod_index = 0;
	}
	return 0;
}

/* Applies a decoded command (@t: a TXN's body, decoded) at @index. */
static int apply_cmd(struct apply_ctx *c, const struct kv_cmd *cmd,
		     const struct kv_txn *t, raft_index index,
		     struct kv_result *r)
{
	switch (cmd->op) {
	case KV_OP_PUT:
	case KV_OP_DELETE:
		return apply_op(c, cmd, index, r);
	case KV_OP_TXN:
		return apply_txn(c, t, index, r);
	case KV_OP_DELETE_PREFIX:
		return apply_delete_prefix_op(c, cmd, index, r);
	case KV_OP_AUTH_ENABLE:
	case KV_OP_AUTH_DISABLE:
	case KV_OP_TOKEN_PUT:
	case KV_OP_TOKEN_DELETE:
		return apply_auth_op(c, cmd, index, r);
	default:
		return apply_lease_op(c, cmd, index, r);
	}
}

/* Decodes entry @e's command, and a TXN's body into kv->txn_scratch
 * (*@t). 0 or the KV_ECMD_* code that makes it a bad command. */
static int decode_entry(struct kv *kv, const struct raft_entry *e,
			struct kv_cmd *cmd, const struct kv_txn **t)
{
	int rv = kv_cmd_decode(e->data, e->len, cmd);

	*t = NULL;
	if (rv != 0 || cmd->op != KV_OP_TXN)
		return rv;
	if (kv->txn_scratch == NULL) {
		kv->txn_scratch = malloc(sizeof(*kv->txn_scratch));
		if (kv->txn_scratch == NULL)
			return KV_ENOMEM;
	}
	/* The body is decoded here, not by kv_cmd_decode(): one that does
	 * not decode makes the entry a bad command, like a bad frame. */
	rv = kv_txn_decode(cmd->value, cmd->value_len, kv->txn_scratch);
	*t = kv->txn_scratch;
	return rv;
}

static int apply_command(struct apply_ctx *c, const struct raft_entry *e,
			 struct kv_result *r)
{
	struct kv_cmd cmd;
	const struct kv_txn *t;
	uint8_t ck[8];
	MDB_val k = {8, ck}, v;
	uint64_t old_index = 0;
	int known = 0, rc, rv;

	rv = decode_entry(c->kv, e, &cmd, &t);
	if (rv == KV_ENOMEM)
		return rv;
	if (rv != 0) {
		r->status = KV_BAD_COMMAND;
		r->cmd_error = rv;
		r->index = e->index;
		return clients_expire(c, e->index, 0);
	}
	r->op = cmd.op;
	r->origin = cmd.origin;
	r->request_id = cmd.request_id;
	r->client_id = cmd.client_id;
	r->seq = cmd.seq;
	if (cmd.client_id == 0) {
		rv = clients_expire(c, e->index, 0);
		return rv != 0 ? rv : apply_cmd(c, &cmd, t, e->index, r);
	}

	/* Expire first, so whether this client is still remembered depends
	 * only on the entry's index. */
	rv = clients_expire(c, e->index, 0);
	if (rv != 0)
		return rv;
	be_put_u64(ck, cmd.client_id);
	rc = mdb_get(c->txn, c->kv->clients, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return apply_mdb_fail(c, rc, "reading a client");
	if (rc == 0) {
		uint64_t last_seq;

		if (!clients_ok(&k, &v))
			return KV_ECORRUPT;
		known = 1;
		last_seq = le_get_u64(v.mv_data);
		old_index = le_get_u64((const uint8_t *)v.mv_data + 8);
		if (cmd.seq == last_seq)
			return clients_replay(c->kv, r, v.mv_data, v.mv_size);
		if (cmd.seq < last_seq) {
			r->status = KV_STALE_SEQ;
			r->index = e->index;
			return 0;
		}
	} else {
		/* A new client may push the oldest one out. */
		rv = clients_expire(c, e->index, 1);
		if (rv != 0)
			return rv;
	}
	rv = apply_cmd(c, &cmd, t, e->index, r);
	if (rv != 0)
		return rv;
	return clients_remember(c, &cmd, e->index, r, known, old_index);
}

/* One attempt at the whole batch in one write transaction. */
static int apply_batch(struct apply_ctx *c, const struct raft_entry *entries,
		       size_t n, struct kv_result *results)
{
	struct kv *kv = c->kv;
	raft_index applied = kv->applied_index;
	raft_term term = kv->applied_term;
	uint8_t buf[16];
	MDB_val k = {7, "applied"}, v = {16, buf};
	int rc, rv;

	rc = txn_begin(kv, 0, &c->txn);
	if (rc != 0)
		return apply_mdb_fail(c, rc, "beginning a write");
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		struct kv_result scratch, *r = results ? &results[i] : &scratch;

		memset(r, 0, sizeof(*r));
		r->entry_index = e->index;
		if (e->index <= kv->applied_index) {
			struct kv_cmd cmd;

			r->status = KV_ALREADY_APPLIED;
			if (e->type == RAFT_ENTRY_NORMAL &&
			    kv_cmd_decode(e->data, e->len, &cmd) == 0) {
				r->op = cmd.op;
				r->origin = cmd.origin;
				r->request_id = cmd.request_id;
				r->client_id = cmd.client_id;
				r->seq = cmd.seq;
			}
			continue;
		}
		if (e->type == RAFT_ENTRY_NORMAL) {
			rv = apply_command(c, e, r);
		} else {
			r->status = KV_NONE;
			r->index = e->index;
			rv = clients_expire(c, e->index, 0);
		}
		if (rv != 0)
			goto abort;
		applied = e->index;
		term = e->term;
	}
	rc = kv_events_trim(kv, c->txn);
	if (rc != 0) {
		rv = apply_mdb_fail(c, rc, "trimming the events");
		goto abort;
	}
	rv = clients_bytes_flush(c);
	if (rv != 0)
		goto abort;
	if (applied != kv->applied_index) {
		le_put_u64(buf, applied);
		le_put_u64(buf + 8, term);
		rc = mdb_put(c->txn, kv->meta, &k, &v, 0);
		if (rc != 0) {
			rv = apply_mdb_fail(c, rc, "writing the applied index");
			goto abort;
		}
	}
	rc = mdb_txn_commit(c->txn);
	c->txn = NULL;
	if (rc != 0)
		return apply_mdb_fail(c, rc, "committing");
	kv->applied_index = applied;
	kv->applied_term = term;
	if (c->auth_changed) {
		kv->auth_on = c->auth_on;
		kv_auth_bump();
	}
	return 0;
abort:
	mdb_txn_abort(c->txn);
	c->txn = NULL;
	return rv;
}

/* Doubles the map (no transaction may be open in this process). */
static int grow_map(struct kv *kv, char *err, size_t errlen)
{
	uint64_t next;
	MDB_envinfo info;
	int rc;

	if (kv->map_bytes >= kv->opts.max_map_bytes) {
		set_err(err, errlen, "kv: map full at %llu bytes (maximum)",
			(unsigned long long)kv->map_bytes);
		return KV_EMAPFULL;
	}
	next = kv->map_bytes * 2;
	if (next > kv->opts.max_map_bytes || next < kv->map_bytes)
		next = kv->opts.max_map_bytes;
	rc = mdb_env_set_mapsize(kv->env, next);
	if (rc != 0) {
		set_err(err, errlen, "kv: growing the map to %llu bytes: %s",
			(unsigned long long)next, mdb_strerror(rc));
		return KV_ELMDB;
	}
	kv->map_bytes = next;
	if (mdb_env_info(kv->env, &info) == 0)
		kv->map_bytes = info.me_mapsize;
	return 0;
}

int kv_reserve_map(struct kv *kv, char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_stat env;
	uint64_t used, room;

	if (kv == NULL)
		return KV_EINVAL;
	/* Neither call opens a transaction. */
	if (mdb_env_info(kv->env, &info) != 0 ||
	    mdb_env_stat(kv->env, &env) != 0) {
		set_err(err, errlen, "kv: reading the map's use failed");
		return KV_ELMDB;
	}
	used = ((uint64_t)info.me_last_pgno + 1) * env.ms_psize;
	room = used / 2 + KV_MAP_ROOM_MIN_BYTES;
	while (used + room > kv->map_bytes &&
	       kv->map_bytes < kv->opts.max_map_bytes) {
		int rv = grow_map(kv, err, errlen);

		if (rv != 0)
			return rv;
	}
	return 0;
}

int kv_retryable(int err)
{
	/* After each, the store and the handle are as before the call. */
	return err == KV_ENOSPC || err == KV_EMAPFULL || err == KV_ENOMEM;
}

/* Whether LMDB's failure @rc while applying @bytes of payload means there
 * is no room for the store's pages. LMDB reports a short write as EIO
 * (mdb_page_flush: "short write, filesystem full?"), and a write to a
 * regular file comes up short when the file system fills up or the file
 * reaches the process's RLIMIT_FSIZE: so an EIO counts as no space when
 * little is left of either. A real I/O error with room left stays an
 * error. */
static int no_space(struct kv *kv, int rc, uint64_t bytes)
{
	uint64_t slack = KV_LOW_SPACE_BYTES + 2 * bytes;
	struct statvfs sv;
	struct rlimit rl;
	struct stat st;
	int fd;

	if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
		return 1;
	if (rc != EIO || mdb_env_get_fd(kv->env, &fd) != 0)
		return 0;
	if (fstatvfs(fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < slack)
		return 1;
	return getrlimit(RLIMIT_FSIZE, &rl) == 0 &&
	       rl.rlim_cur != RLIM_INFINITY && fstat(fd, &st) == 0 &&
	       (uint64_t)st.st_size + slack >= (uint64_t)rl.rlim_cur;
}

/* After a failed write transaction: LMDB marks the environment fatal when
 * it could not write the meta page (mdb_env_write_meta), and from then on
 * every mdb_txn_begin() returns MDB_PANIC. Probing with a read transaction
 * finds out; kv_reopen() makes the store usable again. */
static void check_env(struct kv *kv, int rc)
{
	MDB_txn *txn;

	if (rc == MDB_PANIC) {
		kv->needs_reopen = 1;
		return;
	}
	rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		mdb_txn_abort(txn);
	else if (rc == MDB_PANIC)
		kv->needs_reopen = 1;
}

int kv_apply(struct kv *kv, const struct raft_entry *entries, size_t n,
	     struct kv_result *results, char *err, size_t errlen)
{
	struct apply_ctx c;
	int rv;

	if (kv == NULL || (entries == NULL && n != 0)) {
		set_err(err, errlen, "kv: apply: no store or no entries");
		return KV_EINVAL;
	}
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t t = entries[i].type;

		if (t != RAFT_ENTRY_NORMAL && t != RAFT_ENTRY_NOOP &&
		    t != RAFT_ENTRY_CONFIG) {
			set_err(err, errlen, "kv: entry %llu has type %u",
				(unsigned long long)entries[i].index, t);
			return KV_EINVAL;
		}
		if (entries[i].data == NULL && entries[i].len != 0) {
			set_err(err, errlen, "kv: entry %llu has no data",
				(unsigned long long)entries[i].index);
			return KV_EINVAL;
		}
		if (i > 0 && entries[i].index != entries[i - 1].index + 1) {
			set_err(err, errlen, "kv: entry %llu follows %llu",
				(unsigned long long)entries[i].index,
				(unsigned long long)entries[i - 1].index);
			return KV_ENOTSEQ;
		}
	}
	/* Never a gap: entry applied+1 must be the next one applied. */
	if (entries[0].index > kv->applied_index + 1) {
		set_err(err, errlen,
			"kv: first entry %llu leaves a gap after applied %llu",
			(unsigned long long)entries[0].index,
			(unsigned long long)kv->applied_index);
		return KV_EGAP;
	}
	for (;;) {
		/* The last apply's results go; so do a failed attempt's. */
		kv_arena_reset(kv);
		memset(&c, 0, sizeof(c));
		c.kv = kv;
		rv = apply_batch(&c, entries, n, results);
		if (rv == 0)
			return 0;
		if (rv != KV_ELMDB || c.mdb_rc != MDB_MAP_FULL)
			break;
		/* The transaction is gone; grow and redo the whole batch. */
		rv = grow_map(kv, err, errlen);
		if (rv != 0)
			return rv;
	}
	if (rv == KV_ELMDB) {
		uint64_t bytes = 0;

		for (size_t i = 0; i < n; i++)
			bytes += entries[i].len;
		check_env(kv, c.mdb_rc);
		if (no_space(kv, c.mdb_rc, bytes)) {
			set_err(err, errlen,
				"kv: apply: %s: %s: no space left for the "
				"store (nothing of the batch was applied)",
				c.what, mdb_strerror(c.mdb_rc));
			return KV_ENOSPC;
		}
		set_err(err, errlen, "kv: apply: %s: %s", c.what,
			mdb_strerror(c.mdb_rc));
		if (mdb_damaged(c.mdb_rc))
			rv = KV_ECORRUPT;
	} else if (rv == KV_ECORRUPT) {
		set_err(err, errlen, "kv: apply: malformed stored record");
	} else if (rv == KV_ENOMEM) {
		kv_arena_reset(kv);
		set_err(err, errlen,
			"kv: apply: out of memory (nothing of the batch was "
			"applied)");
	}
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

int kv_get(struct kv *kv, const uint8_t *key, size_t keylen, uint8_t **value,
	   size_t *len, uint64_t *mod_index)
{
	MDB_txn *txn = NULL;
	MDB_val k = {keylen, (void *)key}, v;
	uint8_t *copy = NULL;
	size_t n;
	int rc, rv = 0;

	if (value != NULL)
		*value = NULL;
	if (kv == NULL || !kv_key_valid(key, keylen))
		return KV_EINVAL;
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0)
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
	if (v.mv_size < VALUE_HDR) {
		rv = KV_ECORRUPT;
		goto out;
	}
	n = v.mv_size - VALUE_HDR;
	if (value != NULL && n != 0) {
		copy = malloc(n);
		if (copy == NULL) {
			rv = KV_ENOMEM;
			goto out;
		}
		memcpy(copy, (const uint8_t *)v.mv_data + VALUE_HDR, n);
		*value = copy;
	}
	if (len != NULL)
		*len = n;
	if (mod_index != NULL)
		*mod_index = le_get_u64(v.mv_data);
out:
	mdb_txn_abort(txn);
	return rv;
}

static int has_prefix(const MDB_val *k, const uint8_t *prefix, size_t plen)
{
	if (plen == 0)
		return 1;
	return k->mv_size >= plen && memcmp(k->mv_data, prefix, plen) == 0;
}

/* Bytewise order, shorter first on a common prefix: LMDB's default. */
static int key_cmp(const MDB_val *k, const uint8_t *b, size_t blen)
{
	size_t n = k->mv_size < blen ? k->mv_size : blen;
	int d = n ? memcmp(k->mv_data, b, n) : 0;

	if (d != 0)
		return d;
	return k->mv_size < blen ? -1 : k->mv_size > blen;
}

int64_t kv_list(struct kv *kv, const uint8_t *prefix, size_t prefix_len,
		const uint8_t *after, size_t after_len, size_t limit,
		kv_list_cb cb, void *arg, int *more)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int64_t count = 0;
	int rc;

	if (more != NULL)
		*more = 0;
	if (kv == NULL || cb == NULL || limit == 0 ||
	    (prefix == NULL && prefix_len != 0) ||
	    (after == NULL && after_len != 0) || prefix_len > KV_KEY_MAX ||
	    after_len > KV_KEY_MAX || limit > INT64_MAX)
		return KV_EINVAL;
	if (kv_read_cursor(kv, kv->data, &txn, &cur) != 0)
		return KV_ELMDB;
	/* Start at the first key > after, then no lower than the prefix. */
	if (after_len != 0) {
		k.mv_size = after_len;
		k.mv_data = (void *)after;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && key_cmp(&k, after, after_len) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	if (rc == 0 && prefix_len != 0 && key_cmp(&k, prefix, prefix_len) < 0) {
		k.mv_size = prefix_len;
		k.mv_data = (void *)prefix;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	/* Keys with a prefix are contiguous: stop at the first one without. */
	while (rc == 0 && has_prefix(&k, prefix, prefix_len)) {
		if ((size_t)count == limit) {
			if (more != NULL)
				*more = 1;
			break;
		}
		if (v.mv_size < VALUE_HDR) {
			count = KV_ECORRUPT;
			goto out;
		}
		if (cb(arg, k.mv_data, k.mv_size,
		       (const uint8_t *)v.mv_data + VALUE_HDR,
		       v.mv_size - VALUE_HDR, le_get_u64(v.mv_data)) != 0) {
			count = KV_ESTOPPED;
			goto out;
		}
		count++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		count = KV_ELMDB;
out:
	return kv_read_end(txn, cur, count);
}

int64_t kv_count(struct kv *kv)
{
	return kv == NULL ? KV_EINVAL : kv_db_entries(kv, kv->data);
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

int kv_digest(struct kv *kv, uint64_t *digest)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t h = FNV_OFFSET;
	uint8_t num[8];
	int rc, rv = 0;

	if (kv == NULL || digest == NULL)
		return KV_EINVAL;
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0)
		return KV_ELMDB;
	rc = mdb_cursor_open(txn, kv->data, &cur);
	if (rc != 0) {
		rv = KV_ELMDB;
		goto out;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (v.mv_size < VALUE_HDR) {
			rv = KV_ECORRUPT;
			goto out;
		}
		le_put_u32(num, (uint32_t)k.mv_size);
		h = fnv(h, num, 4);
		h = fnv(h, k.mv_data, k.mv_size);
		le_put_u32(num, (uint32_t)(v.mv_size - VALUE_HDR));
		h = fnv(h, num, 4);
		h = fnv(h, (const uint8_t *)v.mv_data + VALUE_HDR,
			v.mv_size - VALUE_HDR);
		h = fnv(h, v.mv_data, VALUE_HDR); /* mod index, u64 LE */
	}
	if (rc != MDB_NOTFOUND) {
		rv = KV_ELMDB;
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	/* Then the leases and their keys, which are state every member must
	 * agree on too. A store without leases digests as before them. */
	for (int db = 0; db < 2; db++) {
		rc = mdb_cursor_open(txn, db == 0 ? kv->leases : kv->lease_keys,
				     &cur);
		if (rc != 0) {
			rv = KV_ELMDB;
			goto out;
		}
		while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
			if (db == 0 && (k.mv_size != 8 || v.mv_size != 16)) {
				rv = KV_ECORRUPT;
				goto out;
			}
			le_put_u32(num, (uint32_t)k.mv_size);
			h = fnv(h, num, 4);
			h = fnv(h, k.mv_data, k.mv_size);
			h = fnv(h, v.mv_data, v.mv_size);
		}
		if (rc != MDB_NOTFOUND) {
			rv = KV_ELMDB;
			goto out;
		}
		mdb_cursor_close(cur);
		cur = NULL;
	}
	/* Then the tokens: which secrets open the cluster is state too. */
	rv = kv_auth_digest(kv, txn, &h, fnv);
	if (rv != 0)
		goto out;
	*digest = h;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rv;
}

int kv_stats(struct kv *kv, struct kv_stats *out)
{
	MDB_txn *txn;
	MDB_stat data, clients, env;
	MDB_envinfo info;
	int rc;

	if (kv == NULL || out == NULL)
		return KV_EINVAL;
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0)
		return KV_ELMDB;
	rc = mdb_stat(txn, kv->data, &data);
	if (rc == 0)
		rc = mdb_stat(txn, kv->clients, &clients);
	if (rc == 0)
		rc = mdb_env_info(kv->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(kv->env, &env);
	mdb_txn_abort(txn);
	if (rc != 0)
		return KV_ELMDB;
	out->keys = data.ms_entries;
	out->clients = clients.ms_entries;
	out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * env.ms_psize;
	out->map_bytes = info.me_mapsize;
	out->applied_index = kv->applied_index;
	out->applied_term = kv->applied_term;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

int kv_snapshot(struct kv *kv, const char *path, raft_index *index,
		raft_term *term, char *err, size_t errlen)
{
	int fd, rc;

	if (kv == NULL || path == NULL) {
		set_err(err, errlen, "kv: snapshot: no store or no path");
		return KV_EINVAL;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, errlen, "kv: snapshot: creating %s: %s", path,
			strerror(errno));
		return KV_EIO;
	}
	/* Compacting copy: only live pages, from one read transaction, so it
	 * holds exactly the state at the applied index below. */
	rc = mdb_env_copyfd2(kv->env, fd, MDB_CP_COMPACT);
	if (rc != 0) {
		set_err(err, errlen, "kv: snapshot: copying to %s: %s", path,
			mdb_strerror(rc));
		close(fd);
		unlink(path);
		return KV_ELMDB;
	}
	/* The fd is closed whatever fsync says. */
	rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	if (rc != 0 || durable_sync_parent(path) != 0) {
		set_err(err, errlen, "kv: snapshot: syncing %s: %s", path,
			strerror(errno));
		unlink(path);
		return KV_EIO;
	}
	if (index != NULL)
		*index = kv->applied_index;
	if (term != NULL)
		*term = kv->applied_term;
	return 0;
}

int kv_snapshot_fd(struct kv *kv, int fd, char *err, size_t errlen)
{
	if (kv == NULL || fd < 0) {
		set_err(err, errlen, "kv: snapshot: no store or no file");
		return KV_EINVAL;
	}
	int rc = mdb_env_copyfd2(kv->env, fd, MDB_CP_COMPACT);
	if (rc != 0) {
		set_err(err, errlen, "kv: snapshot: copying: %s",
			mdb_strerror(rc));
		return KV_ELMDB;
	}
	return 0;
}

int kv_snapshot_info(const char *path, raft_index *index, raft_term *term,
		     char *err, size_t errlen)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	MDB_val k = {6, "format"}, v;
	int rc, rv;

	if (path == NULL) {
		set_err(err, errlen, "kv: snapshot: no path");
		return KV_EINVAL;
	}
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 4);
	/* Read-only and without a lock file: nothing else uses this file. */
	if (rc == 0)
		rc = mdb_env_open(env, path,
				  MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == MDB_NOTFOUND) {
		set_err(err, errlen, "kv: snapshot %s has no meta database",
			path);
		rv = KV_EFORMAT;
		goto out;
	}
	if (rc != 0)
		goto lmdb_err;
	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND ||
	    (rc == 0 &&
	     (v.mv_size != 4 || le_get_u32(v.mv_data) != KV_FORMAT_VERSION))) {
		set_err(err, errlen, "kv: snapshot %s: unknown format", path);
		rv = KV_EFORMAT;
		goto out;
	}
	if (rc != 0)
		goto lmdb_err;
	k.mv_size = 7;
	k.mv_data = "applied";
	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_size = 16;
		v.mv_data = NULL;
	} else if (rc != 0) {
		goto lmdb_err;
	} else if (v.mv_size != 16) {
		set_err(err, errlen, "kv: snapshot %s: bad applied record",
			path);
		rv = KV_ECORRUPT;
		goto out;
	}
	if (index != NULL)
		*index = v.mv_data ? le_get_u64(v.mv_data) : 0;
	if (term != NULL)
		*term = v.mv_data ? le_get_u64((uint8_t *)v.mv_data + 8) : 0;
	rv = 0;
	goto out;
lmdb_err:
	set_err(err, errlen, "kv: snapshot %s: %s", path, mdb_strerror(rc));
	rv = KV_ELMDB;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return rv;
}

int kv_restore(const char *dir, const char *path, char *err, size_t errlen)
{
	char *kvdir = NULL, *data = NULL, *lock = NULL;
	int fd, rv, created = 0;

	if (dir == NULL || path == NULL) {
		set_err(err, errlen, "kv: restore: no directory or no file");
		return KV_EINVAL;
	}
	rv = kv_snapshot_info(path, NULL, NULL, err, errlen);
	if (rv != 0)
		return rv;
	rv = KV_ENOMEM;
	kvdir = malloc(strlen(dir) + 4);
	data = malloc(strlen(dir) + 13);
	lock = malloc(strlen(dir) + 13);
	if (kvdir == NULL || data == NULL || lock == NULL)
		goto out;
	sprintf(kvdir, "%s/kv", dir);
	sprintf(data, "%s/kv/data.mdb", dir);
	sprintf(lock, "%s/kv/lock.mdb", dir);
	rv = KV_EIO;
	if (mkdir(kvdir, 0700) == 0) {
		created = 1;
	} else if (errno != EEXIST) {
		set_err(err, errlen, "kv: restore: mkdir %s: %s", kvdir,
			strerror(errno));
		goto out;
	}
	/* The file's contents must be durable before its name replaces the
	 * store, and the rename durable before we report success. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		set_err(err, errlen, "kv: restore: syncing %s: %s", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if (rename(path, data) != 0) {
		set_err(err, errlen, "kv: restore: moving %s to %s: %s", path,
			data, strerror(errno));
		goto out;
	}
	/* The old lock file describes the old file's readers; nobody has it
	 * open (precondition), so the next kv_open() starts a fresh one. A
	 * damage mark described the old file too. */
	sprintf(data, "%s/kv/" DAMAGED_FILE, dir);
	if (unlink(data) != 0 && errno != ENOENT) {
		set_err(err, errlen, "kv: restore: removing %s: %s", data,
			strerror(errno));
		goto out;
	}
	sprintf(data, "%s/kv/data.mdb", dir);
	if (unlink(lock) != 0 && errno != ENOENT) {
		set_err(err, errlen, "kv: restore: removing %s: %s", lock,
			strerror(errno));
		goto out;
	}
	/* Both directories the rename touched, and a new kv/'s parent. */
	if (durable_sync_parent(data) != 0 || durable_sync_parent(path) != 0 ||
	    (created && durable_sync_parent(kvdir) != 0)) {
		set_err(err, errlen, "kv: restore: syncing %s: %s", kvdir,
			strerror(errno));
		goto out;
	}
	rv = 0;
out:
	free(kvdir);
	free(data);
	free(lock);
	return rv;
}
