/* kvctl_snapshot.c - download a snapshot over HTTP/1.1, plain or over TLS
 * (see kvctl_snapshot.h). The body is streamed to disk in fixed-size pieces, so
 * memory stays bounded whatever the store's size. */
#include "kvctl_snapshot.h"

#include "clock.h"
#include "crc32c.h"
#include "kvc_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PIECE_BYTES  (256 * 1024)
#define HEADERS_MAX  (64 * 1024)
#define PATH_MAX_LEN 4096

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void draw(uint64_t got, uint64_t total, double t0, bool done)
{
	const int width = 30;
	double frac = total ? (double)got / (double)total : 1.0;
	int fill = (int)(frac * width);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	double secs = clock_now_seconds() - t0;
	fprintf(stderr, "\r[%s] %3d%% %.1f/%.1f MiB %.1f MiB/s", bar,
		(int)(frac * 100), (double)got / 1048576.0,
		(double)total / 1048576.0,
		secs > 0 ? (double)got / 1048576.0 / secs : 0.0);
	if (done)
		fputc('\n', stderr);
	fflush(stderr);
}

/* Splits "[http[s]://]host[:port][/]" into @host and @port; *@tls says
 * https. */
static int parse_url(const char *u, size_t len, char *host, size_t hostcap,
		     char *port, size_t portcap, bool *tls)
{
	/* The forms libkvc accepts: http://host[:port], https://host[:port]
	 * or host[:port], port 80 (443 for https) when left out. */
	*tls = false;
	if (len >= 7 && strncmp(u, "http://", 7) == 0) {
		u += 7;
		len -= 7;
	} else if (len >= 8 && strncmp(u, "https://", 8) == 0) {
		u += 8;
		len -= 8;
		*tls = true;
	} else {
		for (size_t i = 0; i + 2 < len; i++)
			if (memcmp(u + i, "://", 3) == 0)
				return -1;
	}
	if (len > 0 && u[len - 1] == '/')
		len--;
	const char *colon = NULL; /* before the port, if there is one */
	const char *h = u;
	size_t hl;
	if (len > 0 && u[0] == '[') {
		const char *close = memchr(u, ']', len);
		if (close == NULL)
			return -1;
		h = u + 1;
		hl = (size_t)(close - u - 1);
		if (close + 1 < u + len) {
			if (close[1] != ':')
				return -1;
			colon = close + 1;
		}
	} else {
		for (size_t i = 0; i < len; i++)
			if (u[i] == ':')
				colon = u + i;
		hl = colon ? (size_t)(colon - u) : len;
	}
	if (hl == 0 || hl + 1 > hostcap)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon == NULL) {
		snprintf(port, portcap, *tls ? "443" : "80");
		return 0;
	}
	size_t pl = (size_t)(u + len - colon - 1);
	if (pl == 0 || pl + 1 > portcap)
		return -1;
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	return 0;
}

