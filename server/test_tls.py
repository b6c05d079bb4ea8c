# test_tls.py - the client listener over HTTPS on real kvd processes, with
# certificates this test makes with the openssl CLI: HTTPS answers with the
# right CA and plain HTTP is refused; with --client-ca a client without a
# certificate or with one a rogue CA signed is refused and the right one is
# served; an expired server certificate is refused by the client; SIGHUP
# serves a new certificate (its serial checked) and keeps the old one when
# the new files do not load; a key others may read is a warning that never
# shows the key.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import Cluster, wait_for  # noqa: E402

REFUSED = (ssl.SSLError, OSError, http.client.HTTPException)


def openssl(d, *args):
    subprocess.run(['openssl'] + list(args), cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl(d, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', name + '.key', '-out', name + '.pem',
            '-subj', '/CN=' + name, '-days', '2')


def make_cert(d, name, ca, days=2, server=True):
    """NAME.pem/NAME.key signed by CA, for 127.0.0.1 when @server; @days
    negative: already expired."""
    openssl(d, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
            name + '.key', '-out', name + '.csr', '-subj', '/CN=' + name)
    os.chmod(os.path.join(d, name + '.key'), 0o600)
    ext = os.path.join(d, name + '.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n' if server
                else 'extendedKeyUsage=clientAuth\n')
    openssl(d, 'x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem',
            '-CAkey', ca + '.key', '-days', str(days), '-out', name + '.pem',
            '-extfile', ext)


def serial(d, name):
    out = subprocess.run(['openssl', 'x509', '-in', name + '.pem', '-noout',
                          '-serial'], cwd=d, check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split('=', 1)[1].upper()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp(prefix='kvd-tls-')
        d = cls.d
        make_ca(d, 'ca')
        make_ca(d, 'rogue')
        for name in ('server', 'server2'):
            make_cert(d, name, 'ca')
        make_cert(d, 'expired', 'ca', days=-1)
        make_cert(d, 'client', 'ca', server=False)
        make_cert(d, 'rclient', 'rogue', server=False)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.d, ignore_errors=True)

    def setUp(self):
        self.clusters = []

    def tearDown(self):
        for c in self.clusters:
            c.close()

    def p(self, name):
        return os.path.join(self.d, name)

    def member(self, cert, key, ca=None):
        """One member whose client listener serves @cert (not yet
        started); the harness's own /healthz probe speaks HTTP, so the
        member is started alone."""
        args = ['--client-cert', cert, '--client-key', key]
        if ca:
            args += ['--client-ca', ca]
        c = Cluster(n=1, extra_args=args, name='kvd-tls')
        c.advertise = False
        self.clusters.append(c)
        return c[1]

    def ctx(self, cert=None, key=None, ca='ca.pem'):
        x = ssl.create_default_context(cafile=self.p(ca))
        if cert:
            x.load_cert_chain(self.p(cert), self.p(key))
        return x

    def get(self, m, ctx, path='/healthz', method='GET', body=None):
        """(status, body, served certificate's serial in hex)."""
        conn = http.client.HTTPSConnection('127.0.0.1', m.client_port,
                                           context=ctx, timeout=10)
        try:
            conn.request(method, path, body=body)
            r = conn.getresponse()
            data = r.read()
            cert = conn.sock.getpeercert()
            return r.status, data, cert['serialNumber'].upper()
        finally:
            conn.close()

    def wait_serving(self, m, ctx):
        return wait_for(lambda: self.get(m, ctx)[0] == 200 and
                        self.get(m, ctx), what='member %d serves HTTPS'
                        % m.id)

    def refused(self, fn):
        try:
            fn()
        except REFUSED:
            return
        self.fail('served')

    def test_https_plain_refused_and_reload(self):
        for n in ('server', 'server2'):
            shutil.copy(self.p(n + '.pem'), self.p('live-%s.pem' % n))
        shutil.copy(self.p('server.pem'), self.p('live.pem'))
        shutil.copy(self.p('server.key'), self.p('live.key'))
        os.chmod(self.p('live.key'), 0o600)
        m = self.member(self.p('live.pem'), self.p('live.key'))
        m.start()
        good = self.ctx()
        st, body, ser = self.wait_serving(m, good)
        self.assertEqual(body, b'{"status":"ok"}\n')
        self.assertEqual(ser, serial(self.d, 'server'))
        # A write and its read over HTTPS (the leader is this member).
        wait_for(lambda: self.get(m, good, '/v1/kv/a', 'PUT', b'v')[0] == 200,
                 what='a write over HTTPS')
        self.assertEqual(self.get(m, good, '/v1/kv/a')[1], b'v')
        self.assertIn('clients on https://127.0.0.1:%d' % m.client_port,
                      m.log_since_start())

        # Plain HTTP gets no answer; a client trusting another CA
        # refuses the server. (TLS 1.2 as the least version: test_tls.c.)
        self.refused(lambda: harness.http_request(
            '127.0.0.1', m.client_port, 'GET', '/healthz', timeout=10))
        self.refused(lambda: self.get(m, self.ctx(ca='rogue.pem')))
        # Files that do not load: the old certificate keeps serving.
        shutil.copy(self.p('server2.pem'), self.p('live.pem'))
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: 'the client listener keeps its certificates'
                 in m.log_since_start(), what='the failed reload logged')
        self.assertIn('does not match', m.log_since_start())
        self.assertEqual(self.get(m, good)[2], serial(self.d, 'server'))
        # The whole pair: the new certificate is served.
        shutil.copy(self.p('server2.key'), self.p('live.key'))
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.get(m, good)[2] == serial(self.d, 'server2'),
                 what='the new certificate served')
        self.assertIn('SIGHUP: client certificates reloaded',
                      m.log_since_start())
        self.assertTrue(m.running())

    def test_client_certificates(self):
        m = self.member(self.p('server.pem'), self.p('server.key'),
                        self.p('ca.pem'))
        m.start()
        good = self.ctx('client.pem', 'client.key')
        self.wait_serving(m, good)
        self.assertEqual(self.get(m, good)[0], 200)
        self.refused(lambda: self.get(m, self.ctx()))
        self.refused(lambda: self.get(m, self.ctx('rclient.pem',
                                                  'rclient.key')))
        # Refusals leave the member serving.
        self.assertEqual(self.get(m, good)[0], 200)
        # A session resumed (no certificate sent again) is served, with
        # TLS 1.3 tickets and with TLS 1.2.
        tls12 = self.ctx('client.pem', 'client.key')
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        for ctx in (good, tls12):
            session, _, status = self.raw_get(m, ctx)
            self.assertEqual(status, b'HTTP/1.1 200 OK')
            _, reused, status = self.raw_get(m, ctx, session)
            self.assertEqual(status, b'HTTP/1.1 200 OK')
            self.assertTrue(reused)

    def raw_get(self, m, ctx, session=None):
        """GET /healthz on a TLS socket of its own: (its session, whether
        @session was resumed, the status line)."""
        s = ctx.wrap_socket(socket.create_connection(
            ('127.0.0.1', m.client_port), timeout=30),
            server_hostname='127.0.0.1', session=session)
        try:
            s.sendall(b'GET /healthz HTTP/1.1\r\nHost: kvd\r\n'
                      b'Connection: close\r\n\r\n')
            data = b''
            while True:  # to the close: TLS 1.3 tickets come after
                b = s.recv(4096)
                if not b:
                    break
                data += b
            return s.session, s.session_reused, data.split(b'\r\n')[0]
        finally:
            s.close()

    def test_handshake_deadline(self):
        """A connection that never starts its handshake, and one that
        shakes hands and sends nothing, are closed by the header deadline
        (from the accept over HTTPS)."""
        m = self.member(self.p('server.pem'), self.p('server.key'))
        m.cluster.extra_args += ['--header-timeout-ms', '300']
        m.start()
        good = self.ctx()
        self.wait_serving(m, good)
        raw = socket.create_connection(('127.0.0.1', m.client_port),
                                       timeout=60)
        tls = good.wrap_socket(socket.create_connection(
            ('127.0.0.1', m.client_port), timeout=60),
            server_hostname='127.0.0.1')
        try:
            # recv() returns when the member closes; 60 s is only the
            # bound of a member that never does.
            self.assertEqual(raw.recv(1), b'')
            try:
                self.assertEqual(tls.recv(1), b'')
            except (ssl.SSLEOFError, ConnectionResetError):
                pass
        finally:
            raw.close()
            tls.close()
        self.assertEqual(self.get(m, good)[0], 200)

    def test_expired_server_certificate(self):
        m = self.member(self.p('expired.pem'), self.p('expired.key'))
        m.start()
        wait_for(lambda: 'has expired' in m.log_since_start(),
                 what='the expiry warning')
        wait_for(lambda: 'ready to serve' in m.log_since_start(),
                 what='the member serving')
        with self.assertRaises(ssl.SSLCertVerificationError) as e:
            self.get(m, self.ctx())
        self.assertIn('expired', str(e.exception))

    def test_loose_key_and_bad_files(self):
        shutil.copy(self.p('server.key'), self.p('loose.key'))
        os.chmod(self.p('loose.key'), 0o644)
        m = self.member(self.p('server.pem'), self.p('loose.key'))
        m.start()
        self.wait_serving(m, self.ctx())
        log = m.log_since_start()
        self.assertIn('loose.key may be read by others', log)
        with open(self.p('loose.key')) as f:
            secret = f.read().splitlines()[1]
        self.assertNotIn(secret, log)
        m.terminate()

        # A key that does not load: one line, exit 1, nothing served.
        r = subprocess.run(m.args()[:9] + [
            '--client-cert', self.p('server.pem'),
            '--client-key', self.p('nope.key')],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count('\n'), 1, r.stderr)
        self.assertIn('client TLS: cannot read the key %s: No such file'
                      % self.p('nope.key'), r.stderr)


if __name__ == '__main__':
    harness.main()
