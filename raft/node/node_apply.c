/* node_apply.c - applying committed entries to the store (raft.h rule 5)
 * and the backlog that keeps them in order while the store is full (see
 * node_apply.h).
 */
#include "node_apply.h"

#include <assert.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "node_log.h"
#include "node_internal.h"

/* A full state machine.
 *
 * When the state machine cannot take a batch for lack of space (apply()
 * returns KVDRAFT_ERETRY; kvd's store: the file system is full, or the
 * LMDB map at its maximum), nothing of it was applied. The entries the core
 * handed out are copied into the backlog and every newer committed entry goes
 * behind them, never around them; a timer applies them, oldest first, once it
 * takes writes again. Meanwhile new writes answer NODE_EDISKFULL (503, as for a
 * full WAL), waiting ones are answered when their entry is applied or time out,
 * and reads are served from the last applied state. The entries are durable in
 * the WAL: past APPLY_BACKLOG_MAX_BYTES the member exits and a restart applies
 * them from there. */
#define APPLY_RETRY_MS		200
#define APPLY_BACKLOG_MAX_BYTES ((size_t)256 << 20)
/* One retry applies at most this much per transaction, and at most
 * APPLY_CHUNKS_PER_TURN transactions per loop turn: the loop stays
 * responsive while a large backlog drains. */
#define APPLY_CHUNK_ENTRIES   4096
#define APPLY_CHUNK_BYTES     ((size_t)16 << 20)
#define APPLY_CHUNKS_PER_TURN 4
/* An apply() batch slower than this is counted and logged (etcd warns
 * "apply request took too long" at 100 ms): the loop applies on its own
 * thread, so every request of the member waited that long meanwhile. */
#define APPLY_SLOW_SECONDS 0.1

/* Entries as apply() sees them: with the default identity the node's 16
 * bytes in front of each command are left out (a copy of the array; the
 * data is not copied). NULL (out of memory) ends the process. */
static const struct raft_entry *app_view(struct node *n,
					 const struct raft_entry *ents,
					 size_t cnt, struct raft_entry **owned)
{
	*owned = NULL;
	if (n->app.identity_offset >= 0)
		return ents;
	struct raft_entry *v = malloc(cnt * sizeof(*v));
	if (v == NULL)
		node_fatal("apply", "out of memory");
	for (size_t i = 0; i < cnt; i++) {
		v[i] = ents[i];
		if (v[i].type == RAFT_ENTRY_NORMAL) {
			/* A command proposed through the node always has
			 * them; a shorter one is passed on empty. */
			size_t skip = v[i].len < NODE_IDENTITY_BYTES
					  ? v[i].len
					  : NODE_IDENTITY_BYTES;
			v[i].data = v[i].len > skip ? v[i].data + skip : NULL;
			v[i].len -= (uint32_t)skip;
		}
	}
	*owned = v;
	return v;
}

/* Applies @cnt consecutive entries through the application and answers
 * the writes they complete. Returns 0, or KVDRAFT_ERETRY with one line in
 * @err (nothing applied); any other failure ends the process. */
static int apply_entries(struct node *n, const struct raft_entry *ents,
			 size_t cnt, char *err, size_t errlen)
{
	unsigned char *res = NULL;
	if (n->app.result_size > 0) {
		res = calloc(cnt, n->app.result_size);
		if (res == NULL)
			node_fatal("apply", "out of memory");
	}
	double t0 = clock_now_seconds();
	struct raft_entry *owned;
	const struct raft_entry *view = app_view(n, ents, cnt, &owned);
	int rc = n->app.apply(n->app.ctx, view, cnt, res, err, errlen);
	free(owned);
	if (rc != 0) {
		free(res);
		if (rc != KVDRAFT_ERETRY)
			node_fatal("applying committed entries failed",
				   err[0] ? err : "the application failed");
		return rc;
	}
	double took = clock_now_seconds() - t0;
	kvdraft_histogram_observe(&n->metrics.apply_seconds, took);
	if (took > APPLY_SLOW_SECONDS) {
		uint64_t since =
		    slow_log_note(&n->metrics.slow_applies, clock_now_ms());
		if (since > 0)
			log_warn("applying %zu entries took %.0f ms (slow "
				 "applies since last report: %" PRIu64 ")",
				 cnt, took * 1000.0, since);
	}
	n->metrics.apply_batches++;
	n->metrics.applied_entries += cnt;
	n->applied = ents[cnt - 1].index;
	node_waits_complete_writes(n, ents, res, cnt);
	free(res);
	return 0;
}

static size_t backlog_entry_bytes(const struct raft_entry *e)
{
	return sizeof(*e) + e->len;
}

/* Forgets the backlog's array; its entries' data is freed already. */
static void backlog_reset(struct node *n)
{
	free(n->backlog.entries);
	n->backlog.entries = NULL;
	n->backlog.head = n->backlog.n = n->backlog.cap = 0;
	n->backlog.bytes = 0;
}

/* Drops waiting entries at or below the applied index: a snapshot
 * received meanwhile supersedes them (raft.h rule 7); their writes, whose
 * outcome this member cannot tell, time out. */
static void backlog_trim(struct node *n)
{
	while (n->backlog.head < n->backlog.n &&
	       n->backlog.entries[n->backlog.head].index <= n->applied) {
		struct raft_entry *e = &n->backlog.entries[n->backlog.head++];
		n->backlog.bytes -= backlog_entry_bytes(e);
		free(e->data);
	}
	if (n->backlog.head == n->backlog.n)
		backlog_reset(n);
}

