/* test_snapshot_files.c - unit tests of raft/node/snapshot.c on real LMDB
 * files written through kvd's snapshot callback (kv_snapshot_io.c): create,
 * record, verify, list, prune, hex. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "durable.h"
#include "kv.h"
#include "kv_app.h"
#include "kv_snapshot_io.h"
#include "snapshot.h"

static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvd-snapfiles-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		rm_rf(p);
	}
	closedir(d);
	rmdir(path);
}

static void teardown(void)
{
	rm_rf(dir);
}

/* snapshot_create() through kvd's snapshot callback on @kv. */
static int create(struct kv *kv, const char *members, struct snapshot_info *out,
		  char *err, size_t errlen)
{
	struct kv_app a = {.kv = kv, .data_dir = dir};
	struct kvdraft_app app = {.size = sizeof(app),
				  .ctx = &a,
				  .snapshot_write = kv_snapshot_write_fd,
				  .identity_offset = -1};
	return snapshot_create(&app, dir, members, out, err, errlen);
}

/* A store in @dir with @n keys applied at indexes 1..n, term 2. */
static struct kv *store_with(size_t n)
{
	struct kv *kv;
	char err[256];
	ck_assert_int_eq(kv_open(dir, NULL, &kv, err, sizeof(err)), 0);
	for (size_t i = 1; i <= n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "k%05zu", i);
		struct kv_cmd c = {.op = KV_OP_PUT,
				   .key = (const uint8_t *)key,
				   .key_len = strlen(key),
				   .value = (const uint8_t *)"v",
				   .value_len = 1};
		uint8_t *buf;
		size_t len;
		ck_assert_int_eq(kv_cmd_encode_alloc(&c, &buf, &len), 0);
		struct raft_entry e = {.term = 2,
				       .index = i,
				       .type = RAFT_ENTRY_NORMAL,
				       .len = (uint32_t)len,
				       .data = buf};
		ck_assert_int_eq(kv_apply(kv, &e, 1, NULL, err, sizeof(err)),
				 0);
		free(buf);
	}
	return kv;
}

static void apply_more(struct kv *kv, size_t from, size_t n)
{
	char err[256];
	for (size_t i = from; i < from + n; i++) {
		struct raft_entry e = {
		    .term = 3, .index = i, .type = RAFT_ENTRY_NOOP};
		ck_assert_int_eq(kv_apply(kv, &e, 1, NULL, err, sizeof(err)),
				 0);
	}
}

