/* node.c - the driver: raft core + WAL writer + LMDB + transport on one
 * loop (see node.h).
 *
 * How one ready is carried out (raft.h, "Ordering contract"; the rule
 * numbers are raft.h's, and the code cites them at each step):
 *  1. entries and hard state go to the WAL writer thread as one job; the
 *     thread writes and syncs queued jobs in order (group commit);
 *  2. rd.msgs are handed to the transport at once: a leader replicates
 *     while its own write is in flight (thesis §10.2.1);
 *  3. rd.msgs_after_persist travel with the job and are sent only once the
 *     job, and every job before it, is durable;
 *  4. then raft_persisted() with the job's last entry (wal_done_cb);
 *  5. rd.committed is applied to LMDB in one transaction, which completes
 *     the HTTP requests this member proposed (matched by request id);
 *  6. rd.reads are served once the applied index reaches them, and
 *     rd.failed_reads are answered at once;
 *  7. a received snapshot replaces the store before anything else of its
 *     ready (7a), and that ready's job drops the log it supersedes (7b).
 */
#include "node_internal.h"

#include <errno.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node_log.h"
#include "member_config.h"
#include "ready_plan.h"
#include "recovery_plan.h"
#include "snapshotter.h"
#include "tls.h"
#include "transport.h"
#include "wal.h"
#include "wal_writer.h"
#include "clock.h"
#include "node_log.h"
#include "durable.h"
#include "util.h"

/* The WAL and the core agree on the largest index. */
_Static_assert(WAL_MAX_INDEX == RAFT_INDEX_MAX,
	       "the WAL and the core must agree on the largest index");
/* How often each member announces itself (and its client URL) to every
 * peer: followers otherwise only hear from the leader and would never
 * learn each other's client URLs for /v1/status. */
#define HELLO_INTERVAL_MS 1000
/* Readies processed per flush before yielding to the loop. */
#define READIES_PER_FLUSH 16

const char *node_strerror(int err)
{
	switch (err) {
	case NODE_OK:
		return "ok";
	case NODE_ENOLEADER:
		return "no leader is known";
	case NODE_EBUSY:
		return "too many requests are pending";
	case NODE_ETOO_LARGE:
		return "the command is too large";
	case NODE_ESTOPPING:
		return "the member is shutting down";
	case NODE_EINTERNAL:
		return "internal error";
	case NODE_ETIMEOUT:
		return "the request timed out";
	case NODE_EUNAVAILABLE:
		return "no leader is reachable";
	case NODE_ENOTLEADER:
		return "this member does not lead";
	case NODE_EINVAL:
		return "invalid argument";
	case NODE_ETRANSFER:
		return "leadership transfer in progress";
	case KVDRAFT_ERETRY:
		return "the state machine has no space; applying again later";
	case NODE_EDISKFULL:
		return "disk full: this member cannot write until space is "
		       "freed";
	default:
		return "unknown error";
	}
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	if (v == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 32);
	}
	return v;
}

void node_schedule_flush(struct node *n)
{
	if (!n->flush_scheduled && !n->stopping) {
		n->flush_scheduled = true;
		event_active(n->flush_ev, EV_READ, 0);
	}
}

/* ---- carrying out a ready ---- */

void node_send_msgs(struct node *n, const struct raft_msg *msgs, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++) {
		if (msgs[i].type == RAFT_MSG_SNAPSHOT) {
			node_send_snapshot(n, &msgs[i]);
			continue;
		}
		int rc = transport_send(n->tr, &msgs[i]);
		/* A full queue is counted by the transport; Raft
		 * retransmits what is lost. */
		if (rc != TRANSPORT_OK && rc != TRANSPORT_EFULL &&
		    log_enabled(LOG_LEVEL_DEBUG))
			log_debug("cannot send %s to %" PRIu64 ": %s",
				  raft_msg_type_name(msgs[i].type), msgs[i].to,
				  transport_strerror(rc));
	}
}

static void note_soft_state(struct node *n, enum raft_role role, raft_id leader,
			    raft_term term)
{
	bool known =
	    leader != 0 && (role == RAFT_LEADER || role == RAFT_FOLLOWER);
	if (known != n->leader_known || leader != n->leader) {
		n->leader_epoch++;
		if (known && leader != n->leader)
			n->metrics.leader_changes++;
		if (role == RAFT_LEADER && leader == n->cfg->id)
			log_info("elected leader term=%" PRIu64, term);
		else if (known)
			log_info("leader is %" PRIu64 " term=%" PRIu64, leader,
				 term);
		else
			log_info("no leader known (%s) term=%" PRIu64,
				 raft_role_name(role), term);
	}
	n->role = role;
	n->leader = leader;
	n->leader_known = known;
	if (known)
		node_waits_finish_transfers(n, leader);
}