/* Copies @cnt committed entries (owned by the core until raft_advance())
 * behind the waiting ones. */
static void backlog_add(struct node *n, const struct raft_entry *ents,
			size_t cnt)
{
	backlog_trim(n);
	size_t bytes = 0;
	for (size_t i = 0; i < cnt; i++)
		bytes += backlog_entry_bytes(&ents[i]);
	if (n->backlog.bytes + bytes > APPLY_BACKLOG_MAX_BYTES) {
		char why[160];
		snprintf(
		    why, sizeof(why),
		    "%zu bytes of committed entries wait for the store, "
		    "more than %zu MiB; a restart applies them from the WAL",
		    n->backlog.bytes + bytes, APPLY_BACKLOG_MAX_BYTES >> 20);
		node_fatal("the store stays full", why);
	}
	/* The core hands out committed entries in order, each once: new
	 * ones follow the waiting ones. */
	assert(n->backlog.n == n->backlog.head ||
	       ents[0].index == n->backlog.entries[n->backlog.n - 1].index + 1);
	if (n->backlog.n + cnt > n->backlog.cap) {
		size_t cap = n->backlog.cap ? n->backlog.cap : 64;
		while (cap < n->backlog.n + cnt)
			cap *= 2;
		struct raft_entry *b =
		    realloc(n->backlog.entries, cap * sizeof(*b));
		if (b == NULL)
			node_fatal("apply backlog", "out of memory");
		n->backlog.entries = b;
		n->backlog.cap = cap;
	}
	for (size_t i = 0; i < cnt; i++) {
		struct raft_entry *e = &n->backlog.entries[n->backlog.n];
		*e = ents[i];
		e->data = NULL;
		if (ents[i].len > 0) {
			e->data = malloc(ents[i].len);
			if (e->data == NULL)
				node_fatal("apply backlog", "out of memory");
			memcpy(e->data, ents[i].data, ents[i].len);
		}
		n->backlog.n++;
	}
	n->backlog.bytes += bytes;
}

static void backlog_free(struct node *n)
{
	if (n->backlog.n > n->backlog.head)
		log_warn("%zu committed entries were not applied (the store "
			 "is full); the next start applies them from the WAL",
			 n->backlog.n - n->backlog.head);
	for (size_t i = n->backlog.head; i < n->backlog.n; i++)
		free(n->backlog.entries[i].data);
	backlog_reset(n);
}

static void arm_apply_retry(struct node *n, unsigned ms)
{
	struct timeval tv = clock_ms_to_timeval(ms);
	evtimer_add(n->backlog.retry_ev, &tv);
}

/* Applies waiting entries, oldest first. Returns 0 when none waits any
 * more, 1 when more wait (the turn's share is done), -1 while the store
 * is still full. */
static int backlog_apply(struct node *n)
{
	char err[256];
	backlog_trim(n);
	for (int turn = 0; turn < APPLY_CHUNKS_PER_TURN; turn++) {
		if (n->backlog.head == n->backlog.n)
			return 0;
		struct raft_entry *first = &n->backlog.entries[n->backlog.head];
		size_t k = 0, bytes = 0;
		while (n->backlog.head + k < n->backlog.n &&
		       k < APPLY_CHUNK_ENTRIES &&
		       (k == 0 || bytes + first[k].len <= APPLY_CHUNK_BYTES))
			bytes += first[k++].len;
		err[0] = '\0';
		if (apply_entries(n, first, k, err, sizeof(err)) != 0)
			return -1;
		backlog_trim(n);
	}
	return n->backlog.head == n->backlog.n ? 0 : 1;
}

/* The retry timer: what process_ready() does after an apply, for the
 * entries applied here. */
static void apply_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (n->stopping || !n->backlog.store_full)
		return;
	raft_index before = n->applied;
	int more = backlog_apply(n);
	if (n->applied != before) {
		node_store_members(n);
		node_note_applied(n);
		node_waits_serve_reads(n);
		node_schedule_flush(n);
	}
	if (more == 0) {
		n->backlog.store_full = false;
		log_info("store writable again: every waiting entry is applied "
			 "(applied index %" PRIu64 "); writes resume",
			 n->applied);
		return;
	}
	arm_apply_retry(n, more > 0 ? 0 : APPLY_RETRY_MS);
}

/* Rule 5: applies the committed entries in order, or keeps them behind
 * the waiting ones while the store is full. */
void node_apply_committed(struct node *n, const struct raft_entry *ents,
			  size_t cnt)
{
	char err[256] = "";
	if (n->backlog.store_full) {
		backlog_add(n, ents, cnt);
		return;
	}
	int rc = apply_entries(n, ents, cnt, err, sizeof(err));
	if (rc == 0)
		return;
	if (n->backlog.retry_ev == NULL) {
		n->backlog.retry_ev = evtimer_new(n->base, apply_retry_cb, n);
		if (n->backlog.retry_ev == NULL)
			node_fatal("applying committed entries failed",
				   "cannot create the retry timer");
	}
	backlog_add(n, ents, cnt);
	n->backlog.store_full = true;
	log_error("applying committed entries failed: %s; writes answer 503 "
		  "until space is freed, retrying every %d ms",
		  err[0] ? err : "no space", APPLY_RETRY_MS);
	arm_apply_retry(n, APPLY_RETRY_MS);
}

void node_apply_stop(struct node *n)
{
	if (n->backlog.retry_ev != NULL)
		event_del(n->backlog.retry_ev);
}

void node_apply_free(struct node *n)
{
	if (n->backlog.retry_ev != NULL)
		event_free(n->backlog.retry_ev);
	backlog_free(n);
}
