/* kvdraft_node.h - libkvdraft's node level (installed as <kvdraft/node.h>):
 * the pure core with a write-ahead log, the HTTP peer transport, snapshots
 * and membership, run on the caller's libevent loop, around a state machine
 * the application brings as callbacks (struct kvdraft_app).
 *
 * A program opens one node per member on its event_base and the evhttp
 * its peers reach; proposes commands and asks for linearizable read points;
 * and gets every committed command, in log order, through its apply()
 * callback. The node writes the WAL (group commit on a writer thread),
 * sends and receives messages and snapshots, compacts the log behind
 * snapshots the application writes, follows membership changes, and
 * restarts from the data directory.
 *
 * Threads: every kvdraft_node_* call and every callback runs on the loop
 * thread, except snapshot_write() and the sync() after it when the
 * application asks for them to run beside the loop
 * (KVDRAFT_APP_SNAPSHOT_CONCURRENT), and the log sink. The node's own
 * threads (the WAL writer, snapshots) never call libevent: they wake the
 * loop through an eventfd, so the program needs no libevent locking
 * (evthread_use_pthreads()) for the node.
 *
 * Ownership: the node copies what it is given (options, commands); a
 * result handed to a completion callback is valid during the call only.
 *
 * Errors: the functions return KVDRAFT_OK or an enum kvdraft_error;
 * kvdraft_strerror() names them. docs/LIBRARY.md, "The node", says more.
 */
#ifndef KVDRAFT_NODE_H_
#define KVDRAFT_NODE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct evhttp;

enum kvdraft_error {
	KVDRAFT_OK = 0,
	KVDRAFT_ENOLEADER = -1,	   /* no leader is known */
	KVDRAFT_EBUSY = -2,	   /* a limit is reached: try again later */
	KVDRAFT_ETOO_LARGE = -3,   /* the command is above max_entry_bytes */
	KVDRAFT_ESTOPPING = -4,	   /* the node is stopping */
	KVDRAFT_EINTERNAL = -5,	   /* a bug or a storage failure */
	KVDRAFT_ETIMEOUT = -6,	   /* no outcome in time, a leader was known */
	KVDRAFT_EUNAVAILABLE = -7, /* no outcome in time, leadership moved or
				    * was lost: the outcome is unknown */
	KVDRAFT_ENOTLEADER = -9,   /* this member does not lead */
	KVDRAFT_EINVAL = -10,	   /* a bad argument */
	KVDRAFT_EDISKFULL = -11,   /* the log or the state cannot be written
				    * for lack of space: try again later */
	KVDRAFT_ETRANSFER = -12,   /* a leadership transfer is under way */
	KVDRAFT_ERETRY = -13	   /* apply(): nothing applied for lack of
				    * space; the node tries again later */
};

RAFT_API const char *kvdraft_strerror(int err);

/* What the node asks of the application's state machine.
 *
 * Initialise with kvdraft_app_init() and then set the fields: @size says
 * which fields the program knows of, so a newer library reads an older
 * program's struct correctly. */
struct kvdraft_app {
	size_t size; /* sizeof(struct kvdraft_app), set by kvdraft_app_init() */
	void *ctx;   /* passed to every callback */

	/* Applies @n committed entries, consecutive and in log order, and
	 * writes one result of result_size bytes per entry into @results
	 * (results + i * result_size; zeroed before the call). Entries of
	 * type RAFT_ENTRY_NORMAL hold a command as proposed (see
	 * identity_offset); others (RAFT_ENTRY_NOOP, RAFT_ENTRY_CONFIG) only
	 * advance the applied index, which a durable state machine records.
	 * Returns 0 when every entry is applied; KVDRAFT_ERETRY when none is,
	 * for lack of space (the node keeps them, in order, and calls again
	 * later); any other value is fatal: the node logs @err and ends the
	 * process (exit status 1), as it does when its WAL cannot be
	 * written: nothing unsynced was acknowledged, and a restart recovers
	 * from the data dir. Required. */
	int (*apply)(void *ctx, const struct raft_entry *ents, size_t n,
		     void *results, char *err, size_t errlen);
	size_t result_size; /* 0: no results */

