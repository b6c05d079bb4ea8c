/* gen_corpus.c - writes the seed corpora of tests/fuzz/corpus/: a few valid
 * inputs per target, made with the project's own encoders and WAL.
 *
 *   gen_corpus CORPUS_DIR
 *
 * Deterministic: the same sources give the same files, so regenerating
 * shows up in git only when a format changed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "frame.h"
#include "kv.h"
#include "msg_codec.h"
#include "wal.h"

#define DIE_IF(cond)                                                           \
	do {                                                                   \
		if (cond) {                                                    \
			fprintf(stderr, "gen_corpus:%d: %s\n", __LINE__,       \
				#cond);                                        \
			exit(1);                                               \
		}                                                              \
	} while (0)

static const char *corpus;

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		DIE_IF(b->p == NULL);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_byte(struct buf *b, uint8_t c)
{
	put(b, &c, 1);
}

static void put_str(struct buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	DIE_IF(n < 0 || (size_t)n >= sizeof(tmp));
	put(b, tmp, (size_t)n);
}

static void write_seed(const char *target, const char *name,
		       const struct buf *b)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", corpus, target);
	DIE_IF(mkdir(path, 0755) < 0 && errno != EEXIST);
	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	f = fopen(path, "wb");
	DIE_IF(f == NULL);
	DIE_IF(b->len && fwrite(b->p, 1, b->len, f) != b->len);
	DIE_IF(fclose(f) != 0);
}

/* ---- frames ---- */

static void add_frame(struct buf *b, uint8_t type, raft_term term,
		      raft_index index, const void *payload, uint32_t len)
{
	uint8_t *tmp = malloc(frame_size(len));
	DIE_IF(tmp == NULL);
	put(b, tmp, frame_encode(tmp, type, term, index, payload, len));
	free(tmp);
}

static void gen_frame(void)
{
	struct buf b = {0};
	uint8_t hs[24] = {0};

	put_byte(&b, 0);
	add_frame(&b, FRAME_ENTRY_NORMAL, 3, 7, "hello", 5);
	write_seed("fuzz_frame", "entry", &b);
	b.len = 0;
	put_byte(&b, 0);
	le_put_u64(hs, 5);
	le_put_u64(hs + 8, 2);
	le_put_u64(hs + 16, 9);
	add_frame(&b, FRAME_HARD_STATE, 5, 9, hs, sizeof(hs));
	add_frame(&b, FRAME_ENTRY_NOOP, 5, 10, NULL, 0);
	add_frame(&b, FRAME_ENTRY_CONFIG, 5, 11, "cfg", 3);
	add_frame(&b, FRAME_MESSAGE, 0, 0, NULL, 0);
	add_frame(&b, FRAME_SNAPSHOT_CHUNK, 5, 11, "chunk", 5);
	write_seed("fuzz_frame", "sequence", &b);
	b.p[0] = 0x01;
	write_seed("fuzz_frame", "sequence-fix-crc", &b);
	b.p[0] = 0x02; /* a 16-byte limit: the 24-byte hard state is refused */
	write_seed("fuzz_frame", "sequence-small-limit", &b);
	free(b.p);
}

/* ---- peer messages ---- */

static size_t body_of(struct buf *b, const struct raft_msg *m, size_t n)
{
	uint8_t *body = NULL;
	size_t len = 0;

	DIE_IF(msg_codec_encode_batch(m, n, NULL, &body, &len) != 0);
	put(b, body, len);
	free(body);
	return len;
}

