/* refused_log.c - rate-limited log lines about refused peer requests. */
#include "refused_log.h"

#include <inttypes.h>
#include <stdio.h>

#include <event2/http.h>

#include "clock.h"

bool refused_log_line(struct refused_log *rl, uint64_t interval_ms,
		      struct evhttp_request *req, const char *what, char *line,
		      size_t cap, const char *fmt, va_list ap)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL, reason[300];
	ev_uint16_t port = 0;
	uint64_t now = clock_now_ms();

	if (rl->last_ms != 0 && now - rl->last_ms < interval_ms) {
		rl->suppressed++;
		return false;
	}
	if (c != NULL)
		evhttp_connection_get_peer(c, &addr, &port);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	snprintf(
	    line, cap,
	    "%s from %s:%u refused: %s (%" PRIu64 " similar lines suppressed)",
	    what, addr ? addr : "?", (unsigned)port, reason, rl->suppressed);
	rl->last_ms = now;
	rl->suppressed = 0;
	return true;
}
