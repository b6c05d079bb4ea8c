/* main.c - kvd: flags, listeners, the node, signals, the event loop. */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "file_modes.h"
#include "peer_trust.h"
#include "http_api.h"
#include "http_auth.h"
#include "kv_app.h"
#include "kvd_node.h"
#include "listener.h"
#include "log.h"
#include "mem_policy.h"
#include "kvdraft_node.h"
#include "sd_notify.h"
#include "member_pool.h"
#include "member_tls.h"
#include "tls.h"
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
	struct tls_server *client_tls; /* NULL: the client listener is HTTP */
	/* With client TLS: requests to other members' client URLs. */
	struct member_tls *member_tls;
	/* Their connections, kept for reuse (http:// and https://). */
	struct member_pool *member_pool;
	bool peer_tls; /* --peer-cert: the node's peer listener is HTTPS */
	struct kvdraft_node *node;
	struct kv_app store;
	struct event *sigterm, *sigint, *sighup, *grace;
	int stopping;
};

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct kvd *k = arg;
	event_base_loopbreak(k->base);
}

/* Fails what waits with 503, then gives the answers a moment to leave
 * before the WAL is drained. */
static void stop_now(struct kvd *k)
{
	watch_hub_end_all(k->store.hub, WATCH_END_SHUTTING_DOWN);
	kvdraft_node_stop(k->node);
	struct timeval tv = clock_ms_to_timeval(SHUTDOWN_GRACE_MS);
	k->grace = evtimer_new(k->base, grace_cb, k);
	if (k->grace == NULL || evtimer_add(k->grace, &tv) != 0)
		event_base_loopbreak(k->base);
}

static void handed_over(void *arg, int err, const void *result)
{
	(void)result;
	struct kvd *k = arg;
	if (err == KVDRAFT_OK)
		log_info("leadership handed over before stopping");
	else
		log_warn("leadership not handed over before stopping: %s",
			 kvdraft_strerror(err));
	stop_now(k);
}

/* The voter other than this member whose log is the longest here: the one
 * that can take over at once. 0 when there is none (or not leading). */
static raft_id best_successor(struct kvdraft_node *n, raft_id self)
{
	struct kvdraft_member ms[RAFT_MAX_MEMBERS];
	size_t cnt = kvdraft_node_members(n, ms, RAFT_MAX_MEMBERS);
	raft_id best = 0;
	raft_index best_match = 0;
	for (size_t i = 0; i < cnt && i < RAFT_MAX_MEMBERS; i++) {
		raft_index m;
		if (ms[i].id == self || !ms[i].voter ||
		    kvdraft_node_match_index(n, ms[i].id, &m) != KVDRAFT_OK)
			continue;
		if (best == 0 || m > best_match) {
			best = ms[i].id;
			best_match = m;
		}
	}
	return best;
}

/* SIGHUP (systemd's ExecReload): the process goes on; the certificates
 * are read again (a renewal needs no restart). A file that no longer
 * loads leaves the old context serving, and is logged. */
static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	struct kvd *k = arg;
	char err[512];
	if (k->client_tls == NULL && !k->peer_tls) {
		log_info("SIGHUP: nothing to reload");
		return;
	}
	/* The listener's context and the one of requests to other members
	 * read the same files. */
	if (k->client_tls != NULL) {
		if (tls_server_reload(k->client_tls, err, sizeof(err)) != 0)
			log_error("SIGHUP: %s; the client listener keeps its "
				  "certificates",
				  err);
		else if (member_tls_reload(k->member_tls, err, sizeof(err)) !=
			 0)
			log_error("SIGHUP: %s; the client listener serves the "
				  "new certificates, requests to other members "
				  "keep the old ones",
				  err);
		else {
			log_info("SIGHUP: client certificates reloaded");
			/* Idle connections to other members were made with
			 * the old context: the next requests take new ones. */
			member_pool_flush(k->member_pool);
		}
	}
	if (k->peer_tls) {
		if (kvdraft_node_reload_tls(k->node, err, sizeof(err)) !=
		    KVDRAFT_OK)
			log_error("SIGHUP: %s; peers keep the certificates in "
				  "use",
				  err);
		else
			log_info("SIGHUP: peer certificates reloaded");
	}
}

/* tls.c's warnings (an expired certificate, a key others may read). */
static void tls_warn(void *arg, const char *line)
{
	(void)arg;
	log_warn("%s", line);
}

