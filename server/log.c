/* log.c - formatted log lines on stdout (see log.h). */
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t log_id;
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_init(uint64_t id, enum log_level min_level)
{
	log_id = id;
	log_min = min_level;
	/* Line-buffered even when stdout is a file, so a crash loses no line
	 * already logged and logs of several members interleave by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_enabled(enum log_level level)
{
	return level >= log_min;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_min)
		return;
	struct timespec ts;
	struct tm tm;
	char msg[1024];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio locks the stream for the whole call, so
	 * lines from the WAL writer thread never interleave mid-line. */
	fprintf(stdout,
		"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%" PRIu64 "] %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
		log_id, msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
