# test_kvctl.py - every kvctl command and exit code against a real 3-member
# kvd cluster, membership changes with a 4th member, a write retried across
# a leader crash that is applied once, and snapshot save's checksum check
# and its temp file (never a planted FILE.tmp symlink; the backup 0600)
# against a stand-in member whose answer the test controls.
#
# argv[1]: kvd, then optional unittest names (meson runs MembershipTest on
# its own as client-admin); environment KVCTL: the kvctl binary.

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, Cluster, wait_for  # noqa: E402

KVCTL = os.environ.get('KVCTL', '')


def kvctl(args, endpoints=None, stdin=None, env=None, timeout_s=None,
          wait=60):
    """Runs kvctl; returns (exit status, stdout bytes, stderr text)."""
    cmd = [KVCTL]
    if endpoints is not None:
        cmd += ['--endpoints', endpoints]
    if timeout_s is not None:
        cmd += ['--timeout', str(timeout_s)]
    e = dict(os.environ)
    e.pop('KVCTL_ENDPOINTS', None)
    if env:
        e.update(env)
    p = subprocess.run(cmd + list(args), input=stdin, env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=wait)
    return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')


def crc32c(data):
    """CRC-32C (Castagnoli, reflected 0x82F63B78), written out here so the
    test does not trust the code it checks."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class OneSnapshotServer:
    """Answers one GET /v1/snapshot with @body and the given CRC header,
    then closes; a stand-in member whose answer the test controls."""

    def __init__(self, body, crc):
        self.body = body
        self.crc = crc
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def url(self):
        return 'http://127.0.0.1:%d' % self.sock.getsockname()[1]

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            req = b''
            while b'\r\n\r\n' not in req:
                got = c.recv(4096)
                if not got:
                    return
                req += got
            head = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\n'
                    'X-Kv-Snapshot-Index: 42\r\nX-Kv-Snapshot-Term: 3\r\n'
                    'X-Kv-Snapshot-CRC32C: %08x\r\n'
                    'Connection: close\r\n\r\n'
                    % (len(self.body), self.crc))
            c.sendall(head.encode() + self.body)

    def close(self):
        self.sock.close()
        self.thread.join(timeout=10)


class KvctlBase(ClusterTest):
    def run_ok(self, args, **kw):
        rc, out, err = kvctl(args, self.cluster.endpoints(), **kw)
        self.assertEqual(rc, 0, 'kvctl %r: %s' % (args, err))
        return out

    def run_rc(self, args, expect, **kw):
        rc, out, err = kvctl(args, self.cluster.endpoints(), **kw)
        self.assertEqual(rc, expect, 'kvctl %r: out=%r err=%s'
                         % (args, out, err))
        return out, err


class KvctlTest(KvctlBase):
    def test_put_get(self):
        c = self.cluster
        out = self.run_ok(['put', 'ctl/a', 'alpha'])
        idx = int(out)
        g = c[2].get('ctl/a')
        self.assertEqual(g.body, b'alpha')
        self.assertEqual(int(g.header('X-Kv-Index')), idx)
        self.assertEqual(self.run_ok(['get', 'ctl/a']), b'alpha')
        self.assertEqual(self.run_ok(['get', 'ctl/a', '--stale']), b'alpha')
        # VALUE from stdin, bytes kept as they are
        blob = b'line one\nline two\n\x00\xff'
        self.run_ok(['put', 'ctl/stdin'], stdin=blob)
        self.assertEqual(self.run_ok(['get', 'ctl/stdin']), blob)
        self.assertEqual(c[3].get('ctl/stdin').body, blob)
        # a value that looks like an option, after --
        self.run_ok(['put', 'ctl/dash', '--', '-5'])
        self.assertEqual(self.run_ok(['get', 'ctl/dash']), b'-5')
        # -o json
        j = json.loads(self.run_ok(['-o', 'json', 'put', 'ctl/j', 'v']))
        self.assertEqual(c[1].get('ctl/j').header('X-Kv-Index'),
                         str(j['index']))
        j = json.loads(self.run_ok(['-o', 'json', 'get', 'ctl/j']))
        self.assertEqual(base64.b64decode(j['value']), b'v')
        self.assertEqual(j['key'], 'ctl/j')

    def test_get_missing_exit_1(self):
        out, _ = self.run_rc(['get', 'ctl/missing'], 1)
        self.assertEqual(out, b'')
        self.run_rc(['get', 'ctl/missing', '--stale'], 1)

    def test_cas(self):
        out = self.run_ok(['put', 'ctl/cas', 'one', '--cas', '0'])
        i1 = int(out)
        _, err = self.run_rc(['put', 'ctl/cas', 'two', '--cas', '0'], 1)
        self.assertIn(str(i1), err)
        self.run_rc(['put', 'ctl/cas', 'two', '--cas', str(i1 + 99)], 1)
        self.assertEqual(self.run_ok(['get', 'ctl/cas']), b'one')
        i2 = int(self.run_ok(['put', 'ctl/cas', 'two', '--cas', str(i1)]))
        self.assertGreater(i2, i1)
        self.run_rc(['del', 'ctl/cas', '--cas', str(i1)], 1)
        self.assertEqual(self.run_ok(['get', 'ctl/cas']), b'two')
        self.run_ok(['del', 'ctl/cas', '--cas', str(i2)])
        self.run_rc(['get', 'ctl/cas'], 1)

    def test_del(self):
        self.run_ok(['put', 'ctl/d', 'x'])
        out = self.run_ok(['del', 'ctl/d'])
        self.assertGreater(int(out), 0)
        self.assertEqual(self.cluster[1].get('ctl/d').status, 404)
        self.run_rc(['del', 'ctl/d'], 1)
        j = json.loads(self.run_rc(['-o', 'json', 'del', 'ctl/d'], 1)[0])
        self.assertIs(j['deleted'], False)

    def test_list(self):
        keys = ['ctl-l/%02d' % i for i in range(25)]
        for k in keys:
            self.assertEqual(self.cluster[1].put(k, ('v' + k).encode())
                             .status, 200)
        self.cluster[1].put('ctl-l/tab', b'a\tb\nc')
        out = self.run_ok(['list', 'ctl-l/'])
        lines = out.decode().splitlines()
        self.assertEqual(lines[:25], ['%s\tv%s' % (k, k) for k in keys])
        self.assertEqual(lines[25], 'ctl-l/tab\ta\\tb\\nc')
        self.assertEqual(len(lines), 26)
        out = self.run_ok(['list', 'ctl-l/', '--limit', '3'])
        self.assertEqual(out.decode().splitlines(),
                         ['%s\tv%s' % (k, k) for k in keys[:3]])
        j = json.loads(self.run_ok(['-o', 'json', 'list', 'ctl-l/',
                                    '--limit', '5']))
        self.assertEqual([x['key'] for x in j['kvs']], keys[:5])
        self.assertIs(j['more'], True)
        self.assertEqual(base64.b64decode(j['kvs'][0]['value']),
                         ('v' + keys[0]).encode())
        j = json.loads(self.run_ok(['-o', 'json', 'list', 'ctl-l/']))
        self.assertEqual(len(j['kvs']), 26)
        self.assertIs(j['more'], False)
        self.assertEqual(self.run_ok(['list', 'ctl-nothing/']), b'')

    def test_list_pages_beyond_1000(self):
        # kvctl list without --limit pages through more than one server
        # page (the server's default limit is 1000).
        c = self.cluster
        n = 1100
        for i in range(n):
            r = c.put('ctl-p/%05d' % i, b'x', via=lambda: c[1 + i % 3])
            self.assertEqual(r.status, 200, r)
        lines = self.run_ok(['list', 'ctl-p/']).decode().splitlines()
        self.assertEqual(lines, ['ctl-p/%05d\tx' % i for i in range(n)])

    def test_status(self):
        c = self.cluster

        def agreed():
            # Every row in one term under one leader: asked again when
            # kvctl met an election of the cluster's own (a loaded
            # machine).
            c.wait_leader()
            lines = self.run_ok(['status']).decode().splitlines()
            rows = [ln.split() for ln in lines[1:]]
            if len({(r[2], r[3]) for r in rows}) == 1:
                return lines, int(rows[0][3]), int(rows[0][2])
            return None
        lines, lid, term = wait_for(agreed, what='status rows of one term')
        self.assertEqual(lines[0].split(),
                         ['MEMBER', 'STATE', 'TERM', 'LEADER', 'COMMIT',
                          'APPLIED', 'CLIENT', 'URL', 'REACHABLE'])
        rows = [ln.split() for ln in lines[1:]]
        self.assertEqual(sorted(int(r[0]) for r in rows), [1, 2, 3])
        # aligned: every row starts each column at the same offset
        col = lines[0].index('CLIENT URL')
        for ln in lines[1:]:
            self.assertTrue(ln[col:].startswith('http://'), ln)
        for r in rows:
            mid = int(r[0])
            self.assertEqual(r[1], 'leader' if mid == lid else 'follower')
            self.assertEqual(int(r[2]), term)
            self.assertEqual(int(r[3]), lid)
            self.assertEqual(r[6], c[mid].client_url)
            self.assertEqual(r[7], 'yes')
        j = json.loads(self.run_ok(['-o', 'json', 'status']))
        self.assertEqual(sorted(m['id'] for m in j['members']), [1, 2, 3])
        self.assertTrue(all(m['reachable'] for m in j['members']))

    def test_member_list(self):
        c = self.cluster
        lines = self.run_ok(['member', 'list']).decode().splitlines()
        self.assertEqual(lines[0].split(), ['ID', 'PEER', 'URL', 'CLIENT',
                                            'URL', 'VOTER'])
        rows = sorted(ln.split() for ln in lines[1:])
        self.assertEqual(rows, [[str(i), c[i].peer_url, c[i].client_url,
                                 'yes'] for i in (1, 2, 3)])
        j = json.loads(self.run_ok(['-o', 'json', 'member', 'list']))
        self.assertEqual(sorted(m['id'] for m in j['members']), [1, 2, 3])

    def test_usage_exit_2(self):
        for args in ([], ['nosuchcommand'], ['put'], ['get'],
                     ['get', 'a', 'b'], ['put', 'k', 'v', '--cas', 'abc'],
                     ['put', 'k', 'v', '--bogus'], ['list', '--limit', '0'],
                     ['list', '--limit', '10001'], ['member'],
                     ['member', 'add', '4'], ['member', 'remove', 'x'],
                     ['leader'], ['leader', 'transfer'],
                     ['--timeout', 'soon', 'get', 'k'],
                     ['-o', 'yaml', 'get', 'k'], ['--bogus', 'get', 'k']):
            rc, out, err = kvctl(args, self.cluster.endpoints())
            self.assertEqual(rc, 2, '%r: %s' % (args, err))
            self.assertTrue(err.strip(), '%r: no message' % args)
        rc, _, err = kvctl(['get', 'k'], 'ftp://nowhere')
        self.assertEqual(rc, 2, err)

    def test_help(self):
        for cmd in ('put', 'get', 'del', 'list', 'status', 'member',
                    'leader', 'endpoint', 'snapshot', 'watch'):
            rc, out, _ = kvctl([cmd, '--help'])
            self.assertEqual(rc, 0)
            self.assertIn(b'usage: kvctl ' + cmd.encode(), out)
        rc, out, _ = kvctl(['--help'])
        self.assertEqual(rc, 0)
        for cmd in (b'put', b'get', b'del', b'list', b'status', b'member',
                    b'leader transfer', b'endpoint health', b'--version',
                    b'--keys-only', b'snapshot save FILE|-'):
            self.assertIn(cmd, out)

    def test_env_endpoints(self):
        self.cluster[1].put('ctl/env', b'from-env')
        rc, out, err = kvctl(['get', 'ctl/env'],
                             env={'KVCTL_ENDPOINTS': self.cluster.endpoints()})
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b'from-env')

    def test_unavailable_exit_3(self):
        # nobody listens on these ports
        dead = 'http://127.0.0.1:%d,http://127.0.0.1:%d' % (
            harness.free_port(), harness.free_port())
        rc, out, err = kvctl(['get', 'k'], dead, timeout_s=1)
        self.assertEqual(rc, 3, err)
        # a write that reached no member: 3 too, the message says it
        # was not applied
        rc, out, err = kvctl(['put', 'k', 'v'], dead, timeout_s=1)
        self.assertEqual(rc, 3, err)
        self.assertIn('was not applied', err)
        rc, out, err = kvctl(['status'], dead, timeout_s=1)
        self.assertEqual(rc, 3, err)

    def test_other_error_exit_4(self):
        # the server rejects the value (above --max-value-bytes): neither
        # "not found" nor "unavailable"
        rc, out, err = kvctl(['put', 'big'], self.cluster.endpoints(),
                             stdin=b'x' * (1024 * 1024 + 1))
        self.assertEqual(rc, 4, err)
        self.assertIn('value too large', err)

    def test_snapshot_save(self):
        idx = int(self.run_ok(['put', 'ctl/snap', 'kept']))
        with tempfile.TemporaryDirectory() as tmp:
            f = os.path.join(tmp, 'backup.mdb')
            rc, out, err = kvctl(['-o', 'json', 'snapshot', 'save', f],
                                 self.cluster.endpoints())
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            self.assertEqual(j['file'], f)
            self.assertGreaterEqual(j['index'], idx)
            self.assertEqual(j['bytes'], os.path.getsize(f))
            self.assertGreater(j['bytes'], 0)
            self.assertFalse(os.path.exists(f + '.tmp'))
            # Not a terminal: no progress bar on stderr.
            self.assertEqual(err, '')

    def test_snapshot_checksum_is_crc32c_of_the_body(self):
        # Odd length and not a multiple of 8: every tail path of crc32c().
        body = bytes((i * 7 + 3) & 0xFF for i in range(300001))
        srv = OneSnapshotServer(body, crc32c(body))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                f = os.path.join(tmp, 'good.mdb')
                rc, out, err = kvctl(['snapshot', 'save', f], srv.url())
                self.assertEqual(rc, 0, err)
                with open(f, 'rb') as fh:
                    self.assertEqual(fh.read(), body)
                self.assertIn(b'snapshot at index 42 (term 3, 300001 bytes)',
                              out)
        finally:
            srv.close()

    def test_snapshot_checksum_mismatch_exit_4(self):
        body = b'not what the header promises' * 100
        srv = OneSnapshotServer(body, crc32c(body) ^ 1)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                f = os.path.join(tmp, 'bad.mdb')
                rc, out, err = kvctl(['snapshot', 'save', f], srv.url())
                self.assertEqual(rc, 4, err)
                self.assertIn('checksum mismatch', err)
                self.assertFalse(os.path.exists(f))
                self.assertFalse(os.path.exists(f + '.tmp'))
        finally:
            srv.close()

    def test_snapshot_save_ignores_a_planted_tmp_symlink(self):
        # FILE.tmp is a symlink to someone's file, planted in a shared
        # directory: the backup goes to FILE (mode 0600 whatever the
        # umask), the victim and the link stay as they were, and no temp
        # file is left behind.
        body = bytes((i * 11 + 5) & 0xFF for i in range(70001))
        for mask in (0o022, 0):
            srv = OneSnapshotServer(body, crc32c(body))
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    victim = os.path.join(tmp, 'victim')
                    with open(victim, 'wb') as fh:
                        fh.write(b'keep me')
                    os.chmod(victim, 0o600)
                    f = os.path.join(tmp, 'backup.mdb')
                    os.symlink(victim, f + '.tmp')
                    old = os.umask(mask)
                    try:
                        rc, out, err = kvctl(['snapshot', 'save', f],
                                             srv.url())
                    finally:
                        os.umask(old)
                    self.assertEqual(rc, 0, err)
                    with open(victim, 'rb') as fh:
                        self.assertEqual(fh.read(), b'keep me')
                    self.assertEqual(os.readlink(f + '.tmp'), victim)
                    self.assertFalse(os.path.islink(f))
                    with open(f, 'rb') as fh:
                        self.assertEqual(fh.read(), body)
                    self.assertEqual(os.stat(f).st_mode & 0o7777, 0o600,
                                     'umask %03o' % mask)
                    self.assertEqual(sorted(os.listdir(tmp)),
                                     ['backup.mdb', 'backup.mdb.tmp',
                                      'victim'])
            finally:
                srv.close()

    def test_snapshot_endpoint_forms_as_other_commands(self):
        # host:port without a scheme works, as for every other command.
        body = b'x' * 1000
        srv = OneSnapshotServer(body, crc32c(body))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                f = os.path.join(tmp, 'plain.mdb')
                bare = srv.url()[len('http://'):]
                rc, out, err = kvctl(['snapshot', 'save', f], bare)
                self.assertEqual(rc, 0, err)
                with open(f, 'rb') as fh:
                    self.assertEqual(fh.read(), body)
        finally:
            srv.close()
        # A malformed --endpoints is a usage error (2), not exit 4.
        rc, out, err = kvctl(['snapshot', 'save', 'x.mdb'], 'ftp://h:1')
        self.assertEqual(rc, 2, err)
        self.assertIn('bad --endpoints', err)

    def test_snapshot_unavailable_exit_3(self):
        dead = 'http://127.0.0.1:%d' % harness.free_port()
        with tempfile.TemporaryDirectory() as tmp:
            rc, out, err = kvctl(['snapshot', 'save',
                                  os.path.join(tmp, 'x.mdb')],
                                 dead, timeout_s=1)
            self.assertEqual(rc, 3, err)
            self.assertEqual(os.listdir(tmp), [])

    def test_zy_status_with_a_member_down_and_no_quorum(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        f1, f2 = [m for m in c.all() if m.id != lid]
        f1.pause()
        try:
            lines = self.run_ok(['status']).decode().splitlines()
            rows = {int(ln.split()[0]): ln.split() for ln in lines[1:]}
            self.assertEqual(sorted(rows), [1, 2, 3])
            self.assertEqual(rows[f1.id][1:6], ['-'] * 5)
            self.assertEqual(rows[f1.id][-1], 'no')
            self.assertEqual(rows[lid][-1], 'yes')
            self.assertEqual(rows[f2.id][-1], 'yes')
            # still a majority: writes work
            self.run_ok(['put', 'ctl/one-down', 'ok'])
            # f2 acknowledged it, but learns it is committed (and applies
            # it) only with the leader's next message: wait for that
            # before the leader stops.
            wait_for(lambda: f2.get('ctl/one-down', stale=True).status == 200,
                     what='member %d applies the write' % f2.id)
            # no majority: the lone member cannot write; kvctl gives up at
            # its --timeout with exit 3
            c[lid].pause()
            t0 = time.monotonic()
            rc, out, err = kvctl(['put', 'ctl/no-quorum', 'x'],
                                 f2.client_url, timeout_s=2)
            took = time.monotonic() - t0
            # 3 whether the write reached the stopped leader (outcome
            # unknown) or f2 already knew no leader (never sent)
            self.assertEqual(rc, 3, err)
            # its --timeout, with slack for a loaded machine (a hang
            # would last kvctl's whole 60 s)
            self.assertLess(took, 2 + 10.0)
            # a stale read still answers from the lone member
            rc, out, err = kvctl(['get', 'ctl/one-down', '--stale'],
                                 f2.client_url, timeout_s=5)
            self.assertEqual((rc, out), (0, b'ok'), err)
        finally:
            for m in c.all():
                if m.stopped:
                    m.resume()
        c.wait_leader()

class MembershipTest(KvctlBase):
    """member add/remove and leader transfer (meson test client-admin)."""

    def test_zz_leader_transfer(self):
        c = self.cluster
        lid, term = c.wait_leader()
        to = [m.id for m in c.all() if m.id != lid][0]
        out = self.run_ok(['leader', 'transfer', str(to)])
        self.assertIn(str(to).encode(), out)
        # @to led; an election of the cluster's own may follow already.
        nid, nterm = c.wait_leader()
        self.assertGreater(nterm, term)
        self.run_ok(['put', 'ctl/after-transfer', 'ok'])

    def test_member_add_and_remove(self):
        c = self.cluster
        first = c.all()
        self.assertEqual(c.put('mem/k', b'before-join').status, 200)
        m4 = c.add_member(4)
        try:
            self.check_add_remove(first, m4)
        finally:
            # Whatever happened, the other tests see three members again.
            m4.kill()
            del c.members[4]

    def check_add_remove(self, first, m4):
        c = self.cluster
        m4.start()
        # a new member serves /healthz while it waits to be added
        wait_for(lambda: m4.request('GET', '/healthz', timeout=2).status ==
                 200, what='member 4 /healthz')
        rc, out, err = kvctl(['member', 'add', '4', m4.peer_url],
                             ','.join(m.client_url for m in first),
                             timeout_s=15)
        self.assertEqual(rc, 0, err)
        lines = kvctl(['member', 'list'], c.endpoints())[1].decode()
        self.assertIn(m4.peer_url, lines)
        # member 4 catches up and votes
        wait_for(lambda: m4.get('mem/k', stale=True).body == b'before-join',
                 what='member 4 caught up')
        wait_for(lambda: [x['voter'] for x in
                          (c[1].try_status() or {}).get('members', [])
                          if x['id'] == 4] == [True],
                 what='member 4 votes')
        c.wait_leader()
        self.assertEqual(c.put('mem/via-4', b'ok', via=lambda: m4).status,
                         200)
        rc, out, err = kvctl(['member', 'remove', '4'], c.endpoints(),
                             timeout_s=15)
        self.assertEqual(rc, 0, err)
        lines = kvctl(['member', 'list'], ','.join(m.client_url
                                                     for m in first))[1]
        self.assertNotIn(m4.peer_url.encode(), lines)
        c.wait_leader(members=first)
        self.assertEqual(c.put('mem/after', b'ok', via=lambda: c[2]).status,
                         200)


class Proxy:
    """A TCP proxy in front of a member's client port. When armed, it
    forwards the next PUT, reads the member's answer, calls on_swallow with
    it and closes the client's connection without answering."""

    def __init__(self, member):
        self.member = member  # its port is read per connection
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.armed = None  # on_swallow callback when armed
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,),
                             daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def handle(self, c):
        try:
            b = socket.create_connection(
                ('127.0.0.1', self.member.client_port), timeout=30)
        except OSError:
            c.close()
            return
        try:
            first = c.recv(65536)
            if not first:
                return
            cb = None
            with self.lock:
                if self.armed and first.startswith(b'PUT '):
                    cb, self.armed = self.armed, None
            b.sendall(first)
            t = threading.Thread(target=self.pump, args=(c, b), daemon=True)
            t.start()
            if cb is None:
                self.pump(b, c)
                t.join()
                return
            resp = http.client.HTTPResponse(b)
            resp.begin()
            body = resp.read()
            cb(resp.status, body)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            c.close()
            b.close()

    def close(self):
        self.sock.close()


