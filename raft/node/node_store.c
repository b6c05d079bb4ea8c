/* node_store.c - the data dir at start: members.json, --restore,
 * rebuilding a damaged store, finishing an interrupted snapshot install
 * (see node_store.h).
 */
#include "node_store.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_log.h"
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
	const struct node_config *cfg = n->cfg;
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
	/* The others reach this member at the URL the founding list gives
	 * it: one where it is not reached would start a member of a cluster
	 * that never forms. */
	for (size_t i = 0; i < cfg->n_initial; i++) {
		struct node_addr listed, adv;
		if (cfg->initial[i].id != cfg->id)
			continue;
		if (node_parse_url(cfg->initial[i].peer_url, &listed) != 0 ||
		    node_parse_url(cfg->advertise_peer, &adv) != 0 ||
		    strcmp(listed.host, adv.host) != 0 ||
		    listed.port != adv.port)
			return util_fail(
			    err, errlen,
			    "--initial-cluster gives this member (%" PRIu64
			    ") the peer URL %s, but it is reached at %s "
			    "(--advertise-peer, or --listen-peer without it)",
			    cfg->id, cfg->initial[i].peer_url,
			    cfg->advertise_peer);
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

/* The state machine at start.
 *
 * A durable state machine says where it stands (kvdraft_app.applied());
 * the core then hands out the committed entries above it. One kept in
 * memory starts from the newest snapshot the WAL continues, or from
 * nothing when the WAL starts at index 1.
 *
 * kvd's store runs LMDB with MDB_NOSYNC (kv.h): a power loss can leave
 * it damaged or behind, while the WAL below the last snapshot is gone.
 * A state machine that says it is damaged, or that is behind a log
 * compacted above it (sync() runs before every compaction, so only damage
 * brings it there), is reset (kvd's store is moved aside, kept for
 * inspection) and rebuilt from the newest snapshot file that verifies and
 * that the WAL continues (its index >= the WAL's first index - 1;
 * compaction keeps that true of the newest snapshot), the core then
 * replaying the WAL above it. With no such snapshot, a WAL that starts at
 * index 1 rebuilds everything from an empty state. Otherwise the member
 * refuses to start (one line): the entries it would need are gone here,
 * and believing them applied would serve a state it does not have; its
 * WAL must not be dropped either (its entries may be needed for a
 * quorum). */

/* Whether the snapshot @info is whole (size, CRC) and, when the
 * application can tell, holds the index and term its .meta says. */
static int snapshot_usable(struct node *n, const struct snapshot_info *info,
			   char *err, size_t errlen)
{
	const char *dir = n->cfg->data_dir;
	char path[SNAPSHOT_PATH_MAX];
	if (snapshot_verify(dir, info, err, errlen) != 0)
		return -1;
	if (n->app.snapshot_check == NULL)
		return 0;
	snapshot_data_path(dir, info->index, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return util_fail(err, errlen, "cannot open %s: %s", path,
				 strerror(errno));
	raft_index idx;
	raft_term term;
	int rc =
	    n->app.snapshot_check(n->app.ctx, fd, &idx, &term, err, errlen);
	close(fd);
	if (rc != 0)
		return -1;
	if (idx != info->index || term != info->term)
		return util_fail(err, errlen, "its index does not match");
	return 0;
}

/* The newest snapshot in DATA_DIR/snap that verifies and whose index is
 * at least @min. Returns 1 with *@out, 0 when none. */
static int usable_snapshot(struct node *n, raft_index min,
			   struct snapshot_info *out)
{
	struct snapshot_info list[SNAPSHOT_LIST_MAX];
	char serr[512] = "";
	int cnt = snapshot_list(n->cfg->data_dir, list, SNAPSHOT_LIST_MAX, NULL,
				0, serr, sizeof(serr));
	for (int i = 0; i < cnt; i++) {
		if (list[i].index < min)
			break; /* newest first: the rest are older */
		serr[0] = '\0';
		if (snapshot_usable(n, &list[i], serr, sizeof(serr)) != 0) {
			log_warn("snapshot %" PRIu64 " cannot rebuild the "
				 "state: %s",
				 list[i].index, serr);
			continue;
		}
		*out = list[i];
		return 1;
	}
	return 0;
}

/* Restores the snapshot @snap into the state machine. */
static int restore_snapshot(struct node *n, const struct snapshot_info *snap,
			    char *err, size_t errlen)
{
	char path[SNAPSHOT_PATH_MAX], aerr[512] = "";
	snapshot_data_path(n->cfg->data_dir, snap->index, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return util_fail(err, errlen, "cannot open %s: %s", path,
				 strerror(errno));
	int rc = n->app.snapshot_restore(n->app.ctx, fd, snap->index,
					 snap->term, aerr, sizeof(aerr));
	close(fd);
	if (rc != 0)
		return util_fail(
		    err, errlen, "restoring snapshot %" PRIu64 ": %s",
		    snap->index, aerr[0] ? aerr : "the application failed");
	return 0;
}

int node_open_state(struct node *n, struct wal *w, raft_index *applied,
		    raft_term *applied_term, char *err, size_t errlen)
{
	const char *dir = n->cfg->data_dir;
	char why[512] = "";
	raft_index first = wal_first_index(w);
	raft_index idx = 0;
	raft_term term = 0;
	bool durable = n->app.applied != NULL;
	int moved = snapshot_migrate(dir, why, sizeof(why));
	if (moved < 0)
		return util_fail(err, errlen, "%s", why);
	if (moved > 0)
		log_info("%d snapshot files renamed to "
			 "snap-<index>" SNAPSHOT_DATA_SUFFIX,
			 moved);
	int rc = durable
		     ? n->app.applied(n->app.ctx, &idx, &term, why, sizeof(why))
		     : 0;
	if (rc < 0)
		return util_fail(err, errlen,
				 "cannot open the state machine in %s: %s", dir,
				 why);
	bool damaged = rc == 1;
	if (!damaged && durable && idx + 1 < first) {
		snprintf(why, sizeof(why),
			 "it has applied index %" PRIu64
			 " but the WAL starts at %" PRIu64,
			 idx, first);
		damaged = true;
	}
	if (durable && !damaged) {
		*applied = idx;
		*applied_term = term;
		return 0;
	}
	struct snapshot_info snap;
	bool have = usable_snapshot(n, first - 1, &snap) == 1;
	if (!have && first > 1) {
		if (damaged)
			return util_fail(
			    err, errlen,
			    "the state machine in %s is damaged (%s) and no "
			    "snapshot in %s/" SNAPSHOT_DIR " covers the WAL, "
			    "which starts at %" PRIu64 ": remove member "
			    "%" PRIu64 " from the cluster and add it again "
			    "under a new id with an empty data dir",
			    dir, why, dir, first, n->cfg->id);
		return util_fail(err, errlen,
				 "the WAL in %s starts at %" PRIu64
				 " and no snapshot in %s/" SNAPSHOT_DIR
				 " covers the entries before it",
				 dir, first, dir);
	}
	if (damaged) {
		log_error("the state machine in %s is damaged: %s; rebuilding "
			  "it from %s",
			  dir, why,
			  have ? "the newest snapshot and the WAL"
			       : "the whole WAL");
		char aerr[512] = "";
		if (n->app.reset(n->app.ctx, aerr, sizeof(aerr)) != 0)
			return util_fail(err, errlen,
					 "rebuilding the state machine: %s",
					 aerr);
	}
	idx = 0;
	term = 0;
	if (have) {
		if (restore_snapshot(n, &snap, err, errlen) != 0)
			return -1;
		idx = snap.index;
		term = snap.term;
	}
	if (damaged)
		log_warn("state rebuilt at index %" PRIu64
			 "; the WAL (from %" PRIu64 ") is replayed above it",
			 idx, first);
	*applied = idx;
	*applied_term = term;
	return 0;
}