void node_fatal(const char *what, const char *detail)
{
	/* The WAL or the state machine failed: nothing unsynced was
	 * acknowledged, so
	 * stopping at once loses nothing; a restart recovers from disk. */
	log_error("%s: %s; exiting", what, detail);
	exit(1);
}

/* members.json and the transport follow the configuration once it is
 * applied here (member_config.h). */
void node_store_members(struct node *n)
{
	char merr[512];
	if (member_config_store(&n->mcfg, n->applied, &n->members, merr,
				sizeof(merr)) != 0)
		log_error("%s; retrying, and the log keeps the configuration "
			  "entry meanwhile",
			  merr);
}

/* The applied index moved: the core hears of it, and a snapshot may be
 * due. */
void node_note_applied(struct node *n)
{
	raft_applied(n->raft, n->applied);
	node_snapshot_applied(n);
}

static void process_ready(struct node *n)
{
	struct raft_ready rd;
	raft_ready(n->raft, &rd);
	n->metrics.ready_batches++;
	if (rd.soft_changed) {
		struct raft_status st;
		raft_status(n->raft, &st);
		note_soft_state(n, rd.role, rd.leader, st.term);
	}
	/* The plan (raft/node/ready_plan.h, which the simulated cluster
	 * runs too) says what this ready writes, when its messages leave and
	 * where the write is made; a new commit index alone rides with the
	 * next job (or the one node_close() makes). */
	struct ready_pipeline pl = {.jobs_in_flight = n->wal.inflight,
				    .halted = n->wal.halted,
				    .hs_last = n->wal.hs_last,
				    .hs_deferred = n->wal.hs_deferred};
	struct ready_plan p;
	ready_plan(&rd, &pl, raft_role(n->raft), &p);

	/* Rule 7a: the received snapshot replaces the store first. */
	if (p.install_snapshot)
		node_install_snapshot(n, &rd.snapshot);

	/* Rules 1 and 3: storage, and the messages that wait for it. */
	n->wal.hs_last = p.next.hs_last;
	n->wal.hs_deferred = p.next.hs_deferred;
	struct wal_job *job = NULL;
	if (p.job) {
		job = wal_job_new(
		    rd.entries, rd.n_entries, p.job_has_hs ? &p.job_hs : NULL,
		    rd.msgs_after_persist, rd.n_msgs_after_persist);
		if (job == NULL)
			node_fatal("WAL job", "out of memory");
		if (p.job_install) {
			/* Rule 7b, before this ready's entries. */
			job->install_index = rd.snapshot.index;
			job->install_term = rd.snapshot.term;
		}
		n->metrics.wal_entries += rd.n_entries;
	}
	/* Rule 2: these go now, in parallel with the write; before the job
	 * is handed over, whose thread wake-up may take this very CPU. */
	node_send_msgs(n, rd.msgs, rd.n_msgs);
	if (p.send_after_persist_now)
		node_send_msgs(n, rd.msgs_after_persist,
			       rd.n_msgs_after_persist);
	/* A follower with nothing else in flight writes on this thread, at
	 * the end of this ready (ready_plan.c says why). */
	bool write_here = p.write_inline;
	if (job != NULL && !write_here)
		node_wal_submit(n, job);

	/* Rule 5. */
	raft_index applied_before = n->applied;
	if (rd.n_committed > 0)
		node_apply_committed(n, rd.committed, rd.n_committed);

	/* Rule 6. */
	for (size_t i = 0; i < rd.n_reads; i++) {
		struct node_wait *w = node_waits_take(n, rd.reads[i].ctx);
		if (w == NULL)
			continue;
		if (rd.reads[i].index <= n->applied) {
			node_wait_finish(n, w, NODE_OK, NULL);
			continue;
		}
		node_waits_queue_read(n, w, rd.reads[i].index);
	}
	for (size_t i = 0; i < rd.n_failed_reads; i++) {
		struct node_wait *w =
		    node_waits_take(n, rd.failed_reads[i].ctx);
		if (w == NULL)
			continue;
		node_wait_finish(n, w, NODE_EUNAVAILABLE, NULL);
	}
	/* Membership: peers follow a configuration as soon as it takes
	 * effect, members.json once it is applied (member_config.h). */
	if (rd.config_changed)
		member_config_apply(&n->mcfg, rd.config, &n->members);
	node_store_members(n);
	raft_advance(n->raft, &rd);
	if (n->applied != applied_before)
		node_note_applied(n);
	node_waits_serve_reads(n);
	if (write_here)
		node_wal_write_inline(n, job);
}

