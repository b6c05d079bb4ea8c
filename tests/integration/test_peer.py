# test_peer.py - the peer listener: with --peer-token-file, requests without
# the token (or with a wrong one) get 401 before their body is read, and
# garbage bodies with the right token get 400; a SNAPSHOT message on the
# message route is refused; snapshots come from the leader only and must
# fit the disk, and one the core ignores is deleted; a message from an
# unknown member never makes a member fetch a URL the message names
# (unless it must, and may, learn its peers that way). None of it disturbs
# the member or the cluster.

import glob
import http.server
import os
import socket
import struct
import tempfile
import threading
import time

import harness
from harness import ClusterTest, crc32c, frame, wait_for

# The peer message route and the token header (raft/peer/transport.h:
# TRANSPORT_PATH, TRANSPORT_HEADER_TOKEN).
PEER_PATH = '/raft/messages'
TOKEN_HEADER = 'X-Kvd-Token'
TOKEN = 'integration-peer-token-0123456789'
SNAP_PATH = '/raft/snapshot'

MIB = 1 << 20


def message(mtype, frm, to, term=0, index=0, log_term=0, commit=0):
    """One raft message with no entries (docs/FORMAT.md, "Body")."""
    payload = struct.pack('<BBBBIQQQQQQQQQ', 1, mtype, 0, 0, 0, frm, to,
                          term, index, log_term, commit, 0, 0, 0)
    return frame(32, payload)


MSG_HEARTBEAT_RESP = 8
MSG_SNAPSHOT = 13


def rss_kib(m):
    with open('/proc/%d/status' % m.proc.pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')


def open_request(m, path, content_length, extra_headers=b''):
    """A connection to @m's peer port that has sent the head of a POST
    announcing @content_length bytes and a first 64 KiB of them."""
    s = socket.create_connection((m.host, m.peer_port), timeout=10)
    s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nX-Kvd-From: 2\r\n'
              b'%sContent-Length: %d\r\n\r\n'
              % (path.encode(), extra_headers, content_length))
    s.sendall(b'x' * 65536)
    return s


def read_answer(s):
    """The status line of the answer on @s (waits for it)."""
    got = b''
    while b'\r\n' not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return got.split(b'\r\n', 1)[0]


def auth(token):
    return {TOKEN_HEADER: token, 'X-Kvd-From': '2',
            'Content-Type': 'application/octet-stream'}


_token_file = os.path.join(tempfile.gettempdir(),
                           'kvd-it-token-%d' % os.getpid())


