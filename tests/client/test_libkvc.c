/* test_libkvc.c - Check tests of the libkvc API against a running cluster
 * (KVC_ENDPOINTS, started by test_libkvc.py) and against dead ports. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvc.h"

static const char *endpoints;
static struct kvc *h;
static char prefix[64]; /* per run, so reruns on one cluster don't clash */

static void setup(void)
{
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 20000;
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
}

/* The TCP sockets this process holds open (its fds that are sockets;
 * the test opens no other). */
static int count_tcp_sockets(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			n++;
	}
	return n;
}

static void teardown(void)
{
	kvc_close(h);
	h = NULL;
}

static void key(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", prefix, name);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_open_rejects_bad_endpoints)
{
	struct kvc *x = (struct kvc *)1;
	ck_assert_int_eq(kvc_open(NULL, NULL, &x), KVC_EINVAL);
	ck_assert_int_eq(kvc_open("", NULL, &x), KVC_EINVAL);
	ck_assert_ptr_null(x);
	ck_assert_int_eq(kvc_open(" , ,", NULL, &x), KVC_EINVAL);
	ck_assert_int_eq(kvc_open("ftp://127.0.0.1:1", NULL, &x), KVC_EINVAL);
	ck_assert_int_eq(kvc_open("http://", NULL, &x), KVC_EINVAL);
	ck_assert_int_eq(kvc_open("http://a:1", NULL, NULL), KVC_EINVAL);
	/* both spellings, spaces and a trailing slash are fine */
	ck_assert_int_eq(
	    kvc_open(" 127.0.0.1:1 , http://127.0.0.1:2/", NULL, &x), 0);
	kvc_close(x);
	kvc_close(NULL);
}
END_TEST

START_TEST(test_strerror_names_every_code)
{
	for (int rc = KVC_OK; rc >= KVC_ECOMPACTED; rc--) {
		const char *s = kvc_strerror(rc);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, "unknown error");
		for (int o = rc + 1; o <= KVC_OK; o++)
			ck_assert_str_ne(s, kvc_strerror(o));
	}
	ck_assert_str_eq(kvc_strerror(-1000), "unknown error");
	ck_assert_str_eq(kvc_strerror(5), "unknown error");
}
END_TEST

START_TEST(test_put_get_binary)
{
	char k[128];
	key(k, sizeof(k), "bin");
	const unsigned char val[] = {0, 1, 2, 'a', 0, 0xff, '\n'};
	uint64_t idx = 0, mod = 0;
	ck_assert_int_eq(kvc_put(h, k, val, sizeof(val), &idx), 0);
	ck_assert_uint_gt(idx, 0);
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, &mod), 0);
	ck_assert_uint_eq(len, sizeof(val));
	ck_assert_mem_eq(v, val, sizeof(val));
	ck_assert_int_eq(((char *)v)[len], '\0');
	ck_assert_uint_eq(mod, idx);
	free(v);
	/* a second put moves the mod index */
	uint64_t idx2;
	ck_assert_int_eq(kvc_put(h, k, "x", 1, &idx2), 0);
	ck_assert_uint_gt(idx2, idx);
	ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, &mod), 0);
	ck_assert_uint_eq(mod, idx2);
	ck_assert_str_eq(v, "x");
	free(v);
	/* empty value */
	ck_assert_int_eq(kvc_put(h, k, NULL, 0, NULL), 0);
	ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, NULL), 0);
	ck_assert_uint_eq(len, 0);
	free(v);
}
END_TEST

START_TEST(test_stale_get)
{
	char k[128];
	key(k, sizeof(k), "stale");
	uint64_t idx;
	ck_assert_int_eq(kvc_put(h, k, "s", 1, &idx), 0);
	/* A stale read may hit a member that has not applied it yet: retry
	 * within a deadline. */
	double end = now_s() + 10;
	int rc;
	void *v = NULL;
	size_t len;
	uint64_t mod = 0;
	do {
		rc = kvc_get(h, k, KVC_GET_STALE, &v, &len, &mod);
		if (rc == 0 && mod == idx)
			break;
		if (rc == 0)
			free(v);
	} while (now_s() < end);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(mod, idx);
	ck_assert_str_eq(v, "s");
	free(v);
}
END_TEST

START_TEST(test_get_absent)
{
	char k[128];
	key(k, sizeof(k), "absent");
	void *v = (void *)1;
	size_t len = 7;
	ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, NULL), KVC_ENOTFOUND);
	ck_assert_str_ne(kvc_errmsg(h), "");
	ck_assert_int_eq(kvc_get(h, k, KVC_GET_STALE, &v, &len, NULL),
			 KVC_ENOTFOUND);
}
END_TEST

