/* loop_wait.h - what the transport tests on a real loop share: a
 * monotonic clock in milliseconds, and running the loop until a condition
 * holds (never a fixed sleep: a loaded machine only makes it take longer). */
#ifndef TESTS_TRANSPORT_LOOP_WAIT_H_
#define TESTS_TRANSPORT_LOOP_WAIT_H_

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

static inline uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs @base until @pred holds or @timeout_ms pass; true if it held. */
static inline bool loop_run_until(struct event_base *base, bool (*pred)(void *),
				  void *arg, unsigned timeout_ms)
{
	uint64_t deadline = loop_now_ms() + timeout_ms;

	while (!pred(arg)) {
		struct timeval tv = {0, 2000};

		if (loop_now_ms() > deadline)
			return false;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return true;
}

#endif /* TESTS_TRANSPORT_LOOP_WAIT_H_ */
