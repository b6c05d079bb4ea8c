/* fuzz_snapshot_http.c - libFuzzer target for the snapshot receiver: raw
 * HTTP bytes at snap_xfer_attach()'s POST /raft/snapshot on a real evhttp
 * server (raft/peer/snapshot_transfer.h), over loopback TCP. */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fuzz_common.h"
#include "fuzz_http.h"
#include "snapshot_transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: one mode byte, then the bytes to send.
 *   mode 0x01  the chunk CRC header is made right: with 0x02 in every
 *              chunk; in raw bytes the first X-Kvd-Chunk-CRC value gets
 *              the CRC of everything after the first blank line
 *   mode 0x02  the bytes are PARAMS_LEN parameters (struct params) and a
 *              snapshot: the target sends it in one or two well-formed
 *              chunks and checks each exact answer against a model of
 *              snapshot_transfer.c's receiver
 *   mode 0x04  the receiver wants the peer token (and no leader check)
 * Every input gets a fresh receiver, so an input's answers depend on it
 * alone. */
#define MODE_FIX_CRC 0x01
#define MODE_BODY    0x02
#define MODE_TOKEN   0x04

/* Flags of params.flags. */
#define P_SPLIT		 0x01 /* two chunks, split at params.split */
#define P_WRONG_TOKEN	 0x02 /* a wrong token (with MODE_TOKEN) */
#define P_HUGE		 0x04 /* declare a size past 2^63 */
#define P_CONFIG	 0x08 /* a configuration header */
#define P_BAD_CONFIG	 0x10 /* ... that is not hex */
#define P_RECEIVED	 0x60 /* on_received(): 0 taken, 1 not needed, 2 -1 */
#define P_RECEIVED_SHIFT 5

#define PARAMS_LEN  16
#define LEADER	    2
#define TOKEN	    "fuzz-peer-token"
#define MAX_ANSWERS 64
/* The configuration a P_CONFIG chunk carries (hex in the header). */
static const uint8_t config_bytes[] = {0x0a, 0x0b, 0x0c};
#define CONFIG_HEX   "0a0b0c"
#define CONFIG_INDEX 5

/* A snapshot here is a file whose first 16 bytes are the index and term
 * of its last entry (little endian), as verify() below decides. */
#define SNAP_HEAD 16

static struct event_base *base;
static struct evhttp *http;
static uint16_t port;
static struct evbuffer *answer;
static char tmp_dir[4096], snap_dir[4200];

/* The receiver of the current input and what its callbacks saw. */
static struct snap_xfer *xfer;
static int received_rc; /* what on_received() returns */
static size_t n_received, n_verified;

static void remove_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[8400];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void teardown(void)
{
	remove_files(snap_dir);
	rmdir(snap_dir);
	rmdir(tmp_dir);
}

/* Every file under the snapshot dir is 0600, named recv.part (the partial
 * transfer: only when @partial), and nothing else is in the temp dir but
 * the snapshot dir. */
static void check_files(int partial)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	struct stat st;
	char p[8400];
	int part = 0;

	FUZZ_CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strcmp(e->d_name, "snap") != 0)
			fprintf(stderr, "file left outside: %s\n", e->d_name);
		FUZZ_CHECK(strcmp(e->d_name, "snap") == 0);
	}
	closedir(d);
	d = opendir(snap_dir);
	if (d == NULL) {
		FUZZ_CHECK(errno == ENOENT && !partial);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", snap_dir, e->d_name);
		FUZZ_CHECK(lstat(p, &st) == 0);
		FUZZ_CHECK(S_ISREG(st.st_mode));
		FUZZ_CHECK((st.st_mode & 07777) == 0600);
		if (strcmp(e->d_name, "recv.part") != 0)
			fprintf(stderr, "file kept: %s\n", e->d_name);
		FUZZ_CHECK(strcmp(e->d_name, "recv.part") == 0);
		part = 1;
	}
	closedir(d);
	FUZZ_CHECK(part == partial);
}

