# test_kvctl_ops.py - kvctl's everyday operations against a real 3-member
# kvd cluster: --version, endpoint health and endpoint status (one dead
# endpoint fails them), status probing members in parallel within
# --timeout and exiting 3 without a leader; a write's exit code when its
# outcome is unknown (3, against a stand-in leader that never answers)
# and when it certainly was not applied (5); errors that say what is
# wrong (value too large, connection refused, bad endpoints, keys and peer
# URLs, not found, JSON errors on stderr); snapshot save to stdout and its
# target checked before the download (against a stand-in member); list
# --keys-only, --count and the "more" marker on stderr.
#
# argv[1]: kvd, then optional unittest names; environment KVCTL: the kvctl
# binary.

import json
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402
from test_kvctl import KVCTL, OneSnapshotServer, crc32c, kvctl  # noqa: E402


def dead_url():
    """A client URL nobody listens on."""
    return 'http://127.0.0.1:%d' % harness.free_port()


class SilentLeader:
    """A stand-in member: /v1/status names itself the leader, any other
    request is read and never answered (the connection stays open until
    the client leaves), like a leader that stops after reading a write."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.writes = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def url(self):
        return 'http://127.0.0.1:%d' % self.sock.getsockname()[1]

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,),
                             daemon=True).start()

    def handle(self, c):
        with c:
            buf = b''
            while True:
                while b'\r\n\r\n' not in buf:
                    got = c.recv(65536)
                    if not got:
                        return
                    buf += got
                head, buf = buf.split(b'\r\n\r\n', 1)
                if not head.startswith(b'GET /v1/status'):
                    self.writes += 1
                    while c.recv(65536):
                        pass
                    return
                body = json.dumps({
                    'id': 1, 'state': 'leader', 'term': 1, 'leader': 1,
                    'leader_client_url': self.url(), 'commit_index': 1,
                    'applied_index': 1, 'last_index': 1,
                    'snapshot_index': 0,
                    'members': [{'id': 1, 'peer_url': 'http://x:1',
                                 'client_url': self.url(),
                                 'voter': True}]}).encode()
                c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: '
                          b'application/json\r\nContent-Length: %d\r\n'
                          b'\r\n' % len(body) + body)

    def close(self):
        self.sock.close()


def nothing_listens(port):
    """True when nothing accepts connections on 127.0.0.1:@port."""
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
        return False
    except OSError:
        return True


class OpsTest(ClusterTest):
    def run_ok(self, args, **kw):
        rc, out, err = kvctl(args, self.cluster.endpoints(), **kw)
        self.assertEqual(rc, 0, 'kvctl %r: %s' % (args, err))
        return out

    def test_version(self):
        rc, out, err = kvctl(['--version'])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.decode(),
                         r'^kvctl \d+\.\d+\.\d+ \(libkvc \d+\.\d+\.\d+\)\n$')

    def test_endpoint_health(self):
        c = self.cluster
        c.wait_ready()
        lines = self.run_ok(['endpoint', 'health']).decode().splitlines()
        self.assertEqual(lines[0].split(),
                         ['ENDPOINT', 'HEALTHY', 'REACHABLE', 'READY',
                          'LEADER', 'TOOK', 'ERROR'])
        rows = [ln.split() for ln in lines[1:]]
        self.assertEqual(sorted(r[0] for r in rows),
                         sorted(m.client_url for m in c.all()))
        for r in rows:
            self.assertEqual(r[1:4], ['true', 'yes', 'yes'], r)
            self.assertIn(int(r[4]), (1, 2, 3))
            self.assertTrue(r[5].endswith('ms'), r)
        j = json.loads(self.run_ok(['-o', 'json', 'endpoint', 'health']))
        self.assertEqual(len(j['endpoints']), 3)
        for e in j['endpoints']:
            self.assertIs(e['healthy'], True)
            self.assertIs(e['ready'], True)
            self.assertGreater(e['leader'], 0)
            self.assertGreaterEqual(e['took_ms'], 0)

    def test_endpoint_health_one_dead_exits_3(self):
        c = self.cluster
        c.wait_ready()
        dead = dead_url()
        eps = c.endpoints() + ',' + dead
        rc, out, err = kvctl(['endpoint', 'health'], eps)
        self.assertEqual(rc, 3, err)
        rows = {ln.split()[0]: ln.split() for ln in
                out.decode().splitlines()[1:]}
        self.assertEqual(rows[dead][1:4], ['false', 'no', 'no'])
        self.assertIn('refused', out.decode())
        for m in c.all():
            self.assertEqual(rows[m.client_url][1], 'true')
        rc, out, err = kvctl(['-o', 'json', 'endpoint', 'health'], eps)
        self.assertEqual(rc, 3, err)
        bad = [e for e in json.loads(out)['endpoints'] if not e['healthy']]
        self.assertEqual([e['endpoint'] for e in bad], [dead])
        self.assertIs(bad[0]['reachable'], False)
        self.assertIn('error', bad[0])

    def test_endpoint_status(self):
        c = self.cluster
        lines = self.run_ok(['endpoint', 'status']).decode().splitlines()
        self.assertEqual(lines[0].split(),
                         ['ENDPOINT', 'ID', 'STATE', 'TERM', 'LEADER',
                          'COMMIT', 'APPLIED', 'LAST', 'SNAPSHOT'])
        ids = {ln.split()[0]: int(ln.split()[1]) for ln in lines[1:]}
        self.assertEqual(ids, {m.client_url: m.id for m in c.all()})
        j = json.loads(self.run_ok(['-o', 'json', 'endpoint', 'status']))
        self.assertEqual(sorted(e['id'] for e in j['endpoints']), [1, 2, 3])
        rc, out, err = kvctl(['endpoint', 'status'],
                             c.endpoints() + ',' + dead_url())
        self.assertEqual(rc, 3, err)

    def test_endpoint_usage(self):
        for args in (['endpoint'], ['endpoint', 'bogus'],
                     ['endpoint', 'health', 'x']):
            rc, out, err = kvctl(args, self.cluster.endpoints())
            self.assertEqual(rc, 2, '%r: %s' % (args, err))

    def test_write_outcome_unknown_or_not_applied_both_exit_3(self):
        # Nothing listens: no attempt reached a member, the write was
        # certainly not applied.
        dead = dead_url() + ',' + dead_url()
        rc, out, err = kvctl(['put', 'k', 'v'], dead, timeout_s=30)
        self.assertEqual(rc, 3, err)
        self.assertIn('was not applied', err)
        rc, out, err = kvctl(['-o', 'json', 'del', 'k'], dead, timeout_s=30)
        self.assertEqual(rc, 3, err)
        self.assertEqual(json.loads(err)['error'], 'not_applied')
        # A leader that read the write and went silent: it may have been
        # applied, or may still be.
        srv = SilentLeader()
        try:
            rc, out, err = kvctl(['put', 'k', 'v'], srv.url(), timeout_s=1)
            self.assertEqual(rc, 3, err)
            self.assertIn('outcome unknown', err)
            self.assertGreater(srv.writes, 0)
            rc, out, err = kvctl(['-o', 'json', 'del', 'k'], srv.url(),
                                 timeout_s=1)
            self.assertEqual(rc, 3, err)
            self.assertIn(json.loads(err)['error'], ('timeout',
                                                     'unavailable'))
        finally:
            srv.close()

    def test_errors_say_what_is_wrong(self):
        c = self.cluster
        eps = c.endpoints()
        # A value far above the member's limit (1 MiB): the member closes
        # the connection without reading it.
        rc, out, err = kvctl(['put', 'big'], eps,
                             stdin=b'x' * (5 * 1024 * 1024))
        self.assertEqual(rc, 4, err)
        self.assertIn('value too large', err)
        self.assertEqual(c[1].get('big').status, 404)
        # Nothing listens: said at once, not after --timeout.
        dead = dead_url() + ',' + dead_url()
        t0 = time.monotonic()
        rc, out, err = kvctl(['get', 'k'], dead, timeout_s=60)
        self.assertEqual(rc, 3, err)
        self.assertIn('connection refused', err)
        self.assertLess(time.monotonic() - t0, 30)
        if all(nothing_listens(p) for p in (7001, 7002, 7003)):
            rc, out, err = kvctl(['get', 'k'], timeout_s=60)
            self.assertEqual(rc, 3, err)
            self.assertIn('connection refused', err)
        # Malformed endpoints, keys and peer URLs are usage errors.
        for bad in ('foo', 'http://foo', 'foo:0', 'foo:99999', 'foo:x',
                    'http://h:1/path'):
            rc, out, err = kvctl(['get', 'k'], bad)
            self.assertEqual(rc, 2, '%s: %s' % (bad, err))
            self.assertIn('bad --endpoints', err)
        for key in ('', 'a\x01b', 'k' * 512, 'a\x7fb', 'c1\u0085'):
            for args in (['put', key, 'v'], ['get', key], ['del', key]):
                rc, out, err = kvctl(args, eps)
                self.assertEqual(rc, 2, '%r: %s' % (args, err))
                self.assertIn('keys are 1 to 511 bytes of UTF-8', err)
        self.assertEqual(kvctl(['put', 'k' * 511 + '', 'v'], eps)[0], 0)
        self.assertEqual(kvctl(['put', 'ключ/日本', 'v'], eps)[0], 0)
        rc, out, err = kvctl(['member', 'add', '6', 'notaurl'], eps)
        self.assertEqual(rc, 2, err)
        self.assertIn('bad PEER_URL notaurl', err)
        self.assertNotIn('body', err)
        # get and del say "not found" alike
        rc, out, err_get = kvctl(['get', 'ops/missing'], eps)
        self.assertEqual(rc, 1)
        rc, out, err_del = kvctl(['del', 'ops/missing'], eps)
        self.assertEqual(rc, 1)
        self.assertEqual(err_get, 'kvctl: not found: ops/missing\n')
        self.assertEqual(err_del, err_get)

    def test_json_errors_on_stderr(self):
        eps = self.cluster.endpoints()
        cases = [(['get', 'ops/missing'], 1, 'not_found'),
                 (['put', '', 'v'], 2, 'usage'),
                 (['get', 'k', '--bogus'], 2, 'usage'),
                 (['put', 'k', 'v', '--cas', '999999'], 1, 'cas_failed'),
                 # a key that is not UTF-8 still makes a JSON message
                 (['put', b'\xff\x01', 'v'], 2, 'usage')]
        for args, code, name in cases:
            rc, out, err = kvctl(['-o', 'json'] + args, eps)
            self.assertEqual(rc, code, '%r: %s' % (args, err))
            j = json.loads(err)
            self.assertEqual(j['error'], name, err)
            self.assertIsInstance(j['message'], str)
        rc, out, err = kvctl(['-o', 'json', 'get', 'k'], dead_url())
        self.assertEqual(rc, 3, err)
        self.assertEqual(json.loads(err)['error'], 'unavailable')
        rc, out, err = kvctl(['-o', 'json', 'get', 'k'], 'foo')
        self.assertEqual(rc, 2, err)
        self.assertEqual(json.loads(err)['error'], 'usage')

    def test_snapshot_save_to_stdout(self):
        body = bytes((i * 13 + 1) & 0xFF for i in range(100003))
        srv = OneSnapshotServer(body, crc32c(body))
        try:
            rc, out, err = kvctl(['snapshot', 'save', '-'], srv.url())
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, body)
            self.assertIn('saved to standard output', err)
        finally:
            srv.close()
        # A checksum mismatch is said after the bytes, exit 4.
        srv = OneSnapshotServer(body, crc32c(body) ^ 1)
        try:
            rc, out, err = kvctl(['-o', 'json', 'snapshot', 'save', '-'],
                                 srv.url())
            self.assertEqual(rc, 4, err)
            self.assertIn('checksum mismatch', json.loads(err)['message'])
        finally:
            srv.close()
        # From a real member: a whole LMDB copy on stdout.
        self.run_ok(['put', 'ops/snap', 'kept'])
        out = self.run_ok(['snapshot', 'save', '-'])
        self.assertGreater(len(out), 4096)
        self.assertIn(b'ops/snap', out)

    def test_snapshot_target_checked_before_download(self):
        # A stand-in that would serve one snapshot: each refusal below
        # comes before any download (the member is never asked), and a
        # dead endpoint shows it (exit 4, not 3).
        dead = dead_url()
        with tempfile.TemporaryDirectory() as tmp:
            for target, what in (
                    (os.path.join(tmp, 'no', 'such', 'dir', 'x.mdb'),
                     'directory'),
                    (os.path.join(tmp, 'afile', 'x.mdb'), 'not a directory')):
                if what == 'not a directory':
                    with open(os.path.join(tmp, 'afile'), 'w') as fh:
                        fh.write('x')
                rc, out, err = kvctl(['snapshot', 'save', target], dead)
                self.assertEqual(rc, 4, err)
                self.assertIn(what, err)
            f = os.path.join(tmp, 'exists.mdb')
            with open(f, 'wb') as fh:
                fh.write(b'old backup')
            rc, out, err = kvctl(['snapshot', 'save', f], dead)
            self.assertEqual(rc, 4, err)
            self.assertIn('--force', err)
            with open(f, 'rb') as fh:
                self.assertEqual(fh.read(), b'old backup')
            body = b'new backup' * 1000
            srv = OneSnapshotServer(body, crc32c(body))
            try:
                rc, out, err = kvctl(['snapshot', 'save', f, '--force'],
                                     srv.url())
                self.assertEqual(rc, 0, err)
            finally:
                srv.close()
            with open(f, 'rb') as fh:
                self.assertEqual(fh.read(), body)
            self.assertEqual(sorted(os.listdir(tmp)),
                             ['afile', 'exists.mdb'])
            if os.geteuid() != 0:
                ro = os.path.join(tmp, 'ro')
                os.mkdir(ro, 0o500)
                rc, out, err = kvctl(['snapshot', 'save',
                                      os.path.join(ro, 'x.mdb')], dead)
                self.assertEqual(rc, 4, err)
                self.assertIn('cannot write in directory', err)

    def test_list_keys_only_count_and_more(self):
        c = self.cluster
        keys = ['ops-l/%02d' % i for i in range(12)] + ['ops-l/b\\s']
        for k in keys:
            self.assertEqual(c[1].put(k, b'v').status, 200)
        rc, out, err = kvctl(['list', 'ops-l/', '--keys-only'],
                             c.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode().splitlines(),
                         keys[:12] + ['ops-l/b\\\\s'])
        self.assertEqual(err, '')
        # --limit cut the list: the marker on stderr, stdout keys alone
        rc, out, err = kvctl(['list', 'ops-l/', '--keys-only', '--limit',
                              '5'], c.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode().splitlines(), keys[:5])
        self.assertIn('more keys match', err)
        rc, out, err = kvctl(['list', 'ops-l/', '--limit', '5'],
                             c.endpoints())
        self.assertEqual(len(out.decode().splitlines()), 5)
        self.assertIn('more keys match', err)
        # a --limit that covers every key: no marker
        rc, out, err = kvctl(['list', 'ops-l/', '--limit', '13'],
                             c.endpoints())
        self.assertEqual(len(out.decode().splitlines()), 13)
        self.assertEqual(err, '')
        j = json.loads(self.run_ok(['-o', 'json', 'list', 'ops-l/',
                                    '--keys-only', '--limit', '2']))
        self.assertEqual(j, {'keys': keys[:2], 'more': True})
        self.assertEqual(self.run_ok(['list', 'ops-l/', '--count']), b'13\n')
        self.assertEqual(self.run_ok(['list', 'ops-none/', '--count']),
                         b'0\n')
        rc, out, err = kvctl(['list', 'ops-l/', '--count', '--limit', '4'],
                             c.endpoints())
        self.assertEqual((rc, out), (0, b'4\n'), err)
        self.assertIn('more keys match', err)
        j = json.loads(self.run_ok(['-o', 'json', 'list', 'ops-l/',
                                    '--count']))
        self.assertEqual(j, {'count': 13, 'more': False})
        rc, out, err = kvctl(['list', '--count', '--keys-only'],
                             c.endpoints())
        self.assertEqual(rc, 2, err)

    def test_zz_status_in_parallel_within_timeout_and_no_leader(self):
        # Two members stopped (SIGSTOP: they accept connections and never
        # answer). Asked one after another, each for 2 s, they took over
        # 4 s; asked in parallel, status ends within its --timeout of 1 s
        # (plus room for starting a process on a loaded machine).
        c = self.cluster
        lid, _ = c.wait_leader()
        others = [m for m in c.all() if m.id != lid]
        alone = others[0]
        stopped = [c[lid], others[1]]
        for m in stopped:
            m.pause()
        try:
            t0 = time.monotonic()
            rc, out, err = kvctl(['status'], c.endpoints(), timeout_s=1)
            took = time.monotonic() - t0
            self.assertIn(rc, (0, 3), err)
            self.assertLess(took, 3.5, err)
            rows = {int(ln.split()[0]): ln.split() for ln in
                    out.decode().splitlines()[1:]}
            for m in stopped:
                self.assertEqual(rows[m.id][-1], 'no')
            # The lone member gives up on its leader: then no member
            # knows one, and status says so with exit 3.
            wait_for(lambda: (alone.try_status() or {}).get('leader', 1)
                     == 0, what='member %d knows no leader' % alone.id)
            rc, out, err = kvctl(['status'], c.endpoints(), timeout_s=2)
            self.assertEqual(rc, 3, err)
            self.assertIn('no leader known', err)
            self.assertIn(b'REACHABLE', out)
            rc, out, err = kvctl(['-o', 'json', 'status'], c.endpoints(),
                                 timeout_s=2)
            self.assertEqual(rc, 3, err)
            self.assertEqual(json.loads(err)['error'], 'unavailable')
        finally:
            for m in stopped:
                m.resume()
        c.wait_leader()


if __name__ == '__main__':
    if not KVCTL or not os.access(KVCTL, os.X_OK):
        sys.stderr.write('set KVCTL to the kvctl binary\n')
        sys.exit(1)
    harness.main()
