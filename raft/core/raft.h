/* raft.h - the Raft consensus core: a pure, deterministic state machine.
 *
 * The core does no IO: no sockets, files, clocks, threads or rand(). Time
 * comes in as ticks, randomness from a seed, messages and proposals as calls.
 * What the core wants done comes out as a struct raft_ready (the model is
 * etcd-io/raft's RawNode: Tick/Step/Propose, then Ready/Advance).
 *
 * Use:
 *     raft_new(&opts, &restore, &r);
 *     loop {
 *         raft_tick(r) / raft_step(r, msg) / raft_propose(...) /
 *         raft_read_index(...) / raft_persisted(...) / raft_applied(...);
 *         if (raft_has_ready(r)) {
 *             struct raft_ready rd;
 *             raft_ready(r, &rd);
 *             ... carry out rd, obeying the ordering contract below ...
 *             raft_advance(r, &rd);
 *         }
 *     }
 *
 * Ordering contract (what must be durable before what is sent):
 *  1. rd.entries and rd.hs are written to stable storage in the order the
 *     readies were produced. If rd.entries[0].index <= the last stored
 *     index, every stored entry with index >= rd.entries[0].index is removed
 *     first (Raft §5.3: a follower drops a conflicting suffix). Within one
 *     ready the entries are durable no later than the hard state: a stored
 *     commit index must never cover entries that are not yet stored.
 *  2. rd.msgs may be sent at once, before rd.entries are durable: the leader
 *     writes its own log in parallel with replication (thesis §10.2.1);
 *     its own match index only advances through raft_persisted().
 *  3. rd.msgs_after_persist must not be sent before rd.entries and rd.hs of
 *     this ready (and of every earlier one) are durable. Vote grants and
 *     append acknowledgements are here: a member never promises what a crash
 *     could make it forget (votedFor survives restarts, §5.2, Figure 2).
 *     So is every message of a term this member might forget: a VOTE
 *     leaves only once the candidate's new term is durable, and a leader
 *     that won without any remote vote (a lone voter, with or without
 *     learners) puts all its messages here until an entry of its term is
 *     reported durable (rule 4). Otherwise a crash before the write could
 *     bring it back in the previous term, win the same term again and
 *     send another entry at the same (index, term) to a learner that
 *     kept the first one: two logs that Log Matching calls equal differ.
 *     So rd.msgs (rule 2) never carry a term a crash could make this
 *     member forget.
 *  4. Once entries up to index i (with term t at i) are durable, call
 *     raft_persisted(r, i, t).
 *  5. rd.committed entries are applied in order; they are only ever entries
 *     that are both committed and durable here. After applying up to i call
 *     raft_applied(r, i).
 *  6. rd.reads became safe to serve: serve read ctx once the local applied
 *     index is >= its index (thesis §6.4). rd.failed_reads will never become
 *     safe (leadership lost, no leader): answer them with an error.
 *  7. rd.has_snapshot (a follower accepted a leader's snapshot, see
 *     RAFT_MSG_SNAPSHOT): before rd.entries and rd.hs of this ready are
 *     stored, before any rd.msgs_after_persist is sent and before any
 *     committed entry of this or a later ready is applied,
 *       a. the received snapshot at rd.snapshot.index is installed and
 *          durable: the state machine is replaced by it atomically (a crash
 *          leaves the old state machine or the new one, nothing between),
 *          and the applied index becomes rd.snapshot.index (the core
 *          counts it as applied already);
 *       b. then stored entries with index <= rd.snapshot.index are dropped,
 *          and so is every stored entry after it UNLESS the stored log (all
 *          earlier readies' entries counted) holds an entry at
 *          rd.snapshot.index with term rd.snapshot.term: by Log Matching
 *          such a tail follows the snapshot, any other conflicts with it
 *          (thesis §5: "If existing log entry has same index and term as
 *          snapshot's last included entry, retain log entries following
 *          it"). The log then starts after rd.snapshot.index.
 *     Recovery applies the same rule b when a crash came between a and b:
 *     stored entries at or below the snapshot index are ignored, those
 *     after it kept only if the entry at the snapshot index has the
 *     snapshot's term (raft_restore gets the snapshot index and term and
 *     the entries after it). Committed entries handed out afterwards start
 *     at rd.snapshot.index + 1; entries of earlier readies' rd.committed
 *     not yet applied are superseded by the snapshot (raft_applied() below
 *     the snapshot index is ignored).
 *
 * Memory: the core copies every entry, message and payload passed in; the
 * caller keeps ownership of what it passes. Everything a struct raft_ready
 * points to is owned by the core and stays valid until raft_advance().
 * Between raft_ready() and raft_advance() no other raft_* call may be made
 * on the same struct raft except the read-only raft_status()/raft_role().
 *
 * Errors are negative RAFT_E* codes; raft_strerror() names them.
 */
