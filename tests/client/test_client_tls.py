# test_client_tls.py - libkvc and kvctl over TLS, against 3 real kvd members
# whose client listener speaks HTTPS only and asks for client certificates,
# with certificates this test makes with the openssl CLI (as
# server/test_tls.py does). Runs the Check suite test_kvc_tls (libkvc's
# blocking and async calls and watches, refusals), then kvctl: every TLS
# flag and its KVCTL_* variable, the flag winning; put/get/list, watch,
# status, endpoint health, snapshot save and lock over https://; a wrong
# CA, another host's certificate and no client certificate refused with
# their reason; files that do not load are exit 2.
#
# argv[1]: kvd; environment KVCTL (kvctl), TEST_KVC_TLS (test_kvc_tls).

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest
import http.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import Cluster, wait_for  # noqa: E402

KVCTL = os.environ.get('KVCTL', '')


def openssl(d, *args):
    subprocess.run(['openssl'] + list(args), cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl(d, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', name + '.key', '-out', name + '.pem',
            '-subj', '/CN=' + name, '-days', '2')
    os.chmod(os.path.join(d, name + '.key'), 0o600)


def make_cert(d, name, ca, san=None):
    """NAME.pem/NAME.key signed by CA: a server certificate for @san, or
    a client certificate when @san is None."""
    openssl(d, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
            name + '.key', '-out', name + '.csr', '-subj', '/CN=' + name)
    os.chmod(os.path.join(d, name + '.key'), 0o600)
    ext = os.path.join(d, name + '.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=%s\n' % san if san
                else 'extendedKeyUsage=clientAuth\n')
    openssl(d, 'x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem',
            '-CAkey', ca + '.key', '-days', '2', '-out', name + '.pem',
            '-extfile', ext)


class ClientTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = d = tempfile.mkdtemp(prefix='kvc-tls-')
        make_ca(d, 'ca')
        make_ca(d, 'rogue')
        make_cert(d, 'server', 'ca', 'IP:127.0.0.1,DNS:localhost')
        make_cert(d, 'other', 'ca', 'DNS:other.example')
        make_cert(d, 'client', 'ca')
        cls.clusters = []
        # Three members asking for client certificates; with TLS flags
        # the advertised client URLs are https:// (leader discovery).
        c = Cluster(n=3, name='kvc-tls', extra_args=[
            '--client-cert', cls.p('server.pem'),
            '--client-key', cls.p('server.key'),
            '--client-ca', cls.p('ca.pem')])
        # The harness's own probes speak HTTP: each member is started
        # alone, and its URL said by the test.
        c.advertise = False
        cls.clusters.append(c)
        # One member whose certificate names another host.
        o = Cluster(n=1, name='kvc-tls-other', extra_args=[
            '--client-cert', cls.p('other.pem'),
            '--client-key', cls.p('other.key')])
        o.advertise = False
        cls.clusters.append(o)
        for cl in cls.clusters:
            for m in cl.all():
                m.start()
        cls.cluster = c
        cls.eps = ','.join('https://127.0.0.1:%d' % m.client_port
                           for m in c.all())
        cls.other = 'https://127.0.0.1:%d' % o[1].client_port
        ctx = ssl.create_default_context(cafile=cls.p('ca.pem'))
        ctx.load_cert_chain(cls.p('client.pem'), cls.p('client.key'))
        cls.ctx = ctx
        wait_for(cls.leader_known, what='a leader over HTTPS')

    @classmethod
    def leader_known(cls):
        for m in cls.cluster.all():
            conn = http.client.HTTPSConnection('127.0.0.1', m.client_port,
                                               context=cls.ctx, timeout=5)
            try:
                conn.request('GET', '/v1/status')
                body = conn.getresponse().read()
                if b'"leader_client_url":"https://' in body.replace(
                        b' ', b''):
                    return True
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        return False

    @classmethod
    def tearDownClass(cls):
        for c in cls.clusters:
            c.close()
        shutil.rmtree(cls.d, ignore_errors=True)

    @classmethod
    def p(cls, name):
        return os.path.join(cls.d, name)

    def kvctl(self, args, env=None, endpoints=None, timeout_s=30,
              stdin=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith('KVCTL_')}
        e.update(env or {})
        cmd = [KVCTL, '--endpoints', endpoints or self.eps,
               '--timeout', str(timeout_s)] + list(args)
        p = subprocess.run(cmd, env=e, input=stdin, capture_output=True,
                           timeout=300)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def tls_flags(self):
        return ['--cacert', self.p('ca.pem'), '--cert', self.p('client.pem'),
                '--key', self.p('client.key')]

    def tls_env(self):
        return {'KVCTL_CACERT': self.p('ca.pem'),
                'KVCTL_CERT': self.p('client.pem'),
                'KVCTL_KEY': self.p('client.key')}

    def test_libkvc(self):
        binary = os.environ.get('TEST_KVC_TLS')
        if not binary:
            self.skipTest('TEST_KVC_TLS not set')
        env = dict(os.environ, KVC_TLS_ENDPOINTS=self.eps,
                   KVC_TLS_MISMATCH=self.other, KVC_TLS_DIR=self.d)
        p = subprocess.run([binary], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stdout.write(out)
        self.assertEqual(p.returncode, 0, out[-4000:])
        self.assertIn('100%: Checks: ', out)

    def test_kvctl_flags(self):
        f = self.tls_flags()
        rc, out, err = self.kvctl(f + ['put', 'tls/flags', 'v1'])
        self.assertEqual(rc, 0, err)
        rc, out, err = self.kvctl(f + ['get', 'tls/flags'])
        self.assertEqual((rc, out), (0, 'v1'), err)
        rc, out, err = self.kvctl(f + ['list', 'tls/', '--keys-only'])
        self.assertEqual(rc, 0, err)
        self.assertIn('tls/flags', out)
        # Status and endpoint health ask every member, over TLS.
        rc, out, err = self.kvctl(f + ['-o', 'json', 'endpoint', 'health'])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count('"healthy":true'), 3, out)
        rc, out, err = self.kvctl(f + ['status'])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count('https://127.0.0.1:'), 3, out)
        # snapshot save over TLS.
        snap = self.p('snap.db')
        rc, out, err = self.kvctl(f + ['snapshot', 'save', snap])
        self.assertEqual(rc, 0, err)
        self.assertIn('from https://127.0.0.1:', out)
        self.assertGreater(os.path.getsize(snap), 0)
        self.assertEqual(os.stat(snap).st_mode & 0o777, 0o600)
        # A lock over TLS (its helper threads open handles of their own).
        rc, out, err = self.kvctl(f + ['lock', 'tls/lock', '--', 'echo',
                                       'held'])
        self.assertEqual((rc, out.strip()), (0, 'held'), err)

    def test_kvctl_env_and_flag_wins(self):
        env = self.tls_env()
        rc, out, err = self.kvctl(['put', 'tls/env', 'v2'], env=env)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.kvctl(['get', 'tls/env'], env=env)
        self.assertEqual((rc, out), (0, 'v2'), err)
        # A wrong CA in the environment, the right one as a flag: the
        # flag wins; and the other way round the environment's is not
        # used.
        bad = dict(env, KVCTL_CACERT=self.p('rogue.pem'))
        rc, out, err = self.kvctl(['--cacert', self.p('ca.pem'), 'get',
                                   'tls/env'], env=bad)
        self.assertEqual((rc, out), (0, 'v2'), err)
        rc, out, err = self.kvctl(['--cacert', self.p('rogue.pem'), 'get',
                                   'tls/env'], env=env, timeout_s=60)
        self.assertEqual(rc, 3, err)
        self.assertIn('certificate is refused', err)
        # --cert/--key from flags over the environment's.
        nocert = {'KVCTL_CACERT': self.p('ca.pem'),
                  'KVCTL_CERT': self.p('missing.pem'),
                  'KVCTL_KEY': self.p('missing.key')}
        rc, out, err = self.kvctl(['--cert', self.p('client.pem'), '--key',
                                   self.p('client.key'), 'get', 'tls/env'],
                                  env=nocert)
        self.assertEqual((rc, out), (0, 'v2'), err)

    def test_kvctl_watch(self):
        f = self.tls_flags()
        w = subprocess.Popen([KVCTL, '--endpoints', self.eps, '--timeout',
                              '60'] + f + ['watch', 'tls/w', '--count', '1'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # Nothing says when the watch's stream is up: write until it
            # prints (each write is a change it may see).
            def seen():
                rc, _, err = self.kvctl(f + ['put', 'tls/w', 'x'])
                self.assertEqual(rc, 0, err)
                try:
                    w.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    return False
                return True
            wait_for(seen, what='the watch over TLS prints a change')
            out, err = w.communicate(timeout=60)
            self.assertEqual(w.returncode, 0, err)
            self.assertTrue(out.decode().startswith('PUT\ttls/w\tx\t'), out)
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()

    def test_kvctl_refusals(self):
        # Another host's certificate.
        rc, out, err = self.kvctl(self.tls_flags() + ['get', 'x'],
                                  endpoints=self.other, timeout_s=60)
        self.assertEqual(rc, 3, err)
        self.assertIn('IP address mismatch', err)
        # No client certificate: the member refuses the connection.
        rc, out, err = self.kvctl(['--cacert', self.p('ca.pem'), 'get', 'x'],
                                  timeout_s=60)
        self.assertEqual(rc, 3, err)
        self.assertIn('asks for a client certificate', err)
        # Files that do not load, a cert without its key: usage errors.
        rc, out, err = self.kvctl(['--cacert', self.p('missing.pem'), 'get',
                                   'x'])
        self.assertEqual(rc, 2, err)
        self.assertIn('missing.pem', err)
        rc, out, err = self.kvctl(['--cert', self.p('client.pem'), 'get',
                                   'x'])
        self.assertEqual(rc, 2, err)
        self.assertIn('go together', err)
        rc, out, err = self.kvctl(['--cacert', self.p('ca.pem'), '--cert',
                                   self.p('client.pem'), '--key',
                                   self.p('rogue.key'), 'get', 'x'])
        self.assertEqual(rc, 2, err)
        self.assertIn('does not match', err)
        # Nothing listening at an https:// URL is a refused connection,
        # not a TLS failure.
        rc, out, err = self.kvctl(self.tls_flags() + ['get', 'x'],
                                  endpoints='https://127.0.0.1:%d'
                                  % harness.free_port(), timeout_s=60)
        self.assertEqual(rc, 3, err)
        self.assertIn('connection refused', err)
        self.assertNotIn('TLS', err)
        # Plain http:// to an HTTPS member gets no answer.
        plain = 'http://127.0.0.1:%d' % self.cluster[1].client_port
        rc, out, err = self.kvctl(self.tls_flags() + ['get', 'x'],
                                  endpoints=plain, timeout_s=3)
        self.assertEqual(rc, 3, err)


if __name__ == '__main__':
    if not KVCTL or not os.access(KVCTL, os.X_OK):
        sys.stderr.write('set KVCTL to the kvctl binary\n')
        sys.exit(1)
    harness.main()
