/* test_store.c - the LMDB store on real files in temporary directories:
 * put/get/delete/CAS, batches and the applied index, exactly-once with
 * deterministic expiry and eviction, list, digest, map growth, a full
 * disk (file size limit and a small tmpfs), open errors, and a seeded
 * random history checked against a small reference model. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv.h"
#include "test_kv.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static char *make_dir(void)
{
	char tmpl[] = "/tmp/kv-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_ptr_nonnull(d);
	return strdup(d);
}

/* Removes the store's files and folder from @dir, not @dir itself. */
static void remove_store(const char *dir)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/kv/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv/lock.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kv", dir);
	rmdir(p);
}

static void remove_dir(char *dir)
{
	remove_store(dir);
	ck_assert_int_eq(rmdir(dir), 0);
	free(dir);
}

static struct kv *open_kv(const char *dir, const struct kv_options *o)
{
	struct kv *kv = NULL;
	char err[256] = "";
	int rv = kv_open(dir, o, &kv, err, sizeof(err));

	ck_assert_msg(rv == 0, "kv_open: %s (%s)", kv_strerror(rv), err);
	return kv;
}

static struct raft_entry noop(raft_index idx)
{
	struct raft_entry e = {
	    .term = 1, .index = idx, .type = RAFT_ENTRY_NOOP};
	return e;
}

/* A NORMAL entry carrying a command; data is malloc'd (free_entry). */
static struct raft_entry cmd_entry(raft_index idx, uint8_t op, const char *key,
				   const char *val, int has_cas, uint64_t cas,
				   uint64_t client, uint64_t seq)
{
	struct kv_cmd c = {.op = op,
			   .has_cas = (uint8_t)has_cas,
			   .cas = cas,
			   .client_id = client,
			   .seq = seq,
			   .origin = 2,
			   .request_id = idx * 10,
			   .key = (const uint8_t *)key,
			   .key_len = strlen(key),
			   .value = (const uint8_t *)val,
			   .value_len = val ? strlen(val) : 0};
	struct raft_entry e = {
	    .term = 1, .index = idx, .type = RAFT_ENTRY_NORMAL};
	size_t len;

	ck_assert_int_eq(kv_cmd_encode_alloc(&c, &e.data, &len), 0);
	e.len = (uint32_t)len;
	return e;
}

static struct raft_entry put_e(raft_index idx, const char *key, const char *val)
{
	return cmd_entry(idx, KV_OP_PUT, key, val, 0, 0, 0, 0);
}

static void free_entries(struct raft_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].data);
		e[i].data = NULL;
	}
}

/* Applies one entry (freeing its data) and returns its result. */
static struct kv_result apply1(struct kv *kv, struct raft_entry e)
{
	struct kv_result r;
	char err[256] = "";
	int rv = kv_apply(kv, &e, 1, &r, err, sizeof(err));

	free(e.data);
	ck_assert_msg(rv == 0, "kv_apply: %s (%s)", kv_strerror(rv), err);
	return r;
}

/* The value of @key as a NUL-terminated malloc'd string, or NULL. */
static char *get_str(struct kv *kv, const char *key, uint64_t *mod)
{
	uint8_t *v = NULL;
	size_t len = 0;
	char *s;
	int rv = kv_get(kv, (const uint8_t *)key, strlen(key), &v, &len, mod);

	if (rv == KV_ENOTFOUND)
		return NULL;
	ck_assert_int_eq(rv, 0);
	s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	if (len)
		memcpy(s, v, len);
	s[len] = 0;
	free(v);
	return s;
}

static void assert_value(struct kv *kv, const char *key, const char *want,
			 uint64_t want_mod)
{
	uint64_t mod = 0;
	char *got = get_str(kv, key, &mod);

	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s: expected absent, got %s", key,
			      got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: expected %s, absent", key, want);
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(mod, want_mod);
	free(got);
}

static uint64_t digest(struct kv *kv)
{
	uint64_t d = 0;

	ck_assert_int_eq(kv_digest(kv, &d), 0);
	return d;
}

static struct kv_stats stats(struct kv *kv)
{
	struct kv_stats st;

	ck_assert_int_eq(kv_stats(kv, &st), 0);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Basic semantics                                                          */

START_TEST(test_put_get_delete)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct kv_result r;
	uint8_t *v = (uint8_t *)1;
	size_t len = 99;
	uint64_t mod = 0;

	ck_assert_uint_eq(kv_applied_index(kv), 0);
	ck_assert_int_eq(kv_count(kv), 0);
	r = apply1(kv, put_e(1, "a", "one"));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.entry_index, 1);
	ck_assert_uint_eq(r.index, 1);
	ck_assert_uint_eq(r.mod_index, 1);
	ck_assert_uint_eq(r.origin, 2);
	ck_assert_uint_eq(r.request_id, 10);
	ck_assert_uint_eq(r.duplicate, 0);
	assert_value(kv, "a", "one", 1);

	r = apply1(kv, put_e(2, "a", "two"));
	ck_assert_uint_eq(r.mod_index, 2);
	assert_value(kv, "a", "two", 2);

	/* An empty value is a value. */
	r = apply1(kv, put_e(3, "e", ""));
	ck_assert_int_eq(kv_get(kv, (const uint8_t *)"e", 1, &v, &len, &mod),
			 0);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(mod, 3);
	ck_assert_int_eq(kv_count(kv), 2);

	r = apply1(kv, cmd_entry(4, KV_OP_DELETE, "a", NULL, 0, 0, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.deleted, 1);
	ck_assert_uint_eq(r.index, 4);
	assert_value(kv, "a", NULL, 0);
	ck_assert_int_eq(kv_get(kv, (const uint8_t *)"a", 1, NULL, NULL, NULL),
			 KV_ENOTFOUND);

	/* Deleting an absent key succeeds and says it did not exist. */
	r = apply1(kv, cmd_entry(5, KV_OP_DELETE, "a", NULL, 0, 0, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.deleted, 0);
	ck_assert_uint_eq(kv_applied_index(kv), 5);
	ck_assert_int_eq(kv_count(kv), 1);

	/* Reads refuse invalid keys. */
	ck_assert_int_eq(kv_get(kv, (const uint8_t *)"", 0, NULL, NULL, NULL),
			 KV_EINVAL);
	ck_assert_int_eq(
	    kv_get(kv, (const uint8_t *)"a\x01", 2, NULL, NULL, NULL),
	    KV_EINVAL);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_cas)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct kv_result r;

	/* CAS 0: the key must not exist. */
	r = apply1(kv, cmd_entry(1, KV_OP_PUT, "k", "v1", 1, 0, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.mod_index, 1);
	r = apply1(kv, cmd_entry(2, KV_OP_PUT, "k", "v2", 1, 0, 0, 0));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.mod_index, 1); /* the current mod index */
	ck_assert_uint_eq(r.index, 2);
	assert_value(kv, "k", "v1", 1);

	/* CAS M: the mod index must be M. */
	r = apply1(kv, cmd_entry(3, KV_OP_PUT, "k", "v3", 1, 2, 0, 0));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.mod_index, 1);
	r = apply1(kv, cmd_entry(4, KV_OP_PUT, "k", "v4", 1, 1, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.mod_index, 4);
	assert_value(kv, "k", "v4", 4);

	/* CAS M != 0 on an absent key fails with mod index 0. */
	r = apply1(kv, cmd_entry(5, KV_OP_PUT, "x", "v", 1, 4, 0, 0));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.mod_index, 0);
	assert_value(kv, "x", NULL, 0);

	/* CAS delete: wrong index keeps the key, right index removes it. */
	r = apply1(kv, cmd_entry(6, KV_OP_DELETE, "k", NULL, 1, 1, 0, 0));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.mod_index, 4);
	ck_assert_uint_eq(r.deleted, 0);
	assert_value(kv, "k", "v4", 4);
	r = apply1(kv, cmd_entry(7, KV_OP_DELETE, "k", NULL, 1, 4, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.deleted, 1);
	assert_value(kv, "k", NULL, 0);
	/* CAS 0 delete of an absent key holds and deletes nothing. */
	r = apply1(kv, cmd_entry(8, KV_OP_DELETE, "k", NULL, 1, 0, 0, 0));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.deleted, 0);
	ck_assert_uint_eq(kv_applied_index(kv), 8);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Batches and the applied index                                            */

