/* test_watch_hub.c - the watch hub against a model, seeded: random applies
 * to a real store (with a small history, so that trimming happens),
 * watchers of keys and prefixes added from random indexes, dropped,
 * paused and resumed, store resets as a snapshot install makes them; after
 * every step each watcher's changes must be a prefix of what the model
 * says it watches (none missing, none twice, in order), progress must
 * never claim a change it did not pass, and at the end every watcher still
 * open has everything. A failing seed is printed; replay it with
 * `test_watch_hub SEED [STEPS]`.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entry.h"
#include "kv.h"
#include "watch_hub.h"

#define MAX_MODEL    20000
#define MAX_WATCHERS 64
#define MAX_GOT	     20000

static uint64_t seed_now;

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL (seed %" PRIu64 "): ", seed_now);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

struct mev {
	raft_index index;
	uint8_t type;
	char key[8];
	uint32_t value; /* the value's bytes: its decimal text */
};

/* The bytes of model value @v: its decimal text, or none for 0. */
static int mval(uint32_t v, char out[16])
{
	if (v == 0) {
		out[0] = '\0';
		return 0;
	}
	return snprintf(out, 16, "%u", v);
}

static struct mev model[MAX_MODEL];
static size_t nmodel;
static bool exists[8];

static const char *const keys[] = {"a", "a/b",	 "a/c", "ab",
				   "b", "b/a/x", "c",	"a/b/c"};
static const char *const prefixes[] = {"", "a", "a/", "a/b", "b/", "c", "zz"};

struct w {
	bool open;
	struct watcher *h;
	char match[8];
	bool exact, stream;
	raft_index from; /* first index it covers */
	size_t got[MAX_GOT];
	size_t ngot;
	raft_index progress;
	bool ended;
	enum watch_end why;
	raft_index oldest;
};

static struct w ws[MAX_WATCHERS];
static struct watch_hub *hub;
static struct kv *kv;

static bool covers(const struct w *w, const struct mev *e)
{
	if (e->index < w->from)
		return false;
	size_t ml = strlen(w->match);
	return w->exact ? strcmp(e->key, w->match) == 0
			: strncmp(e->key, w->match, ml) == 0;
}

/* The model's position of the next change @w must get. */
static size_t expected_next(const struct w *w, size_t after)
{
	for (size_t i = after; i < nmodel; i++)
		if (covers(w, &model[i]))
			return i;
	return nmodel;
}

static int on_change(void *arg, const struct kv_event *ev)
{
	struct w *w = arg;
	size_t from = w->ngot > 0 ? w->got[w->ngot - 1] + 1 : 0;
	size_t i = expected_next(w, from);
	if (i == nmodel)
		fail("watcher %zu got a change the model lacks (index %" PRIu64
		     ")",
		     (size_t)(w - ws), ev->index);
	const struct mev *e = &model[i];
	char val[16];
	int vl = mval(e->value, val);
	if (ev->index != e->index || ev->type != e->type ||
	    ev->key_len != strlen(e->key) ||
	    memcmp(ev->key, e->key, ev->key_len) != 0 ||
	    (e->type == KV_EVENT_PUT &&
	     (ev->value_len != (size_t)vl ||
	      memcmp(ev->value, val, (size_t)vl) != 0)))
		fail("watcher %zu (%s %s from %" PRIu64
		     "): got %.*s at %" PRIu64 ", expected %s at %" PRIu64
		     " (a gap, a duplicate or a "
		     "wrong change)",
		     (size_t)(w - ws), w->exact ? "key" : "prefix", w->match,
		     w->from, (int)ev->key_len, (const char *)ev->key,
		     ev->index, e->key, e->index);
	if (w->ngot == MAX_GOT)
		fail("too many changes for the test's buffer");
	w->got[w->ngot++] = i;
	return WATCH_GO_ON;
}

static int on_progress(void *arg, raft_index index)
{
	struct w *w = arg;
	/* Everything up to @index was passed: the next expected change must
	 * be later. */
	size_t from = w->ngot > 0 ? w->got[w->ngot - 1] + 1 : 0;
	size_t i = expected_next(w, from);
	if (i < nmodel && model[i].index <= index)
		fail("watcher %zu: progress %" PRIu64
		     " claims the change at %" PRIu64 " it did not pass",
		     (size_t)(w - ws), index, model[i].index);
	if (index < w->progress)
		fail("watcher %zu: progress went back", (size_t)(w - ws));
	w->progress = index;
	return WATCH_GO_ON;
}

