/* wal_writer.h - the WAL writer thread: group commit off the event loop.
 *
 * The loop hands each raft ready's entries, hard state and the messages
 * that must wait for them (msgs_after_persist) to the writer as a job. The
 * thread takes every queued job at once, writes them in order (truncating a
 * conflicting suffix first, Raft §5.3), makes them durable with ONE
 * wal_sync, and posts the finished jobs back to the loop through an
 * eventfd (loop_wakeup.h). While it syncs, new jobs queue up, so under load a single
 * fdatasync covers many readies (group commit) and the loop never blocks
 * on the disk.
 *
 * A group whose jobs only move the commit index (no entries, no snapshot,
 * term and vote unchanged) is recorded without a sync: the next sync makes
 * it durable, and a crash before that only loses a commit index, which is
 * a hint (raft.h). Its jobs still finish after every earlier job, all of
 * whose syncs are done by then (jobs finish in submission order), so their
 * messages still follow the durability of everything submitted before.
 * A leader thus syncs once per write (its entries), not twice (entries,
 * then the commit index the acknowledgements moved).
 *
 * The thread never calls libevent: the loop needs no libevent locking
 * (evthread_use_pthreads()) for it.
 */
#ifndef SERVER_WAL_WRITER_H_
#define SERVER_WAL_WRITER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"
#include "wal.h"

struct event_base;

/* One ready's worth of storage work. All memory is owned by the job. */
struct wal_job {
	struct wal_job *next;
	struct raft_entry *entries; /* deep copies */
	size_t n_entries;
	bool has_hs;
	struct wal_hard_state hs;
	struct raft_msg *msgs; /* msgs_after_persist, deep copies */
	size_t n_msgs;
	/* Snapshot installed at (install_index, install_term), raft.h rule
	 * 7b: done before the entries. The stored log is kept only when it
	 * holds that entry with that term; otherwise the WAL is reset to
	 * start after install_index. 0: none. */
	raft_index install_index;
	raft_term install_term;
	/* Log compaction after a snapshot: segments whose entries are all
	 * below compact_index are deleted after the write. 0: none. */
	raft_index compact_index;
	/* Filled by the writer. */
	int error; /* WAL_OK or a WAL_E* code */
	char errmsg[256];
	bool first_of_group; /* this job's group made one wal_sync ... */
	bool synced;	     /* ... if it had anything that needed one */
	bool lazy; /* only a commit index change, recorded without a sync */
	double sync_seconds; /* duration of that write + sync */
};

struct wal_writer;

/* Builds a job from a ready's entries, hard state and msgs_after_persist,
 * copying them (the ready's memory stays the core's). NULL when out of
 * memory. @hs may be NULL. */
struct wal_job *wal_job_new(const struct raft_entry *entries, size_t n,
			    const struct raft_hard_state *hs,
			    const struct raft_msg *msgs, size_t n_msgs);
void wal_job_free(struct wal_job *job);

/* Starts the thread, which owns @w from now on until wal_writer_stop().
 * @on_done runs on the loop of @base whenever jobs have finished. Returns 0
 * or -1. */
int wal_writer_start(struct wal *w, struct event_base *base,
		     void (*on_done)(void *ctx), void *ctx,
		     struct wal_writer **out);

/* Queues @job (ownership passes to the writer until it comes back from
 * wal_writer_take_done()). Loop thread only. */
void wal_writer_submit(struct wal_writer *ww, struct wal_job *job);

/* Writes @job on the calling thread, now, when the writer is idle
 * (nothing queued, being written or waiting to be taken back, not halted):
 * the job then waits in the done list for wal_writer_take_done(), exactly
 * as if the thread had written it, but without the two thread wake-ups
 * (one to hand the job over, one to hand it back). Returns false, and does
 * nothing, when the writer is not idle: submit the job instead. For a
 * member whose loop has nothing to do while it waits for its disk (a
 * follower acknowledges entries only once they are durable). Loop thread
 * only. */
bool wal_writer_write_inline(struct wal_writer *ww, struct wal_job *job);

/* Counters since the start, for /metrics. */
struct wal_writer_stats {
	uint64_t jobs;	    /* jobs written */
	uint64_t lazy_jobs; /* of which recorded without a sync (commit only) */
	uint64_t syncs;	    /* wal_sync calls (one fdatasync each) */
};

/* Copies the counters into @out. Any thread. */
void wal_writer_get_stats(struct wal_writer *ww, struct wal_writer_stats *out);

/* After a job came back with an error, every later job comes back
 * unwritten with the same error (so nothing is written out of order) until
 * this is called; then the caller resubmits them in order. A WAL_ENOSPC
 * write leaves the WAL usable (wal.h), so a retry may succeed. Call it only
 * when no submitted job is still to come back. Loop thread only. */
void wal_writer_resume(struct wal_writer *ww);

/* Takes the finished jobs, oldest first, as a list linked by ->next (the
 * caller owns them). NULL when none. */
struct wal_job *wal_writer_take_done(struct wal_writer *ww);

/* Writes and syncs whatever is still queued, stops and joins the thread,
 * and frees @ww (jobs not taken are freed unread). Returns the WAL to the
 * caller, who closes it. */
struct wal *wal_writer_stop(struct wal_writer *ww);

#endif /* SERVER_WAL_WRITER_H_ */