START_TEST(test_cas)
{
	char k[128];
	key(k, sizeof(k), "cas");
	uint64_t i1, cur = 0;
	ck_assert_int_eq(kvc_cas_put(h, k, "a", 1, 0, &i1), 0);
	ck_assert_int_eq(kvc_cas_put(h, k, "b", 1, 0, &cur), KVC_ECAS);
	ck_assert_uint_eq(cur, i1);
	cur = 0;
	ck_assert_int_eq(kvc_cas_put(h, k, "b", 1, i1 + 50, &cur), KVC_ECAS);
	ck_assert_uint_eq(cur, i1);
	uint64_t i2;
	ck_assert_int_eq(kvc_cas_put(h, k, "b", 1, i1, &i2), 0);
	ck_assert_uint_gt(i2, i1);
	bool deleted = true;
	cur = 0;
	ck_assert_int_eq(kvc_cas_delete(h, k, i1, &cur, &deleted), KVC_ECAS);
	ck_assert_uint_eq(cur, i2);
	uint64_t di;
	ck_assert_int_eq(kvc_cas_delete(h, k, i2, &di, &deleted), 0);
	ck_assert(deleted);
	ck_assert_uint_gt(di, i2);
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, NULL), KVC_ENOTFOUND);
}
END_TEST

START_TEST(test_delete)
{
	char k[128];
	key(k, sizeof(k), "del");
	ck_assert_int_eq(kvc_put(h, k, "d", 1, NULL), 0);
	bool deleted = false;
	uint64_t idx = 0;
	ck_assert_int_eq(kvc_delete(h, k, &idx, &deleted), 0);
	ck_assert(deleted);
	ck_assert_uint_gt(idx, 0);
	ck_assert_int_eq(kvc_delete(h, k, &idx, &deleted), 0);
	ck_assert(!deleted);
}
END_TEST

