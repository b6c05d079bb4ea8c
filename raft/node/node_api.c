/* node_api.c - libkvdraft's node level (kvdraft_node.h) over the node's
 * internals (node.h): each request gets a wait of its own, freed after its
 * completion; histograms.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kvdraft_node.h"
#include "node.h"
#include "node_internal.h"
#include "snapshotter.h"

/* struct kvdraft_node is struct node: the public name is opaque. */
static struct node *in(const struct kvdraft_node *n)
{
	return (struct node *)n;
}

const char *kvdraft_strerror(int err)
{
	return node_strerror(err);
}

int kvdraft_node_open(struct event_base *base, struct evhttp *peer_http,
		      const struct kvdraft_node_options *o,
		      const struct kvdraft_app *app, struct kvdraft_node **out,
		      char *err, size_t errlen)
{
	struct node *n;
	if (base == NULL || peer_http == NULL || out == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen,
				 "no event base, evhttp or result");
		return KVDRAFT_EINVAL;
	}
	if (node_open(o, app, base, peer_http, &n, err, errlen) != 0)
		return KVDRAFT_EINTERNAL;
	*out = (struct kvdraft_node *)n;
	return KVDRAFT_OK;
}

void kvdraft_node_stop(struct kvdraft_node *n)
{
	node_stop(in(n));
}

void kvdraft_node_close(struct kvdraft_node *n)
{
	if (n != NULL)
		node_close(in(n));
}

/* Every wait the API makes ends here: the program hears of it, and the
 * wait is freed. */
static void finish(struct node_wait *w, int err, const void *result)
{
	kvdraft_done_fn done = w->user_done;
	void *arg = w->user_arg;
	free(w);
	done(arg, err, result);
}

static struct node_wait *new_wait(kvdraft_done_fn done, void *arg)
{
	if (done == NULL)
		return NULL;
	struct node_wait *w = calloc(1, sizeof(*w));
	if (w != NULL) {
		w->done = finish;
		w->user_done = done;
		w->user_arg = arg;
	}
	return w;
}

/* Frees @w when the node did not take it (@rc not OK). */
static int taken(struct node_wait *w, int rc)
{
	if (rc != NODE_OK)
		free(w);
	return rc;
}

int kvdraft_node_propose(struct kvdraft_node *n, void *cmd, size_t len,
			 kvdraft_done_fn done, void *arg)
{
	if (cmd == NULL && len > 0)
		return KVDRAFT_EINVAL;
	struct node_wait *w = new_wait(done, arg);
	if (w == NULL)
		return done == NULL ? KVDRAFT_EINVAL : KVDRAFT_EINTERNAL;
	return taken(w, node_propose(in(n), cmd, len, w));
}

int kvdraft_node_read(struct kvdraft_node *n, kvdraft_done_fn done, void *arg)
{
	struct node_wait *w = new_wait(done, arg);
	if (w == NULL)
		return done == NULL ? KVDRAFT_EINVAL : KVDRAFT_EINTERNAL;
	return taken(w, node_read_index(in(n), w));
}

int kvdraft_node_transfer_leadership(struct kvdraft_node *n, raft_id to,
				     kvdraft_done_fn done, void *arg)
{
	struct node_wait *w = new_wait(done, arg);
	if (w == NULL)
		return done == NULL ? KVDRAFT_EINVAL : KVDRAFT_EINTERNAL;
	return taken(w, node_transfer_leadership(in(n), to, w));
}

int kvdraft_node_watch(struct kvdraft_node *n, kvdraft_done_fn done, void *arg,
		       struct kvdraft_wait **out)
{
	struct node_wait *w = new_wait(done, arg);
	if (w == NULL || out == NULL) {
		free(w);
		return done == NULL || out == NULL ? KVDRAFT_EINVAL
						   : KVDRAFT_EINTERNAL;
	}
	int rc = taken(w, node_watch(in(n), w));
	*out = rc == NODE_OK ? (struct kvdraft_wait *)w : NULL;
	return rc;
}

void kvdraft_node_unwatch(struct kvdraft_node *n, struct kvdraft_wait *h)
{
	if (h == NULL)
		return;
	struct node_wait *w = (struct node_wait *)h;
	node_unwatch(in(n), w);
	free(w);
}

int kvdraft_node_change_membership(struct kvdraft_node *n,
				   const struct raft_config_change *ch,
				   raft_index *index)
{
	return node_propose_config(in(n), ch, index);
}

int kvdraft_node_match_index(const struct kvdraft_node *n, raft_id id,
			     raft_index *match)
{
	return node_match_index(in(n), id, match);
}

const struct raft_membership *
kvdraft_node_membership(const struct kvdraft_node *n)
{
	return node_membership(in(n));
}

