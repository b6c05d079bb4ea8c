/* test_server.c - unit tests of kvd's helpers: flags, query strings,
 * numbers, base64, numbered file
 * names, the durable file write, metrics, unsigned numbers in JSON, the
 * listener's header scan. */
#include <check.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "hexname.h"
#include "http_util.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "peer_trust.h"
#include "util.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static int parse(char **argv, int argc, struct config *c, char *err)
{
	int rc = config_parse(argc, argv, c, err, 256);
	return rc;
}

START_TEST(config_defaults_and_required)
{
	char *argv[] = {"kvd",
			"--id",
			"3",
			"--data-dir",
			"/tmp/x",
			"--listen-client",
			"127.0.0.1:7003",
			"--listen-peer",
			"127.0.0.1:7103",
			NULL};
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_OK);
	ck_assert_uint_eq(c.id, 3);
	ck_assert_str_eq(c.data_dir, "/tmp/x");
	ck_assert_str_eq(c.listen_client.host, "127.0.0.1");
	ck_assert_uint_eq(c.listen_client.port, 7003);
	ck_assert_uint_eq(c.election_timeout_ms, 1000);
	ck_assert_uint_eq(c.heartbeat_ms, 100);
	ck_assert_uint_eq(c.snapshot_entries, 10000);
	ck_assert_uint_eq(c.max_value_bytes, 1048576);
	ck_assert_uint_eq(c.request_timeout_ms, 5000);
	ck_assert_uint_eq(c.max_connections, 10000);
	ck_assert_uint_eq(c.header_timeout_ms, 10000);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c.n_initial, 0);
	/* Advertise URLs default to the listen addresses. */
	ck_assert_str_eq(c.advertise_client, "http://127.0.0.1:7003");
	ck_assert_str_eq(c.advertise_peer, "http://127.0.0.1:7103");
	ck_assert_ptr_null(c.peer_token);
	config_free(&c);
}
END_TEST

START_TEST(config_all_flags)
{
	char tok[] = "/tmp/kvd-test-token-XXXXXX";
	int fd = mkstemp(tok);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cret \n", 8), 8);
	close(fd);
	char *argv[] = {"kvd",
			"--id=2",
			"--data-dir",
			"d",
			"--listen-client",
			"[::1]:7002",
			"--listen-peer",
			"127.0.0.2:7102",
			"--initial-cluster",
			"1=http://127.0.0.1:7101,2=http://p.example:81/",
			"--advertise-client",
			"http://c.example:80/",
			"--advertise-peer",
			"http://p.example:81",
			"--peer-token-file",
			tok,
			"--election-timeout-ms",
			"400",
			"--heartbeat-ms",
			"50",
			"--snapshot-entries",
			"7",
			"--max-value-bytes",
			"0",
			"--request-timeout-ms",
			"2000",
			"--log-level",
			"debug",
			NULL};
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_OK);
	unlink(tok);
	ck_assert_uint_eq(c.id, 2);
	ck_assert_str_eq(c.listen_client.host, "::1");
	ck_assert_uint_eq(c.n_initial, 2);
	ck_assert_uint_eq(c.initial[1].id, 2);
	ck_assert_str_eq(c.initial[1].peer_url, "http://p.example:81");
	ck_assert_str_eq(c.advertise_client, "http://c.example:80");
	ck_assert_str_eq(c.advertise_peer, "http://p.example:81");
	ck_assert_str_eq(c.peer_token, "s3cret"); /* whitespace trimmed */
	ck_assert_uint_eq(c.election_timeout_ms, 400);
	ck_assert_uint_eq(c.heartbeat_ms, 50);
	ck_assert_uint_eq(c.snapshot_entries, 7);
	ck_assert_uint_eq(c.max_value_bytes, 0);
	ck_assert_uint_eq(c.request_timeout_ms, 2000);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
	config_free(&c);
}
END_TEST

/* What a child writes to stderr: @how 0 holds a line then releases with
 * writing, 1 drops it (a failed start printing its own line), 2 exits
 * while holding (a fatal error during start). */
static void held_lines_child(int how, char *out, size_t cap)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		log_init(7, LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
		log_hold();
		log_info("held line");
		if (how == 0)
			log_release(1);
		else if (how == 1)
			log_release(0);
		exit(how == 2 ? 1 : 0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* Lines logged while a member starts are held: written once it serves,
 * dropped when the start fails with its own line, and written when the
 * process exits while holding them (a fatal error inside the start). */
START_TEST(log_held_lines)
{
	char out[512];
	held_lines_child(0, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "INFO  [7] held line"));
	held_lines_child(1, out, sizeof(out));
	ck_assert_str_eq(out, "");
	held_lines_child(2, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "held line"));
}
END_TEST

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* --config FILE: `flag = value` lines and # comments, applied through the
 * same table; the command line wins; a bad line names the file and line. */
