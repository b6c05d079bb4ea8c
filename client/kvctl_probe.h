/* kvctl_probe.h - ask several members at once (kvctl status, endpoint
 * health, endpoint status): one thread and one libkvc handle per member,
 * so the slowest member, not their sum, bounds the wait. */
#ifndef CLIENT_KVCTL_PROBE_H_
#define CLIENT_KVCTL_PROBE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvc.h"

/* What one member answered. */
struct kvctl_probe {
	const char *url;       /* in: the member's client URL (not owned) */
	int status_rc;	       /* kvc_status()'s result */
	struct kvc_status *st; /* its answer when status_rc is 0 (owned) */
	double took_ms;	       /* round-trip of GET /v1/status */
	int ready_rc;	       /* kvc_ready()'s result, when asked */
	char err[256];	       /* why status_rc or ready_rc is not 0 */
};

/* Asks each of the @n members of @p for its status (and, with @ready, for
 * /readyz too), all in parallel, each giving up after @deadline_ms, with
 * @sec's token and TLS files (its other fields are not read). Fills every
 * entry (status_rc KVC_ENOMEM when a thread could not start). */
void kvctl_probe_all(struct kvctl_probe *p, size_t n,
		     const struct kvc_options *sec, int deadline_ms,
		     bool ready);

/* Releases what kvctl_probe_all() stored in the @n entries of @p. */
void kvctl_probe_clear(struct kvctl_probe *p, size_t n);

#endif /* CLIENT_KVCTL_PROBE_H_ */
