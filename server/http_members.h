/* http_members.h - the membership routes of the public API (docs/API.md,
 * "Cluster"): POST /v1/members {"id", "peer_url"} and DELETE /v1/members/{id}.
 *
 * On the leader a new member is added as a learner, brought up to date
 * (rounds of replication, thesis §4.2.1), then made a voter through the
 * joint configuration C_old,new and C_new (§4.3); removal goes through
 * the joint configuration too. 200 once C_new is committed; 409 while
 * another change is under way; 400 for bad input, a duplicate id or peer
 * URL; 404 for removing an unknown member. A follower relays the request
 * to the leader. Loop thread only.
 */
#ifndef SERVER_HTTP_MEMBERS_H_
#define SERVER_HTTP_MEMBERS_H_

struct kvdraft_node;
struct evhttp_request;

void http_members_post(struct kvdraft_node *n, struct evhttp_request *req,
		       double t0);

/* @id_str is the path's last segment. */
void http_members_delete(struct kvdraft_node *n, struct evhttp_request *req,
			 const char *id_str, double t0);

#endif /* SERVER_HTTP_MEMBERS_H_ */