static int verify(void *ctx, const char *path, raft_index *index,
		  raft_term *term, char *err, size_t errlen)
{
	char want[SNAP_XFER_PATH_MAX + 16];
	uint8_t head[SNAP_HEAD];
	struct stat st;
	FILE *f;

	(void)ctx;
	n_verified++;
	snprintf(want, sizeof(want), "%s/recv.part", snap_dir);
	FUZZ_CHECK(strcmp(path, want) == 0);
	FUZZ_CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	f = fopen(path, "rb");
	FUZZ_CHECK(f != NULL);
	size_t n = fread(head, 1, sizeof(head), f);
	fclose(f);
	if (n < SNAP_HEAD) {
		snprintf(err, errlen, "shorter than a snapshot");
		return -1;
	}
	*index = le_get_u64(head);
	*term = le_get_u64(head + 8);
	return 0;
}

/* The expected sender and configuration, set before each body exchange
 * (raw inputs: not checked). */
static struct {
	int set;
	raft_id from;
	int config;
} expect_recv;

static int on_received(void *ctx, const struct snap_xfer_received *r)
{
	char want[SNAP_XFER_PATH_MAX];
	uint64_t size = 0;
	uint32_t crc = 0;
	char err[256];
	struct stat st;

	(void)ctx;
	n_received++;
	/* snapshot_transfer.h's promises to on_received(): a whole,
	 * verified file, 0600, under the given name in the given dir. */
	FUZZ_CHECK(r->from != 0 && r->info.index != 0 && r->info.term != 0);
	snap_xfer_received_path(snap_dir, r->info.index, want);
	FUZZ_CHECK(strcmp(r->path, want) == 0);
	FUZZ_CHECK(stat(r->path, &st) == 0 && S_ISREG(st.st_mode));
	FUZZ_CHECK((st.st_mode & 07777) == 0600);
	FUZZ_CHECK(crc32c_file(r->path, &size, &crc, err, sizeof(err)) == 0);
	FUZZ_CHECK(size == r->info.size && crc == r->info.crc);
	FUZZ_CHECK((r->config == NULL) == (r->config_len == 0));
	FUZZ_CHECK(r->config_len <= SNAP_XFER_CONFIG_MAX);
	if (expect_recv.set) {
		FUZZ_CHECK(r->from == expect_recv.from);
		if (expect_recv.config) {
			FUZZ_CHECK(r->config_len == sizeof(config_bytes) &&
				   memcmp(r->config, config_bytes,
					  sizeof(config_bytes)) == 0);
			FUZZ_CHECK(r->config_index == CONFIG_INDEX);
		} else {
			FUZZ_CHECK(r->config == NULL);
		}
	}
	/* Taken: the driver moves the file away (here: deletes it). */
	if (received_rc == 0)
		FUZZ_CHECK(unlink(r->path) == 0);
	return received_rc;
}

static raft_id leader(void *ctx)
{
	(void)ctx;
	return LEADER;
}

static void on_sent(void *ctx, raft_id peer, bool ok)
{
	(void)ctx;
	(void)peer;
	(void)ok;
	FUZZ_CHECK(!"the receiver sends nothing");
}

static void on_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	FUZZ_CHECK(level >= 0 && level <= 3);
	FUZZ_CHECK(line != NULL && strchr(line, '\n') == NULL);
	/* No secrets in logs. */
	FUZZ_CHECK(strstr(line, TOKEN) == NULL);
}

static void setup(void)
{
	/* KVD_FUZZ_TMPDIR: set by tests/fuzz/run to a directory it removes
	 * afterwards, crash or not. */
	const char *tmp = getenv("KVD_FUZZ_TMPDIR");

	if (base)
		return;
	if (tmp == NULL)
		tmp = getenv("TMPDIR");
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	answer = evbuffer_new();
	FUZZ_CHECK(answer != NULL);
	http = evhttp_new(base);
	FUZZ_CHECK(http != NULL);
	port = fuzz_http_listen(http);
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/kvd-fuzz-snap-XXXXXX",
		 tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(tmp_dir) != NULL);
	/* The receiver makes its dir when a transfer starts. */
	snprintf(snap_dir, sizeof(snap_dir), "%s/snap", tmp_dir);
	atexit(teardown);
}

