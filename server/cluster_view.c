/* cluster_view.c - checks members' /v1/status answers and combines them
 * into GET /v1/cluster's answer. */
#include "cluster_view.h"

#include <stdio.h>
#include <string.h>

void cluster_view_fail(struct cluster_view_member *m, const char *why)
{
	m->reachable = false;
	snprintf(m->error, sizeof(m->error), "%s", why);
	m->state[0] = '\0';
	m->term = m->leader = m->commit_index = m->applied_index =
	    m->last_index = 0;
}

/* A non-negative JSON integer member of @o, into *@out. */
static int get_u64(json_t *o, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(o, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int cluster_view_parse_status(struct cluster_view_member *m, const char *body,
			      size_t len)
{
	if (len > CLUSTER_VIEW_STATUS_MAX_BYTES) {
		cluster_view_fail(m, "status answer too large");
		return -1;
	}
	/* A number above INT64_MAX fails the decode: then the answer is
	 * unreadable, not a wrapped-around number. */
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	uint64_t id = 0;
	json_t *state = json_object_get(o, "state");
	struct cluster_view_member got = *m;
	const char *why = NULL;
	if (!json_is_object(o) || !json_is_string(state) ||
	    get_u64(o, "id", &id) != 0 || get_u64(o, "term", &got.term) != 0 ||
	    get_u64(o, "leader", &got.leader) != 0 ||
	    get_u64(o, "commit_index", &got.commit_index) != 0 ||
	    get_u64(o, "applied_index", &got.applied_index) != 0 ||
	    get_u64(o, "last_index", &got.last_index) != 0)
		why = "status answer not understood";
	else if (id != m->id)
		why = "answers as another member";
	else if (json_string_length(state) == 0 ||
		 json_string_length(state) >= sizeof(got.state) ||
		 strspn(json_string_value(state),
			"abcdefghijklmnopqrstuvwxyz") !=
		     json_string_length(state))
		why = "status answer not understood";
	if (why != NULL) {
		json_decref(o);
		cluster_view_fail(m, why);
		return -1;
	}
	memcpy(got.state, json_string_value(state),
	       json_string_length(state) + 1);
	json_decref(o);
	got.reachable = true;
	got.error[0] = '\0';
	*m = got;
	return 0;
}

int cluster_view_leader(const struct cluster_view_member *ms, size_t n)
{
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].reachable || strcmp(ms[i].state, "leader") != 0)
			continue;
		if (best < 0 || ms[i].term > ms[best].term)
			best = (int)i;
	}
	return best;
}

/* jansson's integers are signed; the parse above took only numbers within
 * them, and a local index beyond INT64_MAX is not a number a log reaches. */
static json_t *num(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *cluster_view_json(const struct cluster_view_member *ms, size_t n,
			  uint64_t self_id)
{
	int li = cluster_view_leader(ms, n);
	json_t *arr = json_array();
	json_t *out = json_object();
	if (arr == NULL || out == NULL)
		goto err;
	for (size_t i = 0; i < n; i++) {
		const struct cluster_view_member *m = &ms[i];
		json_t *o =
		    json_pack("{s:o, s:s, s:b, s:b, s:b}", "id", num(m->id),
			      "client_url", m->client_url, "voter", m->voter,
			      "self", m->self, "reachable", m->reachable);
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto err;
		int rc;
		if (m->reachable) {
			uint64_t lc = li >= 0 ? ms[li].commit_index : 0;
			uint64_t lag = li < 0 || m->applied_index >= lc
					   ? 0
					   : lc - m->applied_index;
			rc = json_object_update_new(
			    o,
			    json_pack("{s:n, s:s, s:o, s:o, s:o, s:o, s:o, "
				      "s:o, s:b}",
				      "error", "state", m->state, "term",
				      num(m->term), "leader", num(m->leader),
				      "commit_index", num(m->commit_index),
				      "applied_index", num(m->applied_index),
				      "last_index", num(m->last_index), "lag",
				      li >= 0 ? num(lag) : json_null(),
				      "is_leader", (int)i == li));
		} else {
			rc = json_object_update_new(
			    o, json_pack("{s:s, s:n, s:b}", "error", m->error,
					 "lag", "is_leader", 0));
		}
		if (rc != 0)
			goto err;
	}
	if (json_object_set_new(out, "member", num(self_id)) != 0 ||
	    json_object_set_new(out, "leader", num(li >= 0 ? ms[li].id : 0)) !=
		0 ||
	    json_object_set_new(out, "leader_commit_index",
				li >= 0 ? num(ms[li].commit_index)
					: json_null()) != 0)
		goto err;
	/* json_object_set_new() takes @arr, even when it fails. */
	if (json_object_set_new(out, "members", arr) != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
err:
	json_decref(arr);
	json_decref(out);
	return NULL;
}
