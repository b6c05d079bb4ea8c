#!/usr/bin/env python3
# Tokens and roles (DESIGN.md §1.8; docs/API.md, "Auth") on a real 3-member
# cluster: everything open before POST /v1/auth/enable; after it every
# route needs a token (401), the route x role matrix over HTTP (allowed /
# 401 / 403), lists, watches, transactions and prefix deletes outside the
# token's prefix 403, a follower relaying with the caller's token,
# revocation on every member once applied, a request refused before its
# body is read (also on a kept-alive connection, and over HTTPS), tokens
# across a restart and a snapshot install, and the secrets never in a data
# dir, a log or /metrics.
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ClusterTest, http_request, wait_for  # noqa: E402


def bearer(tok):
    return {'Authorization': 'Bearer ' + tok} if tok else {}


def call(m, method, path, tok=None, body=None, headers=None, timeout=10.0):
    """A request with exactly the token @tok (None: no Authorization). A
    watch that opens is a stream: only its status and headers are read."""
    h = dict(headers or {})
    h.update(bearer(tok))
    ctx = m.cluster.context()
    if not path.startswith('/v1/watch'):
        return http_request(m.host, m.client_port, method, path, body, h,
                            timeout, ctx)
    conn = (http.client.HTTPSConnection(m.host, m.client_port,
                                        timeout=timeout, context=ctx)
            if ctx is not None else
            http.client.HTTPConnection(m.host, m.client_port,
                                       timeout=timeout))
    try:
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        hd = {k.lower(): v for k, v in r.getheaders()}
        data = r.read() if r.status != 200 else b''
        return harness.Response(r.status, hd, data, 0.0)
    finally:
        conn.close()


def must(m, method, path, tok, body=None, ok=(200,)):
    """A request that must succeed, retried while the cluster has no
    leader (503) on a loaded machine."""
    def attempt():
        r = call(m, method, path, tok, body)
        return r if r.status != 503 else None
    r = wait_for(attempt, what='%s %s answered' % (method, path))
    assert r.status in ok, r
    return r


