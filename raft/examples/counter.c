/* counter.c - a replicated counter with linearizable reads on libkvdraft's
 * node API. Commands on stdin, one a line, each answered when it completes:
 * "add N" (N a signed 64-bit integer) proposes N and prints "added N at
 * INDEX" once it is applied here; "get" asks for a read point
 * (kvdraft_node_read()) and prints "value V", holding every add acknowledged
 * anywhere before the get began: a linearizable read, on any member.
 * Failures print "error: ...". The state is one int64 in memory: after a
 * restart the node restores the newest snapshot and applies the log after.
 *
 * Build: cc counter.c $(pkg-config --cflags --libs kvdraft)
 */
#define _POSIX_C_SOURCE 200809L /* pread(), dprintf() */
#include <kvdraft/node.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_MAGIC "counter-snapshot 1 " /* the snapshot's version */
static struct event_base *base;
static struct kvdraft_node *node;
static struct evbuffer *in; /* stdin not carried out yet */
static int64_t value;	    /* the state machine, and the last entry */
static raft_index applied;  /* it holds */
static raft_term applied_term;

/* What apply() hands the proposer of an add (kvdraft_app.result_size). */
struct add_result {
	uint64_t index; /* where the add was applied; 0: it would overflow */
	int64_t value;	/* the counter after it */
};

/* Decimal integers, all of @s, within range (0: ok). */
static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return s[0] < '0' || s[0] > '9' || *end || errno;
}

static int parse_i64(const char *s, int64_t *v)
{
	const char *d = s + (s[0] == '-');
	char *end;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *d < '0' || *d > '9' || *end || errno;
}

/* apply(): an add's command is N in decimal (the node keeps its own
 * identity in front, unseen); it moves the counter unless that would
 * overflow, alike on every member. Other entries move the applied index. */
static int app_apply(void *ctx, const struct raft_entry *ents, size_t n,
		     void *results, char *err, size_t errlen)
{
	struct add_result *res = results; /* zeroed by the node */
	char num[24];
	int64_t v, sum;
	(void)ctx, (void)err, (void)errlen;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &ents[i];
		if (e->type == RAFT_ENTRY_NORMAL && e->len < sizeof(num)) {
			memcpy(num, e->data, e->len);
			num[e->len] = '\0';
			if (!parse_i64(num, &v) &&
			    !__builtin_add_overflow(value, v, &sum))
				value = sum, res[i].index = e->index;
		}
		res[i].value = value;
		applied = e->index, applied_term = e->term;
	}
	return 0;
}

/* A snapshot is one line: SNAP_MAGIC "INDEX TERM VALUE\n". It runs on the
 * loop thread between applies (no KVDRAFT_APP_SNAPSHOT_CONCURRENT). */
static int app_snapshot_write(void *ctx, int fd, raft_index *index,
			      raft_term *term, char *err, size_t errlen)
{
	*index = applied, *term = applied_term, (void)ctx;
	if (dprintf(fd, SNAP_MAGIC "%" PRIu64 " %" PRIu64 " %" PRId64 "\n",
		    applied, applied_term, value) > 0)
		return 0;
	snprintf(err, errlen, "snapshot: %s", strerror(errno));
	return -1;
}

/* Takes the snapshot's value, refusing all but the line of @index, @term. */
static int app_snapshot_restore(void *ctx, int fd, raft_index index,
				raft_term term, char *err, size_t errlen)
{
	char b[128], want[64];
	int64_t v;
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	int k = snprintf(want, sizeof(want),
			 SNAP_MAGIC "%" PRIu64 " %" PRIu64 " ", index, term);
	(void)ctx;
	b[n > 0 ? n : 0] = '\0';
	if (n <= k || strlen(b) != (size_t)n || b[n - 1] != '\n' ||
	    strncmp(b, want, (size_t)k) ||
	    (b[n - 1] = '\0', parse_i64(b + k, &v))) {
		snprintf(err, errlen, "not a counter snapshot of that index");
		return -1;
	}
	value = v, applied = index, applied_term = term;
	return 0;
}

/* The completion of an add (@arg: its line, "add N", to free) or a get
 * (NULL; now every add acknowledged before it began is applied here). An
 * add that fails here was proposed: its outcome is unknown. */
static void done(void *arg, int err, const void *result)
{
	const struct add_result *r = result;
	if (err != KVDRAFT_OK)
		printf("error: %s: %s%s\n", arg ? (char *)arg : "get",
		       kvdraft_strerror(err), arg ? " (outcome unknown)" : "");
	else if (!arg)
		printf("value %" PRId64 "\n", value);
	else if (r->index)
		printf("added %s at %" PRIu64 "\n", (char *)arg + 4, r->index);
	else
		printf("error: %s: the counter would overflow\n", (char *)arg);
	free(arg);
}

