/* kvctl.c - command-line client for a kvd cluster, built on libkvc. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kvc.h"
#include "kvctl_print.h"
#include "kvctl_snapshot.h"
#include "kvctl_watch.h"

#define EXIT_OK		 0
#define EXIT_NOTFOUND	 1 /* not found or CAS failed */
#define EXIT_USAGE	 2
#define EXIT_UNAVAILABLE 3 /* cluster unavailable or timed out */
#define EXIT_OTHER	 4

/* The members scripts/run starts. */
#define DEFAULT_ENDPOINTS                                                      \
	"http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003"
#define MAX_STDIN_BYTES		  (64u << 20) /* a value read from stdin */
#define LIST_PAGE		  1000
#define LIST_MAX_LIMIT		  10000
#define STATUS_MEMBER_DEADLINE_MS 2000

struct global {
	const char *endpoints;
	double timeout_s;
	bool json;
	struct kvc *h;
};

static const char usage_main[] =
    "usage: kvctl [--endpoints URL,...] [--timeout SEC] [-o text|json] "
    "COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  put KEY [VALUE] [--cas M]   write VALUE (stdin when omitted)\n"
    "  get KEY [--stale]           print the raw value\n"
    "  del KEY [--cas M]           delete KEY\n"
    "  list [PREFIX] [--limit N]   list keys (and values) in key order\n"
    "  status                      one row per member\n"
    "  member list                 list the members\n"
    "  member add ID PEER_URL      add a member\n"
    "  member remove ID            remove a member\n"
    "  leader transfer ID          hand leadership to member ID\n"
    "  snapshot save FILE          download a consistent snapshot (backup)\n"
    "  watch KEY | --prefix P      print each change as it commits\n"
    "\n"
    "Global options:\n"
    "  --endpoints URL,...  client URLs of members (default: "
    "$KVCTL_ENDPOINTS, else\n"
    "                       the members of scripts/run, 127.0.0.1:7001-7003)\n"
    "  --timeout SEC        give up after SEC seconds (default 10)\n"
    "  -o, --output FORMAT  text (default) or json\n"
    "  -h, --help           this help; COMMAND --help for one command\n"
    "\n"
    "Exit status: 0 ok, 1 not found or CAS failed, 2 usage, 3 cluster\n"
    "unavailable or timed out, 4 any other error.\n";

struct command {
	const char *name;
	const char *usage; /* one line */
	const char *help;  /* details */
	int (*run)(struct global *g, int argc, char **argv);
};

static int fail_usage(const char *cmd_usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "kvctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nusage: %s\n", cmd_usage);
	return EXIT_USAGE;
}

static int exit_code(int rc)
{
	switch (rc) {
	case 0:
		return EXIT_OK;
	case KVC_ENOTFOUND:
	case KVC_ECAS:
		return EXIT_NOTFOUND;
	case KVC_EUNAVAILABLE:
	case KVC_ETIMEOUT:
		return EXIT_UNAVAILABLE;
	default:
		return EXIT_OTHER;
	}
}

static int report(struct global *g, int rc)
{
	const char *msg = kvc_errmsg(g->h);
	fprintf(stderr, "kvctl: %s%s%s\n", kvc_strerror(rc), *msg ? ": " : "",
		msg);
	return exit_code(rc);
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Splits argv into positionals and the options of one command. @opts lists
 * option names taking a value ("--cas") and flags ("--stale"); values land
 * in @vals (NULL when absent), flags set @flags. Returns -1 on a usage
 * error (printed), 1 for --help, else 0. */
struct optspec {
	const char *name;
	bool takes_value;
};

static int split_args(const struct command *cmd, int argc, char **argv,
		      const struct optspec *specs, int n_specs,
		      const char **vals, bool *flags, char **pos, int *n_pos,
		      int max_pos)
{
	bool only_pos = false;
	*n_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (!only_pos &&
		    (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0))
			return 1;
		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			int k;
			size_t nl = strcspn(a, "=");
			for (k = 0; k < n_specs; k++)
				if (strlen(specs[k].name) == nl &&
				    strncmp(a, specs[k].name, nl) == 0)
					break;
			if (k == n_specs) {
				fail_usage(cmd->usage, "unknown option %s", a);
				return -1;
			}
			if (!specs[k].takes_value) {
				if (a[nl] == '=') {
					fail_usage(cmd->usage,
						   "%s takes no value",
						   specs[k].name);
					return -1;
				}
				flags[k] = true;
			} else if (a[nl] == '=') {
				vals[k] = a + nl + 1;
			} else if (i + 1 < argc) {
				vals[k] = argv[++i];
			} else {
				fail_usage(cmd->usage, "%s needs a value", a);
				return -1;
			}
			continue;
		}
		if (*n_pos == max_pos) {
			fail_usage(cmd->usage, "unexpected argument %s", a);
			return -1;
		}
		pos[(*n_pos)++] = argv[i];
	}
	return 0;
}

