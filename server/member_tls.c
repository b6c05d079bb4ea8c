/* member_tls.c - connections from kvd to other members' client URLs,
 * over HTTPS when the URL says so (see member_tls.h). */
#include "member_tls.h"

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>

#include "tls.h"

struct member_tls {
	struct tls_client *tls;
};

struct member_tls *member_tls_new(const struct config *cfg, char *err,
				  size_t errlen)
{
	if (errlen > 0)
		err[0] = '\0';
	if (cfg->client_cert == NULL)
		return NULL;
	struct member_tls *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "client TLS: out of memory");
		return NULL;
	}
	/* The listener's own context warned of the same files already.
	 * Without a client CA, the members' certificates are most likely
	 * signed by the CA their peers trust: a relay to the leader then
	 * works with one private CA; without either, the system's store. */
	struct tls_files tf = {.name = "client",
			       .cert = cfg->client_cert,
			       .key = cfg->client_key,
			       .ca = cfg->client_ca != NULL ? cfg->client_ca
							    : cfg->peer_ca,
			       .warn = tls_no_warn};
	m->tls = tls_client_new(&tf, err, errlen);
	if (m->tls == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

int member_tls_reload(struct member_tls *m, char *err, size_t errlen)
{
	return tls_client_reload(m->tls, err, errlen);
}

struct evhttp_connection *member_tls_connect(struct member_tls *m,
					     struct event_base *base,
					     const char *url,
					     struct config_addr *a)
{
	int https = config_url_https(url);
	if ((https && m == NULL) || config_parse_url_scheme(url, https, a) != 0)
		return NULL;
	struct bufferevent *bev = NULL;
	if (https) {
		bev = tls_client_bev(m->tls, base, a->host);
		if (bev == NULL)
			return NULL;
	}
	struct evhttp_connection *conn = evhttp_connection_base_bufferevent_new(
	    base, NULL, bev, a->host, a->port);
	if (conn == NULL && bev != NULL)
		bufferevent_free(bev);
	return conn;
}

void member_tls_free(struct member_tls *m)
{
	if (m == NULL)
		return;
	tls_client_free(m->tls);
	free(m);
}
