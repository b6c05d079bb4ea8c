/* auth.c - who may do what (§1.8): route classes, the decision, and the
 * parsers of the Authorization header and of a request's header block. */
#include "auth.h"

#include <string.h>
#include <strings.h>

/* @path is @prefix, or starts with @prefix followed by '/'. */
static bool path_is_or_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

bool auth_path_open(const char *path)
{
	return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
	       strcmp(path, "/") == 0 || path_is_or_under(path, "/ui");
}

enum auth_class auth_classify(enum auth_method m, const char *path)
{
	bool read = m == AUTH_M_GET || m == AUTH_M_HEAD;

	if (auth_path_open(path))
		return AUTH_C_OPEN;
	/* Admin-only whatever the method (DESIGN.md §1.8, "Hardening"). */
	if (path_is_or_under(path, "/v1/auth") ||
	    path_is_or_under(path, "/v1/snapshot") ||
	    path_is_or_under(path, "/v1/leader/transfer"))
		return AUTH_C_ADMIN;
	if (strcmp(path, "/v1/members") == 0)
		return m == AUTH_M_POST ? AUTH_C_ADMIN : AUTH_C_ANY;
	if (strncmp(path, "/v1/members/", 12) == 0)
		return m == AUTH_M_DELETE ? AUTH_C_ADMIN : AUTH_C_ANY;
	if (strncmp(path, "/v1/kv/", 7) == 0)
		return read				       ? AUTH_C_READ
		       : m == AUTH_M_PUT || m == AUTH_M_DELETE ? AUTH_C_WRITE
							       : AUTH_C_ANY;
	if (strcmp(path, "/v1/kv") == 0)
		return read		    ? AUTH_C_READ
		       : m == AUTH_M_DELETE ? AUTH_C_WRITE
					    : AUTH_C_ANY;
	if (strcmp(path, "/v1/watch") == 0)
		return m == AUTH_M_GET ? AUTH_C_READ : AUTH_C_ANY;
	if (strcmp(path, "/v1/txn") == 0)
		return m == AUTH_M_POST ? AUTH_C_WRITE : AUTH_C_ANY;
	if (path_is_or_under(path, "/v1/leases"))
		return AUTH_C_LEASE;
	if (strcmp(path, "/metrics") == 0)
		return AUTH_C_METRICS;
	/* /v1/status, and paths the router answers 404. */
	return AUTH_C_ANY;
}

bool auth_scope_ok(const struct auth_who *who, const uint8_t *scope, size_t len)
{
	if (who == NULL || who->role == AUTH_ROLE_NONE)
		return false;
	if (who->role == AUTH_ROLE_ADMIN || who->prefix_len == 0)
		return true;
	return len >= who->prefix_len && scope != NULL &&
	       memcmp(scope, who->prefix, who->prefix_len) == 0;
}

enum auth_verdict auth_check(bool enabled, const struct auth_who *who,
			     enum auth_method m, const char *path,
			     const uint8_t *scope, size_t len)
{
	enum auth_class c = auth_classify(m, path);

	if (!enabled || c == AUTH_C_OPEN)
		return AUTH_ALLOW;
	if (who == NULL || who->role < AUTH_ROLE_ADMIN ||
	    who->role > AUTH_ROLE_READONLY)
		return AUTH_UNAUTHORIZED;
	if (who->role == AUTH_ROLE_ADMIN)
		return AUTH_ALLOW;
	switch (c) {
	case AUTH_C_OPEN:
	case AUTH_C_ANY:
	case AUTH_C_METRICS:
		return AUTH_ALLOW;
	case AUTH_C_ADMIN:
		return AUTH_FORBIDDEN;
	case AUTH_C_LEASE:
		return who->role == AUTH_ROLE_READWRITE ? AUTH_ALLOW
							: AUTH_FORBIDDEN;
	case AUTH_C_WRITE:
		if (who->role != AUTH_ROLE_READWRITE)
			return AUTH_FORBIDDEN;
		break;
	case AUTH_C_READ:
		break;
	}
	if (scope != NULL && !auth_scope_ok(who, scope, len))
		return AUTH_FORBIDDEN;
	return AUTH_ALLOW;
}

int auth_bearer(const char *value, size_t vlen, const char **tok, size_t *len)
{
	size_t i = 0, end;

	if (value == NULL || vlen < 7 || strncasecmp(value, "Bearer", 6) != 0 ||
	    (value[6] != ' ' && value[6] != '\t'))
		return -1;
	for (i = 7; i < vlen && (value[i] == ' ' || value[i] == '\t'); i++)
		;
	for (end = vlen;
	     end > i && (value[end - 1] == ' ' || value[end - 1] == '\t');
	     end--)
		;
	if (end == i || end - i > AUTH_TOKEN_MAX)
		return -1;
	for (size_t j = i; j < end; j++)
		if (value[j] <= ' ' || value[j] > '~')
			return -1;
	*tok = value + i;
	*len = end - i;
	return 0;
}

static enum auth_method method_of(const char *p, size_t n)
{
	static const struct {
		const char *name;
		enum auth_method m;
	} methods[] = {{"GET", AUTH_M_GET},
		       {"HEAD", AUTH_M_HEAD},
		       {"PUT", AUTH_M_PUT},
		       {"POST", AUTH_M_POST},
		       {"DELETE", AUTH_M_DELETE}};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == n &&
		    memcmp(methods[i].name, p, n) == 0)
			return methods[i].m;
	return AUTH_M_OTHER;
}

int auth_head_parse(const char *head, size_t len, struct auth_head *out)
{
	const char *end = head + len, *p = head, *sp, *eol, *t;

	memset(out, 0, sizeof(*out));
	eol = memchr(p, '\n', len);
	if (eol == NULL)
		return -1;
	sp = memchr(p, ' ', (size_t)(eol - p));
	if (sp == NULL || sp == p)
		return -1;
	out->method = method_of(p, (size_t)(sp - p));
	t = sp + 1;
	sp = memchr(t, ' ', (size_t)(eol - t));
	if (sp == NULL || sp == t)
		return -1;
	/* An absolute target: the path starts at the first '/' after
	 * "scheme://host". */
	if (*t != '/') {
		const char *s = memchr(t, ':', (size_t)(sp - t));
		if (s == NULL || sp - s < 3 || s[1] != '/' || s[2] != '/')
			return -1;
		s += 3;
		while (s < sp && *s != '/')
			s++;
		t = s;
	}
	out->path = t;
	while (t < sp && *t != '?' && *t != '#')
		t++;
	out->path_len = (size_t)(t - out->path);
	if (out->path_len == 0) {
		out->path = "/";
		out->path_len = 1;
	}
	for (p = eol + 1; p < end; p = eol + 1) {
		const char *v, *le;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			break;
		le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (le == p)
			break; /* the blank line */
		if ((size_t)(le - p) < 14 ||
		    strncasecmp(p, "Authorization:", 14) != 0)
			continue;
		v = p + 14;
		while (v < le && (*v == ' ' || *v == '\t'))
			v++;
		while (le > v && (le[-1] == ' ' || le[-1] == '\t'))
			le--;
		out->authorization = v;
		out->authorization_len = (size_t)(le - v);
		break;
	}
	return 0;
}