static int open_handle(struct global *g)
{
	struct kvc_options o = {0};
	o.retry_deadline_ms = (int)(g->timeout_s * 1000);
	if (o.retry_deadline_ms < 1)
		o.retry_deadline_ms = 1;
	o.request_timeout_ms =
	    o.retry_deadline_ms < 5000 ? o.retry_deadline_ms : 5000;
	o.connect_timeout_ms = 1000;
	int rc = kvc_open(g->endpoints, &o, &g->h);
	if (rc == KVC_EINVAL) {
		fprintf(stderr, "kvctl: bad --endpoints: %s\n", g->endpoints);
		return EXIT_USAGE;
	}
	if (rc < 0) {
		fprintf(stderr, "kvctl: %s\n", kvc_strerror(rc));
		return EXIT_OTHER;
	}
	return EXIT_OK;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

static int read_stdin(void **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (!b)
		return KVC_ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_STDIN_BYTES) {
				free(b);
				return KVC_ETOO_LARGE;
			}
			cap *= 2;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				return KVC_ENOMEM;
			}
			b = nb;
		}
		size_t got = fread(b + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(b);
				return KVC_EINVAL;
			}
			break;
		}
	}
	*buf = b;
	*len = n;
	return 0;
}

static const struct command *cmd_current;

/* Parses `KEY [MORE...] [--cas M]` for put and del: up to @max_pos
 * positionals (KEY required) into @pos, *@np of them. Returns true with
 * *@has_cas and *@cas set; else false with *@ec the exit code, the help or
 * a usage error printed. */
static bool key_cas_args(int argc, char **argv, char **pos, int max_pos,
			 int *np, bool *has_cas, uint64_t *cas, int *ec)
{
	const struct optspec specs[] = {{"--cas", true}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   np, max_pos);
	if (r) {
		*ec = r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
		return false;
	}
	if (*np < 1) {
		*ec = fail_usage(cmd_current->usage, "%s", "missing KEY");
		return false;
	}
	*has_cas = vals[0] != NULL;
	*cas = 0;
	if (vals[0] && parse_u64(vals[0], cas) < 0) {
		*ec = fail_usage(cmd_current->usage, "bad --cas %s", vals[0]);
		return false;
	}
	return true;
}

/* A failed compare-and-swap: says the key's current mod index, exit 1. */
static int cas_failed(const char *key, uint64_t index)
{
	fprintf(stderr,
		"kvctl: compare-and-swap failed: the current mod "
		"index of %s is %" PRIu64 "\n",
		key, index);
	return EXIT_NOTFOUND;
}

/* --- put --- */
static int cmd_put(struct global *g, int argc, char **argv)
{
	char *pos[2];
	int np, ec;
	bool has_cas;
	uint64_t cas;
	if (!key_cas_args(argc, argv, pos, 2, &np, &has_cas, &cas, &ec))
		return ec;
	ec = open_handle(g);
	if (ec)
		return ec;
	void *value;
	size_t len;
	int rc;
	if (np == 2) {
		value = pos[1];
		len = strlen(pos[1]);
	} else {
		rc = read_stdin(&value, &len);
		if (rc < 0) {
			fprintf(stderr, "kvctl: reading stdin: %s\n",
				kvc_strerror(rc));
			return EXIT_OTHER;
		}
	}
	uint64_t index = 0;
	rc = has_cas ? kvc_cas_put(g->h, pos[0], value, len, cas, &index)
		     : kvc_put(g->h, pos[0], value, len, &index);
	if (np < 2)
		free(value);
	if (rc == KVC_ECAS)
		return cas_failed(pos[0], index);
	if (rc < 0)
		return report(g, rc);
	if (g->json)
		print_json(json_pack("{s:I}", "index", (json_int_t)index));
	else
		printf("%" PRIu64 "\n", index);
	return EXIT_OK;
}

