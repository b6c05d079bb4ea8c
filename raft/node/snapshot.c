/* snapshot.c - snapshot files: create, describe, verify, list, prune. */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "durable.h"
#include "hexname.h"
#include "util.h"

void snapshot_data_path(const char *dir, raft_index index, char *out)
{
	snprintf(out, SNAPSHOT_PATH_MAX,
		 "%s/" SNAPSHOT_DIR "/snap-%016" PRIx64 SNAPSHOT_DATA_SUFFIX,
		 dir, index);
}

void snapshot_meta_path(const char *dir, raft_index index, char *out)
{
	snprintf(out, SNAPSHOT_PATH_MAX,
		 "%s/" SNAPSHOT_DIR "/snap-%016" PRIx64 ".meta", dir, index);
}

int snapshot_make_dir(const char *dir, char *err, size_t errlen)
{
	char p[SNAPSHOT_PATH_MAX];
	snprintf(p, sizeof(p), "%s/" SNAPSHOT_DIR, dir);
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return util_fail(err, errlen, "cannot create %s: %s", p,
				 strerror(errno));
	return 0;
}

int snapshot_write_meta(const char *dir, const struct snapshot_info *info,
			const char *members_json, char *err, size_t errlen)
{
	json_t *members = NULL;
	if (members_json != NULL) {
		json_error_t jerr;
		members = json_loads(members_json, 0, &jerr);
	}
	json_t *root = json_pack(
	    "{s:i, s:I, s:I, s:I, s:I, s:o}", "version", SNAPSHOT_META_VERSION,
	    "index", (json_int_t)info->index, "term", (json_int_t)info->term,
	    "size", (json_int_t)info->size, "crc32c", (json_int_t)info->crc,
	    "members", members != NULL ? members : json_null());
	if (root == NULL)
		return util_fail(err, errlen, "out of memory");
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		return util_fail(err, errlen, "out of memory");
	char path[SNAPSHOT_PATH_MAX];
	snapshot_meta_path(dir, info->index, path);
	size_t len = strlen(text);
	text[len] = '\0';
	int rc = util_write_file(path, text, len, err, errlen);
	free(text);
	return rc;
}