class PeerTokenTest(ClusterTest):
    CLUSTER_ARGS = ('--peer-token-file', _token_file)

    @classmethod
    def setUpClass(cls):
        with open(_token_file, 'w') as f:
            f.write(TOKEN + '\n')
        os.chmod(_token_file, 0o600)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        try:
            os.unlink(_token_file)
        except OSError:
            pass

    def test_cluster_works_with_token(self):
        c = self.cluster
        c.wait_leader()
        self.assertEqual(c.put('tok/k', b'v').status, 200)
        self.assertEqual(c[2].get('tok/k').body, b'v')

    def test_missing_or_wrong_token_401(self):
        c = self.cluster
        for m in c.all():
            for hdrs in ({}, {'Authorization': 'Bearer wrong-token'},
                         auth('wrong-token'), auth(''),
                         auth(TOKEN + 'x'), auth(TOKEN[:-1])):
                r = m.peer_request('POST', PEER_PATH, b'\x00' * 64, hdrs)
                self.assertEqual(r.status, 401, (m.id, hdrs, r))
        c.check_alive()
        c.wait_leader()

    def test_garbage_with_token_400(self):
        c = self.cluster
        # (An empty body is a valid batch of zero messages.)
        garbage = [b'\x00', b'hello, raft', os.urandom(16),
                   os.urandom(4096), b'\xff' * 100,
                   b'{"type": "append"}']
        for m in c.all():
            for body in garbage:
                r = m.peer_request('POST', PEER_PATH, body, auth(TOKEN))
                self.assertEqual(r.status, 400, (m.id, body[:20], r))
        c.check_alive()
        c.wait_leader()
        # the members still replicate
        self.assertEqual(c.put('tok/after-garbage', b'ok',
                               via=lambda: c[3]).status, 200)
        for m in c.all():
            self.assertEqual(m.get('tok/after-garbage').body, b'ok')


    def test_token_checked_before_the_body(self):
        """docs/FORMAT.md, "Peer messages", Answers: 8 connections announce 60 MiB each (under the
        64 MiB body limit) without the token, or with a wrong one, and send
        64 KiB: each is answered 401 at once, the member never waits for
        the rest and its memory does not grow by the bodies."""
        c = self.cluster
        m = c[1]
        before = rss_kib(m)
        unauth = m.metric('kvd_peer_unauthorized_total')
        snap_unauth = m.metric('kvd_snapshot_unauthorized_total', 0)
        socks = []
        for i in range(8):
            path = PEER_PATH if i % 2 == 0 else SNAP_PATH + \
                '?index=5&term=1&offset=0'
            hdr = b'' if i < 4 else b'X-Kvd-Token: wrong\r\n'
            socks.append(open_request(m, path, 60 * MIB, hdr))
        try:
            for s in socks:
                self.assertEqual(read_answer(s)[:12], b'HTTP/1.1 401')
            # More of a body is not read: the member closed.
            for s in socks:
                wait_for(lambda: s.recv(65536) == b'',
                         what='the member closes a refused connection')
        finally:
            for s in socks:
                s.close()
        self.assertLess(rss_kib(m) - before, 32 * 1024)
        self.assertEqual(m.metric('kvd_peer_unauthorized_total'),
                         unauth + 4)
        self.assertEqual(m.metric('kvd_snapshot_unauthorized_total'),
                         snap_unauth + 4)
        wait_for(lambda: 'snapshot chunk from' in m.log_since_start(),
                 what='a refused snapshot chunk is logged')
        c.check_alive()
        self.assertEqual(c[2].put('tok/after-gate', b'ok').status, 200)


class MembersServer:
    """A little HTTP server that records the paths asked of it and answers
    /v1/members with one member, 99."""

    def __init__(self, host='127.0.0.1'):
        asked = self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                asked.append(self.path)
                body = b'{"members": [{"id": 99, "peer_url": ' \
                       b'"http://127.0.0.1:9"}]}'
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = http.server.HTTPServer((host, 0), Handler)
        self.url = 'http://%s:%d' % (host, self.srv.server_address[1])
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def hello_from_99(m, url):
    """A message from member 99, unknown to @m, naming @url as its client
    URL (a term-0 announcement: dropped before the core)."""
    r = m.peer_request('POST', PEER_PATH,
                       message(MSG_HEARTBEAT_RESP, 99, m.id),
                       {'X-Kvd-From': '99', 'X-Kvd-Client-URL': url})
    assert r.status == 204, r
    return r


