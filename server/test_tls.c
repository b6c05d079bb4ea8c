/* test_tls.c - unit tests of tls.c: contexts from certificates this test
 * makes with the openssl CLI, each loading error, atomic reload, and the
 * handshakes a context allows (right client, rogue CA, none, old TLS),
 * and the outgoing contexts (the client certificate, the server's checked
 * against the CA and the host). */
#include <check.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"

static char dir[] = "/tmp/kvd-test-tls-XXXXXX";
static char path_buf[8][512];
static int path_next;

/* @name inside the test's directory (a few live at once). */
static const char *p(const char *name)
{
	char *b = path_buf[path_next++ % 8];
	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

static void sh(const char *fmt, const char *arg)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "cd %s && ", dir);
	size_t n = strlen(cmd);
	snprintf(cmd + n, sizeof(cmd) - n, fmt, arg);
	if (system(cmd) != 0) { /* also outside a test: no ck_assert */
		fprintf(stderr, "failed: %s\n", cmd);
		exit(EXIT_FAILURE);
	}
}

/* A CA (NAME.pem, NAME.key). */
static void make_ca(const char *name)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key "
		 "-out %s.pem -subj /CN=%s -days 2 2>/dev/null",
		 name, name, name);
	sh("%s", cmd);
}

/* A certificate NAME.pem (key NAME.key, mode 0600) signed by CA for
 * DAYS days (negative: already expired). */
static void make_cert(const char *name, const char *ca, int days)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -newkey rsa:2048 -nodes -keyout %s.key -out "
		 "%s.csr -subj /CN=localhost 2>/dev/null && chmod 600 %s.key "
		 "&& openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key "
		 "-days %d -out %s.pem 2>/dev/null",
		 name, name, name, name, ca, ca, days, name);
	sh("%s", cmd);
}

static void setup_once(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
	make_ca("ca");
	make_ca("rogue");
	make_cert("server", "ca", 2);
	make_cert("server2", "ca", 2);
	make_cert("client", "ca", 2);
	make_cert("rclient", "rogue", 2);
	make_cert("expired", "ca", -1);
	sh("%s", "echo not a certificate > garbage.pem");
}

static struct tls_server *load(const char *cert, const char *key,
			       const char *ca, char *err)
{
	struct tls_files f = {
	    .name = "client", .cert = cert, .key = key, .ca = ca};
	return tls_server_new(&f, err, 512);
}

START_TEST(loads_and_requires_tls12)
{
	char err[512] = "";
	struct tls_server *t =
	    load(p("server.pem"), p("server.key"), NULL, err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(tls_server_ctx(t)),
			 TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(tls_server_ctx(t)),
			 SSL_VERIFY_NONE);
	tls_server_free(t);
	t = load(p("server.pem"), p("server.key"), p("ca.pem"), err);
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(tls_server_ctx(t)),
			 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	tls_server_free(t);
	/* An expired certificate loads (a warning): clients refuse it. */
	t = load(p("expired.pem"), p("expired.key"), NULL, err);
	ck_assert_msg(t != NULL, "%s", err);
	tls_server_free(t);
}
END_TEST

/* Each error is one line naming the file and the reason. */
START_TEST(loading_errors)
{
	char err[512];
	ck_assert_ptr_null(load(p("nope.pem"), p("server.key"), NULL, err));
	ck_assert_ptr_nonnull(strstr(err, "certificate"));
	ck_assert_ptr_nonnull(strstr(err, "nope.pem: No such file"));

	ck_assert_ptr_null(load(p("server.pem"), p("nope.key"), NULL, err));
	ck_assert_ptr_nonnull(strstr(err, "key"));
	ck_assert_ptr_nonnull(strstr(err, "nope.key: No such file"));

	ck_assert_ptr_null(load(p("garbage.pem"), p("server.key"), NULL, err));
	ck_assert_ptr_nonnull(
	    strstr(err, "client TLS: cannot load the certificate"));
	ck_assert_ptr_nonnull(strstr(err, "garbage.pem: "));

	ck_assert_ptr_null(load(p("server.pem"), p("garbage.pem"), NULL, err));
	ck_assert_ptr_nonnull(strstr(err, "cannot load the key"));

	ck_assert_ptr_null(load(p("server.pem"), p("client.key"), NULL, err));
	ck_assert_ptr_nonnull(strstr(err, "does not match the certificate"));

	ck_assert_ptr_null(
	    load(p("server.pem"), p("server.key"), p("garbage.pem"), err));
	ck_assert_ptr_nonnull(strstr(err, "cannot load the CA"));

	ck_assert_ptr_null(load(p("server.pem"), NULL, NULL, err));
	ck_assert_ptr_nonnull(strstr(err, "both needed"));
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* The serial of @ctx's certificate, as hex digits (serials are 20
 * random bytes: too long for a long). */