/* --- get --- */
static int cmd_get(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--stale", false}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 1);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np < 1)
		return fail_usage(cmd_current->usage, "%s", "missing KEY");
	int ec = open_handle(g);
	if (ec)
		return ec;
	void *value;
	size_t len;
	uint64_t index;
	int rc = kvc_get(g->h, pos[0], flags[0] ? KVC_GET_STALE : 0, &value,
			 &len, &index);
	if (rc < 0)
		return report(g, rc);
	if (g->json) {
		char *b = kvctl_b64_encode(value, len);
		if (b)
			print_json(json_pack("{s:s,s:s,s:I}", "key", pos[0],
					     "value", b, "index",
					     (json_int_t)index));
		free(b);
	} else {
		fwrite(value, 1, len, stdout);
	}
	free(value);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

/* --- del --- */
static int cmd_del(struct global *g, int argc, char **argv)
{
	char *pos[1];
	int np, ec;
	bool has_cas;
	uint64_t cas;
	if (!key_cas_args(argc, argv, pos, 1, &np, &has_cas, &cas, &ec))
		return ec;
	ec = open_handle(g);
	if (ec)
		return ec;
	uint64_t index = 0;
	bool deleted = false;
	int rc = has_cas ? kvc_cas_delete(g->h, pos[0], cas, &index, &deleted)
			 : kvc_delete(g->h, pos[0], &index, &deleted);
	if (rc == KVC_ECAS)
		return cas_failed(pos[0], index);
	if (rc < 0)
		return report(g, rc);
	if (g->json)
		print_json(json_pack("{s:I,s:b}", "index", (json_int_t)index,
				     "deleted", deleted));
	else if (deleted)
		printf("%" PRIu64 "\n", index);
	if (!deleted) {
		fprintf(stderr, "kvctl: not found: %s\n", pos[0]);
		return EXIT_NOTFOUND;
	}
	return EXIT_OK;
}

/* --- list --- */
static int cmd_list(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--limit", true}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 1);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	uint64_t limit = 0;
	if (vals[0] && (parse_u64(vals[0], &limit) < 0 || limit == 0 ||
			limit > LIST_MAX_LIMIT))
		return fail_usage(cmd_current->usage,
				  "bad --limit %s (1..10000)", vals[0]);
	int ec = open_handle(g);
	if (ec)
		return ec;
	const char *prefix = np ? pos[0] : NULL;
	json_t *arr = g->json ? json_array() : NULL;
	char *after = NULL;
	uint64_t shown = 0;
	bool more = false;
	int rc = 0;
	/* Without --limit, page through every match. */
	for (;;) {
		unsigned page = LIST_PAGE;
		if (limit && limit - shown < page)
			page = (unsigned)(limit - shown);
		struct kvc_kv *kvs;
		size_t n;
		rc = kvc_list(g->h, prefix, after, page, &kvs, &n, &more);
		if (rc < 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (arr) {
				char *b = kvctl_b64_encode(kvs[i].value,
							   kvs[i].value_len);
				json_array_append_new(
				    arr, json_pack("{s:s,s:s,s:I}", "key",
						   kvs[i].key, "value",
						   b ? b : "", "index",
						   (json_int_t)kvs[i].index));
				free(b);
			} else {
				kvctl_print_escaped((unsigned char *)kvs[i].key,
						    strlen(kvs[i].key));
				putchar('\t');
				kvctl_print_escaped(kvs[i].value,
						    kvs[i].value_len);
				putchar('\n');
			}
		}
		shown += n;
		if (n) {
			free(after);
			after = strdup(kvs[n - 1].key);
		}
		kvc_kvs_free(kvs, n);
		if (!more || n == 0 || (limit && shown >= limit))
			break;
		if (!after) {
			rc = KVC_ENOMEM;
			break;
		}
	}
	free(after);
	if (rc < 0) {
		json_decref(arr);
		return report(g, rc);
	}
	if (arr)
		print_json(json_pack("{s:o,s:b}", "kvs", arr, "more", more));
	return EXIT_OK;
}

/* --- status --- */
struct row {
	char cells[8][256];
};

static int cmd_status(struct global *g, int argc, char **argv)
{
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, NULL, 0, NULL, NULL, pos,
			   &np, 0);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	int ec = open_handle(g);
	if (ec)
		return ec;
	struct kvc_status *any;
	int rc = kvc_status(g->h, NULL, &any);
	if (rc < 0)
		return report(g, rc);
	/* Each member is asked on its own with a short deadline, so one that
	 * is down costs little. */
	struct kvc_options o = {.connect_timeout_ms = 500,
				.request_timeout_ms = 1000,
				.retry_deadline_ms = STATUS_MEMBER_DEADLINE_MS};
	size_t n = any->n_members;
	struct row *rows = calloc(n + 1, sizeof(*rows));
	json_t *arr = g->json ? json_array() : NULL;
	if (!rows) {
		kvc_status_free(any);
		return report(g, KVC_ENOMEM);
	}
	static const char *const head[8] = {"MEMBER",	  "STATE",    "TERM",
					    "LEADER",	  "COMMIT",   "APPLIED",
					    "CLIENT URL", "REACHABLE"};
	for (int c = 0; c < 8; c++)
		snprintf(rows[0].cells[c], 256, "%s", head[c]);
	for (size_t i = 0; i < n; i++) {
		const struct kvc_member *m = &any->members[i];
		struct kvc_status *st = NULL;
		if (*m->client_url) {
			struct kvc *h1;
			if (kvc_open(m->client_url, &o, &h1) == 0) {
				if (kvc_status(h1, m->client_url, &st) < 0)
					st = NULL;
				kvc_close(h1);
			}
		}
		char(*c)[256] = rows[i + 1].cells;
		snprintf(c[0], 256, "%" PRIu64, m->id);
		snprintf(c[6], 256, "%s", *m->client_url ? m->client_url : "-");
		snprintf(c[7], 256, "%s", st ? "yes" : "no");
		if (st) {
			snprintf(c[1], 256, "%s", st->state);
			snprintf(c[2], 256, "%" PRIu64, st->term);
			snprintf(c[3], 256, "%" PRIu64, st->leader);
			snprintf(c[4], 256, "%" PRIu64, st->commit_index);
			snprintf(c[5], 256, "%" PRIu64, st->applied_index);
		} else {
			for (int k = 1; k <= 5; k++)
				snprintf(c[k], 256, "-");
		}
		if (arr) {
			json_t *o1 =
			    json_pack("{s:I,s:s,s:b}", "id", (json_int_t)m->id,
				      "client_url", m->client_url, "reachable",
				      st != NULL);
			if (st) {
				json_object_set_new(o1, "state",
						    json_string(st->state));
				json_object_set_new(
				    o1, "term",
				    json_integer((json_int_t)st->term));
				json_object_set_new(
				    o1, "leader",
				    json_integer((json_int_t)st->leader));
				json_object_set_new(
				    o1, "commit_index",
				    json_integer((json_int_t)st->commit_index));
				json_object_set_new(
				    o1, "applied_index",
				    json_integer(
					(json_int_t)st->applied_index));
			}
			json_array_append_new(arr, o1);
		}
		kvc_status_free(st);
	}
	if (arr) {
		print_json(json_pack("{s:o}", "members", arr));
	} else {
		size_t w[8] = {0};
		for (size_t i = 0; i <= n; i++)
			for (int c = 0; c < 8; c++)
				if (strlen(rows[i].cells[c]) > w[c])
					w[c] = strlen(rows[i].cells[c]);
		for (size_t i = 0; i <= n; i++) {
			for (int c = 0; c < 8; c++)
				printf(c < 7 ? "%-*s  " : "%-*s\n",
				       c < 7 ? (int)w[c] : 0, rows[i].cells[c]);
		}
	}
	free(rows);
	kvc_status_free(any);
	return EXIT_OK;
}

