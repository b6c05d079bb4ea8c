/* snap_protect.c - compaction kept behind snapshots being sent (see
 * snap_protect.h). */
#include "snap_protect.h"

enum snap_protect_verdict
snap_protect_judge(const struct snap_protect *p, raft_index match,
		   raft_index applied, double now,
		   const struct snap_protect_limits *lim)
{
	double max_s = lim != NULL && lim->max_seconds > 0
			   ? lim->max_seconds
			   : SNAP_PROTECT_MAX_SECONDS;
	raft_index max_e = lim != NULL && lim->max_entries > 0
			       ? lim->max_entries
			       : SNAP_PROTECT_MAX_ENTRIES;
	if (match >= p->index && match != 0)
		return SNAP_PROTECT_CAUGHT_UP;
	if (now - p->since > max_s)
		return SNAP_PROTECT_TOO_OLD;
	if (applied > p->index && applied - p->index > max_e)
		return SNAP_PROTECT_TOO_FAR;
	return SNAP_PROTECT_KEEP;
}

raft_index snap_protect_clamp(raft_index c, const struct snap_protect *p,
			      const enum snap_protect_verdict *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == SNAP_PROTECT_KEEP && p[i].index < c)
			c = p[i].index;
	return c;
}

const char *snap_protect_verdict_name(enum snap_protect_verdict v)
{
	switch (v) {
	case SNAP_PROTECT_KEEP:
		return "kept";
	case SNAP_PROTECT_CAUGHT_UP:
		return "the member holds the snapshot";
	case SNAP_PROTECT_TOO_OLD:
		return "its send started too long ago";
	case SNAP_PROTECT_TOO_FAR:
		return "too many entries past the snapshot";
	case SNAP_PROTECT_GONE:
		return "the member left the configuration";
	}
	return "?";
}
