/* node_store.c - the data dir at start: members.json, --restore,
 * rebuilding a damaged store, finishing an interrupted snapshot install
 * (see node_store.h).
 */
#include "node_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "members_file.h"
#include "node_internal.h"
#include "snapshot.h"
#include "util.h"
#include "wal.h"

/* Whether @dir has any entry besides . and .. (-1: cannot tell). */
static int dir_has_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/* members.json, or on first boot the founding members from the flags. */
int node_open_members(struct node *n, char *err, size_t errlen)
{
	const struct config *cfg = n->cfg;
	char merr[512];
	int rc = members_load(cfg->data_dir, &n->members, merr, sizeof(merr));
	if (rc < 0)
		return util_fail(err, errlen, "%s", merr);
	if (rc == 1) {
		if (cfg->n_initial > 0)
			log_info("data dir %s already holds state: ignoring "
				 "--initial-cluster",
				 cfg->data_dir);
		if (members_find(&n->members, cfg->id) == NULL)
			log_warn("this member (%" PRIu64 ") is not in %s/%s",
				 cfg->id, cfg->data_dir, MEMBERS_FILE);
		return 0;
	}
	char wal_dir[4200];
	snprintf(wal_dir, sizeof(wal_dir), "%s/wal", cfg->data_dir);
	int has = dir_has_files(wal_dir);
	/* A member started without --initial-cluster writes members.json
	 * only once it has applied a configuration, but its WAL exists from
	 * its first start: stopped before that (or between receiving the
	 * configuration and applying it) it has a WAL and no members.json.
	 * It is still a member waiting to be added: the configuration
	 * entries its WAL may hold are replayed by the core, and the leader
	 * sends the rest. A founding member (--initial-cluster) writes
	 * members.json before its WAL, so there a WAL without it means the
	 * file was lost: guessing could make a second cluster. */
	if (has != 0 && (cfg->n_initial > 0 || has < 0))
		return util_fail(
		    err, errlen,
		    "data dir %s holds a WAL but no %s: refusing to "
		    "guess the membership",
		    cfg->data_dir, MEMBERS_FILE);
	if (cfg->n_initial == 0) {
		log_info("%s data dir and no --initial-cluster: waiting to "
			 "be added to a cluster",
			 has != 0 ? "no configuration applied yet in the"
				  : "empty");
		return 0;
	}
	for (size_t i = 0; i < cfg->n_initial; i++) {
		struct member *m = &n->members.m[n->members.n++];
		m->id = cfg->initial[i].id;
		strcpy(m->peer_url, cfg->initial[i].peer_url);
		m->voter = 1;
	}
	if (members_store(cfg->data_dir, &n->members, merr, sizeof(merr)) != 0)
		return util_fail(err, errlen, "%s", merr);
	log_info("first boot: founding members from --initial-cluster stored "
		 "in %s/%s",
		 cfg->data_dir, MEMBERS_FILE);
	return 0;
}

/* A damaged store.
 *
 * LMDB runs with MDB_NOSYNC (kv.h): a power loss can leave data.mdb
 * damaged or behind, while the WAL below the last snapshot is gone. At
 * start the store is checked (store_damage()); a damaged one is moved
 * aside to kv.damaged-<time> (kept for inspection, never deleted) and
 * rebuilt from the newest snapshot file that verifies and that the WAL
 * continues (its index >= the WAL's first index - 1; compaction keeps
 * that true of the newest snapshot), the core then replaying the WAL
 * above it. With no such snapshot, a WAL that starts at index 1 rebuilds
 * everything from an empty store. Otherwise the member refuses to start
 * (one line): the entries it would need are gone here, and believing
 * them applied would serve a state it does not have; its WAL must not
 * be dropped either (its entries may be needed for a quorum). */

/* Records walked from each end of each database at start (kv_check()):
 * a store of up to twice this many keys is read whole, a larger one in
 * bounded time (a few hundred ms at most). */
#define STORE_CHECK_RECORDS 100000

/* Opens the store and checks it against the WAL @w. Returns 0 with
 * n->kv open, 1 when it is damaged (@why says how; n->kv NULL), -1 when
 * it cannot be opened for another reason (@why). */
