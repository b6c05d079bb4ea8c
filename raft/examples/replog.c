/* replog.c - a replicated log of text lines on libkvdraft's node API.
 *
 * Each member proposes every line it reads on stdin and prints every
 * committed line, wherever it was proposed, as INDEX<TAB>LINE in index
 * order. The state machine is that text, kept in memory: after a restart
 * the node restores the newest snapshot and replays the log after it, so
 * replog prints every line again from the start.
 *
 * Build: cc replog.c $(pkg-config --cflags --libs kvdraft)
 */
#define _POSIX_C_SOURCE 200809L /* getline(), dup(), fdopen() */
#include <kvdraft/node.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINE   65536 /* the longest line taken from stdin */
#define SNAP_MAGIC "replog-snapshot 1"

static struct event_base *base;
static struct kvdraft_node *node;
/* The state: exactly what this process printed, "INDEX\tLINE\n" each;
 * out: lines to print next; in: stdin not proposed yet. */
static struct evbuffer *state, *out, *in;
static raft_index applied;
static raft_term applied_term;
static int skipping, failed; /* in a refused line; a callback failed */

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	failed = 1;
	event_base_loopbreak(base);
	return -1;
}

/* Prints @out, flushed (a reader waits on a pipe), and adds it to state. */
static void print_out(void)
{
	size_t n = evbuffer_get_length(out);
	if (n) /* pullup() of nothing is NULL, which fwrite() must not get */
		fwrite(evbuffer_pullup(out, -1), 1, n, stdout);
	fflush(stdout);
	evbuffer_add_buffer(state, out);
}

/* apply(): no-op and configuration entries only move the applied index. */
static int app_apply(void *ctx, const struct raft_entry *ents, size_t n,
		     void *results, char *err, size_t errlen)
{
	(void)ctx, (void)results;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &ents[i];
		if (e->type == RAFT_ENTRY_NORMAL &&
		    (evbuffer_add_printf(out, "%" PRIu64 "\t", e->index) < 0 ||
		     (e->len && evbuffer_add(out, e->data, e->len)) ||
		     evbuffer_add(out, "\n", 1)))
			return fail(err, errlen, "out of memory");
		applied = e->index, applied_term = e->term;
	}
	print_out();
	return 0;
}

/* A snapshot: the line SNAP_MAGIC " INDEX TERM BYTES", then the state. */
static int app_snapshot_write(void *ctx, int fd, raft_index *index,
			      raft_term *term, char *err, size_t errlen)
{
	struct evbuffer *b = evbuffer_new();
	size_t n = evbuffer_get_length(state);
	(void)ctx;
	int r = !b || evbuffer_add_printf(
			  b, SNAP_MAGIC " %" PRIu64 " %" PRIu64 " %zu\n",
			  applied, applied_term, n) < 0;
	r = r || (n && evbuffer_add(b, evbuffer_pullup(state, -1), n));
	while (!r && evbuffer_get_length(b) > 0)
		r = evbuffer_write(b, fd) < 0 && errno != EINTR;
	if (r)
		snprintf(err, errlen, "snapshot: %s", strerror(errno));
	if (b)
		evbuffer_free(b);
	*index = applied, *term = applied_term;
	return r ? -1 : 0;
}

/* Replaces the state with the snapshot's, checking every line, and prints
 * the lines not printed yet (all after a restart) before the log's. */
static int app_snapshot_restore(void *ctx, int fd, raft_index index,
				raft_term term, char *err, size_t errlen)
{
	int d = dup(fd); /* for stdio; the node closes @fd */
	FILE *f = d < 0 ? NULL : fdopen(d, "r");
	struct evbuffer *b = evbuffer_new();
	char *s = NULL, *tab, *end;
	size_t cap = 0, old = evbuffer_get_length(state), bytes;
	ssize_t n;
	uint64_t si, st, prev = 0, i;
	(void)ctx;
	int ok = f && b && lseek(d, 0, SEEK_SET) == 0 &&
		 getline(&s, &cap, f) > 0 &&
		 sscanf(s, SNAP_MAGIC " %" SCNu64 " %" SCNu64 " %zu", &si, &st,
			&bytes) == 3 &&
		 si == index && st == term && index >= applied;
	while (ok && (n = getline(&s, &cap, f)) > 0) {
		tab = memchr(s, '\t', (size_t)n);
		errno = 0;
		i = strtoull(s, &end, 10);
		ok = s[n - 1] == '\n' && tab && end == tab && s[0] >= '0' &&
		     s[0] <= '9' && !errno && i > prev && i <= index &&
		     n - (tab - s) - 2 <= MAX_LINE &&
		     !evbuffer_add(b, s, (size_t)n);
		prev = i;
	}
	ok = ok && !ferror(f) && evbuffer_get_length(b) == bytes;
	/* Output only grows: what was printed must begin the snapshot. */
	ok = ok && old <= evbuffer_get_length(b) &&
	     (!old || !memcmp(evbuffer_pullup(state, -1),
			      evbuffer_pullup(b, (ssize_t)old), old));
	free(s);
	f ? fclose(f) : d < 0 ? 0 : close(d); /* d, through f if opened */
	if (ok) {
		evbuffer_drain(b, old);
		evbuffer_add_buffer(out, b);
		print_out();
		applied = index, applied_term = term;
	}
	if (b)
		evbuffer_free(b);
	return ok ? 0
		  : fail(err, errlen, "a bad snapshot, or one unlike the log");
}

