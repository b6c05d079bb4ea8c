/* node_snapshot.c - the driver's side of snapshots: the snapshotter's
 * callbacks, compaction, sending and installing (see node_snapshot.h).
 */
#include "node_snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "node_log.h"
#include "node_internal.h"
#include "snapshotter.h"
#include "transport.h"
#include "util.h"
#include "wal_writer.h"

/* Taking snapshots (snapshotter.c, a background copy every --snapshot-entries
 * applied entries), log compaction after each, sending the newest to
 * members that need it (RAFT_MSG_SNAPSHOT in rd.msgs), and installing one
 * received from the leader (raft.h rule 7). */

/* Entries kept below a snapshot for members a little behind, so they
 * catch up from the log rather than a whole snapshot. */
#define SNAPSHOT_MARGIN_MAX 1000

static raft_index snapshot_margin(const struct node *n)
{
	uint64_t m = n->cfg->snapshot_entries / 2;
	return m < SNAPSHOT_MARGIN_MAX ? m : SNAPSHOT_MARGIN_MAX;
}

raft_index node_snapshot_index(const struct node *n)
{
	struct snapshot_info info;
	if (n->snap != NULL && snapshotter_newest(n->snap, &info))
		return info.index;
	struct raft_status st;
	raft_status(n->raft, &st);
	return st.snapshot_index;
}

/* @c lowered so that members sent a snapshot keep the log after it until
 * they hold it, within the bounds of snap_protect.h; the protections that
 * ended are released (and logged). */
static raft_index protect_sent(struct node *n, raft_index c, raft_index applied)
{
	struct snap_protect p[NODE_MEMBERS_MAX];
	enum snap_protect_verdict v[NODE_MEMBERS_MAX];
	size_t np = snapshotter_sent(n->snap, p, NODE_MEMBERS_MAX);
	double now = clock_now_seconds();
	for (size_t i = 0; i < np; i++) {
		raft_index match = 0;
		int rc = raft_match_index(n->raft, p[i].peer, &match);
		/* Not leader (any more): the match index is unknown here, the
		 * bounds still hold. */
		if (rc != RAFT_OK)
			match = 0;
		v[i] =
		    rc == RAFT_EINVAL
			? SNAP_PROTECT_GONE
			: snap_protect_judge(&p[i], match, applied, now, NULL);
		if (v[i] == SNAP_PROTECT_KEEP)
			continue;
		snapshotter_release(n->snap, p[i].peer);
		if (v[i] != SNAP_PROTECT_CAUGHT_UP && v[i] != SNAP_PROTECT_GONE)
			log_warn("log compaction no longer kept for member "
				 "%" PRIu64 " behind snapshot %" PRIu64 ": %s",
				 p[i].peer, p[i].index,
				 snap_protect_verdict_name(v[i]));
	}
	raft_index kept = snap_protect_clamp(c, p, v, np);
	if (kept < c)
		log_info("log compaction stops at %" PRIu64 " (not %" PRIu64
			 "): a member is being sent that snapshot",
			 kept, c);
	return kept;
}

/* A snapshot is durable and the store synced: the core forgets entries
 * up to (index - margin) and WAL segments wholly below are deleted, in
 * order behind the writes already queued. */