/* With leader leases the core's tick count must not fall behind real
 * time: a leader whose ticks lagged (the loop stalled, the process was
 * stopped) would hold its lease too long (raft.h, lease_ticks). Every
 * tick due by the monotonic clock is made, before each ready too, since
 * after a stall the loop may run a read before the timer. Past an
 * election timeout and two ticks of lag the rest are skipped: by then
 * every lease the core held has ended, and a lease taken later is
 * measured from then. */
static void catch_up_ticks(struct node *n)
{
	uint64_t due = (clock_now_ms() - n->ticks_origin_ms) / n->tick_ms;
	uint64_t most = (uint64_t)n->election_ticks + 2;

	if (due <= n->ticks_done)
		return;
	if (due - n->ticks_done > most)
		n->ticks_done = due - most;
	while (n->ticks_done < due) {
		raft_tick(n->raft);
		n->ticks_done++;
	}
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	n->flush_scheduled = false;
	if (n->stopping)
		return;
	for (int i = 0; i < READIES_PER_FLUSH; i++) {
		/* Before each ready: the one before may have taken long
		 * (a large apply), and this one may grant lease reads. */
		if (n->cfg->lease_reads)
			catch_up_ticks(n);
		if (!raft_has_ready(n->raft))
			break;
		process_ready(n);
	}
	if (raft_has_ready(n->raft))
		node_schedule_flush(n);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (n->stopping)
		return;
	if (n->cfg->lease_reads)
		catch_up_ticks(n);
	else
		raft_tick(n->raft);
	node_schedule_flush(n);
}

static void hello_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (n->stopping)
		return;
	for (size_t i = 0; i < n->members.n; i++) {
		if (n->members.m[i].id == n->cfg->id)
			continue;
		/* Term 0 marks an announcement: no raft message has it, and
		 * on_messages() drops it before the core. */
		struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT_RESP,
				     .from = n->cfg->id,
				     .to = n->members.m[i].id};
		transport_send(n->tr, &m);
	}
}

static void on_messages(void *ctx, const struct raft_msg *msgs, size_t cnt,
			raft_id from, const char *from_client_url,
			const char *from_addr, const char *from_peer_url)
{
	struct node *n = ctx;
	if (from_client_url != NULL && from_client_url[0] != '\0') {
		struct member *m = members_find(&n->members, from);
		if (m != NULL && strcmp(m->client_url, from_client_url) != 0 &&
		    strlen(from_client_url) < sizeof(m->client_url)) {
			strcpy(m->client_url, from_client_url);
			log_info("member %" PRIu64 " serves clients at %s",
				 from, from_client_url);
		}
	}
	if (n->stopping)
		return;
	/* A member waiting to be added, or one whose configuration is
	 * stale, learns where its peers are: the core follows a leader it
	 * does not know yet (thesis §4.1), and its answers must reach it. */
	if (members_find(&n->members, from) == NULL)
		member_config_discover(
		    &n->mcfg, &n->members, from, from_client_url, from_addr,
		    from_peer_url, n->cfg->peer_token != NULL);
	for (size_t i = 0; i < cnt; i++) {
		if (msgs[i].term == 0 &&
		    msgs[i].type == RAFT_MSG_HEARTBEAT_RESP)
			continue; /* an announcement (hello_cb) */
		int rc = raft_step(n->raft, &msgs[i]);
		if (rc != RAFT_OK && log_enabled(LOG_LEVEL_DEBUG))
			log_debug("step %s from %" PRIu64 ": %s",
				  raft_msg_type_name(msgs[i].type),
				  msgs[i].from, raft_strerror(rc));
	}
	node_schedule_flush(n);
}

static void transport_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	static const enum log_level map[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
					     LOG_LEVEL_INFO, LOG_LEVEL_DEBUG};
	if (level < 0 || level > 3)
		level = 0;
	log_msg(map[level], "transport: %s", line);
}

static void wal_log(void *ctx, const char *line)
{
	(void)ctx;
	log_warn("wal: %s", line);
}

/* ---- opening and closing ---- */

void kvdraft_app_init(struct kvdraft_app *app)
{
	memset(app, 0, sizeof(*app));
	app->size = sizeof(*app);
	app->identity_offset = -1;
}

/* Copies the fields @app's program knew of (app->size) over the defaults,
 * and checks the required callbacks. */
