/* http_answer.c - the strict parser of an HTTP/1.x answer head that the
 * peer lanes read (http_answer.h). */
#include "http_answer.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: the characters of a token (a header name). */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field content and reason phrase: HTAB, visible ASCII, space, obs-text;
 * never CR, LF, NUL or another control. */
static bool is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Whether [s, e) equals @word, ASCII case-insensitively. */
static bool span_is(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* Decimal digits only, at most 19 of them (no overflow of uint64_t). */
static bool parse_length(const char *s, const char *e, uint64_t *out)
{
	uint64_t v = 0;

	if (s == e || e - s > 19)
		return false;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* The comma-separated options of a Connection header value [s, e). */
static void parse_connection(const char *s, const char *e, bool *close,
			     bool *keep_alive)
{
	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		const char *te = c ? c : e, *ts = s;

		while (ts < te && is_ows((unsigned char)*ts))
			ts++;
		while (te > ts && is_ows((unsigned char)te[-1]))
			te--;
		if (span_is(ts, te, "close"))
			*close = true;
		else if (span_is(ts, te, "keep-alive"))
			*keep_alive = true;
		s = c ? c + 1 : e;
	}
}

/* `HTTP/1.x NNN[ reason]` in [s, e). */
static long parse_status(const char *s, const char *e, struct http_answer *a)
{
	size_t n = 0;

	if (e - s < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return HTTP_ANSWER_ESTATUS;
	a->minor = s[7] - '0';
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return HTTP_ANSWER_ESTATUS;
	a->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (a->status < 100 || a->status > 599)
		return HTTP_ANSWER_ESTATUS;
	s += 12;
	if (s < e && *s++ != ' ')
		return HTTP_ANSWER_ESTATUS;
	for (; s < e; s++) {
		unsigned char c = (unsigned char)*s;

		if (!is_vchar(c))
			return HTTP_ANSWER_ESTATUS;
		/* Kept for log lines: printable ASCII only. */
		if (n + 1 < sizeof(a->reason))
			a->reason[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	a->reason[n] = '\0';
	return 0;
}

long http_answer_parse(const char *p, size_t len, size_t max_head_bytes,
		       uint64_t max_body_bytes, struct http_answer *out)
{
	struct http_answer a;
	size_t scan = len < max_head_bytes ? len : max_head_bytes;
	const char *end = NULL, *line, *eol;
	bool have_length = false, keep_alive = false;
	uint64_t length = 0;
	long rc;

	/* Where the head ends: nothing is judged before it is whole, so a
	 * prefix of a good head is never refused. */
	for (size_t i = 0; i + 4 <= scan; i++) {
		if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0) {
			end = p + i + 4;
			break;
		}
	}
	if (end == NULL)
		return len >= max_head_bytes ? HTTP_ANSWER_ETOO_LONG
					     : HTTP_ANSWER_MORE;

	memset(&a, 0, sizeof(a));
	/* A CR or LF anywhere but in a CRLF is refused (no bare LF line
	 * ends, which a lenient reader and a strict one split differently). */
	for (const char *q = p; q < end; q++) {
		if (*q == '\n' && (q == p || q[-1] != '\r'))
			return HTTP_ANSWER_EHEADER;
		if (*q == '\r' && (q + 1 == end || q[1] != '\n'))
			return HTTP_ANSWER_EHEADER;
	}
	eol = memchr(p, '\r', (size_t)(end - p));
	rc = parse_status(p, eol, &a);
	if (rc != 0)
		return rc;
	for (line = eol + 2; line < end - 2; line = eol + 2) {
		const char *colon, *vs, *ve;

		eol = memchr(line, '\r', (size_t)(end - line));
		colon = memchr(line, ':', (size_t)(eol - line));
		/* No obs-fold, no space before the colon, a token name. */
		if (colon == NULL || colon == line)
			return HTTP_ANSWER_EHEADER;
		for (const char *q = line; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return HTTP_ANSWER_EHEADER;
		vs = colon + 1;
		ve = eol;
		for (const char *q = vs; q < ve; q++)
			if (!is_vchar((unsigned char)*q))
				return HTTP_ANSWER_EHEADER;
		while (vs < ve && is_ows((unsigned char)*vs))
			vs++;
		while (ve > vs && is_ows((unsigned char)ve[-1]))
			ve--;
		if (span_is(line, colon, "Content-Length")) {
			if (have_length || !parse_length(vs, ve, &length))
				return HTTP_ANSWER_ELENGTH;
			have_length = true;
		} else if (span_is(line, colon, "Transfer-Encoding")) {
			return HTTP_ANSWER_ECHUNKED;
		} else if (span_is(line, colon, "Connection")) {
			parse_connection(vs, ve, &a.close, &keep_alive);
		}
	}
	if (a.minor == 0 && !keep_alive)
		a.close = true;
	if (a.status == 101)
		return HTTP_ANSWER_EINTERIM;
	if (a.status < 200 || a.status == 204 || a.status == 304) {
		/* No body whatever the header says (RFC 9112 6.3). */
		a.interim = a.status < 200;
		a.content_length = 0;
	} else {
		if (!have_length || length > max_body_bytes)
			return HTTP_ANSWER_ELENGTH;
		a.content_length = length;
	}
	*out = a;
	return (long)(end - p);
}

const char *http_answer_strerror(long err)
{
	switch (err) {
	case HTTP_ANSWER_MORE:
		return "incomplete answer";
	case HTTP_ANSWER_ETOO_LONG:
		return "answer head too long";
	case HTTP_ANSWER_ESTATUS:
		return "bad status line";
	case HTTP_ANSWER_EHEADER:
		return "bad header line";
	case HTTP_ANSWER_ELENGTH:
		return "bad or missing Content-Length";
	case HTTP_ANSWER_ECHUNKED:
		return "Transfer-Encoding in an answer";
	case HTTP_ANSWER_EINTERIM:
		return "101 Switching Protocols";
	default:
		return err > 0 ? "ok" : "unknown error";
	}
}
