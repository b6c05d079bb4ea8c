/* clock.h - the monotonic clock, for durations, deadlines and timers.
 *
 * The pure core never reads a clock (time comes in as ticks); everything
 * around it that measures time uses these, so "now" means one thing. */
#ifndef RAFT_BASE_CLOCK_H_
#define RAFT_BASE_CLOCK_H_

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (since an unspecified start). */
static inline uint64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Seconds on CLOCK_MONOTONIC, with the clock's resolution. */
static inline double clock_now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @ms as the struct timeval that libevent's timers take. */
static inline struct timeval clock_ms_to_timeval(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000u);
	tv.tv_usec = (suseconds_t)((ms % 1000u) * 1000u);
	return tv;
}

#endif /* RAFT_BASE_CLOCK_H_ */
