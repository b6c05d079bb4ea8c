/* http_util.h - small helpers of the HTTP layer: JSON and error replies,
 * query strings, integer and header parsing, base64. */
#ifndef SERVER_HTTP_UTIL_H_
#define SERVER_HTTP_UTIL_H_

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
struct evbuffer;

/* The reason phrase of an HTTP status ("OK", "Not Found", ...). */
const char *http_reason(int status);

/* Encodes @body (ownership taken) for an answer of *@status. When it cannot
 * be encoded (NULL, not an object or array, out of memory) the answer
 * becomes the §1.3 error {"error": "internal", ...} and *@status 500: a
 * member never answers an empty "{}" as if it had succeeded. Returns a
 * malloc'd, NUL-terminated text the caller frees, or NULL when even that
 * cannot be allocated. */
char *http_json_text(json_t *body, int *status);

/* evhttp_send_reply(), the answer written from this turn rather than the
 * loop's next when the socket takes it (write_now.h). The API's answers
 * go out this way; streams (watch, chunked), the snapshot download and
 * the status page's files do not. */
void http_send_reply(struct evhttp_request *req, int status, const char *reason,
		     struct evbuffer *body);

/* Sends @body (ownership taken) as application/json, through
 * http_json_text(). */
void http_send_json(struct evhttp_request *req, int status, json_t *body);

/* A member of a JSON answer whose value is an unsigned 64-bit number
 * (terms, indexes, ids). jansson's integers are signed (json_int_t), so
 * numbers above INT64_MAX would print as negative ones: these are written
 * into the text by hand, as plain JSON numbers of up to 20 digits. */
struct http_u64 {
	const char *name; /* static ASCII, nothing JSON must escape */
	uint64_t value;
};

/* http_json_text() of object @body (ownership taken) with the members
 * @nums (@n of them) added at its end. */
char *http_json_text_u64(json_t *body, const struct http_u64 *nums, size_t n,
			 int *status);

/* Sends @body plus @nums as application/json, through
 * http_json_text_u64(). */
void http_send_json_u64(struct evhttp_request *req, int status, json_t *body,
			const struct http_u64 *nums, size_t n);

/* Sends the §1.3 error shape {"error": @code, "message": @message} plus
 * the members of @extra (ownership taken; may be NULL). 503 answers carry
 * Retry-After: 1. */
void http_send_error(struct evhttp_request *req, int status, const char *code,
		     const char *message, json_t *extra);

/* One query parameter, percent-decoded ("+" is a space). */
struct http_param {
	const char *name; /* set by the caller */
	char *value;	  /* malloc'd, NUL-terminated; NULL when absent */
	size_t len;	  /* bytes, which may include NULs */
};

/* Fills the values of @params from query string @query (may be NULL);
 * names not asked for are ignored; the first of repeated names wins.
 * Returns 0, or -1 when out of memory. Free with http_params_free(). */
int http_parse_query(const char *query, struct http_param *params, size_t n);
void http_params_free(struct http_param *params, size_t n);

/* Decimal digits only, within [lo, hi]. Returns 0 or -1. */
int http_parse_u64(const char *s, size_t len, uint64_t lo, uint64_t hi,
		   uint64_t *out);

/* The exactly-once headers of a write: X-Kv-Client (16 hex digits, not
 * all zero) and X-Kv-Seq (positive integer), both or neither. Returns 0
 * with *@client_id and *@seq set (left alone when both are absent), or
 * -1 with @msg set. */
int http_parse_identity(struct evhttp_request *req, uint64_t *client_id,
			uint64_t *seq, const char **msg);

/* The longest `wait` a blocking read takes (DESIGN.md §1.5). */
#define HTTP_WAIT_MAX_MS 600000u

/* Parses a `wait` duration: decimal digits and a unit, "ms", "s" or "m"
 * (no sign, no space), at most HTTP_WAIT_MAX_MS. 0 and *@ms, or -1. */
int http_parse_wait(const char *s, size_t len, uint64_t *ms);

/* Appends the base64 (RFC 4648, padded) of @len bytes at @p to a new
 * malloc'd NUL-terminated string; NULL when out of memory. */
char *http_base64(const uint8_t *p, size_t len);

/* The length of the base64 of @len bytes: 4 * ceil(len / 3). */
size_t http_base64_len(size_t len);

/* Writes the base64 of @len bytes at @p to @dst (http_base64_len(@len)
 * bytes, no NUL). */
void http_base64_to(char *dst, const uint8_t *p, size_t len);

#endif /* SERVER_HTTP_UTIL_H_ */
