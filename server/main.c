/* main.c - kvd: flags, listeners, the node, signals, the event loop. */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "file_modes.h"
#include "http_api.h"
#include "kv_app.h"
#include "kvd_node.h"
#include "listener.h"
#include "log.h"
#include "mem_policy.h"
#include "kvdraft_node.h"
#include "watch_hub.h"

/* Time given to answers of failed in-flight requests to reach their
 * clients before the loop stops. */
#define SHUTDOWN_GRACE_MS      200
#define PEER_MAX_HEADERS_BYTES (64 * 1024)
#define PEER_IDLE_TIMEOUT_S    120

struct kvd {
	struct event_base *base;
	struct evhttp *client_http, *peer_http;
	struct listener *client_listener, *peer_listener;
	struct kvdraft_node *node;
	struct kv_app store;
	struct event *sigterm, *sigint, *grace;
	int stopping;
};

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct kvd *k = arg;
	event_base_loopbreak(k->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct kvd *k = arg;
	if (k->stopping)
		return;
	k->stopping = 1;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Stop accepting connections, fail what waits with 503, then give
	 * the answers a moment to leave before the WAL is drained. */
	listener_stop(k->client_listener);
	watch_hub_end_all(k->store.hub, WATCH_END_SHUTTING_DOWN);
	kvdraft_node_stop(k->node);
	struct timeval tv = clock_ms_to_timeval(SHUTDOWN_GRACE_MS);
	k->grace = evtimer_new(k->base, grace_cb, k);
	if (k->grace == NULL || evtimer_add(k->grace, &tv) != 0)
		event_base_loopbreak(k->base);
}

/* The peer listener's hook: the node checks the peer token before a
 * body is read (kvdraft_node_wrap_peer_conn()). */
static struct bufferevent *wrap_peer_conn(void *arg, struct bufferevent *bev)
{
	return kvdraft_node_wrap_peer_conn(arg, bev);
}

static void die(const char *line, int status)
{
	fprintf(stderr, "kvd: %s\n", line);
	exit(status);
}

/* The event loop. With epoll's change list, the changes libevent makes to
 * one socket's interest within a loop turn reach the kernel as one
 * epoll_ctl at the end of the turn: evhttp re-arms a connection's read and
 * write events several times per request (delete, add, add write, drop
 * write), which otherwise costs three or four system calls per request and
 * per peer message. kvd never dup()s a socket, the case where the change
 * list is known to misbehave. */
static struct event_base *loop_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[1024] = "";
	struct kvd k = {0};

	int rc = config_parse(argc, argv, &cfg, err, sizeof(err));
	if (rc == CONFIG_EXIT) {
		config_free(&cfg);
		return 0;
	}
	if (rc != CONFIG_OK) {
		config_free(&cfg);
		die(err, CONFIG_EXIT_USAGE);
	}
	mem_policy_init();
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0)
		die("cannot enable libevent threading", CONFIG_EXIT_STARTUP);
	k.base = loop_new();
	if (k.base == NULL)
		die("cannot create the event loop", CONFIG_EXIT_STARTUP);

	/* Ports first: a port in use is the most common startup error and
	 * must fail before anything is written to the data dir. */
	int cfd = listener_open(&cfg.listen_client, err, sizeof(err));
	if (cfd < 0)
		die(err, CONFIG_EXIT_STARTUP);
	int pfd = listener_open(&cfg.listen_peer, err, sizeof(err));
	if (pfd < 0)
		die(err, CONFIG_EXIT_STARTUP);

	log_init(cfg.id, cfg.log_level);
	log_info("kvd %s starting: data dir %s, clients on %s, peers on %s",
		 KVD_VERSION, cfg.data_dir, cfg.advertise_client,
		 cfg.advertise_peer);
	file_modes_check(cfg.data_dir, cfg.peer_token_file);

	k.client_http = evhttp_new(k.base);
	k.peer_http = evhttp_new(k.base);
	if (k.client_http == NULL || k.peer_http == NULL)
		die("cannot create the HTTP servers", CONFIG_EXIT_STARTUP);
	evhttp_set_max_headers_size(k.peer_http, PEER_MAX_HEADERS_BYTES);
	evhttp_set_timeout(k.peer_http, PEER_IDLE_TIMEOUT_S);

	if (kvd_node_open(&cfg, k.base, k.peer_http, &k.store, &k.node, err,
			  sizeof(err)) != 0) {
		log_error("%s", err);
		die(err, CONFIG_EXIT_STARTUP);
	}
	http_api_attach(k.client_http, k.node);
	/* Both listeners are bounded alike (docs/API.md, "Connections and
	 * limits"). */
	struct listener_opts lo = {.name = "client",
				   .max_connections = cfg.max_connections,
				   .header_timeout_ms = cfg.header_timeout_ms};
	k.client_listener = listener_serve(k.base, k.client_http, cfd, &lo);
	lo.name = "peer";
	/* Replaces the transport's own bufferevent hook: the token is
	 * checked before a body is read on every peer connection. */
	lo.wrap = wrap_peer_conn;
	lo.wrap_arg = k.node;
	k.peer_listener = listener_serve(k.base, k.peer_http, pfd, &lo);
	if (k.client_listener == NULL || k.peer_listener == NULL)
		die("cannot serve the listening sockets", CONFIG_EXIT_STARTUP);

	k.sigterm = evsignal_new(k.base, SIGTERM, signal_cb, &k);
	k.sigint = evsignal_new(k.base, SIGINT, signal_cb, &k);
	if (k.sigterm == NULL || k.sigint == NULL ||
	    evsignal_add(k.sigterm, NULL) != 0 ||
	    evsignal_add(k.sigint, NULL) != 0)
		die("cannot handle signals", CONFIG_EXIT_STARTUP);
	if (mem_policy_start(k.base) != 0)
		die("cannot start the memory timer", CONFIG_EXIT_STARTUP);
	log_info("member %" PRIu64 " ready to serve", cfg.id);

	event_base_dispatch(k.base);

	/* Drains the WAL writer and syncs LMDB. */
	kvdraft_node_close(k.node);
	kv_app_close(&k.store);
	/* evhttp_free() frees the listening sockets before the connections,
	 * whose closes still reach the listeners: stopped first, they do
	 * not touch the freed sockets. */
	listener_stop(k.client_listener);
	listener_stop(k.peer_listener);
	mem_policy_stop();
	evhttp_free(k.client_http);
	evhttp_free(k.peer_http);
	/* After evhttp_free: closing connections report to them. */
	listener_free(k.client_listener);
	listener_free(k.peer_listener);
	event_free(k.sigterm);
	event_free(k.sigint);
	/* Freeing the events restored the default action: a second SIGTERM
	 * (a supervisor insisting) must not turn this clean exit into a
	 * death by signal. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (k.grace != NULL)
		event_free(k.grace);
	event_base_free(k.base);
	log_info("stopped");
	config_free(&cfg);
	return 0;
}