class PeerMessagesTest(ClusterTest):
    """No token: what a message may make a member do."""

    def follower_and_leader(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        return [m for m in c.all() if m.id != lid][0], lid

    def test_snapshot_message_is_a_bad_request(self):
        """Stepped without its file, the member exited (issue 13)."""
        c = self.cluster
        f, lid = self.follower_and_leader()
        st = f.request('GET', '/v1/status').json()
        body = message(MSG_SNAPSHOT, lid, f.id, term=st['term'],
                       index=st['commit_index'] + 1000, log_term=st['term'],
                       commit=st['commit_index'] + 1000)
        r = f.peer_request('POST', PEER_PATH, body, {'X-Kvd-From': str(lid)})
        self.assertEqual(r.status, 400, r)
        c.check_alive()
        self.assertEqual(c[lid].put('pm/after-snapshot-msg', b'ok').status,
                         200)
        wait_for(lambda: f.get('pm/after-snapshot-msg').body == b'ok',
                 what='the follower still applies')

    def test_unknown_sender_url_not_fetched(self):
        """A member with a configuration asks no URL a message from an
        unknown member names."""
        srv = MembersServer()
        try:
            m = self.cluster[2]
            # (At most one discovery a second: sent until it is noted.)
            wait_for(lambda: hello_from_99(m, srv.url) and
                     'came from 99, unknown here' in m.log_since_start(),
                     what='the member notes the unknown sender')
            # A request after it is served after anything the message
            # started.
            self.assertEqual(m.request('GET', '/v1/status').status, 200)
            self.assertEqual(srv.asked, [])
            self.assertNotIn('found peer 99', m.log_since_start())
        finally:
            srv.close()

    def snapshot_post(self, m, frm, idx, term, off, chunk, size, crc,
                      raft_term=0):
        h = {'X-Kvd-From': str(frm), 'X-Kvd-Snapshot-Size': str(size),
             'X-Kvd-Snapshot-CRC': '%08x' % crc,
             'X-Kvd-Chunk-CRC': '%08x' % crc32c(chunk),
             'X-Kvd-Raft-Term': str(raft_term), 'X-Kvd-Raft-Commit': '0'}
        return m.peer_request('POST', SNAP_PATH + '?index=%d&term=%d'
                              '&offset=%d' % (idx, term, off), chunk, h)

    def as_leader(self, fn):
        """Runs fn(follower, leader id) until no leader change spoils it
        (fn returns None on a 409: the leader it used is not the
        follower's any more)."""
        for _ in range(10):
            f, lid = self.follower_and_leader()
            # The follower knows the leader too.
            wait_for(lambda: (f.try_status() or {}).get('leader') == lid,
                     what='member %d follows %d' % (f.id, lid))
            v = fn(f, lid)
            if v is not None:
                return v
        self.fail('the leader kept changing')

    def test_snapshot_only_from_the_leader_and_within_the_disk(self):
        c = self.cluster

        def not_leader(f, lid):
            other = [m.id for m in c.all() if m.id not in (f.id, lid)][0]
            for frm in (other, 77):
                r = self.snapshot_post(f, frm, 5, 1, 0, b'x', 10, 0)
                self.assertEqual(r.status, 409, r)
            self.assertFalse(os.path.exists(
                os.path.join(f.data_dir, 'snap', 'recv.part')))
            return True

        self.as_leader(not_leader)

        def too_big(f, lid):
            r = self.snapshot_post(f, lid, 5, 1, 0, b'x', 1 << 62, 0)
            if r.status == 409:
                return None
            self.assertEqual(r.status, 507, r)
            self.assertFalse(os.path.exists(
                os.path.join(f.data_dir, 'snap', 'recv.part')))
            return True

        self.as_leader(too_big)
        wait_for(lambda: 'snapshot chunk from' in
                 ''.join(m.log_since_start() for m in c.all()),
                 what='refused chunks are logged')
        c.check_alive()

    def test_ignored_snapshot_file_is_deleted(self):
        """A whole, valid snapshot the core does not need (older than
        what the member has applied) leaves no file behind."""
        c = self.cluster
        lid, _ = c.wait_leader()
        for i in range(20):
            self.assertEqual(c[lid].put('pm/s%02d' % i, b'v').status, 200)
        r = c[lid].request('GET', '/v1/snapshot')
        self.assertEqual(r.status, 200)
        data = r.body
        idx = int(r.header('X-Kv-Snapshot-Index'))
        term = int(r.header('X-Kv-Snapshot-Term'))
        crc = crc32c(data)

        def send(f, lid):
            wait_for(lambda: f.try_status()['applied_index'] >= idx,
                     what='member %d applied %d' % (f.id, idx))
            st = f.request('GET', '/v1/status').json()
            r = self.snapshot_post(f, lid, idx, term, 0, data, len(data),
                                   crc, raft_term=st['term'])
            if r.status == 409:
                return None
            self.assertEqual(r.status, 200, r)
            self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')),
                             len(data))
            return f

        f = self.as_leader(send)
        # Decided before the answer.
        self.assertEqual(glob.glob(os.path.join(f.data_dir, 'snap',
                                                'recv*')), [])
        self.assertIn('not needed here', f.log_since_start())
        c.check_alive()