void kvdraft_node_status(const struct kvdraft_node *n, struct raft_status *st)
{
	node_raft_status(in(n), st);
}

raft_index kvdraft_node_applied(const struct kvdraft_node *n)
{
	return node_applied(in(n));
}

bool kvdraft_node_ready(const struct kvdraft_node *n)
{
	return node_ready(in(n));
}

const char *kvdraft_node_state_name(const struct kvdraft_node *n)
{
	return node_state_name(in(n));
}

const char *kvdraft_node_app_url(const struct kvdraft_node *n, raft_id id)
{
	return node_app_url(in(n), id);
}

size_t kvdraft_node_members(const struct kvdraft_node *kn,
			    struct kvdraft_member *out, size_t cap)
{
	const struct node *n = in(kn);
	for (size_t i = 0; i < n->members.n && i < cap; i++) {
		const struct member *m = &n->members.m[i];
		out[i] = (struct kvdraft_member){.id = m->id,
						 .voter = m->voter != 0,
						 .peer_url = m->peer_url,
						 .app_url = m->client_url};
	}
	return n->members.n;
}

void *kvdraft_node_app_ctx(const struct kvdraft_node *n)
{
	return node_app_ctx(in(n));
}

raft_index kvdraft_node_snapshot_index(const struct kvdraft_node *n)
{
	return node_snapshot_index(in(n));
}

bool kvdraft_node_snapshot_busy(const struct kvdraft_node *n)
{
	return node_snapshot_busy(in(n));
}

void kvdraft_node_snapshot_wait(struct kvdraft_node *n)
{
	node_snapshot_wait(in(n));
}

/* A snapshotter_file_at() wait, with the program's callback. */
struct file_req {
	kvdraft_snapshot_file_fn fn;
	void *arg;
};

static void file_ready(void *arg, const char *path,
		       const struct snapshot_info *info, const char *err)
{
	struct file_req *r = arg;
	if (path != NULL)
		r->fn(r->arg, path, info->index, info->term, info->size,
		      info->crc, NULL);
	else
		r->fn(r->arg, NULL, 0, 0, 0, 0, err);
	free(r);
}

int kvdraft_node_snapshot_file(struct kvdraft_node *n, raft_index index,
			       kvdraft_snapshot_file_fn fn, void *arg)
{
	struct snapshotter *sn = node_snapshotter(in(n));
	if (sn == NULL || fn == NULL)
		return -1;
	struct file_req *r = malloc(sizeof(*r));
	if (r == NULL)
		return -1;
	r->fn = fn;
	r->arg = arg;
	if (snapshotter_file_at(sn, index, file_ready, r) != 0) {
		free(r);
		return -1;
	}
	return 0;
}

struct bufferevent *kvdraft_node_wrap_peer_conn(struct kvdraft_node *n,
						struct bufferevent *bev)
{
	return node_wrap_peer_conn(in(n), bev);
}

struct bufferevent *kvdraft_node_new_peer_conn(struct kvdraft_node *n,
					       struct event_base *base)
{
	return node_new_peer_conn(in(n), base);
}

int kvdraft_node_reload_tls(struct kvdraft_node *n, char *err, size_t errlen)
{
	if (n == NULL)
		return KVDRAFT_EINVAL;
	if (node_reload_tls(in(n), err, errlen) == 0)
		return KVDRAFT_OK;
	return in(n)->tls_server == NULL ? KVDRAFT_EINVAL : KVDRAFT_EINTERNAL;
}

void kvdraft_node_stats(const struct kvdraft_node *n,
			struct kvdraft_node_stats *out)
{
	node_stats(in(n), out);
}

/* 100 us .. 10 s: spans one fsync (~0.4 ms) to a request timeout. */
static const double bounds[KVDRAFT_HISTOGRAM_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,	 10.0};

double kvdraft_histogram_bound(unsigned i)
{
	return i < KVDRAFT_HISTOGRAM_BUCKETS ? bounds[i] : 0.0;
}

void kvdraft_histogram_observe(struct kvdraft_histogram *h, double seconds)
{
	unsigned i;
	for (i = 0; i < KVDRAFT_HISTOGRAM_BUCKETS; i++)
		if (seconds <= bounds[i])
			break;
	if (i < KVDRAFT_HISTOGRAM_BUCKETS)
		h->counts[i]++;
	else
		h->inf++;
	h->count++;
	h->sum += seconds;
}

size_t kvdraft_node_peer_round_trips(const struct kvdraft_node *n,
				     struct kvdraft_peer_round_trips *out,
				     size_t cap)
{
	const struct node_metrics *m = &in(n)->metrics;
	for (size_t i = 0; i < m->n_peer_rtt && i < cap; i++)
		out[i] = m->peer_rtt[i];
	return m->n_peer_rtt;
}