	/* The index and term of the last entry the state machine holds when
	 * the node opens. A state machine kept in memory leaves it NULL (0,
	 * 0): the node then restores the newest snapshot and applies the log
	 * after it. A durable one says where it stands, and the node applies
	 * the log from there. Returns 0; 1 when the state is damaged (@err
	 * says how): the node then calls reset() and rebuilds it from the
	 * newest snapshot the log continues and the log, or refuses to open
	 * when there is none; -1 (@err) is fatal. */
	int (*applied)(void *ctx, raft_index *index, raft_term *term, char *err,
		       size_t errlen);

	/* Discards the state (damaged, or behind a log compacted past it):
	 * afterwards the state machine is empty (applied index 0) until a
	 * snapshot_restore(). Required with applied(); 0 or -1 (@err). */
	int (*reset)(void *ctx, char *err, size_t errlen);

	/* Writes the state to @fd (a new file) and sets *@index and *@term to
	 * the last entry it holds. Returns 0, or -1 with @err. Required.
	 * Runs on the loop thread between applies unless flags has
	 * KVDRAFT_APP_SNAPSHOT_CONCURRENT: then on a background thread while
	 * the loop keeps applying, and the state written must be the state
	 * of one applied index. */
	int (*snapshot_write)(void *ctx, int fd, raft_index *index,
			      raft_term *term, char *err, size_t errlen);

	/* Replaces the state with the snapshot in @fd (written by
	 * snapshot_write() on some member), which holds every entry up to
	 * @index (@term). Returns 0, or -1 with @err (fatal). Required. */
	int (*snapshot_restore)(void *ctx, int fd, raft_index index,
				raft_term term, char *err, size_t errlen);

	/* Optional: checks that the snapshot in @fd is one (a received file
	 * passed its checksum already) and reads back its index and term.
	 * Returns 0, or -1 with @err: the file is refused. */
	int (*snapshot_check)(void *ctx, int fd, raft_index *index,
			      raft_term *term, char *err, size_t errlen);

	/* Optional: makes the applied state durable; called after each
	 * snapshot, before the log is compacted behind it (on the snapshot
	 * thread with KVDRAFT_APP_SNAPSHOT_CONCURRENT), and when the node
	 * closes. 0 or -1 with @err (the snapshot counts as failed). */
	int (*sync)(void *ctx, char *err, size_t errlen);

	/* Where a command carries its proposal's identity (the proposing
	 * member and its request id: 16 bytes, two little-endian u64), by
	 * which the proposer finds the waiting request when the command is
	 * applied. Negative (the default): the node puts the 16 bytes in
	 * front of each command and apply() never sees them. From 0 on: the
	 * application's encoding leaves 16 bytes at this offset, the node
	 * writes them before proposing and apply() sees them. */
	long identity_offset;

	unsigned flags; /* enum kvdraft_app_flag */
};

enum kvdraft_app_flag { KVDRAFT_APP_SNAPSHOT_CONCURRENT = 1 };

RAFT_API void kvdraft_app_init(struct kvdraft_app *app);

/* A member of the founding configuration. */
struct kvdraft_peer {
	raft_id id;
	const char *peer_url; /* http://HOST:PORT */
};

/* Log lines of the node: @level is one of enum kvdraft_log_level. */
enum kvdraft_log_level {
	KVDRAFT_LOG_DEBUG = 0,
	KVDRAFT_LOG_INFO = 1,
	KVDRAFT_LOG_WARN = 2,
	KVDRAFT_LOG_ERROR = 3
};

/* Initialise with kvdraft_node_options_init() (which sets @size and every
 * default) and then set the fields. Strings and arrays are copied. */
