/* loop_wakeup.h - an event another thread fires without touching
 * libevent: the thread writes to an eventfd, the loop reads it and calls
 * back. So the node's threads (the WAL writer, snapshot copies) wake the
 * program's loop whether or not the program enabled libevent's locking
 * (evthread_use_pthreads()), which event_active() from another thread
 * needs.
 *
 * Fires before the loop reads coalesce into one callback; the callback
 * runs on the loop thread and must look for all the work there is.
 */
#ifndef RAFT_WAL_LOOP_WAKEUP_H_
#define RAFT_WAL_LOOP_WAKEUP_H_

struct event_base;
struct loop_wakeup;

/* Creates the eventfd and its persistent read event on @base. NULL when
 * either cannot be made. */
struct loop_wakeup *loop_wakeup_new(struct event_base *base,
				    void (*cb)(void *arg), void *arg);

/* Any thread: @cb runs on the loop soon. Async-signal-safe (one write). */
void loop_wakeup_fire(struct loop_wakeup *w);

/* Loop thread; NULL is a no-op. A fire still in flight is dropped. */
void loop_wakeup_free(struct loop_wakeup *w);

#endif /* RAFT_WAL_LOOP_WAKEUP_H_ */