static void snap_taken(void *ctx, const struct snapshot_info *info)
{
	struct node *n = ctx;
	if (n->stopping)
		return;
	raft_index margin = snapshot_margin(n);
	raft_index c = info->index > margin ? info->index - margin : 0;
	struct raft_status st;
	raft_status(n->raft, &st);
	if (c > st.applied)
		c = st.applied;
	/* Never past a configuration members.json does not hold yet: a
	 * restart would start from the older one (member_config.h). */
	raft_index cfg_limit = member_config_compact_limit(&n->mcfg);
	if (c > cfg_limit && st.applied >= n->mcfg.index) {
		log_warn("log compaction stops at %" PRIu64 " (not %" PRIu64
			 "): %s does not hold the "
			 "configuration of index %" PRIu64 " yet",
			 cfg_limit, c, MEMBERS_FILE, n->mcfg.index);
	}
	if (c > cfg_limit)
		c = cfg_limit;
	c = protect_sent(n, c, st.applied);
	if (c == 0 || c <= st.snapshot_index)
		return;
	int rc = raft_compact(n->raft, c);
	if (rc != RAFT_OK) {
		log_warn("compacting the log to %" PRIu64 ": %s", c,
			 raft_strerror(rc));
		return;
	}
	struct wal_job *job = wal_job_new(NULL, 0, NULL, NULL, 0);
	if (job == NULL)
		node_fatal("WAL job", "out of memory");
	job->compact_index = c + 1;
	node_wal_submit(n, job);
	log_debug("log compacted up to %" PRIu64 " (snapshot %" PRIu64 ")", c,
		  info->index);
	node_schedule_flush(n);
}

static bool snap_running(void *ctx, raft_index *applied)
{
	struct node *n = ctx;
	*applied = n->applied;
	return !n->stopping;
}

static void snap_sent(void *ctx, raft_id peer, bool ok)
{
	struct node *n = ctx;
	if (n->stopping)
		return;
	raft_report_snapshot(n->raft, peer, ok);
	node_schedule_flush(n);
}

/* The whole file arrived and passed its checksums: now the core may see
 * the leader's SNAPSHOT message (raft.h, SNAPSHOT), with the index and
 * term of the file itself. */
static int snap_received(void *ctx, const struct snap_xfer_received *r)
{
	struct node *n = ctx;
	if (n->stopping)
		return -1;
	struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT,
			     .from = r->from,
			     .to = n->cfg->id,
			     .term = r->msg_term,
			     .index = r->info.index,
			     .log_term = r->info.term,
			     .commit = r->commit};
	/* With the membership the leader had at the snapshot's index: the
	 * log that held it is gone (raft.h, SNAPSHOT). */
	struct raft_entry cfg = {.type = RAFT_ENTRY_CONFIG,
				 .index = r->config_index,
				 .len = (uint32_t)r->config_len,
				 .data = (uint8_t *)r->config};
	if (r->config != NULL && r->config_len > 0) {
		m.entries = &cfg;
		m.n_entries = 1;
	}
	int rc = raft_step(n->raft, &m);
	if (rc != RAFT_OK)
		log_warn("snapshot %" PRIu64 " from %" PRIu64 " refused: %s",
			 r->info.index, r->from, raft_strerror(rc));
	node_schedule_flush(n);
	/* Taken: the core now holds this snapshot and it is not installed
	 * yet (rule 7 installs it on the coming ready). Else the core
	 * ignored it (not newer than its commit index, a stale term) and
	 * its file is of no use. */
	struct raft_status st;
	raft_status(n->raft, &st);
	bool taken = rc == RAFT_OK && st.snapshot_index == r->info.index &&
		     st.snapshot_term == r->info.term &&
		     n->applied < r->info.index;
	if (taken)
		n->received = r->info;
	return taken ? 0 : 1;
}

static raft_id snap_leader(void *ctx)
{
	struct node *n = ctx;
	return raft_leader(n->raft);
}

/* The membership at a snapshot's index, sent along with it. */
static int snap_config_at(void *ctx, raft_index index, uint8_t *buf, size_t cap,
			  size_t *len, raft_index *cfg_index)
{
	struct node *n = ctx;
	struct raft_membership m;
	if (raft_membership_at(n->raft, index, &m) != RAFT_OK ||
	    raft_membership_encode(&m, buf, cap, len) != RAFT_OK)
		return -1;
	*cfg_index = m.index;
	return 0;
}