static void on_end(void *arg, enum watch_end why, raft_index oldest)
{
	struct w *w = arg;
	w->open = false;
	w->ended = true;
	w->why = why;
	w->oldest = oldest;
	if (why != WATCH_END_COMPACTED && why != WATCH_END_SHUTTING_DOWN)
		fail("watcher %zu ended with %d", (size_t)(w - ws), (int)why);
	if (why == WATCH_END_COMPACTED) {
		/* Only when the history no longer reaches back to where it
		 * stood: past its last change (or its from). Whether the
		 * trimmed changes concerned it, the hub cannot know. */
		raft_index pos =
		    w->ngot > 0 ? model[w->got[w->ngot - 1]].index : w->from;
		if (oldest <= pos)
			fail("watcher %zu ended compacted (oldest %" PRIu64
			     ") though the history holds its position %" PRIu64,
			     (size_t)(w - ws), oldest, pos);
	}
}

static const struct watcher_ops ops = {
    .change = on_change,
    .progress = on_progress,
    .end = on_end,
};

static raft_index applied;

static void apply_batch(void)
{
	size_t n = 1 + rnd() % 4;
	struct raft_entry ents[4];
	struct kv_result res[4];
	uint8_t *bufs[4];
	for (size_t i = 0; i < n; i++) {
		size_t k = rnd() % 8;
		char val[16];
		/* 0 is the empty value (a put, not a delete). */
		uint32_t v = (uint32_t)(rnd() % 100000);
		if (v % 5 == 0)
			v = 0;
		mval(v, val);
		struct kv_cmd c = {.op = rnd() % 3 == 0 ? KV_OP_DELETE
							: KV_OP_PUT,
				   .key = (const uint8_t *)keys[k],
				   .key_len = strlen(keys[k])};
		if (c.op == KV_OP_PUT) {
			c.value = (const uint8_t *)val;
			c.value_len = strlen(val);
		}
		size_t len;
		if (kv_cmd_encode_alloc(&c, &bufs[i], &len) != 0)
			fail("encode");
		ents[i] = (struct raft_entry){.term = 1,
					      .index = applied + 1 + i,
					      .type = RAFT_ENTRY_NORMAL,
					      .len = (uint32_t)len,
					      .data = bufs[i]};
		/* The model: a delete of a missing key is no change. */
		if (c.op == KV_OP_PUT || exists[k]) {
			if (nmodel == MAX_MODEL)
				fail("model full");
			struct mev *e = &model[nmodel++];
			e->index = applied + 1 + i;
			e->type =
			    c.op == KV_OP_PUT ? KV_EVENT_PUT : KV_EVENT_DELETE;
			snprintf(e->key, sizeof(e->key), "%s", keys[k]);
			e->value = v;
		}
		exists[k] = c.op == KV_OP_PUT;
	}
	char err[256];
	if (kv_apply(kv, ents, n, res, err, sizeof(err)) != 0)
		fail("kv_apply: %s", err);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	applied += n;
	/* Handed out now, or from the loop's next turn as kvd does. */
	if (rnd() % 2)
		watch_hub_applied_soon(hub, applied);
	else
		watch_hub_applied(hub, applied);
}

static void add_watcher(void)
{
	size_t slot = MAX_WATCHERS;
	for (size_t i = 0; i < MAX_WATCHERS; i++)
		if (!ws[i].open && !ws[i].ended) {
			slot = i;
			break;
		}
	if (slot == MAX_WATCHERS)
		return;
	struct w *w = &ws[slot];
	memset(w, 0, sizeof(*w));
	w->exact = rnd() % 2;
	snprintf(w->match, sizeof(w->match), "%s",
		 w->exact ? keys[rnd() % 8] : prefixes[rnd() % 7]);
	raft_index from = rnd() % 3 == 0 ? 0 : 1 + rnd() % (applied + 3);
	raft_index oldest = 0;
	int rc = watch_hub_add(hub, (const uint8_t *)w->match, strlen(w->match),
			       w->exact, from, rnd() % 4 != 0, &ops, w, &w->h,
			       &oldest);
	if (rc == KV_ECOMPACTED) {
		if (oldest <= from)
			fail("410 with oldest %" PRIu64 " <= from %" PRIu64,
			     oldest, from);
		return;
	}
	if (rc != 0)
		fail("watch_hub_add: %d", rc);
	w->from = from == 0 ? applied + 1 : from;
	if (oldest != w->from)
		fail("the first index %" PRIu64 " is not %" PRIu64, oldest,
		     w->from);
	w->open = true;
}

/* A stream of a key no one writes, from now. */
static void add_idle_stream(void)
{
	for (size_t i = 0; i < MAX_WATCHERS; i++) {
		struct w *w = &ws[i];
		if (w->open || w->ended)
			continue;
		memset(w, 0, sizeof(*w));
		snprintf(w->match, sizeof(w->match), "idle");
		w->exact = true;
		w->stream = true;
		raft_index oldest;
		if (watch_hub_add(hub, (const uint8_t *)"idle", 4, true, 0,
				  true, &ops, w, &w->h, &oldest) != 0)
			fail("adding an idle stream");
		w->from = applied + 1;
		w->open = true;
		return;
	}
}