/* A fresh receiver for one input, attached to the server. */
static void xfer_start(int guarded, int rc)
{
	struct snap_xfer_options o = {
	    .self = 1,
	    .dir = snap_dir,
	    .token = guarded ? TOKEN : NULL,
	    .verify = verify,
	    .on_received = on_received,
	    .leader = guarded ? NULL : leader,
	    .on_sent = on_sent,
	    .log = on_log,
	};

	FUZZ_CHECK(snap_xfer_new(base, &o, &xfer) == 0);
	FUZZ_CHECK(snap_xfer_attach(xfer, http) == 0);
	received_rc = rc;
	n_received = n_verified = 0;
}

static void xfer_end(void)
{
	snap_xfer_free(xfer);
	xfer = NULL;
	FUZZ_CHECK(evhttp_del_cb(http, SNAP_XFER_PATH) == 0);
	/* Freeing the receiver removes its partial file. */
	check_files(0);
	rmdir(snap_dir);
}

/* The value of header @name in answer @a of @ap, into @out; 0 when
 * absent. */
static int answer_header(const char *ap, const struct fuzz_http_answer *a,
			 size_t a_off, const char *name, char *out,
			 size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *h = ap + a_off; h < ap + a->body_off;) {
		const char *eol =
		    memmem(h, (size_t)(ap + a->body_off - h), "\r\n", 2);
		FUZZ_CHECK(eol != NULL);
		if ((size_t)(eol - h) > nl && strncasecmp(h, name, nl) == 0 &&
		    h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(eol - v), v);
			return 1;
		}
		h = eol + 2;
	}
	return 0;
}

/* ---- mode MODE_BODY: a model of the receiver ---- */

struct params {
	uint8_t flags;
	raft_id from;
	raft_index index;
	raft_term term;
	uint64_t size;	 /* declared */
	uint64_t offset; /* of the first chunk */
	size_t split;
	uint32_t crc;	    /* declared for the whole file */
	uint32_t chunk_xor; /* XORed into each chunk's CRC */
};

/* What the receiver holds, as snapshot_transfer.c's recv_state. */
struct model {
	int active;
	uint64_t offset;
	uint8_t *data; /* the bytes written, offset of them */
	int done_valid;
};

struct expect {
	int status;
	long long offset; /* X-Kvd-Snapshot-Offset, -1: none */
	const char *text; /* the body's line, NULL: empty */
	int received;	  /* on_received() called */
	int unauthorized;
};

