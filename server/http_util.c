/* http_util.c - JSON/error replies, query strings, numbers, base64. */
#include "http_util.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "write_now.h"

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

char *http_json_text(json_t *body, int *status)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text != NULL)
		return text;
	*status = 500;
	return strdup("{\"error\":\"internal\",\"message\":\"the answer "
		      "could not be encoded as JSON\"}");
}

char *http_json_text_u64(json_t *body, const struct http_u64 *nums, size_t n,
			 int *status)
{
	int is_object = json_is_object(body);
	char *text = http_json_text(body, status);
	if (text == NULL || n == 0 || *status == 500 || !is_object)
		return text;
	size_t len = strlen(text);
	/* "," + quoted name + ":" + 20 digits per member. */
	size_t cap = len + 1;
	for (size_t i = 0; i < n; i++)
		cap += strlen(nums[i].name) + 24;
	char *out = malloc(cap);
	if (out == NULL || len < 2 || text[len - 1] != '}') {
		free(out);
		free(text);
		*status = 500;
		return NULL;
	}
	memcpy(out, text, len - 1);
	size_t o = len - 1;
	int first = len == 2; /* "{}" */
	free(text);
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + o, cap - o, "%s\"%s\":%" PRIu64,
				 first ? "" : ",", nums[i].name, nums[i].value);
		assert(w > 0 && (size_t)w < cap - o);
		o += (size_t)w;
		first = 0;
	}
	assert(o + 1 < cap);
	out[o++] = '}';
	out[o] = '\0';
	return out;
}

/* The answer evhttp just queued on @bev leaves from this turn
 * (write_now.h) rather than the loop's next. When all of it is written,
 * the bufferevent's interest in writing, which evhttp turned on, is turned
 * off again before the turn ends (with epoll's change list, main.c, the
 * two cancel and no system call is made), and evhttp hears that its
 * answer went out as it would from the bufferevent: its write callback,
 * from the loop (deferred), which finishes the request and reads the
 * next. What the socket does not take stays for the bufferevent. */
static void answer_now(struct bufferevent *bev)
{
	if (bev == NULL || !write_now_output(bev))
		return;
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void http_send_reply(struct evhttp_request *req, int status, const char *reason,
		     struct evbuffer *body)
{
	/* Taken before: without a connection evhttp_send_reply() frees
	 * @req. */
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	evhttp_send_reply(req, status, reason, body);
	if (evcon != NULL)
		answer_now(evhttp_connection_get_bufferevent(evcon));
}

/* Sends @text (taken; NULL when it could not be made) as the JSON answer. */
static void send_json_text(struct evhttp_request *req, int status, char *text)
{
	struct evbuffer *out = evbuffer_new();
	/* Added as bytes: a printf per answer costs more than the JSON. */
	if (out == NULL || text == NULL ||
	    evbuffer_add(out, text, strlen(text)) != 0 ||
	    evbuffer_add(out, "\n", 1) != 0) {
		/* Never an empty 200: evhttp's own bare 500 then. */
		free(text);
		if (out != NULL)
			evbuffer_free(out);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	free(text);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char len[24];
	/* Stated here, not left to evhttp, which states none in an answer
	 * to CONNECT: without it a client reads to a close that never
	 * comes. */
	snprintf(len, sizeof(len), "%zu", evbuffer_get_length(out));
	evhttp_remove_header(h, "Content-Length");
	evhttp_add_header(h, "Content-Length", len);
	evhttp_add_header(h, "Content-Type", "application/json");
	http_send_reply(req, status, http_reason(status), out);
	evbuffer_free(out);
}

void http_send_json(struct evhttp_request *req, int status, json_t *body)
{
	char *text = http_json_text(body, &status);
	send_json_text(req, status, text);
}

void http_send_json_u64(struct evhttp_request *req, int status, json_t *body,
			const struct http_u64 *nums, size_t n)
{
	char *text = http_json_text_u64(body, nums, n, &status);
	send_json_text(req, status, text);
}

void http_send_error(struct evhttp_request *req, int status, const char *code,
		     const char *message, json_t *extra)
{
	json_t *body = json_object();
	if (body != NULL) {
		json_object_set_new(body, "error", json_string(code));
		json_object_set_new(body, "message", json_string(message));
		if (extra != NULL)
			json_object_update(body, extra);
	}
	json_decref(extra);
	if (status == 503)
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", "1");
	http_send_json(req, status, body);
}

int http_parse_query(const char *query, struct http_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		params[i].value = NULL;
		params[i].len = 0;
	}
	if (query == NULL)
		return 0;
	const char *p = query;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		size_t item_len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', item_len);
		size_t name_len = eq != NULL ? (size_t)(eq - p) : item_len;
		for (size_t i = 0; i < n; i++) {
			if (params[i].value != NULL ||
			    strlen(params[i].name) != name_len ||
			    memcmp(params[i].name, p, name_len) != 0)
				continue;
			size_t vlen = eq != NULL ? item_len - name_len - 1 : 0;
			char *raw = malloc(vlen + 1);
			if (raw == NULL)
				return -1;
			if (vlen > 0)
				memcpy(raw, eq + 1, vlen);
			raw[vlen] = '\0';
			size_t dlen = 0;
			char *dec = evhttp_uridecode(raw, 1, &dlen);
			free(raw);
			if (dec == NULL)
				return -1;
			params[i].value = dec;
			params[i].len = dlen;
			break;
		}
		p += item_len;
		if (*p == '&')
			p++;
	}
	return 0;
}

