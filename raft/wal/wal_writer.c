/* wal_writer.c - the WAL writer thread (see wal_writer.h). */
#include "wal_writer.h"
#include "clock.h"
#include "loop_wakeup.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wal_writer {
	struct wal *wal;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* Guarded by mu. */
	struct wal_job *todo, *todo_tail;
	struct wal_job *done, *done_tail;
	bool stop;
	/* A group is being written (by the thread, or inline by the loop
	 * with wal_writer_write_inline()): "last_hs" and "unsynced" below
	 * belong to whoever writes it. */
	bool busy;
	/* A group failed: later jobs come back unwritten with halt_error
	 * until wal_writer_resume(), so nothing is written out of order. */
	bool halted;
	int halt_error;
	struct wal_writer_stats stats;
	/* Whoever writes a group (see busy). */
	struct wal_hard_state last_hs; /* newest hard state handed to wal */
	bool unsynced; /* a commit-only hard state not yet made durable */
	struct loop_wakeup *done_wake; /* fired by the thread */
	void (*on_done)(void *ctx);
	void *ctx;
};

/* Copies @n entries and their data into one allocation each for the
 * array and the data (so one free() per array suffices). */
static struct raft_entry *copy_entries(const struct raft_entry *src, size_t n)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += src[i].len;
	struct raft_entry *dst = malloc(n * sizeof(*dst) + bytes + 1);
	if (dst == NULL)
		return NULL;
	uint8_t *data = (uint8_t *)(dst + n);
	for (size_t i = 0; i < n; i++) {
		dst[i] = src[i];
		if (src[i].len > 0) {
			memcpy(data, src[i].data, src[i].len);
			dst[i].data = data;
			data += src[i].len;
		} else {
			dst[i].data = NULL;
		}
	}
	return dst;
}

struct wal_job *wal_job_new(const struct raft_entry *entries, size_t n,
			    const struct raft_hard_state *hs,
			    const struct raft_msg *msgs, size_t n_msgs)
{
	struct wal_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	if (n > 0) {
		job->entries = copy_entries(entries, n);
		if (job->entries == NULL)
			goto fail;
		job->n_entries = n;
	}
	if (hs != NULL) {
		job->has_hs = true;
		job->hs.term = hs->term;
		job->hs.vote = hs->vote;
		job->hs.commit = hs->commit;
	}
	if (n_msgs > 0) {
		job->msgs = calloc(n_msgs, sizeof(*job->msgs));
		if (job->msgs == NULL)
			goto fail;
		job->n_msgs = n_msgs;
		for (size_t i = 0; i < n_msgs; i++) {
			job->msgs[i] = msgs[i];
			job->msgs[i].entries = NULL;
			if (msgs[i].n_entries > 0) {
				job->msgs[i].entries = copy_entries(
				    msgs[i].entries, msgs[i].n_entries);
				if (job->msgs[i].entries == NULL)
					goto fail;
			}
		}
	}
	return job;
fail:
	wal_job_free(job);
	return NULL;
}

void wal_job_free(struct wal_job *job)
{
	if (job == NULL)
		return;
	free(job->entries);
	for (size_t i = 0; i < job->n_msgs; i++)
		free(job->msgs[i].entries);
	free(job->msgs);
	free(job);
}

/* raft.h rule 7b: keep the stored tail only when it continues the
 * snapshot (same term at its index, Log Matching); else start over. */
static int install_snapshot(struct wal *w, struct wal_job *job)
{
	raft_index idx = job->install_index;
	if (idx >= wal_first_index(w) && idx <= wal_last_index(w)) {
		struct raft_entry *e = NULL;
		size_t n = 0;
		int rc = wal_read(w, idx, idx, &e, &n, job->errmsg,
				  sizeof(job->errmsg));
		if (rc != WAL_OK)
			return rc;
		bool keep = n == 1 && e[0].term == job->install_term;
		wal_free_entries(e, n);
		if (keep)
			return WAL_OK;
	}
	return wal_reset(w, idx, job->errmsg, sizeof(job->errmsg));
}

/* Writes one job (not synced). Returns WAL_OK or the error. */
static int write_job(struct wal *w, struct wal_job *job)
{
	int rc;
	if (job->install_index > 0) {
		rc = install_snapshot(w, job);
		if (rc != WAL_OK)
			return rc;
	}
	if (job->n_entries > 0) {
		raft_index first = job->entries[0].index;
		/* Contract rule 1: drop a conflicting stored suffix first. */
		if (first <= wal_last_index(w)) {
			rc = wal_truncate_after(w, first - 1, job->errmsg,
						sizeof(job->errmsg));
			if (rc != WAL_OK)
				return rc;
		}
		rc = wal_append(w, job->entries, job->n_entries, job->errmsg,
				sizeof(job->errmsg));
		if (rc != WAL_OK)
			return rc;
	}
	if (job->has_hs) {
		rc = wal_set_hard_state(w, &job->hs, job->errmsg,
					sizeof(job->errmsg));
		if (rc != WAL_OK)
			return rc;
	}
	return WAL_OK;
}