START_TEST(test_list_pages)
{
	char k[128], p[128];
	key(p, sizeof(p), "list/");
	uint64_t idx[25];
	for (int i = 0; i < 25; i++) {
		char name[32], val[32];
		snprintf(name, sizeof(name), "list/%02d", i);
		snprintf(val, sizeof(val), "value %d", i);
		key(k, sizeof(k), name);
		ck_assert_int_eq(kvc_put(h, k, val, strlen(val), &idx[i]), 0);
	}
	char *after = NULL;
	int seen = 0, pages = 0;
	bool more = true;
	while (more) {
		struct kvc_kv *kvs;
		size_t n;
		ck_assert_int_eq(kvc_list(h, p, after, 10, &kvs, &n, &more), 0);
		pages++;
		ck_assert_uint_le(n, 10);
		for (size_t i = 0; i < n; i++, seen++) {
			char name[32], val[32];
			snprintf(name, sizeof(name), "list/%02d", seen);
			snprintf(val, sizeof(val), "value %d", seen);
			key(k, sizeof(k), name);
			ck_assert_str_eq(kvs[i].key, k);
			ck_assert_uint_eq(kvs[i].value_len, strlen(val));
			ck_assert_str_eq(kvs[i].value, val);
			ck_assert_uint_eq(kvs[i].index, idx[seen]);
		}
		free(after);
		after = n ? strdup(kvs[n - 1].key) : NULL;
		kvc_kvs_free(kvs, n);
		ck_assert(pages <= 3);
	}
	free(after);
	ck_assert_int_eq(seen, 25);
	ck_assert_int_eq(pages, 3);
	/* no match */
	struct kvc_kv *kvs;
	size_t n = 9;
	key(p, sizeof(p), "nothing-here/");
	ck_assert_int_eq(kvc_list(h, p, NULL, 0, &kvs, &n, &more), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert(!more);
	kvc_kvs_free(kvs, n);
}
END_TEST

START_TEST(test_status_and_members)
{
	struct kvc_status *st;
	ck_assert_int_eq(kvc_status(h, NULL, &st), 0);
	ck_assert_uint_gt(st->id, 0);
	ck_assert_uint_gt(st->term, 0);
	ck_assert_uint_gt(st->leader, 0);
	ck_assert(strcmp(st->state, "leader") == 0 ||
		  strcmp(st->state, "follower") == 0);
	ck_assert_uint_le(st->applied_index, st->commit_index);
	ck_assert_uint_le(st->commit_index, st->last_index);
	ck_assert_uint_eq(st->n_members, 3);
	ck_assert_str_ne(st->leader_client_url, "");
	/* the leader's own status, by URL */
	struct kvc_status *ls;
	ck_assert_int_eq(kvc_status(h, st->leader_client_url, &ls), 0);
	ck_assert_str_eq(ls->state, "leader");
	ck_assert_uint_eq(ls->id, st->leader);
	kvc_status_free(ls);
	kvc_status_free(st);

	struct kvc_member *ms;
	size_t n;
	ck_assert_int_eq(kvc_members(h, &ms, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_gt(ms[i].id, 0);
		ck_assert(strncmp(ms[i].peer_url, "http://", 7) == 0);
		ck_assert(ms[i].voter);
	}
	kvc_members_free(ms, n);
}
END_TEST

START_TEST(test_bad_key_and_args)
{
	char big[600];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(kvc_put(h, big, "v", 1, NULL), KVC_EBADREQ);
	ck_assert_str_ne(kvc_errmsg(h), "");
	ck_assert_int_eq(kvc_put(h, "", "v", 1, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_put(h, NULL, "v", 1, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_put(h, "k", NULL, 1, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_put(NULL, "k", "v", 1, NULL), KVC_EINVAL);
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(h, "k", 0, NULL, &len, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_get(h, "k", 0, &v, NULL, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_member_add(h, 0, "http://x:1"), KVC_EINVAL);
	ck_assert_int_eq(kvc_leader_transfer(h, 0), KVC_EINVAL);
}
END_TEST

START_TEST(test_dead_cluster_gives_up_by_the_deadline)
{
	/* A member that accepts connections (the kernel's backlog) and never
	 * answers: a socket listening that nobody accepts on. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 64), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 700;
	o.request_timeout_ms = 200;
	struct kvc *d;
	ck_assert_int_eq(kvc_open(url, &o, &d), 0);
	double t0 = now_s();
	int rc = kvc_put(d, "k", "v", 1, NULL);
	ck_assert(rc == KVC_EUNAVAILABLE || rc == KVC_ETIMEOUT);
	/* Asked for the leader, it never answered: the write itself was
	 * never sent. */
	ck_assert(!kvc_outcome_unknown(d));
	void *v;
	size_t len;
	rc = kvc_get(d, "k", 0, &v, &len, NULL);
	ck_assert(rc == KVC_EUNAVAILABLE || rc == KVC_ETIMEOUT);
	double took = now_s() - t0;
	/* two calls, each bounded by its deadline (+ slack for a loaded
	 * machine; a call that ignored its deadline would retry for ever) */
	ck_assert_double_le(took, 2 * 0.7 + 5.0);
	ck_assert_double_ge(took, 2 * 0.7 - 0.1);
	ck_assert_str_ne(kvc_errmsg(d), "");
	kvc_close(d);
	close(ls);
}
END_TEST

/* A stand-in member for one connection at a time: answers GET /v1/status
 * (itself the leader) and keeps that connection; answers a PUT with 200,
 * then closes the connection, as a member does at its idle timeout. */
struct closer {
	int ls;
	int port;
	int accepted;
	_Atomic int puts;   /* answered */
	_Atomic int closed; /* connections closed after a put */
};

static void *closer_main(void *arg)
{
	struct closer *c = arg;
	for (;;) {
		int fd = accept(c->ls, NULL, NULL);
		if (fd < 0)
			return NULL;
		c->accepted++;
		char buf[4096];
		size_t have = 0;
		for (;;) {
			ssize_t n =
			    recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			/* The PUTs here carry one byte of body. */
			bool put = strncmp(buf, "PUT ", 4) == 0;
			if (put && have < (size_t)(end + 4 - buf) + 1)
				continue;
			char body[256], ans[512];
			if (put)
				snprintf(body, sizeof(body), "{\"index\":7}");
			else
				snprintf(body, sizeof(body),
					 "{\"leader\":1,\"leader_client_url\":"
					 "\"http://127.0.0.1:%d\"}",
					 c->port);
			int al = snprintf(ans, sizeof(ans),
					  "HTTP/1.1 200 OK\r\nContent-Length: "
					  "%zu\r\n\r\n%s",
					  strlen(body), body);
			send(fd, ans, (size_t)al, MSG_NOSIGNAL);
			have = 0;
			if (put) {
				c->puts++;
				break;
			}
		}
		close(fd);
		if (c->puts > c->closed)
			c->closed++;
	}
}

START_TEST(test_closed_kept_connection_not_reused)
{
	static struct closer c;
	c.ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(bind(c.ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(c.ls, 16), 0);
	ck_assert_int_eq(getsockname(c.ls, (struct sockaddr *)&sa, &sl), 0);
	c.port = ntohs(sa.sin_port);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, closer_main, &c), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", c.port);
	struct kvc *d;
	ck_assert_int_eq(kvc_open(url, NULL, &d), 0);
	for (int i = 0; i < 3; i++) {
		uint64_t index = 0;
		ck_assert_int_eq(kvc_put(d, "k", "v", 1, &index), 0);
		ck_assert_uint_eq(index, 7);
		/* Each put went out on a live connection at once: no
		 * attempt failed (and left its message) first. */
		ck_assert_str_eq(kvc_errmsg(d), "");
		/* Until the member has closed the connection. */
		while (c.closed == i)
			usleep(1000);
	}
	ck_assert_int_eq(c.puts, 3);
	kvc_close(d);
	shutdown(c.ls, SHUT_RDWR);
	close(c.ls);
	pthread_join(th, NULL);
}
END_TEST

START_TEST(test_refused_everywhere_gives_up_at_once)
{
	/* Nothing listens on ports 1 and 2 of loopback: every endpoint
	 * refuses twice, and the call says so without waiting out its
	 * deadline of a minute. */
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 60000;
	struct kvc *d;
	ck_assert_int_eq(kvc_open("http://127.0.0.1:1,127.0.0.1:2", &o, &d), 0);
	double t0 = now_s();
	ck_assert_int_eq(kvc_put(d, "k", "v", 1, NULL), KVC_EUNAVAILABLE);
	ck_assert(!kvc_outcome_unknown(d));
	ck_assert_ptr_nonnull(strstr(kvc_errmsg(d), "connection refused"));
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(d, "k", 0, &v, &len, NULL), KVC_EUNAVAILABLE);
	ck_assert_double_le(now_s() - t0, 30.0);
	kvc_close(d);
}
END_TEST

START_TEST(test_version)
{
	int ma = -1, mi = -1, pa = -1;
	const char *v = kvc_version(&ma, &mi, &pa);
	ck_assert_str_eq(v, KVC_VERSION_STRING);
	ck_assert_int_eq(ma, KVC_VERSION_MAJOR);
	ck_assert_int_eq(mi, KVC_VERSION_MINOR);
	ck_assert_int_eq(pa, KVC_VERSION_PATCH);
	char buf[32];
	snprintf(buf, sizeof(buf), "%d.%d.%d", ma, mi, pa);
	ck_assert_str_eq(v, buf);
	ck_assert_ptr_nonnull(kvc_version(NULL, NULL, NULL));
}
END_TEST

START_TEST(test_options_size)
{
	struct kvc_options o;
	kvc_options_init(&o);
	ck_assert_uint_eq(o.size, sizeof(o));
	ck_assert_int_eq(o.connect_timeout_ms, 1000);
	ck_assert_int_eq(o.request_timeout_ms, 5000);
	ck_assert_int_eq(o.retry_deadline_ms, 10000);
	ck_assert(!o.stale_reads);
	struct kvc *x = NULL;
	/* NULL options and designated zero-initialised ones (size 0) are
	 * taken; a size too small to hold the first fields is not. */
	ck_assert_int_eq(kvc_open("127.0.0.1:1", NULL, &x), 0);
	kvc_close(x);
	struct kvc_options z = {.retry_deadline_ms = 5};
	ck_assert_int_eq(kvc_open("127.0.0.1:1", &z, &x), 0);
	kvc_close(x);
	o.size = 3;
	ck_assert_int_eq(kvc_open("127.0.0.1:1", &o, &x), KVC_EINVAL);
	ck_assert_ptr_null(x);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "kvc_options_init"));
	/* A program built with a larger struct (a newer kvc.h): libkvc
	 * reads the fields it knows. */
	struct {
		struct kvc_options o;
		int later_field;
	} big;
	kvc_options_init(&big.o);
	big.o.size = sizeof(big);
	big.later_field = 42;
	ck_assert_int_eq(kvc_open("127.0.0.1:1", &big.o, &x), 0);
	kvc_close(x);
	ck_assert_str_eq(kvc_open_error(), "");
}
END_TEST

START_TEST(test_open_error_says_why)
{
	struct kvc *x = NULL;
	ck_assert_int_eq(kvc_open("ftp://h:1", NULL, &x), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "ftp://h:1"));
	ck_assert_int_eq(kvc_open("", NULL, &x), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "no endpoint"));
	ck_assert_int_eq(kvc_open(NULL, NULL, &x), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "NULL"));
	char many[65 * 16 + 1] = "";
	for (int i = 0; i < 65; i++)
		strcat(many, "127.0.0.1:1,");
	ck_assert_int_eq(kvc_open(many, NULL, &x), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "more than 64"));
	ck_assert_int_eq(kvc_open("127.0.0.1:1", NULL, &x), 0);
	ck_assert_str_eq(kvc_open_error(), "");
	kvc_close(x);
}
END_TEST

