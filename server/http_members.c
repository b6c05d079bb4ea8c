/* http_members.c - POST /v1/members and DELETE /v1/members/{id}: membership
 * changes driven from the leader, relayed there by followers. */
#include "http_members.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_util.h"
#include "leader_proxy.h"
#include "log.h"
#include "metrics.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "clock.h"
#include "util.h"

/* How often a change in progress looks at the core. */
#define POLL_MS 10
/* Catch-up rounds (thesis §4.2.1: "the leader ... replicate[s] entries
 * to the new server in rounds"; "if the last round lasts less than an
 * election timeout" the new server is caught up). */
#define MAX_ROUNDS 10

enum phase {
	PHASE_PROPOSE = 0, /* until the core takes the change (see below) */
	PHASE_LEARNER = 1, /* the learner's configuration is committing */
	PHASE_CATCH_UP = 2,
	PHASE_CHANGE = 3 /* C_old,new then C_new are committing */
};

struct job {
	/* The node's timeout and shutdown over the whole job; NULL once it
	 * fired (the node frees it). */
	struct kvdraft_wait *w;
	struct kvdraft_node *n;
	struct evhttp_request *req;
	double t0;
	bool add;
	raft_id id;
	enum phase phase;
	/* PHASE_PROPOSE: the change, and the phase after it. A leader
	 * refuses changes (RAFT_EBUSY) until an entry of its term commits,
	 * a moment after its election: proposing is retried meanwhile. */
	struct raft_config_change ch;
	char addr[RAFT_MAX_ADDR_LEN + 1];
	enum phase next;
	raft_index index; /* the entry committing */
	raft_index round_target;
	uint64_t round_start_ms;
	int rounds;
	struct event *poll;
};

/* One change at a time on this member (the core refuses a second one
 * anyway once the first is in the log; this covers the catch-up phase). */
static struct job *active;

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			double t0, int status, const char *code,
			const char *msg)
{
	http_send_error(req, status, code, msg, NULL);
	metrics_http(kvd_metrics(n), ROUTE_MEMBERS, status,
		     clock_now_seconds() - t0);
}

static void reply_ok(struct kvdraft_node *n, struct evhttp_request *req,
		     double t0)
{
	http_send_json(req, 200,
		       json_pack("{s:o}", "members", kvd_members_json(n)));
	metrics_http(kvd_metrics(n), ROUTE_MEMBERS, 200,
		     clock_now_seconds() - t0);
}

/* The answer for a node_* error code (node_watch timeouts, shutdown). */
static void reply_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			     double t0, int err)
{
	if (err == KVDRAFT_ETIMEOUT)
		reply_error(n, req, t0, 504, "timeout",
			    "no outcome within --request-timeout-ms; the "
			    "change may still complete");
	else
		reply_error(n, req, t0, 503, "unavailable", kvd_strerror(err));
}

static const struct raft_member *cfg_find(const struct raft_membership *c,
					  raft_id id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->members[i].id == id)
			return &c->members[i];
	return NULL;
}

/* ---- relaying to the leader ---- */

static const struct leader_proxy_replies members_proxy = {
    .route = ROUTE_MEMBERS,
    .error = reply_error,
    .node_error = reply_node_error,
};

static void forward(struct kvdraft_node *n, struct evhttp_request *req,
		    double t0, enum evhttp_cmd_type cmd, const char *path,
		    const void *body, size_t len)
{
	leader_proxy_forward(n, req, t0, &members_proxy, cmd, path, body, len);
}

/* ---- a change on the leader ---- */

static void job_free(struct job *j)
{
	if (j->poll != NULL)
		event_free(j->poll);
	if (active == j)
		active = NULL;
	free(j);
}

static void job_wait_done(void *arg, int err, const void *result);

/* Ends the job with an answer; the node's wait is released first. */
static void job_end(struct job *j, int status, const char *code,
		    const char *msg)
{
	kvdraft_node_unwatch(j->n, j->w);
	j->w = NULL;
	if (status == 200)
		reply_ok(j->n, j->req, j->t0);
	else
		reply_error(j->n, j->req, j->t0, status, code, msg);
	job_free(j);
}

/* Progress was made: the timeout starts again. */
static void job_rearm(struct job *j)
{
	kvdraft_node_unwatch(j->n, j->w);
	j->w = NULL;
	if (kvdraft_node_watch(j->n, job_wait_done, j, &j->w) != KVDRAFT_OK) {
		reply_node_error(j->n, j->req, j->t0, KVDRAFT_ESTOPPING);
		job_free(j);
	}
}

/* The node gave up on the job (timeout, shutdown). */
static void job_wait_done(void *arg, int err, const void *result)
{
	(void)result;
	struct job *j = arg;
	j->w = NULL; /* the node freed it */
	log_warn("membership change of member %" PRIu64 " ended: %s", j->id,
		 kvd_strerror(err));
	reply_node_error(j->n, j->req, j->t0, err);
	job_free(j);
}