static int app_copy(const struct kvdraft_app *app, struct kvdraft_app *out,
		    char *err, size_t errlen)
{
	kvdraft_app_init(out);
	if (app == NULL || app->size < offsetof(struct kvdraft_app, flags))
		return util_fail(err, errlen,
				 "the application's callbacks are missing "
				 "(kvdraft_app_init())");
	memcpy(out, app, app->size < sizeof(*out) ? app->size : sizeof(*out));
	out->size = sizeof(*out);
	if (out->apply == NULL || out->snapshot_write == NULL ||
	    out->snapshot_restore == NULL ||
	    (out->applied != NULL && out->reset == NULL))
		return util_fail(err, errlen,
				 "the application lacks a required callback "
				 "(apply, snapshot_write, snapshot_restore; "
				 "reset with applied)");
	if (out->identity_offset > (long)(64 * 1024))
		return util_fail(err, errlen,
				 "identity_offset is out of range");
	return 0;
}

/* WAL recovery and the core's restore: every entry in the WAL, and the
 * state machine's applied index, so the core hands out exactly the
 * committed entries above it (replay: never twice, never a gap). */
static int open_storage(struct node *n, struct wal **walp, raft_index *applied,
			raft_term *applied_term, char *err, size_t errlen)
{
	const struct node_config *cfg = n->cfg;
	char wal_dir[4200], werr[512] = "";
	snprintf(wal_dir, sizeof(wal_dir), "%s/wal", cfg->data_dir);
	if (durable_make_dirs(wal_dir) != 0)
		return util_fail(err, errlen, "cannot create %s: %s", wal_dir,
				 strerror(errno));
	struct wal_options wo = {.log = wal_log,
				 .segment_bytes = cfg->wal_segment_bytes,
				 .max_entry_bytes = n->cfg->max_entry_bytes};
	int rc = wal_open(wal_dir, &wo, walp, werr, sizeof(werr));
	if (rc != WAL_OK)
		return util_fail(err, errlen,
				 "cannot open the WAL in %s: %s: %s", wal_dir,
				 wal_strerror(rc), werr);
	return node_open_state(n, *walp, applied, applied_term, err, errlen);
}