/* The answer to a chunk of @len bytes at @off, and the model after it. */
static struct expect model_chunk(struct model *m, const struct params *p,
				 int guarded, const uint8_t *chunk, size_t len,
				 uint64_t off, uint32_t chunk_crc)
{
	struct expect e = {.offset = -1};

	if (guarded && (p->flags & P_WRONG_TOKEN)) {
		e.status = 401;
		e.text = "bad peer token";
		e.unauthorized = 1;
		return e;
	}
	if (p->from == 0 || p->index == 0 || p->term == 0) {
		e.status = 400;
		e.offset = m->active ? (long long)m->offset : 0;
		e.text = "bad snapshot chunk headers";
		return e;
	}
	if (!guarded && p->from != LEADER) {
		e.status = 409;
		e.text = "not the leader here";
		return e;
	}
	/* Both chunks of an input carry the same snapshot: "another
	 * transfer" only before the first took. */
	if (m->done_valid) {
		e.status = 200;
		e.offset = (long long)p->size;
		return e;
	}
	if (!m->active) {
		if (p->size > (uint64_t)INT64_MAX) {
			e.status = 507;
			e.text = "no room for the snapshot";
			return e;
		}
		m->active = 1;
		m->offset = 0;
		if ((p->flags & P_CONFIG) && (p->flags & P_BAD_CONFIG)) {
			m->active = 0;
			e.status = 400;
			e.offset = 0;
			e.text = "bad snapshot configuration header";
			return e;
		}
	}
	if (off != m->offset) {
		e.status = 200;
		e.offset = (long long)m->offset;
		return e;
	}
	if (off + len > p->size) {
		e.status = 400;
		e.offset = (long long)m->offset;
		e.text = "chunk beyond the size";
		return e;
	}
	if (len > 0 && crc32c(0, chunk, len) != chunk_crc) {
		e.status = 400;
		e.offset = (long long)m->offset;
		e.text = "chunk checksum mismatch";
		return e;
	}
	if (len)
		memcpy(m->data + m->offset, chunk, len);
	m->offset += len;
	if (m->offset < p->size) {
		e.status = 200;
		e.offset = (long long)m->offset;
		return e;
	}
	/* Complete: the whole file's CRC, then verify(). */
	m->active = 0;
	e.offset = 0;
	if (crc32c(0, m->data, m->offset) != p->crc) {
		e.status = 400;
		e.text = "snapshot checksum mismatch";
		return e;
	}
	if (m->offset < SNAP_HEAD || le_get_u64(m->data) != p->index ||
	    le_get_u64(m->data + 8) != p->term) {
		e.status = 400;
		e.text = "not a snapshot";
		return e;
	}
	e.received = 1;
	if (received_rc < 0) {
		e.status = 503;
		e.offset = -1;
		e.text = "not taken now";
		return e;
	}
	m->done_valid = 1;
	e.status = 200;
	e.offset = (long long)p->size;
	return e;
}

/* Sends one chunk and checks its answer against @e. */
static void exchange_chunk(const struct params *p, int guarded, int fix_crc,
			   const uint8_t *chunk, size_t len, uint64_t off,
			   struct model *m)
{
	uint32_t ccrc = crc32c(0, chunk, len) ^ (fix_crc ? 0 : p->chunk_xor);
	const char *token = !guarded ? ""
			    : (p->flags & P_WRONG_TOKEN)
				? "X-Kvd-Token: wrong\r\n"
				: "X-Kvd-Token: " TOKEN "\r\n";
	const char *config = !(p->flags & P_CONFIG) ? ""
			     : (p->flags & P_BAD_CONFIG)
				 ? "X-Kvd-Snapshot-Config: 0a0z\r\n"
				   "X-Kvd-Snapshot-Config-Index: 5\r\n"
				 : "X-Kvd-Snapshot-Config: " CONFIG_HEX "\r\n"
				   "X-Kvd-Snapshot-Config-Index: 5\r\n";
	char head[1024];
	int hl = snprintf(head, sizeof(head),
			  "POST " SNAP_XFER_PATH "?index=%" PRIu64
			  "&term=%" PRIu64 "&offset=%" PRIu64 " HTTP/1.1\r\n"
			  "Host: 127.0.0.1\r\n"
			  "Content-Type: application/octet-stream\r\n"
			  "X-Kvd-From: %" PRIu64 "\r\n%s"
			  "X-Kvd-Snapshot-Size: %" PRIu64 "\r\n"
			  "X-Kvd-Snapshot-CRC: %08x\r\n"
			  "X-Kvd-Chunk-CRC: %08x\r\n"
			  "X-Kvd-Raft-Term: 7\r\nX-Kvd-Raft-Commit: 9\r\n%s"
			  "Content-Length: %zu\r\n"
			  "Connection: close\r\n\r\n",
			  p->index, p->term, off, p->from, token, p->size,
			  p->crc, ccrc, config, len);
	FUZZ_CHECK(hl > 0 && (size_t)hl < sizeof(head));
	uint8_t *req = malloc((size_t)hl + len + 1);
	struct fuzz_http_answer a[MAX_ANSWERS];
	struct snap_xfer_stats before, after;
	char v[64];