static int store_damage(struct node *n, struct wal *w, char *why, size_t whylen)
{
	struct kv_options ko;
	kv_options_init(&ko);
	int rc = kv_open(n->cfg->data_dir, &ko, &n->kv, why, whylen);
	if (rc == KV_ECORRUPT)
		return 1;
	if (rc != 0)
		return -1;
	rc = kv_check(n->kv, STORE_CHECK_RECORDS, why, whylen);
	if (rc == 0) {
		raft_index applied = kv_applied_index(n->kv);
		raft_index first = wal_first_index(w);
		if (applied + 1 >= first)
			return 0;
		/* A store behind the log that was compacted above it: its
		 * last commits were lost (kv_sync() runs before every
		 * compaction, so only damage brings it here). */
		snprintf(why, whylen,
			 "it has applied index %" PRIu64
			 " but the WAL starts at %" PRIu64,
			 applied, first);
		rc = KV_ECORRUPT;
	}
	kv_close(n->kv);
	n->kv = NULL;
	return rc == KV_ECORRUPT ? 1 : -1;
}

/* The newest snapshot in DATA_DIR/snap that verifies and whose index is
 * at least @min. Returns 1 with *@out, 0 when none. */
static int usable_snapshot(const char *dir, raft_index min,
			   struct snapshot_info *out)
{
	struct snapshot_info list[SNAPSHOT_LIST_MAX];
	char serr[512] = "", path[SNAPSHOT_PATH_MAX];
	int cnt = snapshot_list(dir, list, SNAPSHOT_LIST_MAX, NULL, 0, serr,
				sizeof(serr));
	for (int i = 0; i < cnt; i++) {
		raft_index idx;
		raft_term term;
		if (list[i].index < min)
			break; /* newest first: the rest are older */
		snapshot_data_path(dir, list[i].index, path);
		if (snapshot_verify(dir, &list[i], serr, sizeof(serr)) != 0 ||
		    kv_snapshot_info(path, &idx, &term, serr, sizeof(serr)) !=
			0 ||
		    idx != list[i].index || term != list[i].term) {
			log_warn("snapshot %" PRIu64 " cannot rebuild the "
				 "store: %s",
				 list[i].index,
				 serr[0] ? serr : "its index does not match");
			continue;
		}
		*out = list[i];
		return 1;
	}
	return 0;
}

/* Renames DATA_DIR/kv to DATA_DIR/kv.damaged-<unix time>[-k] and syncs
 * the data dir; the new name goes into @aside. */
static int move_store_aside(const char *dir, char *aside, size_t cap, char *err,
			    size_t errlen)
{
	char from[SNAPSHOT_PATH_MAX];
	snprintf(from, sizeof(from), "%s/kv", dir);
	long long t = (long long)time(NULL);
	for (int k = 0; k < 100; k++) {
		if (k == 0)
			snprintf(aside, cap, "%s/kv.damaged-%lld", dir, t);
		else
			snprintf(aside, cap, "%s/kv.damaged-%lld-%d", dir, t,
				 k);
		struct stat st;
		if (lstat(aside, &st) == 0)
			continue;
		if (rename(from, aside) != 0)
			return util_fail(err, errlen,
					 "cannot move the damaged store %s "
					 "aside: %s",
					 from, strerror(errno));
		if (durable_sync_dir(dir) != 0)
			return util_fail(err, errlen, "cannot sync %s: %s", dir,
					 strerror(errno));
		return 0;
	}
	return util_fail(err, errlen, "cannot find a name to move %s aside",
			 from);
}

