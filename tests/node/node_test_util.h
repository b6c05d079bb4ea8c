/* node_test_util.h - what the node tests on a real loop share: a member's
 * HTTP listener on a free loopback port, its data dir, its stats, running
 * the loop until a condition holds, and an application with nothing to
 * snapshot. */
#ifndef TESTS_NODE_NODE_TEST_UTIL_H_
#define TESTS_NODE_NODE_TEST_UTIL_H_

#include <stddef.h>

#include "kvdraft_node.h"

struct event_base;
struct evhttp;

/* A new evhttp on @base listening on 127.0.0.1 at a port the kernel
 * chose; its URL ("http://127.0.0.1:PORT") in @url. Fails the test when
 * it cannot be made. */
struct evhttp *node_test_listen(struct event_base *base, char *url,
				size_t url_cap);

/* A new directory /tmp/PREFIX-XXXXXX into @dir (at least 64 bytes), and
 * its removal with everything in it. Fail the test on error. */
void node_test_mkdir(char *dir, size_t cap, const char *prefix);
void node_test_rmdir(const char *dir);

/* @n's stats, of this build's size. */
void node_test_stats(struct kvdraft_node *n, struct kvdraft_node_stats *st);

/* Runs @base's loop until @cond() holds; fails the test, naming @what,
 * after @seconds. */
void node_test_wait(struct event_base *base, int (*cond)(void),
		    const char *what, double seconds);

/* An application that holds nothing: apply() only advances the index,
 * snapshots are empty. @ctx is passed to its callbacks. */
void node_test_empty_app(struct kvdraft_app *app, void *ctx);

#endif /* TESTS_NODE_NODE_TEST_UTIL_H_ */