void node_send_snapshot(struct node *n, const struct raft_msg *m)
{
	/* Called between raft_ready() and raft_advance(): outcomes reach
	 * the core later, from the snapshotter's own events. */
	struct member *peer = members_find(&n->members, m->to);
	/* A snapshot's chunks carry the peer token and the whole state: only
	 * to a peer that proved its membership (transport.h, "Proof of
	 * membership"). The core asks again later; meanwhile its messages
	 * make the transport's lanes ask the peer for the proof. */
	if (peer == NULL || !transport_peer_proven(n->tr, m->to)) {
		snapshotter_report_failed(n->snap, m->to);
		return;
	}
	snapshotter_send(n->snap, m, peer->peer_url);
}

/* Rule 7a: the verified file becomes this member's newest snapshot and
 * then replaces the state machine (snapshot_restore(); kvd's makes the
 * switch atomic: a crash leaves the old store or the new one); the WAL job
 * of this ready then drops the log (7b). The snapshot is kept first: the
 * log that restarts after it is all a restart has, and a state kept in
 * memory is rebuilt from this file. */
void node_install_snapshot(struct node *n,
			   const struct raft_snapshot_meta *meta)
{
	char recv[SNAPSHOT_PATH_MAX], path[SNAPSHOT_PATH_MAX], err[512] = "";
	double t0 = clock_now_seconds();
	snapshotter_received_path(n->snap, meta->index, recv);
	/* The state machine must not change under a running copy. */
	snapshotter_wait(n->snap);
	/* The transfer verified the file's size and CRC: kept, not read
	 * again. */
	struct snapshot_info info = n->received;
	if (info.index != meta->index || info.term != meta->term)
		node_fatal("keeping the received snapshot",
			   "it is not the one the core took");
	if (snapshotter_adopt(n->snap, &info, recv, path, err, sizeof(err)) !=
	    0)
		node_fatal("keeping the received snapshot", err);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		node_fatal("installing the received snapshot", strerror(errno));
	int rc = n->app.snapshot_restore(n->app.ctx, fd, meta->index,
					 meta->term, err, sizeof(err));
	close(fd);
	if (rc != 0)
		node_fatal("installing the received snapshot",
			   err[0] ? err : "the application failed");
	n->applied = meta->index;
	snapshotter_installed(n->snap, clock_now_seconds() - t0);
	log_info("installed snapshot at index %" PRIu64 " term %" PRIu64
		 " in %.3f s",
		 meta->index, meta->term, clock_now_seconds() - t0);
}

bool node_snapshot_busy(const struct node *n)
{
	return n->snap != NULL && snapshotter_busy(n->snap);
}

void node_snapshot_wait(struct node *n)
{
	if (n->snap != NULL)
		snapshotter_wait(n->snap);
}

void node_snapshot_applied(struct node *n)
{
	if (n->snap != NULL && !n->stopping)
		snapshotter_applied(n->snap, n->applied);
}

int node_open_snapshots(struct node *n, struct evhttp *peer_http, char *err,
			size_t errlen)
{
	const struct node_config *cfg = n->cfg;
	const char *source = cfg->source_host;
	struct snapshotter_options so = {
	    .self = cfg->id,
	    .data_dir = cfg->data_dir,
	    .every_entries = cfg->snapshot_entries,
	    .keep = cfg->snapshot_keep,
	    .source_host = source,
	    .token = cfg->peer_token,
	    .tls_client = n->tls_client,
	    .taken = snap_taken,
	    .config_at = snap_config_at,
	    .sent = snap_sent,
	    .received = snap_received,
	    .leader = snap_leader,
	    .running = snap_running,
	    .app = &n->app,
	    .ctx = n,
	};
	if (snapshotter_new(n->base, &so, &n->snap, err, errlen) != 0)
		return -1;
	if (snapshotter_attach(n->snap, peer_http) != 0)
		return util_fail(err, errlen, "cannot serve %s",
				 SNAP_XFER_PATH);
	return 0;
}