struct kvdraft_node_options {
	size_t size;
	raft_id id;	      /* this member, > 0; required */
	const char *data_dir; /* required; created when missing */
	/* This member's URL as its peers reach it; required. */
	const char *advertise_peer;
	/* The founding members, this one included, on first start; none
	 * (NULL, 0) for a member that waits to be added. */
	const struct kvdraft_peer *initial;
	size_t n_initial;
	/* An address of the application's own (a client URL), announced to
	 * peers and available from kvdraft_node_app_url(); NULL: none. */
	const char *app_url;
	/* Discovery: a member that hears from a member it does not know (it
	 * waits to be added, or its configuration is behind) adds it at the
	 * peer URL its message announces when the message carried the peer
	 * token (or, with none, came from that URL's host while this member
	 * has no configuration); otherwise it asks
	 * GET <app_url><discovery_path> of a known member, or of the sender
	 * when it knows none (on the host the message came from, unless a
	 * peer token vouches for it), for {"members": [{"id": ID,
	 * "peer_url": URL}, ...]}, and adds the peers listed. The
	 * application serves that route (kvd: "/v1/members"). NULL: no
	 * discovery; start members with their peers known. */
	const char *discovery_path;
	/* The shared secret peers present (a Bearer token), which a peer
	 * proves it holds before it is sent anything carrying it; NULL: none
	 * (the peers trust their network). */
	const char *peer_token;
	/* The local address outgoing peer connections leave from (an IP
	 * literal); NULL: the kernel's choice. */
	const char *source_host;
	unsigned heartbeat_ms;	      /* 100 */
	unsigned election_timeout_ms; /* 1000; above heartbeat_ms */
	unsigned request_timeout_ms;  /* proposals and reads: 5000 */
	uint64_t snapshot_entries;    /* applied entries between snapshots;
				       * 0: never on its own (10000) */
	unsigned snapshot_keep;	      /* snapshots kept on disk (1; 1..100) */
	uint64_t wal_segment_bytes;   /* 4 MiB; 64 KiB .. 1 GiB */
	uint32_t max_entry_bytes;     /* largest entry received, stored or
				       * proposed (16 MiB; at most about
				       * 64 MiB, one peer message) */
	/* Optional log sink; NULL: lines go to stderr. */
	void (*log)(void *ctx, int level, const char *line);
	void *log_ctx;
	int log_level; /* lines below it are dropped (KVDRAFT_LOG_INFO) */
	/* Added later: a program built before leaves them out of @size.
	 * Peer TLS: PEM files, all three or none (NULL). With them the peer
	 * listener speaks HTTPS only and requires a client certificate the
	 * CA signed; outgoing peer connections present the certificate and
	 * verify the peer's against the CA, its host against the peer URL's;
	 * every peer URL (advertise_peer, initial, members added) is then
	 * https://HOST:PORT, and without them http://HOST:PORT. An https://
	 * application URL is asked for the members (discovery) with the same
	 * certificate. Reloaded by kvdraft_node_reload_tls(). A key file
	 * others may read is logged as a warning. */
	const char *peer_cert;
	const char *peer_key;
	const char *peer_ca;
	/* Added later. Leader leases (false): a leader answers reads
	 * without a heartbeat round while a majority answered one of its
	 * heartbeats less than election_timeout_ms - 3 ticks ago (a tick is
	 * heartbeat_ms / 2, at most 50 ms). Safe when no member's clock
	 * runs faster than another's by more than a tick per election
	 * timeout, and only if every voter has it on: a member then also
	 * refuses votes during its first election timeout after it starts.
	 * Needs election_timeout_ms of at least 4 ticks. */
	bool lease_reads;
};

RAFT_API void kvdraft_node_options_init(struct kvdraft_node_options *o);

struct kvdraft_node;

/* Opens @o->data_dir (creating it), recovers the WAL and the state (see
 * struct kvdraft_app's applied()), and starts the member on @base; its
 * peer routes are added to @peer_http, which the program binds and owns
 * (it must outlive the node). Returns KVDRAFT_OK and *@out, or an error
 * with one line in @err. */
RAFT_API int kvdraft_node_open(struct event_base *base,
			       struct evhttp *peer_http,
			       const struct kvdraft_node_options *o,
			       const struct kvdraft_app *app,
			       struct kvdraft_node **out, char *err,
			       size_t errlen);