static int open_raft(struct node *n, struct wal *w, raft_index state_applied,
		     raft_term state_term, char *err, size_t errlen)
{
	const struct node_config *cfg = n->cfg;
	struct wal_hard_state whs;
	struct raft_entry *ents = NULL;
	size_t n_ents = 0;
	char werr[512] = "";
	wal_hard_state(w, &whs);
	/* The plan (raft/node/recovery_plan.h, which the simulated cluster
	 * runs too) says, from every entry in the WAL and the store's
	 * applied index, where the log restarts and what the core gets. */
	struct recovery_state in = {
	    .first = wal_first_index(w),
	    .last = wal_last_index(w),
	    .hs = {.term = whs.term, .vote = whs.vote, .commit = whs.commit},
	    .applied = state_applied,
	    .applied_term = state_term,
	};
	if (in.last >= in.first) {
		int rc = wal_read(w, in.first, in.last, &ents, &n_ents, werr,
				  sizeof(werr));
		if (rc != WAL_OK)
			return util_fail(err, errlen,
					 "cannot read the WAL: %s: %s",
					 wal_strerror(rc), werr);
	}
	in.entries = ents;
	in.n_entries = n_ents;
	struct recovery_plan p;
	if (recovery_plan(&in, &p) != RECOVERY_OK) {
		wal_free_entries(ents, n_ents);
		return util_fail(err, errlen,
				 "the WAL starts at %" PRIu64
				 " but the store has only applied %" PRIu64,
				 in.first, in.applied);
	}
	if (p.reset) {
		/* Raft.h rule 7 on recovery: a crash after a received
		 * snapshot replaced the store but before the WAL was reset
		 * (or kvd --restore seeded the store). */
		log_warn("the store holds a snapshot at index %" PRIu64
			 " that the WAL (entries %" PRIu64 "..%" PRIu64
			 ") does not continue: the log restarts after it",
			 in.applied, in.first, in.last);
		int rc = wal_reset(w, p.reset_index, werr, sizeof(werr));
		if (rc != WAL_OK) {
			wal_free_entries(ents, n_ents);
			return util_fail(err, errlen,
					 "cannot reset the WAL: %s: %s",
					 wal_strerror(rc), werr);
		}
	}
	raft_index applied = p.applied;
	raft_index first = p.first, last = p.last;
	struct raft_restore rs = {
	    .hs = p.hs,
	    .entries = p.n_entries > 0 ? ents + p.skip : NULL,
	    .n_entries = p.n_entries,
	    .snapshot_index = p.snapshot_index,
	    .snapshot_term = p.snapshot_term,
	    .applied = applied,
	};

	raft_id voters[NODE_MEMBERS_MAX];
	const char *addrs[NODE_MEMBERS_MAX];
	size_t n_voters = 0;
	for (size_t i = 0; i < n->members.n; i++)
		if (n->members.m[i].voter) {
			addrs[n_voters] = n->members.m[i].peer_url;
			voters[n_voters++] = n->members.m[i].id;
		}
	/* A compacted log may have lost the configuration entries:
	 * members.json follows the last applied one (member_config.h). */
	uint8_t snap_cfg[RAFT_MEMBERSHIP_MAX_BYTES];
	size_t snap_cfg_len = 0;
	if (p.needs_config && rs.snapshot_config == NULL && n->members.n > 0 &&
	    member_config_encode(&n->members, snap_cfg, sizeof(snap_cfg),
				 &snap_cfg_len) == RAFT_OK) {
		rs.snapshot_config = snap_cfg;
		rs.snapshot_config_len = snap_cfg_len;
	}

	/* Ticks: heartbeat/2 (at most 50 ms), so timeouts keep their
	 * resolution; the core randomizes elections in [e, 2e). */
	unsigned tick_ms = cfg->heartbeat_ms / 2;
	if (tick_ms > 50)
		tick_ms = 50;
	if (tick_ms == 0)
		tick_ms = 1;
	unsigned hb = cfg->heartbeat_ms / tick_ms;
	unsigned el = cfg->election_timeout_ms / tick_ms;
	if (hb == 0)
		hb = 1;
	if (el <= hb)
		el = hb + 1;
	if (cfg->lease_reads && el < 4)
		return util_fail(err, errlen,
				 "leader leases need an election timeout of "
				 "at least 4 ticks (%u ms)",
				 4 * tick_ms);
	struct raft_options ro = {
	    .id = cfg->id,
	    .voters = voters,
	    .voter_addrs = addrs,
	    .n_voters = n_voters,
	    .election_ticks = el,
	    .heartbeat_ticks = hb,
	    .seed = random_u64(),
	    .pre_vote = true,
	    .check_quorum = true,
	    .max_entry_bytes = n->cfg->max_entry_bytes,
	    .lease_ticks = cfg->lease_reads ? el - 3 : 0,
	};
	n->wal.hs_last = rs.hs;
	int rc = raft_new(&ro, &rs, &n->raft);
	wal_free_entries(ents, n_ents);
	if (rc != RAFT_OK)
		return util_fail(err, errlen, "cannot start the raft core: %s",
				 raft_strerror(rc));
	n->applied = applied;
	n->tick_ms = tick_ms;
	n->election_ticks = el;
	n->ticks_origin_ms = clock_now_ms();
	n->ticks_done = 0;
	struct timeval tv = clock_ms_to_timeval(tick_ms);
	n->tick_ev = event_new(n->base, -1, EV_PERSIST, tick_cb, n);
	if (n->tick_ev == NULL || event_add(n->tick_ev, &tv) != 0)
		return util_fail(err, errlen, "cannot start the tick timer");
	log_info("recovered: term=%" PRIu64 " vote=%" PRIu64 " commit=%" PRIu64
		 " log=[%" PRIu64 ", %" PRIu64 "] applied=%" PRIu64
		 " voters=%zu tick=%ums "
		 "election=%u heartbeat=%u ticks",
		 rs.hs.term, rs.hs.vote, rs.hs.commit, first, last, applied,
		 n_voters, tick_ms, el, hb);
	return 0;
}

static void on_round_trip(void *ctx, raft_id peer, double seconds)
{
	struct node *n = ctx;
	struct node_metrics *m = &n->metrics;
	size_t i = 0;
	while (i < m->n_peer_rtt && m->peer_rtt[i].id != peer)
		i++;
	if (i == m->n_peer_rtt) {
		if (m->n_peer_rtt < RAFT_MAX_MEMBERS) {
			m->n_peer_rtt++;
		} else {
			/* Full: take the slot of a peer no longer a member. */
			for (i = 0; i < m->n_peer_rtt; i++)
				if (members_find(&n->members,
						 m->peer_rtt[i].id) == NULL)
					break;
			if (i == m->n_peer_rtt)
				return;
		}
		memset(&m->peer_rtt[i], 0, sizeof(m->peer_rtt[i]));
		m->peer_rtt[i].id = peer;
	}
	kvdraft_histogram_observe(&m->peer_rtt[i].seconds, seconds);
}

static void tls_warn(void *ctx, const char *line)
{
	(void)ctx;
	log_warn("%s", line);
}