/* Maps a refusal of raft_propose_config() to an answer. */
static void job_refused(struct job *j, int rc)
{
	switch (rc) {
	case RAFT_ECONFIG:
		job_end(j, 409, "conflict",
			"another membership change is in progress");
		break;
	case RAFT_EINVAL:
		job_end(j, 400, "bad_request",
			"the change is not valid for the configuration");
		break;
	default:
		job_end(j, 503, "unavailable", raft_strerror(rc));
		break;
	}
}

static bool is_leader(struct kvdraft_node *n)
{
	struct raft_status st;
	kvdraft_node_status(n, &st);
	return st.role == RAFT_LEADER;
}

/* Returns false when the job ended. */
static bool try_propose(struct job *j)
{
	j->ch.addr = j->addr[0] != '\0' ? j->addr : NULL;
	int rc = kvdraft_node_change_membership(j->n, &j->ch, &j->index);
	if (rc == RAFT_EBUSY)
		return true;
	if (rc != RAFT_OK) {
		job_refused(j, rc);
		return false;
	}
	log_info("member %" PRIu64 ": %s proposed at %" PRIu64, j->id,
		 j->ch.type == RAFT_CHANGE_ADD_LEARNER ? "learner"
		 : j->ch.type == RAFT_CHANGE_PROMOTE   ? "promotion"
						       : "removal",
		 j->index);
	j->phase = j->next;
	return true;
}

static void start_change(struct job *j)
{
	j->ch.type = j->add ? RAFT_CHANGE_PROMOTE : RAFT_CHANGE_REMOVE;
	j->ch.id = j->id;
	j->addr[0] = '\0';
	j->phase = PHASE_PROPOSE;
	j->next = PHASE_CHANGE;
	job_rearm(j);
}

static void start_round(struct job *j)
{
	struct raft_status st;
	kvdraft_node_status(j->n, &st);
	j->round_target = st.last_index;
	j->round_start_ms = clock_now_ms();
	j->rounds++;
}

/* Returns false when the job ended. */
static bool step_catch_up(struct job *j)
{
	raft_index match;
	if (kvdraft_node_match_index(j->n, j->id, &match) != RAFT_OK) {
		job_end(j, 503, "unavailable",
			"leadership lost while the new member caught up");
		return false;
	}
	if (match < j->round_target)
		return true;
	uint64_t took = clock_now_ms() - j->round_start_ms;
	if (took <= kvd_config(j->n)->election_timeout_ms) {
		log_info("member %" PRIu64 " caught up (round %d took %" PRIu64
			 " ms)",
			 j->id, j->rounds, took);
		start_change(j);
		return active == j;
	}
	if (j->rounds >= MAX_ROUNDS) {
		job_end(j, 503, "unavailable",
			"the new member does not catch up; it stays a "
			"learner (retry, or remove it)");
		return false;
	}
	start_round(j);
	job_rearm(j);
	return active == j;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct job *j = arg;
	struct raft_status st;
	const struct raft_membership *cfg = kvdraft_node_membership(j->n);
	kvdraft_node_status(j->n, &st);

	switch (j->phase) {
	case PHASE_PROPOSE:
		if (!try_propose(j))
			return;
		break;
	case PHASE_LEARNER:
		if (st.commit >= j->index) {
			const struct raft_member *x = cfg_find(cfg, j->id);
			if (x == NULL) {
				job_end(j, 503, "unavailable",
					"the learner's configuration was "
					"lost; retry");
				return;
			}
			j->phase = PHASE_CATCH_UP;
			start_round(j);
			job_rearm(j);
			if (active != j)
				return;
		} else if (st.role != RAFT_LEADER) {
			job_end(j, 503, "unavailable",
				"leadership lost; retry");
			return;
		}
		break;
	case PHASE_CATCH_UP:
		if (!step_catch_up(j))
			return;
		break;
	case PHASE_CHANGE: {
		/* Done when C_new (not joint) is committed and says what
		 * was asked. A removed leader has stepped down by then. */
		const struct raft_member *x = cfg_find(cfg, j->id);
		bool wanted = j->add
				  ? x != NULL && (x->flags & RAFT_MEMBER_VOTER)
				  : x == NULL;
		if (!cfg->joint && wanted && cfg->index >= j->index &&
		    st.commit >= cfg->index) {
			log_info("member %" PRIu64 " %s: configuration of "
				 "index %" PRIu64 " committed",
				 j->id, j->add ? "added" : "removed",
				 cfg->index);
			job_end(j, 200, NULL, NULL);
			return;
		}
		if (st.role != RAFT_LEADER && (cfg->joint || !wanted)) {
			job_end(j, 503, "unavailable",
				"leadership lost during the change; it may "
				"still complete");
			return;
		}
		break;
	}
	}
	const struct timeval tv = clock_ms_to_timeval(POLL_MS);
	evtimer_add(j->poll, &tv);
}