#ifndef RAFT_RAFT_H_
#define RAFT_RAFT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "raft_api.h"

enum raft_error {
	RAFT_OK = 0,
	RAFT_ENOLEADER = -1, /* no leader known: try again later */
	RAFT_EBUSY = -2,     /* a limit (pending proposals/reads) is reached */
	RAFT_EINVAL = -3,    /* bad argument or precondition */
	RAFT_ENOMEM = -4,
	RAFT_ETOO_LARGE = -5, /* a proposal above max_entry_bytes */
	RAFT_ETRANSFER = -6,  /* leadership transfer in progress */
	RAFT_ENOTLEADER = -7, /* this member lost leadership */
	RAFT_EREMOVED = -8,   /* this member is no longer in the cluster */
	RAFT_ECONFIG = -9,    /* a membership change is in progress */
	RAFT_ERANGE = -10     /* a term or index beyond RAFT_TERM_MAX or
			       * RAFT_INDEX_MAX (refused, never wrapped) */
};

/* The number space. Terms stop at 2^63 - 1, so that every term is also a
 * JSON integer, and term + 1 never wraps: a member at RAFT_TERM_MAX never
 * campaigns again. Entry indexes stop at 2^64 - 2, the WAL's last index
 * (WAL_MAX_INDEX), so the index after the last entry never wraps. A
 * message, a restored state or a proposal beyond them is refused with
 * RAFT_ERANGE. */
#define RAFT_TERM_MAX  ((raft_term)INT64_MAX)
#define RAFT_INDEX_MAX ((raft_index)(UINT64_MAX - 1))

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1, /* campaigning in the PreVote phase (§9.6) */
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3
};

enum raft_msg_type {
	RAFT_MSG_APPEND = 1, /* AppendEntries (Figure 2) */
	RAFT_MSG_APPEND_RESP = 2,
	RAFT_MSG_VOTE = 3, /* RequestVote */
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_PREVOTE = 5, /* thesis §9.6; term = the term it would use */
	RAFT_MSG_PREVOTE_RESP = 6,
	RAFT_MSG_HEARTBEAT = 7, /* empty append carrying commit and context */
	RAFT_MSG_HEARTBEAT_RESP = 8,
	RAFT_MSG_PROPOSE = 9, /* a follower forwards proposals to the leader */
	/* a follower asks the leader for a read index */
	RAFT_MSG_READ_INDEX = 10,
	RAFT_MSG_READ_INDEX_RESP = 11,
	RAFT_MSG_TIMEOUT_NOW = 12, /* leadership transfer (thesis §3.10) */
	RAFT_MSG_SNAPSHOT = 13	   /* InstallSnapshot (thesis §5.2) */
};