/* The peer TLS contexts from the peer TLS files, when given. */
static int open_tls(struct node *n, char *err, size_t errlen)
{
	const struct node_config *cfg = n->cfg;
	if (cfg->peer_cert == NULL)
		return 0;
	struct tls_files tf = {.name = "peer",
			       .cert = cfg->peer_cert,
			       .key = cfg->peer_key,
			       .ca = cfg->peer_ca,
			       .warn = tls_warn};
	n->tls_server = tls_server_new(&tf, err, errlen);
	if (n->tls_server == NULL)
		return -1;
	/* Its warnings were the server's: said once. */
	tf.warn = tls_no_warn;
	n->tls_client = tls_client_new(&tf, err, errlen);
	return n->tls_client != NULL ? 0 : -1;
}

static int open_transport(struct node *n, struct evhttp *peer_http, char *err,
			  size_t errlen)
{
	const struct node_config *cfg = n->cfg;
	const char *source = cfg->source_host;
	if (open_tls(n, err, errlen) != 0)
		return -1;
	struct transport_options to = {
	    .self = cfg->id,
	    .source_host = source,
	    .client_url = cfg->app_url[0] != '\0' ? cfg->app_url : NULL,
	    .peer_url =
		cfg->advertise_peer[0] != '\0' ? cfg->advertise_peer : NULL,
	    .token = cfg->peer_token,
	    .on_messages = on_messages,
	    .log = transport_log,
	    .on_round_trip = on_round_trip,
	    .ctx = n,
	    .seed = random_u64(),
	    .tls_server = n->tls_server,
	    .tls_client = n->tls_client,
	};
	/* A value of the largest size any member accepts must fit in one
	 * message body, whatever this member's own flag says. */
	to.limits.codec.max_entry_bytes = n->cfg->max_entry_bytes;
	int rc = transport_new(n->base, &to, &n->tr);
	if (rc != TRANSPORT_OK)
		return util_fail(err, errlen,
				 "cannot start the peer transport: %s",
				 transport_strerror(rc));
	for (size_t i = 0; i < n->members.n; i++) {
		const struct member *m = &n->members.m[i];
		if (m->id == cfg->id)
			continue;
		rc = transport_add_peer(n->tr, m->id, m->peer_url);
		if (rc != TRANSPORT_OK)
			return util_fail(
			    err, errlen,
			    "cannot add peer %" PRIu64 " at %s: %s", m->id,
			    m->peer_url, transport_strerror(rc));
	}
	member_config_init(&n->mcfg, cfg->id, cfg->app_url, cfg->discovery_path,
			   cfg->data_dir, n->tr, n->base, &n->members);
	n->mcfg.tls_client = n->tls_client;
	rc = transport_attach(n->tr, peer_http);
	if (rc != TRANSPORT_OK)
		return util_fail(err, errlen,
				 "cannot serve the peer routes: %s",
				 transport_strerror(rc));
	return 0;
}

int node_open(const struct kvdraft_node_options *o,
	      const struct kvdraft_app *app, struct event_base *base,
	      struct evhttp *peer_http, struct node **out, char *err,
	      size_t errlen)
{
	struct wal *w = NULL;
	raft_index state_applied = 0;
	raft_term state_term = 0;
	struct node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return util_fail(err, errlen, "out of memory");
	n->cfg = &n->config;
	n->base = base;
	if (node_config_from_options(o, &n->config, err, errlen) != 0 ||
	    app_copy(app, &n->app, err, errlen) != 0) {
		node_config_free(&n->config);
		free(n);
		return -1;
	}
	const struct node_config *cfg = n->cfg;
	node_log_set(o->log, o->log_ctx,
		     o->size > offsetof(struct kvdraft_node_options, log_level)
			 ? o->log_level
			 : KVDRAFT_LOG_INFO);
	n->waits.next_id = random_u64();
	n->role = RAFT_FOLLOWER;
	struct member *self;
	if (durable_make_dirs(cfg->data_dir) != 0) {
		util_fail(err, errlen, "cannot create data dir %s: %s",
			  cfg->data_dir, strerror(errno));
		goto fail;
	}
	if (access(cfg->data_dir, R_OK | W_OK | X_OK) != 0) {
		util_fail(err, errlen, "data dir %s is not usable: %s",
			  cfg->data_dir, strerror(errno));
		goto fail;
	}
	if (node_open_members(n, err, errlen) != 0)
		goto fail;
	self = members_find(&n->members, cfg->id);
	if (self != NULL)
		strcpy(self->client_url, cfg->app_url);
	if (open_storage(n, &w, &state_applied, &state_term, err, errlen) != 0)
		goto fail;
	if (open_raft(n, w, state_applied, state_term, err, errlen) != 0)
		goto fail;
	n->flush_ev = event_new(base, -1, 0, flush_cb, n);
	if (n->flush_ev == NULL || node_wal_init(n) != 0) {
		util_fail(err, errlen, "cannot create the flush event");
		goto fail;
	}
	if (open_transport(n, peer_http, err, errlen) != 0)
		goto fail;
	if (node_open_snapshots(n, peer_http, err, errlen) != 0)
		goto fail;
	if (node_wal_start(n, w) != 0) {
		util_fail(err, errlen, "cannot start the WAL writer thread");
		goto fail;
	}
	w = NULL; /* the writer owns it now */
	n->hello_ev = event_new(base, -1, EV_PERSIST, hello_cb, n);
	struct timeval hv = clock_ms_to_timeval(HELLO_INTERVAL_MS);
	if (n->hello_ev == NULL || event_add(n->hello_ev, &hv) != 0) {
		util_fail(err, errlen, "cannot start the announcement timer");
		goto fail;
	}
	hello_cb(-1, 0, n); /* announce at once */
	node_schedule_flush(n);
	*out = n;
	return 0;
fail:
	if (w != NULL)
		wal_close(w);
	n->stopping = true;
	node_close(n);
	return -1;
}

