/* node_test_util.c - helpers of the node tests on a real loop (see
 * node_test_util.h). */
#include "node_test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"

struct evhttp *node_test_listen(struct event_base *base, char *url,
				size_t url_cap)
{
	struct evhttp *http = evhttp_new(base);
	ck_assert_ptr_nonnull(http);
	struct evhttp_bound_socket *bs =
	    evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bs);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sa, &len),
			 0);
	snprintf(url, url_cap, "http://127.0.0.1:%u",
		 (unsigned)ntohs(sa.sin_port));
	return http;
}

void node_test_mkdir(char *dir, size_t cap, const char *prefix)
{
	snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void node_test_rmdir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

void node_test_stats(struct kvdraft_node *n, struct kvdraft_node_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	kvdraft_node_stats(n, st);
}

void node_test_wait(struct event_base *base, int (*cond)(void),
		    const char *what, double seconds)
{
	double deadline = clock_now_seconds() + seconds;
	while (!cond()) {
		ck_assert_msg(clock_now_seconds() < deadline,
			      "timed out waiting for %s", what);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static int apply_nothing(void *ctx, const struct raft_entry *ents, size_t n,
			 void *results, char *err, size_t errlen)
{
	(void)ctx, (void)ents, (void)n, (void)results, (void)err, (void)errlen;
	return 0;
}

static int snapshot_write_empty(void *ctx, int fd, raft_index *index,
				raft_term *term, char *err, size_t errlen)
{
	(void)ctx, (void)fd, (void)err, (void)errlen;
	*index = 0;
	*term = 0;
	return 0;
}

static int snapshot_restore_nothing(void *ctx, int fd, raft_index index,
				    raft_term term, char *err, size_t errlen)
{
	(void)ctx, (void)fd, (void)index, (void)term, (void)err, (void)errlen;
	return 0;
}

void node_test_empty_app(struct kvdraft_app *app, void *ctx)
{
	kvdraft_app_init(app);
	app->ctx = ctx;
	app->apply = apply_nothing;
	app->snapshot_write = snapshot_write_empty;
	app->snapshot_restore = snapshot_restore_nothing;
}