/* Many calls on one handle reuse its connection to the leader
 * (keep-alive): the member's count of accepted connections grows by a
 * few (leader discovery, a reconnect), not by one per call. */
START_TEST(test_calls_reuse_connections)
{
	char k[128];
	key(k, sizeof(k), "keepalive");
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(kvc_put(h, k, "v", 1, NULL), 0);
	int fds_before = count_tcp_sockets();
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(kvc_put(h, k, "v", 1, NULL), 0);
		void *v;
		size_t len;
		ck_assert_int_eq(kvc_get(h, k, 0, &v, &len, NULL), 0);
		free(v);
	}
	/* The handle's sockets stay at most its cache's size. */
	ck_assert_int_le(count_tcp_sockets(), fds_before + 4);
	ck_assert_int_le(count_tcp_sockets(), 4);
}
END_TEST

/* One handle per thread: handles share nothing. */
struct writer {
	int id;
	int failures;
};

#define WRITERS 4
#define WRITES	40

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct kvc_options o = {.retry_deadline_ms = 20000};
	struct kvc *t;
	if (kvc_open(endpoints, &o, &t) != 0) {
		w->failures = WRITES;
		return NULL;
	}
	for (int i = 0; i < WRITES; i++) {
		char k[128], name[48];
		snprintf(name, sizeof(name), "threads/%d/%03d", w->id, i);
		key(k, sizeof(k), name);
		if (kvc_put(t, k, name, strlen(name), NULL) != 0)
			w->failures++;
	}
	kvc_close(t);
	return NULL;
}