void node_stop(struct node *n)
{
	n->stopping = true;
	if (n->snap != NULL)
		snapshotter_stop(n->snap);
	if (n->tick_ev != NULL)
		event_del(n->tick_ev);
	if (n->hello_ev != NULL)
		event_del(n->hello_ev);
	node_waits_fail_all(n, NODE_ESTOPPING);
	node_wal_stop(n);
	node_apply_stop(n);
}

void node_close(struct node *n)
{
	if (n == NULL)
		return;
	node_stop(n);
	node_wal_close(n);
	/* Joins a running copy: the store must outlive it. */
	snapshotter_free(n->snap);
	if (n->app.sync != NULL && n->raft != NULL) {
		char err[256] = "";
		if (n->app.sync(n->app.ctx, err, sizeof(err)) != 0)
			log_error("syncing the state machine failed: %s", err);
	}
	member_config_close(&n->mcfg);
	transport_free(n->tr);
	/* Connections still open hold their own reference on a context. */
	tls_server_free(n->tls_server);
	tls_client_free(n->tls_client);
	if (n->raft != NULL)
		raft_free(n->raft);
	if (n->tick_ev != NULL)
		event_free(n->tick_ev);
	if (n->hello_ev != NULL)
		event_free(n->hello_ev);
	if (n->flush_ev != NULL)
		event_free(n->flush_ev);
	node_apply_free(n);
	node_wal_free(n);
	node_config_free(&n->config);
	free(n);
}

/* ---- read access ---- */

struct bufferevent *node_wrap_peer_conn(struct node *n,
					struct bufferevent *sock)
{
	return transport_wrap_peer_conn(n->tr, sock);
}

struct bufferevent *node_new_peer_conn(struct node *n, struct event_base *base)
{
	return transport_new_peer_conn(n->tr, base);
}

int node_reload_tls(struct node *n, char *err, size_t errlen)
{
	if (n->tls_server == NULL)
		return util_fail(err, errlen, "peer TLS is off");
	/* Both read the same files: the second fails only if they changed
	 * in between, and then the listener runs ahead until the next
	 * reload. */
	if (tls_server_reload(n->tls_server, err, errlen) != 0 ||
	    tls_client_reload(n->tls_client, err, errlen) != 0)
		return -1;
	return 0;
}

void *node_app_ctx(const struct node *n)
{
	return n->app.ctx;
}

struct snapshotter *node_snapshotter(struct node *n)
{
	return n->snap;
}

int node_propose_config(struct node *n, const struct raft_config_change *ch,
			raft_index *index)
{
	if (n->stopping)
		return RAFT_ENOLEADER;
	/* A peer URL the transport would refuse: https:// exactly when
	 * peer TLS is on. */
	struct node_addr a;
	if (ch != NULL && ch->type == RAFT_CHANGE_ADD_LEARNER &&
	    ch->addr != NULL &&
	    (node_parse_url(ch->addr, &a) != 0 ||
	     transport_url_https(ch->addr) != (n->tls_client != NULL)))
		return RAFT_EINVAL;
	int rc = raft_propose_config(n->raft, ch, index);
	if (rc == RAFT_OK)
		node_schedule_flush(n);
	return rc;
}

int node_match_index(const struct node *n, raft_id id, raft_index *match)
{
	return raft_match_index(n->raft, id, match);
}