/* A few bodies, each a list of messages from member 2 to member 1. */
static size_t make_bodies(struct buf bodies[8])
{
	static uint8_t d1[] = "put a", d2[] = "put b", d3[] = "";
	struct raft_entry es[3] = {
	    {.term = 2,
	     .index = 5,
	     .type = RAFT_ENTRY_NORMAL,
	     .len = 5,
	     .data = d1},
	    {.term = 2,
	     .index = 6,
	     .type = RAFT_ENTRY_NOOP,
	     .len = 0,
	     .data = d3},
	    {.term = 3,
	     .index = 7,
	     .type = RAFT_ENTRY_NORMAL,
	     .len = 5,
	     .data = d2},
	};
	struct raft_msg m[] = {
	    {.type = RAFT_MSG_HEARTBEAT,
	     .from = 2,
	     .to = 1,
	     .term = 3,
	     .commit = 4,
	     .context = 77},
	    {.type = RAFT_MSG_APPEND,
	     .from = 2,
	     .to = 1,
	     .term = 3,
	     .index = 4,
	     .log_term = 2,
	     .commit = 4,
	     .entries = es,
	     .n_entries = 3},
	    {.type = RAFT_MSG_VOTE,
	     .from = 2,
	     .to = 1,
	     .term = 4,
	     .index = 7,
	     .log_term = 3},
	    {.type = RAFT_MSG_APPEND_RESP,
	     .from = 2,
	     .to = 1,
	     .term = 3,
	     .index = 9,
	     .reject = true,
	     .hint_index = 6,
	     .hint_term = 2},
	    {.type = RAFT_MSG_READ_INDEX,
	     .from = 2,
	     .to = 1,
	     .term = 3,
	     .context = 12},
	    {.type = RAFT_MSG_PROPOSE,
	     .from = 2,
	     .to = 1,
	     .term = 3,
	     .entries = es,
	     .n_entries = 1},
	    {.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 3, .term = 3},
	};
	size_t n = 0;

	memset(bodies, 0, 8 * sizeof(*bodies));
	body_of(&bodies[n++], &m[0], 1);
	body_of(&bodies[n++], &m[1], 1);
	body_of(&bodies[n++], &m[2], 1);
	body_of(&bodies[n++], &m[3], 1);
	body_of(&bodies[n++], m, sizeof(m) / sizeof(m[0]));
	body_of(&bodies[n++], &m[4], 3); /* READ_INDEX, PROPOSE, TIMEOUT_NOW */
	return n;
}

/* A message frame with raw fields: out-of-range numbers the encoder
 * refuses (issue 13: one heartbeat in term 2^64 - 1 stopped a cluster). */
static void add_raw_msg(struct buf *b, uint8_t type, uint32_t n_entries,
			raft_term term, raft_index index, raft_term log_term)
{
	uint8_t p[MSG_CODEC_PAYLOAD_SIZE];

	memset(p, 0, sizeof(p));
	p[0] = MSG_CODEC_VERSION;
	p[1] = type;
	le_put_u32(p + 4, n_entries);
	le_put_u64(p + 8, 2);  /* from */
	le_put_u64(p + 16, 1); /* to */
	le_put_u64(p + 24, term);
	le_put_u64(p + 32, index);
	le_put_u64(p + 40, log_term);
	le_put_u64(p + 48, 4); /* commit */
	add_frame(b, FRAME_MESSAGE, 0, 0, p, sizeof(p));
}

static void gen_msg_codec_range(void)
{
	struct buf b = {0};

	put_byte(&b, 0);
	add_raw_msg(&b, RAFT_MSG_HEARTBEAT, 0, UINT64_MAX, 0, 0);
	write_seed("fuzz_msg_codec", "huge-term-heartbeat", &b);
	b.len = 0;
	put_byte(&b, 0);
	add_raw_msg(&b, RAFT_MSG_VOTE, 0, (raft_term)INT64_MAX + 1, 7, 3);
	write_seed("fuzz_msg_codec", "huge-term-vote", &b);
	b.len = 0;
	put_byte(&b, 0);
	add_raw_msg(&b, RAFT_MSG_APPEND, 1, 3, UINT64_MAX - 1, 2);
	add_frame(&b, FRAME_ENTRY_NORMAL, 3, UINT64_MAX, "put a", 5);
	write_seed("fuzz_msg_codec", "index-space-end-append", &b);
	free(b.p);
}

