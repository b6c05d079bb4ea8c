/* snap_protect.h - how far log compaction may go while members are being
 * sent a snapshot. Pure: no IO, no clock (the caller passes the time).
 *
 * A member that needs a snapshot gets the leader's newest, at index S;
 * once it installed it, it continues from the log at S + 1. A transfer of
 * a big store takes long enough for the leader to take newer snapshots
 * and compact its log past S meanwhile (the margin kept below a snapshot
 * is min(1000, --snapshot-entries / 2)): the member then needs another
 * snapshot, and the transfer chases the leader's snapshots. So while a
 * member is sent the snapshot at S, and after, until it holds S (its
 * match index reached S), compaction keeps the log from S + 1 on.
 *
 * Bounded, so that a member that never finishes cannot make the log grow
 * forever: a protection ends SNAP_PROTECT_MAX_SECONDS after its send
 * started, or once the log kept for it would exceed
 * SNAP_PROTECT_MAX_ENTRIES entries past S (the member then needs a newer
 * snapshot, as without protection). */
#ifndef RAFT_NODE_SNAP_PROTECT_H_
#define RAFT_NODE_SNAP_PROTECT_H_

#include <stddef.h>

#include "raft.h"

#define SNAP_PROTECT_MAX_SECONDS 300.0
#define SNAP_PROTECT_MAX_ENTRIES 500000u

/* A snapshot sent (or being sent) to a member. */
struct snap_protect {
	raft_id peer;
	raft_index index; /* the snapshot's last entry */
	double since;	  /* when the first send of it started (seconds) */
};

struct snap_protect_limits {
	double max_seconds;	/* 0: SNAP_PROTECT_MAX_SECONDS */
	raft_index max_entries; /* 0: SNAP_PROTECT_MAX_ENTRIES */
};

enum snap_protect_verdict {
	SNAP_PROTECT_KEEP = 0,	    /* the log from index + 1 stays */
	SNAP_PROTECT_CAUGHT_UP = 1, /* the member holds the snapshot */
	SNAP_PROTECT_TOO_OLD = 2,   /* max_seconds passed */
	SNAP_PROTECT_TOO_FAR = 3,   /* applied is max_entries past index */
	SNAP_PROTECT_GONE = 4	    /* no longer in the configuration */
};

/* Whether @p still holds, for a member whose match index is @match (0:
 * unknown), this member having applied @applied at time @now. */
enum snap_protect_verdict
snap_protect_judge(const struct snap_protect *p, raft_index match,
		   raft_index applied, double now,
		   const struct snap_protect_limits *lim);

/* The compaction index @c lowered to the lowest index of those of the @n
 * protections in @p whose verdict in @v is SNAP_PROTECT_KEEP. */
raft_index snap_protect_clamp(raft_index c, const struct snap_protect *p,
			      const enum snap_protect_verdict *v, size_t n);

const char *snap_protect_verdict_name(enum snap_protect_verdict v);

#endif /* RAFT_NODE_SNAP_PROTECT_H_ */