static int get_u64(json_t *root, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(root, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int snapshot_read_meta(const char *dir, raft_index index,
		       struct snapshot_info *out, char *err, size_t errlen)
{
	char path[SNAPSHOT_PATH_MAX];
	snapshot_meta_path(dir, index, path);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		return util_fail(err, errlen, "%s: %s", path, jerr.text);
	uint64_t ver = 0, crc = 0;
	int rc = 0;
	if (get_u64(root, "version", &ver) != 0 ||
	    ver != SNAPSHOT_META_VERSION ||
	    get_u64(root, "index", &out->index) != 0 ||
	    get_u64(root, "term", &out->term) != 0 ||
	    get_u64(root, "size", &out->size) != 0 ||
	    get_u64(root, "crc32c", &crc) != 0 || crc > UINT32_MAX ||
	    out->index != index || out->index == 0 || out->term == 0)
		rc = util_fail(err, errlen,
			       "%s: not a version %d snapshot record", path,
			       SNAPSHOT_META_VERSION);
	out->crc = (uint32_t)crc;
	json_decref(root);
	return rc;
}

int snapshot_verify(const char *dir, const struct snapshot_info *info,
		    char *err, size_t errlen)
{
	char path[SNAPSHOT_PATH_MAX];
	uint64_t size;
	uint32_t crc;
	snapshot_data_path(dir, info->index, path);
	if (crc32c_file(path, &size, &crc, err, errlen) != 0)
		return -1;
	if (size != info->size)
		return util_fail(err, errlen,
				 "%s has %" PRIu64
				 " bytes, its record says %" PRIu64,
				 path, size, info->size);
	if (crc != info->crc)
		return util_fail(
		    err, errlen,
		    "%s: checksum mismatch (CRC-32C %08x, its record "
		    "says %08x)",
		    path, crc, info->crc);
	return 0;
}

int snapshot_create(const struct kvdraft_app *app, const char *dir,
		    const char *members_json, struct snapshot_info *out,
		    char *err, size_t errlen)
{
	char tmp[SNAPSHOT_PATH_MAX], path[SNAPSHOT_PATH_MAX],
	    sdir[SNAPSHOT_PATH_MAX], kerr[512] = "";
	if (snapshot_make_dir(dir, err, errlen) != 0)
		return -1;
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, dir);
	if (snprintf(tmp, sizeof(tmp), "%s/create" SNAPSHOT_DATA_SUFFIX ".tmp",
		     sdir) >= (int)sizeof(tmp))
		return util_fail(err, errlen, "data dir path too long");
	/* A new file: a leftover of a crash (or a planted name) goes. */
	int fd = durable_create_file(tmp);
	if (fd < 0)
		return util_fail(err, errlen, "cannot create %s: %s", tmp,
				 strerror(errno));
	/* The application says what the copy holds: its state moves on
	 * during the copy when that runs beside the loop. */
	struct snapshot_info info = {0};
	int rc = app->snapshot_write(app->ctx, fd, &info.index, &info.term,
				     kerr, sizeof(kerr));
	if (rc == 0 && fsync(fd) != 0) {
		snprintf(kerr, sizeof(kerr), "syncing the copy: %s",
			 strerror(errno));
		rc = -1;
	}
	if (close(fd) != 0 && rc == 0) {
		snprintf(kerr, sizeof(kerr), "closing the copy: %s",
			 strerror(errno));
		rc = -1;
	}
	if (rc != 0) {
		unlink(tmp);
		return util_fail(err, errlen, "%s",
				 kerr[0] ? kerr : "the application failed");
	}
	if (info.index == 0) {
		unlink(tmp);
		return util_fail(err, errlen, "nothing applied yet");
	}
	if (crc32c_file(tmp, &info.size, &info.crc, err, errlen) != 0) {
		unlink(tmp);
		return -1;
	}
	snapshot_data_path(dir, info.index, path);
	if (rename(tmp, path) != 0) {
		util_fail(err, errlen, "cannot rename %s: %s", tmp,
			  strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (durable_sync_dir(sdir) != 0)
		return util_fail(err, errlen, "cannot sync %s: %s", sdir,
				 strerror(errno));
	if (snapshot_write_meta(dir, &info, members_json, err, errlen) != 0)
		return -1;
	*out = info;
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	raft_index x = *(const raft_index *)a, y = *(const raft_index *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Every index named by a file "snap-<16 hex><@suffix>" (".meta" or
 * SNAPSHOT_DATA_SUFFIX), newest first. */
static int scan(const char *dir, const char *suffix, raft_index **out,
		size_t *n, char *err, size_t errlen)
{
	char sdir[SNAPSHOT_PATH_MAX];
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, dir);
	*out = NULL;
	*n = 0;
	DIR *d = opendir(sdir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return util_fail(err, errlen, "cannot list %s: %s", sdir,
				 strerror(errno));
	}
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t idx;
		/* "snap-<16 hex><suffix>" */
		if (!hexname_parse(e->d_name, "snap-", suffix, &idx))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			raft_index *p = realloc(*out, cap * sizeof(*p));
			if (p == NULL) {
				rc = util_fail(err, errlen, "out of memory");
				break;
			}
			*out = p;
		}
		(*out)[(*n)++] = idx;
	}
	closedir(d);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_desc);
	return 0;
}

int snapshot_list(const char *dir, struct snapshot_info *out, size_t cap,
		  char *warn, size_t warnlen, char *err, size_t errlen)
{
	raft_index *idx;
	size_t n;
	if (warn != NULL && warnlen > 0)
		warn[0] = '\0';
	if (scan(dir, ".meta", &idx, &n, err, errlen) != 0)
		return -1;
	size_t got = 0;
	for (size_t i = 0; i < n && got < cap; i++) {
		char merr[512];
		if (snapshot_read_meta(dir, idx[i], &out[got], merr,
				       sizeof(merr)) != 0) {
			if (warn != NULL && warnlen > 0 && warn[0] == '\0')
				snprintf(warn, warnlen, "%s", merr);
			continue;
		}
		got++;
	}
	free(idx);
	return (int)got;
}

int snapshot_prune(const char *dir, size_t keep, char *err, size_t errlen)
{
	char sdir[SNAPSHOT_PATH_MAX], p[SNAPSHOT_PATH_MAX];
	raft_index *metas, *datas;
	size_t nm, nd;
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, dir);
	if (scan(dir, ".meta", &metas, &nm, err, errlen) != 0)
		return -1;
	if (scan(dir, SNAPSHOT_DATA_SUFFIX, &datas, &nd, err, errlen) != 0) {
		free(metas);
		return -1;
	}
	int deleted = 0;
	/* The oldest kept snapshot: anything older goes, and so does a data
	 * file without a record (a crash between the two renames). */
	raft_index oldest_kept = nm >= keep && keep > 0 ? metas[keep - 1] : 0;
	for (size_t i = keep; i < nm; i++) {
		snapshot_meta_path(dir, metas[i], p);
		if (unlink(p) == 0)
			deleted++;
	}
	for (size_t i = 0; i < nd; i++) {
		bool has_meta = false;
		for (size_t j = 0; j < nm && j < keep; j++)
			if (metas[j] == datas[i])
				has_meta = true;
		if (has_meta && datas[i] >= oldest_kept)
			continue;
		snapshot_data_path(dir, datas[i], p);
		unlink(p);
	}
	free(metas);
	free(datas);
	/* Temporary files of an interrupted creation or transfer. */
	DIR *d = opendir(sdir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			size_t l = strlen(e->d_name);
			if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0) {
				if (snprintf(p, sizeof(p), "%s/%s", sdir,
					     e->d_name) < (int)sizeof(p))
					unlink(p);
			}
		}
		closedir(d);
	}
	durable_sync_dir(sdir);
	return deleted;
}

int snapshot_migrate(const char *dir, char *err, size_t errlen)
{
	char sdir[SNAPSHOT_PATH_MAX], from[SNAPSHOT_PATH_MAX + 32],
	    to[SNAPSHOT_PATH_MAX];
	raft_index *idx;
	size_t n;
	if (scan(dir, SNAPSHOT_LEGACY_SUFFIX, &idx, &n, err, errlen) != 0)
		return -1;
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, dir);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(from, sizeof(from),
			 "%s/snap-%016" PRIx64 SNAPSHOT_LEGACY_SUFFIX, sdir,
			 idx[i]);
		snapshot_data_path(dir, idx[i], to);
		if (rename(from, to) != 0)
			rc = util_fail(err, errlen, "cannot rename %s: %s",
				       from, strerror(errno));
	}
	free(idx);
	if (rc == 0 && n > 0 && durable_sync_dir(sdir) != 0)
		return util_fail(err, errlen, "cannot sync %s: %s", sdir,
				 strerror(errno));
	return rc != 0 ? -1 : (int)n;
}
