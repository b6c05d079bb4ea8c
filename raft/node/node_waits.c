/* node_waits.c - the requests that wait for the cluster: proposals, reads,
 * leadership transfers and watched work; their ids, hash, read queue,
 * timeouts and completion (see node_waits.h).
 */
#include "node_waits.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "clock.h"
#include "node_log.h"
#include "node_internal.h"

static struct node_wait **bucket(struct node *n, uint64_t id)
{
	return &n->waits.buckets[(id ^ (id >> 17)) % NODE_WAITS_BUCKETS];
}

struct node_wait *node_waits_take(struct node *n, uint64_t id)
{
	for (struct node_wait **p = bucket(n, id); *p != NULL;
	     p = &(*p)->hnext) {
		if ((*p)->id == id) {
			struct node_wait *w = *p;
			*p = w->hnext;
			w->hnext = NULL;
			return w;
		}
	}
	return NULL;
}

/* Takes @w out of the hash (no index yet) or the read queue. */
static void detach(struct node *n, struct node_wait *w)
{
	if (w->kind == WAIT_READ && w->read_index != 0) {
		for (struct node_wait **p = &n->waits.readq; *p != NULL;
		     p = &(*p)->hnext) {
			if (*p == w) {
				*p = w->hnext;
				break;
			}
		}
	} else {
		node_waits_take(n, w->id);
	}
	w->hnext = NULL;
}

/* Unlinks @w (already detached) from the wait list and stops its timer.
 * A registered wait has w->node set; clearing it makes a second unlink
 * (node_unwatch() twice) a no-op instead of corrupting the list. */
static void unlink_wait(struct node *n, struct node_wait *w)
{
	if (w->node == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		n->waits.list = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	n->waits.count--;
	if (w->timer != NULL) {
		event_free(w->timer);
		w->timer = NULL;
	}
	w->node = NULL;
}

/* Completes @w, already detached: unlinks it from the wait list, stops
 * its timer and calls done() (after which @w is the caller's again). */
void node_wait_finish(struct node *n, struct node_wait *w, int err,
		      const void *result)
{
	unlink_wait(n, w);
	if (err != NODE_OK) {
		if (w->kind == WAIT_WRITE)
			n->metrics.proposals_failed++;
		else if (w->kind == WAIT_READ)
			n->metrics.reads_failed++;
	}
	w->done(w, err, result);
}

/* A wait without an outcome in time: 504 when the same leader was known
 * throughout (the cluster is up but slow, or the entry was lost), else 503
 * (no leader reachable: docs/API.md: no request hangs, it fails with 503). */
static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node_wait *w = arg;
	struct node *n = w->node;
	bool stable = n->leader_known && n->leader_epoch == w->leader_epoch;
	detach(n, w);
	if (w->kind == WAIT_TRANSFER) {
		/* The core has abandoned the transfer by now: the target did
		 * not take over (the old leader resumes), whoever leads. */
		bool took_over = n->leader_known && n->leader == w->target;
		node_wait_finish(n, w, took_over ? NODE_OK : NODE_ETIMEOUT,
				 NULL);
		return;
	}
	node_wait_finish(n, w, stable ? NODE_ETIMEOUT : NODE_EUNAVAILABLE,
			 NULL);
}

static int register_wait(struct node *n, struct node_wait *w, int kind,
			 uint64_t id)
{
	struct timeval tv;
	w->node = n;
	w->id = id;
	w->kind = kind;
	w->read_index = 0;
	w->leader_epoch = n->leader_epoch;
	w->timer = evtimer_new(n->base, wait_timeout_cb, w);
	if (w->timer == NULL) {
		w->node = NULL; /* not registered */
		return NODE_EINTERNAL;
	}
	/* A transfer is decided within an election timeout (the core then
	 * gives up); a heartbeat more lets a takeover at the last moment be
	 * heard of first. */
	unsigned ms = kind == WAIT_TRANSFER
			  ? n->cfg->election_timeout_ms + n->cfg->heartbeat_ms
			  : n->cfg->request_timeout_ms;
	tv = clock_ms_to_timeval(ms);
	evtimer_add(w->timer, &tv);
	struct node_wait **b = bucket(n, id);
	w->hnext = *b;
	*b = w;
	w->prev = NULL;
	w->next = n->waits.list;
	if (n->waits.list != NULL)
		n->waits.list->prev = w;
	n->waits.list = w;
	n->waits.count++;
	return NODE_OK;
}

static uint64_t new_id(struct node *n)
{
	/* 0 means "no request" in a command; ids start at a random point so
	 * entries proposed by an earlier run never match a new request. */
	if (n->waits.next_id == 0)
		n->waits.next_id++;
	return n->waits.next_id++;
}

static int map_raft_error(int rc)
{
	switch (rc) {
	case RAFT_OK:
		return NODE_OK;
	case RAFT_ENOLEADER:
	case RAFT_ENOTLEADER:
	case RAFT_EREMOVED:
		return NODE_ENOLEADER;
	case RAFT_ETRANSFER:
		return NODE_ETRANSFER;
	case RAFT_EBUSY:
		return NODE_EBUSY;
	case RAFT_ETOO_LARGE:
		return NODE_ETOO_LARGE;
	default:
		return NODE_EINTERNAL;
	}
}

/* The identity of a proposal: the member that proposed it and its
 * request id, two little-endian u64 (kvdraft_app.identity_offset). */
static void put_identity(uint8_t *at, uint64_t origin, uint64_t id)
{
	le_put_u64(at, origin);
	le_put_u64(at + 8, id);
}