/* One message between members. Field meaning by type:
 *  APPEND:        index/log_term = the entry before @entries (prevLogIndex,
 *                 prevLogTerm); commit = the leader's commit index;
 *                 context = the leader's per-peer stamp of this append.
 *  APPEND_RESP:   context echoed (0 for a SNAPSHOT's answer).
 *                 !reject: index = the highest index now matching.
 *                 reject:  index = the rejected prevLogIndex; hint_index and
 *                 hint_term let the leader skip back a whole term at once.
 *  VOTE, PREVOTE: index/log_term = the candidate's last log index and term.
 *                 VOTE context = 1: a campaign ordered by TIMEOUT_NOW (a
 *                 leadership transfer), which voters grant despite their
 *                 leader lease (thesis §4.2.3); 0 otherwise.
 *  *_RESP:        reject = vote refused.
 *  HEARTBEAT:     commit = min(leader commit, follower match); context = the
 *                 read round being confirmed (0: none); reject = a commit
 *                 notice that wants no answer (the follower answers
 *                 every other heartbeat); index = 1 + the leader's tick
 *                 count when it sent it (leader leases).
 *  HEARTBEAT_RESP: context and index echoed.
 *  PROPOSE:       @entries carry the commands (term/index unset).
 *  READ_INDEX:    context = the follower's request id.
 *  READ_INDEX_RESP: context echoed; index = the read index; reject = the
 *                 leader could not serve it (it is not leader any more).
 *  SNAPSHOT:      index/log_term = the last entry the leader's snapshot
 *                 includes (lastIncludedIndex/Term); commit = the leader's
 *                 commit index; no entries, except that the receiving
 *                 driver may step it with one RAFT_ENTRY_CONFIG entry: the
 *                 configuration stored in the snapshot (see
 *                 raft_membership_at()), index = the index it came
 *                 from. The core never holds snapshot bytes: on the leader
 *                 a SNAPSHOT in rd.msgs means "stream your latest snapshot
 *                 (the one at index) to m.to, then report the outcome with
 *                 raft_report_snapshot()" (the driver's newest snapshot may
 *                 be newer than index: see raft_compact()). The receiving
 *                 driver steps the message
 *                 only AFTER it has received the whole snapshot file and
 *                 verified it (checksums), with index/log_term set to the
 *                 received snapshot's own last index and term and the
 *                 other fields as the leader sent them. The follower
 *                 answers with APPEND_RESP (index = the snapshot index, or
 *                 its own commit index when the snapshot is not newer than
 *                 that: it is then ignored) and, when it accepted it,
 *                 rd.has_snapshot (contract rule 7).
 */
struct raft_msg {
	uint8_t type; /* enum raft_msg_type */
	raft_id from;
	raft_id to;
	raft_term term;
	raft_index index;
	raft_term log_term;
	raft_index commit;
	bool reject;
	raft_index hint_index;
	raft_term hint_term;
	uint64_t context;
	struct raft_entry *entries;
	size_t n_entries;
};

struct raft_hard_state {
	raft_term term;
	raft_id vote; /* 0: no vote in this term */
	raft_index commit;
};

/* A read that became safe (or failed): @ctx is the caller's id for it. */
struct raft_read {
	uint64_t ctx;
	raft_index index; /* serve once applied >= index */
};

/* Test-only switches that break one safety rule each, so the simulated
 * cluster can prove it would catch the bug. Never set in production. */
enum raft_mutation {
	RAFT_MUTATE_COMMIT_OLD_TERM = 1 << 0, /* count replicas of old terms */
	RAFT_MUTATE_READ_NO_HEARTBEAT = 1 << 1, /* grant reads unconfirmed */
	/* a lone voter's leader sends before its term is durable (rule 3) */
	RAFT_MUTATE_SEND_UNDURABLE_TERM = 1 << 2,
	/* an acknowledged read round releases the later rounds too */
	RAFT_MUTATE_READ_RELEASE_LATER = 1 << 3
};

/* The defaults of raft_options' limits (a limit of 0 picks them). */
#define RAFT_DEFAULT_MAX_APPEND_ENTRIES	 1024
#define RAFT_DEFAULT_MAX_APPEND_BYTES	 (1024 * 1024)
#define RAFT_DEFAULT_MAX_INFLIGHT	 64
#define RAFT_DEFAULT_MAX_PENDING_ENTRIES 65536
#define RAFT_DEFAULT_MAX_PENDING_READS	 65536
#define RAFT_DEFAULT_MAX_READ_ROUNDS	 8
#define RAFT_DEFAULT_MAX_ENTRY_BYTES	 (16u * 1024 * 1024)

/* An entry's length is a uint32_t (struct raft_entry, and the 4-byte
 * length of its frame, docs/FORMAT.md). */
_Static_assert(RAFT_DEFAULT_MAX_ENTRY_BYTES <= UINT32_MAX,
	       "the default entry limit fits an entry's length");
/* A batch holds at least one entry of any allowed size; the byte limit
 * only decides how many more join it. */
_Static_assert(RAFT_DEFAULT_MAX_APPEND_BYTES <= RAFT_DEFAULT_MAX_ENTRY_BYTES,
	       "a batch limit above the entry limit would never be reached");
_Static_assert(RAFT_DEFAULT_MAX_INFLIGHT > 0 &&
		   RAFT_DEFAULT_MAX_APPEND_ENTRIES > 0,
	       "a peer must be sent at least one append of one entry");