static int dial(const char *host, const char *port, double timeout_s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	struct timeval tv = {
	    .tv_sec = (time_t)timeout_s,
	    .tv_usec =
		(suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* One connection to a member: its socket, and over TLS its session. */
struct sconn {
	int fd;
	SSL *ssl; /* NULL: plain HTTP */
};

static ssize_t sc_send(struct sconn *c, const void *buf, size_t len)
{
	if (!c->ssl)
		return send(c->fd, buf, len, MSG_NOSIGNAL);
	/* SSL_write sends the whole buffer (or fails) on a blocking
	 * socket, with write(2): no MSG_NOSIGNAL, so SIGPIPE is held. */
	struct sigpipe_guard spg;
	kvc_http_sigpipe_block(&spg);
	int n = SSL_write(c->ssl, buf, (int)len);
	kvc_http_sigpipe_restore(&spg);
	return n > 0 ? n : -1;
}

/* As recv(2): > 0 bytes, 0 at the end, -1 on an error. */
static ssize_t sc_recv(struct sconn *c, void *buf, size_t len)
{
	if (!c->ssl)
		return recv(c->fd, buf, len, 0);
	int n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static const char *header(const char *head, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p != NULL;
	     p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			line += nl + 1;
			while (*line == ' ' || *line == '\t')
				line++;
			return line;
		}
	}
	return NULL;
}

int kvctl_snapshot_check_target(const char *file, bool force, char *err,
				size_t errlen)
{
	if (strlen(file) >= PATH_MAX_LEN)
		return fail(err, errlen, "file name too long");
	char dir[PATH_MAX_LEN];
	snprintf(dir, sizeof(dir), "%s", file);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	struct stat st;
	if (stat(dir, &st) != 0)
		return fail(err, errlen, "directory %s: %s", dir,
			    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(err, errlen, "%s is not a directory", dir);
	if (access(dir, W_OK | X_OK) != 0)
		return fail(err, errlen, "cannot write in directory %s: %s",
			    dir, strerror(errno));
	if (lstat(file, &st) == 0) {
		if (!force)
			return fail(err, errlen,
				    "%s exists (--force replaces it)", file);
		if (S_ISDIR(st.st_mode))
			return fail(err, errlen, "%s is a directory", file);
	} else if (errno != ENOENT) {
		return fail(err, errlen, "%s: %s", file, strerror(errno));
	}
	return 0;
}

/* Puts the finished temp file @tmp in place as @file: replacing it with
 * @force, else only if no file of that name appeared meanwhile (link(2)
 * never overwrites). 0 or -1 with @err set. */
static int install(const char *tmp, const char *file, bool force, char *err,
		   size_t errlen)
{
	if (force) {
		if (rename(tmp, file) != 0)
			return fail(err, errlen, "renaming %s to %s: %s", tmp,
				    file, strerror(errno));
		return 0;
	}
	if (link(tmp, file) != 0)
		return fail(err, errlen, "%s: %s%s", file, strerror(errno),
			    errno == EEXIST ? " (--force replaces it)" : "");
	unlink(tmp);
	return 0;
}

/* One attempt at one member: 0 done, -1 failed (@err says why). @file
 * "-" is stdout: the bytes go there as they arrive. */
static int fetch(const char *host, const char *port, SSL_CTX *tls,
		 const char *token, double timeout_s, bool progress,
		 const char *file, bool force,
		 struct kvctl_snapshot_result *out, bool *answered, char *err,
		 size_t errlen)
{
	bool to_stdout = strcmp(file, "-") == 0;
	/* A temp name nobody can guess, made by mkostemp (O_EXCL, 0600): a
	 * fixed FILE.tmp could be a symlink planted in a shared directory,
	 * and opening it would overwrite whatever it points to. */
	char tmp[PATH_MAX_LEN + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", file);
	struct sconn sc = {.fd = dial(host, port, timeout_s)};
	if (sc.fd < 0)
		return fail(err, errlen, "cannot connect to %s:%s", host, port);
	if (tls) {
		/* Blocking, bounded by the socket's timeouts (dial()). */
		sc.ssl = kvc_tls_ssl_new(tls, host);
		if (!sc.ssl || SSL_set_fd(sc.ssl, sc.fd) != 1 ||
		    SSL_connect(sc.ssl) != 1) {
			long v =
			    sc.ssl ? SSL_get_verify_result(sc.ssl) : X509_V_OK;
			char why[256];
			if (v != X509_V_OK) {
				ERR_clear_error();
				fail(err, errlen,
				     "%s:%s: TLS: the member's certificate "
				     "is refused: %s",
				     host, port,
				     X509_verify_cert_error_string(v));
			} else {
				fail(err, errlen,
				     "%s:%s: TLS handshake failed: %s", host,
				     port, kvc_tls_reason(why, sizeof(why)));
			}
			SSL_free(sc.ssl);
			close(sc.fd);
			return -1;
		}
	}
	char req[KVC_MAX_TOKEN + 1024];
	int rl = snprintf(req, sizeof(req),
			  "GET /v1/snapshot HTTP/1.1\r\nHost: %s:%s\r\n"
			  "%s%s%s"
			  "Connection: close\r\n\r\n",
			  host, port, token ? "Authorization: Bearer " : "",
			  token ? token : "", token ? "\r\n" : "");
	bool sent = rl > 0 && (size_t)rl < sizeof(req) &&
		    sc_send(&sc, req, (size_t)rl) == rl;
	explicit_bzero(req, sizeof(req));
	if (!sent) {
		SSL_free(sc.ssl);
		close(sc.fd);
		return fail(err, errlen, "cannot send to %s:%s", host, port);
	}
	char *buf =
	    malloc(PIECE_BYTES > HEADERS_MAX ? PIECE_BYTES : HEADERS_MAX + 1);
	if (buf == NULL) {
		SSL_free(sc.ssl);
		close(sc.fd);
		return fail(err, errlen, "out of memory");
	}
	size_t have = 0;
	char *end = NULL;
	while (end == NULL && have < HEADERS_MAX) {
		ssize_t r = sc_recv(&sc, buf + have, HEADERS_MAX - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int rc = -1, out_fd = -1;
	bool created = false; /* tmp is ours to remove */
	if (end == NULL) {
		fail(err, errlen, "no answer from %s:%s", host, port);
		goto done;
	}
	*answered = true;
	*end = '\0';
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1 &&
	    (status == 401 || status == 403)) {
		/* Every member says the same of the token: no other try. */
		fail(err, errlen, "%s: %s:%s refused the request (HTTP %d)",
		     status == 401 ? "unauthorized" : "forbidden", host, port,
		     status);
		goto done;
	}
	if (status != 200) {
		fail(err, errlen, "%s:%s answered %d", host, port, status);
		*answered = status != 503;
		goto done;
	}
	const char *cl = header(buf, "Content-Length");
	const char *ci = header(buf, "X-Kv-Snapshot-Index");
	const char *ct = header(buf, "X-Kv-Snapshot-Term");
	const char *cc = header(buf, "X-Kv-Snapshot-CRC32C");
	unsigned long long total = 0, idx = 0, term = 0;
	unsigned int want_crc = 0;
	if (cl == NULL || ci == NULL || cc == NULL ||
	    sscanf(cl, "%llu", &total) != 1 || sscanf(ci, "%llu", &idx) != 1 ||
	    sscanf(cc, "%8x", &want_crc) != 1) {
		fail(err, errlen, "%s:%s: answer without snapshot headers",
		     host, port);
		goto done;
	}
	if (ct != NULL)
		sscanf(ct, "%llu", &term);
	if (to_stdout) {
		out_fd = STDOUT_FILENO;
	} else {
		out_fd = mkostemp(tmp, O_CLOEXEC);
		if (out_fd < 0) {
			fail(err, errlen, "cannot create %s: %s", tmp,
			     strerror(errno));
			*answered = true;
			goto done;
		}
		created = true;
	}
	uint64_t got = 0;
	uint32_t crc = 0;
	double t0 = clock_now_seconds(), last_draw = 0;
	size_t body = have - (size_t)(end + 4 - buf);
	memmove(buf, end + 4, body);
	for (;;) {
		if (body > 0) {
			if (got + body > total) {
				fail(err, errlen,
				     "%s:%s sent more than %llu "
				     "bytes",
				     host, port, total);
				goto done;
			}
			crc = crc32c(crc, buf, body);
			for (size_t off = 0; off < body;) {
				ssize_t w =
				    write(out_fd, buf + off, body - off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					fail(err, errlen, "writing %s: %s",
					     to_stdout ? "standard output"
						       : tmp,
					     strerror(errno));
					goto done;
				}
				off += (size_t)w;
			}
			got += body;
		}
		if (progress &&
		    (clock_now_seconds() - last_draw > 0.1 || got == total)) {
			draw(got, total, t0, got == total);
			last_draw = clock_now_seconds();
		}
		if (got == total)
			break;
		ssize_t r = sc_recv(&sc, buf, PIECE_BYTES);
		if (r < 0 && errno == EINTR) {
			body = 0;
			continue;
		}
		if (r <= 0) {
			if (progress)
				fputc('\n', stderr);
			fail(err, errlen,
			     "%s:%s: connection ended after %" PRIu64
			     " of %llu bytes",
			     host, port, got, total);
			goto done;
		}
		body = (size_t)r;
	}
	if (crc != want_crc) {
		fail(err, errlen,
		     "%s:%s: checksum mismatch (%08x, expected "
		     "%08x)",
		     host, port, crc, want_crc);
		goto done;
	}
	if (to_stdout) {
		out_fd = -1; /* stdout stays open; the caller flushes */
	} else {
		if (fsync(out_fd) != 0 || close(out_fd) != 0) {
			out_fd = -1;
			fail(err, errlen, "syncing %s: %s", tmp,
			     strerror(errno));
			goto done;
		}
		out_fd = -1;
		if (install(tmp, file, force, err, errlen) != 0)
			goto done;
	}
	out->index = idx;
	out->term = term;
	out->bytes = got;
	snprintf(out->endpoint, sizeof(out->endpoint), "%s://%s:%s",
		 tls ? "https" : "http", host, port);
	rc = 0;
done:
	if (out_fd >= 0 && out_fd != STDOUT_FILENO)
		close(out_fd);
	if (rc != 0 && created)
		unlink(tmp);
	free(buf);
	SSL_free(sc.ssl);
	close(sc.fd);
	return rc;
}

int kvctl_snapshot_save(const char *endpoints, const struct kvc_options *sec,
			double timeout_s, bool progress, const char *file,
			bool force, struct kvctl_snapshot_result *out,
			bool *unavailable, char *err, size_t errlen)
{
	*unavailable = false;
	if (strlen(file) >= PATH_MAX_LEN)
		return fail(err, errlen, "file name too long");
	SSL_CTX *tls = NULL; /* built at the first https:// member */
	int rc = -1;
	bool any_answer = false;
	const char *p = endpoints;
	err[0] = '\0';
	while (*p) {
		size_t len = strcspn(p, ",");
		char host[256], port[16];
		bool https;
		if (len > 0 && parse_url(p, len, host, sizeof(host), port,
					 sizeof(port), &https) == 0) {
			if (https && !tls) {
				tls = kvc_tls_ctx_new(sec->cacert, sec->cert,
						      sec->key, err, errlen);
				if (!tls)
					goto out;
			}
			bool answered = false;
			if (fetch(host, port, https ? tls : NULL, sec->token,
				  timeout_s, progress, file, force, out,
				  &answered, err, errlen) == 0) {
				rc = 0;
				goto out;
			}
			/* A local failure (disk, checksum) ends the tries. */
			if (answered)
				any_answer = true;
			if (answered && strstr(err, "answered") == NULL)
				goto out;
		} else if (len > 0) {
			fail(err, errlen, "bad endpoint %.*s", (int)len, p);
			goto out;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	*unavailable = !any_answer;
	if (err[0] == '\0')
		fail(err, errlen, "no endpoints");
out:
	kvc_tls_ctx_free(tls);
	return rc;
}
