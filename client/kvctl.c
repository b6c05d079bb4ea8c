/* kvctl.c - command-line client for a kvd cluster, built on libkvc. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "kvc.h"
#include "kvctl_cmd.h"
#include "kvctl_print.h"
#include "kvctl_probe.h"
#include "kvctl_snapshot.h"
#include "kvctl_watch.h"

/* The members scripts/run starts. */
#define DEFAULT_ENDPOINTS                                                      \
	"http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003"
#define MAX_STDIN_BYTES		  (64u << 20) /* a value read from stdin */
#define LIST_PAGE		  1000
#define LIST_MAX_LIMIT		  10000
#define STATUS_MEMBER_DEADLINE_MS 2000

static const char usage_main[] =
    "usage: kvctl [--endpoints URL,...] [--timeout SEC] [-o text|json] "
    "COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  put KEY [VALUE] [--cas M]   write VALUE (stdin when omitted)\n"
    "  get KEY [--stale]           print the raw value\n"
    "  del KEY [--cas M]           delete KEY\n"
    "  list [PREFIX] [--limit N]   list keys (and values) in key order;\n"
    "       [--keys-only|--count]  or the keys alone, or how many\n"
    "  status                      one row per member\n"
    "  endpoint health|status      each endpoint: health, or its status\n"
    "  member list                 list the members\n"
    "  member add ID PEER_URL      add a member\n"
    "  member remove ID            remove a member\n"
    "  leader transfer ID          hand leadership to member ID\n"
    "  snapshot save FILE|-        download a consistent snapshot (backup)\n"
    "  watch KEY | --prefix P      print each change as it commits\n"
    "  del --prefix P              delete every key starting with P\n"
    "  lease grant TTL             grant a lease, print its id\n"
    "  lease keepalive ID [--once] keep lease ID alive (every TTL/3)\n"
    "  lease revoke ID | info ID   end a lease (and its keys); describe it\n"
    "  lease list                  the leases and their time left\n"
    "  put KEY VALUE --lease ID    write a key that goes with lease ID\n"
    "  txn [--file F]              run a transaction (JSON: docs/API.md)\n"
    "  lock NAME [--ttl S] -- CMD  run CMD holding the lock NAME\n"
    "\n"
    "Global options:\n"
    "  --endpoints URL,...  client URLs of members (default: "
    "$KVCTL_ENDPOINTS, else\n"
    "                       the members of scripts/run, 127.0.0.1:7001-7003)\n"
    "  --timeout SEC        give up after SEC seconds (default 10)\n"
    "  -o, --output FORMAT  text (default) or json\n"
    "  -h, --help           this help; COMMAND --help for one command\n"
    "  --version            print kvctl's and libkvc's versions\n"
    "\n"
    "Exit status: 0 ok, 1 not found or CAS failed, 2 usage, 3 cluster\n"
    "unavailable or timed out, 4 any other error. After a write, exit 3's\n"
    "message says whether it was not applied (no member was reached) or\n"
    "its outcome is unknown (it may have been applied: read it back).\n"
    "txn exits 1 when its failure branch ran; lock exits with CMD's\n"
    "status, or 5 when the lock was lost (CMD killed).\n";

/* -o json, for the errors said before a command has its struct global. */
bool json_errors;

int fail_usage(const char *cmd_usage, const char *fmt, const char *arg)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), fmt, arg);
	if (json_errors) {
		json_t *j = json_pack("{s:s,s:s,s:s}", "error", "usage",
				      "message", msg, "usage", cmd_usage);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		fprintf(stderr, "%s\n", t ? t : "{\"error\":\"usage\"}");
		free(t);
		json_decref(j);
	} else {
		fprintf(stderr, "kvctl: %s\nusage: %s\n", msg, cmd_usage);
	}
	return EXIT_USAGE;
}

int exit_code(int rc)
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

/* The "error" of kvctl's JSON error objects for a libkvc code: the
 * server's code names where there is one (DESIGN.md §1.3). */
const char *error_code(int rc)
{
	switch (rc) {
	case KVC_EINVAL:
		return "invalid_argument";
	case KVC_ENOMEM:
		return "out_of_memory";
	case KVC_ENOTFOUND:
		return "not_found";
	case KVC_ECAS:
		return "cas_failed";
	case KVC_EUNAVAILABLE:
		return "unavailable";
	case KVC_ETIMEOUT:
		return "timeout";
	case KVC_EBADREQ:
		return "bad_request";
	case KVC_ETOO_LARGE:
		return "too_large";
	case KVC_ECONFLICT:
		return "conflict";
	case KVC_EPROTO:
		return "bad_response";
	case KVC_ECOMPACTED:
		return "compacted";
	default:
		return "internal";
	}
}

/* Says what went wrong on stderr: "kvctl: MESSAGE", or with -o json one
 * line {"error": CODE, "message": MESSAGE}. */
