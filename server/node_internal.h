/* node_internal.h - struct node, shared by node.c and the files the driver
 * is split into; the HTTP layer uses node.h alone.
 *
 * Each part owns a sub-struct of struct node and touches the other fields
 * only through the calls below (or, for the soft state and the handles,
 * by reading them):
 *   node.c        opening, closing, the loop's events, carrying out readies
 *   node_waits.c  requests that wait for the cluster (struct node_waits)
 *   node_apply.c  applying committed entries, and a full store's backlog
 *                 (struct apply_backlog)
 * Loop thread only.
 */
#ifndef SERVER_NODE_INTERNAL_H_
#define SERVER_NODE_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kv.h"
#include "member_config.h"
#include "members.h"
#include "metrics.h"
#include "node.h"
#include "node_apply.h"
#include "node_waits.h"
#include "raft.h"

struct event;
struct event_base;
struct transport;
struct wal_job;
struct wal_writer;
struct snapshotter;

struct node {
	const struct config *cfg;
	struct event_base *base;
	struct raft *raft;
	struct kv *kv;
	struct wal_writer *ww;
	struct transport *tr;
	struct snapshotter *snap; /* node.c, section "snapshots" */
	struct members members;
	struct member_config mcfg; /* the list follows the core's config */
	struct metrics metrics;
	struct event *tick_ev, *flush_ev, *hello_ev;
	bool flush_scheduled;
	bool stopping;
	size_t wal_inflight; /* jobs created and not yet done (in the writer,
			      * or held for a retry below) */
	/* The newest hard state handed to the WAL, or deferred: a change of
	 * the commit index alone, made while no job is in flight, waits for
	 * the next job instead of costing one of its own (process_ready). */
	struct raft_hard_state hs_last;
	bool hs_deferred; /* hs_last is in no job yet */
	/* Disk full (WAL_ENOSPC): the writer is halted; the failed jobs and
	 * those it sent back unwritten wait in wal_retry (in order), jobs
	 * made since in wal_held; both are resubmitted, in that order, by
	 * retry_ev once every job has come back from the writer. */
	size_t wal_in_writer; /* submitted, not yet taken back */
	bool wal_halted;
	bool disk_full; /* proposals answer NODE_EDISKFULL until a write
			 * succeeds again */
	struct wal_job *wal_retry, *wal_retry_tail;
	struct wal_job *wal_held, *wal_held_tail;
	struct event *retry_ev;
	struct apply_backlog backlog; /* node_apply.c */
	struct node_waits waits;      /* node_waits.c */
	/* Soft state from the readies. */
	enum raft_role role;
	raft_id leader;
	bool leader_known;
	uint64_t leader_epoch; /* bumped whenever leader_known/leader change */
	raft_index applied;
};

/* The WAL or the store failed: logs one line and exits (node.c). */
_Noreturn void node_fatal(const char *what, const char *detail);

/* A store call found the store damaged (KV_ECORRUPT, else nothing): marks
 * it so that the next start rebuilds it (node.c). */
void node_mark_damaged(struct node *n, int rc, const char *why);

/* members.json and the transport follow the configuration applied here
 * (node.c). */
void node_store_members(struct node *n);

/* The applied index moved: the core hears of it, and a snapshot may be
 * due (node.c). */
void node_note_applied(struct node *n);

/* The snapshotter's view of applying (node.c, section "snapshots"):
 * before a batch, and after the applied index moved. */
void node_snapshot_before_apply(struct node *n, const struct raft_entry *ents,
				size_t cnt);
void node_snapshot_applied(struct node *n);

/* Schedules one flush for the end of the loop turn: everything that
 * arrived in the turn becomes one ready (node.c). */
void node_schedule_flush(struct node *n);

#endif /* SERVER_NODE_INTERNAL_H_ */