struct raft_options {
	raft_id id;	       /* this member, > 0 */
	const raft_id *voters; /* the founding configuration (copied) */
	size_t n_voters;
	unsigned election_ticks;  /* election timeout, randomized in [e, 2e) */
	unsigned heartbeat_ticks; /* < election_ticks */
	uint64_t seed;		  /* the only source of randomness */
	bool pre_vote;		  /* thesis §9.6 */
	bool check_quorum;	  /* leader steps down without a majority */
	/* Limits; 0 picks the default in parentheses (RAFT_DEFAULT_*). */
	size_t max_append_entries; /* entries per AppendEntries (1024) */
	size_t max_append_bytes;   /* payload bytes per AppendEntries (1 MiB) */
	size_t max_inflight;	   /* AppendEntries in flight per peer (64) */
	size_t
	    max_pending_entries;  /* uncommitted entries on a leader (65536) */
	size_t max_pending_reads; /* reads waiting for confirmation (65536) */
	uint32_t max_entry_bytes; /* largest proposal (16 MiB) */
	unsigned mutations;	  /* enum raft_mutation bits; tests only */
	/* Optional: the founding voters' addresses, parallel to @voters
	 * (copied; each at most RAFT_MAX_ADDR_LEN bytes). The core never
	 * uses them; they travel in configuration entries so that every
	 * member learns every other's address from the log. */
	const char *const *voter_addrs;
	/* ReadIndex confirmation rounds a leader keeps in flight at once
	 * (8; 1: a read arriving during a round waits for it to end, then
	 * for a round of its own). Each round is one heartbeat to every
	 * follower; with members far apart, overlapping rounds let a read
	 * wait about one round trip instead of one and a half. Last in the
	 * struct so that the fields before it keep their places. */
	size_t max_read_rounds;
	/* Leader leases (thesis §6.4.1). 0, the default: off. Otherwise a
	 * leader answers reads at once, without a heartbeat round of their
	 * own, while a majority (of each set while joint) has answered a
	 * heartbeat the leader sent fewer than lease_ticks ticks ago (each
	 * heartbeat carries the tick it left at, each answer echoes it):
	 * those members refuse to vote (raft__in_lease()) until an election
	 * timeout after they heard it, so no other leader can exist before
	 * then. Needs check_quorum; at most election_ticks - 3 (raft_new()
	 * refuses more): one tick for where in its tick interval the leader
	 * sent, one for where in its own the follower heard, the rest for
	 * how much faster than the leader's any member's clock may run over
	 * an election timeout.
	 * Two more conditions are the driver's: its tick count keeps up
	 * with real time (a tick for every interval elapsed, those missed
	 * while the process was stopped included, before each ready), and
	 * every voter of the cluster has the same setting (with it, a
	 * member also refuses votes during its first election timeout
	 * after raft_new(), so that one that restarted cannot help elect a
	 * leader while the old one's lease lasts). A leader gives its lease
	 * up for the rest of its term once it starts a leadership transfer
	 * (the target's campaign overrides the voters' refusal). */
	unsigned lease_ticks;
};

/* Membership (thesis §4.3, joint consensus). A configuration is a
 * RAFT_ENTRY_CONFIG entry (payload: raft_membership_encode(),
 * docs/FORMAT.md). It takes effect as soon as it is appended to a log,
 * committed or not, and is undone when the entry is truncated away. While
 * a configuration is joint, every decision (election, commit, read index
 * confirmation, CheckQuorum) needs a majority of C_old AND of C_new. */
#define RAFT_MAX_MEMBERS  64  /* members (voters and learners) at most */
#define RAFT_MAX_ADDR_LEN 255 /* bytes of one member's address */

enum raft_member_flag {
	RAFT_MEMBER_VOTER = 1,	  /* votes (in C_new while joint) */
	RAFT_MEMBER_OUTGOING = 2, /* votes in C_old (only while joint) */
	RAFT_MEMBER_LEARNER = 4	  /* gets the log; never votes or counts */
};

struct raft_member {
	raft_id id;
	uint8_t flags; /* enum raft_member_flag bits; LEARNER stands alone */
	char addr[RAFT_MAX_ADDR_LEN + 1]; /* NUL-terminated, opaque */
};

struct raft_membership {
	raft_index index; /* the CONFIG entry it comes from; 0: founding */
	bool joint;	  /* C_old,new: OUTGOING flags name C_old */
	size_t n;
	struct raft_member members[RAFT_MAX_MEMBERS];
};