static struct w *random_open(void)
{
	size_t start = rnd() % MAX_WATCHERS;
	for (size_t k = 0; k < MAX_WATCHERS; k++) {
		struct w *w = &ws[(start + k) % MAX_WATCHERS];
		if (w->open)
			return w;
	}
	return NULL;
}

static void run_once(struct event_base *base)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static int run_seed(uint64_t seed, unsigned steps, const char *dir)
{
	seed_now = seed;
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	memset(ws, 0, sizeof(ws));
	memset(exists, 0, sizeof(exists));
	nmodel = 0;
	applied = 0;
	struct kv_options o;
	kv_options_init(&o);
	o.watch_history = 20 + rnd() % 200;
	char err[256];
	if (kv_open(dir, &o, &kv, err, sizeof(err)) != 0)
		fail("kv_open: %s", err);
	struct event_base *base = event_base_new();
	struct watch_hub_options ho = {.max_streams = MAX_WATCHERS,
				       .progress_ms = 1};
	hub = watch_hub_new(base, &kv, kv_applied_index(kv), &ho);
	if (base == NULL || hub == NULL)
		fail("setup");
	for (unsigned s = 0; s < steps; s++) {
		unsigned r = (unsigned)(rnd() % 100);
		struct w *w;
		if (r < 45)
			apply_batch();
		else if (r < 60)
			add_watcher();
		else if (r < 64 && (w = random_open()) != NULL) {
			watch_hub_remove(hub, w->h);
			w->open = false;
		} else if (r < 72 && (w = random_open()) != NULL)
			watch_hub_pause(hub, w->h);
		else if (r < 80 && (w = random_open()) != NULL)
			watch_hub_resume(hub, w->h);
		else if (r < 82)
			/* What a snapshot install of the same history does. */
			watch_hub_reset(hub, applied);
		else
			run_once(base);
	}
	/* Everyone resumes and catches up; then each has all it covers. */
	for (size_t i = 0; i < MAX_WATCHERS; i++)
		if (ws[i].open)
			watch_hub_resume(hub, ws[i].h);
	struct watch_hub_stats st;
	for (int k = 0; k < 100000; k++) {
		watch_hub_stats(hub, &st);
		if (st.catching_up == 0)
			break;
		run_once(base);
	}
	if (st.catching_up != 0)
		fail("catch-up never ended");
	/* A hand-out still due runs on the loop's next turns. */
	for (int k = 0; k < 100 && watch_hub_applied_index(hub) < applied; k++)
		run_once(base);
	if (watch_hub_applied_index(hub) != applied)
		fail("the changes up to %" PRIu64 " were never handed out",
		     applied);
	/* Every open stream hears that it is up to date (progress every
	 * millisecond here): none is left out of the progress order, also
	 * not the idle ones added last. */
	for (int k = 0; k < 3; k++)
		add_idle_stream();
	for (int k = 0;; k++) {
		size_t behind = 0;
		for (size_t i = 0; i < MAX_WATCHERS; i++)
			behind += ws[i].open && ws[i].stream &&
				  ws[i].progress < applied;
		if (behind == 0)
			break;
		if (k == 100000)
			fail("%zu streams got no progress up to %" PRIu64,
			     behind, applied);
		usleep(100);
		run_once(base);
	}
	for (size_t i = 0; i < MAX_WATCHERS; i++) {
		struct w *w = &ws[i];
		if (!w->open)
			continue;
		size_t want = 0;
		for (size_t j = 0; j < nmodel; j++)
			want += covers(w, &model[j]);
		if (w->ngot != want)
			fail("watcher %zu has %zu of its %zu changes", i,
			     w->ngot, want);
	}
	watch_hub_free(hub);
	for (size_t i = 0; i < MAX_WATCHERS; i++)
		if (ws[i].open)
			fail("watcher %zu not ended by watch_hub_free", i);
	event_base_free(base);
	kv_close(kv);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned steps = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 3000;
	uint64_t first = 1, last = 40;
	if (argc > 1)
		first = last = strtoull(argv[1], NULL, 10);
	char tmpl[] = "/tmp/kvd-watch-hub-XXXXXX";
	char *root = mkdtemp(tmpl);
	if (root == NULL)
		fail("mkdtemp");
	for (uint64_t seed = first; seed <= last; seed++) {
		char dir[256];
		snprintf(dir, sizeof(dir), "%s/%" PRIu64, root, seed);
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		if (system(cmd) != 0)
			fail("mkdir");
		run_seed(seed, steps, dir);
	}
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	printf("watch hub: %" PRIu64 " seeds passed\n", last - first + 1);
	return 0;
}