void report_text(const struct global *g, const char *code, const char *msg)
{
	if (g->json) {
		json_t *j =
		    json_pack("{s:s,s:s}", "error", code, "message", msg);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		fprintf(stderr, "%s\n", t ? t : "{\"error\":\"internal\"}");
		free(t);
		json_decref(j);
	} else {
		fprintf(stderr, "kvctl: %s\n", msg);
	}
}

int report(struct global *g, int rc)
{
	const char *msg = kvc_errmsg(g->h);
	char text[1024];
	snprintf(text, sizeof(text), "%s%s%s", kvc_strerror(rc),
		 *msg ? ": " : "", msg);
	report_text(g, error_code(rc), text);
	return exit_code(rc);
}

/* A write that failed: as report(), but an unavailable cluster or a
 * timeout is told apart by what libkvc knows of the write's fate. When an
 * attempt reached a member the write may have been applied, or may still
 * be (outcome unknown); when none did, it certainly was not. Both exit 3,
 * as DESIGN.md §1.4 has it for an unavailable cluster; the message and
 * the JSON error code ("not_applied") tell them apart. */
int report_write(struct global *g, int rc, const char *what)
{
	if (rc != KVC_EUNAVAILABLE && rc != KVC_ETIMEOUT)
		return report(g, rc);
	const char *msg = kvc_errmsg(g->h);
	bool unknown = kvc_outcome_unknown(g->h);
	char text[1200];
	snprintf(text, sizeof(text), "%s%s%s; %s %s", kvc_strerror(rc),
		 *msg ? ": " : "", msg, what,
		 unknown ? "may or may not have been applied (outcome "
			   "unknown: read it back to find out)"
			 : "was not applied (no member was reached)");
	report_text(g, unknown ? error_code(rc) : "not_applied", text);
	return EXIT_UNAVAILABLE;
}

int parse_u64(const char *s, uint64_t *out)
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

/* Splits argv into positionals and options (kvctl_cmd.h). */
int split_args(const struct command *cmd, int argc, char **argv,
	       const struct optspec *specs, int n_specs, const char **vals,
	       bool *flags, char **pos, int *n_pos, int max_pos)
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

/* Whether @url (@len bytes: "SCHEME://HOST:PORT", or "HOST:PORT" unless
 * @scheme_required; http or https; no path) names a port in 1..65535
 * after a host: "foo" alone is a mistake, not port 80. Only the form is
 * checked; libkvc and the server parse the rest. */
static bool url_has_port(const char *url, size_t len, bool scheme_required)
{
	static const char *const schemes[] = {"http://", "https://"};
	bool had = false;
	for (int k = 0; k < 2 && !had; k++) {
		size_t sl = strlen(schemes[k]);
		if (len >= sl && strncmp(url, schemes[k], sl) == 0) {
			url += sl;
			len -= sl;
			had = true;
		}
	}
	if (!had && scheme_required)
		return false;
	if (len > 0 && url[len - 1] == '/')
		len--;
	size_t colon = len;
	for (size_t i = 0; i < len; i++) {
		if (url[i] == '/' || url[i] == '?' || url[i] == '@')
			return false; /* a path, a query, user info, a scheme */
		if (url[i] == ':')
			colon = i;
	}
	if (colon == 0 || colon + 1 >= len ||
	    (url[0] == '[' && url[colon - 1] != ']'))
		return false;
	unsigned long port = 0;
	for (size_t i = colon + 1; i < len; i++) {
		if (url[i] < '0' || url[i] > '9' || port > 65535)
			return false;
		port = port * 10 + (unsigned long)(url[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Checks every URL of --endpoints; false with @why set when one is bad. */
static bool endpoints_ok(const char *list, char *why, size_t whylen)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		const char *q = p;
		size_t l = len;
		while (l > 0 && (*q == ' ' || *q == '\t')) {
			q++;
			l--;
		}
		while (l > 0 && (q[l - 1] == ' ' || q[l - 1] == '\t'))
			l--;
		if (l > 0 && !url_has_port(q, l, false)) {
			snprintf(why, whylen,
				 "%.*s (expected http://HOST:PORT or "
				 "HOST:PORT)",
				 (int)(l > 300 ? 300 : l), q);
			return false;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

void timeout_options(const struct global *g, struct kvc_options *o)
{
	kvc_options_init(o);
	o->retry_deadline_ms = (int)(g->timeout_s * 1000);
	if (o->retry_deadline_ms < 1)
		o->retry_deadline_ms = 1;
	o->request_timeout_ms =
	    o->retry_deadline_ms < 5000 ? o->retry_deadline_ms : 5000;
}

int open_handle(struct global *g)
{
	struct kvc_options o;
	timeout_options(g, &o);
	o.connect_timeout_ms = 1000;
	char why[512];
	if (!endpoints_ok(g->endpoints, why, sizeof(why))) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "bad --endpoints: %s", why);
		report_text(g, "usage", msg);
		return EXIT_USAGE;
	}
	int rc = kvc_open(g->endpoints, &o, &g->h);
	if (rc == KVC_EINVAL) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "bad --endpoints: %s",
			 kvc_open_error());
		report_text(g, "usage", msg);
		return EXIT_USAGE;
	}
	if (rc < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s: %s", kvc_strerror(rc),
			 kvc_open_error());
		report_text(g, error_code(rc), msg);
		return EXIT_OTHER;
	}
	return EXIT_OK;
}