class RetryAcrossLeaderCrashTest(ClusterTest):
    @classmethod
    def setUpClass(cls):
        # Each member advertises a proxy as its client URL, so the client
        # library sends writes to the leader through it.
        cls.cluster = Cluster(3, name=cls.__name__)
        cls.proxies = {}
        for m in cls.cluster.all():
            p = Proxy(m)
            cls.proxies[m.id] = p
            m.advertise_client = p.url
        try:
            cls.cluster.start()
            cls.cluster.wait_leader()
        except BaseException:
            cls.cluster.failed = True
            cls.cluster.close()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for p in cls.proxies.values():
            p.close()

    def test_write_retried_across_leader_kill_applies_once(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        leader = c[lid]
        seen = {}

        def on_swallow(status, body):
            # The leader applied the write and answered; it dies before
            # the client hears the answer.
            seen['status'] = status
            seen['body'] = body
            leader.kill()

        self.proxies[lid].armed = on_swallow
        rc, out, err = kvctl(['put', 'retry/k', 'once'], c.endpoints(),
                             timeout_s=40, wait=90)
        self.assertEqual(seen.get('status'), 200,
                         'the leader did not answer the first attempt: %r'
                         % seen)
        first = json.loads(seen['body'])['index']
        self.assertEqual(rc, 0, err)
        # kvctl reports the first attempt's index: the retry, sent to the
        # new leader with the same X-Kv-Client/X-Kv-Seq, was not applied
        # again.
        self.assertEqual(int(out), first)
        others = [m for m in c.all() if m.id != lid]
        nid, _ = c.wait_leader(members=others, exclude=(lid,))
        self.assertNotEqual(nid, lid)
        for m in others:
            g = m.get('retry/k')
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, b'once')
            self.assertEqual(int(g.header('X-Kv-Index')), first)


if __name__ == '__main__':
    if not KVCTL or not os.access(KVCTL, os.X_OK):
        sys.stderr.write('set KVCTL to the kvctl binary\n')
        sys.exit(1)
    harness.main()
