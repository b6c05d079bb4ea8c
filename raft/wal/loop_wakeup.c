/* loop_wakeup.c - waking the loop from another thread through an eventfd
 * (see loop_wakeup.h). */
#include "loop_wakeup.h"

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct loop_wakeup {
	int fd;
	struct event *ev;
	void (*cb)(void *arg);
	void *arg;
};

static void readable_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct loop_wakeup *w = arg;
	uint64_t n;
	/* Drains every fire so far (the counter resets to 0); a fire after
	 * this read makes the fd readable again. */
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	w->cb(w->arg);
}

struct loop_wakeup *loop_wakeup_new(struct event_base *base,
				    void (*cb)(void *arg), void *arg)
{
	struct loop_wakeup *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd >= 0)
		w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST,
				  readable_cb, w);
	if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
		loop_wakeup_free(w);
		return NULL;
	}
	return w;
}

void loop_wakeup_fire(struct loop_wakeup *w)
{
	const uint64_t one = 1;
	/* EAGAIN only when the counter is near 2^64: a fire is pending
	 * anyway. */
	while (write(w->fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void loop_wakeup_free(struct loop_wakeup *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}
