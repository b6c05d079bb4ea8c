/* rtt_window.h - the smallest round trip seen over the last few seconds:
 * what a peer lane decides on pipelining by (transport_send.c). Pure:
 * the time comes in with each sample. */
#ifndef RAFT_PEER_RTT_WINDOW_H_
#define RAFT_PEER_RTT_WINDOW_H_

/* Two windows of @span seconds each, the current one (from @start) and the
 * one before it: the minimum is taken over the samples of the last @span
 * to 2 @span seconds, so an old fast sample ages out, and a window that
 * just began is never empty of history. */
struct rtt_window {
	double span;	 /* seconds, > 0 */
	double min_cur;	 /* of the current window; < 0: no sample yet */
	double min_prev; /* of the window before; < 0: none */
	double start;	 /* when the current window began */
};

static inline void rtt_window_init(struct rtt_window *w, double span)
{
	w->span = span;
	w->min_cur = w->min_prev = -1;
	w->start = 0;
}

/* A round trip of @rtt seconds (>= 0) ended at @now (seconds, never
 * going back). */
static inline void rtt_window_add(struct rtt_window *w, double now, double rtt)
{
	if (w->min_cur < 0 || now - w->start >= w->span) {
		/* A window with no sample in it leaves nothing before. */
		w->min_prev = w->min_cur >= 0 && now - w->start < 2 * w->span
				  ? w->min_cur
				  : -1;
		w->min_cur = rtt;
		w->start = now;
	} else if (rtt < w->min_cur) {
		w->min_cur = rtt;
	}
}

/* The smallest round trip of the last span to 2 span seconds (as of the
 * last sample), or -1 when there is none. */
static inline double rtt_window_min(const struct rtt_window *w)
{
	if (w->min_prev >= 0 && (w->min_cur < 0 || w->min_prev < w->min_cur))
		return w->min_prev;
	return w->min_cur;
}

#endif /* RAFT_PEER_RTT_WINDOW_H_ */