/* The largest encoded configuration. */
#define RAFT_MEMBERSHIP_MAX_BYTES                                              \
	(8 + RAFT_MAX_MEMBERS * (8 + 1 + 1 + RAFT_MAX_ADDR_LEN))
/* The encoding (docs/FORMAT.md) has a 2-byte member count and a 1-byte
 * address length; a configuration entry is an entry like any other, so
 * any transport or WAL sized for the default entry limit carries it. */
_Static_assert(RAFT_MAX_MEMBERS <= UINT16_MAX, "2-byte member count");
_Static_assert(RAFT_MAX_ADDR_LEN <= UINT8_MAX, "1-byte address length");
_Static_assert(RAFT_MEMBERSHIP_MAX_BYTES <= RAFT_DEFAULT_MAX_ENTRY_BYTES,
	       "a configuration entry within the default entry limit");

enum raft_change_type {
	RAFT_CHANGE_ADD_LEARNER = 1, /* a new member, as a learner */
	RAFT_CHANGE_PROMOTE = 2,     /* a learner becomes a voter */
	RAFT_CHANGE_REMOVE = 3	     /* a learner or a voter leaves */
};

struct raft_config_change {
	uint8_t type; /* enum raft_change_type */
	raft_id id;
	const char *addr; /* ADD_LEARNER: its address (copied) */
};

/* What the core recovered from stable storage. */
struct raft_restore {
	struct raft_hard_state hs;
	/* Entries in the log, consecutive, starting after the snapshot
	 * (first index = snapshot_index + 1). Copied by raft_new(). */
	const struct raft_entry *entries;
	size_t n_entries;
	raft_index snapshot_index; /* 0 when none */
	raft_term snapshot_term;
	raft_index applied; /* the state machine is applied up to here */
	/* The configuration stored with the snapshot (an encoded
	 * raft_membership, copied), or NULL: then the configuration before
	 * the first CONFIG entry is the founding one of raft_options. */
	const uint8_t *snapshot_config;
	size_t snapshot_config_len;
};

/* The last entry a snapshot includes. */
struct raft_snapshot_meta {
	raft_index index;
	raft_term term;
};

struct raft_ready {
	/* A snapshot to install first (contract rule 7), when has_snapshot. */
	bool has_snapshot;
	struct raft_snapshot_meta snapshot;
	/* Hard state to store (when hs_changed). */
	bool hs_changed;
	struct raft_hard_state hs;
	/* Entries to store (see contract rule 1). */
	struct raft_entry *entries;
	size_t n_entries;
	/* Messages to send now (rule 2) and after this ready is durable (3). */
	struct raft_msg *msgs;
	size_t n_msgs;
	struct raft_msg *msgs_after_persist;
	size_t n_msgs_after_persist;
	/* Entries to apply, in order (rule 5). */
	struct raft_entry *committed;
	size_t n_committed;
	/* Reads that became safe, and reads that never will (rule 6). */
	struct raft_read *reads;
	size_t n_reads;
	struct raft_read *failed_reads;
	size_t n_failed_reads;
	/* Role or leader changed (soft state; not stored). */
	bool soft_changed;
	enum raft_role role;
	raft_id leader; /* 0 when unknown */
	/* The configuration changed (soft state; the first ready always
	 * has it): add and drop transport peers, persist the member list.
	 * @config is owned by the core, valid until raft_advance(). */
	bool config_changed;
	const struct raft_membership *config;
};

struct raft_status {
	raft_id id;
	enum raft_role role;
	raft_term term;
	raft_id leader;
	raft_index commit;
	raft_index applied;
	raft_index persisted; /* last index known durable here */
	raft_index first_index;
	raft_index last_index;
	raft_index snapshot_index; /* entries <= this are compacted away */
	raft_term snapshot_term;   /* the term of the entry at snapshot_index */
	size_t pending_reads;
	size_t pending_entries; /* leader: appended but not committed */
	/* Membership: this member's enum raft_member_flag bits (0: not in
	 * the configuration), whether it was removed (a configuration
	 * without it took effect), the index of the configuration's entry
	 * and whether it is joint. */
	uint8_t member_flags;
	bool removed;
	raft_index config_index;
	bool config_joint;
};

struct raft;