/* Starts every whole line read; their answers come as they complete. */
static void on_stdin(evutil_socket_t fd, short what, void *ev)
{
	char *l;
	size_t n;
	int64_t v;
	int rc, r = evbuffer_read(in, fd, 4096);
	(void)what;
	if (r <= 0) /* EOF: the member serves on until a signal */
		event_del(ev);
	while ((l = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
		rc = 1; /* not a command; an empty line is none, silently */
		if (strcmp(l, "get") == 0) {
			rc = kvdraft_node_read(node, done, NULL);
		} else if (!strncmp(l, "add ", 4) && !parse_i64(l + 4, &v)) {
			/* The command: N as printed, no longer than typed. */
			n = (size_t)snprintf(l + 4, n - 3, "%" PRId64, v);
			rc = kvdraft_node_propose(node, l + 4, n, done, l);
			l = rc ? l : NULL; /* done() frees it */
		}
		if (rc < 0 || (rc > 0 && n > 0)) /* refused: not proposed */
			printf("error: %s: %s\n", l,
			       rc > 0 ? "not \"add N\" or \"get\""
				      : kvdraft_strerror(rc));
		free(l);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	event_base_loopbreak(base);
}

/* --initial-cluster ID=URL,...: the URLs point into @s (modified). */
static int parse_cluster(char *s, struct kvdraft_peer *peers, size_t *n)
{
	for (char *t = strtok(s, ","), *eq; t; t = strtok(NULL, ",")) {
		if (!(eq = strchr(t, '=')) || *n == RAFT_MAX_MEMBERS ||
		    (*eq = '\0', parse_u64(t, &peers[*n].id)) || !peers[*n].id)
			return -1;
		peers[(*n)++].peer_url = eq + 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct event *ev[3];
	static struct kvdraft_peer peers[RAFT_MAX_MEMBERS];
	struct kvdraft_node_options o;
	struct kvdraft_app app;
	static struct evhttp *http; /* static: still reachable at exit */
	char *listen = NULL, *colon, adv[300], err[256] = "";
	uint64_t port = 0;
	int c, bad = 0;

	kvdraft_node_options_init(&o);
	o.snapshot_entries = 1000;
	o.initial = peers;
	for (c = 1; c + 1 < argc && !bad; c += 2) { /* --flag VALUE */
		char *f = argv[c], *v = argv[c + 1];
		if (!strcmp(f, "--id"))
			bad = parse_u64(v, &o.id);
		else if (!strcmp(f, "--data-dir"))
			o.data_dir = v;
		else if (!strcmp(f, "--listen-peer"))
			listen = v;
		else if (!strcmp(f, "--initial-cluster"))
			bad = parse_cluster(v, peers, &o.n_initial);
		else if (!strcmp(f, "--snapshot-entries"))
			bad = parse_u64(v, &o.snapshot_entries);
		else
			bad = 1;
	}
	colon = listen ? strrchr(listen, ':') : NULL;
	if (bad || c != argc || !o.id || !o.data_dir || !o.n_initial ||
	    !colon || parse_u64(colon + 1, &port) || !port || port > 65535)
		errx(2, "usage: --id N --data-dir DIR --listen-peer HOST:PORT "
			"--initial-cluster ID=URL,... "
			"[--snapshot-entries N (1000)]; stdin: add N, get");
	*colon = '\0';
	snprintf(adv, sizeof(adv), "http://%s:%" PRIu64, listen, port);
	o.advertise_peer = adv;

	kvdraft_app_init(&app);
	app.apply = app_apply;
	app.result_size = sizeof(struct add_result);
	app.snapshot_write = app_snapshot_write;
	app.snapshot_restore = app_snapshot_restore;

	signal(SIGPIPE, SIG_IGN); /* a closed stdout: writes fail, no exit */
	setvbuf(stdout, NULL, _IOLBF, 0); /* a reader waits on a pipe */
	if (!(base = event_base_new()) || !(in = evbuffer_new()) ||
	    !(http = evhttp_new(base)) ||
	    !(ev[0] = evsignal_new(base, SIGTERM, on_signal, NULL)) ||
	    !(ev[1] = evsignal_new(base, SIGINT, on_signal, NULL)) ||
	    !(ev[2] = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin,
				event_self_cbarg())) ||
	    evsignal_add(ev[0], NULL) || evsignal_add(ev[1], NULL))
		errx(1, "cannot set up the event loop");
	if (!evhttp_bind_socket_with_handle(http, listen, (uint16_t)port))
		errx(1, "cannot listen on %s", listen);
	if (kvdraft_node_open(base, http, &o, &app, &node, err, sizeof(err)))
		errx(1, "%s", err);
	if (event_add(ev[2], NULL)) /* epoll refuses a regular file */
		warnx("stdin cannot be watched: no commands are read");
	event_base_dispatch(base);
	kvdraft_node_close(node); /* the rest ends with the process */
	return 0;
}
