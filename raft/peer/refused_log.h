/* refused_log.h - rate-limited log lines about refused peer requests.
 *
 * The peer listener refuses requests (a wrong token, a body too large, a
 * chunk from a member that is not the leader); a misbehaving or stale peer
 * must not flood the log with one line each. Both the message route
 * (transport.c) and the snapshot route (snapshot_transfer.c) use this one
 * limiter, so a fix to it reaches both. */
#ifndef RAFT_PEER_REFUSED_LOG_H_
#define RAFT_PEER_REFUSED_LOG_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;

/* One limiter's state; all zero before its first line. */
struct refused_log {
	uint64_t last_ms;    /* clock_now_ms() of the last line; 0: none */
	uint64_t suppressed; /* lines held back since then */
};

/* Whether a line about refusing @req is due: none was written in the last
 * @interval_ms. If so, writes "@what from ADDR:PORT refused: REASON (N
 * similar lines suppressed)" into @line (@cap bytes; REASON is @fmt with
 * @ap, at most 299 bytes) and starts a new interval; if not, counts the
 * line as suppressed and leaves @line alone. */
bool refused_log_line(struct refused_log *rl, uint64_t interval_ms,
		      struct evhttp_request *req, const char *what, char *line,
		      size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

#endif /* RAFT_PEER_REFUSED_LOG_H_ */