/* Opens the store, rebuilding a damaged one (see above). */
int node_open_store(struct node *n, struct wal *w, char *err, size_t errlen)
{
	const char *dir = n->cfg->data_dir;
	char why[512] = "", kerr[512] = "", aside[SNAPSHOT_PATH_MAX];
	int rc = store_damage(n, w, why, sizeof(why));
	if (rc == 0)
		return 0;
	if (rc < 0)
		return util_fail(err, errlen, "cannot open the store in %s: %s",
				 dir, why);
	raft_index first = wal_first_index(w);
	struct snapshot_info snap;
	bool have = usable_snapshot(dir, first - 1, &snap) == 1;
	if (!have && first > 1)
		return util_fail(
		    err, errlen,
		    "the store in %s/kv is damaged (%s) and no snapshot in "
		    "%s/" SNAPSHOT_DIR " covers the WAL, which starts at "
		    "%" PRIu64 ": remove member %" PRIu64 " from the cluster "
		    "and add it again under a new id with an empty data dir",
		    dir, why, dir, first, n->cfg->id);
	log_error("the store in %s/kv is damaged: %s; rebuilding it from %s",
		  dir, why,
		  have ? "the newest snapshot and the WAL" : "the whole WAL");
	if (move_store_aside(dir, aside, sizeof(aside), err, errlen) != 0)
		return -1;
	log_warn("the damaged store was moved aside to %s", aside);
	if (have) {
		char src[SNAPSHOT_PATH_MAX], tmp[SNAPSHOT_PATH_MAX + 32];
		snapshot_data_path(dir, snap.index, src);
		snprintf(tmp, sizeof(tmp),
			 "%s/" SNAPSHOT_DIR "/rebuild.mdb.tmp", dir);
		if (snapshot_copy_file(src, tmp, kerr, sizeof(kerr)) != 0)
			return util_fail(err, errlen,
					 "rebuilding the store: %s", kerr);
		if (kv_restore(dir, tmp, kerr, sizeof(kerr)) != 0) {
			unlink(tmp);
			return util_fail(err, errlen,
					 "rebuilding the store from snapshot "
					 "%" PRIu64 ": %s",
					 snap.index, kerr);
		}
	}
	struct kv_options ko;
	kv_options_init(&ko);
	rc = kv_open(dir, &ko, &n->kv, kerr, sizeof(kerr));
	if (rc == 0 && kv_applied_index(n->kv) + 1 < first) {
		snprintf(kerr, sizeof(kerr), "it holds index %" PRIu64,
			 kv_applied_index(n->kv));
		rc = KV_ECORRUPT;
	}
	if (rc != 0)
		return util_fail(err, errlen,
				 "cannot open the rebuilt store in %s: %s", dir,
				 kerr);
	log_warn("store rebuilt at index %" PRIu64 "; the WAL (from %" PRIu64
		 ") is replayed above it",
		 kv_applied_index(n->kv), first);
	return 0;
}

/* kvd --restore FILE: seeds an empty data dir's store from a snapshot
 * file (a copy of it: the user's file stays). Startup then finds a store
 * the WAL does not continue and starts the log after it. */
int node_restore_file(struct node *n, const char *file, char *err,
		      size_t errlen)
{
	const char *dir = n->cfg->data_dir;
	char p[SNAPSHOT_PATH_MAX], tmp[SNAPSHOT_PATH_MAX + 32], kerr[512] = "";
	struct stat st;
	snprintf(p, sizeof(p), "%s/kv/data.mdb", dir);
	if (stat(p, &st) == 0) {
		log_info("data dir %s already holds a store: ignoring "
			 "--restore",
			 dir);
		return 0;
	}
	raft_index idx;
	raft_term term;
	if (kv_snapshot_info(file, &idx, &term, kerr, sizeof(kerr)) != 0)
		return util_fail(err, errlen,
				 "--restore %s: not a kvd snapshot: %s", file,
				 kerr);
	if (snapshot_make_dir(dir, err, errlen) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_DIR "/restore.mdb.tmp", dir);
	int in = open(file, O_RDONLY | O_CLOEXEC);
	/* A new file: restore.mdb.tmp may be a symlink planted in snap/. */
	int out = durable_create_file(tmp);
	char *buf = malloc(1u << 20);
	int rc = in < 0 || out < 0 || buf == NULL ? -1 : 0;
	while (rc == 0) {
		ssize_t got = read(in, buf, 1u << 20);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -1 : 0;
			break;
		}
		for (ssize_t off = 0; off < got && rc == 0;) {
			ssize_t w = write(out, buf + off, (size_t)(got - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = -1;
			else
				off += w;
		}
	}
	int e = errno;
	free(buf);
	if (in >= 0)
		close(in);
	if (out >= 0 && (fsync(out) != 0 || close(out) != 0) && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		return util_fail(err, errlen, "--restore: copying %s: %s", file,
				 strerror(e));
	}
	if (kv_restore(dir, tmp, kerr, sizeof(kerr)) != 0) {
		unlink(tmp);
		return util_fail(err, errlen, "--restore %s: %s", file, kerr);
	}
	log_info("restored the store from %s: index %" PRIu64 " term %" PRIu64,
		 file, idx, term);
	return 0;
}