/* Whether @job must be durable before its messages go and before it
 * counts as persisted: entries (and the truncation before them), a
 * snapshot install, or a hard state whose term or vote changed (votedFor
 * and currentTerm must survive a crash, Figure 2). A hard state that only
 * moves the commit index does not: the commit index is a hint that
 * recovery may find lower (raft.h; the node raises it to the store's
 * applied index), and a job reaches the loop only after every earlier
 * job, all of whose syncs are done by then (FIFO). Its record stays
 * pending in the WAL until the next append or sync writes it. */
static bool needs_sync(const struct wal_writer *ww, const struct wal_job *job)
{
	if (job->n_entries > 0 || job->install_index > 0)
		return true;
	return job->has_hs && (job->hs.term != ww->last_hs.term ||
			       job->hs.vote != ww->last_hs.vote);
}

/* Writes one group of jobs (the thread's batch, or one job inline) with
 * at most one sync, and records the outcome in each job and the counters.
 * Called without mu, by whoever set busy. */
static void write_group(struct wal_writer *ww, struct wal_job *batch)
{
	/* Restored when the group fails: a retried hard state must
	 * not look like a commit-only change (needs_sync()). */
	struct wal_hard_state hs_before = ww->last_hs;

	/* Group commit: write every queued job, then one sync, made
	 * only when a job needs it (see needs_sync()). */
	double t0 = clock_now_seconds();
	int rc = WAL_OK;
	bool dirty = false, lazy = false;
	size_t n_jobs = 0, n_lazy = 0;
	struct wal_job *failed = NULL;
	for (struct wal_job *j = batch; j != NULL; j = j->next) {
		n_jobs++;
		if (needs_sync(ww, j)) {
			dirty = true;
		} else if (j->has_hs) {
			j->lazy = true;
			lazy = true;
			n_lazy++;
		}
		if (j->has_hs)
			ww->last_hs = j->hs;
		if (rc == WAL_OK) {
			rc = write_job(ww->wal, j);
			if (rc != WAL_OK)
				failed = j;
		}
	}
	char errmsg[256] = "";
	if (rc == WAL_OK && dirty) {
		rc = wal_sync(ww->wal, errmsg, sizeof(errmsg));
		if (rc == WAL_OK)
			ww->unsynced = false;
	} else if (failed != NULL) {
		memcpy(errmsg, failed->errmsg, sizeof(errmsg));
	} else if (lazy) {
		ww->unsynced = true;
	}
	/* Compaction only once what precedes it is durable. */
	for (struct wal_job *j = batch; j != NULL && rc == WAL_OK; j = j->next)
		if (j->compact_index > 0)
			rc = wal_compact(ww->wal, j->compact_index, errmsg,
					 sizeof(errmsg));
	double took = clock_now_seconds() - t0;
	batch->first_of_group = true;
	batch->synced = dirty;
	batch->sync_seconds = took;
	for (struct wal_job *j = batch; j != NULL; j = j->next) {
		/* A failure makes the whole group not durable. */
		j->error = rc;
		if (rc != WAL_OK)
			memcpy(j->errmsg, errmsg, sizeof(j->errmsg));
	}
	if (rc != WAL_OK)
		ww->last_hs = hs_before;

	pthread_mutex_lock(&ww->mu);
	if (rc != WAL_OK) {
		ww->halted = true;
		ww->halt_error = rc;
	}
	ww->stats.jobs += n_jobs;
	ww->stats.lazy_jobs += n_lazy;
	ww->stats.syncs += dirty && rc == WAL_OK;
	pthread_mutex_unlock(&ww->mu);
}