/* --- member --- */
static int cmd_member(struct global *g, int argc, char **argv)
{
	char *pos[3];
	int np;
	int r = split_args(cmd_current, argc, argv, NULL, 0, NULL, NULL, pos,
			   &np, 3);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np < 1)
		return fail_usage(cmd_current->usage, "%s",
				  "missing list, add or remove");
	const char *sub = pos[0];
	uint64_t id = 0;
	int rc;
	if (strcmp(sub, "list") == 0) {
		if (np != 1)
			return fail_usage(cmd_current->usage, "%s",
					  "member list takes no arguments");
		int ec = open_handle(g);
		if (ec)
			return ec;
		struct kvc_member *ms;
		size_t n;
		rc = kvc_members(g->h, &ms, &n);
		if (rc < 0)
			return report(g, rc);
		if (g->json) {
			json_t *arr = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(
				    arr,
				    json_pack("{s:I,s:s,s:s,s:b}", "id",
					      (json_int_t)ms[i].id, "peer_url",
					      ms[i].peer_url, "client_url",
					      ms[i].client_url, "voter",
					      ms[i].voter));
			print_json(json_pack("{s:o}", "members", arr));
		} else {
			size_t wp = strlen("PEER URL"),
			       wc = strlen("CLIENT URL");
			for (size_t i = 0; i < n; i++) {
				if (strlen(ms[i].peer_url) > wp)
					wp = strlen(ms[i].peer_url);
				if (strlen(ms[i].client_url) > wc)
					wc = strlen(ms[i].client_url);
			}
			printf("%-6s  %-*s  %-*s  %s\n", "ID", (int)wp,
			       "PEER URL", (int)wc, "CLIENT URL", "VOTER");
			for (size_t i = 0; i < n; i++)
				printf(
				    "%-6" PRIu64 "  %-*s  %-*s  %s\n", ms[i].id,
				    (int)wp, ms[i].peer_url, (int)wc,
				    *ms[i].client_url ? ms[i].client_url : "-",
				    ms[i].voter ? "yes" : "no");
		}
		kvc_members_free(ms, n);
		return EXIT_OK;
	}
	if (strcmp(sub, "add") == 0) {
		if (np != 3)
			return fail_usage(cmd_current->usage, "%s",
					  "member add needs ID and PEER_URL");
		if (parse_u64(pos[1], &id) < 0 || id == 0)
			return fail_usage(cmd_current->usage, "bad ID %s",
					  pos[1]);
		int ec = open_handle(g);
		if (ec)
			return ec;
		rc = kvc_member_add(g->h, id, pos[2]);
	} else if (strcmp(sub, "remove") == 0) {
		if (np != 2)
			return fail_usage(cmd_current->usage, "%s",
					  "member remove needs ID");
		if (parse_u64(pos[1], &id) < 0 || id == 0)
			return fail_usage(cmd_current->usage, "bad ID %s",
					  pos[1]);
		int ec = open_handle(g);
		if (ec)
			return ec;
		rc = kvc_member_remove(g->h, id);
	} else {
		return fail_usage(cmd_current->usage, "unknown subcommand %s",
				  sub);
	}
	if (rc < 0)
		return report(g, rc);
	if (g->json)
		print_json(json_pack("{s:I,s:s}", "id", (json_int_t)id,
				     "result",
				     *sub == 'a' ? "added" : "removed"));
	else
		printf("member %" PRIu64 " %s\n", id,
		       *sub == 'a' ? "added" : "removed");
	return EXIT_OK;
}