/* Stops taking work: new calls fail with KVDRAFT_ESTOPPING and every
 * waiting request completes with it now. */
RAFT_API void kvdraft_node_stop(struct kvdraft_node *n);

/* Stops, makes everything queued durable, syncs the state and frees the
 * node. The loop must not run the node's events afterwards. */
RAFT_API void kvdraft_node_close(struct kvdraft_node *n);

/* Completion of a proposal, read or transfer: @err is KVDRAFT_OK or an
 * error; for a proposal @result points to the command's apply() result
 * (NULL on error or when result_size is 0), valid during the call. */
typedef void (*kvdraft_done_fn)(void *arg, int err, const void *result);

/* Proposes the command @cmd (@len bytes, copied; with identity_offset 0
 * or more the node writes the identity into @cmd first). A follower
 * forwards it to the leader. KVDRAFT_OK: @done is called once later,
 * after the command is applied here (with its result), or with an error.
 * Otherwise the error, and @done is never called. */
RAFT_API int kvdraft_node_propose(struct kvdraft_node *n, void *cmd, size_t len,
				  kvdraft_done_fn done, void *arg);

/* Asks for a linearizable read point (ReadIndex, thesis §6.4): @done
 * with KVDRAFT_OK means the state machine now holds every write that
 * completed before the call, and may be read. */
RAFT_API int kvdraft_node_read(struct kvdraft_node *n, kvdraft_done_fn done,
			       void *arg);

/* Hands leadership to @to (thesis §3.10; this member must lead). */
RAFT_API int kvdraft_node_transfer_leadership(struct kvdraft_node *n,
					      raft_id to, kvdraft_done_fn done,
					      void *arg);

/* A request the program carries out itself (forwarding one to the
 * leader) under the node's timeout and shutdown: @done comes with
 * KVDRAFT_ETIMEOUT, KVDRAFT_EUNAVAILABLE or KVDRAFT_ESTOPPING unless
 * kvdraft_node_unwatch() comes first. Either ends the handle *@out: after
 * @done it is freed (do not unwatch it), after an unwatch @done never
 * comes. */
struct kvdraft_wait;
RAFT_API int kvdraft_node_watch(struct kvdraft_node *n, kvdraft_done_fn done,
				void *arg, struct kvdraft_wait **out);
RAFT_API void kvdraft_node_unwatch(struct kvdraft_node *n,
				   struct kvdraft_wait *w);

/* Membership: proposes @ch (raft_propose_config(); its RAFT_* code), the
 * leader's match index of @id, the configuration in effect (valid until
 * the loop runs on). */
RAFT_API int kvdraft_node_change_membership(struct kvdraft_node *n,
					    const struct raft_config_change *ch,
					    raft_index *index);
RAFT_API int kvdraft_node_match_index(const struct kvdraft_node *n, raft_id id,
				      raft_index *match);
RAFT_API const struct raft_membership *
kvdraft_node_membership(const struct kvdraft_node *n);

/* State. */
RAFT_API void kvdraft_node_status(const struct kvdraft_node *n,
				  struct raft_status *st);
RAFT_API raft_index kvdraft_node_applied(const struct kvdraft_node *n);
/* A leader is known and the applied index reached the commit index. */
RAFT_API bool kvdraft_node_ready(const struct kvdraft_node *n);
/* "leader", "follower", "candidate", "learner" or "removed" (not in the
 * configuration). */
RAFT_API const char *kvdraft_node_state_name(const struct kvdraft_node *n);
/* Member @id's application URL (kvdraft_node_options.app_url), as it
 * announced it; "" when unknown. Valid until the loop runs on. */
RAFT_API const char *kvdraft_node_app_url(const struct kvdraft_node *n,
					  raft_id id);
/* The members as this node knows them: the configuration in effect, with
 * the URLs learned (a learner has voter false). Fills up to @cap and
 * returns how many there are (at most RAFT_MAX_MEMBERS); the strings are
 * valid until the loop runs on. */
