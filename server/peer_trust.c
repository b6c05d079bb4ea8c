/* peer_trust.c - whether the peer listener trusts its network (see
 * peer_trust.h). */
#include "peer_trust.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

bool peer_trust_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL || host[0] == '\0')
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

bool peer_trust_warn(const char *host, bool has_token, bool has_tls)
{
	return !has_token && !has_tls && !peer_trust_loopback(host);
}