START_TEST(config_file)
{
	char path[] = "/tmp/kvd-test-conf-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_text(path, "# kvd.conf\n"
			 "id = 3\n"
			 "  data-dir=/var/lib/kvd   \n"
			 "\n"
			 "listen-client = 127.0.0.1:7003\r\n"
			 "--listen-peer = 127.0.0.1:7103\n"
			 "initial-cluster = 3=http://127.0.0.1:7103\n"
			 "heartbeat-ms = 6o\n");
	char *argv[] = {"kvd", "--config", path, NULL};
	struct config c;
	char err[512];
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, ":8: "));
	ck_assert_ptr_nonnull(strstr(err, "--heartbeat-ms"));
	config_free(&c);

	write_text(path, "# kvd.conf\n"
			 "id = 3\n"
			 "  data-dir=/var/lib/kvd   \n"
			 "\n"
			 "listen-client = 127.0.0.1:7003\r\n"
			 "--listen-peer = 127.0.0.1:7103\n"
			 "heartbeat-ms = 60\n"
			 "max-watchers = 5 # a comment\n"
			 "restore = /backups/kvd#2.snap\n");
	char *argv2[] = {"kvd", "--heartbeat-ms", "70", "--config=", NULL};
	char opt[64];
	snprintf(opt, sizeof(opt), "--config=%s", path);
	argv2[3] = opt;
	ck_assert_int_eq(parse(argv2, ARGC(argv2), &c, err), CONFIG_OK);
	ck_assert_uint_eq(c.id, 3);
	ck_assert_str_eq(c.data_dir, "/var/lib/kvd");
	ck_assert_uint_eq(c.listen_client.port, 7003);
	ck_assert_uint_eq(c.listen_peer.port, 7103);
	ck_assert_uint_eq(c.heartbeat_ms, 70); /* the command line wins */
	ck_assert_uint_eq(c.max_watchers, 5);
	ck_assert_str_eq(c.restore, "/backups/kvd#2.snap"); /* not a comment */
	config_free(&c);

	static const char *const bad[][2] = {
	    {"no-such-flag = 1\n", "no-such-flag"},
	    {"id 3\n", "expected"},
	    {"help = 1\n", "help"},
	    {"config = /x\n", "config"},
	    {"id = 0\n", "--id"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i][0]);
		char *argv3[] = {"kvd", "--config", path, NULL};
		ck_assert_int_eq(parse(argv3, ARGC(argv3), &c, err),
				 CONFIG_ERROR);
		ck_assert_msg(strstr(err, ":1: ") != NULL &&
				  strstr(err, bad[i][1]) != NULL,
			      "%s: %s", bad[i][0], err);
		ck_assert_ptr_null(strchr(err, '\n'));
		config_free(&c);
	}
	unlink(path);
	char *argv4[] = {"kvd", "--config", "/nonexistent/kvd.conf", NULL};
	ck_assert_int_eq(parse(argv4, ARGC(argv4), &c, err), CONFIG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/kvd.conf"));
	config_free(&c);
}
END_TEST