volatile sig_atomic_t kvctl_stop;

static void on_signal(int sig)
{
	(void)sig;
	kvctl_stop = 1;
}

/* SIGINT and SIGTERM set the flag and interrupt the wait (no SA_RESTART).
 */
void catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

int print_pair(const struct global *g, const char *k1, uint64_t v1,
	       const char *k2, uint64_t v2, uint64_t plain)
{
	if (g->json)
		print_json(json_pack("{s:I,s:I}", k1, (json_int_t)v1, k2,
				     (json_int_t)v2));
	else
		printf("%" PRIu64 "\n", plain);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

int read_stdin(void **buf, size_t *len)
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

const struct command *cmd_current;

/* The key rule of DESIGN.md §1.3 for keys a write may create (kv.h's
 * kv_key_allowed()): 1 to 511 bytes of well-formed UTF-8 without control
 * characters (C0, DEL, C1). Checked here so that a bad key is a usage
 * error that names the rule, before any member is asked. */
#define KEY_MAX_BYTES 511
static const char key_rule[] =
    "keys are 1 to 511 bytes of UTF-8 without control characters";

bool key_allowed(const char *key)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t n = strlen(key);
	if (n == 0 || n > KEY_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (len == 0 || c > 0xf4 || i + len > n)
			return false;
		uint32_t cp = c & (0xff >> (len + 1));
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += len;
	}
	return true;
}

/* A usage error for a KEY that breaks the key rule. The key is shown with
 * control and non-ASCII bytes as \xHH: it may not be UTF-8, and its
 * control bytes must not reach a terminal. */
int bad_key(const char *key)
{
	char shown[200];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)key;
	     *p && o + 5 < sizeof(shown); p++) {
		if (*p < 0x20 || *p >= 0x7f)
			o += (size_t)snprintf(shown + o, sizeof(shown) - o,
					      "\\x%02x", *p);
		else
			shown[o++] = (char)*p;
	}
	shown[o] = '\0';
	char msg[400];
	snprintf(msg, sizeof(msg), "bad KEY \"%s%s\": %s", shown,
		 strlen(key) > 40 && o + 5 >= sizeof(shown) ? "..." : "",
		 key_rule);
	return fail_usage(cmd_current->usage, "%s", msg);
}

/* Parses `KEY [MORE...] [--cas M] [--lease ID]` for put and del: up to
 * @max_pos positionals (KEY required) into @pos, *@np of them; --lease
 * only when @lease is not NULL. Returns true with *@has_cas, *@cas and
 * *@lease (0: none) set; else false with *@ec the exit code, the help or a
 * usage error printed. */
static bool key_cas_args(int argc, char **argv, char **pos, int max_pos,
			 int *np, bool *has_cas, uint64_t *cas, uint64_t *lease,
			 int *ec)
{
	const struct optspec specs[] = {{"--cas", true}, {"--lease", true}};
	const char *vals[2] = {NULL, NULL};
	bool flags[2] = {false, false};
	int r = split_args(cmd_current, argc, argv, specs, lease ? 2 : 1, vals,
			   flags, pos, np, max_pos);
	if (r) {
		*ec = r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
		return false;
	}
	if (*np < 1) {
		*ec = fail_usage(cmd_current->usage, "%s", "missing KEY");
		return false;
	}
	if (!key_allowed(pos[0])) {
		*ec = bad_key(pos[0]);
		return false;
	}
	*has_cas = vals[0] != NULL;
	*cas = 0;
	if (vals[0] && parse_u64(vals[0], cas) < 0) {
		*ec = fail_usage(cmd_current->usage, "bad --cas %s", vals[0]);
		return false;
	}
	if (lease) {
		*lease = 0;
		if (vals[1] && (parse_u64(vals[1], lease) < 0 || *lease == 0)) {
			*ec = fail_usage(cmd_current->usage, "bad --lease %s",
					 vals[1]);
			return false;
		}
	}
	return true;
}

/* A failed compare-and-swap: says the key's current mod index, exit 1. */
static int cas_failed(const struct global *g, const char *key, uint64_t index)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "compare-and-swap failed: the current mod index of %s is "
		 "%" PRIu64,
		 key, index);
	report_text(g, "cas_failed", text);
	return EXIT_NOTFOUND;
}

