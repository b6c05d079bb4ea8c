/* log.h - kvd's log lines: level, UTC time in ms, member id, message.
 *
 *   2026-11-25T19:40:01.123Z INFO  [1] elected leader term=3
 *
 * or, with --log-format json, one object a line:
 *
 *   {"ts":"2026-11-25T19:40:01.123Z","level":"info","member":1,"msg":"..."}
 *
 * Lines go to stderr (stdout stays free). While the member starts they are
 * held (log_hold()) and written once it serves, so that a start that fails
 * prints its one line alone (DESIGN.md §1.2). Safe to call from any
 * thread: each line is one write under a lock.
 */
#ifndef SERVER_LOG_H_
#define SERVER_LOG_H_

#include <stdarg.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3
};

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* Sets the member id shown in each line, the lowest level written and the
 * format. Before log_init() lines show id 0 at level INFO, as text. */
void log_init(uint64_t id, enum log_level min_level, enum log_format format);

/* Parses "text" or "json". Returns 0, or -1 if unknown. */
int log_format_parse(const char *s, enum log_format *out);

/* From now on lines are held in memory (up to 256 KiB; beyond, written as
 * they come) until log_release(), which writes them when @write_held,
 * else drops them (a start that failed prints its own line). A process
 * that exits while lines are held writes them then. */
void log_hold(void);
void log_release(int write_held);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);

/* Whether lines of @level are written (to skip costly formatting). */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif /* SERVER_LOG_H_ */