START_TEST(test_batch_and_applied_index_persist)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[100];
	struct kv_result r[100];
	char key[32], val[32];
	char err[256];

	for (size_t i = 0; i < 100; i++) {
		raft_index idx = i + 1;

		if (i % 10 == 0) {
			e[i] = noop(idx);
		} else if (i % 10 == 5) {
			e[i] = noop(idx);
			e[i].type = RAFT_ENTRY_CONFIG;
		} else {
			snprintf(key, sizeof(key), "key%03zu", i);
			snprintf(val, sizeof(val), "val%zu", i);
			e[i] = put_e(idx, key, val);
		}
		e[i].term = 1 + i / 50;
	}
	ck_assert_int_eq(kv_apply(kv, e, 100, r, err, sizeof(err)), 0);
	for (size_t i = 0; i < 100; i++) {
		ck_assert_uint_eq(r[i].entry_index, i + 1);
		ck_assert_uint_eq(r[i].status,
				  (i % 5 == 0) ? KV_NONE : KV_APPLIED);
	}
	ck_assert_uint_eq(kv_applied_index(kv), 100);
	ck_assert_uint_eq(kv_applied_term(kv), 2);
	ck_assert_int_eq(kv_count(kv), 80);
	ck_assert_int_eq(kv_sync(kv, err, sizeof(err)), 0);
	uint64_t d = digest(kv);
	kv_close(kv);

	kv = open_kv(dir, NULL);
	ck_assert_uint_eq(kv_applied_index(kv), 100);
	ck_assert_uint_eq(kv_applied_term(kv), 2);
	ck_assert_int_eq(kv_count(kv), 80);
	ck_assert_uint_eq(digest(kv), d);
	assert_value(kv, "key042", "val42", 43);

	/* Replaying what is applied changes nothing. */
	ck_assert_int_eq(kv_apply(kv, e, 100, r, err, sizeof(err)), 0);
	for (size_t i = 0; i < 100; i++)
		ck_assert_uint_eq(r[i].status, KV_ALREADY_APPLIED);
	ck_assert_uint_eq(r[42].request_id, 430); /* ids still reported */
	ck_assert_uint_eq(digest(kv), d);
	ck_assert_uint_eq(kv_applied_index(kv), 100);
	assert_value(kv, "key042", "val42", 43);
	free_entries(e, 100);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_overlap_gap_and_bad_batches)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[6];
	struct kv_result r[6];
	char err[256];

	for (int i = 0; i < 3; i++)
		e[i] = put_e((raft_index)i + 1, "k", "old");
	ck_assert_int_eq(kv_apply(kv, e, 3, r, err, sizeof(err)), 0);
	free_entries(e, 3);

	/* 2..5 overlaps: 2 and 3 are skipped, 4 and 5 applied. */
	for (int i = 0; i < 4; i++)
		e[i] = put_e((raft_index)i + 2, "k", i < 2 ? "again" : "new");
	ck_assert_int_eq(kv_apply(kv, e, 4, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r[0].status, KV_ALREADY_APPLIED);
	ck_assert_uint_eq(r[1].status, KV_ALREADY_APPLIED);
	ck_assert_uint_eq(r[2].status, KV_APPLIED);
	ck_assert_uint_eq(r[3].status, KV_APPLIED);
	assert_value(kv, "k", "new", 5);
	free_entries(e, 4);

	/* A gap is refused and nothing moves. */
	e[0] = put_e(7, "g", "gap");
	ck_assert_int_eq(kv_apply(kv, e, 1, r, err, sizeof(err)), KV_EGAP);
	ck_assert_ptr_nonnull(strstr(err, "gap"));
	free_entries(e, 1);
	/* Non-consecutive indexes. */
	e[0] = put_e(6, "g", "a");
	e[1] = put_e(8, "g", "b");
	ck_assert_int_eq(kv_apply(kv, e, 2, r, err, sizeof(err)), KV_ENOTSEQ);
	free_entries(e, 2);
	/* Unknown entry type; data missing. */
	e[0] = noop(6);
	e[0].type = 9;
	ck_assert_int_eq(kv_apply(kv, e, 1, r, err, sizeof(err)), KV_EINVAL);
	e[0] = noop(6);
	e[0].type = RAFT_ENTRY_NORMAL;
	e[0].len = 4;
	ck_assert_int_eq(kv_apply(kv, e, 1, r, err, sizeof(err)), KV_EINVAL);
	ck_assert_int_eq(kv_apply(kv, e, 0, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(kv_applied_index(kv), 5);
	assert_value(kv, "g", NULL, 0);
	/* NULL results are allowed. */
	e[0] = put_e(6, "g", "ok");
	ck_assert_int_eq(kv_apply(kv, e, 1, NULL, err, sizeof(err)), 0);
	free_entries(e, 1);
	assert_value(kv, "g", "ok", 6);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_bad_command_is_skipped)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	uint8_t junk[60] = {1, KV_OP_MAX + 1}; /* version 1, an unknown op */
	struct raft_entry e[3];
	struct kv_result r[3];
	char err[256];

	e[0] = put_e(1, "a", "x");
	e[1] = noop(2);
	e[1].type = RAFT_ENTRY_NORMAL;
	e[1].data = junk;
	e[1].len = sizeof(junk);
	e[2] = put_e(3, "b", "y");
	ck_assert_int_eq(kv_apply(kv, e, 3, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r[0].status, KV_APPLIED);
	ck_assert_uint_eq(r[1].status, KV_BAD_COMMAND);
	ck_assert_int_eq(r[1].cmd_error, KV_ECMD_OP);
	ck_assert_uint_eq(r[1].origin, 0);
	ck_assert_uint_eq(r[2].status, KV_APPLIED);
	ck_assert_uint_eq(kv_applied_index(kv), 3);
	ck_assert_int_eq(kv_count(kv), 2);
	e[1].data = NULL;
	free_entries(e, 3);
	/* An empty NORMAL entry is a bad command too. */
	e[0] = noop(4);
	e[0].type = RAFT_ENTRY_NORMAL;
	ck_assert_int_eq(kv_apply(kv, e, 1, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r[0].status, KV_BAD_COMMAND);
	ck_assert_int_eq(r[0].cmd_error, KV_ECMD_TRUNCATED);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Exactly-once                                                             */

START_TEST(test_exactly_once_duplicate_and_stale)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct kv_result r;
	const uint64_t c1 = 0xC0FFEE, c2 = 0xBEEF;

	r = apply1(kv, cmd_entry(1, KV_OP_PUT, "a", "first", 0, 0, c1, 1));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 0);
	ck_assert_uint_eq(r.client_id, c1);
	ck_assert_uint_eq(r.seq, 1);

	/* A retry (same client, same seq) is not applied again and reports
	 * the first result. */
	r = apply1(kv, cmd_entry(2, KV_OP_PUT, "a", "retry", 0, 0, c1, 1));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.index, 1);
	ck_assert_uint_eq(r.mod_index, 1);
	ck_assert_uint_eq(r.entry_index, 2);
	ck_assert_uint_eq(r.request_id, 20); /* routes to the new request */
	assert_value(kv, "a", "first", 1);

	r = apply1(kv, cmd_entry(3, KV_OP_PUT, "a", "second", 0, 0, c1, 2));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 0);
	assert_value(kv, "a", "second", 3);

	/* An older seq is stale and has no effect. */
	r = apply1(kv, cmd_entry(4, KV_OP_PUT, "a", "old", 0, 0, c1, 1));
	ck_assert_uint_eq(r.status, KV_STALE_SEQ);
	assert_value(kv, "a", "second", 3);

	/* A CAS failure is a result too: its retry replays the failure even
	 * though the CAS would now hold. */
	r = apply1(kv, cmd_entry(5, KV_OP_PUT, "b", "v", 1, 9, c2, 7));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.mod_index, 0);
	r = apply1(kv, put_e(6, "b", "w"));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	r = apply1(kv, cmd_entry(7, KV_OP_PUT, "b", "v", 1, 6, c2, 7));
	ck_assert_uint_eq(r.status, KV_CAS_FAILED);
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.index, 5);
	ck_assert_uint_eq(r.mod_index, 0);
	assert_value(kv, "b", "w", 6);

	/* DELETE's "deleted" is replayed as well. */
	r = apply1(kv, cmd_entry(8, KV_OP_DELETE, "b", NULL, 0, 0, c2, 8));
	ck_assert_uint_eq(r.deleted, 1);
	kv_close(kv);

	/* The table survives a reopen. */
	kv = open_kv(dir, NULL);
	r = apply1(kv, cmd_entry(9, KV_OP_DELETE, "b", NULL, 0, 0, c2, 8));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.deleted, 1);
	ck_assert_uint_eq(r.index, 8);
	r = apply1(kv, cmd_entry(10, KV_OP_PUT, "a", "x", 0, 0, c1, 2));
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.index, 3);
	ck_assert_uint_eq(stats(kv).clients, 2);

	/* Without a client id nothing is deduplicated. */
	r = apply1(kv, put_e(11, "n", "1"));
	r = apply1(kv, put_e(12, "n", "1"));
	ck_assert_uint_eq(r.duplicate, 0);
	ck_assert_uint_eq(r.mod_index, 12);
	ck_assert_uint_eq(stats(kv).clients, 2);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_exactly_once_duplicate_within_one_batch)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[3];
	struct kv_result r[3];
	char err[256];

	e[0] = cmd_entry(1, KV_OP_PUT, "a", "1", 0, 0, 5, 1);
	e[1] = cmd_entry(2, KV_OP_PUT, "a", "2", 0, 0, 5, 1);
	e[2] = cmd_entry(3, KV_OP_PUT, "a", "3", 0, 0, 5, 2);
	ck_assert_int_eq(kv_apply(kv, e, 3, r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r[0].duplicate, 0);
	ck_assert_uint_eq(r[1].duplicate, 1);
	ck_assert_uint_eq(r[1].index, 1);
	ck_assert_uint_eq(r[2].duplicate, 0);
	assert_value(kv, "a", "3", 3);
	free_entries(e, 3);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

static void apply_noops(struct kv *kv, raft_index from, raft_index to)
{
	struct raft_entry e[64];
	char err[256];

	ck_assert_uint_le(to - from + 1, 64);
	for (raft_index i = from; i <= to; i++)
		e[i - from] = noop(i);
	ck_assert_int_eq(kv_apply(kv, e, to - from + 1, NULL, err, sizeof(err)),
			 0);
}

START_TEST(test_exactly_once_expiry_by_index)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct kv_result r;

	kv_options_init(&o);
	o.client_expiry_entries = 10;
	o.max_clients = 0;
	kv = open_kv(dir, &o);

	r = apply1(kv, cmd_entry(1, KV_OP_PUT, "a", "1", 0, 0, 5, 1));
	apply_noops(kv, 2, 10);
	/* Entry 11: forgotten are clients last seen below 11 - 10 = 1. */
	r = apply1(kv, cmd_entry(11, KV_OP_PUT, "a", "2", 0, 0, 5, 1));
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.index, 1);
	assert_value(kv, "a", "1", 1);
	/* Entry 12: the client (last index 1 < 2) is forgotten, so the same
	 * seq is applied afresh: the documented limit of the window. */
	r = apply1(kv, cmd_entry(12, KV_OP_PUT, "a", "3", 0, 0, 5, 1));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 0);
	ck_assert_uint_eq(r.index, 12);
	assert_value(kv, "a", "3", 12);
	ck_assert_uint_eq(stats(kv).clients, 1);

	/* Expiry happens on any entry, not only on commands. */
	apply_noops(kv, 13, 22);
	ck_assert_uint_eq(stats(kv).clients, 1); /* 12 is not below 12 */
	apply_noops(kv, 23, 23);
	ck_assert_uint_eq(stats(kv).clients, 0);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_exactly_once_capacity_evicts_oldest)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct kv_result r;

	kv_options_init(&o);
	o.client_expiry_entries = 0;
	o.max_clients = 3;
	kv = open_kv(dir, &o);

	apply1(kv, cmd_entry(1, KV_OP_PUT, "k", "1", 0, 0, 1, 1));
	apply1(kv, cmd_entry(2, KV_OP_PUT, "k", "2", 0, 0, 2, 1));
	apply1(kv, cmd_entry(3, KV_OP_PUT, "k", "3", 0, 0, 3, 1));
	ck_assert_uint_eq(stats(kv).clients, 3);
	/* Client 1 writes again: it becomes the newest (2 is oldest). */
	apply1(kv, cmd_entry(4, KV_OP_PUT, "k", "4", 0, 0, 1, 2));
	ck_assert_uint_eq(stats(kv).clients, 3);
	/* A fourth client evicts the oldest, client 2. */
	apply1(kv, cmd_entry(5, KV_OP_PUT, "k", "5", 0, 0, 4, 1));
	ck_assert_uint_eq(stats(kv).clients, 3);
	/* Client 1's retry is still known... */
	r = apply1(kv, cmd_entry(6, KV_OP_PUT, "k", "x", 0, 0, 1, 2));
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.index, 4);
	/* ...client 3's too... */
	r = apply1(kv, cmd_entry(7, KV_OP_PUT, "k", "x", 0, 0, 3, 1));
	ck_assert_uint_eq(r.duplicate, 1);
	/* ...but client 2 was forgotten, so its retry applies (and evicts
	 * client 3, now the oldest at index 3). */
	r = apply1(kv, cmd_entry(8, KV_OP_PUT, "k", "c2", 0, 0, 2, 1));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	ck_assert_uint_eq(r.duplicate, 0);
	assert_value(kv, "k", "c2", 8);
	r = apply1(kv, cmd_entry(9, KV_OP_PUT, "k", "c3", 0, 0, 3, 1));
	ck_assert_uint_eq(r.duplicate, 0);
	ck_assert_uint_eq(stats(kv).clients, 3);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A random history against a reference model, split into batches in
 * different ways: every member must reach the same results and state. */