static char *serial_of(SSL_CTX *ctx, char *buf)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(
	    X509_get0_serialNumber(SSL_CTX_get0_certificate(ctx)), NULL);
	char *hex = BN_bn2hex(bn);
	snprintf(buf, 128, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return buf;
}

/* A failed reload keeps the old context whole; a good one swaps it. */
START_TEST(reload_is_atomic)
{
	char err[512];
	sh("%s", "cp server.pem live.pem && cp server.key live.key");
	struct tls_server *t = load(p("live.pem"), p("live.key"), NULL, err);
	ck_assert_msg(t != NULL, "%s", err);
	SSL_CTX *old = tls_server_ctx(t);
	char serial[128], now[128];
	serial_of(old, serial);

	/* The new certificate without its key: mismatched, refused. */
	sh("%s", "cp server2.pem live.pem");
	ck_assert_int_eq(tls_server_reload(t, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
	ck_assert_ptr_eq(tls_server_ctx(t), old);
	ck_assert_str_eq(serial_of(tls_server_ctx(t), now), serial);

	sh("%s", "cp server2.key live.key");
	ck_assert_int_eq(tls_server_reload(t, err, sizeof(err)), 0);
	ck_assert_str_ne(serial_of(tls_server_ctx(t), now), serial);
	tls_server_free(t);
}
END_TEST

/* Runs a handshake over a memory pair; 1 when both sides completed and
 * the server then reads the client's byte (under TLS 1.3 the client
 * finishes before the server has checked its certificate). */
static int handshake_ssl(SSL *s, SSL *c)
{
	BIO *bs, *bc;
	ck_assert(s != NULL && c != NULL);
	ck_assert_int_eq(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	int ok = 0, s_done = 0, c_done = 0;
	for (int i = 0; i < 100 && !(s_done && c_done); i++) {
		if (!c_done) {
			int rc = SSL_do_handshake(c);
			if (rc == 1)
				c_done = 1;
			else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(c, rc) != SSL_ERROR_WANT_WRITE)
				goto out;
		}
		if (!s_done) {
			int rc = SSL_do_handshake(s);
			if (rc == 1)
				s_done = 1;
			else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(s, rc) != SSL_ERROR_WANT_WRITE)
				goto out;
		}
	}
	char b = 'x';
	if (s_done && c_done && SSL_write(c, &b, 1) == 1) {
		for (int i = 0; i < 10 && !ok; i++) {
			int rc = SSL_read(s, &b, 1);
			if (rc == 1)
				ok = 1;
			else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
				break;
			SSL_read(c, &b, 0); /* lets the client move data */
		}
	}
out:
	SSL_free(s);
	SSL_free(c);
	ERR_clear_error();
	return ok;
}

static int handshake(SSL_CTX *sctx, SSL_CTX *cctx)
{
	return handshake_ssl(SSL_new(sctx), SSL_new(cctx));
}

static SSL_CTX *client_ctx(const char *cert, const char *key, int max_ver)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	ck_assert_int_eq(SSL_CTX_load_verify_locations(c, p("ca.pem"), NULL),
			 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (max_ver != 0)
		SSL_CTX_set_max_proto_version(c, max_ver);
	if (cert != NULL) {
		ck_assert_int_eq(
		    SSL_CTX_use_certificate_file(c, cert, SSL_FILETYPE_PEM), 1);
		ck_assert_int_eq(
		    SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM), 1);
	}
	return c;
}

START_TEST(handshakes)
{
	char err[512];
	struct tls_server *open =
	    load(p("server.pem"), p("server.key"), NULL, err);
	struct tls_server *mutual =
	    load(p("server.pem"), p("server.key"), p("ca.pem"), err);
	struct tls_server *expired =
	    load(p("expired.pem"), p("expired.key"), NULL, err);
	ck_assert(open != NULL && mutual != NULL && expired != NULL);
	SSL_CTX *none = client_ctx(NULL, NULL, 0);
	SSL_CTX *good = client_ctx(p("client.pem"), p("client.key"), 0);
	SSL_CTX *rogue = client_ctx(p("rclient.pem"), p("rclient.key"), 0);
	SSL_CTX *tls11 = client_ctx(NULL, NULL, TLS1_1_VERSION);
	SSL_CTX *tls12 =
	    client_ctx(p("client.pem"), p("client.key"), TLS1_2_VERSION);

	ck_assert_int_eq(handshake(tls_server_ctx(open), none), 1);
	ck_assert_int_eq(handshake(tls_server_ctx(open), tls11), 0);
	ck_assert_int_eq(handshake(tls_server_ctx(mutual), good), 1);
	ck_assert_int_eq(handshake(tls_server_ctx(mutual), tls12), 1);
	ck_assert_int_eq(handshake(tls_server_ctx(mutual), none), 0);
	ck_assert_int_eq(handshake(tls_server_ctx(mutual), rogue), 0);
	/* The client checks the server's dates. */
	ck_assert_int_eq(handshake(tls_server_ctx(expired), none), 0);

	SSL_CTX_free(none);
	SSL_CTX_free(good);
	SSL_CTX_free(rogue);
	SSL_CTX_free(tls11);
	SSL_CTX_free(tls12);
	tls_server_free(open);
	tls_server_free(mutual);
	tls_server_free(expired);
}
END_TEST