/* Parses the arguments of a command of the form `NAME VERB ARG` (leader
 * transfer ID, snapshot save FILE). Returns true with *@arg set (pointing
 * into @argv); else false with *@ec the exit code, the help or a usage
 * error printed. */
static bool verb_arg(int argc, char **argv, const char *verb, char **arg,
		     int *ec)
{
	char *pos[2];
	int np;
	int r = split_args(cmd_current, argc, argv, NULL, 0, NULL, NULL, pos,
			   &np, 2);
	if (r) {
		*ec = r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
		return false;
	}
	if (np != 2 || strcmp(pos[0], verb) != 0) {
		/* usage is "kvctl NAME VERB ARG": say what was expected. */
		*ec = fail_usage(cmd_current->usage, "expected: %s",
				 cmd_current->usage + strlen("kvctl "));
		return false;
	}
	*arg = pos[1];
	return true;
}

/* --- leader --- */
static int cmd_leader(struct global *g, int argc, char **argv)
{
	char *arg;
	int ec;
	if (!verb_arg(argc, argv, "transfer", &arg, &ec))
		return ec;
	uint64_t id;
	if (parse_u64(arg, &id) < 0 || id == 0)
		return fail_usage(cmd_current->usage, "bad ID %s", arg);
	ec = open_handle(g);
	if (ec)
		return ec;
	int rc = kvc_leader_transfer(g->h, id);
	if (rc < 0)
		return report(g, rc);
	if (g->json)
		print_json(json_pack("{s:I}", "leader", (json_int_t)id));
	else
		printf("member %" PRIu64 " leads\n", id);
	return EXIT_OK;
}