START_TEST(test_one_handle_per_thread)
{
	pthread_t th[WRITERS];
	struct writer w[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.id = i};
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(w[i].failures, 0);
	}
	char p[128];
	key(p, sizeof(p), "threads/");
	struct kvc_kv *kvs;
	size_t n;
	bool more;
	ck_assert_int_eq(kvc_list(h, p, NULL, 1000, &kvs, &n, &more), 0);
	ck_assert_uint_eq(n, WRITERS * WRITES);
	ck_assert(!more);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(kvs[i].value, strstr(kvs[i].key, "threads/"));
	kvc_kvs_free(kvs, n);
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_ENDPOINTS");
	if (!endpoints) {
		fprintf(stderr, "test_libkvc: set KVC_ENDPOINTS\n");
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "libkvc-%ld", (long)time(NULL));
	Suite *s = suite_create("libkvc");
	TCase *off = tcase_create("offline");
	tcase_add_test(off, test_open_rejects_bad_endpoints);
	tcase_add_test(off, test_strerror_names_every_code);
	tcase_add_test(off, test_dead_cluster_gives_up_by_the_deadline);
	tcase_add_test(off, test_refused_everywhere_gives_up_at_once);
	tcase_add_test(off, test_closed_kept_connection_not_reused);
	tcase_add_test(off, test_version);
	tcase_add_test(off, test_options_size);
	tcase_add_test(off, test_open_error_says_why);
	tcase_set_timeout(off, 30);
	suite_add_tcase(s, off);
	TCase *on = tcase_create("cluster");
	tcase_add_checked_fixture(on, setup, teardown);
	tcase_add_test(on, test_put_get_binary);
	tcase_add_test(on, test_stale_get);
	tcase_add_test(on, test_get_absent);
	tcase_add_test(on, test_cas);
	tcase_add_test(on, test_delete);
	tcase_add_test(on, test_list_pages);
	tcase_add_test(on, test_status_and_members);
	tcase_add_test(on, test_bad_key_and_args);
	tcase_add_test(on, test_one_handle_per_thread);
	tcase_add_test(on, test_calls_reuse_connections);
	tcase_set_timeout(on, 120);
	suite_add_tcase(s, on);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
