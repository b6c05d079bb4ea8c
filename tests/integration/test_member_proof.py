# test_member_proof.py - membership without trust on first use (issue 15):
# an address added with POST /v1/members is sent nothing with the peer
# token, and no entries, until it proves it holds the token (GET
# /raft/hello, docs/FORMAT.md "Peer hello"). A fake learner gets only
# hellos; a real member with a wrong token never gets the log; a real one
# with the right token joins and catches up, answering the leader at the
# peer URL its messages announce (no request to a client URL); old
# members restart and reconnect; a peer port off loopback with no token
# is warned about.

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time

import harness
from harness import ClusterTest, wait_for

TOKEN = 'member-proof-token-0123456789abcdef'
HELLO_PATH = '/raft/hello'


def members_of(m):
    r = m.request('GET', '/v1/members', timeout=5)
    assert r.status == 200, r
    return {x['id']: x['voter'] for x in r.json()['members']}


def add(via, mid, peer_url, timeout=30):
    return via.request('POST', '/v1/members',
                       json.dumps({'id': mid, 'peer_url': peer_url}),
                       timeout=timeout)


def add_in_background(via, mid, peer_url):
    """POST /v1/members from a thread: for a learner that never catches
    up it answers only when the change times out."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        'r', add(via, mid, peer_url)), daemon=True)
    t.start()
    return t, out


def remove_when_possible(c, mid):
    """DELETE /v1/members/mid once no other change is under way."""
    def attempt():
        for m in c.live():
            try:
                r = m.request('DELETE', '/v1/members/%d' % mid, timeout=10)
            except OSError:
                continue
            if r.status == 200:
                return r
        return None
    return wait_for(attempt, what='member %d removed' % mid)


class FakePeer:
    """An HTTP/1.1 server (keep-alive, so a connection it proved nothing
    on stays open) that records every request. Hellos are answered with a
    proof made under a guessed token, as an attacker would; anything else
    204, its body read and counted."""

    def __init__(self, fake_id):
        self.fake_id = fake_id
        self.requests = []  # (method, path, {header: value}, body bytes)
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else b''
                with fake.lock:
                    fake.requests.append((self.command, self.path,
                                          {k.lower(): v for k, v in
                                           self.headers.items()},
                                          len(body)))
                out = b''
                code = 204
                if self.path.startswith(HELLO_PATH + '?nonce='):
                    nonce = bytes.fromhex(self.path.split('=', 1)[1])
                    asker = int(self.headers.get('X-Kvd-From') or 0)
                    mac = hmac.new(b'guessed-token', b'kvd-peer-proof' +
                                   nonce + fake.fake_id.to_bytes(8, 'little')
                                   + asker.to_bytes(8, 'little'),
                                   hashlib.sha256).hexdigest()
                    out = ('kvd-peer-proof/1 %d %s\n'
                           % (fake.fake_id, mac)).encode()
                    code = 200
                self.send_response(code)
                self.send_header('Content-Length', str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = handle_any

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def seen(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


_dir = tempfile.mkdtemp(prefix='kvd-proof-')
_token_file = os.path.join(_dir, 'token')
_wrong_file = os.path.join(_dir, 'wrong-token')


class MemberProofTest(ClusterTest):
    # Compacted early: a new member can only be sent a snapshot, which
    # carries the token and the whole state too.
    CLUSTER_ARGS = ('--peer-token-file', _token_file,
                    '--snapshot-entries', '20')

    @classmethod
    def setUpClass(cls):
        for path, tok in ((_token_file, TOKEN), (_wrong_file, TOKEN + 'x')):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(tok + '\n')
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for p in (_token_file, _wrong_file):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(_dir)
        except OSError:
            pass

    def proof_failures(self):
        total = 0
        for m in self.cluster.all():
            if m.running() and not m.join:
                try:
                    total += m.metric('kvd_peer_proof_failures_total')
                except OSError:
                    pass
        return total

    def check_only_hellos(self, seen):
        for method, path, hdrs, body in seen:
            self.assertNotIn('x-kvd-token', hdrs, seen)
            self.assertNotIn('authorization', hdrs, seen)
            self.assertNotIn(TOKEN, ' '.join(hdrs.values()))
            self.assertEqual(method, 'GET', seen)
            self.assertTrue(path.startswith(HELLO_PATH + '?nonce='), path)
            self.assertEqual(len(path.split('=', 1)[1]), 64, path)
            self.assertEqual(body, 0)
        # Each hello brings a fresh nonce.
        nonces = [p for _, p, _, _ in seen]
        self.assertEqual(len(set(nonces)), len(nonces))

    def test_1_fake_learner_gets_only_hellos(self):
        """The issue's attack: a fake learner added with POST /v1/members
        receives no request carrying the token and no entry, only hellos,
        while writes go on; the cluster carries on."""
        c = self.cluster
        for i in range(30):
            self.assertEqual(c.put('before/%02d' % i, b'v%d' % i).status, 200)
        wait_for(lambda: all((m.try_status() or {}).get('snapshot_index', 0)
                             > 0 for m in c.all()),
                 what='every member compacted')
        fake = FakePeer(10)
        try:
            t, out = add_in_background(c[1], 10, fake.url)
            wait_for(lambda: 10 in members_of(c[1]), what='learner 10')
            for i in range(30):
                self.assertEqual(c.put('after/%02d' % i, b'w').status, 200)
            # Both lanes of the leader ask, fail and ask again.
            wait_for(lambda: len(fake.seen()) >= 4, what='requests')
            self.check_only_hellos(fake.seen())
            wait_for(lambda: self.proof_failures() >= 2,
                     what='proof failures counted')
            t.join(60)
            self.assertIn(out['r'].status, (503, 504), out['r'])
            self.assertEqual(members_of(c[1]).get(10), False)
            remove_when_possible(c, 10)
            seen = fake.seen()
        finally:
            fake.close()
        self.assertGreaterEqual(len(seen), 4)
        self.check_only_hellos(seen)
        leader = c.leader()
        self.assertIn('no proof of membership', leader.log_since_start()
                      + ''.join(m.log_since_start() for m in c.live()))
        for m in c.live():
            self.assertNotIn(TOKEN, m.log_since_start())
        self.assertEqual(c.put('still/works', b'1').status, 200)

    def test_2_wrong_token_member_never_gets_the_log(self):
        """A real kvd with another token answers hellos with a proof the
        cluster refuses: it is sent no message and no snapshot."""
        c = self.cluster
        m5 = c.add_member(5)
        base_args = m5.args
        m5.args = lambda: [_wrong_file if a == _token_file else a
                           for a in base_args()]
        m5.start()
        try:
            before = self.proof_failures()
            t, out = add_in_background(c[2], 5, m5.peer_url)
            wait_for(lambda: m5.metric('kvd_peer_hellos_total') >= 2,
                     what='member 5 asked for proofs')
            wait_for(lambda: self.proof_failures() >= before + 2,
                     what='its proofs refused')
            t.join(60)
            self.assertIn(out['r'].status, (503, 504), out['r'])
            st = m5.try_status()
            self.assertEqual(st['applied_index'], 0, st)
            self.assertEqual(st['commit_index'], 0, st)
            self.assertEqual(m5.metric('kvd_peer_messages_received_total'),
                             0)
            self.assertEqual(m5.metric('kvd_peer_unauthorized_total'), 0)
            self.assertNotIn('installed snapshot', m5.log_since_start())
            self.assertEqual(m5.get('before/00', stale=True).status, 404)
            remove_when_possible(c, 5)
        finally:
            m5.kill()
            del c.members[5]

    def test_3_real_member_joins_and_old_members_reconnect(self):
        """With the right token a new member proves itself, joins and
        catches up; members restarted later prove themselves again."""
        c = self.cluster
        self.assertEqual(c.put('join/before', b'b').status, 200)
        m4 = c.add_member(4)
        m4.start()
        r = add(c[3], 4, m4.peer_url)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: m4.get('join/before', stale=True).body == b'b',
                 what='member 4 caught up')
        self.assertGreaterEqual(m4.metric('kvd_peer_hellos_total'), 1)
        # It answered the leader at the peer URL the leader's (token
        # bearing) messages announced: no request to a client URL, which
        # client tokens may guard.
        log4 = m4.log_since_start()
        self.assertIn('added as its message announced', log4)
        self.assertNotIn('for the members', log4)
        # The log was compacted long before: it came as a snapshot.
        self.assertIn('installed snapshot', log4)
        for mid in (1, 2):
            c[mid].kill()
            c[mid].start()
            c.wait_leader()
            key = 'restart/%d' % mid
            self.assertEqual(c.put(key, b'%d' % mid).status, 200)
            for m in (c[mid], m4):
                wait_for(lambda m=m, k=key: m.get(k, stale=True).status
                         == 200, what='%s on member %d' % (key, m.id))
        self.assertEqual(members_of(c[1]), {1: True, 2: True, 3: True,
                                            4: True})


class UntrustedNetworkWarningTest(ClusterTest):
    """Without a peer token, a peer listener off loopback is warned
    about at start; on loopback it is not."""

    CLUSTER_SIZE = 1

    def test_warning(self):
        c = self.cluster
        self.assertNotIn('trusts its network', c[1].log_since_start())
        d = tempfile.mkdtemp(prefix='kvd-proof-warn-')
        port, cport = harness.free_port(), harness.free_port()
        p = subprocess.Popen(
            [harness.KVD, '--id', '1', '--data-dir', os.path.join(d, 'data'),
             '--listen-client', '127.0.0.1:%d' % cport,
             '--listen-peer', '0.0.0.0:%d' % port,
             '--advertise-peer', 'http://127.0.0.1:%d' % port,
             '--initial-cluster', '1=http://127.0.0.1:%d' % port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        try:
            wait_for(lambda: harness.http_request(
                '127.0.0.1', cport, 'GET', '/healthz').status == 200,
                what='kvd up')
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
            subprocess.run(['rm', '-rf', d])
        self.assertIn(b'trusts its network', err)


if __name__ == '__main__':
    harness.main()