static void gen_msg_codec(void)
{
	struct buf bodies[8], b = {0};
	size_t n = make_bodies(bodies);
	char name[64];

	for (size_t i = 0; i < n; i++) {
		b.len = 0;
		put_byte(&b, i == n - 1 ? 0x02 : 0); /* last: small limits */
		put(&b, bodies[i].p, bodies[i].len);
		snprintf(name, sizeof(name), "body-%zu", i);
		write_seed("fuzz_msg_codec", name, &b);
		b.p[0] = 0x01;
		snprintf(name, sizeof(name), "body-%zu-fix-crc", i);
		write_seed("fuzz_msg_codec", name, &b);
	}
	/* The peer listener: the same bodies wrapped by the target (mode
	 * 0x02), and as whole raw requests. */
	for (size_t i = 0; i < n; i++) {
		b.len = 0;
		put_byte(&b, 0x02 | (i == n - 1 ? 0x04 : 0));
		put(&b, bodies[i].p, bodies[i].len);
		snprintf(name, sizeof(name), "wrapped-%zu", i);
		write_seed("fuzz_peer_http", name, &b);
	}
	b.len = 0;
	put_byte(&b, 0x01);
	put_str(&b,
		"POST /raft/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"Content-Type: application/octet-stream\r\nX-Kvd-From: 2\r\n"
		"X-Kvd-Client-URL: http://127.0.0.1:7001\r\n"
		"Content-Length: %zu\r\n\r\n",
		bodies[4].len);
	put(&b, bodies[4].p, bodies[4].len);
	write_seed("fuzz_peer_http", "raw-post", &b);
	b.len = 0;
	put_byte(&b, 0x04);
	put_str(&b,
		"POST /raft/messages HTTP/1.1\r\nX-Kvd-From: 2\r\n"
		"Authorization: Bearer fuzz-peer-token\r\n"
		"Content-Length: %zu\r\n\r\n",
		bodies[0].len);
	put(&b, bodies[0].p, bodies[0].len);
	put_str(&b, "POST /raft/messages HTTP/1.1\r\nX-Kvd-From: 2\r\n"
		    "X-Kvd-Token: wrong\r\nContent-Length: 0\r\n\r\n");
	write_seed("fuzz_peer_http", "raw-token-keepalive", &b);
	b.len = 0;
	put_byte(&b, 0);
	put_str(&b, "GET /raft/messages HTTP/1.1\r\n\r\n"
		    "POST /raft/messages HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
		    "POST /other HTTP/1.1\r\nX-Kvd-From: 2\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	write_seed("fuzz_peer_http", "raw-refusals", &b);
	for (size_t i = 0; i < n; i++)
		free(bodies[i].p);
	free(b.p);
}

/* ---- commands ---- */

static void gen_command(void)
{
	static const uint8_t value[] = "some value";
	struct kv_cmd cmds[] = {
	    {.op = KV_OP_PUT,
	     .key = (const uint8_t *)"a",
	     .key_len = 1,
	     .value = value,
	     .value_len = sizeof(value) - 1,
	     .origin = 1,
	     .request_id = 1},
	    {.op = KV_OP_DELETE,
	     .key = (const uint8_t *)"dir/key",
	     .key_len = 7,
	     .origin = 2,
	     .request_id = 99},
	    {.op = KV_OP_PUT,
	     .has_cas = 1,
	     .cas = 17,
	     .key =
		 (const uint8_t *)"caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80",
	     .key_len = 14,
	     .client_id = 0x1234,
	     .seq = 5,
	     .origin = 3,
	     .request_id = 7},
	    {.op = KV_OP_PUT,
	     .has_cas = 1,
	     .cas = 0,
	     .key = (const uint8_t *)"new",
	     .key_len = 3},
	};
	char name[32];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		uint8_t *p = NULL;
		size_t len = 0;
		DIE_IF(kv_cmd_encode_alloc(&cmds[i], &p, &len) != 0);
		struct buf b = {.p = p, .len = len, .cap = len};
		snprintf(name, sizeof(name), "cmd-%zu", i);
		write_seed("fuzz_command", name, &b);
		free(p);
	}
}

/* ---- transactions, prefix deletes, leases ---- */

static void write_cmd(const char *target, const char *name,
		      const struct kv_cmd *c)
{
	uint8_t *p = NULL;
	size_t len = 0;

	DIE_IF(kv_cmd_encode_alloc(c, &p, &len) != 0);
	struct buf b = {.p = p, .len = len, .cap = len};
	write_seed(target, name, &b);
	free(p);
}

