/* peer_trust.h - whether a member's peer port trusts its network: the
 * startup warning of a peer listener that anyone may reach and nothing
 * protects. */
#ifndef SERVER_PEER_TRUST_H_
#define SERVER_PEER_TRUST_H_

#include <stdbool.h>

/* Whether @host (an IP literal without brackets, or a name, as given to
 * --listen-peer) is a loopback address: 127.0.0.0/8, ::1, "localhost". A
 * wildcard (0.0.0.0, ::) is not. */
bool peer_trust_loopback(const char *host);

/* Whether kvd warns at start that its peer port trusts the network: the
 * peer listener on @host is not loopback, and neither a peer token
 * (@has_token) nor peer TLS (@has_tls) protects it. Without either, any
 * process that reaches the port can send raft messages as a member, and a
 * member added at any address is sent the log (no proof of membership is
 * asked: there is no secret to prove). */
bool peer_trust_warn(const char *host, bool has_token, bool has_tls);

#endif /* SERVER_PEER_TRUST_H_ */