static struct job *job_new(struct kvdraft_node *n, struct evhttp_request *req,
			   double t0, bool add, raft_id id)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return NULL;
	}
	j->n = n;
	j->req = req;
	j->t0 = t0;
	j->add = add;
	j->id = id;
	j->poll = evtimer_new(kvd_base(n), poll_cb, j);
	if (j->poll == NULL) {
		free(j);
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return NULL;
	}
	int rc = kvdraft_node_watch(n, job_wait_done, j, &j->w);
	if (rc != KVDRAFT_OK) {
		event_free(j->poll);
		free(j);
		reply_node_error(n, req, t0, rc);
		return NULL;
	}
	active = j;
	return j;
}

static void job_go(struct job *j)
{
	const struct timeval tv = clock_ms_to_timeval(POLL_MS);
	evtimer_add(j->poll, &tv);
}

/* ---- the endpoints ---- */

void http_members_post(struct kvdraft_node *n, struct evhttp_request *req,
		       double t0)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (body == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	json_t *jb = json_loadb(body, len, 0, NULL);
	json_t *id_j = json_is_object(jb) ? json_object_get(jb, "id") : NULL;
	json_t *url_j =
	    json_is_object(jb) ? json_object_get(jb, "peer_url") : NULL;
	json_int_t id = json_is_integer(id_j) ? json_integer_value(id_j) : 0;
	char url[CONFIG_URL_MAX] = "";
	struct config_addr a;
	if (json_is_string(url_j) &&
	    strlen(json_string_value(url_j)) <= RAFT_MAX_ADDR_LEN)
		strcpy(url, json_string_value(url_j));
	json_decref(jb);
	/* With peer TLS, peer URLs are https:// (and only then). */
	int tls = kvd_config(n)->peer_cert != NULL;
	if (id <= 0 || url[0] == '\0' ||
	    config_parse_url_scheme(url, tls, &a) != 0) {
		reply_error(n, req, t0, 400, "bad_request",
			    tls ? "the body must be {\"id\": N, \"peer_url\": "
				  "\"https://HOST:PORT\"} with N > 0"
				: "the body must be {\"id\": N, \"peer_url\": "
				  "\"http://HOST:PORT\"} with N > 0");
		return;
	}
	const struct raft_membership *cfg = kvdraft_node_membership(n);
	const struct raft_member *same = cfg_find(cfg, (raft_id)id);
	bool resume = same != NULL && same->flags == RAFT_MEMBER_LEARNER &&
		      strcmp(same->addr, url) == 0;
	if (same != NULL && !resume) {
		reply_error(n, req, t0, 400, "bad_request",
			    "a member with that id exists");
		return;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		if (cfg->members[i].id != (raft_id)id &&
		    strcmp(cfg->members[i].addr, url) == 0) {
			reply_error(n, req, t0, 400, "bad_request",
				    "a member with that peer URL exists");
			return;
		}
	}
	if (!is_leader(n)) {
		forward(n, req, t0, EVHTTP_REQ_POST, "/v1/members", body, len);
		return;
	}
	if (active != NULL) {
		reply_error(n, req, t0, 409, "conflict",
			    "another membership change is in progress");
		return;
	}
	struct job *j = job_new(n, req, t0, true, (raft_id)id);
	if (j == NULL)
		return;
	if (resume) {
		/* A learner left by an earlier attempt: go on from it. */
		j->phase = PHASE_CATCH_UP;
		start_round(j);
	} else {
		j->ch.type = RAFT_CHANGE_ADD_LEARNER;
		j->ch.id = (raft_id)id;
		strcpy(j->addr, url);
		j->phase = PHASE_PROPOSE;
		j->next = PHASE_LEARNER;
		if (!try_propose(j))
			return;
	}
	job_go(j);
}

void http_members_delete(struct kvdraft_node *n, struct evhttp_request *req,
			 const char *id_str, double t0)
{
	uint64_t id;
	if (http_parse_u64(id_str, strlen(id_str), 1, INT64_MAX, &id) != 0) {
		reply_error(n, req, t0, 400, "bad_request",
			    "the member id must be a positive integer");
		return;
	}
	const struct raft_membership *cfg = kvdraft_node_membership(n);
	if (cfg->n > 0 && cfg_find(cfg, id) == NULL) {
		reply_error(n, req, t0, 404, "not_found",
			    "no member has that id");
		return;
	}
	if (!is_leader(n)) {
		char path[64];
		snprintf(path, sizeof(path), "/v1/members/%" PRIu64, id);
		forward(n, req, t0, EVHTTP_REQ_DELETE, path, NULL, 0);
		return;
	}
	if (active != NULL) {
		reply_error(n, req, t0, 409, "conflict",
			    "another membership change is in progress");
		return;
	}
	struct job *j = job_new(n, req, t0, false, id);
	if (j == NULL)
		return;
	j->ch.type = RAFT_CHANGE_REMOVE;
	j->ch.id = id;
	j->phase = PHASE_PROPOSE;
	j->next = PHASE_CHANGE;
	if (!try_propose(j))
		return;
	job_go(j);
}
