/* write_now.h - a connection's bytes written from the caller's turn.
 *
 * A bufferevent writes what it is given in the loop's next turn: it turns
 * on the socket's interest in writing, the poll reports the socket
 * writable, it writes, and it turns the interest off again. For a message
 * on the path of a request (a peer's stream frame, an answer to a client)
 * that turn is latency and system calls spent on every message. These
 * write what the socket takes at once, from the caller's turn, when
 * nothing waits before it; the rest, and every failure, stay the
 * bufferevent's, which writes when the socket has room and reports errors
 * through its event callback as before.
 *
 * Plain socket bufferevents and the TLS ones tls.c makes (a TLS write is
 * one record at most: OpenSSL must be handed the same bytes again when it
 * could not finish a record, and libevent's retry does so when the output
 * within one record is one chunk, which tls.c keeps it). Any other kind
 * (a filter) is left alone: its own output may hold bytes that go first.
 *
 * Threads: none; call from the bufferevent's loop thread. */
#ifndef RAFT_PEER_WRITE_NOW_H_
#define RAFT_PEER_WRITE_NOW_H_

#include <stdbool.h>

struct bufferevent;
struct evbuffer;

/* Writes what @bev's socket takes at once of @data, moving it out of
 * @data, when @bev's output is empty; the caller hands what is left to
 * the bufferevent. */
void write_now(struct bufferevent *bev, struct evbuffer *data);

/* Writes @bev's output in the same way; true when nothing of it is left
 * (and it held something). */
bool write_now_output(struct bufferevent *bev);

#endif /* RAFT_PEER_WRITE_NOW_H_ */