	FUZZ_CHECK(req != NULL);
	memcpy(req, head, (size_t)hl);
	if (len)
		memcpy(req + hl, chunk, len);
	struct expect e = model_chunk(m, p, guarded, chunk, len, off, ccrc);

	snap_xfer_stats(xfer, &before);
	size_t recv0 = n_received;
	evbuffer_drain(answer, evbuffer_get_length(answer));
	int reset =
	    fuzz_http_exchange(base, port, req, (size_t)hl + len, answer);
	size_t alen = evbuffer_get_length(answer);
	const char *ap = (const char *)evbuffer_pullup(answer, -1);
	size_t na = fuzz_http_parse_answers(ap, alen, a, MAX_ANSWERS);
	snap_xfer_stats(xfer, &after);

	/* A 401 closes the connection before the body is read: the rest
	 * of the request may meet a closed socket. */
	FUZZ_CHECK(!reset || e.status == 401);
	FUZZ_CHECK(na == 1);
	if (a[0].status != e.status)
		fprintf(stderr, "answer %d, expected %d\n", a[0].status,
			e.status);
	FUZZ_CHECK(a[0].status == e.status);
	int has =
	    answer_header(ap, &a[0], 0, "X-Kvd-Snapshot-Offset", v, sizeof(v));
	if (e.offset < 0) {
		FUZZ_CHECK(!has);
	} else {
		if (!has || strtoll(v, NULL, 10) != e.offset)
			fprintf(stderr, "offset %s, expected %lld\n",
				has ? v : "none", e.offset);
		FUZZ_CHECK(has && strtoll(v, NULL, 10) == e.offset);
	}
	if (e.text) {
		size_t tl = strlen(e.text);
		if (a[0].body_len != tl + 1 ||
		    memcmp(ap + a[0].body_off, e.text, tl) != 0)
			fprintf(stderr, "answer text '%.*s', expected '%s'\n",
				(int)a[0].body_len, ap + a[0].body_off, e.text);
		FUZZ_CHECK(a[0].body_len == tl + 1 &&
			   memcmp(ap + a[0].body_off, e.text, tl) == 0);
	} else if (e.status == 200) {
		/* A 200 says the offset in its body too, for senders that
		 * read answers without headers (snapshot_send.c). */
		char want[32];
		int wl = snprintf(want, sizeof(want), "%lld\n", e.offset);
		if (a[0].body_len != (size_t)wl ||
		    memcmp(ap + a[0].body_off, want, (size_t)wl) != 0)
			fprintf(stderr, "answer body '%.*s', expected '%s'\n",
				(int)a[0].body_len, ap + a[0].body_off, want);
		FUZZ_CHECK(a[0].body_len == (size_t)wl &&
			   memcmp(ap + a[0].body_off, want, (size_t)wl) == 0);
	} else {
		FUZZ_CHECK(a[0].body_len == 0);
	}
	FUZZ_CHECK(n_received - recv0 == (size_t)e.received);
	FUZZ_CHECK(after.received - before.received == (uint64_t)e.received);
	FUZZ_CHECK(after.unauthorized - before.unauthorized ==
		   (uint64_t)e.unauthorized);
	check_files(m->active);
	free(req);
}

