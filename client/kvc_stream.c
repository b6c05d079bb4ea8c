/* kvc_stream.c - reads one streamed HTTP/1.1 answer incrementally: status
 * line and headers, then a chunked (RFC 9112 §7.1), sized or close-ended
 * body cut into '\n'-terminated lines (see kvc_stream.h). */
#include "kvc_stream.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum state {
	ST_STATUS,
	ST_HEADER,
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CRLF,
	ST_TRAILER,
	ST_SIZED,
	ST_UNTIL_EOF,
	ST_BODY_DONE, /* lines left to hand out, then END */
	ST_END,
	ST_CUT
};

/* Content-Length above this is nonsense for this client: refuse it rather
 * than reason about overflow. */
#define MAX_CONTENT_LENGTH (1ull << 62)
#define MAX_CHUNK_SIZE	   (1ull << 60)

void kvc_stream_init(struct kvc_stream *s, size_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->state = ST_STATUS;
	s->max_line = max_line;
}

void kvc_stream_free(struct kvc_stream *s)
{
	free(s->in);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

/* Makes room for @n more bytes at the end of a buffer whose bytes before
 * *@off are consumed: slides the live bytes down first, grows if that is
 * not enough. Pointers into the buffer handed out earlier become stale,
 * which kvc_stream_next()'s contract allows. */
static int reserve(char **buf, size_t *off, size_t *len, size_t *cap, size_t n)
{
	if (*cap - *len >= n)
		return 0;
	if (*off > 0) {
		memmove(*buf, *buf + *off, *len - *off);
		*len -= *off;
		*off = 0;
		if (*cap - *len >= n)
			return 0;
	}
	size_t want = *cap ? *cap : 4096;
	while (want - *len < n) {
		if (want > SIZE_MAX / 2)
			return KVC_ENOMEM;
		want *= 2;
	}
	char *nb = realloc(*buf, want);
	if (!nb)
		return KVC_ENOMEM;
	*buf = nb;
	*cap = want;
	return 0;
}

int kvc_stream_feed(struct kvc_stream *s, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	int rc = reserve(&s->in, &s->in_off, &s->in_len, &s->in_cap, len);
	if (rc < 0)
		return rc;
	memcpy(s->in + s->in_len, buf, len);
	s->in_len += len;
	return 0;
}

void kvc_stream_eof(struct kvc_stream *s)
{
	s->eof = true;
}

/* Takes one line of raw input (up to '\n', without it and without a '\r'
 * before it). 1 with *@p, *@n set; 0 when no whole line is there yet;
 * KVC_EPROTO when more than @max bytes wait without a '\n'. */
static int raw_line(struct kvc_stream *s, size_t max, const char **p, size_t *n)
{
	size_t avail = s->in_len - s->in_off;
	if (avail == 0)
		return 0; /* (and s->in may still be NULL) */
	const char *start = s->in + s->in_off;
	const char *nl = memchr(start, '\n', avail);
	if (!nl)
		return avail > max ? KVC_EPROTO : 0;
	size_t len = (size_t)(nl - start);
	if (len > max)
		return KVC_EPROTO;
	s->in_off += len + 1;
	if (len > 0 && start[len - 1] == '\r')
		len--;
	*p = start;
	*n = len;
	return 1;
}

/* A decimal number of digits only, at most @max. */
static bool parse_dec(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* "HTTP/1.x DDD[ reason]"; interim (1xx) answers are not expected. */
static int parse_status(struct kvc_stream *s, const char *p, size_t n)
{
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' ||
	    p[7] > '9' || p[8] != ' ' || (n > 12 && p[12] != ' '))
		return KVC_EPROTO;
	uint64_t code;
	if (!parse_dec(p + 9, 3, 599, &code) || code < 200)
		return KVC_EPROTO;
	s->status = (int)code;
	return 0;
}

static int parse_header(struct kvc_stream *s, const char *p, size_t n)
{
	/* An obsolete folded line would continue a header we did not
	 * understand: refuse it (RFC 9112 §5.2 allows that). */
	if (p[0] == ' ' || p[0] == '\t')
		return KVC_EPROTO;
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return KVC_EPROTO;
	size_t nl = (size_t)(colon - p);
	for (size_t i = 0; i < nl; i++)
		if (p[i] <= ' ' || p[i] >= 0x7f)
			return KVC_EPROTO;
	const char *v = colon + 1;
	size_t vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	uint64_t num;
	if (name_is(p, nl, "Transfer-Encoding")) {
		/* Only the framing the server uses; a coding we cannot undo
		 * would be read as garbage. */
		if (!name_is(v, vl, "chunked"))
			return KVC_EPROTO;
		s->chunked = true;
	} else if (name_is(p, nl, "Content-Length")) {
		if (!parse_dec(v, vl, MAX_CONTENT_LENGTH, &num) ||
		    (s->sized && num != s->left))
			return KVC_EPROTO;
		s->sized = true;
		s->left = num;
	} else if (name_is(p, nl, "X-Kv-Index")) {
		if (!parse_dec(v, vl, INT64_MAX, &num))
			return KVC_EPROTO;
		s->has_index = true;
		s->index = num;
	} else if (name_is(p, nl, "Content-Type")) {
		size_t tl = strlen("application/x-ndjson");
		s->ndjson = vl >= tl &&
			    strncasecmp(v, "application/x-ndjson", tl) == 0 &&
			    (vl == tl || v[tl] == ';' || v[tl] == ' ');
	}
	return 0;
}

/* The blank line after the headers: chooses how the body is framed. */
static int head_done(struct kvc_stream *s)
{
	/* Both would let two readers see two different bodies. */
	if (s->chunked && s->sized)
		return KVC_EPROTO;
	if (s->status == 204 || s->status == 304)
		s->state = ST_BODY_DONE;
	else if (s->chunked)
		s->state = ST_CHUNK_SIZE;
	else if (s->sized)
		s->state = s->left ? ST_SIZED : ST_BODY_DONE;
	else
		s->state = ST_UNTIL_EOF;
	return KVC_STREAM_HEAD;
}

/* "HEX[ext]": the size of the next chunk. */
static int parse_chunk_size(struct kvc_stream *s, const char *p, size_t n)
{
	size_t i = 0;
	uint64_t v = 0;
	for (; i < n; i++) {
		int d;
		char c = p[i];
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (v > (MAX_CHUNK_SIZE >> 4))
			return KVC_EPROTO;
		v = v << 4 | (uint64_t)d;
	}
	if (i == 0)
		return KVC_EPROTO;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] != ';')
		return KVC_EPROTO;
	s->left = v;
	s->state = v ? ST_CHUNK_DATA : ST_TRAILER;
	return 0;
}