/* A key that is absent: get and del say it alike. */
int not_found(const struct global *g, const char *key)
{
	char text[1024];
	snprintf(text, sizeof(text), "not found: %s", key);
	report_text(g, "not_found", text);
	return EXIT_NOTFOUND;
}

/* --- put --- */
static int cmd_put(struct global *g, int argc, char **argv)
{
	char *pos[2];
	int np, ec;
	bool has_cas;
	uint64_t cas, lease;
	if (!key_cas_args(argc, argv, pos, 2, &np, &has_cas, &cas, &lease, &ec))
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
			char text[256];
			snprintf(text, sizeof(text), "reading stdin: %s",
				 rc == KVC_ETOO_LARGE ? "value too large"
						      : kvc_strerror(rc));
			report_text(g, error_code(rc), text);
			return EXIT_OTHER;
		}
	}
	uint64_t index = 0;
	if (lease)
		rc = has_cas ? kvc_cas_put_lease(g->h, pos[0], value, len, cas,
						 lease, &index)
			     : kvc_put_lease(g->h, pos[0], value, len, lease,
					     &index);
	else
		rc = has_cas
			 ? kvc_cas_put(g->h, pos[0], value, len, cas, &index)
			 : kvc_put(g->h, pos[0], value, len, &index);
	if (np < 2)
		free(value);
	if (rc == KVC_ENOTFOUND && lease) {
		char text[128];
		snprintf(text, sizeof(text), "lease %" PRIu64 " not found",
			 lease);
		report_text(g, "not_found", text);
		return EXIT_NOTFOUND;
	}
	if (rc == KVC_ECAS)
		return cas_failed(g, pos[0], index);
	if (rc == KVC_ETOO_LARGE) {
		char text[1024];
		snprintf(text, sizeof(text), "value too large (%zu bytes): %s",
			 len, kvc_errmsg(g->h));
		report_text(g, "too_large", text);
		return EXIT_OTHER;
	}
	if (rc < 0)
		return report_write(g, rc, "the write");
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
	if (!key_allowed(pos[0]))
		return bad_key(pos[0]);
	int ec = open_handle(g);
	if (ec)
		return ec;
	void *value;
	size_t len;
	uint64_t index;
	int rc = kvc_get(g->h, pos[0], flags[0] ? KVC_GET_STALE : 0, &value,
			 &len, &index);
	if (rc == KVC_ENOTFOUND)
		return not_found(g, pos[0]);
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
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strncmp(argv[i], "--prefix", 8) == 0 &&
		    (argv[i][8] == '\0' || argv[i][8] == '='))
			return kvctl_del_prefix(g, argc, argv);
	char *pos[1];
	int np, ec;
	bool has_cas;
	uint64_t cas;
	if (!key_cas_args(argc, argv, pos, 1, &np, &has_cas, &cas, NULL, &ec))
		return ec;
	ec = open_handle(g);
	if (ec)
		return ec;
	uint64_t index = 0;
	bool deleted = false;
	int rc = has_cas ? kvc_cas_delete(g->h, pos[0], cas, &index, &deleted)
			 : kvc_delete(g->h, pos[0], &index, &deleted);
	if (rc == KVC_ECAS)
		return cas_failed(g, pos[0], index);
	if (rc < 0)
		return report_write(g, rc, "the write");
	if (g->json)
		print_json(json_pack("{s:I,s:b}", "index", (json_int_t)index,
				     "deleted", deleted));
	else if (deleted)
		printf("%" PRIu64 "\n", index);
	if (!deleted)
		return not_found(g, pos[0]);
	return EXIT_OK;
}

/* --- list --- */
static int cmd_list(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {
	    {"--limit", true}, {"--keys-only", false}, {"--count", false}};
	const char *vals[3] = {NULL, NULL, NULL};
	bool flags[3] = {false, false, false};
	char *pos[1];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 3, vals, flags, pos,
			   &np, 1);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	uint64_t limit = 0;
	if (vals[0] && (parse_u64(vals[0], &limit) < 0 || limit == 0 ||
			limit > LIST_MAX_LIMIT))
		return fail_usage(cmd_current->usage,
				  "bad --limit %s (1..10000)", vals[0]);
	bool keys_only = flags[1], count = flags[2];
	if (keys_only && count)
		return fail_usage(cmd_current->usage, "%s",
				  "--keys-only and --count exclude each other");
	int ec = open_handle(g);
	if (ec)
		return ec;
	const char *prefix = np ? pos[0] : NULL;
	json_t *arr = g->json && !count ? json_array() : NULL;
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
		for (size_t i = 0; i < n && !count; i++) {
			if (arr && keys_only) {
				json_array_append_new(arr,
						      json_string(kvs[i].key));
			} else if (arr) {
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
				if (keys_only) {
					putchar('\n');
					continue;
				}
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
	/* "more" is the server's word on the last page: further keys match
	 * beyond what --limit let through. */
	if (count && g->json)
		print_json(json_pack("{s:I,s:b}", "count", (json_int_t)shown,
				     "more", more));
	else if (count)
		printf("%" PRIu64 "\n", shown);
	else if (arr)
		print_json(json_pack("{s:o,s:b}", keys_only ? "keys" : "kvs",
				     arr, "more", more));
	/* Text output: the marker goes to stderr, so that stdout holds only
	 * the keys a script reads. */
	if (more && !g->json)
		fprintf(stderr,
			"kvctl: more keys match (listing stopped at --limit "
			"%" PRIu64 ")\n",
			limit);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

/* --- status --- */
#define MAX_CELLS 9

/* One row of a table: its cells, each on one line. */
struct row {
	char cells[MAX_CELLS][256];
};

/* Prints @n rows of @cols cells, each column as wide as its widest cell. */
static void print_table(const struct row *rows, size_t n, int cols)
{
	size_t w[MAX_CELLS] = {0};
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < cols; c++)
			if (strlen(rows[i].cells[c]) > w[c])
				w[c] = strlen(rows[i].cells[c]);
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < cols; c++)
			printf(c < cols - 1 ? "%-*s  " : "%-*s\n",
			       c < cols - 1 ? (int)w[c] : 0, rows[i].cells[c]);
}