static struct bufferevent *new_tls_conn(void *arg, struct event_base *base)
{
	return tls_server_bev(arg, base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct kvd *k = arg;
	if (k->stopping)
		return;
	k->stopping = 1;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify_send("STOPPING=1");
	listener_stop(k->client_listener);
	/* A leader first hands over to the most up-to-date voter (within an
	 * election timeout), so that writes pause for one round trip rather
	 * than for an election (etcd does the same). */
	struct raft_status st;
	kvdraft_node_status(k->node, &st);
	raft_id to =
	    st.role == RAFT_LEADER ? best_successor(k->node, st.id) : 0;
	if (to != 0) {
		log_info("handing leadership to member %" PRIu64
			 " before stopping",
			 to);
		if (kvdraft_node_transfer_leadership(k->node, to, handed_over,
						     k) == KVDRAFT_OK)
			return;
	}
	stop_now(k);
}

/* The peer listener's hook: the node checks the peer token before a
 * body is read (kvdraft_node_wrap_peer_conn()). */
static struct bufferevent *wrap_peer_conn(void *arg, struct bufferevent *bev)
{
	return kvdraft_node_wrap_peer_conn(arg, bev);
}

static struct bufferevent *new_peer_conn(void *arg, struct event_base *base)
{
	return kvdraft_node_new_peer_conn(arg, base);
}

static void die(const char *line, int status)
{
	log_release(0);
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
	/* A reload asked for while starting is not a reason to die. */
	signal(SIGHUP, SIG_IGN);
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

	log_init(cfg.id, cfg.log_level, cfg.log_format);
	/* Until the member serves: a start that fails prints one line. */
	log_hold();
	log_info("kvd %s starting: data dir %s, clients on %s, peers on %s",
		 KVD_VERSION, cfg.data_dir, cfg.advertise_client,
		 cfg.advertise_peer);
	file_modes_check(cfg.data_dir, cfg.peer_token_file);
	/* Peer TLS protects the port as a token does. */
	if (peer_trust_warn(cfg.listen_peer.host, cfg.peer_token != NULL,
			    cfg.peer_cert != NULL))
		log_warn("the peer listener on %s is not on a loopback address "
			 "and has neither --peer-token-file nor peer TLS: "
			 "anyone who reaches it can act as a member, and a "
			 "member added at any address is sent the log; this "
			 "cluster trusts its network",
			 cfg.listen_peer.host);
	if (cfg.client_cert != NULL) {
		struct tls_files tf = {.name = "client",
				       .cert = cfg.client_cert,
				       .key = cfg.client_key,
				       .ca = cfg.client_ca,
				       .warn = tls_warn};
		k.client_tls = tls_server_new(&tf, err, sizeof(err));
		if (k.client_tls == NULL)
			die(err, CONFIG_EXIT_STARTUP);
		k.member_tls = member_tls_new(&cfg, err, sizeof(err));
		if (k.member_tls == NULL)
			die(err, CONFIG_EXIT_STARTUP);
	}
	k.peer_tls = cfg.peer_cert != NULL;

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
	k.member_pool = member_pool_new(k.base, k.member_tls, NULL);
	if (k.member_pool == NULL)
		die("out of memory", CONFIG_EXIT_STARTUP);
	/* After kvd_node_open(), which sets up the store afresh. */
	k.store.member_pool = k.member_pool;
	http_api_attach(k.client_http, k.node);
	/* Both listeners are bounded alike (docs/API.md, "Connections and
	 * limits"). */
	struct listener_opts lo = {.name = "client",
				   .max_connections = cfg.max_connections,
				   .header_timeout_ms = cfg.header_timeout_ms};
	if (k.client_tls != NULL) {
		lo.new_bev = new_tls_conn;
		lo.new_bev_arg = k.client_tls;
		lo.deadline_from_accept = 1;
	}
	/* With auth on, a request without a valid token is refused before
	 * its body is read (DESIGN.md §1.8). */
	lo.gate_on = http_auth_gate_on;
	lo.gate_refuse = http_auth_gate_refuse;
	lo.gate_arg = k.node;
	k.client_listener = listener_serve(k.base, k.client_http, cfd, &lo);
	k.store.client_listener = k.client_listener;
	lo.gate_on = NULL;
	lo.gate_refuse = NULL;
	lo.gate_arg = NULL;
	lo.name = "peer";
	/* With peer TLS the node makes each connection's TLS bufferevent
	 * (kvdraft_node_new_peer_conn()). */
	lo.new_bev = k.peer_tls ? new_peer_conn : NULL;
	lo.new_bev_arg = k.peer_tls ? k.node : NULL;
	lo.deadline_from_accept = k.peer_tls;
	/* Replaces the transport's own bufferevent hook: the token is
	 * checked before a body is read on every peer connection. */
	lo.wrap = wrap_peer_conn;
	lo.wrap_arg = k.node;
	k.peer_listener = listener_serve(k.base, k.peer_http, pfd, &lo);
	if (k.client_listener == NULL || k.peer_listener == NULL)
		die("cannot serve the listening sockets", CONFIG_EXIT_STARTUP);

	k.sigterm = evsignal_new(k.base, SIGTERM, signal_cb, &k);
	k.sigint = evsignal_new(k.base, SIGINT, signal_cb, &k);
	k.sighup = evsignal_new(k.base, SIGHUP, sighup_cb, &k);
	if (k.sigterm == NULL || k.sigint == NULL || k.sighup == NULL ||
	    evsignal_add(k.sigterm, NULL) != 0 ||
	    evsignal_add(k.sigint, NULL) != 0 ||
	    evsignal_add(k.sighup, NULL) != 0)
		die("cannot handle signals", CONFIG_EXIT_STARTUP);
	if (mem_policy_start(k.base) != 0)
		die("cannot start the memory timer", CONFIG_EXIT_STARTUP);
	log_info("member %" PRIu64 " ready to serve", cfg.id);
	log_release(1);
	/* Under systemd (Type=notify): started means serving. */
	if (sd_notify_send("READY=1\nSTATUS=serving") < 0)
		log_warn("cannot notify the service manager: %s",
			 strerror(errno));

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
	/* After the node and the store, whose last callbacks hand their
	 * connections back to it. */
	member_pool_free(k.member_pool);
	/* After the connections: each SSL held a reference on the context. */
	tls_server_free(k.client_tls);
	member_tls_free(k.member_tls);
	event_free(k.sigterm);
	event_free(k.sigint);
	event_free(k.sighup);
	/* Freeing the events restored the default action: a second SIGTERM
	 * (a supervisor insisting) must not turn this clean exit into a
	 * death by signal. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (k.grace != NULL)
		event_free(k.grace);
	event_base_free(k.base);
	log_info("stopped");
	config_free(&cfg);
	return 0;
}
