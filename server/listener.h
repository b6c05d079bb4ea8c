/* listener.h - opening the client and peer listening sockets. */
#ifndef SERVER_LISTENER_H_
#define SERVER_LISTENER_H_

#include <stddef.h>

#include "config.h"

/* Binds and listens on @addr (non-blocking, close-on-exec, SO_REUSEADDR so
 * a restart does not wait for TIME_WAIT). Returns the socket, or -1 with
 * one line in @err ("cannot listen on 127.0.0.1:7001: Address already in
 * use"). */
int listener_open(const struct config_addr *addr, char *err, size_t errlen);

#endif /* SERVER_LISTENER_H_ */