/* --- snapshot --- */
static int cmd_snapshot(struct global *g, int argc, char **argv)
{
	char *file;
	int ec;
	if (!verb_arg(argc, argv, "save", &file, &ec))
		return ec;
	/* The handle is not used: opening it checks --endpoints the way every
	 * other command does (exit 2 when malformed). */
	ec = open_handle(g);
	if (ec)
		return ec;
	struct kvctl_snapshot_result res;
	bool unavailable;
	char err[512];
	bool progress = !g->json && isatty(STDERR_FILENO);
	if (kvctl_snapshot_save(g->endpoints, g->timeout_s, progress, file,
				&res, &unavailable, err, sizeof(err)) != 0) {
		fprintf(stderr, "kvctl: snapshot save: %s\n", err);
		return unavailable ? EXIT_UNAVAILABLE : EXIT_OTHER;
	}
	if (g->json)
		print_json(json_pack(
		    "{s:s,s:I,s:I,s:I,s:s}", "file", file, "index",
		    (json_int_t)res.index, "term", (json_int_t)res.term,
		    "bytes", (json_int_t)res.bytes, "endpoint", res.endpoint));
	else
		printf("snapshot at index %" PRIu64 " (term %" PRIu64
		       ", %" PRIu64 " bytes) from %s saved to %s\n",
		       res.index, res.term, res.bytes, res.endpoint, file);
	return EXIT_OK;
}

/* --- watch --- */
static int cmd_watch(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {
	    {"--prefix", true}, {"--from", true}, {"--count", true}};
	const char *vals[3] = {NULL, NULL, NULL};
	bool flags[3] = {false, false, false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 3, vals, flags, pos,
			   &np, 1);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	struct kvctl_watch_opts o = {.json = g->json};
	if ((np == 1) == (vals[0] != NULL))
		return fail_usage(cmd_current->usage, "%s",
				  "give KEY or --prefix P");
	o.prefix = vals[0] != NULL;
	o.key = o.prefix ? vals[0] : pos[0];
	if (vals[1] && (parse_u64(vals[1], &o.from) < 0 || o.from == 0 ||
			o.from > INT64_MAX))
		return fail_usage(cmd_current->usage, "bad --from %s", vals[1]);
	if (vals[2] && (parse_u64(vals[2], &o.count) < 0 || o.count == 0))
		return fail_usage(cmd_current->usage, "bad --count %s",
				  vals[2]);
	int ec = open_handle(g);
	if (ec)
		return ec;
	int rc = kvctl_watch(g->h, &o);
	if (rc == KVCTL_WATCH_EOUTPUT)
		return EXIT_OTHER;
	return rc < 0 ? report(g, rc) : EXIT_OK;
}

