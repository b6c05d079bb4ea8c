/* kvctl_auth.c - `kvctl auth enable|disable` and `kvctl token
 * create|list|revoke` (DESIGN.md §1.8), and the reading of --token-file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvctl_cmd.h"
#include "kvctl_print.h"

const char kvctl_auth_usage[] = "kvctl auth enable | disable";
const char kvctl_auth_help[] =
    "usage: kvctl auth enable | disable\n"
    "enable: turns auth on for the whole cluster and prints the token of\n"
    "role admin named root, alone on stdout (T=$(kvctl auth enable)\n"
    "keeps it; -o json: {\"token\"}). It is shown this once: keep it.\n"
    "From then on every request needs a token (--token-file, $KVCTL_TOKEN\n"
    "or --token). Exit 4 \"conflict\" when auth is already on.\n"
    "disable: turns auth off (an admin token is needed).";

const char kvctl_token_usage[] =
    "kvctl token create NAME --role admin|readwrite|readonly [--prefix P] "
    "| list | revoke NAME";
const char kvctl_token_help[] =
    "usage: kvctl token create NAME --role admin|readwrite|readonly\n"
    "                         [--prefix P] | list | revoke NAME\n"
    "create: makes the token NAME (1-64 of A-Z a-z 0-9 . _ -) of the role\n"
    "for the keys starting with P (default: all keys) and prints its\n"
    "secret alone on stdout (-o json: {\"name\", \"role\", \"prefix\",\n"
    "\"token\"}); it is shown this once. readwrite: keys, transactions,\n"
    "watches and leases under P; readonly: reads, lists and watches under\n"
    "P, /metrics and status; admin: everything.\n"
    "list: NAME ROLE PREFIX, one token a line (no secrets; -o json:\n"
    "{\"tokens\": [...]}).\n"
    "revoke: every member refuses the token NAME once it applies the\n"
    "revocation; exit 1 \"not found\" when no token has that name.\n"
    "These need an admin token once auth is on.";

/* Bytes of a token file read (a token is far shorter). */
#define TOKEN_FILE_MAX 4096

int kvctl_read_token_file(const char *path, char **token)
{
	*token = NULL;
	FILE *fp = fopen(path, "re");
	if (!fp) {
		fprintf(stderr, "kvctl: --token-file %s: %s\n", path,
			strerror(errno));
		return EXIT_USAGE;
	}
	/* DESIGN.md §1.8: a token file readable by others is a warning
	 * (the secret is as good as theirs). */
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		fprintf(stderr,
			"kvctl: warning: the token file %s is readable by "
			"group or others (chmod 600 it)\n",
			path);
	char *buf = malloc(TOKEN_FILE_MAX + 2);
	if (!buf) {
		fclose(fp);
		fprintf(stderr, "kvctl: out of memory\n");
		return EXIT_OTHER;
	}
	size_t n = fread(buf, 1, TOKEN_FILE_MAX + 1, fp);
	bool err = ferror(fp);
	fclose(fp);
	if (err || n > TOKEN_FILE_MAX) {
		fprintf(stderr, "kvctl: --token-file %s: %s\n", path,
			err ? "read error" : "larger than a token");
		free(buf);
		return EXIT_USAGE;
	}
	buf[n] = '\0';
	/* The token is the first line, without surrounding blanks (a file
	 * written by `echo` ends with a newline). */
	char *p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strcspn(p, "\r\n");
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0) {
		fprintf(stderr, "kvctl: --token-file %s holds no token\n",
			path);
		free(buf);
		return EXIT_USAGE;
	}
	memmove(buf, p, len);
	buf[len] = '\0';
	*token = buf;
	return EXIT_OK;
}

/* Prints a secret the cluster shows once: alone on a line of stdout, or
 * @j (which holds it) with -o json. */
