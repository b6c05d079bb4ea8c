/* kvctl_probe.c - ask several members at once (see kvctl_probe.h). */
#include "kvctl_probe.h"

#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The arguments of one probing thread. */
struct job {
	struct kvctl_probe *p;
	const struct kvc_options *sec;
	int deadline_ms;
	bool ready;
};

/* A member that does not answer within this long is as good as down; one
 * attempt per question keeps a status listing quick. */
#define PROBE_CONNECT_MS 1000

static void *probe_one(void *arg)
{
	struct job *j = arg;
	struct kvctl_probe *p = j->p;
	/* A handle per thread: libkvc handles are not thread-safe. */
	struct kvc_options o;
	kvc_options_init(&o);
	o.token = j->sec->token;
	o.cacert = j->sec->cacert;
	o.cert = j->sec->cert;
	o.key = j->sec->key;
	o.connect_timeout_ms = j->deadline_ms < PROBE_CONNECT_MS
				   ? j->deadline_ms
				   : PROBE_CONNECT_MS;
	o.request_timeout_ms = j->deadline_ms;
	o.retry_deadline_ms = j->deadline_ms;
	struct kvc *h;
	p->status_rc = kvc_open(p->url, &o, &h);
	p->ready_rc = p->status_rc;
	if (p->status_rc < 0) {
		snprintf(p->err, sizeof(p->err), "%s", kvc_open_error());
		return NULL;
	}
	double t0 = clock_now_seconds();
	p->status_rc = kvc_status(h, p->url, &p->st);
	p->took_ms = (clock_now_seconds() - t0) * 1000.0;
	if (p->status_rc < 0) {
		p->ready_rc = p->status_rc;
		snprintf(p->err, sizeof(p->err), "%s", kvc_errmsg(h));
	} else if (j->ready) {
		p->ready_rc = kvc_ready(h, p->url);
		if (p->ready_rc < 0)
			snprintf(p->err, sizeof(p->err), "%s", kvc_errmsg(h));
	}
	kvc_close(h);
	return NULL;
}

void kvctl_probe_all(struct kvctl_probe *p, size_t n,
		     const struct kvc_options *sec, int deadline_ms, bool ready)
{
	if (deadline_ms < 1)
		deadline_ms = 1;
	pthread_t *tid = calloc(n ? n : 1, sizeof(*tid));
	struct job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	bool *started = calloc(n ? n : 1, sizeof(*started));
	if (!tid || !jobs || !started) {
		for (size_t i = 0; i < n; i++) {
			p[i].st = NULL;
			p[i].status_rc = p[i].ready_rc = KVC_ENOMEM;
			snprintf(p[i].err, sizeof(p[i].err), "out of memory");
		}
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		p[i].st = NULL;
		p[i].err[0] = '\0';
		p[i].took_ms = 0;
		if (!p[i].url || !*p[i].url) {
			/* A member that has not told its client URL yet. */
			p[i].status_rc = p[i].ready_rc = KVC_EINVAL;
			snprintf(p[i].err, sizeof(p[i].err), "no client URL");
			continue;
		}
		jobs[i] = (struct job){.p = &p[i],
				       .sec = sec,
				       .deadline_ms = deadline_ms,
				       .ready = ready};
		started[i] =
		    pthread_create(&tid[i], NULL, probe_one, &jobs[i]) == 0;
		if (!started[i]) {
			/* No thread: ask from here, one after another. */
			probe_one(&jobs[i]);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
out:
	free(tid);
	free(jobs);
	free(started);
}

void kvctl_probe_clear(struct kvctl_probe *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kvc_status_free(p[i].st);
		p[i].st = NULL;
	}
}
