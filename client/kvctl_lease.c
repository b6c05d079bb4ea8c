/* kvctl_lease.c - `kvctl lease grant|keepalive|revoke|info|list`: leases
 * (DESIGN.md §1.6) from the command line. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kvctl_cmd.h"

const char kvctl_lease_usage[] =
    "kvctl lease grant TTL | keepalive ID [--once] | revoke ID | info ID | "
    "list";
const char kvctl_lease_help[] =
    "usage: kvctl lease grant TTL | keepalive ID [--once] | revoke ID |\n"
    "                   info ID | list\n"
    "grant: grants a lease of TTL seconds (1..86400) and prints its id\n"
    "(-o json: {\"id\", \"ttl\"}). Attach keys with kvctl put KEY VALUE\n"
    "--lease ID: they are deleted when the lease ends.\n"
    "keepalive: keeps lease ID alive, every TTL/3 (after a failure every\n"
    "TTL/10), printing its TTL each time, until SIGINT or SIGTERM (exit 0)\n"
    "or the lease is gone (exit 1); --once sends one keepalive.\n"
    "revoke: ends lease ID now and prints how many keys were deleted.\n"
    "info: its TTL, the milliseconds left and its keys. list: one line per\n"
    "lease, ID TTL REMAINING_MS. An unknown lease exits 1.";

static int lease_gone(const struct global *g, uint64_t id)
{
	char text[96];
	snprintf(text, sizeof(text), "lease %" PRIu64 " not found", id);
	report_text(g, "not_found", text);
	return EXIT_NOTFOUND;
}

static int parse_id(const char *s, uint64_t *id)
{
	if (parse_u64(s, id) < 0 || *id == 0)
		return fail_usage(cmd_current->usage, "bad lease ID %s", s);
	return 0;
}

/* Sleeps @ms unless SIGINT or SIGTERM comes first. */
static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (!kvctl_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int keepalive(struct global *g, uint64_t id, bool once)
{
	if (!once) {
		/* No SA_RESTART: a signal ends the pause at once. */
		catch_stop_signals();
	}
	uint64_t ttl_ms = 3000;
	while (!kvctl_stop) {
		uint64_t ttl = 0;
		int rc = kvc_lease_keepalive(g->h, id, &ttl);
		if (rc == KVC_ENOTFOUND)
			return lease_gone(g, id);
		if (rc < 0) {
			if (once)
				return report(g, rc);
			/* Keep trying: the lease may outlive a short outage;
			 * if not, the next answer says it is gone. */
			report(g, rc);
			sleep_ms(ttl_ms / 10 ? ttl_ms / 10 : 1);
			continue;
		}
		if (g->json)
			print_json(json_pack("{s:I,s:I}", "id", (json_int_t)id,
					     "ttl", (json_int_t)ttl));
		else
			printf("%" PRIu64 "\n", ttl);
		if (fflush(stdout) != 0)
			return EXIT_OTHER;
		if (once)
			return EXIT_OK;
		ttl_ms = ttl * 1000;
		sleep_ms(ttl_ms / 3);
	}
	return EXIT_OK;
}

static int info(struct global *g, uint64_t id)
{
	struct kvc_lease *l;
	int rc = kvc_lease_info(g->h, id, &l);
	if (rc == KVC_ENOTFOUND)
		return lease_gone(g, id);
	if (rc < 0)
		return report(g, rc);
	if (g->json) {
		json_t *keys = json_array();
		for (size_t i = 0; keys && i < l->n_keys; i++)
			json_array_append_new(keys, json_string(l->keys[i]));
		print_json(
		    json_pack("{s:I,s:I,s:I,s:o}", "id", (json_int_t)l->id,
			      "ttl", (json_int_t)l->ttl, "remaining_ms",
			      (json_int_t)l->remaining_ms, "keys", keys));
	} else {
		printf("id %" PRIu64 "\nttl %" PRIu64 "\nremaining_ms %" PRIu64
		       "\n",
		       l->id, l->ttl, l->remaining_ms);
		for (size_t i = 0; i < l->n_keys; i++)
			printf("key %s\n", l->keys[i]);
	}
	kvc_leases_free(l, 1);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

static int list(struct global *g)
{
	struct kvc_lease *ls;
	size_t n;
	int rc = kvc_lease_list(g->h, &ls, &n);
	if (rc < 0)
		return report(g, rc);
	json_t *arr = g->json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (arr)
			json_array_append_new(
			    arr,
			    json_pack("{s:I,s:I,s:I}", "id",
				      (json_int_t)ls[i].id, "ttl",
				      (json_int_t)ls[i].ttl, "remaining_ms",
				      (json_int_t)ls[i].remaining_ms));
		else
			printf("%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
			       ls[i].id, ls[i].ttl, ls[i].remaining_ms);
	}
	if (g->json)
		print_json(json_pack("{s:o}", "leases", arr));
	kvc_leases_free(ls, n);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

int kvctl_cmd_lease(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--once", false}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[2];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 2);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np < 1)
		return fail_usage(cmd_current->usage, "%s",
				  "missing subcommand");
	const char *sub = pos[0];
	bool takes_arg = strcmp(sub, "list") != 0;
	if (strcmp(sub, "grant") && strcmp(sub, "keepalive") &&
	    strcmp(sub, "revoke") && strcmp(sub, "info") && strcmp(sub, "list"))
		return fail_usage(cmd_current->usage, "unknown subcommand %s",
				  sub);
	if (takes_arg && np < 2)
		return fail_usage(cmd_current->usage, "%s needs an argument",
				  sub);
	if (!takes_arg && np > 1)
		return fail_usage(cmd_current->usage, "unexpected argument %s",
				  pos[1]);
	if (flags[0] && strcmp(sub, "keepalive") != 0)
		return fail_usage(cmd_current->usage, "%s",
				  "--once goes with keepalive");
	uint64_t n = 0;
	if (strcmp(sub, "grant") == 0) {
		if (parse_u64(pos[1], &n) < 0 || n < 1 || n > 86400)
			return fail_usage(cmd_current->usage,
					  "bad TTL %s (1..86400 seconds)",
					  pos[1]);
	} else if (takes_arg && parse_id(pos[1], &n) != 0) {
		return EXIT_USAGE;
	}
	int ec = open_handle(g);
	if (ec)
		return ec;
	if (strcmp(sub, "grant") == 0) {
		uint64_t id;
		int rc = kvc_lease_grant(g->h, n, &id);
		if (rc < 0)
			return report_write(g, rc, "the grant");
		return print_pair(g, "id", id, "ttl", n, id);
	}
	if (strcmp(sub, "keepalive") == 0)
		return keepalive(g, n, flags[0]);
	if (strcmp(sub, "revoke") == 0) {
		uint64_t deleted = 0;
		int rc = kvc_lease_revoke(g->h, n, &deleted);
		if (rc == KVC_ENOTFOUND)
			return lease_gone(g, n);
		if (rc < 0)
			return report_write(g, rc, "the revoke");
		return print_pair(g, "id", n, "deleted", deleted, deleted);
	}
	if (strcmp(sub, "info") == 0)
		return info(g, n);
	return list(g);
}
