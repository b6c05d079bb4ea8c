/* node_log.h - the node's log lines, handed to the program's sink
 * (kvdraft_node_options.log) or written to stderr.
 *
 * The node's files write log_info(...) and the like; here those names
 * lead to node_log_msg(), so a program with a logger of its own under
 * those names links both. The sink is the process's (the last node
 * opened sets it) and is called from the loop, the WAL writer and the
 * snapshot threads: it must be thread-safe.
 */
#ifndef RAFT_NODE_LOG_H_
#define RAFT_NODE_LOG_H_

#include <stdbool.h>

#include "kvdraft_node.h"

enum log_level {
	LOG_LEVEL_DEBUG = KVDRAFT_LOG_DEBUG,
	LOG_LEVEL_INFO = KVDRAFT_LOG_INFO,
	LOG_LEVEL_WARN = KVDRAFT_LOG_WARN,
	LOG_LEVEL_ERROR = KVDRAFT_LOG_ERROR
};

/* Sets the sink (NULL: stderr) and the lowest level passed on. */
void node_log_set(void (*fn)(void *ctx, int level, const char *line), void *ctx,
		  int min_level);

/* Whether lines of @level are passed on (to skip costly formatting). */
bool node_log_enabled(int level);

void node_log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_enabled(level) node_log_enabled(level)
#define log_msg(...)	   node_log_msg(__VA_ARGS__)
#define log_debug(...)	   node_log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)	   node_log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)	   node_log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...)	   node_log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif /* RAFT_NODE_LOG_H_ */