static const struct command commands[] = {
    {"put", "kvctl put KEY [VALUE] [--cas M]",
     "usage: kvctl put KEY [VALUE] [--cas M]\n"
     "Writes VALUE (read from stdin when omitted) under KEY and prints\n"
     "the index the write was applied at. --cas M writes only if the\n"
     "key's mod index is M (0: only if the key does not exist); when it\n"
     "is not, exits 1.",
     cmd_put},
    {"get", "kvctl get KEY [--stale]",
     "usage: kvctl get KEY [--stale]\n"
     "Prints the raw value of KEY, nothing else (-o json: key, base64\n"
     "value and mod index). Exits 1 if KEY does not exist. --stale reads\n"
     "a member's local state without asking the leader.",
     cmd_get},
    {"del", "kvctl del KEY [--cas M]",
     "usage: kvctl del KEY [--cas M]\n"
     "Deletes KEY and prints the index of the delete. Exits 1 if KEY did\n"
     "not exist or, with --cas M, if its mod index is not M.",
     cmd_del},
    {"list", "kvctl list [PREFIX] [--limit N]",
     "usage: kvctl list [PREFIX] [--limit N]\n"
     "Prints the keys starting with PREFIX in key order, one per line as\n"
     "KEY<TAB>VALUE (tab, newline, backslash and control bytes escaped);\n"
     "-o json prints {\"kvs\": [{\"key\", \"value\" (base64), \"index\"}],\n"
     "\"more\"}. --limit N (1..10000) stops after N keys.",
     cmd_list},
    {"status", "kvctl status",
     "usage: kvctl status\n"
     "Prints one row per member: id, state, term, leader, commit index,\n"
     "applied index, client URL and whether it answered.",
     cmd_status},
    {"member", "kvctl member list | add ID PEER_URL | remove ID",
     "usage: kvctl member list | add ID PEER_URL | remove ID\n"
     "list: the members and their URLs. add: adds member ID reachable at\n"
     "PEER_URL (start it with an empty data dir and no --initial-cluster\n"
     "first). remove: removes member ID. Both return once the new\n"
     "configuration is committed.",
     cmd_member},
    {"leader", "kvctl leader transfer ID",
     "usage: kvctl leader transfer ID\n"
     "Hands leadership to member ID and returns once it leads.",
     cmd_leader},
    {"snapshot", "kvctl snapshot save FILE",
     "usage: kvctl snapshot save FILE\n"
     "Downloads a consistent snapshot of the store from the first member\n"
     "that answers (GET /v1/snapshot) into FILE, checking its length and\n"
     "CRC-32C, with a progress bar when stderr is a terminal. Start a new\n"
     "cluster from it with kvd --restore FILE (README: Backup and\n"
     "disaster recovery).",
     cmd_snapshot},
    {"watch", "kvctl watch KEY | --prefix P [--from I] [--count N]",
     "usage: kvctl watch KEY | --prefix P [--from I] [--count N]\n"
     "Prints every change to KEY, or to the keys starting with P, as it\n"
     "commits, one line each, flushed at once: PUT<TAB>KEY<TAB>VALUE<TAB>\n"
     "INDEX or DELETE<TAB>KEY<TAB>INDEX (escaped as by list); -o json\n"
     "prints the event objects {\"type\", \"key\", \"value\" (base64),\n"
     "\"index\"}. --from I starts at index I (the history a member keeps;\n"
     "older: exit 4 naming the oldest index held), else after now.\n"
     "When a member fails, resumes on another one with nothing missed\n"
     "or repeated. Runs until --count N changes, SIGINT or SIGTERM (exit\n"
     "0); exit 3 when no member serves within --timeout.",
     cmd_watch},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int main(int argc, char **argv)
{
	struct global g = {.endpoints = getenv("KVCTL_ENDPOINTS"),
			   .timeout_s = 10};
	if (!g.endpoints || !*g.endpoints)
		g.endpoints = DEFAULT_ENDPOINTS;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		if (a[0] != '-')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_main, stdout);
			return EXIT_OK;
		}
		size_t nl = strcspn(a, "=");
		const char *name = a;
		char namebuf[32];
		if (a[nl] == '=') {
			snprintf(namebuf, sizeof(namebuf), "%.*s", (int)nl, a);
			name = namebuf;
			v = a + nl + 1;
		}
		bool known = strcmp(name, "--endpoints") == 0 ||
			     strcmp(name, "--timeout") == 0 ||
			     strcmp(name, "-o") == 0 ||
			     strcmp(name, "--output") == 0;
		if (!known) {
			fprintf(stderr, "kvctl: unknown option %s\n%s", a,
				usage_main);
			return EXIT_USAGE;
		}
		if (!v) {
			if (i + 1 >= argc) {
				fprintf(stderr, "kvctl: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			v = argv[++i];
		}
		if (strcmp(name, "--endpoints") == 0) {
			g.endpoints = v;
		} else if (strcmp(name, "--timeout") == 0) {
			char *end;
			errno = 0;
			g.timeout_s = strtod(v, &end);
			if (errno || end == v || *end || !(g.timeout_s > 0) ||
			    g.timeout_s > 86400) {
				fprintf(stderr, "kvctl: bad --timeout %s\n", v);
				return EXIT_USAGE;
			}
		} else if (strcmp(v, "text") == 0) {
			g.json = false;
		} else if (strcmp(v, "json") == 0) {
			g.json = true;
		} else {
			fprintf(stderr,
				"kvctl: bad output format %s "
				"(text or json)\n",
				v);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "kvctl: missing COMMAND\n%s", usage_main);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < N_COMMANDS; k++) {
		if (strcmp(argv[i], commands[k].name) == 0) {
			cmd_current = &commands[k];
			int ec =
			    commands[k].run(&g, argc - i - 1, argv + i + 1);
			kvc_close(g.h);
			return ec;
		}
	}
	if (strcmp(argv[i], "help") == 0) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "kvctl: unknown command %s\n%s", argv[i], usage_main);
	return EXIT_USAGE;
}