/* Each bad command line is CONFIG_ERROR with a message naming the flag. */
START_TEST(config_errors)
{
	static const char *const cases[][3] = {
	    {"--no-such-flag", NULL, "--no-such-flag"},
	    {"--id", "0", "--id"},
	    {"--id", "-3", "--id"},
	    {"--id", "12abc", "--id"},
	    {"--heartbeat-ms", "fast", "--heartbeat-ms"},
	    {"--heartbeat-ms", "1000", "--heartbeat-ms"},
	    {"--election-timeout-ms", "5", "--election-timeout-ms"},
	    {"--max-value-bytes", "99999999999", "--max-value-bytes"},
	    {"--listen-client", "nohost", "--listen-client"},
	    {"--listen-client", "h:0", "--listen-client"},
	    {"--listen-client", "h:65536", "--listen-client"},
	    {"--initial-cluster", "2=http://127.0.0.1:1", "--initial-cluster"},
	    {"--initial-cluster", "1=ftp://x:1", "--initial-cluster"},
	    {"--initial-cluster", "1", "--initial-cluster"},
	    {"--initial-cluster", "1=http://a:1,1=http://b:2",
	     "--initial-cluster"},
	    {"--peer-token-file", "/nonexistent/token", "--peer-token-file"},
	    {"--log-level", "loud", "--log-level"},
	    {"--advertise-client", "127.0.0.1:1", "--advertise-client"},
	    {"--election-timeout-ms", NULL, "--election-timeout-ms"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = {"kvd",	 "--id",
				  "1",		 "--data-dir",
				  "d",		 "--listen-client",
				  "127.0.0.1:1", "--listen-peer",
				  "127.0.0.1:2"};
		int argc = 9;
		argv[argc++] = (char *)cases[i][0];
		if (cases[i][1] != NULL)
			argv[argc++] = (char *)cases[i][1];
		argv[argc] = NULL;
		struct config c;
		char err[256] = "";
		int rc = parse(argv, argc, &c, err);
		ck_assert_msg(rc == CONFIG_ERROR, "case %zu accepted", i);
		ck_assert_msg(strstr(err, cases[i][2]) != NULL,
			      "case %zu: '%s' does not name %s", i, err,
			      cases[i][2]);
		ck_assert_ptr_null(strchr(err, '\n'));
		config_free(&c);
	}
}
END_TEST

START_TEST(config_missing_required_and_empty_token)
{
	char *argv[] = {"kvd",	       "--id", "1",
			"--data-dir",  "d",    "--listen-client",
			"127.0.0.1:1", NULL};
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--listen-peer"));
	config_free(&c);

	char tok[] = "/tmp/kvd-test-token-XXXXXX";
	int fd = mkstemp(tok);
	ck_assert_int_eq(write(fd, " \n", 2), 2);
	close(fd);
	char *argv2[] = {"kvd",		"--id",
			 "1",		"--data-dir",
			 "d",		"--listen-client",
			 "127.0.0.1:1", "--listen-peer",
			 "127.0.0.1:2", "--peer-token-file",
			 tok,		NULL};
	ck_assert_int_eq(parse(argv2, ARGC(argv2), &c, err), CONFIG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	config_free(&c);
	unlink(tok);
}
END_TEST

/* Parses the required flags and then --@name=@value (value NULL: only the
 * required flags). */
static int parse_with(const char *name, const char *value, struct config *c,
		      char *err)
{
	char flag[128];
	char *argv[] = {"kvd",	       "--id",
			"1",	       "--data-dir",
			"d",	       "--listen-client",
			"127.0.0.1:1", "--listen-peer",
			"127.0.0.1:2", flag,
			NULL};
	int argc = ARGC(argv);
	if (value == NULL)
		argc--;
	else
		snprintf(flag, sizeof(flag), "--%s=%s", name, value);
	err[0] = '\0';
	return parse(argv, argc, c, err);
}

/* config_flags is the one table of flags: each default parses (and is
 * what the parser applies without the flag), each range is enforced at
 * both ends, and --help shows every flag with its default and range. */
START_TEST(config_flag_table)
{
	struct config plain, c;
	char err[256];
	char text[32];
	ck_assert_uint_gt(config_n_flags, 20);
	ck_assert_int_eq(parse_with(NULL, NULL, &plain, err), CONFIG_OK);
	for (size_t i = 0; i < config_n_flags; i++) {
		const struct config_flag *f = &config_flags[i];
		ck_assert_ptr_nonnull(f->name);
		ck_assert_ptr_nonnull(f->help);
		ck_assert_ptr_nonnull(f->set);
		ck_assert_msg(f->min <= f->max, "--%s: min above max", f->name);
		if (f->def != NULL) {
			/* Given explicitly, the default changes nothing. */
			ck_assert_msg(parse_with(f->name, f->def, &c, err) ==
					  CONFIG_OK,
				      "--%s=%s: %s", f->name, f->def, err);
			char *own = c.data_dir; /* a copy of its own */
			c.data_dir = plain.data_dir;
			ck_assert_msg(memcmp(&c, &plain, sizeof(c)) == 0,
				      "--%s: the default is not what the "
				      "parser applies",
				      f->name);
			c.data_dir = own;
			config_free(&c);
		}
		if (f->max == 0)
			continue; /* not a number */
		/* Both ends are accepted: OK, or only a check that ties it
		 * to another flag (heartbeat below election timeout). */
		const uint64_t ends[] = {f->min, f->max};
		for (int e = 0; e < 2; e++) {
			snprintf(text, sizeof(text), "%" PRIu64, ends[e]);
			int rc = parse_with(f->name, text, &c, err);
			ck_assert_msg(rc == CONFIG_OK ||
					  strstr(err, "must be below") != NULL,
				      "--%s=%s: %s", f->name, text, err);
			config_free(&c);
		}
		/* Just outside is refused, with a line naming the flag. */
		if (f->min > 0) {
			snprintf(text, sizeof(text), "%" PRIu64, f->min - 1);
			ck_assert_int_eq(parse_with(f->name, text, &c, err),
					 CONFIG_ERROR);
			ck_assert_msg(strstr(err, f->name) != NULL, "%s", err);
			config_free(&c);
		}
		snprintf(text, sizeof(text), "%" PRIu64, f->max + 1);
		ck_assert_int_eq(parse_with(f->name, text, &c, err),
				 CONFIG_ERROR);
		ck_assert_msg(strstr(err, f->name) != NULL, "%s", err);
		config_free(&c);
		ck_assert_int_eq(parse_with(f->name, "x", &c, err),
				 CONFIG_ERROR);
		config_free(&c);
	}
	config_free(&plain);

	char *help = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&help, &len);
	ck_assert_ptr_nonnull(out);
	config_usage(out);
	fclose(out);
	for (size_t i = 0; i < config_n_flags; i++) {
		const struct config_flag *f = &config_flags[i];
		char line[128], def[128];
		snprintf(line, sizeof(line), "\n  --%s%s%s", f->name,
			 f->arg != NULL ? " " : "",
			 f->arg != NULL ? f->arg : "");
		ck_assert_msg(strstr(help, line) != NULL, "--help lacks %s",
			      line + 1);
		if (f->def == NULL)
			continue;
		if (f->max > 0)
			snprintf(def, sizeof(def),
				 "(default %s, %" PRIu64 "..%" PRIu64 ")",
				 f->def, f->min, f->max);
		else
			snprintf(def, sizeof(def), "(default %s)", f->def);
		/* In this flag's paragraph, before the next flag's. */
		const char *at = strstr(help, line);
		const char *next = strstr(at + 1, "\n  --");
		const char *d = strstr(at, def);
		ck_assert_msg(d != NULL && (next == NULL || d < next),
			      "--help: --%s lacks %s", f->name, def);
	}
	free(help);
}
END_TEST

START_TEST(query_decoding)
{
	struct http_param p[] = {{.name = "prefix"},
				 {.name = "after"},
				 {.name = "limit"},
				 {.name = "missing"}};
	ck_assert_int_eq(
	    http_parse_query("prefix=a%2Fb+c%00d&limit=5&prefix=ignored&"
			     "x=1&after=",
			     p, 4),
	    0);
	ck_assert_uint_eq(p[0].len, 7);
	ck_assert_mem_eq(p[0].value, "a/b c\0d", 7);
	ck_assert_ptr_nonnull(p[1].value); /* present but empty */
	ck_assert_uint_eq(p[1].len, 0);
	ck_assert_str_eq(p[2].value, "5");
	ck_assert_ptr_null(p[3].value);
	http_params_free(p, 4);
	ck_assert_int_eq(http_parse_query(NULL, p, 4), 0);
	ck_assert_ptr_null(p[0].value);
}
END_TEST

START_TEST(u64_parsing)
{
	uint64_t v;
	ck_assert_int_eq(http_parse_u64("0", 1, 0, 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(
	    http_parse_u64("18446744073709551615", 20, 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(
	    http_parse_u64("18446744073709551616", 20, 0, UINT64_MAX, &v), -1);
	ck_assert_int_eq(http_parse_u64("", 0, 0, 10, &v), -1);
	ck_assert_int_eq(http_parse_u64("-1", 2, 0, 10, &v), -1);
	ck_assert_int_eq(http_parse_u64("1x", 2, 0, 10, &v), -1);
	ck_assert_int_eq(http_parse_u64("11", 2, 0, 10, &v), -1);
	ck_assert_int_eq(http_parse_u64("0", 1, 1, 10, &v), -1);
}
END_TEST

/* `wait` durations: digits and a unit, at most 600 s; anything else is
 * refused. */
START_TEST(wait_durations)
{
	static const struct {
		const char *in;
		int ok;
		uint64_t ms;
	} cases[] = {
	    {"30s", 1, 30000},
	    {"500ms", 1, 500},
	    {"5m", 1, 300000},
	    {"0s", 1, 0},
	    {"600s", 1, 600000},
	    {"10m", 1, 600000},
	    {"600000ms", 1, 600000},
	    {"601s", 0, 0},
	    {"11m", 0, 0},
	    {"600001ms", 0, 0},
	    {"5", 0, 0},
	    {"s", 0, 0},
	    {"", 0, 0},
	    {"-1s", 0, 0},
	    {"5x", 0, 0},
	    {"5 s", 0, 0},
	    {"1h", 0, 0},
	    {"5S", 0, 0},
	    {"99999999999999999999999s", 0, 0},
	    {"+5s", 0, 0},
	    {"5sm", 0, 0},
	    {"5mss", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		int rc = http_parse_wait(cases[i].in, strlen(cases[i].in), &ms);
		ck_assert_msg((rc == 0) == cases[i].ok, "%s", cases[i].in);
		if (cases[i].ok)
			ck_assert_uint_eq(ms, cases[i].ms);
	}
}
END_TEST

START_TEST(base64_vectors)
{
	/* RFC 4648 §10. */
	static const char *const in[] = {"",	 "f",	  "fo",	   "foo",
					 "foob", "fooba", "foobar"};
	static const char *const out[] = {
	    "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		char *s = http_base64((const uint8_t *)in[i], strlen(in[i]));
		ck_assert_str_eq(s, out[i]);
		free(s);
	}
	uint8_t bin[] = {0x00, 0xff, 0xfe};
	char *s = http_base64(bin, 3);
	ck_assert_str_eq(s, "AP/+");
	free(s);
}
END_TEST

/* Numbered file names (WAL segments, snapshots): exactly prefix, 16
 * lowercase hex digits, suffix. */
START_TEST(hexname_parsing)
{
	uint64_t v = 0;
	ck_assert(
	    hexname_parse("snap-00000000000000ff.mdb", "snap-", ".mdb", &v));
	ck_assert_uint_eq(v, 255);
	ck_assert(
	    hexname_parse("wal-ffffffffffffffff.log", "wal-", ".log", &v));
	ck_assert_uint_eq(v, UINT64_MAX);
	static const char *const bad[] = {
	    "snap-00000000000000FF.mdb",  /* upper case */
	    "snap-0000000000000ff.mdb",	  /* 15 digits */
	    "snap-000000000000000ff.mdb", /* 17 digits */
	    "snap-00000000000000ff.meta", "snap-00000000000000ff.mdb.tmp",
	    "snap-00000000000000g0.mdb",  "xsnap-0000000000000ff.mdb",
	    "snap-00000000000000ff",	  "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		ck_assert_msg(!hexname_parse(bad[i], "snap-", ".mdb", &v),
			      "'%s' accepted", bad[i]);
		ck_assert_uint_eq(v, 7);
	}
}
END_TEST

/* The node's gauges and counters (kvdraft_node_stats): each value under
 * its own name. */
static char *render_node(const struct kvdraft_node_stats *s)
{
	struct metrics m = {0};
	struct evbuffer *out = evbuffer_new();
	metrics_render(&m, s, out);
	size_t len = evbuffer_get_length(out);
	char *text = malloc(len + 1);
	evbuffer_remove(out, text, len);
	text[len] = '\0';
	evbuffer_free(out);
	return text;
}

START_TEST(metrics_node_values)
{
	struct kvdraft_node_stats s = {
	    .size = sizeof(s),
	    .term = 7,
	    .commit = 41,
	    .applied = 40,
	    .last_index = 42,
	    .persisted = 39,
	    .role = 3,
	    .is_leader = true,
	    .leader = 2,
	    .pending_reads = 5,
	    .pending_requests = 6,
	    .store_full = true,
	    .apply_backlog_bytes = 1u << 20,
	    .wal_jobs_inflight = 2,
	    .peer_msgs_sent = 11,
	    .peer_msgs_received = 12,
	    .peer_msgs_dropped = 13,
	    .peer_errors = 14,
	    .peer_bytes_sent = 15,
	    .peer_bytes_received = 16,
	    .peer_bad_requests = 17,
	    .peer_unauthorized = 18,
	    .peer_posts_pipelined = 21,
	    .snapshot_index = 30,
	    .snapshots_taken = 4,
	    .proposals_total = 19,
	};
	char *text = render_node(&s);
	static const char *const want[] = {
	    "# TYPE kvd_raft_term gauge\nkvd_raft_term 7\n",
	    "\nkvd_raft_commit_index 41\n",
	    "\nkvd_raft_applied_index 40\n",
	    "\nkvd_raft_last_index 42\n",
	    "\nkvd_raft_persisted_index 39\n",
	    "\nkvd_raft_role 3\n",
	    "\nkvd_raft_is_leader 1\n",
	    "\nkvd_raft_leader_id 2\n",
	    "\nkvd_raft_pending_reads 5\n",
	    "\nkvd_pending_requests 6\n",
	    "\nkvd_store_full 1\n",
	    "\nkvd_apply_backlog_bytes 1048576\n",
	    "\nkvd_wal_jobs_inflight 2\n",
	    "# TYPE kvd_peer_messages_sent_total counter\n"
	    "kvd_peer_messages_sent_total 11\n",
	    "\nkvd_peer_messages_received_total 12\n",
	    "\nkvd_peer_messages_dropped_total 13\n",
	    "\nkvd_peer_errors_total 14\n",
	    "\nkvd_peer_bytes_sent_total 15\n",
	    "\nkvd_peer_bytes_received_total 16\n",
	    "\nkvd_peer_bad_requests_total 17\n",
	    "\nkvd_peer_unauthorized_total 18\n",
	    "\nkvd_peer_posts_pipelined_total 21\n",
	    "\nkvd_snapshot_index 30\n",
	    "\nkvd_snapshots_total 4\n",
	    "\nkvd_proposals_total 19\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(text, want[i]) != NULL, "missing %s",
			      want[i]);
	free(text);

	s.wal_jobs = 100;
	s.wal_lazy_jobs = 30;
	s.is_leader = false;
	s.store_full = false;
	text = render_node(&s);
	ck_assert_ptr_nonnull(strstr(
	    text,
	    "# TYPE kvd_wal_jobs_total counter\nkvd_wal_jobs_total 100\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nkvd_wal_lazy_jobs_total 30\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nkvd_raft_is_leader 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nkvd_store_full 0\n"));
	/* The WAL writer's counters come after the jobs in flight, before
	 * the peers': the order of the page is kept. */
	char *inflight = strstr(text, "kvd_wal_jobs_inflight 2");
	char *jobs = strstr(text, "kvd_wal_jobs_total 100");
	char *peers = strstr(text, "kvd_peer_messages_sent_total 11");
	ck_assert(inflight != NULL && jobs != NULL && peers != NULL);
	ck_assert(inflight < jobs && jobs < peers);
	free(text);
}
END_TEST

START_TEST(metrics_buckets_and_text)
{
	struct metrics m = {0};
	metrics_http(&m, ROUTE_KV_PUT, 200, 0.0003);
	metrics_http(&m, ROUTE_KV_PUT, 503, 20.0);
	metrics_http(&m, ROUTE_KV_PUT, 299, 0.0);
	ck_assert_uint_eq(m.request_seconds[ROUTE_KV_PUT].count, 3);
	ck_assert_uint_eq(m.request_seconds[ROUTE_KV_PUT].inf, 1);
	struct kvdraft_node_stats st = {.size = sizeof(st)};
	struct evbuffer *out = evbuffer_new();
	metrics_render(&m, &st, out);
	size_t len = evbuffer_get_length(out);
	char *text = malloc(len + 1);
	evbuffer_remove(out, text, len);
	text[len] = '\0';
	ck_assert_ptr_nonnull(strstr(
	    text, "kvd_http_requests_total{route=\"kv_put\",code=\"200\"} "
		  "1\n"));
	ck_assert_ptr_nonnull(strstr(
	    text,
	    "kvd_http_requests_total{route=\"kv_put\",code=\"other\"} 1\n"));
	/* 0.0003 s and 0 s fall at or below 0.0005; 20 s only in +Inf. */
	ck_assert_ptr_nonnull(
	    strstr(text, "kvd_http_request_duration_seconds_bucket{route="
			 "\"kv_put\",le=\"0.0005\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "kvd_http_request_duration_seconds_bucket{route="
			 "\"kv_put\",le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(
	    text,
	    "kvd_http_request_duration_seconds_count{route=\"kv_put\"} 3\n"));
	free(text);
	evbuffer_free(out);
}
END_TEST

START_TEST(util_fail_formats_and_returns_minus_one)
{
	char err[16] = "unchanged";
	ck_assert_int_eq(util_fail(err, sizeof(err), "bad %s %d", "flag", 7),
			 -1);
	ck_assert_str_eq(err, "bad flag 7");
	/* Truncated to the buffer, still terminated. */
	ck_assert_int_eq(util_fail(err, 5, "%s", "abcdefgh"), -1);
	ck_assert_str_eq(err, "abcd");
	/* No buffer: only the return value. */
	ck_assert_int_eq(util_fail(NULL, 0, "x"), -1);
	ck_assert_int_eq(util_fail(err, 0, "y"), -1);
	ck_assert_str_eq(err, "abcd");
}
END_TEST

/* Reads @path whole into @buf (NUL-terminated); returns its length or -1. */
static long slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (long)n;
}

/* The one durable file write (members.json, snapshot records): the new
 * contents replace the old whole, mode 0600, no temporary file left; when
 * the temporary file cannot be made the old contents stay. */
START_TEST(util_write_file_replaces_whole)
{
	char dir[] = "/tmp/kvd-test-write-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[512], tmp[512], buf[64];
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s/f.tmp", dir);
	char err[256] = "";
	ck_assert_int_eq(util_write_file(path, "first\n", 6, err, sizeof(err)),
			 0);
	ck_assert_int_eq(util_write_file(path, "second", 6, err, sizeof(err)),
			 0);
	ck_assert_int_eq(slurp(path, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "second");
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	/* A directory where the temporary file goes: refused, old kept. */
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert_int_eq(util_write_file(path, "third", 5, err, sizeof(err)),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, tmp));
	ck_assert_int_eq(slurp(path, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "second");
	rmdir(tmp);
	/* Empty contents are a file too. */
	ck_assert_int_eq(util_write_file(path, "", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(slurp(path, buf, sizeof(buf)), 0);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(config_max_txn_bytes_range)
{
	/* Default 4 MiB; 1024 up to the limit every entry fits. */
	char *argv[] = {"kvd",
			"--id",
			"3",
			"--data-dir",
			"/tmp/x",
			"--listen-client",
			"127.0.0.1:7003",
			"--listen-peer",
			"127.0.0.1:7103",
			NULL,
			NULL,
			NULL};
	char err[256];
	struct config c;
	ck_assert_int_eq(parse(argv, 9, &c, err), CONFIG_OK);
	ck_assert_uint_eq(c.max_txn_bytes, 4194304);
	config_free(&c);
	static const struct {
		const char *v;
		int ok;
	} v[] = {{"1024", 1},	  {"1023", 0}, {"16777216", 1},
		 {"16777217", 0}, {"0", 0},    {"4k", 0}};
	argv[9] = "--max-txn-bytes";
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		argv[10] = (char *)v[i].v;
		int rc = parse(argv, 11, &c, err);
		ck_assert_int_eq(rc, v[i].ok ? CONFIG_OK : CONFIG_ERROR);
		if (v[i].ok)
			ck_assert_uint_eq(c.max_txn_bytes,
					  strtoull(v[i].v, NULL, 10));
		else
			ck_assert_ptr_nonnull(strstr(err, "--max-txn-bytes"));
		config_free(&c);
	}
}
END_TEST

START_TEST(config_max_value_bytes_upper_bound)
{
	/* The limit the receive/recovery paths are sized from is exactly
	 * the largest value the flag accepts. */
	char limit[32], above[32], err[256];
	snprintf(limit, sizeof(limit), "%u", CONFIG_MAX_VALUE_BYTES_LIMIT);
	snprintf(above, sizeof(above), "%u", CONFIG_MAX_VALUE_BYTES_LIMIT + 1);
	char *argv[] = {"kvd",
			"--id",
			"3",
			"--data-dir",
			"/tmp/x",
			"--listen-client",
			"127.0.0.1:7003",
			"--listen-peer",
			"127.0.0.1:7103",
			"--max-value-bytes",
			limit,
			NULL};
	struct config c;
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_OK);
	ck_assert_uint_eq(c.max_value_bytes, CONFIG_MAX_VALUE_BYTES_LIMIT);
	config_free(&c);
	argv[10] = above;
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--max-value-bytes"));
	config_free(&c);
}
END_TEST

START_TEST(json_text_never_an_empty_success)
{
	int status = 200;
	char *t = http_json_text(json_pack("{s:i}", "index", 7), &status);
	ck_assert_str_eq(t, "{\"index\":7}");
	ck_assert_int_eq(status, 200);
	free(t);

	/* A bare string is not a JSON document jansson will encode: the
	 * answer must turn into a 500 error, not "{}" with status 200. */
	status = 200;
	t = http_json_text(json_string("x"), &status);
	ck_assert_int_eq(status, 500);
	ck_assert_ptr_nonnull(strstr(t, "\"error\":\"internal\""));
	free(t);

	status = 200;
	t = http_json_text(NULL, &status);
	ck_assert_int_eq(status, 500);
	ck_assert_ptr_nonnull(strstr(t, "\"internal\""));
	free(t);
}
END_TEST

/* The TLS flags go together, and make the default client URL https. */
START_TEST(config_tls_flags)
{
	char *argv[16] = {"kvd",
			  "--id",
			  "1",
			  "--data-dir",
			  "/tmp/x",
			  "--listen-client",
			  "127.0.0.1:7001",
			  "--listen-peer",
			  "127.0.0.1:7101",
			  NULL};
	struct config c;
	char err[256];
	char **extra = argv + 9;
	extra[0] = "--client-cert", extra[1] = "s.pem";
	extra[2] = "--client-key", extra[3] = "s.key";
	extra[4] = "--client-ca", extra[5] = "ca.pem";
	ck_assert_int_eq(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(c.client_cert, "s.pem");
	ck_assert_str_eq(c.client_key, "s.key");
	ck_assert_str_eq(c.client_ca, "ca.pem");
	ck_assert_str_eq(c.advertise_client, "https://127.0.0.1:7001");
	ck_assert_str_eq(c.advertise_peer, "http://127.0.0.1:7101");
	config_free(&c);

	extra[4] = "--advertise-client", extra[5] = "https://h:1/";
	ck_assert_int_eq(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(c.advertise_client, "https://h:1");
	config_free(&c);
	extra[5] = "http://h:1";
	ck_assert_int_ne(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--advertise-client: 'http://h:1' is not "
			      "https://HOST:PORT");
	config_free(&c);

	/* A key without a certificate, a CA without either. */
	extra[0] = "--log-level", extra[1] = "info";
	extra[4] = "--log-level", extra[5] = "info";
	ck_assert_int_ne(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--client-cert and --client-key go together");
	config_free(&c);
	extra[2] = "--client-ca", extra[3] = "ca.pem";
	ck_assert_int_ne(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(err,
			 "--client-ca needs --client-cert and --client-key");
	config_free(&c);
	/* Without TLS an https URL is refused as before. */
	extra[2] = "--advertise-client", extra[3] = "https://h:1";
	ck_assert_int_ne(parse(argv, 13, &c, err), CONFIG_OK);
	config_free(&c);
}
END_TEST

/* The peer TLS flags go all three together, make the default peer URL
 * https, and peer URLs must be https exactly when they are given. */
START_TEST(config_peer_tls_flags)
{
	char *argv[20] = {"kvd",
			  "--id",
			  "1",
			  "--data-dir",
			  "/tmp/x",
			  "--listen-client",
			  "127.0.0.1:7001",
			  "--listen-peer",
			  "127.0.0.1:7101",
			  NULL};
	struct config c;
	char err[256];
	char **extra = argv + 9;
	extra[0] = "--peer-cert", extra[1] = "p.pem";
	extra[2] = "--peer-key", extra[3] = "p.key";
	extra[4] = "--peer-ca", extra[5] = "ca.pem";
	ck_assert_int_eq(parse(argv, 15, &c, err), CONFIG_OK);
	ck_assert_str_eq(c.peer_cert, "p.pem");
	ck_assert_str_eq(c.peer_key, "p.key");
	ck_assert_str_eq(c.peer_ca, "ca.pem");
	ck_assert_str_eq(c.advertise_peer, "https://127.0.0.1:7101");
	ck_assert_str_eq(c.advertise_client, "http://127.0.0.1:7001");
	config_free(&c);

	extra[6] = "--advertise-peer", extra[7] = "https://h:2/";
	extra[8] = "--initial-cluster",
	extra[9] = "1=https://h:2,2=https://g:2";
	ck_assert_int_eq(parse(argv, 19, &c, err), CONFIG_OK);
	ck_assert_str_eq(c.advertise_peer, "https://h:2");
	ck_assert_int_eq(c.n_initial, 2);
	config_free(&c);
	extra[9] = "1=https://h:2,2=http://g:2";
	ck_assert_int_ne(parse(argv, 19, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--initial-cluster: bad peer URL 'http://g:2' "
			      "for member 2 (want https://HOST:PORT with "
			      "--peer-cert)");
	config_free(&c);
	extra[7] = "http://h:2";
	ck_assert_int_ne(parse(argv, 17, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--advertise-peer: 'http://h:2' is not "
			      "https://HOST:PORT (with --peer-cert)");
	config_free(&c);

	/* Without TLS, https peer URLs are refused. */
	extra[0] = "--advertise-peer", extra[1] = "https://h:2";
	ck_assert_int_ne(parse(argv, 11, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--advertise-peer: 'https://h:2' is not "
			      "http://HOST:PORT");
	config_free(&c);
	extra[0] = "--initial-cluster", extra[1] = "1=https://h:2";
	ck_assert_int_ne(parse(argv, 11, &c, err), CONFIG_OK);
	config_free(&c);

	/* Not all three. */
	extra[0] = "--peer-cert", extra[1] = "p.pem";
	ck_assert_int_ne(parse(argv, 13, &c, err), CONFIG_OK);
	ck_assert_str_eq(err, "--peer-cert, --peer-key and --peer-ca go "
			      "together (all three or none)");
	config_free(&c);
	extra[2] = "--peer-ca", extra[3] = "ca.pem";
	ck_assert_int_ne(parse(argv, 13, &c, err), CONFIG_OK);
	config_free(&c);
}
END_TEST

START_TEST(config_connection_flags)
{
	char *argv[] = {"kvd",
			"--id",
			"1",
			"--data-dir",
			"/tmp/x",
			"--listen-client",
			"127.0.0.1:7001",
			"--listen-peer",
			"127.0.0.1:7101",
			"--max-connections",
			"3",
			"--header-timeout-ms",
			"250",
			NULL};
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(argv, ARGC(argv), &c, err), CONFIG_OK);
	ck_assert_uint_eq(c.max_connections, 3);
	ck_assert_uint_eq(c.header_timeout_ms, 250);
	config_free(&c);
	const char *bad[][2] = {{"--max-connections", "0"},
				{"--max-connections", "1000001"},
				{"--max-connections", "-1"},
				{"--header-timeout-ms", "0"},
				{"--header-timeout-ms", "600001"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[11] = (char *)bad[i][0];
		argv[12] = (char *)bad[i][1];
		argv[9] = (char *)"--log-level";
		argv[10] = (char *)"info";
		ck_assert_int_eq(parse(argv, ARGC(argv), &c, err),
				 CONFIG_ERROR);
		ck_assert_ptr_nonnull(strstr(err, bad[i][0]));
		config_free(&c);
	}
}
END_TEST

START_TEST(json_u64_above_int64_max)
{
	/* jansson's json_int_t is signed: (json_int_t)UINT64_MAX is -1. */
	const struct http_u64 nums[] = {{"term", UINT64_MAX},
					{"index", (uint64_t)INT64_MAX + 1},
					{"zero", 0}};
	int status = 200;
	char *t = http_json_text_u64(json_pack("{s:s}", "state", "leader"),
				     nums, 3, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(t, "{\"state\":\"leader\","
			    "\"term\":18446744073709551615,"
			    "\"index\":9223372036854775808,\"zero\":0}");
	free(t);
	/* An empty object gets no leading comma. */
	t = http_json_text_u64(json_object(), nums, 1, &status);
	ck_assert_str_eq(t, "{\"term\":18446744073709551615}");
	free(t);
	/* What cannot be encoded is still the internal error, not "{}". */
	t = http_json_text_u64(NULL, nums, 1, &status);
	ck_assert_int_eq(status, 500);
	ck_assert_ptr_nonnull(strstr(t, "internal"));
	free(t);
}
END_TEST

static size_t scan_all(const char *s, int *state)
{
	return listener_scan_headers((const unsigned char *)s, strlen(s),
				     state);
}

/* The startup warning of a peer port that trusts its network: only off
 * loopback, only with neither a token nor TLS. */
START_TEST(peer_trust_warning)
{
	static const char *const loop[] = {
	    "127.0.0.1", "127.0.0.11", "127.255.255.254", "::1",
	    "localhost", "LOCALHOST",  "::ffff:127.0.0.1"};
	static const char *const open_[] = {
	    "0.0.0.0",		 "::",	      "",	 "10.0.0.1",
	    "128.0.0.1",	 "::2",	      "fe80::1", "::ffff:10.0.0.1",
	    "localhost.example", "127.0.0.1x"};

	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		ck_assert_msg(peer_trust_loopback(loop[i]), "%s", loop[i]);
		ck_assert(!peer_trust_warn(loop[i], false, false));
	}
	for (size_t i = 0; i < sizeof(open_) / sizeof(open_[0]); i++) {
		ck_assert_msg(!peer_trust_loopback(open_[i]), "%s", open_[i]);
		ck_assert(peer_trust_warn(open_[i], false, false));
		ck_assert(!peer_trust_warn(open_[i], true, false));
		ck_assert(!peer_trust_warn(open_[i], false, true));
	}
	ck_assert(!peer_trust_loopback(NULL));
}
END_TEST

START_TEST(listener_header_scan)
{
	int st = 0;
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
	ck_assert_uint_eq(scan_all(req, &st), strlen(req) - 4);
	st = 0;
	ck_assert_uint_eq(scan_all("GET / HTTP/1.1\nA: b\n\n", &st), 21);
	/* Split anywhere, one byte at a time: found at the last "\n". */
	const char *crlf = "PUT /k HTTP/1.1\r\nA: b\r\n\r\n";
	st = 0;
	for (size_t i = 0; i < strlen(crlf); i++) {
		size_t n = listener_scan_headers(
		    (const unsigned char *)crlf + i, 1, &st);
		ck_assert_uint_eq(n, i + 1 == strlen(crlf) ? 1 : 0);
	}
	/* A slow header that never ends. */
	st = 0;
	ck_assert_uint_eq(scan_all("GET / HTTP/1.1\r\nX-Slow: ", &st), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(scan_all("a", &st), 0);
	/* "\r" inside a line is no line end; "\r\r\n" is no blank line. */
	st = 0;
	ck_assert_uint_eq(scan_all("A\r\r\nB: c\r\r\n", &st), 0);
	ck_assert_uint_eq(scan_all("\r\n", &st), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("helpers");
	tcase_add_test(tc, config_defaults_and_required);
	tcase_add_test(tc, config_all_flags);
	tcase_add_test(tc, config_file);
	tcase_add_test(tc, log_held_lines);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, config_missing_required_and_empty_token);
	tcase_add_test(tc, config_flag_table);
	tcase_add_test(tc, query_decoding);
	tcase_add_test(tc, u64_parsing);
	tcase_add_test(tc, base64_vectors);
	tcase_add_test(tc, wait_durations);
	tcase_add_test(tc, hexname_parsing);
	tcase_add_test(tc, metrics_buckets_and_text);
	tcase_add_test(tc, metrics_node_values);
	tcase_add_test(tc, util_fail_formats_and_returns_minus_one);
	tcase_add_test(tc, util_write_file_replaces_whole);
	tcase_add_test(tc, config_max_value_bytes_upper_bound);
	tcase_add_test(tc, config_max_txn_bytes_range);
	tcase_add_test(tc, json_text_never_an_empty_success);
	tcase_add_test(tc, config_connection_flags);
	tcase_add_test(tc, config_tls_flags);
	tcase_add_test(tc, config_peer_tls_flags);
	tcase_add_test(tc, json_u64_above_int64_max);
	tcase_add_test(tc, listener_header_scan);
	tcase_add_test(tc, peer_trust_warning);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