static void gen_txn(void)
{
	static struct kv_txn t;
	const uint8_t *k = (const uint8_t *)"svc/a";
	uint8_t ttl[8] = {60}, ids[24] = {5, 0, 0, 0, 0, 0, 0, 0, 9};
	uint8_t body[1024];
	int64_t n;

	ids[16] = 11;
	t.n_compares = 3;
	t.compares[0] = (struct kv_compare){.target = KV_CMP_MOD,
					    .op = KV_CMP_EQ,
					    .key = k,
					    .key_len = 5,
					    .number = 7};
	t.compares[1] = (struct kv_compare){.target = KV_CMP_VALUE,
					    .op = KV_CMP_GT,
					    .key = k,
					    .key_len = 5,
					    .value = (const uint8_t *)"abc",
					    .value_len = 3};
	t.compares[2] = (struct kv_compare){
	    .target = KV_CMP_EXISTS, .op = KV_CMP_NE, .key = k, .key_len = 5};
	t.n_ops[0] = 4;
	t.ops[0][0] = (struct kv_txn_op){.type = KV_TXN_PUT,
					 .key = k,
					 .key_len = 5,
					 .value = (const uint8_t *)"v",
					 .value_len = 1,
					 .lease = 3};
	t.ops[0][1] = (struct kv_txn_op){.type = KV_TXN_DELETE_PREFIX,
					 .key = (const uint8_t *)"old/",
					 .key_len = 4};
	t.ops[0][2] =
	    (struct kv_txn_op){.type = KV_TXN_GET, .key = k, .key_len = 5};
	t.ops[0][3] = (struct kv_txn_op){.type = KV_TXN_LIST, .limit = 100};
	t.n_ops[1] = 1;
	t.ops[1][0] =
	    (struct kv_txn_op){.type = KV_TXN_DELETE, .key = k, .key_len = 5};
	n = kv_txn_encode(&t, body, sizeof(body));
	DIE_IF(n < 0);
	struct buf b = {.p = body, .len = (size_t)n, .cap = sizeof(body)};
	write_seed("fuzz_txn", "txn-all-ops", &b);
	struct kv_cmd c = {.op = KV_OP_TXN,
			   .value = body,
			   .value_len = (size_t)n,
			   .client_id = 4,
			   .seq = 1};
	write_cmd("fuzz_command", "cmd-txn", &c);

	memset(&t, 0, sizeof(t));
	n = kv_txn_encode(&t, body, sizeof(body));
	DIE_IF(n < 0);
	b.len = (size_t)n;
	write_seed("fuzz_txn", "txn-empty", &b);

	c = (struct kv_cmd){.op = KV_OP_PUT,
			    .key = k,
			    .key_len = 5,
			    .value = (const uint8_t *)"x",
			    .value_len = 1,
			    .lease = 42};
	write_cmd("fuzz_command", "cmd-put-lease", &c);
	c = (struct kv_cmd){.op = KV_OP_DELETE_PREFIX,
			    .key = (const uint8_t *)"svc/",
			    .key_len = 4};
	write_cmd("fuzz_command", "cmd-delete-prefix", &c);
	c = (struct kv_cmd){
	    .op = KV_OP_LEASE_GRANT, .value = ttl, .value_len = 8};
	write_cmd("fuzz_command", "cmd-lease-grant", &c);
	c = (struct kv_cmd){
	    .op = KV_OP_LEASE_REVOKE, .value = ids, .value_len = 8};
	write_cmd("fuzz_command", "cmd-lease-revoke", &c);
	c = (struct kv_cmd){
	    .op = KV_OP_LEASE_EXPIRE, .value = ids, .value_len = 24};
	write_cmd("fuzz_command", "cmd-lease-expire", &c);
}

/* ---- WAL ---- */

static char wal_dir[256];

static void wal_clear(void)
{
	DIR *d = opendir(wal_dir);
	struct dirent *de;
	DIE_IF(d == NULL);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Turns the segments now in wal_dir into one input: the mode byte, then
 * the files (trailing preallocated zeros dropped; recovery reads them as
 * the end) separated by "WSEG". @cut drops that many bytes off the end of
 * the last file (a torn write). */
static void wal_seed(const char *name, size_t cut)
{
	DIR *d = opendir(wal_dir);
	struct dirent *de;
	char *names[16];
	size_t n = 0;
	struct buf b = {0};

	DIE_IF(d == NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "wal-", 4) == 0 &&
		    strlen(de->d_name) == 24) {
			DIE_IF(n == 16);
			names[n++] = strdup(de->d_name);
		}
	closedir(d);
	DIE_IF(n == 0);
	qsort(names, n, sizeof(names[0]), cmp_names);
	uint64_t seq = strtoull(names[0] + 4, NULL, 16);
	DIE_IF(seq < 1 || seq > 4);
	put_byte(&b, (uint8_t)((seq - 1) << 1));
	for (size_t i = 0; i < n; i++) {
		char path[512];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", wal_dir, names[i]);
		int fd = open(path, O_RDONLY);
		DIE_IF(fd < 0 || fstat(fd, &st) != 0);
		uint8_t *p = malloc((size_t)st.st_size + 1);
		DIE_IF(p == NULL ||
		       read(fd, p, (size_t)st.st_size) != st.st_size);
		close(fd);
		size_t len = (size_t)st.st_size;
		while (len > 0 && p[len - 1] == 0)
			len--;
		if (i + 1 == n && cut < len)
			len -= cut;
		if (i > 0)
			put(&b, "WSEG", 4);
		put(&b, p, len);
		free(p);
		free(names[i]);
	}
	write_seed("fuzz_wal_recovery", name, &b);
	free(b.p);
}