#define M_KEYS	      6
#define M_CLIENTS     8
#define M_EXPIRY      25
#define M_MAX_CLIENTS 4

struct model {
	int exists[M_KEYS];
	char val[M_KEYS][16];
	uint64_t mod[M_KEYS];
	int known[M_CLIENTS + 1];
	uint64_t seq[M_CLIENTS + 1], last[M_CLIENTS + 1];
	struct kv_result res[M_CLIENTS + 1];
};

static const char *mkeys[M_KEYS] = {"a", "b", "b/1", "b/2", "c\xc3\xa9", "zz"};

static void model_forget_expired(struct model *m, raft_index i)
{
	for (int c = 1; c <= M_CLIENTS; c++)
		if (m->known[c] && i > M_EXPIRY && m->last[c] < i - M_EXPIRY)
			m->known[c] = 0;
}

static void model_apply(struct model *m, const struct raft_entry *e,
			const struct kv_cmd *cmd, int key, struct kv_result *r)
{
	int c = (int)cmd->client_id;

	memset(r, 0, sizeof(*r));
	r->entry_index = e->index;
	r->origin = cmd->origin;
	r->request_id = cmd->request_id;
	r->client_id = cmd->client_id;
	r->seq = cmd->seq;
	model_forget_expired(m, e->index);
	if (c != 0 && m->known[c]) {
		if (cmd->seq == m->seq[c]) {
			struct kv_result *f = &m->res[c];
			r->status = f->status;
			r->index = f->index;
			r->mod_index = f->mod_index;
			r->deleted = f->deleted;
			r->duplicate = 1;
			return;
		}
		if (cmd->seq < m->seq[c]) {
			r->status = KV_STALE_SEQ;
			r->index = e->index;
			return;
		}
	} else if (c != 0) {
		int n = 0;

		for (int k = 1; k <= M_CLIENTS; k++)
			n += m->known[k];
		while (n >= M_MAX_CLIENTS) {
			int old = 0;

			for (int k = 1; k <= M_CLIENTS; k++)
				if (m->known[k] &&
				    (old == 0 || m->last[k] < m->last[old]))
					old = k;
			m->known[old] = 0;
			n--;
		}
	}
	r->index = e->index;
	uint64_t cur = m->exists[key] ? m->mod[key] : 0;
	if (cmd->has_cas && cmd->cas != cur) {
		r->status = KV_CAS_FAILED;
		r->mod_index = cur;
	} else {
		r->status = KV_APPLIED;
		if (cmd->op == KV_OP_PUT) {
			m->exists[key] = 1;
			memcpy(m->val[key], cmd->value, cmd->value_len);
			m->val[key][cmd->value_len] = 0;
			m->mod[key] = e->index;
			r->mod_index = e->index;
		} else {
			r->deleted = (uint8_t)m->exists[key];
			m->exists[key] = 0;
		}
	}
	if (c != 0) {
		m->known[c] = 1;
		m->seq[c] = cmd->seq;
		m->last[c] = e->index;
		m->res[c] = *r;
	}
}

static uint64_t model_known(const struct model *m)
{
	uint64_t n = 0;

	for (int c = 1; c <= M_CLIENTS; c++)
		n += (uint64_t)m->known[c];
	return n;
}

static void assert_same_result(const struct kv_result *a,
			       const struct kv_result *b, size_t i)
{
	ck_assert_msg(
	    a->status == b->status && a->duplicate == b->duplicate &&
		a->deleted == b->deleted && a->entry_index == b->entry_index &&
		a->index == b->index && a->mod_index == b->mod_index &&
		a->origin == b->origin && a->request_id == b->request_id &&
		a->client_id == b->client_id && a->seq == b->seq,
	    "entry %zu: status %u/%u dup %u/%u index %llu/%llu mod "
	    "%llu/%llu deleted %u/%u",
	    i, a->status, b->status, a->duplicate, b->duplicate,
	    (unsigned long long)a->index, (unsigned long long)b->index,
	    (unsigned long long)a->mod_index, (unsigned long long)b->mod_index,
	    a->deleted, b->deleted);
}

