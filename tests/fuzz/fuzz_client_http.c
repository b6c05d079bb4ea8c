/* fuzz_client_http.c - libFuzzer target for the public HTTP API: raw bytes
 * at the client listener of a real one-member kvd (node, WAL, LMDB and
 * http_api_attach()) running in-process, over loopback TCP. */
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"
#include "fuzz_http.h"
#include "http_api.h"
#include "log.h"
#include "kv_app.h"
#include "kvd_node.h"
#include "kvdraft_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ANSWERS	 64
#define READY_DEADLINE_S 30

static struct event_base *base;
static struct evhttp *client_http, *peer_http;
static struct kvdraft_node *node;
static struct kv_app store;
static struct config cfg;
static uint16_t client_port;
static char data_dir[256];
static struct evbuffer *answer;

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[1024];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static void teardown(void)
{
	if (node) {
		kvdraft_node_close(node);
		node = NULL;
		kv_app_close(&store);
	}
	if (data_dir[0])
		remove_tree(data_dir);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void setup(void)
{
	char err[1024] = "", idarg[] = "1", cport[32], pport[32], cluster[96];
	/* KVD_FUZZ_TMPDIR: set by tests/fuzz/run to a directory it removes
	 * afterwards, crash or not. */
	const char *tmp = getenv("KVD_FUZZ_TMPDIR");

	if (tmp == NULL)
		tmp = getenv("TMPDIR");

	if (base)
		return;
	signal(SIGPIPE, SIG_IGN);
	FUZZ_CHECK(evthread_use_pthreads() == 0);
	base = event_base_new();
	client_http = evhttp_new(base);
	peer_http = evhttp_new(base);
	answer = evbuffer_new();
	FUZZ_CHECK(base && client_http && peer_http && answer);
	client_port = fuzz_http_listen(client_http);
	uint16_t peer_port = fuzz_http_listen(peer_http);

	snprintf(data_dir, sizeof(data_dir), "%s/kvd-fuzz-client-XXXXXX",
		 tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(data_dir) != NULL);
	snprintf(cport, sizeof(cport), "127.0.0.1:%u", client_port);
	snprintf(pport, sizeof(pport), "127.0.0.1:%u", peer_port);
	snprintf(cluster, sizeof(cluster), "1=http://127.0.0.1:%u", peer_port);
	/* Small limits so the fuzzer reaches them: values above 4 KiB are
	 * refused, a snapshot every 64 entries, short request timeouts. Each
	 * exchange must end: watch streams are refused (503, after their
	 * query is parsed) and blocking reads answer at once. */
	char *argv[] = {"kvd",	  "--id",
			idarg,	  "--data-dir",
			data_dir, "--listen-client",
			cport,	  "--listen-peer",
			pport,	  "--initial-cluster",
			cluster,  "--election-timeout-ms",
			"100",	  "--heartbeat-ms",
			"20",	  "--max-value-bytes",
			"4096",	  "--snapshot-entries",
			"64",	  "--request-timeout-ms",
			"2000",	  "--log-level",
			"error",  "--max-watchers",
			"0",	  "--max-wait-ms",
			"0",	  NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (config_parse(argc, argv, &cfg, err, sizeof(err)) != CONFIG_OK) {
		fprintf(stderr, "config: %s\n", err);
		abort();
	}
	log_init(cfg.id, cfg.log_level, cfg.log_format);
	if (kvd_node_open(&cfg, base, peer_http, &store, &node, err,
			  sizeof(err)) != 0) {
		fprintf(stderr, "kvd_node_open: %s\n", err);
		abort();
	}
	http_api_attach(client_http, node);
	atexit(teardown);

	/* A one-member cluster elects itself; wait for it (a periodic wake
	 * keeps the loop turning while nothing else happens). */
	struct timeval tick = {.tv_usec = 10000};
	struct event *wake = event_new(base, -1, EV_PERSIST, wake_cb, NULL);
	FUZZ_CHECK(wake != NULL && event_add(wake, &tick) == 0);
	for (int i = 0; i < READY_DEADLINE_S * 100 && !kvdraft_node_ready(node);
	     i++)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(wake);
	if (!kvdraft_node_ready(node)) {
		fprintf(stderr, "the one-member cluster never became ready\n");
		abort();
	}
}

/* Sends @len bytes and checks every answer: well formed, never a 500 (a bug
 * or a storage failure), JSON bodies that parse. Returns the number of
 * answers and the first status in *@first. */
static size_t exchange(const uint8_t *req, size_t len, int *first)
{
	struct fuzz_http_answer a[MAX_ANSWERS];

	evbuffer_drain(answer, evbuffer_get_length(answer));
	fuzz_http_exchange(base, client_port, req, len, answer);
	size_t alen = evbuffer_get_length(answer);
	const char *ap = (const char *)evbuffer_pullup(answer, -1);
	size_t na = fuzz_http_parse_answers(ap, alen, a, MAX_ANSWERS);

	for (size_t i = 0; i < na; i++) {
		if (a[i].status == 500)
			fprintf(stderr, "500 answer: %.*s\n",
				(int)a[i].body_len, ap + a[i].body_off);
		FUZZ_CHECK(a[i].status != 500);
		if (a[i].json && a[i].body_len > 0 && !a[i].truncated) {
			json_error_t je;
			json_t *j = json_loadb(ap + a[i].body_off,
					       a[i].body_len, 0, &je);
			if (j == NULL)
				fprintf(stderr, "bad JSON (%s): %.*s\n",
					je.text, (int)a[i].body_len,
					ap + a[i].body_off);
			FUZZ_CHECK(j != NULL && json_is_object(j));
			json_decref(j);
		}
	}
	if (first)
		*first = na ? a[0].status : 0;
	return na;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char probe[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n"
				    "Connection: close\r\n\r\n";
	int status = 0;

	setup();
	uint8_t *buf = fuzz_dup(data, size);
	exchange(buf, size, NULL);
	free(buf);
	/* Whatever came before, the member still serves and is ready: a
	 * 503 may come while an entry the input wrote (or the leader's first
	 * one) is committed but not yet applied, so it is asked again while
	 * the loop turns, up to READY_DEADLINE_S. */
	for (int i = 0; i < READY_DEADLINE_S * 10; i++) {
		FUZZ_CHECK(exchange((const uint8_t *)probe, sizeof(probe) - 1,
				    &status) == 1);
		if (status != 503)
			break;
		const struct timeval tv = {.tv_usec = 100000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	FUZZ_CHECK(status == 200);
	return 0;
}