/* Hands out the next whole line of the decoded body, if there is one. */
static bool take_line(struct kvc_stream *s, const char **line, size_t *len,
		      int *err)
{
	size_t live = s->b_len - s->b_off;
	if (live == 0)
		return false; /* (and s->body may still be NULL) */
	const char *start = s->body + s->b_off;
	const char *nl = live > s->scanned ? memchr(start + s->scanned, '\n',
						    live - s->scanned)
					   : NULL;
	if (!nl) {
		s->scanned = live;
		if (live > s->max_line)
			*err = KVC_ETOO_LARGE;
		return false;
	}
	size_t n = (size_t)(nl - start);
	if (n > s->max_line) {
		*err = KVC_ETOO_LARGE;
		return false;
	}
	*line = start;
	*len = n;
	s->b_off += n + 1;
	s->scanned = 0;
	return true;
}

/* Moves up to @max bytes of raw input into the decoded body. */
static int move_body(struct kvc_stream *s, uint64_t max)
{
	size_t take = s->in_len - s->in_off;
	if (take > max)
		take = (size_t)max;
	if (take == 0)
		return 0;
	int rc = reserve(&s->body, &s->b_off, &s->b_len, &s->b_cap, take);
	if (rc < 0)
		return rc;
	memcpy(s->body + s->b_len, s->in + s->in_off, take);
	s->b_len += take;
	s->in_off += take;
	if (s->state != ST_UNTIL_EOF)
		s->left -= take;
	return 0;
}

/* What is left of the head's bound (shared by the trailers). */
static size_t head_room(const struct kvc_stream *s)
{
	return s->head_bytes < KVC_STREAM_MAX_HEAD
		   ? KVC_STREAM_MAX_HEAD - s->head_bytes
		   : 0;
}