/* Outgoing contexts (tls_client_*): the certificate presented, the
 * server's verified against the CA and its name against the host asked
 * for, the system store without a CA, loading errors, reload. */
START_TEST(client_contexts)
{
	char err[512];
	struct tls_server *mutual =
	    load(p("server.pem"), p("server.key"), p("ca.pem"), err);
	ck_assert_ptr_nonnull(mutual);
	SSL_CTX *sctx = tls_server_ctx(mutual);
	struct tls_files f = {.name = "peer",
			      .cert = p("client.pem"),
			      .key = p("client.key"),
			      .ca = p("ca.pem")};
	struct tls_client *good = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(good != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(tls_client_ctx(good)),
			 SSL_VERIFY_PEER);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(tls_client_ctx(good)),
			 TLS1_2_VERSION);
	/* The server's certificate names localhost (its CN, no SAN). */
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(good, "localhost")), 1);
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(good, "otherhost")), 0);
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(good, "127.0.0.1")), 0);

	/* A rogue client certificate is refused by the server; a client
	 * trusting another CA refuses the server. */
	f.cert = p("rclient.pem"), f.key = p("rclient.key");
	struct tls_client *rogue = tls_client_new(&f, err, sizeof(err));
	ck_assert_ptr_nonnull(rogue);
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(rogue, "localhost")),
	    0);
	f.cert = p("client.pem"), f.key = p("client.key"),
	f.ca = p("rogue.pem");
	struct tls_client *other = tls_client_new(&f, err, sizeof(err));
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(other, "localhost")),
	    0);
	/* Without a CA, the system's store: it does not know the test CA. */
	f.ca = NULL;
	struct tls_client *sys = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(sys != NULL, "%s", err);
	ck_assert_int_eq(
	    handshake_ssl(SSL_new(sctx), tls_client_ssl(sys, "localhost")), 0);

	/* Errors name the file. */
	f.key = p("nope.key");
	ck_assert_ptr_null(tls_client_new(&f, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "nope.key"));

	/* After a reload, a new connection's SSL presents the new
	 * certificate; one made before keeps the old. */
	sh("%s", "cp client.pem lclient.pem && cp client.key lclient.key");
	f.cert = p("lclient.pem"), f.key = p("lclient.key"), f.ca = p("ca.pem");
	struct tls_client *live = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(live != NULL, "%s", err);
	char s1[128], s2[128];
	serial_of(tls_client_ctx(live), s1);
	SSL *old_ssl = tls_client_ssl(live, "localhost");
	sh("%s", "cp server2.pem lclient.pem && cp server2.key lclient.key");
	ck_assert_int_eq(tls_client_reload(live, err, sizeof(err)), 0);
	SSL *new_ssl = tls_client_ssl(live, "localhost");
	ck_assert_str_ne(serial_of(SSL_get_SSL_CTX(new_ssl), s2), s1);
	ck_assert_str_eq(serial_of(SSL_get_SSL_CTX(old_ssl), s2), s1);
	SSL_free(old_ssl);
	ck_assert_int_eq(handshake_ssl(SSL_new(sctx), new_ssl), 1);
	tls_client_free(live);

	tls_client_free(good);
	tls_client_free(rogue);
	tls_client_free(other);
	tls_client_free(sys);
	tls_server_free(mutual);
}
END_TEST

START_TEST(key_mode)
{
	ck_assert_int_eq(tls_file_loose(p("server.key")), 0);
	ck_assert_int_eq(chmod(p("server2.key"), 0644), 0);
	ck_assert_int_eq(tls_file_loose(p("server2.key")), 1);
	ck_assert_int_eq(tls_file_loose(p("nope.key")), -1);
}
END_TEST

int main(void)
{
	setup_once();
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, loads_and_requires_tls12);
	tcase_add_test(tc, loading_errors);
	tcase_add_test(tc, reload_is_atomic);
	tcase_add_test(tc, handshakes);
	tcase_add_test(tc, client_contexts);
	tcase_add_test(tc, key_mode);
	SRunner *sr = srunner_create(s);
	suite_add_tcase(s, tc);
	/* One process: the tests share the certificates made above. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
