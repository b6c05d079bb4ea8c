/* tls_record_cost.c - what one TLS record costs OpenSSL on this machine,
 * against the same bytes over a bare socket.
 *
 * A write at one connection crosses TLS about 13 times in a 3-member kvd
 * cluster (docs/PERFORMANCE.md, "TLS at one connection: what a record
 * costs"), each time one small record encrypted or decrypted. This
 * program times exactly that:
 * two ends of a loopback TCP connection in one process exchange
 * fixed-size messages, first as plain write(2)/read(2), then as TLS 1.3
 * records through SSL_write()/SSL_read() on the same kind of sockets
 * (OpenSSL's default suite, an ECDSA P-256 certificate made in memory).
 * Reported: CPU time (user + system, CLOCK_PROCESS_CPUTIME_ID) per
 * record operation, one write or one read, and what TLS adds to it.
 *
 * In a server the code and data of OpenSSL are rarely still in the
 * caches when the next record comes: other processes, the kernel and
 * the server's own work run in between. --evict-kib K touches K KiB of
 * memory before every operation (its own time is not counted), so that
 * the same loop can be timed with the caches warm (0, the default), with
 * the core's private caches cold (about twice their size) or with every
 * cache cold (a few times the last level's size).
 *
 * Usage: tls_record_cost [--bytes N] [--ops N] [--evict-kib K]
 *   --bytes N      message size (default 200, a small PUT's request)
 *   --ops N        round trips timed, four operations each (default 20000)
 *   --evict-kib K  memory touched before each operation (default 0)
 *
 * Build: cc -O2 -o tls_record_cost scripts/bench.d/tls_record_cost.c \
 *            -lssl -lcrypto
 * (the meson build compiles it too, as tests/tls_record_cost in the
 * build directory).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define MAX_BYTES 16384 /* one TLS record's plaintext at most */

struct eviction {
	unsigned char *mem;
	size_t len;
	double seconds; /* spent touching it, taken off the totals */
};

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Touches every cache line of the eviction buffer, so that what the next
 * operation needs is fetched from further away. */
static void evict(struct eviction *ev)
{
	if (ev->len == 0)
		return;
	double t0 = cpu_now();
	for (size_t i = 0; i < ev->len; i += 64)
		ev->mem[i]++;
	ev->seconds += cpu_now() - t0;
}

static void die(const char *what)
{
	fprintf(stderr, "tls_record_cost: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Two connected loopback TCP sockets, Nagle off as in kvd. */
static void tcp_pair(int fds[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) != 0)
		die("cannot listen on loopback");
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 ||
	    connect(fds[0], (struct sockaddr *)&a, sizeof(a)) != 0)
		die("cannot connect on loopback");
	fds[1] = accept(l, NULL, NULL);
	if (fds[1] < 0)
		die("cannot accept on loopback");
	close(l);
	for (int i = 0; i < 2; i++)
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Writes all of @len bytes to the blocking socket @fd. */
static void write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write failed");
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly @len bytes from the blocking socket @fd. */
static void read_all(int fd, unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read failed");
		p += n;
		len -= (size_t)n;
	}
}

/* CPU seconds per operation of @ops plain round trips. */
static double time_plain(const int fds[2], size_t bytes, long ops,
			 struct eviction *ev)
{
	static unsigned char out[MAX_BYTES], in[MAX_BYTES];
	ev->seconds = 0;
	double t0 = cpu_now();
	for (long i = 0; i < ops; i++) {
		evict(ev);
		write_all(fds[0], out, bytes);
		evict(ev);
		read_all(fds[1], in, bytes);
		evict(ev);
		write_all(fds[1], out, bytes);
		evict(ev);
		read_all(fds[0], in, bytes);
	}
	return (cpu_now() - t0 - ev->seconds) / (double)ops / 4.0;
}

/* A self-signed ECDSA P-256 certificate and its key, for the server. */
static void make_identity(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	if (key == NULL || x == NULL)
		die("cannot make a key");
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"127.0.0.1", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) == 0 ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		die("cannot make a certificate");
	X509_free(x);
	EVP_PKEY_free(key);
}

/* Whether a handshake step that returned @rc on @ssl may go on. */
static bool step_ok(SSL *ssl, int rc)
{
	int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, rc);
	return e == SSL_ERROR_NONE || e == SSL_ERROR_WANT_READ ||
	       e == SSL_ERROR_WANT_WRITE;
}