START_TEST(test_random_history_matches_model_in_any_batching)
{
	enum { N = 400, STORES = 3 };
	static struct raft_entry e[N];
	static struct kv_result want[N], got[N];
	static struct model m;
	uint64_t seed = test_seed(), next_seq[M_CLIENTS + 1];
	struct kv_options o;
	uint64_t digests[STORES];
	char err[256], val[16];

	memset(&m, 0, sizeof(m));
	for (int c = 0; c <= M_CLIENTS; c++)
		next_seq[c] = 1;
	kv_options_init(&o);
	o.client_expiry_entries = M_EXPIRY;
	o.max_clients = M_MAX_CLIENTS;

	for (size_t i = 0; i < N; i++) {
		raft_index idx = i + 1;
		uint64_t roll = test_rand(&seed) % 100;
		int key = (int)(test_rand(&seed) % M_KEYS);
		uint64_t client = test_rand(&seed) % (M_CLIENTS + 1), seq = 0;
		int has_cas = test_rand(&seed) % 3 == 0;
		uint64_t cas = 0;
		struct kv_cmd cmd;

		if (roll < 8) {
			e[i] = noop(idx);
			e[i].term = 1 + i / 100;
			memset(&want[i], 0, sizeof(want[i]));
			want[i].status = KV_NONE;
			want[i].entry_index = idx;
			want[i].index = idx;
			model_forget_expired(&m, idx);
			continue;
		}
		if (client != 0) {
			/* Mostly new seqs, some retries, some stale. */
			uint64_t r = test_rand(&seed) % 10;
			seq = next_seq[client];
			if (r < 2 && seq > 1)
				seq--;
			else if (r < 3 && seq > 2)
				seq -= 2;
			else
				next_seq[client]++;
		}
		if (has_cas)
			cas = m.exists[key] && test_rand(&seed) % 2
				  ? m.mod[key]
				  : test_rand(&seed) % (idx + 1);
		snprintf(val, sizeof(val), "v%zu", i);
		e[i] = cmd_entry(idx, roll < 30 ? KV_OP_DELETE : KV_OP_PUT,
				 mkeys[key], roll < 30 ? NULL : val, has_cas,
				 cas, client, seq);
		e[i].term = 1 + i / 100;
		ck_assert_int_eq(kv_cmd_decode(e[i].data, e[i].len, &cmd), 0);
		model_apply(&m, &e[i], &cmd, key, &want[i]);
	}

	for (int s = 0; s < STORES; s++) {
		char *dir = make_dir();
		struct kv *kv = open_kv(dir, &o);
		size_t at = 0;

		while (at < N) {
			/* Store 0: one batch; 1: one entry each; 2: random
			 * batches with a close/reopen now and then. */
			size_t n = s == 0   ? N
				   : s == 1 ? 1
					    : 1 + test_rand(&seed) % 37;
			if (n > N - at)
				n = N - at;
			ck_assert_int_eq(
			    kv_apply(kv, e + at, n, got + at, err, sizeof(err)),
			    0);
			at += n;
			if (s == 2 && test_rand(&seed) % 4 == 0) {
				kv_close(kv);
				kv = open_kv(dir, &o);
			}
		}
		for (size_t i = 0; i < N; i++)
			assert_same_result(&got[i], &want[i], i);
		for (int k = 0; k < M_KEYS; k++)
			assert_value(kv, mkeys[k],
				     m.exists[k] ? m.val[k] : NULL, m.mod[k]);
		digests[s] = digest(kv);
		/* Both forget expired clients at every entry, so after
		 * entry N they remember the same ones. */
		ck_assert_uint_eq(stats(kv).clients, model_known(&m));
		ck_assert_uint_eq(kv_applied_index(kv), N);
		ck_assert_uint_eq(kv_applied_term(kv), 4);
		kv_close(kv);
		remove_dir(dir);
	}
	ck_assert_uint_eq(digests[0], digests[1]);
	ck_assert_uint_eq(digests[0], digests[2]);
	free_entries(e, N);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* List, digest, stats                                                      */

struct listing {
	int n;
	char keys[16][32];
	char vals[16][32];
	uint64_t mods[16];
	int stop_after;
};

static int collect(void *arg, const uint8_t *key, size_t keylen,
		   const uint8_t *value, size_t len, uint64_t mod)
{
	struct listing *l = arg;

	ck_assert_int_lt(l->n, 16);
	memcpy(l->keys[l->n], key, keylen);
	l->keys[l->n][keylen] = 0;
	memcpy(l->vals[l->n], value, len);
	l->vals[l->n][len] = 0;
	l->mods[l->n] = mod;
	l->n++;
	return l->stop_after && l->n == l->stop_after;
}

/* Lists and returns the keys joined by ',' plus "|more" when more. */
static const char *list_str(struct kv *kv, const char *prefix,
			    const char *after, size_t limit)
{
	static char out[512];
	struct listing l;
	int more = -1;
	int64_t n;

	memset(&l, 0, sizeof(l));
	n = kv_list(kv, (const uint8_t *)prefix, prefix ? strlen(prefix) : 0,
		    (const uint8_t *)after, after ? strlen(after) : 0, limit,
		    collect, &l, &more);
	ck_assert_int_eq(n, l.n);
	ck_assert_int_ge(more, 0);
	out[0] = 0;
	for (int i = 0; i < l.n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, l.keys[i]);
	}
	if (more)
		strcat(out, "|more");
	return out;
}