/* The comma-separated URLs of @list, trimmed, as malloc'd strings in
 * *@out (free with free_urls()); the number of them, or 0 when out of
 * memory or none. */
static size_t split_urls(const char *list, char ***out)
{
	size_t cap = 1;
	for (const char *p = list; *p; p++)
		cap += *p == ',';
	char **v = calloc(cap, sizeof(*v));
	size_t n = 0;
	if (!v)
		return 0;
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		const char *q = p;
		size_t l = len;
		while (l > 0 && (*q == ' ' || *q == '\t')) {
			q++;
			l--;
		}
		while (l > 0 && (q[l - 1] == ' ' || q[l - 1] == '\t'))
			l--;
		if (l > 0 && n < cap) {
			v[n] = strndup(q, l);
			if (!v[n])
				break;
			n++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	*out = v;
	return n;
}

static void free_urls(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Milliseconds of --timeout. */
static int timeout_ms(const struct global *g)
{
	int ms = (int)(g->timeout_s * 1000);
	return ms < 1 ? 1 : ms;
}

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
	/* Both rounds ask every member at once, each member for at most
	 * STATUS_MEMBER_DEADLINE_MS, and both together within --timeout: the
	 * first finds the members through the endpoints, the second asks
	 * each member for its own status. */
	uint64_t end = clock_now_ms() + (uint64_t)timeout_ms(g);
	char **urls = NULL;
	size_t n_urls = split_urls(g->endpoints, &urls);
	struct kvctl_probe *eps = calloc(n_urls ? n_urls : 1, sizeof(*eps));
	if (!eps || n_urls == 0) {
		free(eps);
		free_urls(urls, n_urls);
		return report(g, KVC_ENOMEM);
	}
	int first = timeout_ms(g) / 2;
	if (first > STATUS_MEMBER_DEADLINE_MS)
		first = STATUS_MEMBER_DEADLINE_MS;
	for (size_t i = 0; i < n_urls; i++)
		eps[i].url = urls[i];
	kvctl_probe_all(eps, n_urls, first, false);
	const struct kvc_status *any = NULL;
	size_t k;
	for (k = 0; k < n_urls && !any; k++)
		if (eps[k].status_rc == 0)
			any = eps[k].st;
	if (!any) {
		char text[600];
		snprintf(text, sizeof(text), "%s: %s",
			 kvc_strerror(eps[0].status_rc), eps[0].err);
		report_text(g, error_code(eps[0].status_rc), text);
		ec = exit_code(eps[0].status_rc);
		if (ec == EXIT_OK || ec == EXIT_NOTFOUND)
			ec = EXIT_OTHER;
		kvctl_probe_clear(eps, n_urls);
		free(eps);
		free_urls(urls, n_urls);
		return ec;
	}
	size_t n = any->n_members;
	struct row *rows = calloc(n + 1, sizeof(*rows));
	struct kvctl_probe *ps = calloc(n ? n : 1, sizeof(*ps));
	json_t *arr = g->json ? json_array() : NULL;
	if (!rows || !ps) {
		free(rows);
		free(ps);
		kvctl_probe_clear(eps, n_urls);
		free(eps);
		free_urls(urls, n_urls);
		return report(g, KVC_ENOMEM);
	}
	for (size_t i = 0; i < n; i++)
		ps[i].url = any->members[i].client_url;
	uint64_t now = clock_now_ms();
	int second = now < end ? (int)(end - now) : 1;
	if (second > STATUS_MEMBER_DEADLINE_MS)
		second = STATUS_MEMBER_DEADLINE_MS;
	kvctl_probe_all(ps, n, second, false);
	static const char *const head[8] = {"MEMBER",	  "STATE",    "TERM",
					    "LEADER",	  "COMMIT",   "APPLIED",
					    "CLIENT URL", "REACHABLE"};
	for (int c = 0; c < 8; c++)
		snprintf(rows[0].cells[c], 256, "%s", head[c]);
	bool leader_known = false;
	for (size_t i = 0; i < n; i++) {
		const struct kvc_member *m = &any->members[i];
		const struct kvc_status *st =
		    ps[i].status_rc == 0 ? ps[i].st : NULL;
		if (st && st->leader != 0)
			leader_known = true;
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
			for (int k2 = 1; k2 <= 5; k2++)
				snprintf(c[k2], 256, "-");
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
	}
	if (arr)
		print_json(json_pack("{s:o}", "members", arr));
	else
		print_table(rows, n + 1, 8);
	free(rows);
	kvctl_probe_clear(ps, n);
	free(ps);
	kvctl_probe_clear(eps, n_urls);
	free(eps);
	free_urls(urls, n_urls);
	if (!leader_known) {
		report_text(g, "unavailable", "no leader known");
		return EXIT_UNAVAILABLE;
	}
	return EXIT_OK;
}

/* --- endpoint --- */
/* Longest wait for one endpoint, as etcdctl's default command timeout:
 * a member that needs longer to say it is healthy is not. */
#define ENDPOINT_DEADLINE_MS 5000

static int cmd_endpoint(struct global *g, int argc, char **argv)
{
	char *pos[2];
	int np;
	int r = split_args(cmd_current, argc, argv, NULL, 0, NULL, NULL, pos,
			   &np, 1);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	bool health = np == 1 && strcmp(pos[0], "health") == 0;
	if (np != 1 || (!health && strcmp(pos[0], "status") != 0))
		return fail_usage(cmd_current->usage, "%s",
				  "expected: endpoint health | status");
	int ec = open_handle(g);
	if (ec)
		return ec;
	char **urls = NULL;
	size_t n = split_urls(g->endpoints, &urls);
	struct kvctl_probe *ps = calloc(n ? n : 1, sizeof(*ps));
	struct row *rows = calloc(n + 1, sizeof(*rows));
	if (!ps || !rows || n == 0) {
		free(ps);
		free(rows);
		free_urls(urls, n);
		return report(g, KVC_ENOMEM);
	}
	for (size_t i = 0; i < n; i++)
		ps[i].url = urls[i];
	int dl = timeout_ms(g);
	if (dl > ENDPOINT_DEADLINE_MS)
		dl = ENDPOINT_DEADLINE_MS;
	kvctl_probe_all(ps, n, dl, health);
	static const char *const hhead[7] = {"ENDPOINT", "HEALTHY", "REACHABLE",
					     "READY",	 "LEADER",  "TOOK",
					     "ERROR"};
	static const char *const shead[9] = {"ENDPOINT", "ID",	   "STATE",
					     "TERM",	 "LEADER", "COMMIT",
					     "APPLIED",	 "LAST",   "SNAPSHOT"};
	int cols = health ? 7 : 9;
	for (int c = 0; c < cols; c++)
		snprintf(rows[0].cells[c], 256, "%s",
			 health ? hhead[c] : shead[c]);
	json_t *arr = g->json ? json_array() : NULL;
	bool all_ok = true;
	for (size_t i = 0; i < n; i++) {
		const struct kvctl_probe *p = &ps[i];
		const struct kvc_status *st = p->status_rc == 0 ? p->st : NULL;
		bool ready = st && p->ready_rc == 0;
		uint64_t leader = st ? st->leader : 0;
		/* Healthy as etcdctl means it: the member answers, knows a
		 * leader and has caught up with it. */
		bool ok = health ? ready && leader != 0 : st != NULL;
		all_ok = all_ok && ok;
		char(*c)[256] = rows[i + 1].cells;
		snprintf(c[0], 256, "%s", p->url);
		if (health) {
			snprintf(c[1], 256, "%s", ok ? "true" : "false");
			snprintf(c[2], 256, "%s", st ? "yes" : "no");
			snprintf(c[3], 256, "%s", ready ? "yes" : "no");
			snprintf(c[4], 256, "%" PRIu64, leader);
			if (st)
				snprintf(c[5], 256, "%.1fms", p->took_ms);
			else
				snprintf(c[5], 256, "-");
			snprintf(c[6], 256, "%s",
				 ok ? "-" : (*p->err ? p->err : "no leader"));
		} else if (st) {
			snprintf(c[1], 256, "%" PRIu64, st->id);
			snprintf(c[2], 256, "%s", st->state);
			snprintf(c[3], 256, "%" PRIu64, st->term);
			snprintf(c[4], 256, "%" PRIu64, st->leader);
			snprintf(c[5], 256, "%" PRIu64, st->commit_index);
			snprintf(c[6], 256, "%" PRIu64, st->applied_index);
			snprintf(c[7], 256, "%" PRIu64, st->last_index);
			snprintf(c[8], 256, "%" PRIu64, st->snapshot_index);
		} else {
			for (int k = 1; k < cols; k++)
				snprintf(c[k], 256, "-");
		}
		if (!arr)
			continue;
		json_t *o1 = json_pack("{s:s,s:b}", "endpoint", p->url,
				       "reachable", st != NULL);
		if (health) {
			json_object_set_new(o1, "healthy", json_boolean(ok));
			json_object_set_new(o1, "ready", json_boolean(ready));
			json_object_set_new(o1, "leader",
					    json_integer((json_int_t)leader));
			if (st)
				json_object_set_new(o1, "took_ms",
						    json_real(p->took_ms));
		} else if (st) {
			json_object_set_new(o1, "id",
					    json_integer((json_int_t)st->id));
			json_object_set_new(o1, "state",
					    json_string(st->state));
			json_object_set_new(o1, "term",
					    json_integer((json_int_t)st->term));
			json_object_set_new(
			    o1, "leader", json_integer((json_int_t)st->leader));
			json_object_set_new(
			    o1, "commit_index",
			    json_integer((json_int_t)st->commit_index));
			json_object_set_new(
			    o1, "applied_index",
			    json_integer((json_int_t)st->applied_index));
			json_object_set_new(
			    o1, "last_index",
			    json_integer((json_int_t)st->last_index));
			json_object_set_new(
			    o1, "snapshot_index",
			    json_integer((json_int_t)st->snapshot_index));
		}
		if (!ok)
			json_object_set_new(
			    o1, "error",
			    json_string(*p->err ? p->err : "no leader"));
		json_array_append_new(arr, o1);
	}
	if (arr)
		print_json(json_pack("{s:o}", "endpoints", arr));
	else
		print_table(rows, n + 1, cols);
	free(rows);
	kvctl_probe_clear(ps, n);
	free(ps);
	free_urls(urls, n);
	/* As etcdctl: any unhealthy (or, for status, unreachable) endpoint
	 * fails the command, so that a script or a probe notices. */
	return all_ok ? EXIT_OK : EXIT_UNAVAILABLE;
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
		if (!url_has_port(pos[2], strlen(pos[2]), true))
			return fail_usage(cmd_current->usage,
					  "bad PEER_URL %s: expected "
					  "http://HOST:PORT, the address the "
					  "new member's --listen-peer serves",
					  pos[2]);
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
		return report_write(g, rc, "the change");
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
		return report_write(g, rc, "the transfer");
	if (g->json)
		print_json(json_pack("{s:I}", "leader", (json_int_t)id));
	else
		printf("member %" PRIu64 " leads\n", id);
	return EXIT_OK;
}

/* --- snapshot --- */
static int cmd_snapshot(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--force", false}};
	const char *vals[1] = {NULL};
	bool flags[1] = {false};
	char *pos[2];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 1, vals, flags, pos,
			   &np, 2);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np != 2 || strcmp(pos[0], "save") != 0)
		return fail_usage(cmd_current->usage, "expected: %s",
				  cmd_current->usage + strlen("kvctl "));
	const char *file = pos[1];
	bool to_stdout = strcmp(file, "-") == 0;
	/* The handle is not used: opening it checks --endpoints the way every
	 * other command does (exit 2 when malformed). */
	int ec = open_handle(g);
	if (ec)
		return ec;
	char err[512];
	/* Before a download that may take minutes: a target that cannot be
	 * written fails now, not at the end. */
	if (!to_stdout && kvctl_snapshot_check_target(file, flags[0], err,
						      sizeof(err)) != 0) {
		char text[600];
		snprintf(text, sizeof(text), "snapshot save: %s", err);
		report_text(g, "snapshot_failed", text);
		return EXIT_OTHER;
	}
	struct kvctl_snapshot_result res;
	bool unavailable;
	bool progress = !g->json && isatty(STDERR_FILENO);
	if (kvctl_snapshot_save(g->endpoints, g->timeout_s, progress, file,
				flags[0], &res, &unavailable, err,
				sizeof(err)) != 0) {
		char text[600];
		snprintf(text, sizeof(text), "snapshot save: %s", err);
		report_text(g, unavailable ? "unavailable" : "snapshot_failed",
			    text);
		return unavailable ? EXIT_UNAVAILABLE : EXIT_OTHER;
	}
	/* With "-" the snapshot is on stdout: the summary goes to stderr. */
	FILE *out = to_stdout ? stderr : stdout;
	if (g->json) {
		json_t *j = json_pack(
		    "{s:s,s:I,s:I,s:I,s:s}", "file", file, "index",
		    (json_int_t)res.index, "term", (json_int_t)res.term,
		    "bytes", (json_int_t)res.bytes, "endpoint", res.endpoint);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (t)
			fprintf(out, "%s\n", t);
		free(t);
		json_decref(j);
	} else {
		fprintf(out,
			"snapshot at index %" PRIu64 " (term %" PRIu64
			", %" PRIu64 " bytes) from %s saved to %s\n",
			res.index, res.term, res.bytes, res.endpoint,
			to_stdout ? "standard output" : file);
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
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
    {"put", "kvctl put KEY [VALUE] [--cas M] [--lease ID]",
     "usage: kvctl put KEY [VALUE] [--cas M] [--lease ID]\n"
     "Writes VALUE (read from stdin when omitted) under KEY and prints\n"
     "the index the write was applied at. --cas M writes only if the\n"
     "key's mod index is M (0: only if the key does not exist); when it\n"
     "is not, exits 1. --lease ID attaches the key to lease ID (kvctl\n"
     "lease grant): it is deleted when the lease ends; an unknown lease\n"
     "exits 1. A put without --lease detaches the key.",
     cmd_put},
    {"get", "kvctl get KEY [--stale]",
     "usage: kvctl get KEY [--stale]\n"
     "Prints the raw value of KEY, nothing else (-o json: key, base64\n"
     "value and mod index). Exits 1 if KEY does not exist. --stale reads\n"
     "a member's local state without asking the leader.",
     cmd_get},
    {"del", "kvctl del KEY [--cas M] | --prefix P",
     "usage: kvctl del KEY [--cas M] | --prefix P\n"
     "Deletes KEY and prints the index of the delete. Exits 1 if KEY did\n"
     "not exist or, with --cas M, if its mod index is not M.\n"
     "--prefix P deletes every key starting with P (not empty) at one\n"
     "index and prints how many (-o json: {\"index\", \"deleted\"});\n"
     "none is not an error.",
     cmd_del},
    {"list", "kvctl list [PREFIX] [--limit N] [--keys-only | --count]",
     "usage: kvctl list [PREFIX] [--limit N] [--keys-only | --count]\n"
     "Prints the keys starting with PREFIX in key order, one per line as\n"
     "KEY<TAB>VALUE (tab, newline, backslash and control bytes escaped);\n"
     "-o json prints {\"kvs\": [{\"key\", \"value\" (base64), \"index\"}],\n"
     "\"more\"}. --limit N (1..10000) stops after N keys; when more keys\n"
     "match, a line \"kvctl: more keys match ...\" says so on stderr.\n"
     "--keys-only prints the keys alone (-o json: {\"keys\", \"more\"}).\n"
     "--count prints how many keys match (at most N with --limit; -o\n"
     "json: {\"count\", \"more\"}).",
     cmd_list},
    {"status", "kvctl status",
     "usage: kvctl status\n"
     "Prints one row per member: id, state, term, leader, commit index,\n"
     "applied index, client URL and whether it answered. Members are\n"
     "asked in parallel, each for at most 2 s, all within --timeout.\n"
     "Exits 3 when no member answered or none knows a leader.",
     cmd_status},
    {"endpoint", "kvctl endpoint health | status",
     "usage: kvctl endpoint health | status\n"
     "Asks each URL of --endpoints, in parallel, for at most --timeout\n"
     "(5 s at most). health: one row per endpoint: HEALTHY (true when it\n"
     "answers, is ready (/readyz) and knows a leader), REACHABLE, READY,\n"
     "LEADER (0: none known), TOOK (round-trip of GET /v1/status) and\n"
     "ERROR. status: its id, state, term, leader and commit, applied,\n"
     "last and snapshot indexes. Exits 3 when any endpoint is unhealthy\n"
     "(health) or unreachable (status).",
     cmd_endpoint},
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
    {"snapshot", "kvctl snapshot save FILE|- [--force]",
     "usage: kvctl snapshot save FILE|- [--force]\n"
     "Downloads a consistent snapshot of the store from the first member\n"
     "that answers (GET /v1/snapshot) into FILE, checking its length and\n"
     "CRC-32C, with a progress bar when stderr is a terminal. FILE's\n"
     "directory must exist and be writable, and FILE must not exist\n"
     "unless --force (checked before the download). - writes the snapshot\n"
     "to stdout as it arrives (a checksum mismatch is then said after the\n"
     "bytes, exit 4: discard them) and the summary to stderr. Start a new\n"
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
    {"lease", kvctl_lease_usage, kvctl_lease_help, kvctl_cmd_lease},
    {"txn", kvctl_txn_usage, kvctl_txn_help, kvctl_cmd_txn},
    {"lock", kvctl_lock_usage, kvctl_lock_help, kvctl_cmd_lock},
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
		if (strcmp(a, "--version") == 0) {
			printf("kvctl %s (libkvc %s)\n", KVCTL_VERSION,
			       kvc_version(NULL, NULL, NULL));
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
			json_errors = true;
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