struct kvdraft_member {
	raft_id id;
	bool voter;
	const char *peer_url;
	const char *app_url; /* "" until announced */
};
RAFT_API size_t kvdraft_node_members(const struct kvdraft_node *n,
				     struct kvdraft_member *out, size_t cap);
/* The kvdraft_app.ctx the node was opened with. */
RAFT_API void *kvdraft_node_app_ctx(const struct kvdraft_node *n);

/* Snapshots. The index of the newest one (the core's when none is on
 * disk). */
RAFT_API raft_index kvdraft_node_snapshot_index(const struct kvdraft_node *n);
/* Whether a snapshot copy runs beside the loop
 * (KVDRAFT_APP_SNAPSHOT_CONCURRENT), and waiting for it to end: for an
 * application that must not change what the copy reads (kvd waits before
 * its store grows its map). */
RAFT_API bool kvdraft_node_snapshot_busy(const struct kvdraft_node *n);
RAFT_API void kvdraft_node_snapshot_wait(struct kvdraft_node *n);
/* Hands @fn a snapshot file holding at least every entry up to @index
 * (at once, or once one is taken; for backups): @path is valid during the
 * call only, or NULL with @err. Returns 0, or -1 when too many wait or the
 * node is stopping (@fn is then never called). */
typedef void (*kvdraft_snapshot_file_fn)(void *arg, const char *path,
					 raft_index index, raft_term term,
					 uint64_t size, uint32_t crc32c,
					 const char *err);
RAFT_API int kvdraft_node_snapshot_file(struct kvdraft_node *n,
					raft_index index,
					kvdraft_snapshot_file_fn fn, void *arg);

/* For a program that accepts peer connections itself (its own limits on
 * connections and header time, as kvd does): each new connection passes
 * through this before evhttp reads it, so a request without the peer
 * token is refused before its body is read. */
struct bufferevent;
RAFT_API struct bufferevent *
kvdraft_node_wrap_peer_conn(struct kvdraft_node *n, struct bufferevent *bev);

/* For the same program: the bufferevent of a new peer connection, its
 * socket not yet set (evhttp_set_bevcb()'s contract), to pass through
 * kvdraft_node_wrap_peer_conn() next: with peer TLS one that accepts a
 * TLS connection (the peer's certificate required), else a plain one.
 * NULL when out of memory. */
RAFT_API struct bufferevent *
kvdraft_node_new_peer_conn(struct kvdraft_node *n, struct event_base *base);

/* Reads the peer TLS files again (SIGHUP): when they load, connections
 * made from then on use them (the listener's and outgoing ones), and
 * connections open keep theirs. Returns KVDRAFT_OK; KVDRAFT_EINVAL
 * without peer TLS; KVDRAFT_EINTERNAL with one line in @err when a file
 * does not load (the certificates in use stay). */
RAFT_API int kvdraft_node_reload_tls(struct kvdraft_node *n, char *err,
				     size_t errlen);

/* Counters, gauges and latency histograms, for metrics. */
#define KVDRAFT_HISTOGRAM_BUCKETS 16
struct kvdraft_histogram {
	uint64_t counts[KVDRAFT_HISTOGRAM_BUCKETS]; /* not cumulative */
	uint64_t inf;				    /* above the last bound */
	uint64_t count;
	double sum;
};
/* Bucket @i's upper bound in seconds (100 us .. 10 s). */
RAFT_API double kvdraft_histogram_bound(unsigned i);
RAFT_API void kvdraft_histogram_observe(struct kvdraft_histogram *h,
					double seconds);

