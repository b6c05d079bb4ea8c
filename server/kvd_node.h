/* kvd_node.h - kvd's member: the store (kv_app.c) opened first, then
 * libkvdraft's node around it with kvd's flags as the node's options.
 */
#ifndef SERVER_KVD_NODE_H_
#define SERVER_KVD_NODE_H_

#include <stddef.h>

#include "kv_app.h"
#include "kvdraft_node.h"

struct config;
struct event_base;
struct evhttp;

/* Opens @store from @cfg and the node on @base, its peer routes on
 * @peer_http. 0 with *@out, or -1 with one line in @err (the store is
 * closed again). Afterwards: kvdraft_node_close(*@out), then
 * kv_app_close(@store). */
int kvd_node_open(const struct config *cfg, struct event_base *base,
		  struct evhttp *peer_http, struct kv_app *store,
		  struct kvdraft_node **out, char *err, size_t errlen);

#endif /* SERVER_KVD_NODE_H_ */