/* Creates a core from @opts and what was recovered from disk (@restore may
 * be NULL for a new member). Returns RAFT_OK and *@out, or RAFT_EINVAL for
 * bad options, RAFT_ERANGE when @restore holds a term above RAFT_TERM_MAX
 * or an index above RAFT_INDEX_MAX (such a state cannot be used safely: a
 * term can never be lowered), RAFT_ENOMEM. */
RAFT_API int raft_new(const struct raft_options *opts,
		      const struct raft_restore *restore, struct raft **out);
RAFT_API void raft_free(struct raft *r);

/* The commit index raft_new() starts from for @rs (the one rule for it,
 * so that a driver that logs or stores the recovered hard state uses the
 * same): the stored commit index, clamped to the restored log's last
 * index (snapshot_index + n_entries: a crash may keep a commit index
 * past the entries that reached the disk, rule 1 fixes no order inside
 * one ready, and a commit index is only a hint), then raised to the
 * applied and the snapshot index (what was applied or is in a snapshot
 * was committed, even if the hard state saying so was lost). */
RAFT_API raft_index raft_restore_commit(const struct raft_restore *rs);

/* One unit of logical time. Elections and heartbeats are counted in ticks. */
RAFT_API void raft_tick(struct raft *r);

/* Handles one message from a peer. Messages for other members or that are
 * stale are ignored (RAFT_OK). Messages from members outside the current
 * configuration are handled (thesis §4.1); their answers are ignored. A
 * message with a term above RAFT_TERM_MAX or an index above RAFT_INDEX_MAX
 * (its own fields or its entries') changes nothing: RAFT_ERANGE. */
RAFT_API int raft_step(struct raft *r, const struct raft_msg *m);

/* Proposes one command (@data copied). On the leader it is appended and
 * *@index (may be NULL) is set; on a follower it is forwarded to the
 * leader and *@index is set to 0. Returns RAFT_ENOLEADER when no leader is
 * known, RAFT_EBUSY over max_pending_entries, RAFT_ETOO_LARGE over
 * max_entry_bytes, RAFT_ETRANSFER during a leadership transfer,
 * RAFT_ERANGE when the log reached RAFT_INDEX_MAX. */
RAFT_API int raft_propose(struct raft *r, const void *data, size_t len,
			  raft_index *index);

/* Asks for a linearizable read point (thesis §6.4) with the caller's id
 * @ctx. It comes back in a later ready's reads (or failed_reads). Returns
 * RAFT_ENOLEADER when no leader is known, RAFT_EBUSY over
 * max_pending_reads. */
RAFT_API int raft_read_index(struct raft *r, uint64_t ctx);

/* Entries up to @index, whose entry at @index has term @term, are durable.
 * Ignored when the log has since changed at @index. */
RAFT_API void raft_persisted(struct raft *r, raft_index index, raft_term term);

/* The state machine has applied every entry up to @index. */
RAFT_API void raft_applied(struct raft *r, raft_index index);

/* Log compaction (thesis §5.1): the driver has durably taken a snapshot of
 * the state machine at applied index @index, so the core drops its
 * in-memory entries up to @index and remembers (@index, term of @index) as
 * its snapshot index/term (raft_status() reports them). To keep a trailing
 * margin of entries for slow followers, pass a smaller index than the
 * snapshot's (its term must then be the one of that index; the driver keeps
 * its snapshot as the one to send: a follower that needs entries at or
 * below the core's snapshot index gets a RAFT_MSG_SNAPSHOT message, and
 * the driver sends its newest snapshot, whose index is >= the core's).
 * Precondition: @index <= the applied index reported by raft_applied().
 * Returns RAFT_OK (also when @index is at or below the current snapshot
 * index: nothing to do), RAFT_EINVAL when @index is above the applied
 * index. Stored entries are the driver's to delete. */
RAFT_API int raft_compact(struct raft *r, raft_index index);

/* Leader: the driver's transfer of a snapshot to @peer (asked for by a
 * RAFT_MSG_SNAPSHOT in rd.msgs) finished: @ok when the peer received the
 * whole file, false when the transfer failed. Until the peer answers or
 * this is called, no AppendEntries go to @peer. On success the leader
 * probes the peer right after the snapshot index; on failure it pauses
 * until the peer answers a heartbeat, then sends a SNAPSHOT message
 * again. Ignored when this member is not leader or @peer is not waiting
 * for a snapshot. */