class JoinDiscoveryTest(ClusterTest):
    """A member waiting to be added (no --initial-cluster, no token) asks
    for the members only at a client URL on the host the message came
    from."""

    def test_only_the_senders_host_is_asked(self):
        c = self.cluster
        new = c.add_member(4)
        new.start()
        wait_for(lambda: new.try_status() is not None,
                 what='member 4 answers')
        elsewhere = MembersServer('127.0.0.2')
        here = MembersServer('127.0.0.1')
        try:
            # The message comes from 127.0.0.1 and names 127.0.0.2.
            wait_for(lambda: hello_from_99(new, elsewhere.url) and
                     'not on the host it came from' in
                     new.log_since_start(),
                     what='member 4 declines to ask another host')
            self.assertEqual(new.request('GET', '/v1/status').status, 200)
            self.assertEqual(elsewhere.asked, [])
            # Named on the host it came from, the URL is asked (at most
            # one discovery a second: the message is sent until then).
            wait_for(lambda: hello_from_99(new, here.url) and here.asked,
                     what='member 4 asks the sender\'s host')
            self.assertEqual(here.asked[0], '/v1/members')
            wait_for(lambda: 'found peer 99' in new.log_since_start(),
                     what='member 4 adds the peers found')
            self.assertEqual(elsewhere.asked, [])
        finally:
            elsewhere.close()
            here.close()
            new.kill()


class SourceAddressTest(ClusterTest):
    """§1.2: outgoing peer connections are made from the host address of
    --listen-peer (members on 127.0.0.11, .12, .13)."""
    CLUSTER_KW = {'hosts': ['127.0.0.11', '127.0.0.12', '127.0.0.13']}

    def test_peer_connections_come_from_the_listen_peer_host(self):
        c = self.cluster
        c.wait_leader()
        self.assertEqual(c.put('src/k', b'v', via=lambda: c[1]).status, 200)
        self.assertEqual(c[3].get('src/k').body, b'v')
        for m in c.all():
            conns = wait_for(lambda: c.peer_connections(m),
                             what='member %d has peer connections' % m.id)
            for local, remote in conns:
                self.assertEqual(local.split(':')[0], m.host,
                                 'member %d connects to %s from %s'
                                 % (m.id, remote, local))


class PeerStreamTest(ClusterTest):
    """Peer streams (docs/FORMAT.md, "Peer streams") outlive the
    listener's header deadline: after the stream's 200 the connection
    carries frames, not requests, and a deadline of 300 ms that still ran
    on it would close every stream within a second."""
    CLUSTER_ARGS = ('--header-timeout-ms', '300')

    def opened(self):
        return sum(m.metric('kvd_peer_streams_opened_total')
                   for m in self.cluster.all())

    def test_streams_outlive_the_header_deadline(self):
        c = self.cluster
        c.wait_leader()
        self.assertEqual(c.put('stream/0', b'v').status, 200)
        # The leader's lanes to both followers and the followers'
        # control lanes back: every one of them streams.
        wait_for(lambda: self.opened() >= 4, what='streams open')
        frames = sum(m.metric('kvd_peer_stream_frames_received_total')
                     for m in c.all())
        end = time.monotonic() + 3.0
        n = 1
        while time.monotonic() < end:
            self.assertEqual(c.put('stream/%d' % n, b'v').status, 200)
            n += 1
            time.sleep(0.05)
        # Each of the 12 lanes (3 members, 2 peers each, a data and a
        # control lane to each) opens its stream once, whenever it is
        # first used: an election on a busy machine may open the rest.
        # A deadline still running would reopen dozens.
        self.assertLessEqual(self.opened(), 3 * 2 * 2)
        self.assertGreater(
            sum(m.metric('kvd_peer_stream_frames_received_total')
                for m in c.all()), frames)
        for m in c.all():
            self.assertNotIn('stream failed', m.log_since_start())
            self.assertEqual(m.metric('kvd_peer_streams_refused_total'), 0)


if __name__ == '__main__':
    harness.main()