static void run_body(int guarded, int fix_crc, const uint8_t *in, size_t n)
{
	struct params p;
	struct model m = {0};

	if (n < PARAMS_LEN)
		return;
	const uint8_t *snap = in + PARAMS_LEN;
	size_t len = n - PARAMS_LEN;
	int16_t delta = (int16_t)(in[4] | in[5] << 8);

	p.flags = in[0];
	p.from = in[1];
	p.index = in[2];
	p.term = in[3];
	p.size =
	    (long long)len + delta < 0 ? 0 : (uint64_t)((long long)len + delta);
	if (p.flags & P_HUGE)
		p.size = (uint64_t)INT64_MAX + 1 + in[6];
	p.offset = in[6];
	p.split = len ? in[7] % (len + 1) : 0;
	p.crc = crc32c(0, snap, len) ^ le_get_u32(in + 8);
	p.chunk_xor = le_get_u32(in + 12);
	int rc = (p.flags & P_RECEIVED) >> P_RECEIVED_SHIFT;

	xfer_start(guarded, rc == 0 ? 0 : rc == 1 ? 1 : -1);
	expect_recv.set = 1;
	expect_recv.from = p.from;
	expect_recv.config = (p.flags & P_CONFIG) != 0;
	/* Only the input's bytes are ever written. */
	m.data = malloc(len + 1);
	FUZZ_CHECK(m.data != NULL);
	if (p.flags & P_SPLIT) {
		exchange_chunk(&p, guarded, fix_crc, snap, p.split, p.offset,
			       &m);
		exchange_chunk(&p, guarded, fix_crc, snap + p.split,
			       len - p.split, p.offset + p.split, &m);
	} else {
		exchange_chunk(&p, guarded, fix_crc, snap, len, p.offset, &m);
	}
	free(m.data);
	expect_recv.set = 0;
	xfer_end();
}

/* Mode MODE_FIX_CRC on raw bytes: random bytes almost never carry the
 * right CRC, so most mutations would stop at the checksum; with the first
 * chunk's rewritten they reach the write and the verification. */
static void fix_raw_crc(uint8_t *req, size_t len)
{
	static const char name[] = "X-Kvd-Chunk-CRC: ";
	const size_t nl = sizeof(name) - 1;
	uint8_t *end = memmem(req, len, "\r\n\r\n", 4);
	uint8_t *h;
	char v[9];

	if (end == NULL)
		return;
	h = memmem(req, (size_t)(end - req), name, nl);
	if (h == NULL || (size_t)(end - h) < nl + 8)
		return;
	snprintf(v, sizeof(v), "%08x",
		 crc32c(0, end + 4, len - (size_t)(end + 4 - req)));
	memcpy(h + nl, v, 8);
}

/* Raw bytes: whatever they are, every answer is well formed, no request
 * meets an internal error, and only the partial file is left behind. */
static void run_raw(int guarded, const uint8_t *req, size_t len)
{
	struct fuzz_http_answer a[MAX_ANSWERS];
	struct snap_xfer_stats st;

	xfer_start(guarded, 0);
	evbuffer_drain(answer, evbuffer_get_length(answer));
	int reset = fuzz_http_exchange(base, port, req, len, answer);
	size_t alen = evbuffer_get_length(answer);
	const char *ap = (const char *)evbuffer_pullup(answer, -1);
	size_t na = fuzz_http_parse_answers(ap, alen, a, MAX_ANSWERS);
	snap_xfer_stats(xfer, &st);

	size_t n200 = 0, n401 = 0;
	for (size_t i = 0; i < na; i++) {
		/* 500 only for a failing file system; 503 only when
		 * stopping or when on_received() refuses. */
		FUZZ_CHECK(a[i].status != 500 && a[i].status != 503);
		n200 += a[i].status == 200;
		n401 += a[i].status == 401;
	}
	FUZZ_CHECK(st.received == n_received);
	FUZZ_CHECK(n_received <= n_verified);
	if (!reset && na < MAX_ANSWERS) {
		FUZZ_CHECK(st.received <= n200);
		FUZZ_CHECK(st.unauthorized == n401);
	}
	if (!guarded)
		FUZZ_CHECK(st.unauthorized == 0);
	xfer_end();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	setup();
	uint8_t mode = data[0];
	size_t len = size - 1;
	uint8_t *buf = fuzz_dup(data + 1, len);
	int guarded = (mode & MODE_TOKEN) != 0;

	if (mode & MODE_BODY)
		run_body(guarded, (mode & MODE_FIX_CRC) != 0, buf, len);
	else {
		if (mode & MODE_FIX_CRC)
			fix_raw_crc(buf, len);
		run_raw(guarded, buf, len);
	}
	free(buf);
	return 0;
}