static int step(struct kvc_stream *s, const char **line, size_t *len)
{
	const char *p;
	size_t n;
	int rc;
	for (;;) {
		/* Offsets stay inside their buffers; the scan inside the
		 * live bytes. */
		assert(s->in_off <= s->in_len && s->in_len <= s->in_cap);
		assert(s->b_off <= s->b_len && s->b_len <= s->b_cap);
		assert(s->scanned <= s->b_len - s->b_off);
		if (s->state >= ST_CHUNK_SIZE && s->state <= ST_BODY_DONE) {
			int err = 0;
			if (take_line(s, line, len, &err))
				return KVC_STREAM_LINE;
			if (err)
				return err;
		}
		bool need = false; /* more raw input is needed */
		switch (s->state) {
		case ST_STATUS:
		case ST_HEADER:
			rc = raw_line(s, head_room(s), &p, &n);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				need = true;
				break;
			}
			s->head_bytes += n + 1;
			if (s->state == ST_STATUS) {
				rc = parse_status(s, p, n);
				s->state = ST_HEADER;
			} else if (n == 0) {
				return head_done(s);
			} else {
				rc = parse_header(s, p, n);
			}
			if (rc < 0)
				return rc;
			break;
		case ST_CHUNK_SIZE:
			rc = raw_line(s, KVC_STREAM_MAX_CHUNK_EXT, &p, &n);
			if (rc < 0)
				return rc;
			if (rc == 0)
				need = true;
			else if ((rc = parse_chunk_size(s, p, n)) < 0)
				return rc;
			break;
		case ST_CHUNK_DATA:
		case ST_SIZED:
		case ST_UNTIL_EOF:
			if (s->in_off == s->in_len) {
				need = true;
				break;
			}
			rc = move_body(s, s->state == ST_UNTIL_EOF ? UINT64_MAX
								   : s->left);
			if (rc < 0)
				return rc;
			if (s->state == ST_CHUNK_DATA && s->left == 0)
				s->state = ST_CHUNK_CRLF;
			else if (s->state == ST_SIZED && s->left == 0)
				s->state = ST_BODY_DONE;
			break;
		case ST_CHUNK_CRLF: {
			/* The CRLF that closes a chunk's data (a bare LF is
			 * taken too, as for every line here). */
			size_t avail = s->in_len - s->in_off;
			const char *q = s->in + s->in_off;
			if (avail >= 1 && q[0] == '\n') {
				s->in_off += 1;
			} else if (avail >= 1 && q[0] != '\r') {
				return KVC_EPROTO;
			} else if (avail >= 2) {
				if (q[1] != '\n')
					return KVC_EPROTO;
				s->in_off += 2;
			} else {
				need = true;
				break;
			}
			s->state = ST_CHUNK_SIZE;
			break;
		}
		case ST_TRAILER:
			/* Trailer fields are read past, counted against the
			 * head's bound. */
			rc = raw_line(s, head_room(s), &p, &n);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				need = true;
				break;
			}
			s->head_bytes += n + 1;
			if (n == 0)
				s->state = ST_BODY_DONE;
			break;
		case ST_BODY_DONE:
			/* No whole line left (take_line above): the rest. */
			*len = s->b_len - s->b_off;
			*line = *len ? s->body + s->b_off : "";
			s->b_off = s->b_len;
			s->scanned = 0;
			s->state = ST_END;
			return KVC_STREAM_END;
		case ST_END:
			*line = "";
			*len = 0;
			return KVC_STREAM_END;
		default:
			return KVC_STREAM_CUT;
		}
		if (need) {
			if (!s->eof)
				return KVC_STREAM_MORE;
			if (s->state == ST_UNTIL_EOF) {
				s->state = ST_BODY_DONE;
				continue;
			}
			s->state = ST_CUT;
			return KVC_STREAM_CUT;
		}
	}
}

int kvc_stream_next(struct kvc_stream *s, const char **line, size_t *len)
{
	if (s->err)
		return s->err;
	int rc = step(s, line, len);
	if (rc < 0)
		s->err = rc;
	return rc;
}