static int print_secret(const struct global *g, const char *secret, json_t *j)
{
	if (g->json) {
		print_json(j);
	} else {
		json_decref(j);
		printf("%s\n", secret);
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

int kvctl_cmd_auth(struct global *g, int argc, char **argv)
{
	char *pos[2];
	int np;
	int r = split_args(cmd_current, argc, argv, NULL, 0, NULL, NULL, pos,
			   &np, 2);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np < 1)
		return fail_usage(cmd_current->usage, "%s",
				  "missing subcommand");
	const char *sub = pos[0];
	if (strcmp(sub, "enable") && strcmp(sub, "disable"))
		return fail_usage(cmd_current->usage, "unknown subcommand %s",
				  sub);
	if (np > 1)
		return fail_usage(cmd_current->usage, "unexpected argument %s",
				  pos[1]);
	int ec = open_handle(g);
	if (ec)
		return ec;
	if (strcmp(sub, "disable") == 0) {
		int rc = kvc_auth_disable(g->h);
		if (rc < 0)
			return report_write(g, rc, "the disable");
		if (g->json)
			print_json(json_pack("{s:b}", "auth", 0));
		else
			puts("auth disabled");
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
	}
	char *token = NULL;
	int rc = kvc_auth_enable(g->h, &token);
	if (rc < 0)
		return report_write(g, rc, "the enable");
	ec = print_secret(g, token, json_pack("{s:s}", "token", token));
	free(token);
	return ec;
}

static int token_list(struct global *g)
{
	struct kvc_token *t;
	size_t n;
	int rc = kvc_token_list(g->h, &t, &n);
	if (rc < 0)
		return report(g, rc);
	if (g->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(
			    arr, json_pack("{s:s,s:s,s:s}", "name", t[i].name,
					   "role", t[i].role, "prefix",
					   t[i].prefix));
		print_json(json_pack("{s:o}", "tokens", arr));
	} else {
		printf("%-24s %-10s %s\n", "NAME", "ROLE", "PREFIX");
		for (size_t i = 0; i < n; i++) {
			printf("%-24s %-10s ", t[i].name, t[i].role);
			/* A prefix is a key prefix: escaped as keys are. */
			kvctl_print_escaped((const unsigned char *)t[i].prefix,
					    strlen(t[i].prefix));
			putchar('\n');
		}
	}
	kvc_tokens_free(t, n);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
}

int kvctl_cmd_token(struct global *g, int argc, char **argv)
{
	const struct optspec specs[] = {{"--role", true}, {"--prefix", true}};
	const char *vals[2] = {NULL, NULL};
	bool flags[2] = {false, false};
	char *pos[3];
	int np;
	int r = split_args(cmd_current, argc, argv, specs, 2, vals, flags, pos,
			   &np, 3);
	if (r)
		return r > 0 ? (puts(cmd_current->help), EXIT_OK) : EXIT_USAGE;
	if (np < 1)
		return fail_usage(cmd_current->usage, "%s",
				  "missing subcommand");
	const char *sub = pos[0];
	bool create = strcmp(sub, "create") == 0;
	bool list = strcmp(sub, "list") == 0;
	if (!create && !list && strcmp(sub, "revoke") != 0)
		return fail_usage(cmd_current->usage, "unknown subcommand %s",
				  sub);
	if (!list && np < 2)
		return fail_usage(cmd_current->usage, "%s needs a NAME", sub);
	if (np > (list ? 1 : 2))
		return fail_usage(cmd_current->usage, "unexpected argument %s",
				  pos[list ? 1 : 2]);
	if (!create && (vals[0] || vals[1]))
		return fail_usage(cmd_current->usage, "%s",
				  "--role and --prefix go with create");
	if (create) {
		const char *role = vals[0];
		if (!role)
			return fail_usage(cmd_current->usage, "%s",
					  "create needs --role");
		if (strcmp(role, "admin") && strcmp(role, "readwrite") &&
		    strcmp(role, "readonly"))
			return fail_usage(cmd_current->usage,
					  "bad role %s (admin, readwrite or "
					  "readonly)",
					  role);
	}
	int ec = open_handle(g);
	if (ec)
		return ec;
	if (list)
		return token_list(g);
	const char *name = pos[1];
	if (!create) {
		int rc = kvc_token_revoke(g->h, name);
		if (rc == KVC_ENOTFOUND) {
			char text[160];
			snprintf(text, sizeof(text), "not found: token %.100s",
				 name);
			report_text(g, "not_found", text);
			return EXIT_NOTFOUND;
		}
		if (rc < 0)
			return report_write(g, rc, "the revoke");
		if (g->json)
			print_json(json_pack("{s:s}", "revoked", name));
		else
			printf("revoked %s\n", name);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_OTHER;
	}
	const char *prefix = vals[1] ? vals[1] : "";
	char *token = NULL;
	int rc = kvc_token_create(g->h, name, vals[0], prefix, &token);
	if (rc < 0)
		return report_write(g, rc, "the create");
	ec = print_secret(g, token,
			  json_pack("{s:s,s:s,s:s,s:s}", "name", name, "role",
				    vals[0], "prefix", prefix, "token", token));
	free(token);
	return ec;
}
