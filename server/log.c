/* log.c - formatted log lines on stderr (see log.h). */
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Lines logged while the member starts are held until it serves (at most
 * this many bytes; beyond, they are written as they come): a start that
 * fails then prints its one line alone. */
#define HELD_MAX (256u * 1024)

static uint64_t log_id;
static enum log_level log_min = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static int holding;
static char *held;
static size_t held_len;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

void log_init(uint64_t id, enum log_level min_level, enum log_format format)
{
	log_id = id;
	log_min = min_level;
	log_fmt = format;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_json[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int log_enabled(enum log_level level)
{
	return level >= log_min;
}

/* A process that exits while lines are held (a fatal error of the node
 * during start calls exit(1) after its log line) writes them first:
 * only log_release(0), for a start that prints its own line, drops
 * them. */
static void write_held_at_exit(void)
{
	log_release(1);
}

void log_hold(void)
{
	static int registered;
	pthread_mutex_lock(&held_lock);
	holding = 1;
	pthread_mutex_unlock(&held_lock);
	if (!registered && atexit(write_held_at_exit) == 0)
		registered = 1;
}

void log_release(int write_held)
{
	pthread_mutex_lock(&held_lock);
	if (write_held && held_len > 0)
		fwrite(held, 1, held_len, stderr);
	free(held);
	held = NULL;
	held_len = 0;
	holding = 0;
	pthread_mutex_unlock(&held_lock);
}

/* @s as the inside of a JSON string: quotes, backslashes and control
 * bytes escaped (other bytes as they are: messages are UTF-8 or ASCII). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_min)
		return;
	struct timespec ts;
	struct tm tm;
	char msg[1024], line[2300];
	int n;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	char when[96];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (log_fmt == LOG_FORMAT_JSON) {
		char esc[2200];
		json_escape(esc, sizeof(esc), msg);
		n = snprintf(
		    line, sizeof(line),
		    "{\"ts\":\"%s\",\"level\":\"%s\",\"member\":%" PRIu64
		    ",\"msg\":\"%s\"}\n",
		    when, level_json[level], log_id, esc);
	} else {
		n = snprintf(line, sizeof(line), "%s %-5s [%" PRIu64 "] %s\n",
			     when, level_names[level], log_id, msg);
	}
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	pthread_mutex_lock(&held_lock);
	if (holding && held_len + len <= HELD_MAX) {
		char *p = realloc(held, held_len + len);
		if (p != NULL) {
			held = p;
			memcpy(held + held_len, line, len);
			held_len += len;
			pthread_mutex_unlock(&held_lock);
			return;
		}
	}
	if (holding) { /* too much to hold: what was held goes first */
		fwrite(held, 1, held_len, stderr);
		free(held);
		held = NULL;
		held_len = 0;
		holding = 0;
	}
	/* One write per line (stderr is unbuffered), under the lock, so
	 * lines of the loop and the WAL writer thread never interleave. */
	fwrite(line, 1, len, stderr);
	pthread_mutex_unlock(&held_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