def exchange(sock, data, answers):
    """Sends @data on @sock and reads until @answers answers (by their
    Content-Length) or the connection closes; returns the answers' status
    codes. The member may close the connection before it read everything
    sent (after a refusal): a reset then ends the sending, not the test."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf, codes = b'', []
    while len(codes) < answers:
        end = buf.find(b'\r\n\r\n')
        if end >= 0:
            head = buf[:end].decode('latin-1')
            length = 0
            for line in head.split('\r\n')[1:]:
                k, _, v = line.partition(':')
                if k.strip().lower() == 'content-length':
                    length = int(v)
            if len(buf) >= end + 4 + length:
                codes.append(int(head.split(' ')[1]))
                buf = buf[end + 4 + length:]
                continue
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            d = b''
        if not d:
            break
        buf += d
    return codes


def big_put(auth):
    """Headers announcing 100 MB that never come."""
    return (b'PUT /v1/kv/app/big HTTP/1.1\r\nHost: x\r\n' + auth +
            b'Content-Length: 100000000\r\n\r\n')


def txn(ops, compares=()):
    return json.dumps({'compare': list(compares), 'success': list(ops),
                       'failure': []})


def b64(s):
    return base64.b64encode(s.encode()).decode()


# One representative request per route: (name, method, path, body).
# The keys and prefixes are inside "app/", the readwrite and readonly
# tokens' prefix, unless the name says "outside".
ROUTES = [
    ('kv get', 'GET', '/v1/kv/app/k', None),
    ('kv put', 'PUT', '/v1/kv/app/k', 'v'),
    ('kv delete', 'DELETE', '/v1/kv/app/gone', None),
    ('list', 'GET', '/v1/kv?prefix=app/', None),
    ('blocking read', 'GET', '/v1/kv/app/k?wait_index=1&wait=1ms', None),
    ('prefix delete', 'DELETE', '/v1/kv?prefix=app/none/', None),
    ('watch', 'GET', '/v1/watch?prefix=app/&from=1', None),
    ('watch key', 'GET', '/v1/watch?key=app/k', None),
    ('txn', 'POST', '/v1/txn',
     txn([{'get': {'key': 'app/k'}}])),
    ('lease list', 'GET', '/v1/leases', None),
    ('lease grant', 'POST', '/v1/leases', '{"ttl": 60}'),
    ('status', 'GET', '/v1/status', None),
    ('members', 'GET', '/v1/members', None),
    ('metrics', 'GET', '/metrics', None),
    ('member add', 'POST', '/v1/members', '{"id": 9, "peer_url": "x"}'),
    ('member remove', 'DELETE', '/v1/members/9', None),
    ('transfer', 'POST', '/v1/leader/transfer', '{"to": 99}'),
    ('snapshot', 'GET', '/v1/snapshot', None),
    ('token list', 'GET', '/v1/auth/tokens', None),
    ('token create', 'POST', '/v1/auth/tokens',
     '{"name": "made-by-matrix", "role": "readonly", "prefix": "x/"}'),
    ('token revoke', 'DELETE', '/v1/auth/tokens/nobody', None),
    ('list outside', 'GET', '/v1/kv?prefix=ap', None),
    ('list all', 'GET', '/v1/kv', None),
    ('get outside', 'GET', '/v1/kv/other', None),
    ('put outside', 'PUT', '/v1/kv/other', 'v'),
    ('watch outside', 'GET', '/v1/watch?key=other', None),
    ('prefix delete outside', 'DELETE', '/v1/kv?prefix=', None),
    ('txn outside', 'POST', '/v1/txn',
     txn([{'put': {'key': 'app/ok', 'value': b64('1')}},
          {'delete_prefix': {'prefix': 'zz/'}}])),
    ('txn compare outside', 'POST', '/v1/txn',
     txn([{'get': {'key': 'app/k'}}],
         [{'key': 'other', 'target': 'exists', 'op': '==', 'value': True}])),
]

A, F = 'allowed', 403
# Per route: admin, readwrite app/, readonly app/ (no token and an
# unknown one: 401 everywhere).
WANT = {
    'kv get': (A, A, A), 'kv put': (A, A, F), 'kv delete': (A, A, F),
    'list': (A, A, A), 'blocking read': (A, A, A),
    'prefix delete': (A, A, F), 'watch': (A, A, A), 'watch key': (A, A, A),
    'txn': (A, A, F),
    'lease list': (A, A, F), 'lease grant': (A, A, F),
    'status': (A, A, A), 'members': (A, A, A), 'metrics': (A, A, A),
    'member add': (A, F, F), 'member remove': (A, F, F),
    'transfer': (A, F, F), 'snapshot': (A, F, F),
    'token list': (A, F, F), 'token create': (A, F, F),
    'token revoke': (A, F, F),
    'list outside': (A, F, F), 'list all': (A, F, F),
    'get outside': (A, F, F), 'put outside': (A, F, F),
    'watch outside': (A, F, F), 'prefix delete outside': (A, F, F),
    'txn outside': (A, F, F), 'txn compare outside': (A, F, F),
}


class AuthTest(ClusterTest):
    # Small snapshots, so that a member added later gets one.
    CLUSTER_ARGS = ('--snapshot-entries', '16')
    # Every secret shown to a test, for the one that looks for them.
    secrets = []

    def setUp(self):
        # Every test starts from auth off (the tests share a cluster).
        c = self.cluster
        if c.token is not None:
            must(c[1], 'POST', '/v1/auth/disable', c.token)
            c.token = None
            wait_for(lambda: all(
                call(m, 'GET', '/v1/status').status == 200
                for m in c.live()), what='auth off on every member')

    def enable(self, via=None):
        c = self.cluster
        m = via or c[1]
        r = must(m, 'POST', '/v1/auth/enable', None)
        tok = r.json()['token']
        self.assertTrue(tok.startswith('kvd_'), tok)
        self.assertGreaterEqual(len(tok), 4 + 22)  # >= 128 bits
        c.token = tok
        AuthTest.secrets.append(tok)
        # Applied on every member: each refuses a request without one.
        wait_for(lambda: all(call(x, 'GET', '/v1/status').status == 401
                             for x in c.live()),
                 what='auth on on every member')
        return tok

    def create(self, name, role, prefix=None, via=None):
        body = {'name': name, 'role': role}
        if prefix is not None:
            body['prefix'] = prefix
        r = must(via or self.cluster[1], 'POST', '/v1/auth/tokens',
                 self.cluster.token, json.dumps(body))
        j = r.json()
        self.assertEqual((j['name'], j['role'], j['prefix']),
                         (name, role, prefix or ''))
        AuthTest.secrets.append(j['token'])
        return j['token']

    def wait_token(self, tok, works=True):
        """Until every live member accepts @tok (or refuses it)."""
        c = self.cluster
        want = 200 if works else 401
        wait_for(lambda: all(call(m, 'GET', '/v1/status', tok).status ==
                             want for m in c.live()),
                 what='token %s on every member' %
                 ('accepted' if works else 'refused'))

    def test_open_before_enable_and_enable_once(self):
        c = self.cluster
        for name, method, path, body in ROUTES[:13]:
            r = call(c[1], method, path, None, body)
            self.assertNotIn(r.status, (401, 403), (name, r))
        # No tokens to make while auth is off.
        r = call(c[1], 'POST', '/v1/auth/tokens', None,
                 '{"name": "a", "role": "admin"}')
        self.assertError(r, 409, 'conflict')
        tok = self.enable(via=c.follower())
        self.assertError(call(c[2], 'POST', '/v1/auth/enable', tok), 409,
                         'conflict')
        r = call(c[1], 'GET', '/v1/auth/tokens', tok)
        self.assertEqual(r.json(), {'tokens': [
            {'name': 'root', 'role': 'admin', 'prefix': ''}]})

    def test_matrix(self):
        c = self.cluster
        root = self.enable()
        rw = self.create('rw', 'readwrite', 'app/')
        ro = self.create('ro', 'readonly', 'app/')
        for tok in (rw, ro):
            self.wait_token(tok)
        must(c[1], 'PUT', '/v1/kv/app/k', root, 'v')
        unknown = 'kvd_' + 'A' * 43
        cols = (('admin', root), ('readwrite', rw), ('readonly', ro))
        for m in c.live():
            for name, method, path, body in ROUTES:
                for i, (role, tok) in enumerate(cols):
                    want = WANT[name][i]
                    r = call(m, method, path, tok, body)
                    what = '%s as %s on member %d: %r' % (name, role, m.id, r)
                    if want == A:
                        self.assertNotIn(r.status, (401, 403), what)
                    else:
                        self.assertError(r, want, 'forbidden')
                for tok in (None, unknown, 'not a token'):
                    r = call(m, method, path, tok, body)
                    self.assertError(r, 401, 'unauthorized')
            # Open to all, whatever the token.
            for path in ('/healthz', '/readyz', '/ui/' + 'a' * 100):
                for tok in (None, unknown, ro):
                    r = call(m, 'GET', path, tok)
                    self.assertNotIn(r.status, (401, 403), (path, r))
        # A readonly token cannot turn auth off.
        self.assertError(call(c[2], 'POST', '/v1/auth/disable', ro), 403,
                         'forbidden')
        self.assertError(call(c[2], 'POST', '/v1/auth/disable', rw), 403,
                         'forbidden')

    def test_follower_relays_the_token(self):
        c = self.cluster
        self.enable()
        rw = self.create('relay', 'readwrite', 'app/')
        self.wait_token(rw)
        lid, _ = c.wait_leader()
        r = must(c[lid], 'POST', '/v1/leases', rw, '{"ttl": 60}')
        lease = r.json()['id']
        # A keepalive needs the leader: a follower relays it, with the
        # caller's token, which the leader checks again.
        f = [m for m in c.live() if m.id != lid][0]
        r = must(f, 'POST', '/v1/leases/%d/keepalive' % lease, rw)
        self.assertEqual(r.json()['id'], lease)
        # A write through a follower (a proposal it forwards).
        must(f, 'PUT', '/v1/kv/app/relayed', rw, 'x')
        r = must(c[lid], 'GET', '/v1/kv/app/relayed', rw)
        self.assertEqual(r.body, b'x')

    def test_lease_is_no_way_around_a_prefix(self):
        c = self.cluster
        root = self.enable()
        rw = self.create('leaser', 'readwrite', 'app/')
        self.wait_token(rw)
        lid, _ = c.wait_leader()
        mine = must(c[lid], 'POST', '/v1/leases', rw,
                    '{"ttl": 60}').json()['id']
        must(c[lid], 'PUT', '/v1/kv/app/l1?lease=%d' % mine, rw, 'v')
        # A key outside the prefix attached (by an admin) to a lease: the
        # prefixed token may not revoke (delete it), read or extend it.
        theirs = must(c[lid], 'POST', '/v1/leases', rw,
                      '{"ttl": 60}').json()['id']
        must(c[lid], 'PUT', '/v1/kv/other/l2?lease=%d' % theirs, root, 'v')
        self.assertError(call(c[lid], 'PUT', '/v1/kv/other/l3?lease=%d'
                              % theirs, rw, 'v'), 403, 'forbidden')
        for method, path in (('DELETE', '/v1/leases/%d' % theirs),
                             ('GET', '/v1/leases/%d' % theirs),
                             ('POST', '/v1/leases/%d/keepalive' % theirs)):
            self.assertError(call(c[lid], method, path, rw), 403,
                             'forbidden')
        self.assertError(call(c[lid], 'POST', '/v1/leases/keepalive', rw,
                              json.dumps({'ids': [mine, theirs]})), 403,
                         'forbidden')
        r = must(c[lid], 'POST', '/v1/leases/keepalive', rw,
                 json.dumps({'ids': [mine]}))
        self.assertEqual(len(r.json()['leases']), 1)
        r = must(c[lid], 'DELETE', '/v1/leases/%d' % mine, rw)
        self.assertEqual(r.json()['deleted'], 1)
        must(c[lid], 'DELETE', '/v1/leases/%d' % theirs, root)

    def test_revocation_on_every_member(self):
        c = self.cluster
        root = self.enable()
        t = self.create('short-lived', 'readwrite', 'app/')
        self.wait_token(t)
        r = call(c[1], 'DELETE', '/v1/auth/tokens/short-lived', t)
        self.assertError(r, 403, 'forbidden')
        must(c.follower(), 'DELETE', '/v1/auth/tokens/short-lived', root)
        self.wait_token(t, works=False)
        for m in c.live():
            for name, method, path, body in ROUTES:
                r = call(m, method, path, t, body)
                self.assertError(r, 401, 'unauthorized')
        self.assertError(call(c[1], 'DELETE', '/v1/auth/tokens/short-lived',
                              root), 404, 'not_found')
        # The last admin stays; name rules and duplicates are refused.
        self.assertError(call(c[1], 'DELETE', '/v1/auth/tokens/root', root),
                         409, 'conflict')
        for body in ('{"name": "a b", "role": "admin"}',
                     '{"name": "a", "role": "owner"}',
                     '{"name": "a", "role": "admin", "prefix": "x"}',
                     '{"name": "a", "role": "readonly", "extra": 1}',
                     '{"name": "a", "name": "b", "role": "readonly"}',
                     '[]', 'nope'):
            self.assertError(call(c[1], 'POST', '/v1/auth/tokens', root,
                                  body), 400, 'bad_request')
        self.create('dup', 'readonly')
        self.assertError(call(c[1], 'POST', '/v1/auth/tokens', root,
                              '{"name": "dup", "role": "readonly"}'), 409,
                         'conflict')

    def open_watch(self, m, tok, prefix):
        conn = http.client.HTTPConnection(m.host, m.client_port, timeout=30)
        conn.request('GET', '/v1/watch?prefix=' + urllib.parse.quote(prefix),
                     headers=bearer(tok))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        return conn, r

    def read_events(self, r):
        """The stream's lines until it ends."""
        out = []
        while True:
            line = r.readline()
            if not line:
                return out
            out.append(json.loads(line))

    def test_watch_ends_when_its_token_goes(self):
        c = self.cluster
        # Opened while auth is off: ends once auth is on.
        conn0, r0 = self.open_watch(c[2], None, 'app/')
        root = self.enable()
        t = self.create('watcher', 'readonly', 'app/')
        self.wait_token(t)
        conn, r = self.open_watch(c[2], t, 'app/')
        must(c[1], 'PUT', '/v1/kv/app/w1', root, 'before')
        self.assertEqual(json.loads(r.readline())['key'], 'app/w1')
        must(c[1], 'DELETE', '/v1/auth/tokens/watcher', root)
        self.wait_token(t, works=False)
        must(c[1], 'PUT', '/v1/kv/app/w2', root, 'after')
        # No change after the revocation reaches it; its last line says
        # why it ended.
        for rr in (r, r0):
            evs = [e for e in self.read_events(rr)
                   if e['type'] != 'progress']
            self.assertEqual(evs[-1]['error'], 'unauthorized', evs)
            self.assertNotIn('app/w2', [e.get('key') for e in evs])
        conn.close()
        conn0.close()

    def test_blocking_read_checks_again_before_answering(self):
        c = self.cluster
        root = self.enable()
        t = self.create('waiter', 'readonly', 'app/')
        self.wait_token(t)
        r = must(c[2], 'PUT', '/v1/kv/app/b', root, '1')
        idx = r.json()['index']
        got = []
        th = threading.Thread(target=lambda: got.append(call(
            c[2], 'GET', '/v1/kv/app/b?wait_index=%d&wait=60s' % idx, t,
            timeout=90)))
        th.start()
        try:
            must(c[1], 'DELETE', '/v1/auth/tokens/waiter', root)
            self.wait_token(t, works=False)
            must(c[1], 'PUT', '/v1/kv/app/b', root, '2')
        finally:
            th.join(90)
        # Waiting when it was revoked: answered 401, not with the value.
        self.assertEqual(len(got), 1)
        self.assertError(got[0], 401, 'unauthorized')

    def test_refused_before_the_body_is_read(self):
        c = self.cluster
        tok = self.enable().encode()
        good = b'Authorization: Bearer ' + tok + b'\r\n'
        for m in c.live():
            for auth in (b'', b'Authorization: Bearer kvd_unknown\r\n'):
                s = socket.create_connection((m.host, m.client_port),
                                             timeout=10)
                try:
                    # 100 MB announced, none sent: the answer cannot wait
                    # for the body.
                    self.assertEqual(exchange(s, big_put(auth), 1), [401])
                finally:
                    s.close()
            # A header block longer than 64 KiB is not waited for.
            s = socket.create_connection((m.host, m.client_port),
                                         timeout=10)
            try:
                pad = b'PUT /v1/kv/app/big HTTP/1.1\r\n' + good + \
                    b'X-Pad: ' + b'a' * 70000
                self.assertEqual(exchange(s, pad, 1), [401])
            finally:
                s.close()
            # On a kept-alive connection each request is checked: a good
            # one is served, the next without a token refused, and what
            # follows it is never read.
            s = socket.create_connection((m.host, m.client_port),
                                         timeout=10)
            try:
                reqs = (b'PUT /v1/kv/app/ka HTTP/1.1\r\n' + good +
                        b'Content-Length: 2\r\n\r\nhi' +
                        b'GET /v1/status HTTP/1.1\r\n' + good + b'\r\n' +
                        b'PUT /v1/kv/app/ka HTTP/1.1\r\n'
                        b'Content-Length: 4\r\n\r\nlost' +
                        b'GET /v1/status HTTP/1.1\r\n' + good + b'\r\n')
                self.assertIn(exchange(s, reqs, 4),
                              ([200, 200, 401], [503, 200, 401]))
            finally:
                s.close()
        r = must(c[1], 'GET', '/v1/kv/app/ka', tok.decode())
        self.assertEqual(r.body, b'hi')

    def test_tokens_survive_restart_and_snapshot_install(self):
        c = self.cluster
        root = self.enable()
        rw = self.create('durable', 'readwrite', 'app/')
        gone = self.create('revoked', 'readonly', '')
        self.wait_token(rw)
        must(c[1], 'DELETE', '/v1/auth/tokens/revoked', root)
        self.wait_token(gone, works=False)
        # A restart of every member: the tokens come back from the store.
        for m in c.all():
            self.assertEqual(m.terminate(), 0)
        for m in c.all():
            m.start()
        c.wait_leader()
        self.wait_token(rw)
        self.wait_token(gone, works=False)
        # A member down while tokens change and the log is compacted past
        # it: it learns them from the snapshot it installs.
        lid, _ = c.wait_leader()
        down = [m for m in c.all() if m.id != lid][0]
        down_last = down.try_status()['last_index']
        down.kill()
        late = self.create('late', 'readonly', 'app/', via=c[lid])
        must(c[lid], 'DELETE', '/v1/auth/tokens/durable', root)
        for i in range(40):
            must(c[lid], 'PUT', '/v1/kv/app/s%02d' % i, root, 'v')
        wait_for(lambda: call(c[lid], 'GET', '/v1/status', root).json()
                 ['snapshot_index'] > down_last + 16,
                 what='a snapshot past the stopped member')
        down.start()
        c.wait_leader()
        wait_for(lambda: call(down, 'GET', '/v1/kv/app/s39?consistency=stale',
                              late).status == 200,
                 what='the restarted member serves the new token')
        st = call(down, 'GET', '/v1/status', late).json()
        self.assertGreater(st['snapshot_index'], down_last)
        self.assertError(call(down, 'GET', '/v1/status', rw), 401,
                         'unauthorized')
        self.assertError(call(down, 'GET', '/v1/status', gone), 401,
                         'unauthorized')
        self.assertError(call(down, 'GET', '/v1/status'), 401,
                         'unauthorized')
        self.assertError(call(down, 'GET', '/v1/kv/other?consistency=stale',
                              late), 403, 'forbidden')

    def test_secrets_never_stored_logged_or_shown(self):
        c = self.cluster
        root = self.enable()
        self.create('watched', 'readonly', 'app/')
        # Requests with good and bad tokens, refused and served.
        for m in c.live():
            call(m, 'GET', '/v1/status', root)
            call(m, 'GET', '/v1/kv/x', 'kvd_' + 'B' * 43)
            r = call(m, 'GET', '/metrics', root)
            self.assertEqual(r.status, 200, r)
            self.assertIn(b'kvd_auth_failures_total{code="401"}', r.body)
            for s in self.secrets:
                self.assertNotIn(s.encode(), r.body)
                self.assertNotIn(s.encode()[4:], r.body)
        # What the members wrote to disk must be durable to be found: a
        # clean stop syncs everything.
        for m in c.all():
            if m.running():
                self.assertEqual(m.terminate(), 0)
        found = []
        for root_dir, _, files in os.walk(c.root):
            for f in files:
                p = os.path.join(root_dir, f)
                with open(p, 'rb') as fh:
                    data = fh.read()
                for s in self.secrets:
                    if s.encode()[4:] in data:
                        found.append(p)
        for m in c.all():
            m.start()
        c.wait_leader()
        self.assertEqual(found, [])