struct kvdraft_node_stats {
	size_t size; /* sizeof(struct kvdraft_node_stats), set by the caller */
	/* The core. */
	uint64_t term, commit, applied, last_index, persisted;
	unsigned role; /* enum raft_role */
	bool is_leader;
	raft_id leader;		   /* 0: none known */
	uint64_t pending_reads;	   /* in the core, waiting for confirmation */
	uint64_t pending_requests; /* proposals, reads and watches waiting */
	/* The state machine: full (apply() said KVDRAFT_ERETRY), and the
	 * committed entries waiting for it. */
	bool store_full;
	uint64_t apply_backlog_bytes;
	/* The WAL. */
	uint64_t wal_jobs_inflight, wal_jobs, wal_lazy_jobs;
	uint64_t wal_syncs, wal_entries;
	/* Peers. */
	uint64_t peer_msgs_sent, peer_msgs_received, peer_msgs_dropped;
	uint64_t peer_errors, peer_bytes_sent, peer_bytes_received;
	uint64_t peer_bad_requests, peer_unauthorized;
	/* Requests and applies. */
	uint64_t proposals_total, proposals_failed, reads_total, reads_failed;
	uint64_t apply_batches, applied_entries, ready_batches, leader_changes;
	/* Snapshots. */
	bool has_snapshot;
	uint64_t snapshot_index, snapshot_size;
	double snapshot_last_seconds;
	uint64_t snapshots_taken, snapshots_failed;
	bool snapshot_in_progress;
	uint64_t snapshot_sends_ok, snapshot_sends_failed, snapshot_bytes_sent;
	uint64_t snapshots_received, snapshot_bytes_received;
	uint64_t snapshot_bad_chunks, snapshot_unauthorized;
	uint64_t snapshot_installs;
	double snapshot_last_install_seconds;
	/* Latencies: a WAL group commit (write + fdatasync), an apply(). */
	struct kvdraft_histogram wal_fsync_seconds, apply_seconds;
	/* Added later: a program built before leaves them out of @size.
	 * apply() calls that took over 100 ms and WAL group commits over
	 * 1 s (each also logs a warning, at most one line per 10 s); peer
	 * POSTs carrying a heartbeat that failed or were answered with an
	 * error, and queued ones dropped behind such a failure or refused
	 * by a full queue (the transport logs the peer's trouble). */
	uint64_t slow_applies, slow_fsyncs, heartbeat_send_failures;
	/* Added later. Peer hellos (docs/FORMAT.md, "Peer hello"): answered
	 * by a peer without a good proof of membership (nothing with the
	 * peer token was sent to it); answered by this member, and refused
	 * by its rate limit. */
	uint64_t peer_proof_failures, peer_hellos_answered;
	uint64_t peer_hellos_limited;
	/* Added later. Peer POSTs written while another was in flight on
	 * the same connection: pipelining to a peer whose round trip is
	 * long (see the peer transport). */
	uint64_t peer_posts_pipelined;
	/* Added later. Peer streams (POST /raft/stream): opened by this
	 * member to its peers and the messages frames written on them;
	 * accepted from peers, refused by the caps on open streams, open
	 * now, and the messages frames received on them. */
	uint64_t peer_streams_opened, peer_stream_frames_sent;
	uint64_t peer_streams_accepted, peer_streams_refused;
	uint64_t peer_streams_open, peer_stream_frames_received;
	/* Added later. Reads this member confirmed as leader: heartbeat
	 * rounds started for them, and reads served from the lease with no
	 * round (kvdraft_node_options.lease_reads); raft_read_counts(). */
	uint64_t read_rounds, lease_reads;
};

/* Fills the fields of @out that out->size covers. */
RAFT_API void kvdraft_node_stats(const struct kvdraft_node *n,
				 struct kvdraft_node_stats *out);

/* The round trips to one peer: each answered peer POST, from the moment
 * it was sent to its answer (the peer answers on receipt), and each ping
 * of a peer stream, from the ping to its pong. */
struct kvdraft_peer_round_trips {
	raft_id id;
	struct kvdraft_histogram seconds;
};

/* Copies the round trips of up to @cap peers heard from into @out and
 * returns how many peers there are (which may exceed @cap). */
RAFT_API size_t
kvdraft_node_peer_round_trips(const struct kvdraft_node *n,
			      struct kvdraft_peer_round_trips *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* KVDRAFT_NODE_H_ */
