/* core_config.h - membership configurations (thesis §4.3): CONFIG entries,
 * the configuration in effect, joint consensus and learners. */
#ifndef RAFT_CORE_CONFIG_H_
#define RAFT_CORE_CONFIG_H_

#include <stdbool.h>
#include <stddef.h>

#include "core_state.h"

/* The quorum view (core_quorum.h) holds the voters of one configuration:
 * at most every member of it. */
_Static_assert(RAFT_MAX_VOTERS >= RAFT_MAX_MEMBERS,
	       "a configuration's voters fit the quorum view");

/* What the core keeps about configurations. The configuration in effect
 * is the one of the last CONFIG entry in the log (appended, committed or
 * not: thesis §4.1 "a server always uses the latest configuration in its
 * log"), else @base: the one at the snapshot index (from the snapshot's
 * metadata or raft_compact()), else the founding one. r->quorum (the
 * quorum view of core_quorum.h) and r->prs always follow @cur. */
struct raft_configs {
	struct raft_membership base;
	struct raft_membership cur;
	/* Entries up to @scanned (with term @scanned_term there) have been
	 * looked at for CONFIG entries: by Log Matching, a log with the
	 * same term at @scanned is the same log up to there. */
	raft_index scanned;
	raft_term scanned_term;
	uint64_t version;	 /* bumped on every change of @cur */
	uint64_t version_handed; /* the version the last ready reported */
};

/* Sets up r->configs at creation: @base from the restored snapshot config, or
 * the founding voters of @opts; then the log is scanned. Returns RAFT_OK,
 * RAFT_EINVAL (bad snapshot config or addresses), RAFT_ENOMEM. */
int raft__config_init(struct raft *r, const struct raft_options *opts,
		      const struct raft_restore *rs);
void raft__config_close(struct raft *r);

/* raft_propose_config() (raft.h). */
int raft__config_propose(struct raft *r, const struct raft_config_change *ch,
			 raft_index *index);

/* Makes the configuration follow the log after any change of it
 * (appends, truncations, snapshots), then does the leader's duties that
 * depend on the commit index: appending C_new once C_old,new is
 * committed, stepping down once a C_new without it is committed, and
 * dropping the progress of members removed by a committed
 * configuration. Call after every input that may change the log or the
 * commit index. */
void raft__config_after(struct raft *r);

/* The snapshot at (@index) with configuration @m was accepted: it becomes
 * the base configuration. */
void raft__config_snapshot(struct raft *r, const struct raft_membership *m);

/* Before compacting up to @index: the configuration at @index becomes the
 * base. */
void raft__config_compact(struct raft *r, raft_index index);

/* Whether the ready has a configuration change to report, and marking it
 * reported. */
bool raft__config_changed(const struct raft *r);
void raft__config_handed(struct raft *r);

/* raft_status()'s membership fields. */
void raft__config_status(const struct raft *r, struct raft_status *out);

#endif /* RAFT_CORE_CONFIG_H_ */
