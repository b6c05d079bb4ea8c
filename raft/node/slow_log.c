/* slow_log.c - the slow operations' counter and line limiter (see
 * slow_log.h). */
#include "slow_log.h"

#include <assert.h>
#include <stddef.h>

uint64_t slow_log_note(struct slow_log *s, uint64_t now_ms)
{
	assert(s != NULL);
	s->total++;
	s->unreported++;
	/* A clock that went back (it should not: monotonic) starts a new
	 * interval rather than holding lines back for ever. */
	if (s->lines > 0 && now_ms >= s->last_ms &&
	    now_ms - s->last_ms < SLOW_LOG_INTERVAL_MS)
		return 0;
	uint64_t n = s->unreported;
	s->unreported = 0;
	s->last_ms = now_ms;
	s->lines++;
	assert(n >= 1 && n <= s->total);
	return n;
}