START_TEST(test_list)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	const char *keys[] = {"c", "b/2", "a", "b0", "b/1", "b/3", "b"};
	struct listing l;
	raft_index idx = 1;
	int more;

	for (size_t i = 0; i < 7; i++)
		apply1(kv, put_e(idx++, keys[i], keys[i]));

	ck_assert_str_eq(list_str(kv, NULL, NULL, 100), "a,b,b/1,b/2,b/3,b0,c");
	ck_assert_str_eq(list_str(kv, NULL, NULL, 7), "a,b,b/1,b/2,b/3,b0,c");
	ck_assert_str_eq(list_str(kv, NULL, NULL, 6),
			 "a,b,b/1,b/2,b/3,b0|more");
	ck_assert_str_eq(list_str(kv, "b/", NULL, 100), "b/1,b/2,b/3");
	ck_assert_str_eq(list_str(kv, "b/", NULL, 2), "b/1,b/2|more");
	ck_assert_str_eq(list_str(kv, "b/", NULL, 3), "b/1,b/2,b/3");
	ck_assert_str_eq(list_str(kv, "b/", "b/2", 100), "b/3");
	ck_assert_str_eq(list_str(kv, "b/", "b/3", 100), "");
	ck_assert_str_eq(list_str(kv, "b/", "a", 100), "b/1,b/2,b/3");
	ck_assert_str_eq(list_str(kv, "b/", "b/", 100), "b/1,b/2,b/3");
	ck_assert_str_eq(list_str(kv, "b", NULL, 100), "b,b/1,b/2,b/3,b0");
	ck_assert_str_eq(list_str(kv, "b", "b", 100), "b/1,b/2,b/3,b0");
	ck_assert_str_eq(list_str(kv, "b", "b/9", 100), "b0");
	ck_assert_str_eq(list_str(kv, NULL, "a", 2), "b,b/1|more");
	ck_assert_str_eq(list_str(kv, NULL, "b0", 2), "c");
	ck_assert_str_eq(list_str(kv, NULL, "c", 2), "");
	ck_assert_str_eq(list_str(kv, NULL, "zzz", 2), "");
	ck_assert_str_eq(list_str(kv, "zz", NULL, 2), "");
	ck_assert_str_eq(list_str(kv, "0", NULL, 2), "");
	ck_assert_str_eq(list_str(kv, "b/2", NULL, 2), "b/2");

	/* Values and mod indexes come along. */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(kv_list(kv, (const uint8_t *)"b/", 2, NULL, 0, 10,
				 collect, &l, &more),
			 3);
	ck_assert_str_eq(l.vals[0], "b/1");
	ck_assert_uint_eq(l.mods[0], 5);
	ck_assert_uint_eq(l.mods[1], 2);

	/* The callback may stop the walk. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(kv_list(kv, NULL, 0, NULL, 0, 10, collect, &l, &more),
			 KV_ESTOPPED);
	ck_assert_int_eq(l.n, 2);
	/* Bad arguments. */
	ck_assert_int_eq(kv_list(kv, NULL, 0, NULL, 0, 0, collect, &l, &more),
			 KV_EINVAL);
	ck_assert_int_eq(kv_list(kv, NULL, 3, NULL, 0, 1, collect, &l, &more),
			 KV_EINVAL);
	ck_assert_int_eq(kv_list(kv, NULL, 0, NULL, 0, 1, NULL, &l, &more),
			 KV_EINVAL);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_digest)
{
	char *da = make_dir(), *db = make_dir();
	struct kv *a = open_kv(da, NULL), *b = open_kv(db, NULL);
	uint64_t empty = digest(a);

	ck_assert_uint_eq(digest(b), empty);
	/* Same history, same digest. */
	apply1(a, put_e(1, "k", "v"));
	apply1(b, put_e(1, "k", "v"));
	ck_assert_uint_eq(digest(a), digest(b));
	ck_assert_uint_ne(digest(a), empty);
	/* Another value differs. */
	apply1(a, put_e(2, "k2", "x"));
	apply1(b, put_e(2, "k2", "y"));
	ck_assert_uint_ne(digest(a), digest(b));
	apply1(a, put_e(3, "k2", "z"));
	apply1(b, put_e(3, "k2", "z"));
	ck_assert_uint_eq(digest(a), digest(b));
	/* Same key and value at another mod index differs. */
	apply1(a, put_e(4, "m", "1"));
	apply1(b, noop(4));
	apply1(b, put_e(5, "m", "1"));
	apply1(a, noop(5));
	ck_assert_uint_ne(digest(a), digest(b));
	kv_close(a);
	kv_close(b);
	remove_dir(da);
	remove_dir(db);

	/* Lengths are framed: ("ab","c") differs from ("a","bc"). */
	da = make_dir();
	db = make_dir();
	a = open_kv(da, NULL);
	b = open_kv(db, NULL);
	apply1(a, put_e(1, "ab", "c"));
	apply1(b, put_e(1, "a", "bc"));
	ck_assert_uint_ne(digest(a), digest(b));
	/* A delete brings back the empty digest. */
	apply1(a, cmd_entry(2, KV_OP_DELETE, "ab", NULL, 0, 0, 0, 0));
	ck_assert_uint_eq(digest(a), empty);
	kv_close(a);
	kv_close(b);
	remove_dir(da);
	remove_dir(db);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Map growth and open errors                                               */

START_TEST(test_map_full_grows)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct raft_entry e[8];
	static char big[16 * 1024 + 1];
	static char huge[2 * 1024 * 1024 + 1];
	char key[32], err[256];
	struct kv_stats st;
	raft_index idx = 1;

	kv_options_init(&o);
	o.map_bytes = 64 * 1024;
	o.max_map_bytes = 64ull * 1024 * 1024;
	kv = open_kv(dir, &o);
	ck_assert_uint_eq(stats(kv).map_bytes, 64 * 1024);

	memset(big, 'v', sizeof(big) - 1);
	/* 64 values of 16 KiB in batches of 8: about 1 MiB in a 64 KiB map. */
	for (int b = 0; b < 8; b++) {
		for (int i = 0; i < 8; i++) {
			snprintf(key, sizeof(key), "big%02d", b * 8 + i);
			big[0] = (char)('A' + i);
			e[i] = put_e(idx++, key, big);
		}
		ck_assert_int_eq(kv_apply(kv, e, 8, NULL, err, sizeof(err)), 0);
		free_entries(e, 8);
	}
	/* One value larger than the map so far, alone in its batch. */
	memset(huge, 'h', sizeof(huge) - 1);
	e[0] = put_e(idx++, "huge", huge);
	ck_assert_int_eq(kv_apply(kv, e, 1, NULL, err, sizeof(err)), 0);
	free_entries(e, 1);
	st = stats(kv);
	ck_assert_uint_gt(st.map_bytes, 2 * 1024 * 1024);
	ck_assert_uint_ge(st.map_bytes, st.used_bytes);
	ck_assert_uint_eq(st.keys, 65);
	big[0] = 'C';
	assert_value(kv, "big42", big, 43);
	assert_value(kv, "huge", huge, 65);
	kv_close(kv);

	/* Reopening with the small setting keeps the grown map. */
	kv = open_kv(dir, &o);
	ck_assert_uint_ge(stats(kv).map_bytes, st.used_bytes);
	assert_value(kv, "huge", huge, 65);
	ck_assert_uint_eq(kv_applied_index(kv), 65);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

static off_t data_file_size(const char *dir);

/* kv_reserve_map() keeps the map's free part at half the store plus
 * KV_MAP_ROOM_MIN_BYTES, by doubling, never past max_map_bytes; it costs
 * address space, not disk, and leaves the content alone. */
START_TEST(test_map_reserve_keeps_room)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct raft_entry e[8];
	static char big[16 * 1024 + 1];
	char key[32], err[256] = "";
	struct kv_stats st, st2;
	raft_index idx = 1;
	off_t before;

	kv_options_init(&o);
	o.map_bytes = 1024 * 1024;
	o.max_map_bytes = 1024ull * 1024 * 1024;
	kv = open_kv(dir, &o);
	memset(big, 'v', sizeof(big) - 1);
	/* About 512 KiB of values in a 1 MiB map. */
	for (int b = 0; b < 4; b++) {
		for (int i = 0; i < 8; i++) {
			snprintf(key, sizeof(key), "big%02d", b * 8 + i);
			e[i] = put_e(idx++, key, big);
		}
		ck_assert_int_eq(kv_apply(kv, e, 8, NULL, err, sizeof(err)), 0);
		free_entries(e, 8);
	}
	st = stats(kv);
	/* The room it keeps is not there yet. */
	ck_assert_uint_lt(st.map_bytes, st.used_bytes + st.used_bytes / 2 +
					    KV_MAP_ROOM_MIN_BYTES);
	before = data_file_size(dir);

	ck_assert_int_eq(kv_reserve_map(kv, err, sizeof(err)), 0);
	st2 = stats(kv);
	ck_assert_uint_ge(st2.map_bytes, st2.used_bytes + st2.used_bytes / 2 +
					     KV_MAP_ROOM_MIN_BYTES);
	/* Doubled from a power of two: the first one that holds it. */
	ck_assert_uint_eq(st2.map_bytes & (st2.map_bytes - 1), 0);
	ck_assert_uint_lt(st2.map_bytes / 2, st2.used_bytes +
						 st2.used_bytes / 2 +
						 KV_MAP_ROOM_MIN_BYTES);
	ck_assert_uint_eq(st2.used_bytes, st.used_bytes);
	ck_assert_uint_eq(st2.keys, 32);
	ck_assert_int_eq(data_file_size(dir), before);
	/* Room enough: nothing more. */
	ck_assert_int_eq(kv_reserve_map(kv, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats(kv).map_bytes, st2.map_bytes);
	assert_value(kv, "big17", big, 18);
	kv_close(kv);

	remove_dir(dir);

	/* At max_map_bytes it stops there, without an error, and writes
	 * still go in. */
	dir = make_dir();
	o.max_map_bytes = 4 * 1024 * 1024;
	kv = open_kv(dir, &o);
	e[0] = put_e(1, "before", big);
	ck_assert_int_eq(kv_apply(kv, e, 1, NULL, err, sizeof(err)), 0);
	free_entries(e, 1);
	ck_assert_int_eq(kv_reserve_map(kv, err, sizeof(err)), 0);
	ck_assert_uint_eq(stats(kv).map_bytes, 4 * 1024 * 1024);
	e[0] = put_e(2, "after", "x");
	ck_assert_int_eq(kv_apply(kv, e, 1, NULL, err, sizeof(err)), 0);
	free_entries(e, 1);
	assert_value(kv, "after", "x", 2);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* With no room to grow the whole batch fails and nothing of it stays: the
 * batch is one transaction. */
START_TEST(test_map_full_at_max_applies_nothing)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct raft_entry e[2];
	static char huge[512 * 1024 + 1];
	char err[256] = "";

	kv_options_init(&o);
	o.map_bytes = 128 * 1024;
	o.max_map_bytes = 128 * 1024;
	kv = open_kv(dir, &o);
	memset(huge, 'h', sizeof(huge) - 1);
	e[0] = put_e(1, "small", "s");
	e[1] = put_e(2, "huge", huge);
	ck_assert_int_eq(kv_apply(kv, e, 2, NULL, err, sizeof(err)),
			 KV_EMAPFULL);
	ck_assert(kv_retryable(KV_EMAPFULL));
	ck_assert_ptr_nonnull(strstr(err, "map"));
	ck_assert_uint_eq(kv_applied_index(kv), 0);
	ck_assert_int_eq(kv_count(kv), 0);
	/* The store stays usable. */
	ck_assert_int_eq(kv_apply(kv, e, 1, NULL, err, sizeof(err)), 0);
	assert_value(kv, "small", "s", 1);
	free_entries(e, 2);
	kv_close(kv);
	kv = open_kv(dir, &o);
	ck_assert_uint_eq(kv_applied_index(kv), 1);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* A full disk: the batch that cannot be written leaves the applied index,
 * the content and the exactly-once table exactly as they were, reads go
 * on, and the same batch applies once there is room again. */

/* The batch used by the full-disk tests: a client command (exactly-once)
 * and two values that need new pages at the end of the file. */
#define FULL_VALUE_BYTES (96 * 1024)
static void full_batch(struct raft_entry e[3], raft_index first)
{
	static char big[FULL_VALUE_BYTES + 1];

	memset(big, 'b', sizeof(big) - 1);
	e[0] = cmd_entry(first, KV_OP_PUT, "client-key", "v2", 0, 0, 77, 2);
	e[1] = put_e(first + 1, "big1", big);
	e[2] = put_e(first + 2, "big2", big);
}

/* Applies the first store content (indexes 1..3, client 77 at seq 1). */
static void full_base(struct kv *kv)
{
	struct kv_result r;

	r = apply1(kv,
		   cmd_entry(1, KV_OP_PUT, "client-key", "v1", 0, 0, 77, 1));
	ck_assert_uint_eq(r.status, KV_APPLIED);
	apply1(kv, put_e(2, "a", "1"));
	apply1(kv, put_e(3, "b", "2"));
}

/* The failed batch changed nothing; reads still work. */
static void full_assert_unchanged(struct kv *kv, uint64_t d)
{
	ck_assert_uint_eq(kv_applied_index(kv), 3);
	ck_assert_uint_eq(kv_applied_term(kv), 1);
	ck_assert_int_eq(kv_count(kv), 3);
	ck_assert_uint_eq(digest(kv), d);
	assert_value(kv, "client-key", "v1", 1);
	assert_value(kv, "big1", NULL, 0);
}

/* The same batch applied again: every entry takes effect once, the
 * client's seq 2 is new (not a duplicate of a half-recorded attempt). */
static void full_assert_retry_applies(struct kv *kv, struct raft_entry e[3])
{
	struct kv_result r[3];
	char err[256] = "";
	int rv = kv_apply(kv, e, 3, r, err, sizeof(err));

	ck_assert_msg(rv == 0, "retry: %s (%s)", kv_strerror(rv), err);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(r[i].status, KV_APPLIED);
		ck_assert_uint_eq(r[i].duplicate, 0);
	}
	ck_assert_uint_eq(kv_applied_index(kv), 6);
	ck_assert_int_eq(kv_count(kv), 5);
	assert_value(kv, "client-key", "v2", 4);
	ck_assert_uint_eq(stats(kv).clients, 1);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static off_t data_file_size(const char *dir)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/kv/data.mdb", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

/* @slack bytes above the current data file size may still be written:
 * 0 makes LMDB's first write past the end fail with EFBIG, half a page a
 * short write that LMDB reports as EIO. */
static void full_by_file_size_limit(off_t slack, const char *lmdb_says)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[3];
	struct rlimit old, lim;
	char err[256] = "";
	uint64_t d;
	int rv;

	full_base(kv);
	d = digest(kv);
	full_batch(e, 4);
	/* Past the limit the kernel sends SIGXFSZ; ignored, write() fails. */
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(data_file_size(dir) + slack);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rv = kv_apply(kv, e, 3, NULL, err, sizeof(err));
	/* Twice: a failed attempt must not change what the next one sees. */
	if (rv == KV_ENOSPC)
		rv = kv_apply(kv, e, 3, NULL, err, sizeof(err));
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_msg(rv == KV_ENOSPC, "expected KV_ENOSPC, got %s (%s)",
		      kv_strerror(rv), err);
	ck_assert(kv_retryable(rv));
	ck_assert_msg(strstr(err, "no space left") != NULL &&
			  strstr(err, lmdb_says) != NULL,
		      "%s", err);
	ck_assert_int_eq(kv_needs_reopen(kv), 0);
	full_assert_unchanged(kv, d);

	full_assert_retry_applies(kv, e);
	free_entries(e, 3);
	kv_close(kv);
	kv = open_kv(dir, NULL);
	ck_assert_uint_eq(kv_applied_index(kv), 6);
	assert_value(kv, "client-key", "v2", 4);
	kv_close(kv);
	remove_dir(dir);
}

START_TEST(test_full_file_size_limit_efbig)
{
	full_by_file_size_limit(0, strerror(EFBIG));
}
END_TEST

START_TEST(test_full_file_size_limit_short_write)
{
	full_by_file_size_limit(2048, strerror(EIO));
}
END_TEST

/* Fills the file system holding @dir with @dir/filler; returns its path. */
static char *fill_fs(const char *dir)
{
	static char chunk[16 * 1024];
	char *p = malloc(strlen(dir) + 16);
	int fd;

	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/filler", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(chunk, 0xff, sizeof(chunk));
	for (;;) {
		ssize_t w = write(fd, chunk, sizeof(chunk));

		if (w < 0) {
			ck_assert_int_eq(errno, ENOSPC);
			break;
		}
	}
	/* The last partial chunk: byte by byte until nothing fits. */
	while (write(fd, chunk, 1) == 1)
		;
	close(fd);
	return p;
}

/* A real full file system: a small tmpfs (needs the right to mount;
 * without it the test has nothing to check and says so), with @leave
 * bytes left free: 0, or a few pages, which LMDB's write of the new pages
 * past the end of its file fills before coming up short (reported as
 * EIO). */
static void full_tmpfs(off_t leave, const char *lmdb_says)
{
	char *dir = make_dir(), *filler;
	struct kv *kv;
	struct raft_entry e[3];
	char err[256] = "";
	uint64_t d;
	int rv;

	if (mount("tmpfs", dir, "tmpfs", 0, "size=2m,mode=0700") != 0) {
		printf("full_tmpfs: cannot mount a tmpfs (%s): not run\n",
		       strerror(errno));
		remove_dir(dir);
		return;
	}
	kv = open_kv(dir, NULL);
	full_base(kv);
	d = digest(kv);
	full_batch(e, 4);
	filler = fill_fs(dir);
	if (leave > 0)
		ck_assert_int_eq(truncate(filler, file_size(filler) - leave),
				 0);
	rv = kv_apply(kv, e, 3, NULL, err, sizeof(err));
	if (rv == KV_ENOSPC)
		rv = kv_apply(kv, e, 3, NULL, err, sizeof(err));
	ck_assert_msg(rv == KV_ENOSPC, "expected KV_ENOSPC, got %s (%s)",
		      kv_strerror(rv), err);
	printf("full_tmpfs(%lld): %s\n", (long long)leave, err);
	ck_assert_msg(lmdb_says == NULL || strstr(err, lmdb_says) != NULL, "%s",
		      err);
	ck_assert_int_eq(kv_needs_reopen(kv), 0);
	full_assert_unchanged(kv, d);

	/* Space returns. */
	ck_assert_int_eq(unlink(filler), 0);
	free(filler);
	full_assert_retry_applies(kv, e);
	free_entries(e, 3);
	kv_close(kv);
	kv = open_kv(dir, NULL);
	ck_assert_uint_eq(kv_applied_index(kv), 6);
	kv_close(kv);
	remove_store(dir);
	ck_assert_int_eq(umount(dir), 0);
	remove_dir(dir);
}

START_TEST(test_full_tmpfs)
{
	full_tmpfs(0, NULL);
}
END_TEST

START_TEST(test_full_tmpfs_short_write)
{
	full_tmpfs(12 * 1024, strerror(EIO));
}
END_TEST

/* The descriptor LMDB writes meta pages through under KV_SYNC_FULL: the
 * one on @dir's data.mdb opened with O_DSYNC (its data pages go through
 * another). -1 if there is none. */
static int meta_fd(const char *dir)
{
	char want[512], link[64], path[512], info[512];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (d == NULL)
		return -1;
	snprintf(want, sizeof(want), "%s/kv/data.mdb", dir);
	while (found < 0 && (de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		ssize_t n;
		unsigned long flags = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n <= 0)
			continue;
		path[n] = 0;
		if (strcmp(path, want) != 0)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fdinfo/%d", fd);
		f = fopen(link, "r");
		if (f == NULL)
			continue;
		while (fgets(info, sizeof(info), f) != NULL)
			if (sscanf(info, "flags: %lo", &flags) == 1)
				break;
		fclose(f);
		if (flags & O_DSYNC)
			found = fd;
	}
	closedir(d);
	return found;
}

/* A failed commit whose meta page could not be written: LMDB refuses the
 * environment from then on (MDB_PANIC); kv_needs_reopen() says so and
 * kv_reopen() brings back the last good commit, after which the same batch
 * applies. The meta descriptor is pointed at /dev/full, where every write
 * fails with ENOSPC while the data pages are written normally. */
START_TEST(test_failed_meta_write_needs_reopen)
{
	char *dir = make_dir();
	struct kv_options o;
	struct kv *kv;
	struct raft_entry e[3];
	char err[256] = "";
	uint64_t d;
	int fd, full, rv;

	kv_options_init(&o);
	o.sync_mode = KV_SYNC_FULL;
	kv = open_kv(dir, &o);
	full_base(kv);
	d = digest(kv);
	fd = meta_fd(dir);
	full = open("/dev/full", O_WRONLY);
	if (fd < 0 || full < 0) {
		printf("failed meta write: no meta descriptor or /dev/full: "
		       "not run\n");
		if (full >= 0)
			close(full);
		kv_close(kv);
		remove_dir(dir);
		return;
	}
	ck_assert_int_eq(dup2(full, fd), fd);
	close(full);
	full_batch(e, 4);
	rv = kv_apply(kv, e, 3, NULL, err, sizeof(err));
	ck_assert_msg(rv == KV_ENOSPC, "expected KV_ENOSPC, got %s (%s)",
		      kv_strerror(rv), err);
	ck_assert_int_eq(kv_needs_reopen(kv), 1);
	ck_assert_int_eq(kv_count(kv), KV_ELMDB); /* MDB_PANIC */

	ck_assert_int_eq(kv_reopen(kv, err, sizeof(err)), 0);
	ck_assert_int_eq(kv_needs_reopen(kv), 0);
	full_assert_unchanged(kv, d);
	full_assert_retry_applies(kv, e);
	free_entries(e, 3);
	kv_close(kv);
	kv = open_kv(dir, &o);
	ck_assert_uint_eq(kv_applied_index(kv), 6);
	assert_value(kv, "client-key", "v2", 4);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* kv_reopen() gives back the last commit: applied index, content and the
 * exactly-once table, and the handle applies on. */
START_TEST(test_reopen_keeps_last_commit)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[3];
	char err[256] = "";
	uint64_t d;

	full_base(kv);
	d = digest(kv);
	ck_assert_int_eq(kv_needs_reopen(kv), 0);
	ck_assert_int_eq(kv_reopen(kv, err, sizeof(err)), 0);
	ck_assert_int_eq(kv_needs_reopen(kv), 0);
	full_assert_unchanged(kv, d);
	full_batch(e, 4);
	full_assert_retry_applies(kv, e);
	free_entries(e, 3);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

START_TEST(test_open_errors)
{
	char *dir = make_dir();
	char p[512], err[256] = "";
	struct kv *kv = (struct kv *)1;
	struct kv_options o;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {6, "format"}, v;
	uint8_t ver[4] = {99, 0, 0, 0};
	FILE *f;

	/* A missing parent directory. */
	snprintf(p, sizeof(p), "%s/missing", dir);
	ck_assert_int_eq(kv_open(p, NULL, &kv, err, sizeof(err)), KV_EIO);
	ck_assert_ptr_null(kv);
	ck_assert_ptr_nonnull(strstr(err, "missing"));
	/* Bad options. */
	kv_options_init(&o);
	o.map_bytes = 0;
	ck_assert_int_eq(kv_open(dir, &o, &kv, err, sizeof(err)), KV_EINVAL);
	kv_options_init(&o);
	o.max_map_bytes = o.map_bytes - 1;
	ck_assert_int_eq(kv_open(dir, &o, &kv, err, sizeof(err)), KV_EINVAL);
	ck_assert_int_eq(kv_open(NULL, NULL, &kv, err, sizeof(err)), KV_EINVAL);

	/* A file where the kv directory should be. */
	snprintf(p, sizeof(p), "%s/kv", dir);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(kv_open(dir, NULL, &kv, err, sizeof(err)), KV_EIO);
	unlink(p);

	/* A store stamped with an unknown format version. */
	kv = open_kv(dir, NULL);
	kv_close(kv);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_open(env, p, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	v.mv_size = 4;
	v.mv_data = ver;
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	ck_assert_int_eq(kv_open(dir, NULL, &kv, err, sizeof(err)), KV_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err, "99"));
	remove_dir(dir);
}
END_TEST

START_TEST(test_sync_modes_and_stats)
{
	for (int mode = KV_SYNC_NONE; mode <= KV_SYNC_FULL; mode++) {
		char *dir = make_dir();
		struct kv_options o;
		struct kv *kv;
		struct kv_stats st;
		char err[256];

		kv_options_init(&o);
		o.sync_mode = (enum kv_sync_mode)mode;
		kv = open_kv(dir, &o);
		apply1(kv, cmd_entry(1, KV_OP_PUT, "a", "1", 0, 0, 9, 1));
		apply1(kv, put_e(2, "b", "2"));
		ck_assert_int_eq(kv_sync(kv, err, sizeof(err)), 0);
		st = stats(kv);
		ck_assert_uint_eq(st.keys, 2);
		ck_assert_uint_eq(st.clients, 1);
		ck_assert_uint_eq(st.applied_index, 2);
		ck_assert_uint_eq(st.applied_term, 1);
		ck_assert_uint_gt(st.used_bytes, 0);
		ck_assert_uint_eq(st.map_bytes, o.map_bytes);
		kv_close(kv);
		kv = open_kv(dir, &o);
		assert_value(kv, "b", "2", 2);
		kv_close(kv);
		remove_dir(dir);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

START_TEST(test_snapshot_and_restore)
{
	char *da = make_dir(), *db = make_dir(), *ds = make_dir();
	struct kv *a = open_kv(da, NULL), *b;
	struct kv_result r;
	raft_index idx = 0;
	raft_term term = 0;
	char snap[512], junk[512], err[256] = "";
	FILE *f;

	apply1(a, cmd_entry(1, KV_OP_PUT, "x", "1", 0, 0, 3, 1));
	for (raft_index i = 2; i <= 9; i++)
		apply1(a, put_e(i, i % 2 ? "odd" : "even", "v"));
	r = apply1(a, cmd_entry(10, KV_OP_DELETE, "even", NULL, 0, 0, 4, 1));
	ck_assert_uint_eq(r.deleted, 1);

	snprintf(snap, sizeof(snap), "%s/snap", ds);
	ck_assert_int_eq(kv_snapshot(a, snap, &idx, &term, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(idx, 10);
	ck_assert_uint_eq(term, 1);
	/* Never over an existing file. */
	ck_assert_int_eq(kv_snapshot(a, snap, NULL, NULL, err, sizeof(err)),
			 KV_EIO);
	idx = term = 0;
	ck_assert_int_eq(kv_snapshot_info(snap, &idx, &term, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(idx, 10);
	ck_assert_uint_eq(term, 1);

	/* B holds something else; a garbage file is refused and B kept. */
	b = open_kv(db, NULL);
	apply1(b, put_e(1, "other", "o"));
	kv_close(b);
	snprintf(junk, sizeof(junk), "%s/junk", ds);
	f = fopen(junk, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 8192; i++)
		fputc(i * 7, f);
	fclose(f);
	ck_assert_int_lt(kv_snapshot_info(junk, NULL, NULL, err, sizeof(err)),
			 0);
	ck_assert_int_lt(kv_restore(db, junk, err, sizeof(err)), 0);
	b = open_kv(db, NULL);
	assert_value(b, "other", "o", 1);
	kv_close(b);
	unlink(junk);

	/* Restore moves the snapshot in; B then equals A. */
	ck_assert_int_eq(kv_restore(db, snap, err, sizeof(err)), 0);
	ck_assert_int_ne(access(snap, F_OK), 0);
	b = open_kv(db, NULL);
	ck_assert_uint_eq(kv_applied_index(b), 10);
	ck_assert_uint_eq(kv_applied_term(b), 1);
	ck_assert_uint_eq(digest(b), digest(a));
	assert_value(b, "other", NULL, 0);
	ck_assert_uint_eq(stats(b).clients, 2);
	/* The exactly-once table came along: a retry is a duplicate. */
	r = apply1(b, cmd_entry(11, KV_OP_DELETE, "even", NULL, 0, 0, 4, 1));
	ck_assert_uint_eq(r.duplicate, 1);
	ck_assert_uint_eq(r.deleted, 1);
	ck_assert_uint_eq(r.index, 10);
	/* And both continue identically. */
	apply1(a, cmd_entry(11, KV_OP_DELETE, "even", NULL, 0, 0, 4, 1));
	apply1(a, put_e(12, "y", "2"));
	apply1(b, put_e(12, "y", "2"));
	ck_assert_uint_eq(digest(b), digest(a));
	kv_close(a);
	kv_close(b);
	remove_dir(da);
	remove_dir(db);
	ck_assert_int_eq(rmdir(ds), 0);
	free(ds);
}
END_TEST

/* A store of 3000 keys (a tree of several levels) in a new directory;
 * its data.mdb's path in @data. */
static char *damage_base(char *data, size_t cap)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	struct raft_entry e[100];
	char key[32], val[64];

	for (raft_index i = 1; i <= 3000; i += 100) {
		for (int j = 0; j < 100; j++) {
			snprintf(key, sizeof(key), "k/%06llu",
				 (unsigned long long)(i + j));
			memset(val, 'a' + j % 26, sizeof(val) - 1);
			val[sizeof(val) - 1] = 0;
			e[j] = put_e(i + j, key, val);
		}
		ck_assert_int_eq(kv_apply(kv, e, 100, NULL, NULL, 0), 0);
		free_entries(e, 100);
	}
	ck_assert_int_eq(kv_check(kv, 0, NULL, 0), 0);
	ck_assert_int_eq(kv_check(kv, 10, NULL, 0), 0);
	kv_close(kv);
	snprintf(data, cap, "%s/kv/data.mdb", dir);
	return dir;
}

/* Overwrites @len bytes of @path at @off with @byte (-1: pseudo-random). */
static void overwrite(const char *path, off_t off, size_t len, int byte)
{
	int fd = open(path, O_WRONLY);
	uint8_t *b = malloc(len);
	uint64_t st = 42;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < len; i++)
		b[i] = byte >= 0 ? (uint8_t)byte : (uint8_t)test_rand(&st);
	ck_assert_int_eq(pwrite(fd, b, len, off), (ssize_t)len);
	close(fd);
	free(b);
}

/* Opens @dir expecting a damaged store: kv_open() or, when the damage is
 * past what opening reads, kv_check() says KV_ECORRUPT. */
static void assert_damaged(const char *dir, const char *what)
{
	struct kv *kv = NULL;
	char err[256] = "";
	int rv = kv_open(dir, NULL, &kv, err, sizeof(err));

	if (rv == 0) {
		rv = kv_check(kv, 1000, err, sizeof(err));
		kv_close(kv);
	}
	ck_assert_msg(rv == KV_ECORRUPT, "%s: %s (%s)", what, kv_strerror(rv),
		      err);
	ck_assert_msg(err[0] != 0, "%s: no reason given", what);
}

/* What a power loss under MDB_NOSYNC can leave (kv.h, kv_open()): each
 * damage is reported as KV_ECORRUPT, never a crash or a store that looks
 * whole. */
START_TEST(test_damaged_store_is_detected)
{
	char data[512];
	char *dir;
	off_t size;

	/* Garbage over both meta pages. */
	dir = damage_base(data, sizeof(data));
	overwrite(data, 0, 8192, -1);
	assert_damaged(dir, "meta pages");
	remove_dir(dir);

	/* Truncated to half: would be a SIGBUS at the first read. */
	dir = damage_base(data, sizeof(data));
	size = file_size(data);
	ck_assert_int_eq(truncate(data, size / 2), 0);
	assert_damaged(dir, "truncated");
	remove_dir(dir);

	/* A file of zeros of the same size. */
	dir = damage_base(data, sizeof(data));
	size = file_size(data);
	ck_assert_int_eq(truncate(data, 0), 0);
	ck_assert_int_eq(truncate(data, size), 0);
	assert_damaged(dir, "zeros");
	remove_dir(dir);

	/* Every page but the meta pages garbage: the roots are. */
	dir = damage_base(data, sizeof(data));
	size = file_size(data);
	overwrite(data, 8192, (size_t)size - 8192, -1);
	assert_damaged(dir, "tree pages");
	remove_dir(dir);
}
END_TEST

/* kv_check() reads each record's shape: a data record without its mod
 * index (written behind the store's back) is found. */
START_TEST(test_check_finds_bad_record)
{
	char data[512], p[512];
	char *dir = damage_base(data, sizeof(data));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {9, "k/000001z"}, v = {3, "abc"};

	snprintf(p, sizeof(p), "%s/kv", dir);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_open(env, p, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "data", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	/* Near the first key: a bounded walk reaches it. */
	assert_damaged(dir, "short data record");
	remove_dir(dir);
}
END_TEST

/* A store marked damaged at run time stays refused (KV_ECORRUPT with the
 * reason) until a snapshot is restored over it. */
START_TEST(test_marked_damaged_until_restored)
{
	char data[512], snap[512], err[256] = "";
	char *dir = damage_base(data, sizeof(data));
	struct kv *kv = open_kv(dir, NULL);
	raft_index idx = 0;

	snprintf(snap, sizeof(snap), "%s/snap.mdb", dir);
	ck_assert_int_eq(kv_snapshot(kv, snap, &idx, NULL, err, sizeof(err)),
			 0);
	kv_close(kv);
	ck_assert_int_eq(kv_mark_damaged(dir, "kv: apply: MDB_CORRUPTED"), 0);
	kv = NULL;
	ck_assert_int_eq(kv_open(dir, NULL, &kv, err, sizeof(err)),
			 KV_ECORRUPT);
	ck_assert_ptr_null(kv);
	ck_assert_ptr_nonnull(strstr(err, "MDB_CORRUPTED"));
	ck_assert_int_eq(kv_restore(dir, snap, err, sizeof(err)), 0);
	kv = open_kv(dir, NULL);
	ck_assert_uint_eq(kv_applied_index(kv), idx);
	ck_assert_int_eq(kv_check(kv, 0, err, sizeof(err)), 0);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Watch history                                                            */

struct seen {
	char line[16][64];
	size_t n;
	size_t stop_after; /* 0: never */
};

static int seen_cb(void *arg, const struct kv_event *ev)
{
	struct seen *s = arg;
	ck_assert_uint_lt(s->n, 16);
	snprintf(s->line[s->n++], 64, "%s %.*s %.*s @%llu",
		 ev->type == KV_EVENT_PUT ? "put" : "del", (int)ev->key_len,
		 (const char *)ev->key, (int)ev->value_len,
		 (const char *)ev->value, (unsigned long long)ev->index);
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static struct seen read_events(struct kv *kv, raft_index from,
			       const char *match, int exact, size_t max,
			       raft_index *next, int want_rv)
{
	struct seen s = {0};
	int rv = kv_events_read(kv, from, (const uint8_t *)match, strlen(match),
				exact, max, seen_cb, &s, next);
	ck_assert_int_eq(rv, want_rv);
	return s;
}

/* Every change is recorded in the apply's transaction, in index order: a
 * PUT with its value, a DELETE of a key that existed; a DELETE of a
 * missing key, a CAS that failed and a replayed (duplicate) command are
 * no change. Reads filter by exact key or prefix and say where to resume;
 * the history survives a reopen. */
START_TEST(test_events_record_every_change)
{
	char *dir = make_dir();
	struct kv *kv = open_kv(dir, NULL);
	raft_index next = 0;

	apply1(kv, put_e(1, "a/x", "1"));
	apply1(kv, put_e(2, "a/y", "2"));
	apply1(kv, cmd_entry(3, KV_OP_DELETE, "a/x", NULL, 0, 0, 0, 0));
	apply1(kv, cmd_entry(4, KV_OP_DELETE, "a/none", NULL, 0, 0, 0, 0));
	apply1(kv, cmd_entry(5, KV_OP_PUT, "a/y", "z", 1, 99, 0, 0));
	apply1(kv, cmd_entry(6, KV_OP_PUT, "b", "3", 0, 0, 7, 1));
	apply1(kv, cmd_entry(7, KV_OP_PUT, "b", "3", 0, 0, 7, 1));
	apply1(kv, noop(8));

	struct seen s = read_events(kv, 1, "a/", 0, 100, &next, 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.line[0], "put a/x 1 @1");
	ck_assert_str_eq(s.line[1], "put a/y 2 @2");
	ck_assert_str_eq(s.line[2], "del a/x  @3");
	ck_assert_uint_eq(next, 9); /* everything applied was read */

	s = read_events(kv, 1, "b", 1, 100, &next, 0);
	ck_assert_uint_eq(s.n, 1); /* the duplicate at 7 is no change */
	ck_assert_str_eq(s.line[0], "put b 3 @6");
	s = read_events(kv, 1, "a/x", 1, 100, &next, 0);
	ck_assert_uint_eq(s.n, 2);
	s = read_events(kv, 3, "", 0, 100, &next, 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.line[0], "del a/x  @3");

	/* A bounded read says where to go on; a callback can stop it. */
	s = read_events(kv, 1, "", 0, 2, &next, 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(next, 3);
	s = read_events(kv, next, "", 0, 2, &next, 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.line[1], "put b 3 @6");
	struct seen one = {.stop_after = 1};
	ck_assert_int_eq(kv_events_read(kv, 1, (const uint8_t *)"", 0, 0, 100,
					seen_cb, &one, &next),
			 0);
	ck_assert_uint_eq(one.n, 1);
	ck_assert_uint_eq(next, 2);

	/* A PUT of an empty value is a put, not a delete. */
	apply1(kv, cmd_entry(9, KV_OP_PUT, "c", "", 0, 0, 0, 0));
	s = read_events(kv, 9, "c", 1, 100, &next, 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.line[0], "put c  @9");

	kv_close(kv);
	kv = open_kv(dir, NULL);
	s = read_events(kv, 1, "", 0, 100, &next, 0);
	ck_assert_uint_eq(s.n, 5);
	kv_close(kv);
	remove_dir(dir);
}
END_TEST

/* Past 2 N events the oldest go, whole indexes, down to N: a read from
 * below the floor is KV_ECOMPACTED naming the oldest index it can serve,
 * and one from there misses nothing. A store opened with history off
 * records nothing. */
START_TEST(test_events_are_trimmed_to_the_history)
{
	char *dir = make_dir();
	struct kv_options o;
	kv_options_init(&o);
	o.watch_history = 3;
	struct kv *kv = open_kv(dir, &o);
	raft_index next = 0;
	char key[16];

	for (raft_index i = 1; i <= 7; i++) {
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)i);
		apply1(kv, put_e(i, key, "v"));
	}
	/* 7 > 2 * 3: down to 3 (indexes 5, 6, 7). */
	struct seen s = read_events(kv, 1, "", 0, 100, &next, KV_ECOMPACTED);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(next, 5);
	s = read_events(kv, 5, "", 0, 100, &next, 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.line[0], "put k5 v @5");
	kv_close(kv);

	o.watch_history = 0;
	kv = open_kv(dir, &o);
	apply1(kv, put_e(8, "k8", "v"));
	s = read_events(kv, 5, "", 0, 100, &next, 0);
	ck_assert_uint_eq(s.n, 3); /* nothing recorded at 8 */
	kv_close(kv);
	remove_dir(dir);
}
END_TEST
Suite *kv_store_suite(void)
{
	Suite *s = suite_create("kv-store");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_put_get_delete);
	tcase_add_test(tc, test_cas);
	tcase_add_test(tc, test_batch_and_applied_index_persist);
	tcase_add_test(tc, test_overlap_gap_and_bad_batches);
	tcase_add_test(tc, test_bad_command_is_skipped);
	tcase_add_test(tc, test_exactly_once_duplicate_and_stale);
	tcase_add_test(tc, test_exactly_once_duplicate_within_one_batch);
	tcase_add_test(tc, test_exactly_once_expiry_by_index);
	tcase_add_test(tc, test_exactly_once_capacity_evicts_oldest);
	tcase_add_test(tc, test_random_history_matches_model_in_any_batching);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_digest);
	tcase_add_test(tc, test_map_full_grows);
	tcase_add_test(tc, test_map_reserve_keeps_room);
	tcase_add_test(tc, test_map_full_at_max_applies_nothing);
	tcase_add_test(tc, test_full_file_size_limit_efbig);
	tcase_add_test(tc, test_full_file_size_limit_short_write);
	tcase_add_test(tc, test_full_tmpfs);
	tcase_add_test(tc, test_full_tmpfs_short_write);
	tcase_add_test(tc, test_reopen_keeps_last_commit);
	tcase_add_test(tc, test_failed_meta_write_needs_reopen);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_sync_modes_and_stats);
	tcase_add_test(tc, test_snapshot_and_restore);
	tcase_add_test(tc, test_damaged_store_is_detected);
	tcase_add_test(tc, test_check_finds_bad_record);
	tcase_add_test(tc, test_marked_damaged_until_restored);
	tcase_add_test(tc, test_events_record_every_change);
	tcase_add_test(tc, test_events_are_trimmed_to_the_history);
	suite_add_tcase(s, tc);
	return s;
}