static void *writer_main(void *arg)
{
	struct wal_writer *ww = arg;
	pthread_mutex_lock(&ww->mu);
	for (;;) {
		while (ww->todo == NULL && !ww->stop)
			pthread_cond_wait(&ww->cond, &ww->mu);
		if (ww->todo == NULL && ww->stop)
			break;
		struct wal_job *batch = ww->todo;
		struct wal_job *tail = ww->todo_tail;
		ww->todo = ww->todo_tail = NULL;
		if (ww->halted) {
			for (struct wal_job *j = batch; j != NULL;
			     j = j->next) {
				j->error = ww->halt_error;
				snprintf(j->errmsg, sizeof(j->errmsg),
					 "not written: an earlier write "
					 "failed");
			}
			goto post;
		}
		ww->busy = true;
		pthread_mutex_unlock(&ww->mu);
		write_group(ww, batch);
		pthread_mutex_lock(&ww->mu);
		ww->busy = false;
	post:
		if (ww->done_tail != NULL)
			ww->done_tail->next = batch;
		else
			ww->done = batch;
		ww->done_tail = tail;
		loop_wakeup_fire(ww->done_wake);
	}
	pthread_mutex_unlock(&ww->mu);
	/* A clean stop leaves the newest commit index durable too. */
	if (ww->unsynced) {
		char errmsg[256];
		if (wal_sync(ww->wal, errmsg, sizeof(errmsg)) == WAL_OK) {
			pthread_mutex_lock(&ww->mu);
			ww->stats.syncs++;
			pthread_mutex_unlock(&ww->mu);
		}
		ww->unsynced = false;
	}
	return NULL;
}

static void done_cb(void *arg)
{
	struct wal_writer *ww = arg;
	ww->on_done(ww->ctx);
}

int wal_writer_start(struct wal *w, struct event_base *base,
		     void (*on_done)(void *ctx), void *ctx,
		     struct wal_writer **out)
{
	struct wal_writer *ww = calloc(1, sizeof(*ww));
	if (ww == NULL)
		return -1;
	ww->wal = w;
	wal_hard_state(w, &ww->last_hs);
	ww->on_done = on_done;
	ww->ctx = ctx;
	pthread_mutex_init(&ww->mu, NULL);
	pthread_cond_init(&ww->cond, NULL);
	ww->done_wake = loop_wakeup_new(base, done_cb, ww);
	if (ww->done_wake == NULL)
		goto fail;
	if (pthread_create(&ww->thread, NULL, writer_main, ww) != 0)
		goto fail;
	*out = ww;
	return 0;
fail:
	loop_wakeup_free(ww->done_wake);
	pthread_mutex_destroy(&ww->mu);
	pthread_cond_destroy(&ww->cond);
	free(ww);
	return -1;
}

void wal_writer_submit(struct wal_writer *ww, struct wal_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&ww->mu);
	if (ww->todo_tail != NULL)
		ww->todo_tail->next = job;
	else
		ww->todo = job;
	ww->todo_tail = job;
	pthread_cond_signal(&ww->cond);
	pthread_mutex_unlock(&ww->mu);
}

bool wal_writer_write_inline(struct wal_writer *ww, struct wal_job *job)
{
	pthread_mutex_lock(&ww->mu);
	bool idle = ww->todo == NULL && !ww->busy && !ww->halted && !ww->stop &&
		    ww->done == NULL;
	if (idle)
		ww->busy = true;
	pthread_mutex_unlock(&ww->mu);
	if (!idle)
		return false;
	job->next = NULL;
	write_group(ww, job);
	pthread_mutex_lock(&ww->mu);
	ww->busy = false;
	/* The done list was empty: the job is all of it. */
	ww->done = ww->done_tail = job;
	pthread_mutex_unlock(&ww->mu);
	return true;
}

void wal_writer_get_stats(struct wal_writer *ww, struct wal_writer_stats *out)
{
	pthread_mutex_lock(&ww->mu);
	*out = ww->stats;
	pthread_mutex_unlock(&ww->mu);
}

void wal_writer_resume(struct wal_writer *ww)
{
	pthread_mutex_lock(&ww->mu);
	ww->halted = false;
	ww->halt_error = WAL_OK;
	pthread_mutex_unlock(&ww->mu);
}

struct wal_job *wal_writer_take_done(struct wal_writer *ww)
{
	pthread_mutex_lock(&ww->mu);
	struct wal_job *list = ww->done;
	ww->done = ww->done_tail = NULL;
	pthread_mutex_unlock(&ww->mu);
	return list;
}

struct wal *wal_writer_stop(struct wal_writer *ww)
{
	pthread_mutex_lock(&ww->mu);
	ww->stop = true;
	pthread_cond_signal(&ww->cond);
	pthread_mutex_unlock(&ww->mu);
	pthread_join(ww->thread, NULL);
	struct wal_job *j = ww->done;
	while (j != NULL) {
		struct wal_job *next = j->next;
		wal_job_free(j);
		j = next;
	}
	struct wal *w = ww->wal;
	loop_wakeup_free(ww->done_wake);
	pthread_mutex_destroy(&ww->mu);
	pthread_cond_destroy(&ww->cond);
	free(ww);
	return w;
}