const struct raft_membership *node_membership(const struct node *n)
{
	return raft_membership(n->raft);
}

void node_raft_status(const struct node *n, struct raft_status *st)
{
	raft_status(n->raft, st);
}

const char *node_state_name(const struct node *n)
{
	for (size_t i = 0; i < n->members.n; i++) {
		if (n->members.m[i].id == n->cfg->id) {
			if (!n->members.m[i].voter)
				return "learner";
			switch (raft_role(n->raft)) {
			case RAFT_LEADER:
				return "leader";
			case RAFT_CANDIDATE:
			case RAFT_PRECANDIDATE:
				return "candidate";
			default:
				return "follower";
			}
		}
	}
	/* Not (or not yet) in the configuration. */
	return n->members.n > 0 ? "removed" : "learner";
}

const char *node_app_url(const struct node *n, raft_id id)
{
	if (id == 0)
		return "";
	for (size_t i = 0; i < n->members.n; i++)
		if (n->members.m[i].id == id)
			return n->members.m[i].client_url;
	return "";
}

raft_index node_applied(const struct node *n)
{
	return n->applied;
}

bool node_ready(const struct node *n)
{
	struct raft_status st;
	raft_status(n->raft, &st);
	bool known = st.leader != 0 &&
		     (st.role == RAFT_LEADER || st.role == RAFT_FOLLOWER);
	return known && n->applied >= st.commit;
}

void node_stats(const struct node *n, struct kvdraft_node_stats *out)
{
	struct kvdraft_node_stats s;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	struct raft_status st;
	struct transport_stats ts;
	raft_status(n->raft, &st);
	transport_stats(n->tr, &ts);
	s.term = st.term;
	s.commit = st.commit;
	s.applied = n->applied;
	s.last_index = st.last_index;
	s.persisted = st.persisted;
	s.role = (unsigned)st.role;
	s.is_leader = st.role == RAFT_LEADER;
	s.leader = st.leader;
	s.pending_reads = st.pending_reads;
	s.pending_requests = n->waits.count;
	s.store_full = n->backlog.store_full;
	s.apply_backlog_bytes = n->backlog.bytes;
	s.wal_jobs_inflight = n->wal.inflight;
	s.peer_msgs_sent = ts.msgs_sent;
	s.peer_msgs_received = ts.msgs_received;
	s.peer_msgs_dropped = ts.msgs_dropped;
	s.peer_errors = ts.errors;
	s.peer_bytes_sent = ts.bytes_sent;
	s.peer_bytes_received = ts.bytes_received;
	s.peer_bad_requests = ts.bad_requests;
	s.peer_unauthorized = ts.unauthorized;
	s.heartbeat_send_failures = ts.heartbeat_failures;
	s.peer_proof_failures = ts.proof_failures;
	s.peer_hellos_answered = ts.hellos_answered;
	s.peer_hellos_limited = ts.hellos_limited;
	s.peer_posts_pipelined = ts.posts_pipelined;
	s.peer_streams_opened = ts.streams_opened;
	s.peer_stream_frames_sent = ts.frames_sent;
	s.peer_streams_accepted = ts.streams_accepted;
	s.peer_streams_refused = ts.streams_refused;
	s.peer_streams_open = ts.streams_open;
	s.peer_stream_frames_received = ts.frames_received;
	if (n->wal.ww != NULL) {
		struct wal_writer_stats ws;
		wal_writer_get_stats(n->wal.ww, &ws);
		s.wal_jobs = ws.jobs;
		s.wal_lazy_jobs = ws.lazy_jobs;
	}
	const struct node_metrics *m = &n->metrics;
	s.wal_syncs = m->wal_syncs;
	s.wal_entries = m->wal_entries;
	s.proposals_total = m->proposals_total;
	s.proposals_failed = m->proposals_failed;
	s.reads_total = m->reads_total;
	s.reads_failed = m->reads_failed;
	raft_read_counts(n->raft, &s.read_rounds, &s.lease_reads);
	s.apply_batches = m->apply_batches;
	s.applied_entries = m->applied_entries;
	s.ready_batches = m->ready_batches;
	s.leader_changes = m->leader_changes;
	s.wal_fsync_seconds = m->wal_fsync_seconds;
	s.apply_seconds = m->apply_seconds;
	s.slow_applies = m->slow_applies.total;
	s.slow_fsyncs = m->slow_fsyncs.total;
	if (n->snap != NULL)
		snapshotter_stats(n->snap, &s);
	/* The fields the caller's struct has room for. */
	size_t size = out->size < sizeof(s) ? out->size : sizeof(s);
	memcpy(out, &s, size);
	out->size = size;
}