static struct wal *wal_new(void)
{
	struct wal_options o = {.segment_bytes = 4096};
	struct wal *w = NULL;
	char err[512];
	wal_clear();
	if (wal_open(wal_dir, &o, &w, err, sizeof(err)) != 0) {
		fprintf(stderr, "gen_corpus: %s\n", err);
		exit(1);
	}
	return w;
}

static void wal_put(struct wal *w, raft_index from, size_t n, raft_term term,
		    uint32_t size)
{
	char err[512];
	uint8_t data[2048];
	struct raft_entry e = {
	    .term = term, .type = RAFT_ENTRY_NORMAL, .len = size, .data = data};
	DIE_IF(size > sizeof(data));
	for (size_t i = 0; i < n; i++) {
		memset(data, 'a' + (int)((from + i) % 26), size);
		e.index = from + i;
		DIE_IF(wal_append(w, &e, 1, err, sizeof(err)) != 0);
	}
	DIE_IF(wal_sync(w, err, sizeof(err)) != 0);
}

static void gen_wal(void)
{
	struct wal_hard_state hs = {.term = 2, .vote = 1, .commit = 3};
	char err[512];
	struct wal *w;

	snprintf(wal_dir, sizeof(wal_dir), "%s/gen-corpus-wal-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	DIE_IF(mkdtemp(wal_dir) == NULL);

	w = wal_new(); /* entries and a hard state in one segment */
	DIE_IF(wal_set_hard_state(w, &hs, err, sizeof(err)) != 0);
	wal_put(w, 1, 4, 2, 16);
	wal_close(w);
	wal_seed("one-segment", 0);
	wal_seed("torn-tail", 7);

	w = wal_new(); /* entries spread over three segments */
	wal_put(w, 1, 9, 1, 900);
	wal_close(w);
	wal_seed("three-segments", 0);

	w = wal_new(); /* a truncation record (Raft §5.3 conflict) */
	wal_put(w, 1, 5, 1, 8);
	DIE_IF(wal_truncate_after(w, 3, err, sizeof(err)) != 0);
	wal_put(w, 4, 2, 2, 8);
	wal_close(w);
	wal_seed("truncated", 0);

	w = wal_new(); /* compaction: the first segment deleted */
	wal_put(w, 1, 9, 1, 900);
	DIE_IF(wal_compact(w, 6, err, sizeof(err)) != 0);
	wal_close(w);
	wal_seed("compacted", 0);

	w = wal_new(); /* a reset after a snapshot install */
	wal_put(w, 1, 3, 1, 8);
	DIE_IF(wal_reset(w, 20, err, sizeof(err)) != 0);
	wal_put(w, 21, 2, 3, 8);
	wal_close(w);
	wal_seed("reset", 0);

	wal_clear();
	rmdir(wal_dir);
}

/* ---- client HTTP ---- */

static void gen_client_http(void)
{
	static const char *reqs[][2] = {
	    {"put", "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5"
		    "\r\n\r\nhello"},
	    {"put-cas-client",
	     "PUT /v1/kv/k%C3%A9y?cas=0 HTTP/1.1\r\nX-Kv-Client: "
	     "00000000000000a1\r\nX-Kv-Seq: 1\r\nContent-Length: 2\r\n\r\nv1"},
	    {"get", "GET /v1/kv/a HTTP/1.1\r\n\r\n"},
	    {"get-stale", "GET /v1/kv/a?consistency=stale HTTP/1.1\r\n\r\n"},
	    {"delete", "DELETE /v1/kv/a?cas=3 HTTP/1.1\r\n\r\n"},
	    {"list", "GET /v1/kv?prefix=a&after=a&limit=10 HTTP/1.1\r\n\r\n"},
	    {"status", "GET /v1/status HTTP/1.0\r\n\r\n"},
	    {"members", "GET /v1/members HTTP/1.1\r\n\r\n"
			"POST /v1/members HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
			"DELETE /v1/members/2 HTTP/1.1\r\n\r\n"},
	    {"admin", "POST /v1/leader/transfer HTTP/1.1\r\n\r\n"
		      "GET /healthz HTTP/1.1\r\n\r\nHEAD /readyz HTTP/1.1\r\n"
		      "\r\nGET /metrics HTTP/1.1\r\n\r\n"},
	    {"pipelined", "PUT /v1/kv/b HTTP/1.1\r\nContent-Length: 1\r\n\r\n"
			  "xGET /v1/kv/b HTTP/1.1\r\n\r\n"
			  "PATCH /v1/kv/b HTTP/1.1\r\n\r\n"
			  "GET /nowhere HTTP/1.1\r\n\r\n"},
	    {"chunked", "PUT /v1/kv/c HTTP/1.1\r\nTransfer-Encoding: chunked"
			"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	    {"watch", "GET /v1/watch?prefix=a&from=3 HTTP/1.1\r\n\r\n"
		      "GET /v1/watch?key=a HTTP/1.1\r\nAccept: "
		      "text/event-stream\r\nLast-Event-ID: 7\r\n\r\n"},
	    {"wait", "GET /v1/kv/a?wait_index=2&wait=30s HTTP/1.1\r\n\r\n"
		     "GET /v1/kv?prefix=a&wait_index=9&wait=150ms HTTP/1.1"
		     "\r\n\r\n"},
	    {"txn", "POST /v1/txn HTTP/1.1\r\nX-Kv-Client: 00000000000000a2\r\n"
		    "X-Kv-Seq: 1\r\nContent-Length: 199\r\n\r\n"
		    "{\"compare\":[{\"key\":\"a\",\"target\":\"exists\",\"op\""
		    ":\"==\",\"value\":true}],\"success\":[{\"put\":{\"key\":"
		    "\"a\",\"value\":\"dg==\"}},{\"get\":{\"key\":\"a\"}},{\""
		    "list\":{\"limit\":2}}],\"failure\":[{\"delete_prefix\":{"
		    "\"prefix\":\"a\"}}]}"},
	    {"delete-prefix", "DELETE /v1/kv?prefix=a%2F HTTP/1.1\r\n\r\n"
			      "DELETE /v1/kv?prefix= HTTP/1.1\r\n\r\n"
			      "DELETE /v1/kv HTTP/1.1\r\n\r\n"},
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct buf b = {0};
		put_str(&b, "%s", reqs[i][1]);
		write_seed("fuzz_client_http", reqs[i][0], &b);
		free(b.p);
	}
}

/* ---- answers a peer lane reads ---- */

static void gen_lane_answer(void)
{
	static const char *answers[][2] = {
	    {"204", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"},
	    {"pipelined", "HTTP/1.1 204 No Content\r\n\r\n"
			  "HTTP/1.1 204 No Content\r\n\r\n"
			  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
			  "HTTP/1.1 204 No Content\r\n\r\n"},
	    {"hello", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
		      "charset=utf-8\r\nCache-Control: no-store\r\n"
		      "Content-Length: 10\r\n\r\n2 abcdef\r\n"},
	    {"close", "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n"
		      "Content-Length: 13\r\n\r\nunauthorized\n"
		      "HTTP/1.1 204 No Content\r\n\r\n"},
	    {"http10", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
		       "Content-Length: 0\r\n\r\n"
		       "HTTP/1.1 100 Continue\r\n\r\n"
		       "HTTP/1.1 500\r\ncontent-length:\t1 \r\n\r\nx"},
	    {"refused", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
			"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	    {"duplicate", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
			  "Content-Length: 1\r\n\r\nx"},
	};

	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		struct buf b = {0};
		put_str(&b, "%s", answers[i][1]);
		write_seed("fuzz_lane_answer", answers[i][0], &b);
		free(b.p);
	}
}

/* ---- peer stream frames ---- */

static void put_frame_head(struct buf *b, uint8_t type, uint32_t len)
{
	uint8_t h[5] = {type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
			(uint8_t)(len >> 8), (uint8_t)len};

	put(b, h, sizeof(h));
}

/* The first byte picks the direction (fuzz_stream_frame.c): 0 frames a
 * receiver reads, 1 frames a sender reads. */
static void gen_stream_frame(void)
{
	static const uint8_t ping[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	struct buf bodies[8];
	size_t n = make_bodies(bodies);
	struct buf b = {0};

	put(&b, "\0", 1);
	for (size_t i = 0; i < n; i++) {
		put_frame_head(&b, 1, (uint32_t)bodies[i].len);
		put(&b, bodies[i].p, bodies[i].len);
		put_frame_head(&b, 2, sizeof(ping));
		put(&b, ping, sizeof(ping));
	}
	write_seed("fuzz_stream_frame", "to_receiver", &b);
	free(b.p);
	b = (struct buf){0};
	put(&b, "\1", 1);
	put_frame_head(&b, 3, sizeof(ping));
	put(&b, ping, sizeof(ping));
	put_frame_head(&b, 3, sizeof(ping));
	put(&b, ping, sizeof(ping));
	write_seed("fuzz_stream_frame", "to_sender", &b);
	free(b.p);
	b = (struct buf){0};
	put(&b, "\0", 1);
	put_frame_head(&b, 1, 0x04000001u); /* above any limit */
	write_seed("fuzz_stream_frame", "too_large", &b);
	free(b.p);
	for (size_t i = 0; i < n; i++)
		free(bodies[i].p);
}

/* ---- snapshot chunks ---- */

/* A snapshot as fuzz_snapshot_http's verify() takes it: the index and term
 * of its last entry (little endian), then the store's bytes. */
static void snap_file(struct buf *b, uint64_t index, uint64_t term)
{
	uint8_t h[16];

	le_put_u64(h, index);
	le_put_u64(h + 8, term);
	put(b, h, sizeof(h));
	put_str(b, "a small store, opaque to the transfer");
}

/* One body-mode seed (fuzz_snapshot_http.c, mode 0x02): the parameter
 * block, then the snapshot @f. */
static void snap_body_seed(const char *name, uint8_t mode, uint8_t flags,
			   uint8_t from, uint8_t index, uint8_t term,
			   int16_t size_delta, uint8_t offset, uint8_t split,
			   uint32_t crc_xor, uint32_t chunk_xor,
			   const struct buf *f)
{
	struct buf b = {0};
	uint8_t x[4];

	put_byte(&b, mode);
	put_byte(&b, flags);
	put_byte(&b, from);
	put_byte(&b, index);
	put_byte(&b, term);
	put_byte(&b, (uint8_t)((uint16_t)size_delta & 0xff));
	put_byte(&b, (uint8_t)((uint16_t)size_delta >> 8));
	put_byte(&b, offset);
	put_byte(&b, split);
	le_put_u32(x, crc_xor);
	put(&b, x, 4);
	le_put_u32(x, chunk_xor);
	put(&b, x, 4);
	put(&b, f->p, f->len);
	write_seed("fuzz_snapshot_http", name, &b);
	free(b.p);
}

/* One raw POST of the chunk @len bytes at @data, at @off of a snapshot of
 * @size bytes and CRC @crc. */
static void snap_raw_chunk(struct buf *b, const char *extra, uint64_t index,
			   uint64_t off, uint64_t size, uint32_t crc,
			   const uint8_t *data, size_t len)
{
	put_str(b,
		"POST /raft/snapshot?index=%" PRIu64 "&term=3&offset=%" PRIu64
		" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"Content-Type: application/octet-stream\r\nX-Kvd-From: 2\r\n"
		"%sX-Kvd-Snapshot-Size: %" PRIu64 "\r\n"
		"X-Kvd-Snapshot-CRC: %08x\r\nX-Kvd-Chunk-CRC: %08x\r\n"
		"X-Kvd-Raft-Term: 3\r\nX-Kvd-Raft-Commit: 5\r\n"
		"Content-Length: %zu\r\n\r\n",
		index, off, extra, size, crc, crc32c(0, data, len), len);
	put(b, data, len);
}

static void gen_snapshot_http(void)
{
	struct buf f = {0}, b = {0};
	snap_file(&f, 5, 3);
	uint32_t crc = crc32c(0, f.p, f.len);

	/* Wrapped by the target: flags 0x01 two chunks, 0x02 a wrong token,
	 * 0x04 a size past 2^63, 0x08 a configuration (0x10: not hex),
	 * 0x20/0x40 on_received() answers "not needed" / refuses. */
	snap_body_seed("body-whole", 0x02, 0, 2, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-two-chunks", 0x02, 0x01, 2, 5, 3, 0, 0, 10, 0, 0,
		       &f);
	snap_body_seed("body-first-chunk", 0x02, 0, 2, 5, 3, 100, 0, 0, 0, 0,
		       &f);
	snap_body_seed("body-token", 0x06, 0x08, 7, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-wrong-token", 0x06, 0x02, 2, 5, 3, 0, 0, 0, 0, 0,
		       &f);
	snap_body_seed("body-bad-chunk-crc", 0x02, 0, 2, 5, 3, 0, 0, 0, 0, 1,
		       &f);
	snap_body_seed("body-bad-file-crc", 0x03, 0, 2, 5, 3, 0, 0, 0,
		       0x80000000u, 0, &f);
	snap_body_seed("body-bad-index-header", 0x02, 0, 2, 0, 3, 0, 0, 0, 0, 0,
		       &f);
	snap_body_seed("body-not-that-index", 0x02, 0, 2, 6, 3, 0, 0, 0, 0, 0,
		       &f);
	snap_body_seed("body-not-leader", 0x02, 0, 3, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-huge", 0x02, 0x04, 2, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-config", 0x02, 0x08, 2, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-bad-config", 0x02, 0x18, 2, 5, 3, 0, 0, 0, 0, 0,
		       &f);
	snap_body_seed("body-not-needed", 0x02, 0x21, 2, 5, 3, 0, 0, 20, 0, 0,
		       &f);
	snap_body_seed("body-refused", 0x02, 0x40, 2, 5, 3, 0, 0, 0, 0, 0, &f);
	snap_body_seed("body-offset-ahead", 0x02, 0x01, 2, 5, 3, 0, 7, 7, 0, 0,
		       &f);
	snap_body_seed("body-beyond-size", 0x02, 0, 2, 5, 3, -4, 0, 0, 0, 0,
		       &f);

	/* Whole requests. */
	put_byte(&b, 0);
	snap_raw_chunk(&b, "", 5, 0, f.len, crc, f.p, 16);
	write_seed("fuzz_snapshot_http", "raw-first-chunk", &b);
	b.len = 0;
	put_byte(&b, 0);
	snap_raw_chunk(&b,
		       "X-Kvd-Snapshot-Config: 0a0b0c\r\n"
		       "X-Kvd-Snapshot-Config-Index: 5\r\n",
		       5, 0, f.len, crc, f.p, f.len);
	write_seed("fuzz_snapshot_http", "raw-whole", &b);
	/* Mode 0x01: the target rewrites the chunk CRC, wrong here. */
	b.len = 0;
	put_byte(&b, 0x01);
	snap_raw_chunk(&b, "", 5, 0, f.len, crc, f.p, f.len);
	uint8_t *w = memmem(b.p, b.len, "Chunk-CRC: ", 11);
	DIE_IF(w == NULL);
	memcpy(w + 11, "00000000", 8);
	write_seed("fuzz_snapshot_http", "raw-whole-fix-crc", &b);
	b.len = 0;
	put_byte(&b, 0);
	snap_raw_chunk(&b, "", 5, 0, f.len, crc, f.p, 16);
	snap_raw_chunk(&b, "", 5, 16, f.len, crc, f.p + 16, f.len - 16);
	snap_raw_chunk(&b, "", 5, 16, f.len, crc, f.p + 16, f.len - 16);
	write_seed("fuzz_snapshot_http", "raw-pipelined-chunks", &b);
	b.len = 0;
	put_byte(&b, 0x04);
	snap_raw_chunk(&b, "Authorization: Bearer fuzz-peer-token\r\n", 5, 0,
		       f.len, crc, f.p, f.len);
	snap_raw_chunk(&b, "X-Kvd-Token: wrong\r\n", 5, 0, f.len, crc, f.p,
		       f.len);
	write_seed("fuzz_snapshot_http", "raw-token-keepalive", &b);
	b.len = 0;
	put_byte(&b, 0);
	put_str(&b, "GET /raft/snapshot HTTP/1.1\r\n\r\n");
	put_str(&b, "POST /raft/snapshot?index=x&term=3&offset=0 HTTP/1.1\r\n"
		    "X-Kvd-From: 2\r\nContent-Length: 0\r\n\r\n");
	/* A chunk whose CRC header is not its bytes'. */
	size_t at = b.len;
	snap_raw_chunk(&b, "", 5, 0, f.len, crc, f.p, 16);
	uint8_t *c = memmem(b.p + at, b.len - at, "Chunk-CRC: ", 11);
	DIE_IF(c == NULL);
	c[11] = c[11] == '0' ? '1' : '0';
	write_seed("fuzz_snapshot_http", "raw-refusals", &b);
	free(b.p);
	free(f.p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus CORPUS_DIR\n");
		return 2;
	}
	corpus = argv[1];
	DIE_IF(mkdir(corpus, 0755) < 0 && errno != EEXIST);
	gen_frame();
	gen_msg_codec();
	gen_msg_codec_range();
	gen_command();
	gen_txn();
	gen_wal();
	gen_client_http();
	gen_snapshot_http();
	gen_lane_answer();
	gen_stream_frame();
	return 0;
}