/* A proposal's completion; @arg: the line, for the message on failure. */
static void proposed(void *arg, int err, const void *result)
{
	(void)result;
	if (err != KVDRAFT_OK)
		warnx("%s not committed: %s", (char *)arg,
		      kvdraft_strerror(err));
	free(arg);
}

/* Proposes every whole line read, refusing those above MAX_LINE bytes.
 * Never retried: a line that timed out may commit still, then twice. */
static void take_lines(void)
{
	for (;;) {
		size_t eol, n = evbuffer_get_length(in);
		struct evbuffer_ptr e =
		    evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (e.pos < 0 && n <= MAX_LINE)
			return; /* the rest of the line is to come */
		n = e.pos < 0 ? n : (size_t)e.pos;
		char *line = skipping || n > MAX_LINE ? NULL : malloc(n + 1);
		if (!line && !skipping)
			warnx("a line refused: too long, or no memory");
		if (line) {
			evbuffer_remove(in, line, n);
			line[n] = '\0';
			int err =
			    kvdraft_node_propose(node, line, n, proposed, line);
			if (err != KVDRAFT_OK)
				proposed(line, err, NULL);
		}
		evbuffer_drain(in, (line ? 0 : n) + eol);
		skipping = e.pos < 0; /* a refused line's rest is to come */
	}
}

static void on_stdin(evutil_socket_t fd, short what, void *ev)
{
	(void)what;
	int r = evbuffer_read(in, fd, MAX_LINE);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) /* EOF: the member follows the cluster until a signal */
		event_del(ev);
	if (r <= 0 && evbuffer_get_length(in) > 0)
		evbuffer_add(in, "\n", 1); /* a last line without its newline */
	take_lines();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	event_base_loopbreak(base);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return s[0] < '0' || s[0] > '9' || *end || errno;
}

/* --initial-cluster ID=URL,...: the URLs point into @s (modified). */
static int parse_cluster(char *s, struct kvdraft_peer *peers, size_t *n)
{
	for (char *t = strtok(s, ","), *eq; t; t = strtok(NULL, ",")) {
		if (!(eq = strchr(t, '=')) || *n == RAFT_MAX_MEMBERS)
			return -1;
		*eq = '\0';
		if (parse_u64(t, &peers[*n].id) || !peers[*n].id)
			return -1;
		peers[(*n)++].peer_url = eq + 1;
	}
	return 0;
}

static const struct option opts[] = {{"id", 1, NULL, 'i'},
				     {"data-dir", 1, NULL, 'd'},
				     {"listen-peer", 1, NULL, 'l'},
				     {"advertise-peer", 1, NULL, 'a'},
				     {"initial-cluster", 1, NULL, 'c'},
				     {"snapshot-entries", 1, NULL, 's'},
				     {NULL, 0, NULL, 0}};
static const char usage[] =
    "usage: replog --id N --data-dir DIR --listen-peer HOST:PORT\n"
    "              --initial-cluster ID=URL,... [--advertise-peer URL]\n"
    "              [--snapshot-entries N (default 1000)]\n";

int main(int argc, char **argv)
{
	static struct event *ev[3];
	static struct kvdraft_peer peers[RAFT_MAX_MEMBERS];
	struct kvdraft_node_options o;
	struct kvdraft_app app;
	struct evhttp *http;
	char *listen = NULL, *colon, adv[300], err[256] = "";
	uint64_t port = 0;
	int c, bad = 0;

	kvdraft_node_options_init(&o);
	o.snapshot_entries = 1000;
	o.initial = peers;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bad |= c == '?' || (c == 'i' && parse_u64(optarg, &o.id));
		bad |= c == 'c' && parse_cluster(optarg, peers, &o.n_initial);
		bad |= c == 's' && parse_u64(optarg, &o.snapshot_entries);
		o.data_dir = c == 'd' ? optarg : o.data_dir;
		o.advertise_peer = c == 'a' ? optarg : o.advertise_peer;
		listen = c == 'l' ? optarg : listen;
	}
	colon = listen ? strrchr(listen, ':') : NULL;
	if (bad || optind != argc || !o.id || !o.data_dir || !o.n_initial ||
	    !colon || parse_u64(colon + 1, &port) || !port || port > 65535) {
		fputs(usage, stderr);
		return 2;
	}
	*colon = '\0';
	snprintf(adv, sizeof(adv), "http://%s:%" PRIu64, listen, port);
	o.advertise_peer = o.advertise_peer ? o.advertise_peer : adv;
	o.source_host = listen; /* peers see this member's own address */
	kvdraft_app_init(&app);
	app.apply = app_apply;
	app.snapshot_write = app_snapshot_write;
	app.snapshot_restore = app_snapshot_restore;
	signal(SIGPIPE, SIG_IGN); /* a closed stdout: writes fail, no exit */
	if (!(base = event_base_new()) || !(in = evbuffer_new()) ||
	    !(state = evbuffer_new()) || !(out = evbuffer_new()) ||
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
		warnx("stdin cannot be watched: no lines are read");
	if (!failed)
		event_base_dispatch(base);
	kvdraft_node_close(node);
	for (c = 0; c < 3; c++)
		event_free(ev[c]);
	evhttp_free(http);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(state);
	event_base_free(base);
	return failed;
}
