/* slow_log.h - counting slow operations (applies, WAL group commits) and
 * rate-limiting the warning lines about them.
 *
 * A disk that stalls makes every apply or fsync slow at once; one line per
 * operation would flood the log just when it is read. Each slow operation
 * is counted (for metrics); a line is due for the first one and then at
 * most once per SLOW_LOG_INTERVAL_MS, and it reports how many were slow
 * since the previous line. Pure: the caller passes the time, so a test
 * drives it with any clock. */
#ifndef RAFT_NODE_SLOW_LOG_H_
#define RAFT_NODE_SLOW_LOG_H_

#include <stdint.h>

#define SLOW_LOG_INTERVAL_MS 10000

/* One limiter's state; all zero before its first slow operation. */
struct slow_log {
	uint64_t total;	     /* slow operations ever */
	uint64_t unreported; /* slow since the last line, none written yet */
	uint64_t last_ms;    /* when the last line was due */
	uint64_t lines;	     /* lines that were due */
};

/* Counts one slow operation at @now_ms (a monotonic clock). Returns the
 * number of slow operations the line due now reports (this one and those
 * held back since the previous line), or 0 when a line was due less than
 * SLOW_LOG_INTERVAL_MS ago: then this one waits for the next line. */
uint64_t slow_log_note(struct slow_log *s, uint64_t now_ms);

#endif /* RAFT_NODE_SLOW_LOG_H_ */
