/* delay_relay.c - a TCP relay that delivers every byte a fixed time later,
 * in order, in each direction: members far apart, on one machine. */

/*
 * This machine's kernel has no netem qdisc, so `scripts/bench --rtt-ms N`
 * puts one of these in front of each member's peer port and advertises the
 * relay's address as the member's peer URL. Every connection to the member
 * then crosses one relay: each direction is delayed by DELAY_MS (RTT/2), so
 * a request and its answer take RTT more than on plain loopback. There is
 * no bandwidth cap and no loss; the order of the bytes is kept.
 *
 * Usage: delay_relay LISTEN_PORT TARGET_PORT DELAY_MS
 *        (both on 127.0.0.1; DELAY_MS may be 0)
 *
 * Each chunk read is stamped with the time it may leave and queued; one
 * timer per direction writes every chunk whose time has come. When a side
 * closes, what it sent before is still delivered (late, like the rest),
 * then the whole connection is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

struct chunk {
	TAILQ_ENTRY(chunk) link;
	uint64_t due_us;
	struct evbuffer *data;
};
TAILQ_HEAD(chunk_list, chunk);

struct pair;

/* One direction: bytes read from @from leave through @to. */
struct flow {
	struct pair *p;
	struct bufferevent *from, *to;
	struct chunk_list queue;
	struct event *timer;
	int eof; /* @from closed: close the pair once the queue is empty */
};

struct pair {
	struct bufferevent *a, *b; /* a: the accepted side, b: the target */
	struct flow ab, ba;
};

static struct event_base *base;
static struct sockaddr_in target;
static uint64_t delay_us;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void flow_clear(struct flow *f)
{
	struct chunk *c;
	while ((c = TAILQ_FIRST(&f->queue)) != NULL) {
		TAILQ_REMOVE(&f->queue, c, link);
		evbuffer_free(c->data);
		free(c);
	}
	if (f->timer != NULL)
		event_free(f->timer);
}

static void pair_free(struct pair *p)
{
	flow_clear(&p->ab);
	flow_clear(&p->ba);
	bufferevent_free(p->a);
	if (p->b != NULL)
		bufferevent_free(p->b);
	free(p);
}

static void arm(struct flow *f)
{
	struct chunk *c = TAILQ_FIRST(&f->queue);
	if (c == NULL)
		return;
	uint64_t t = now_us();
	uint64_t wait = c->due_us > t ? c->due_us - t : 0;
	struct timeval tv = {(time_t)(wait / 1000000u),
			     (suseconds_t)(wait % 1000000u)};
	evtimer_add(f->timer, &tv);
}

static void drained(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pair_free(arg);
}

static void drained_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		pair_free(arg);
}

/* A closed side's last bytes are queued on the other: close the pair once
 * they have left. */
static void finish(struct flow *f)
{
	if (evbuffer_get_length(bufferevent_get_output(f->to)) == 0) {
		pair_free(f->p);
		return;
	}
	bufferevent_disable(f->to, EV_READ);
	bufferevent_setwatermark(f->to, EV_WRITE, 0, 0);
	bufferevent_setcb(f->to, NULL, drained, drained_event, f->p);
	evtimer_del(f->p->ab.timer);
	evtimer_del(f->p->ba.timer);
}

/* Writes every chunk whose time has come; closes the pair when the side
 * that fed this flow has closed and nothing of it is left. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct flow *f = arg;
	(void)fd;
	(void)what;
	uint64_t t = now_us();
	struct chunk *c;
	while ((c = TAILQ_FIRST(&f->queue)) != NULL && c->due_us <= t) {
		TAILQ_REMOVE(&f->queue, c, link);
		bufferevent_write_buffer(f->to, c->data);
		evbuffer_free(c->data);
		free(c);
	}
	if (TAILQ_EMPTY(&f->queue) && f->eof) {
		finish(f);
		return;
	}
	arm(f);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct flow *f = arg;
	struct chunk *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->data = evbuffer_new()) == NULL) {
		free(c);
		pair_free(f->p);
		return;
	}
	c->due_us = now_us() + delay_us;
	evbuffer_add_buffer(c->data, bufferevent_get_input(bev));
	int was_empty = TAILQ_EMPTY(&f->queue);
	TAILQ_INSERT_TAIL(&f->queue, c, link);
	if (was_empty)
		arm(f);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct flow *f = arg; /* the flow @bev feeds */
	struct pair *p = f->p;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
			   &one, sizeof(one));
		bufferevent_enable(p->a, EV_READ);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (what & BEV_EVENT_ERROR) {
		pair_free(p);
		return;
	}
	/* What this side sent before it closed still arrives, late. */
	bufferevent_disable(bev, EV_READ);
	f->eof = 1;
	if (TAILQ_EMPTY(&f->queue))
		finish(f);
}

static int flow_init(struct flow *f, struct pair *p, struct bufferevent *from,
		     struct bufferevent *to)
{
	f->p = p;
	f->from = from;
	f->to = to;
	TAILQ_INIT(&f->queue);
	f->timer = evtimer_new(base, deliver, f);
	return f->timer != NULL ? 0 : -1;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct pair *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		evutil_closesocket(fd);
		return;
	}
	p->a = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->a == NULL) {
		evutil_closesocket(fd);
		free(p);
		return;
	}
	p->b = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (p->b == NULL || flow_init(&p->ab, p, p->a, p->b) != 0 ||
	    flow_init(&p->ba, p, p->b, p->a) != 0) {
		pair_free(p);
		return;
	}
	bufferevent_setcb(p->a, on_read, NULL, on_event, &p->ab);
	bufferevent_setcb(p->b, on_read, NULL, on_event, &p->ba);
	/* Fewer, larger chunks when bytes stream (snapshots). */
	bufferevent_set_max_single_read(p->a, 1 << 20);
	bufferevent_set_max_single_read(p->b, 1 << 20);
	bufferevent_set_max_single_write(p->a, 1 << 20);
	bufferevent_set_max_single_write(p->b, 1 << 20);
	if (bufferevent_socket_connect(p->b, (struct sockaddr *)&target,
				       sizeof(target)) != 0) {
		pair_free(p);
		return;
	}
	bufferevent_enable(p->b, EV_READ);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long listen_port, target_port, delay_ms;
	if (argc != 4 || parse_uint(argv[1], 65535, &listen_port) != 0 ||
	    parse_uint(argv[2], 65535, &target_port) != 0 ||
	    parse_uint(argv[3], 60000, &delay_ms) != 0 || listen_port == 0 ||
	    target_port == 0) {
		fprintf(stderr, "usage: delay_relay LISTEN_PORT TARGET_PORT "
				"DELAY_MS (ports 1-65535, delay 0-60000)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	delay_us = (uint64_t)delay_ms * 1000u;
	memset(&target, 0, sizeof(target));
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)target_port);
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct sockaddr_in sin = target;
	sin.sin_port = htons((uint16_t)listen_port);

	/* Millisecond timers would add up to a millisecond per chunk. */
	struct event_config *cfg = event_config_new();
	if (cfg == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0)
		return 1;
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		return 1;
	struct evconnlistener *l = evconnlistener_new_bind(
	    base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	    -1, (struct sockaddr *)&sin, sizeof(sin));
	if (l == NULL) {
		fprintf(stderr, "delay_relay: cannot listen on port %lu: %s\n",
			listen_port, strerror(errno));
		return 1;
	}
	event_base_dispatch(base);
	evconnlistener_free(l);
	event_base_free(base);
	return 0;
}
