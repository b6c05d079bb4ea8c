/* node_wal.c - the WAL pipeline: jobs to the writer thread, deferred hard
 * states, inline writes, and the retry after a full disk (see node_wal.h).
 */
#include "node_wal.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>

#include "clock.h"
#include "node_log.h"
#include "node_internal.h"
#include "wal.h"
#include "wal_writer.h"

static void job_append(struct wal_job **head, struct wal_job **tail,
		       struct wal_job *j)
{
	j->next = NULL;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* Hands @job to the writer, or holds it while the writer is halted so that
 * it is written after the jobs waiting for a retry. */
void node_wal_submit(struct node *n, struct wal_job *job)
{
	n->wal.inflight++;
	if (n->wal.halted) {
		job_append(&n->wal.held, &n->wal.held_tail, job);
		return;
	}
	n->wal.in_writer++;
	wal_writer_submit(n->wal.ww, job);
}

static void free_jobs(struct wal_job *j)
{
	while (j != NULL) {
		struct wal_job *next = j->next;
		wal_job_free(j);
		j = next;
	}
}

#define WAL_RETRY_MS 500

static void arm_retry(struct node *n)
{
	struct timeval tv = clock_ms_to_timeval(WAL_RETRY_MS);
	evtimer_add(n->wal.retry_ev, &tv);
}

/* Resubmits the jobs of a failed write, in order, once the writer has
 * given back every job (so none can be written ahead of them). */
static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (n->stopping || !n->wal.halted)
		return;
	if (n->wal.in_writer > 0) {
		arm_retry(n);
		return;
	}
	if (n->wal.retry_tail != NULL) {
		n->wal.retry_tail->next = n->wal.held;
		if (n->wal.held != NULL)
			n->wal.retry_tail = n->wal.held_tail;
	} else {
		n->wal.retry = n->wal.held;
		n->wal.retry_tail = n->wal.held_tail;
	}
	struct wal_job *j = n->wal.retry;
	n->wal.retry = n->wal.retry_tail = NULL;
	n->wal.held = n->wal.held_tail = NULL;
	n->wal.halted = false;
	wal_writer_resume(n->wal.ww);
	while (j != NULL) {
		struct wal_job *next = j->next;
		j->error = WAL_OK;
		j->errmsg[0] = '\0';
		j->first_of_group = j->synced = j->lazy = false;
		n->wal.in_writer++;
		wal_writer_submit(n->wal.ww, j);
		j = next;
	}
}

/* A WAL group commit (write + fdatasync) slower than this is counted and
 * logged, as etcd warns of a "slow fdatasync" at 1 s: every write of the
 * member waited for it, and a disk this slow delays heartbeats' answers
 * towards an election. */
#define WAL_SLOW_FSYNC_SECONDS 1.0

/* Counts a slow group commit and logs it (at most one line per
 * SLOW_LOG_INTERVAL_MS). On the loop, where the writer's jobs complete:
 * the writer thread measures and the loop reports. */
static void note_slow_fsync(struct node *n, double seconds)
{
	uint64_t since = slow_log_note(&n->metrics.slow_fsyncs, clock_now_ms());
	if (since == 0)
		return;
	if (since == 1)
		log_warn("WAL fsync took %.1f s (slow disk?)", seconds);
	else
		log_warn("WAL fsync took %.1f s (slow disk?; slow fsyncs "
			 "since last report: %" PRIu64 ")",
			 seconds, since);
}

void node_wal_done_cb(void *ctx)
{
	struct node *n = ctx;
	struct wal_job *j = wal_writer_take_done(n->wal.ww);
	while (j != NULL) {
		struct wal_job *next = j->next;
		n->wal.in_writer--;
		if (j->error == WAL_ENOSPC) {
			/* wal.h: nothing of it was made durable and the WAL
			 * stays usable. Tell the core nothing, keep the job
			 * (and every later one, which the writer sends back
			 * unwritten) and write them again later. */
			if (!n->wal.disk_full)
				log_error("WAL write failed: %s; writes answer "
					  "503 until space is freed, retrying "
					  "every %d ms",
					  j->errmsg, WAL_RETRY_MS);
			n->wal.disk_full = true;
			if (!n->wal.halted) {
				n->wal.halted = true;
				arm_retry(n);
			}
			job_append(&n->wal.retry, &n->wal.retry_tail, j);
			j = next;
			continue;
		}
		n->wal.inflight--;
		if (j->error != WAL_OK)
			node_fatal("WAL write failed", j->errmsg);
		if (n->wal.disk_full) {
			n->wal.disk_full = false;
			log_info("the WAL is written again: writes resume");
		}
		if (j->first_of_group && j->synced) {
			n->metrics.wal_syncs++;
			kvdraft_histogram_observe(&n->metrics.wal_fsync_seconds,
						  j->sync_seconds);
			if (j->sync_seconds > WAL_SLOW_FSYNC_SECONDS)
				note_slow_fsync(n, j->sync_seconds);
		}
		if (!n->stopping) {
			/* Rule 3: this job and every one before it are
			 * durable. */
			node_send_msgs(n, j->msgs, j->n_msgs);
			/* Rule 4: the job's entries are durable. */
			if (j->n_entries > 0) {
				const struct raft_entry *last =
				    &j->entries[j->n_entries - 1];
				raft_persisted(n->raft, last->index,
					       last->term);
			}
		}
		wal_job_free(j);
		j = next;
	}
	node_schedule_flush(n);
}

int node_wal_init(struct node *n)
{
	n->wal.retry_ev = evtimer_new(n->base, retry_cb, n);
	return n->wal.retry_ev != NULL ? 0 : -1;
}

int node_wal_start(struct node *n, struct wal *w)
{
	return wal_writer_start(w, n->base, node_wal_done_cb, n, &n->wal.ww);
}

void node_wal_write_inline(struct node *n, struct wal_job *job)
{
	n->wal.inflight++;
	n->wal.in_writer++;
	if (wal_writer_write_inline(n->wal.ww, job))
		node_wal_done_cb(n);
	else
		wal_writer_submit(n->wal.ww, job);
}

void node_wal_stop(struct node *n)
{
	if (n->wal.retry_ev != NULL)
		event_del(n->wal.retry_ev);
}

void node_wal_close(struct node *n)
{
	if (n->wal.ww != NULL) {
		/* Everything handed to the writer becomes durable, the
		 * deferred commit index too. */
		if (n->wal.hs_deferred) {
			struct wal_job *j =
			    wal_job_new(NULL, 0, &n->wal.hs_last, NULL, 0);
			if (j != NULL)
				node_wal_submit(n, j);
			n->wal.hs_deferred = false;
		}
		struct wal *w = wal_writer_stop(n->wal.ww);
		wal_close(w);
	}
}

void node_wal_free(struct node *n)
{
	if (n->wal.retry_ev != NULL)
		event_free(n->wal.retry_ev);
	/* Never written: nothing of them was acknowledged. */
	free_jobs(n->wal.retry);
	free_jobs(n->wal.held);
}
