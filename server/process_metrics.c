/* process_metrics.c - process_* metrics from /proc/self (see
 * process_metrics.h), the names every Prometheus client library uses so
 * that stock dashboards and alerts work. */
#include "process_metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* utime + stime (clock ticks) and the virtual size (bytes) from
 * /proc/self/stat: fields 14, 15 and 23, counted after the command name,
 * which is in parentheses and may hold spaces. */
static int read_stat(double *cpu_seconds, double *vsize)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	unsigned long utime, stime, vs;
	/* After ") ": state(3) ... utime(14) stime(15) ... vsize(23). */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d "
		   "%*d %*d %*d %*d %*d %*u %lu",
		   &utime, &stime, &vs) != 3)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return -1;
	*cpu_seconds = (double)(utime + stime) / (double)hz;
	*vsize = (double)vs;
	return 0;
}

static int read_rss(double *rss)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -1;
	int ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	if (!ok || page <= 0)
		return -1;
	*rss = (double)resident * (double)page;
	return 0;
}

static int count_fds(double *n)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	long k = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			k++;
	closedir(d);
	*n = (double)(k > 0 ? k - 1 : 0); /* not the directory's own fd */
	return 0;
}

void process_metrics_render(struct evbuffer *out, double start_time)
{
	double cpu, vsize, rss, fds;
	struct rlimit rl;
	if (read_stat(&cpu, &vsize) == 0) {
		metrics_write_value(out, "process_cpu_seconds_total", "counter",
				    "Total user and system CPU time spent in "
				    "seconds.",
				    cpu);
		metrics_write_value(out, "process_virtual_memory_bytes",
				    "gauge", "Virtual memory size in bytes.",
				    vsize);
	}
	if (read_rss(&rss) == 0)
		metrics_write_value(out, "process_resident_memory_bytes",
				    "gauge", "Resident memory size in bytes.",
				    rss);
	if (count_fds(&fds) == 0)
		metrics_write_value(out, "process_open_fds", "gauge",
				    "Number of open file descriptors.", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		metrics_write_value(out, "process_max_fds", "gauge",
				    "Maximum number of open file descriptors.",
				    (double)rl.rlim_cur);
	metrics_write_value(out, "process_start_time_seconds", "gauge",
			    "Start time of the process since unix epoch in "
			    "seconds.",
			    start_time);
}