int node_propose(struct node *n, void *cmd, size_t len, struct node_wait *w)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	if (n->wal.disk_full || n->backlog.store_full)
		return NODE_EDISKFULL;
	long off = n->app.identity_offset;
	if (off >= 0 && (size_t)off + NODE_IDENTITY_BYTES > len)
		return NODE_EINVAL;
	if (len > SIZE_MAX - NODE_IDENTITY_BYTES)
		return NODE_ETOO_LARGE;
	uint64_t id = new_id(n);
	n->metrics.proposals_total++;
	int rc;
	if (off >= 0) {
		put_identity((uint8_t *)cmd + off, n->cfg->id, id);
		rc = raft_propose(n->raft, cmd, len, NULL);
	} else {
		/* In front: one copy, which the core copies again. */
		uint8_t *buf = malloc(len + NODE_IDENTITY_BYTES);
		if (buf == NULL) {
			n->metrics.proposals_failed++;
			return NODE_EINTERNAL;
		}
		put_identity(buf, n->cfg->id, id);
		if (len > 0)
			memcpy(buf + NODE_IDENTITY_BYTES, cmd, len);
		rc =
		    raft_propose(n->raft, buf, len + NODE_IDENTITY_BYTES, NULL);
		free(buf);
	}
	rc = map_raft_error(rc);
	if (rc == NODE_OK)
		rc = register_wait(n, w, WAIT_WRITE, id);
	if (rc != NODE_OK) {
		n->metrics.proposals_failed++;
		return rc;
	}
	node_schedule_flush(n);
	return NODE_OK;
}

int node_read_index(struct node *n, struct node_wait *w)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	uint64_t id = new_id(n);
	n->metrics.reads_total++;
	int rc = map_raft_error(raft_read_index(n->raft, id));
	if (rc == NODE_OK)
		rc = register_wait(n, w, WAIT_READ, id);
	if (rc != NODE_OK) {
		n->metrics.reads_failed++;
		return rc;
	}
	node_schedule_flush(n);
	return NODE_OK;
}

int node_transfer_leadership(struct node *n, raft_id to, struct node_wait *w)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	int rc = raft_transfer_leadership(n->raft, to);
	switch (rc) {
	case RAFT_OK:
		break;
	case RAFT_ENOTLEADER:
		return NODE_ENOTLEADER;
	case RAFT_EINVAL:
		return NODE_EINVAL;
	default:
		return map_raft_error(rc);
	}
	w->target = to;
	rc = register_wait(n, w, WAIT_TRANSFER, new_id(n));
	if (rc == NODE_OK)
		log_info("leadership transfer to %" PRIu64 " started", to);
	node_schedule_flush(n);
	return rc;
}

int node_watch(struct node *n, struct node_wait *w)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	return register_wait(n, w, WAIT_EXTERNAL, new_id(n));
}

void node_unwatch(struct node *n, struct node_wait *w)
{
	if (w->node == NULL)
		return; /* finished or unwatched already */
	detach(n, w);
	unlink_wait(n, w);
}

/* Completes the transfers waiting for @leader to lead. */
void node_waits_finish_transfers(struct node *n, raft_id leader)
{
	struct node_wait *w = n->waits.list;
	while (w != NULL) {
		if (w->kind != WAIT_TRANSFER || w->target != leader) {
			w = w->next;
			continue;
		}
		detach(n, w);
		node_wait_finish(n, w, NODE_OK, NULL);
		/* The completion may have changed the list (a program that
		 * stops the node once leadership is handed over fails every
		 * other wait, freeing them): start again from its head. */
		w = n->waits.list;
	}
}

void node_waits_complete_writes(struct node *n, const struct raft_entry *ents,
				const unsigned char *results, size_t cnt)
{
	size_t off =
	    n->app.identity_offset >= 0 ? (size_t)n->app.identity_offset : 0;
	for (size_t i = 0; i < cnt; i++) {
		const struct raft_entry *e = &ents[i];
		if (e->type != RAFT_ENTRY_NORMAL ||
		    e->len < off + NODE_IDENTITY_BYTES)
			continue;
		uint64_t origin = le_get_u64(e->data + off);
		uint64_t request = le_get_u64(e->data + off + 8);
		if (origin != n->cfg->id || request == 0)
			continue;
		struct node_wait *w = node_waits_take(n, request);
		if (w == NULL)
			continue; /* timed out, or proposed by an earlier run */
		if (w->kind != WAIT_WRITE) {
			/* Not ours after all: put it back. */
			struct node_wait **b = bucket(n, w->id);
			w->hnext = *b;
			*b = w;
			continue;
		}
		node_wait_finish(n, w, NODE_OK,
				 n->app.result_size > 0
				     ? results + i * n->app.result_size
				     : NULL);
	}
}

/* Serves the reads whose index the applied index has reached. */
void node_waits_serve_reads(struct node *n)
{
	struct node_wait **p = &n->waits.readq;
	while (*p != NULL) {
		struct node_wait *w = *p;
		if (w->read_index <= n->applied) {
			*p = w->hnext;
			w->hnext = NULL;
			node_wait_finish(n, w, NODE_OK, NULL);
			continue;
		}
		p = &w->hnext;
	}
}

/* Queues read @w, taken from the hash, until the applied index reaches
 * @index. */
void node_waits_queue_read(struct node *n, struct node_wait *w,
			   raft_index index)
{
	/* Above the applied index, so never 0 ("no index yet"). */
	assert(index > n->applied);
	w->read_index = index;
	w->hnext = n->waits.readq;
	n->waits.readq = w;
}

void node_waits_fail_all(struct node *n, int err)
{
	while (n->waits.list != NULL) {
		struct node_wait *w = n->waits.list;
		detach(n, w);
		node_wait_finish(n, w, err, NULL);
	}
}
