/* cluster_view.h - the status page's view of the cluster: each member's
 * /v1/status answer checked and reduced, then combined into the answer of
 * GET /v1/cluster (docs/API.md). Pure: no IO, no clock. */
#ifndef SERVER_CLUSTER_VIEW_H_
#define SERVER_CLUSTER_VIEW_H_

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest /v1/status answer taken from a member: its member list is
 * the bulk (RAFT_MAX_MEMBERS of them with two URLs each). */
#define CLUSTER_VIEW_STATUS_MAX_BYTES (64 * 1024)
#define CLUSTER_VIEW_URL_MAX	      256
#define CLUSTER_VIEW_ERROR_MAX	      96
#define CLUSTER_VIEW_STATE_MAX	      16

/* One member as the view knows it. */
struct cluster_view_member {
	uint64_t id;
	bool voter;
	bool self; /* the member answering /v1/cluster */
	char client_url[CLUSTER_VIEW_URL_MAX];
	bool reachable;
	char error[CLUSTER_VIEW_ERROR_MAX]; /* why not reachable */
	/* Its /v1/status, when reachable. */
	char state[CLUSTER_VIEW_STATE_MAX];
	uint64_t term;
	uint64_t leader;
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t last_index;
};

/* Fills @m's status fields from a /v1/status answer (@body, @len bytes,
 * not trusted) and marks it reachable. Every field must be present with
 * its type; numbers are integers in [0, INT64_MAX] (jansson's range: the
 * view never guesses at a number it cannot read); "id" must be @m->id.
 * Returns 0, or -1 with @m unreachable and @m->error saying why. */
int cluster_view_parse_status(struct cluster_view_member *m, const char *body,
			      size_t len);

/* Marks @m unreachable for @why (copied, cut to fit). */
void cluster_view_fail(struct cluster_view_member *m, const char *why);

/* The leader the view shows: of the reachable members that say they lead,
 * the one of the highest term (an old leader that has not yet heard of a
 * newer term may still say so). Returns its index in @ms, or -1. */
int cluster_view_leader(const struct cluster_view_member *ms, size_t n);

/* The answer of GET /v1/cluster for members @ms (@n of them; @self_id is
 * the answering member): a new JSON object the caller owns, or NULL when
 * out of memory. A member's lag is the leader's commit index minus its
 * applied index (0 if ahead), null when it or no leader is reachable. */
json_t *cluster_view_json(const struct cluster_view_member *ms, size_t n,
			  uint64_t self_id);

#endif /* SERVER_CLUSTER_VIEW_H_ */
