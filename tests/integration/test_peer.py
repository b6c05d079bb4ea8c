# test_peer.py - the peer listener with --peer-token-file: requests without
# the token (or with a wrong one) get 401; garbage bodies with the right
# token get 400; neither disturbs the member or the cluster.

import os
import tempfile

import harness
from harness import ClusterTest, wait_for

# The peer message route and the token header (raft/transport.h:
# TRANSPORT_PATH, TRANSPORT_HEADER_TOKEN).
PEER_PATH = '/raft/messages'
TOKEN_HEADER = 'X-Kvd-Token'
TOKEN = 'integration-peer-token-0123456789'


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
        self.assertEqual(c[1].put('tok/k', b'v').status, 200)
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
        self.assertEqual(c[3].put('tok/after-garbage', b'ok').status, 200)
        for m in c.all():
            self.assertEqual(m.get('tok/after-garbage').body, b'ok')


class SourceAddressTest(ClusterTest):
    """§1.2: outgoing peer connections are made from the host address of
    --listen-peer (members on 127.0.0.11, .12, .13)."""
    CLUSTER_KW = {'hosts': ['127.0.0.11', '127.0.0.12', '127.0.0.13']}

    def test_peer_connections_come_from_the_listen_peer_host(self):
        c = self.cluster
        c.wait_leader()
        self.assertEqual(c[1].put('src/k', b'v').status, 200)
        self.assertEqual(c[3].get('src/k').body, b'v')
        for m in c.all():
            conns = wait_for(lambda: c.peer_connections(m),
                             what='member %d has peer connections' % m.id)
            for local, remote in conns:
                self.assertEqual(local.split(':')[0], m.host,
                                 'member %d connects to %s from %s'
                                 % (m.id, remote, local))


if __name__ == '__main__':
    harness.main()
