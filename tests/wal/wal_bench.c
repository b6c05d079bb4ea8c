/* wal_bench.c - micro-benchmark of the WAL: append + fdatasync per batch.
 *
 * Usage: wal_bench [--dir DIR] [--seconds S] [--segment-bytes N]
 * For batches of 1, 16 and 256 entries of 100-byte payloads, each batch
 * being one wal_append followed by one wal_sync, prints batches (appends)
 * per second, entries per second, and the 99th percentile and the largest
 * time of one append + sync (where new segments and preallocation steps
 * show). Without --dir it works in a fresh temporary directory under /tmp
 * and removes it afterwards. --segment-bytes is the WAL's segment_bytes
 * (default: the WAL's default).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wal.h"

#define PAYLOAD_BYTES 100
#define MAX_BATCH     256
/* Batch times kept for the percentile; later batches are only counted. */
#define MAX_SAMPLES (1u << 20)

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run(const char *dir, const struct wal_options *opts, size_t batch,
	       double seconds)
{
	static uint8_t payload[PAYLOAD_BYTES];
	struct raft_entry ents[MAX_BATCH];
	struct wal *w = NULL;
	char err[512];
	double t0, t, b0, worst = 0, *lat;
	uint64_t batches = 0;
	size_t nlat = 0;
	raft_index next;
	int rc;

	memset(payload, 'x', sizeof(payload));
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	if (lat == NULL) {
		fprintf(stderr, "wal_bench: out of memory\n");
		return 1;
	}
	rc = wal_open(dir, opts, &w, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "wal_bench: %s\n", err);
		free(lat);
		return 1;
	}
	next = wal_last_index(w) + 1;
	t0 = now_s();
	do {
		for (size_t i = 0; i < batch; i++) {
			ents[i].term = 1;
			ents[i].index = next + i;
			ents[i].type = RAFT_ENTRY_NORMAL;
			ents[i].len = PAYLOAD_BYTES;
			ents[i].data = payload;
		}
		b0 = now_s();
		rc = wal_append(w, ents, batch, err, sizeof(err));
		if (rc == 0)
			rc = wal_sync(w, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "wal_bench: %s\n", err);
			wal_close(w);
			free(lat);
			return 1;
		}
		t = now_s();
		if (t - b0 > worst)
			worst = t - b0;
		if (nlat < MAX_SAMPLES)
			lat[nlat++] = t - b0;
		next += batch;
		batches++;
		t -= t0;
	} while (t < seconds);
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	printf("batch %3zu: %9.0f appends/s %10.0f entries/s  (%llu batches, "
	       "%.2f s; append+sync p99 %.2f ms, max %.2f ms)\n",
	       batch, (double)batches / t, (double)(batches * batch) / t,
	       (unsigned long long)batches, t, lat[nlat * 99 / 100] * 1e3,
	       worst * 1e3);
	wal_close(w);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t batches[] = {1, 16, MAX_BATCH};
	char tmpl[] = "/tmp/wal-bench-XXXXXX";
	const char *dir = NULL;
	double seconds = 2.0;
	struct wal_options opts = {0};
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
			if (seconds <= 0 || seconds > 600) {
				fprintf(stderr, "wal_bench: bad --seconds\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--segment-bytes") &&
			   i + 1 < argc) {
			/* wal_open checks the range. */
			opts.segment_bytes = strtoull(argv[++i], NULL, 10);
			if (opts.segment_bytes == 0) {
				fprintf(stderr,
					"wal_bench: bad --segment-bytes\n");
				return 2;
			}
		} else {
			fprintf(stderr,
				"usage: wal_bench [--dir DIR] [--seconds "
				"S] [--segment-bytes N]\n");
			return 2;
		}
	}
	if (dir == NULL) {
		dir = mkdtemp(tmpl);
		if (dir == NULL) {
			perror("wal_bench: mkdtemp");
			return 1;
		}
	}
	printf("wal_bench: %s, %d-byte payloads, one fdatasync per batch\n",
	       dir, PAYLOAD_BYTES);
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]) && !rc; i++)
		rc = run(dir, &opts, batches[i], seconds);
	if (dir == tmpl)
		nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
