/* node_wal.h - the WAL pipeline of the driver: readies' jobs handed to the
 * WAL writer thread in order, the commit index deferred to the next job,
 * writes done inline on the loop, and a full disk's halt and retry.
 *
 * Completion (node_wal_done_cb) carries out raft.h rules 3 and 4: a job's
 * messages leave and raft_persisted() is called once the job, and every
 * job before it, is durable. Loop thread only.
 */
#ifndef RAFT_NODE_WAL_H_
#define RAFT_NODE_WAL_H_

#include <stdbool.h>
#include <stddef.h>

#include "raft.h"

struct event;
struct node;
struct wal;
struct wal_job;
struct wal_writer;

/* Embedded in struct node; node_wal.c owns it, process_ready() reads and
 * sets the hard state fields. */
struct wal_pipeline {
	struct wal_writer *ww;
	size_t inflight; /* jobs created and not yet done (in the writer,
			  * or held for a retry below) */
	/* The newest hard state handed to the WAL, or deferred: a change of
	 * the commit index alone, made while no job is in flight, waits for
	 * the next job instead of costing one of its own (process_ready()
	 * by raft/node/ready_plan.c). */
	struct raft_hard_state hs_last;
	bool hs_deferred; /* hs_last is in no job yet */
	/* Disk full (WAL_ENOSPC): the writer is halted; the failed jobs and
	 * those it sent back unwritten wait in retry (in order), jobs made
	 * since in held; both are resubmitted, in that order, by retry_ev
	 * once every job has come back from the writer. */
	size_t in_writer; /* submitted, not yet taken back */
	bool halted;
	bool disk_full; /* proposals answer NODE_EDISKFULL until a write
			 * succeeds again */
	struct wal_job *retry, *retry_tail;
	struct wal_job *held, *held_tail;
	struct event *retry_ev;
};

/* Creates the retry timer: 0, or -1 when it cannot. */
int node_wal_init(struct node *n);

/* Starts the writer thread on @w (owned by the writer from then on):
 * 0, or -1 when it cannot. */
int node_wal_start(struct node *n, struct wal *w);

/* Hands @job (owned by the pipeline from now on) to the writer, or holds
 * it while the writer is halted so that it is written after the jobs
 * waiting for a retry. */
void node_wal_submit(struct node *n, struct wal_job *job);

/* Writes @job on this thread when the writer can (nothing else in flight)
 * and completes it at once; else hands it to the writer. */
void node_wal_write_inline(struct node *n, struct wal_job *job);

/* The writer's completion callback (@ctx the node): takes back the jobs
 * done, in order. */
void node_wal_done_cb(void *ctx);

/* Stops the retry timer (node_stop()). */
void node_wal_stop(struct node *n);

/* Drains the writer: everything handed to it becomes durable, the
 * deferred commit index too; then closes the WAL (node_close()). */
void node_wal_close(struct node *n);

/* Frees the timer and the jobs a full disk kept back (never written:
 * nothing of them was acknowledged). */
void node_wal_free(struct node *n);

#endif /* RAFT_NODE_WAL_H_ */