/* Runs both handshakes on non-blocking sockets, one step each in turn. */
static void handshake(SSL *client, SSL *server)
{
	for (int i = 0; i < 10000; i++) {
		int c = SSL_do_handshake(client);
		int s = SSL_do_handshake(server);
		if (c == 1 && s == 1)
			return;
		if (!step_ok(client, c) || !step_ok(server, s))
			die("handshake failed");
		usleep(100);
	}
	die("handshake did not end");
}

/* One whole record of @len bytes written on @ssl (blocking socket). */
static void ssl_write_all(SSL *ssl, const unsigned char *p, size_t len)
{
	if (SSL_write(ssl, p, (int)len) != (int)len)
		die("SSL_write failed");
}

static void ssl_read_all(SSL *ssl, unsigned char *p, size_t len)
{
	size_t got = 0;
	while (got < len) {
		int n = SSL_read(ssl, p + got, (int)(len - got));
		if (n <= 0)
			die("SSL_read failed");
		got += (size_t)n;
	}
}

/* CPU seconds per operation of @ops TLS round trips. */
static double time_tls(const int fds[2], size_t bytes, long ops,
		       struct eviction *ev, char *suite, size_t suite_len)
{
	static unsigned char out[MAX_BYTES], in[MAX_BYTES];
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	if (cctx == NULL || sctx == NULL)
		die("cannot make contexts");
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	make_identity(sctx);
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	if (c == NULL || s == NULL || SSL_set_fd(c, fds[0]) != 1 ||
	    SSL_set_fd(s, fds[1]) != 1)
		die("cannot make connections");
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 2; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	handshake(c, s);
	for (int i = 0; i < 2; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
	/* The server's session tickets follow the handshake: read them
	 * (with a first exchange) before the clock starts. */
	ssl_write_all(s, out, 1);
	ssl_read_all(c, in, 1);
	snprintf(suite, suite_len, "%s %s", SSL_get_version(c),
		 SSL_get_cipher(c));

	ev->seconds = 0;
	double t0 = cpu_now();
	for (long i = 0; i < ops; i++) {
		evict(ev);
		ssl_write_all(c, out, bytes);
		evict(ev);
		ssl_read_all(s, in, bytes);
		evict(ev);
		ssl_write_all(s, out, bytes);
		evict(ev);
		ssl_read_all(c, in, bytes);
	}
	double per_op = (cpu_now() - t0 - ev->seconds) / (double)ops / 4.0;
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return per_op;
}

/* A whole decimal number within [@min, @max] from @arg, or exit. */
static long number(const char *opt, const char *arg, long min, long max)
{
	char *end;
	errno = 0;
	long v = arg != NULL ? strtol(arg, &end, 10) : 0;
	if (arg == NULL || errno != 0 || end == arg || *end != '\0' ||
	    v < min || v > max) {
		fprintf(stderr,
			"tls_record_cost: %s takes a number from %ld to %ld\n",
			opt, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long bytes = 200, ops = 20000, evict_kib = 0;
	char suite[128];
	int plain_fds[2], tls_fds[2];

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--bytes") == 0)
			bytes = number(argv[i], v, 1, MAX_BYTES);
		else if (strcmp(argv[i], "--ops") == 0)
			ops = number(argv[i], v, 1, 100000000);
		else if (strcmp(argv[i], "--evict-kib") == 0)
			evict_kib = number(argv[i], v, 0, 1 << 20);
		else {
			fprintf(stderr,
				"usage: tls_record_cost [--bytes N] [--ops N] "
				"[--evict-kib K]\n");
			return 2;
		}
		i++;
	}
	struct eviction ev = {.len = (size_t)evict_kib * 1024};
	if (ev.len > 0 && (ev.mem = calloc(1, ev.len)) == NULL)
		die("out of memory");

	tcp_pair(plain_fds);
	tcp_pair(tls_fds);
	double plain = time_plain(plain_fds, (size_t)bytes, ops, &ev);
	double tls =
	    time_tls(tls_fds, (size_t)bytes, ops, &ev, suite, sizeof(suite));
	printf("%s, %ld-byte messages, %ld round trips, %ld KiB touched "
	       "before each operation\n",
	       OpenSSL_version(OPENSSL_VERSION), bytes, ops, evict_kib);
	printf("plain write/read:   %7.2f us CPU per operation\n", plain * 1e6);
	printf("TLS records:        %7.2f us CPU per operation (%s)\n",
	       tls * 1e6, suite);
	printf("TLS adds:           %7.2f us CPU per operation\n",
	       (tls - plain) * 1e6);
	free(ev.mem);
	return 0;
}
