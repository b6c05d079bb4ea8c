/* node_internal.h - struct node, shared by node.c and the files the driver
 * is split into; the HTTP layer uses node.h alone.
 *
 * Each part owns a sub-struct of struct node and touches the other fields
 * only through the calls below (or, for the soft state and the handles,
 * by reading them):
 *   node.c           opening, closing, the loop's events, carrying out
 *                    readies (process_ready), read access
 *   node_waits.c     requests that wait for the cluster (struct node_waits)
 *   node_apply.c     applying committed entries, and a full store's
 *                    backlog (struct apply_backlog)
 *   node_wal.c       the WAL pipeline: jobs to the writer thread, deferred
 *                    hard states, inline writes, a full disk's retry
 *                    (struct wal_pipeline)
 *   node_snapshot.c  the snapshotter's callbacks, installing a received
 *                    snapshot (raft.h rule 7a)
 *   node_store.c     the data dir at start: members.json, --restore, a
 *                    damaged store rebuilt, a snapshot install a crash
 *                    interrupted
 * Loop thread only.
 */
#ifndef RAFT_NODE_INTERNAL_H_
#define RAFT_NODE_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node_config.h"
#include "member_config.h"
#include "members_file.h"
#include "node.h"
#include "node_apply.h"
#include "node_snapshot.h"
#include "node_store.h"
#include "node_wal.h"
#include "node_waits.h"
#include "raft.h"
#include "slow_log.h"
#include "snapshot_info.h"

struct event;
struct event_base;
struct transport;
struct tls_server;
struct tls_client;
struct wal_job;
struct snapshotter;

/* The counters and latencies of kvdraft_node_stats the node keeps. */
struct node_metrics {
	uint64_t proposals_total;  /* commands handed to raft */
	uint64_t proposals_failed; /* refused by raft, timed out or lost */
	uint64_t reads_total;	   /* linearizable reads asked for */
	uint64_t reads_failed;
	uint64_t wal_syncs;	  /* group commits (one fdatasync each) */
	uint64_t wal_entries;	  /* entries written to the WAL */
	uint64_t apply_batches;	  /* apply() calls */
	uint64_t applied_entries; /* entries applied */
	uint64_t ready_batches;	  /* raft readies processed */
	uint64_t leader_changes;  /* times the known leader changed */
	struct kvdraft_histogram wal_fsync_seconds;
	struct kvdraft_histogram apply_seconds;
	/* apply() batches over APPLY_SLOW_SECONDS (node_apply.c) and WAL
	 * group commits over WAL_SLOW_FSYNC_SECONDS (node_wal.c), with the
	 * limiters of their warning lines. */
	struct slow_log slow_applies, slow_fsyncs;
	/* Round trips of answered peer POSTs, by peer: the first
	 * RAFT_MAX_MEMBERS peers heard from (a slot is reused once its
	 * peer left the configuration). */
	struct kvdraft_peer_round_trips peer_rtt[RAFT_MAX_MEMBERS];
	size_t n_peer_rtt;
};

struct node {
	struct node_config config;
	const struct node_config *cfg; /* &config */
	struct event_base *base;
	struct raft *raft;
	struct kvdraft_app app; /* the state machine */
	struct transport *tr;
	/* Peer TLS contexts (node.c), NULL without: the listener's, and the
	 * transport's, the snapshot transfer's and discovery's outgoing
	 * connections'. */
	struct tls_server *tls_server;
	struct tls_client *tls_client;
	struct snapshotter *snap; /* node_snapshot.c */
	/* The received snapshot the core took (size and CRC verified by the
	 * transfer), installed by the coming ready (node_snapshot.c). */
	struct snapshot_info received;
	struct members members;
	struct member_config mcfg; /* the list follows the core's config */
	struct node_metrics metrics;
	struct event *tick_ev, *flush_ev, *hello_ev;
	/* With leases the core's ticks follow the monotonic clock
	 * (node.c, catch_up_ticks()): ticks_origin_ms + ticks_done * tick_ms
	 * is when the last tick was due. */
	uint64_t ticks_origin_ms, ticks_done;
	unsigned tick_ms, election_ticks;
	bool flush_scheduled;
	bool stopping;
	struct wal_pipeline wal;      /* node_wal.c */
	struct apply_backlog backlog; /* node_apply.c */
	struct node_waits waits;      /* node_waits.c */
	/* Soft state from the readies. */
	enum raft_role role;
	raft_id leader;
	bool leader_known;
	uint64_t leader_epoch; /* bumped whenever leader_known/leader change */
	raft_index applied;
};

/* The WAL or the state machine failed: logs one line and exits
 * (node.c). */
_Noreturn void node_fatal(const char *what, const char *detail);

/* members.json and the transport follow the configuration applied here
 * (node.c). */
void node_store_members(struct node *n);

/* The applied index moved: the core hears of it, and a snapshot may be
 * due (node.c). */
void node_note_applied(struct node *n);

/* Hands @cnt messages to the transport; snapshots to the snapshotter
 * (node.c). */
void node_send_msgs(struct node *n, const struct raft_msg *msgs, size_t cnt);

/* Schedules one flush for the end of the loop turn: everything that
 * arrived in the turn becomes one ready (node.c). */
void node_schedule_flush(struct node *n);

#endif /* RAFT_NODE_INTERNAL_H_ */
