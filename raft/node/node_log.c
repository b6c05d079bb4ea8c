/* node_log.c - the node's log sink (see node_log.h). */
#include "node_log.h"

#include <stdarg.h>
#include <stdio.h>

/* Set before the node's threads start and read by them afterwards: the
 * thread creation orders the write before their reads. */
static void (*sink)(void *ctx, int level, const char *line);
static void *sink_ctx;
static int min_level = KVDRAFT_LOG_INFO;

void node_log_set(void (*fn)(void *ctx, int level, const char *line), void *ctx,
		  int level)
{
	sink = fn;
	sink_ctx = ctx;
	min_level = level;
}

bool node_log_enabled(int level)
{
	return level >= min_level;
}

void node_log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	if (level < min_level)
		return;
	if (level < KVDRAFT_LOG_DEBUG || level > KVDRAFT_LOG_ERROR)
		level = KVDRAFT_LOG_ERROR;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (sink != NULL)
		sink(sink_ctx, level, line);
	else
		fprintf(stderr, "kvdraft: %s %s\n", names[level], line);
}