RAFT_API void raft_report_snapshot(struct raft *r, raft_id peer, bool ok);

/* Leadership transfer (thesis §3.10): the leader brings @to's log up to
 * date, then sends it TIMEOUT_NOW so that it campaigns at once. Meanwhile
 * proposals fail with RAFT_ETRANSFER; after an election timeout without
 * success the transfer is abandoned. raft_leader() tells the outcome.
 * Returns RAFT_OK (also when @to is this member: it leads already),
 * RAFT_ENOTLEADER on a non-leader, RAFT_EINVAL when @to is not a voter,
 * RAFT_ETRANSFER while a transfer to another member is under way. */
RAFT_API int raft_transfer_leadership(struct raft *r, raft_id to);

/* Leader: proposes a membership change (thesis §4.3). ADD_LEARNER and
 * removing a learner append one configuration; PROMOTE and removing a
 * voter append the joint C_old,new, and once that commits the leader
 * appends C_new by itself. A leader not in C_new steps down once C_new
 * commits (asking the most up-to-date voter to campaign at once); a
 * member not in the configuration never campaigns. *@index (may be NULL)
 * is the index of the appended entry. Returns RAFT_OK, RAFT_ENOTLEADER on
 * a non-leader, RAFT_ECONFIG while another change is not finished (joint,
 * or the last configuration is not committed), RAFT_EBUSY when this
 * leader has not yet committed an entry of its term (retry shortly),
 * RAFT_ETRANSFER during a leadership transfer, RAFT_EINVAL for a bad
 * change (id 0 or already a member for ADD_LEARNER, not a learner for
 * PROMOTE, not a member or the last voter for REMOVE, an address missing
 * or too long, more than RAFT_MAX_MEMBERS). */
RAFT_API int raft_propose_config(struct raft *r,
				 const struct raft_config_change *c,
				 raft_index *index);

/* Leader: the highest index known to be stored on member @id (its match
 * index; the leader's own: its durable index), to judge whether a
 * learner caught up. Returns RAFT_OK, RAFT_ENOTLEADER, or RAFT_EINVAL
 * when @id is not in the configuration. */
RAFT_API int raft_match_index(const struct raft *r, raft_id id,
			      raft_index *match);

/* The current configuration (owned by the core; valid until the next
 * call that is not read-only). */
RAFT_API const struct raft_membership *raft_membership(const struct raft *r);

/* The configuration in effect at log index @index (snapshot index <=
 * @index <= last index), for the driver to store in a snapshot taken at
 * @index. Returns RAFT_OK or RAFT_EINVAL. */
RAFT_API int raft_membership_at(const struct raft *r, raft_index index,
				struct raft_membership *out);

/* Payload of a CONFIG entry (docs/FORMAT.md). encode writes at most
 * RAFT_MEMBERSHIP_MAX_BYTES into @buf and sets *@len; returns RAFT_OK or
 * RAFT_EINVAL (invalid configuration, @cap too small). decode fills
 * *@out (index 0) and returns RAFT_OK or RAFT_EINVAL for anything not a
 * valid version-1 configuration. */
RAFT_API int raft_membership_encode(const struct raft_membership *m,
				    uint8_t *buf, size_t cap, size_t *len);
RAFT_API int raft_membership_decode(const void *data, size_t len,
				    struct raft_membership *out);

RAFT_API bool raft_has_ready(const struct raft *r);
RAFT_API void raft_ready(struct raft *r, struct raft_ready *rd);
RAFT_API void raft_advance(struct raft *r, const struct raft_ready *rd);

RAFT_API void raft_status(const struct raft *r, struct raft_status *out);
/* How this member served reads as leader since raft_new(): *@rounds
 * heartbeat rounds started to confirm them (thesis §6.4; one round
 * confirms every read waiting when it starts), *@lease_reads reads
 * released from the lease with no round (lease_ticks). Reads a follower
 * forwarded count at the leader. */
RAFT_API void raft_read_counts(const struct raft *r, uint64_t *rounds,
			       uint64_t *lease_reads);
RAFT_API enum raft_role raft_role(const struct raft *r);
RAFT_API raft_id raft_leader(const struct raft *r);

RAFT_API const char *raft_strerror(int err);
RAFT_API const char *raft_role_name(enum raft_role role);
RAFT_API const char *raft_msg_type_name(int type);

#endif /* RAFT_RAFT_H_ */