START_TEST(create_records_index_term_size_and_crc)
{
	struct kv *kv = store_with(20);
	struct snapshot_info info, meta;
	char err[512], path[SNAPSHOT_PATH_MAX];
	ck_assert_int_eq(create(kv, "{\"version\":1}", &info, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(info.index, 20);
	ck_assert_uint_eq(info.term, 2);
	snapshot_data_path(dir, 20, path);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(info.size, (uint64_t)st.st_size);
	uint64_t size;
	uint32_t crc;
	ck_assert_int_eq(crc32c_file(path, &size, &crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(crc, info.crc);
	ck_assert_int_eq(snapshot_read_meta(dir, 20, &meta, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(meta.index, 20);
	ck_assert_uint_eq(meta.term, 2);
	ck_assert_uint_eq(meta.size, info.size);
	ck_assert_uint_eq(meta.crc, info.crc);
	ck_assert_int_eq(snapshot_verify(dir, &meta, err, sizeof(err)), 0);
	/* The copy is a store at that index. */
	raft_index idx;
	raft_term term;
	ck_assert_int_eq(kv_snapshot_info(path, &idx, &term, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(idx, 20);
	kv_close(kv);
}
END_TEST

/* A data dir from before the node was a library names its data files
 * snap-<index>.mdb: snapshot_migrate() renames them, and the snapshot is
 * found and verifies as before; a second run renames nothing. */
START_TEST(migrate_renames_the_older_data_files)
{
	struct kv *kv = store_with(7);
	struct snapshot_info info, list[4];
	char err[512], path[SNAPSHOT_PATH_MAX], old[SNAPSHOT_PATH_MAX + 8];
	ck_assert_int_eq(create(kv, NULL, &info, err, sizeof(err)), 0);
	snapshot_data_path(dir, info.index, path);
	ck_assert_ptr_nonnull(strstr(path, "/snap/snap-0000000000000007.snap"));
	snprintf(old, sizeof(old), "%s/snap/snap-%016x.mdb", dir, 7u);
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(snapshot_verify(dir, &info, err, sizeof(err)), -1);
	ck_assert_int_eq(snapshot_migrate(dir, err, sizeof(err)), 1);
	ck_assert_int_eq(access(old, F_OK), -1);
	ck_assert_int_eq(snapshot_verify(dir, &info, err, sizeof(err)), 0);
	ck_assert_int_eq(snapshot_list(dir, list, 4, NULL, 0, err, sizeof(err)),
			 1);
	ck_assert_uint_eq(list[0].index, 7);
	ck_assert_int_eq(snapshot_migrate(dir, err, sizeof(err)), 0);
	kv_close(kv);
}
END_TEST

START_TEST(verify_detects_a_flipped_byte)
{
	struct kv *kv = store_with(5);
	struct snapshot_info info;
	char err[512], path[SNAPSHOT_PATH_MAX];
	ck_assert_int_eq(create(kv, NULL, &info, err, sizeof(err)), 0);
	snapshot_data_path(dir, info.index, path);
	FILE *f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, (long)info.size / 2, SEEK_SET);
	int c = fgetc(f);
	fseek(f, (long)info.size / 2, SEEK_SET);
	fputc(c ^ 0x10, f);
	fclose(f);
	ck_assert_int_eq(snapshot_verify(dir, &info, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "checksum"));
	kv_close(kv);
}
END_TEST

START_TEST(list_is_newest_first_and_prune_keeps_two)
{
	struct kv *kv = store_with(3);
	struct snapshot_info info, list[SNAPSHOT_LIST_MAX];
	char err[512], warn[512], path[SNAPSHOT_PATH_MAX];
	raft_index next = 4;
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(create(kv, NULL, &info, err, sizeof(err)), 0);
		apply_more(kv, next, 10);
		next += 10;
	}
	int n = snapshot_list(dir, list, SNAPSHOT_LIST_MAX, warn, sizeof(warn),
			      err, sizeof(err));
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(list[0].index, 33);
	ck_assert_uint_eq(list[3].index, 3);
	/* A leftover temporary file and a data file without a record (a
	 * crash between the two renames) go too. */
	snprintf(path, sizeof(path), "%s/snap/create.snap.tmp", dir);
	FILE *f = fopen(path, "w");
	fclose(f);
	snapshot_data_path(dir, 99, path);
	f = fopen(path, "w");
	fclose(f);
	ck_assert_int_eq(snapshot_prune(dir, 2, err, sizeof(err)), 2);
	n = snapshot_list(dir, list, SNAPSHOT_LIST_MAX, warn, sizeof(warn), err,
			  sizeof(err));
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(list[0].index, 33);
	ck_assert_uint_eq(list[1].index, 23);
	snapshot_data_path(dir, 3, path);
	ck_assert_int_ne(access(path, F_OK), 0);
	snapshot_data_path(dir, 99, path);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/snap/create.snap.tmp", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	snapshot_data_path(dir, 23, path);
	ck_assert_int_eq(access(path, F_OK), 0);
	kv_close(kv);
}
END_TEST

START_TEST(a_bad_record_is_skipped_and_named)
{
	struct kv *kv = store_with(2);
	struct snapshot_info info, list[4];
	char err[512], warn[512], path[SNAPSHOT_PATH_MAX];
	ck_assert_int_eq(create(kv, NULL, &info, err, sizeof(err)), 0);
	snapshot_meta_path(dir, 7, path);
	FILE *f = fopen(path, "w");
	fputs("{\"version\": 1, \"index\": 7", f);
	fclose(f);
	int n =
	    snapshot_list(dir, list, 4, warn, sizeof(warn), err, sizeof(err));
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(list[0].index, 2);
	ck_assert_ptr_nonnull(strstr(warn, "snap-0000000000000007.meta"));
	kv_close(kv);
}
END_TEST

/* The copy a snapshot is installed from (kv_copy_fd_to_file()): same
 * bytes and CRC, mode 0600, a leftover destination replaced; a source
 * that cannot be read leaves none. */
START_TEST(copy_file_is_whole_and_private)
{
	struct kv *kv = store_with(500);
	struct snapshot_info info, back;
	char err[256] = "", src[SNAPSHOT_PATH_MAX], dst[SNAPSHOT_PATH_MAX];
	ck_assert_int_eq(create(kv, NULL, &info, err, sizeof(err)), 0);
	kv_close(kv);
	snapshot_data_path(dir, info.index, src);
	snprintf(dst, sizeof(dst), "%s/copy.tmp", dir);
	FILE *f = fopen(dst, "w");
	ck_assert_ptr_nonnull(f);
	fputs("leftover", f);
	fclose(f);
	int in = open(src, O_RDONLY);
	ck_assert_int_ge(in, 0);
	ck_assert_int_eq(kv_copy_fd_to_file(in, dst, err, sizeof(err)), 0);
	close(in);
	ck_assert_int_eq(
	    crc32c_file(dst, &back.size, &back.crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.size, info.size);
	ck_assert_uint_eq(back.crc, info.crc);
	struct stat st;
	ck_assert_int_eq(stat(dst, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* A descriptor that cannot be read (a directory). */
	in = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(in, 0);
	ck_assert_int_eq(kv_copy_fd_to_file(in, dst, err, sizeof(err)), -1);
	close(in);
	ck_assert_ptr_nonnull(strstr(err, "copy.tmp"));
	ck_assert_int_ne(access(dst, F_OK), 0);
}
END_TEST

/* A copy larger than the writeback lag (durable_pace_writeback()): many
 * steps, each written back as it goes and the earlier ones waited for,
 * and still the same bytes. */
START_TEST(copy_of_many_steps_is_whole)
{
	char err[256] = "", src[SNAPSHOT_PATH_MAX], dst[SNAPSHOT_PATH_MAX];
	uint64_t size_in, size_out;
	uint32_t crc_in, crc_out;
	const size_t total = 3 * (size_t)DURABLE_WRITEBACK_LAG + 12345;
	char *buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	uint32_t x = 12345;
	for (size_t i = 0; i < total; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (char)(x >> 24);
	}
	snprintf(src, sizeof(src), "%s/big.src", dir);
	snprintf(dst, sizeof(dst), "%s/big.tmp", dir);
	FILE *f = fopen(src, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, total, f), total);
	ck_assert_int_eq(fclose(f), 0);
	free(buf);
	int in = open(src, O_RDONLY);
	ck_assert_int_ge(in, 0);
	ck_assert_int_eq(kv_copy_fd_to_file(in, dst, err, sizeof(err)), 0);
	close(in);
	ck_assert_int_eq(crc32c_file(src, &size_in, &crc_in, err, sizeof(err)),
			 0);
	ck_assert_int_eq(
	    crc32c_file(dst, &size_out, &crc_out, err, sizeof(err)), 0);
	ck_assert_uint_eq(size_in, total);
	ck_assert_uint_eq(size_out, total);
	ck_assert_uint_eq(crc_out, crc_in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot_files");
	TCase *tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, create_records_index_term_size_and_crc);
	tcase_add_test(tc, verify_detects_a_flipped_byte);
	tcase_add_test(tc, migrate_renames_the_older_data_files);
	tcase_add_test(tc, list_is_newest_first_and_prune_keeps_two);
	tcase_add_test(tc, a_bad_record_is_skipped_and_named);
	tcase_add_test(tc, copy_file_is_whole_and_private);
	tcase_add_test(tc, copy_of_many_steps_is_whole);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