void http_params_free(struct http_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(params[i].value);
		params[i].value = NULL;
	}
}

int http_parse_u64(const char *s, size_t len, uint64_t lo, uint64_t hi,
		   uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int http_parse_identity(struct evhttp_request *req, uint64_t *client_id,
			uint64_t *seq_out, const char **msg)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *client = evhttp_find_header(h, "X-Kv-Client");
	const char *seq = evhttp_find_header(h, "X-Kv-Seq");
	if (client == NULL && seq == NULL)
		return 0;
	if (client == NULL || seq == NULL) {
		*msg = "X-Kv-Client and X-Kv-Seq must be given together";
		return -1;
	}
	uint64_t id = 0;
	size_t len = strlen(client);
	for (size_t i = 0; i < len; i++) {
		char ch = client[i];
		int d = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
						 : -1;
		if (d < 0) {
			len = 0;
			break;
		}
		id = id << 4 | (uint64_t)d;
	}
	if (len != 16 || id == 0) {
		*msg = "X-Kv-Client must be 16 hex digits, not all zero";
		return -1;
	}
	if (http_parse_u64(seq, strlen(seq), 1, UINT64_MAX, seq_out) != 0) {
		*msg = "X-Kv-Seq must be a positive integer";
		return -1;
	}
	*client_id = id;
	return 0;
}

size_t http_base64_len(size_t len)
{
	return 4 * ((len + 2) / 3);
}

void http_base64_to(char *dst, const uint8_t *p, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	char *o = dst;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
}

char *http_base64(const uint8_t *p, size_t len)
{
	size_t n = http_base64_len(len);
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	http_base64_to(out, p, len);
	out[n] = '\0';
	return out;
}

int http_parse_wait(const char *s, size_t len, uint64_t *ms)
{
	size_t digits = 0;
	while (digits < len && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	uint64_t v, unit;
	const char *u = s + digits;
	size_t ulen = len - digits;
	if (ulen == 2 && memcmp(u, "ms", 2) == 0)
		unit = 1;
	else if (ulen == 1 && u[0] == 's')
		unit = 1000;
	else if (ulen == 1 && u[0] == 'm')
		unit = 60000;
	else
		return -1;
	if (http_parse_u64(s, digits, 0, HTTP_WAIT_MAX_MS, &v) != 0 ||
	    v > HTTP_WAIT_MAX_MS / unit)
		return -1;
	*ms = v * unit;
	return 0;
}