_dir = tempfile.mkdtemp(prefix='kvd-auth-')
_peer_token = os.path.join(_dir, 'peer-token')


class AuthJoinTest(ClusterTest):
    """A member added while auth is on gets the tokens in the snapshot it
    installs (the peers share a peer token here: the new member proves it
    holds it before anything is sent to it)."""
    CLUSTER_ARGS = ('--peer-token-file', _peer_token,
                    '--snapshot-entries', '16')

    @classmethod
    def setUpClass(cls):
        fd = os.open(_peer_token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('peer-secret-for-test-auth-0123456789\n')
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(_dir, ignore_errors=True)

    def test_member_added_after_a_snapshot_gets_the_tokens(self):
        c = self.cluster
        root = c.token = must(c[1], 'POST', '/v1/auth/enable',
                              None).json()['token']
        rw = must(c[1], 'POST', '/v1/auth/tokens', root,
                  '{"name": "j", "role": "readwrite", "prefix": "j/"}'
                  ).json()['token']
        gone = must(c[1], 'POST', '/v1/auth/tokens', root,
                    '{"name": "g", "role": "readonly"}').json()['token']
        must(c[1], 'DELETE', '/v1/auth/tokens/g', root)
        lid, _ = c.wait_leader()
        for i in range(40):
            must(c[lid], 'PUT', '/v1/kv/j/%02d' % i, rw, 'v')
        wait_for(lambda: call(c[lid], 'GET', '/v1/status', root).json()
                 ['snapshot_index'] > 16, what='a snapshot taken')
        m4 = c.add_member(4)
        m4.start()
        # 504: the change outlived --request-timeout-ms while the new
        # member caught up; it completes on its own.
        must(c[1], 'POST', '/v1/members', root,
             json.dumps({'id': 4, 'peer_url': m4.peer_url}), ok=(200, 504))
        wait_for(lambda: call(m4, 'GET', '/v1/kv/j/39?consistency=stale',
                              rw).status == 200,
                 what='member 4 serves with the token', timeout=60)
        st = call(m4, 'GET', '/v1/status', rw).json()
        self.assertGreater(st['snapshot_index'], 0)
        self.assertError(call(m4, 'GET', '/v1/status', gone), 401,
                         'unauthorized')
        self.assertError(call(m4, 'GET', '/v1/status'), 401, 'unauthorized')
        self.assertError(call(m4, 'GET', '/v1/kv/x?consistency=stale', rw),
                         403, 'forbidden')


class AuthTlsClusterTest(ClusterTest):
    """Auth on a cluster with TLS on both listeners: refusals over HTTPS,
    and a follower's relay to the leader (over HTTPS) carrying the
    caller's token."""
    CLUSTER_KW = {'tls': True}

    def test_auth_over_tls(self):
        c = self.cluster
        r = must(c[1], 'POST', '/v1/auth/enable', None)
        root = c.token = r.json()['token']
        wait_for(lambda: all(call(m, 'GET', '/v1/status').status == 401
                             for m in c.live()),
                 what='auth on on every member')
        r = must(c[1], 'POST', '/v1/auth/tokens', root,
                 '{"name": "tls-rw", "role": "readwrite", "prefix": "t/"}')
        rw = r.json()['token']
        wait_for(lambda: all(call(m, 'GET', '/v1/status', rw).status == 200
                             for m in c.live()),
                 what='the token on every member')
        lid, _ = c.wait_leader()
        lease = must(c[lid], 'POST', '/v1/leases', rw,
                     '{"ttl": 60}').json()['id']
        f = [m for m in c.live() if m.id != lid][0]
        r = must(f, 'POST', '/v1/leases/%d/keepalive' % lease, rw)
        self.assertEqual(r.json()['id'], lease)
        self.assertError(call(f, 'POST', '/v1/leases/%d/keepalive' % lease),
                         401, 'unauthorized')
        self.assertError(call(f, 'PUT', '/v1/kv/u/x', rw, 'v'), 403,
                         'forbidden')
        must(f, 'PUT', '/v1/kv/t/x', rw, 'v')


def openssl(d, *args):
    subprocess.run(['openssl'] + list(args), cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class AuthHttpsTest(unittest.TestCase):
    """The gate over HTTPS (--client-cert): a request without a token is
    refused before its body is read there too."""

    def test_refused_before_the_body_over_https(self):
        d = tempfile.mkdtemp(prefix='kvd-auth-tls-')
        c = None
        try:
            openssl(d, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                    '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=ca',
                    '-days', '2')
            openssl(d, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                    'srv.key', '-out', 'srv.csr', '-subj', '/CN=srv')
            os.chmod(os.path.join(d, 'srv.key'), 0o600)
            with open(os.path.join(d, 'srv.ext'), 'w') as f:
                f.write('subjectAltName=IP:127.0.0.1\n')
            openssl(d, 'x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem',
                    '-CAkey', 'ca.key', '-days', '2', '-out', 'srv.pem',
                    '-extfile', 'srv.ext')
            c = harness.Cluster(n=1, name='kvd-auth-tls', extra_args=[
                '--client-cert', os.path.join(d, 'srv.pem'),
                '--client-key', os.path.join(d, 'srv.key')])
            c.advertise = False
            m = c[1]
            m.start()
            ctx = ssl.create_default_context(
                cafile=os.path.join(d, 'ca.pem'))

            def tls():
                raw = socket.create_connection(('127.0.0.1', m.client_port),
                                               timeout=10)
                return ctx.wrap_socket(raw, server_hostname='127.0.0.1')

            def enable():
                s = tls()
                try:
                    s.sendall(b'POST /v1/auth/enable HTTP/1.1\r\n'
                              b'Content-Length: 0\r\n'
                              b'Connection: close\r\n\r\n')
                    data = harness.read_to_close(s)
                finally:
                    s.close()
                if not data.startswith(b'HTTP/1.1 200'):
                    return None
                return json.loads(data.split(b'\r\n\r\n', 1)[1])['token']
            tok = wait_for(enable, what='auth enabled over HTTPS')
            good = b'Authorization: Bearer ' + tok.encode() + b'\r\n'
            for auth in (b'', b'Authorization: Bearer kvd_unknown\r\n'):
                s = tls()
                try:
                    self.assertEqual(exchange(s, big_put(auth), 1), [401])
                finally:
                    s.close()
            s = tls()
            try:
                reqs = (b'PUT /v1/kv/app/tls HTTP/1.1\r\n' + good +
                        b'Content-Length: 2\r\n\r\nok' +
                        b'GET /v1/kv/app/tls HTTP/1.1\r\n\r\n' +
                        b'GET /v1/kv/app/tls HTTP/1.1\r\n' + good +
                        b'\r\n')
                self.assertEqual(exchange(s, reqs, 3), [200, 401])
            finally:
                s.close()
        finally:
            if c is not None:
                c.close()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    harness.main()
