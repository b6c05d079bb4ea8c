# test_far_peers.py - members 20 ms apart: every member's advertised peer
# URL is a relay (scripts/bench.d/delay_relay.c) that delivers every byte
# 10 ms later in each direction, order kept. 32 writers for a few seconds:
# every acknowledged write reads back, and the leader's lanes carried their
# batches as frames on peer streams (kvd_peer_stream_frames_sent_total > 0
# on the leader), which wait for no answer: with one POST in flight per
# connection, a lane would carry one batch per round trip. (POSTs
# pipelined to a far peer, for members without streams, are
# tests/transport's.)
#
# Needs the relay binary: DELAY_RELAY=path (meson passes the one it builds).

import base64
import os
import random
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness
from harness import Cluster, Member, free_port, wait_for

RTT_MS = 20
WRITERS = 32
WRITE_SECONDS = 4.0
RELAY = os.environ.get('DELAY_RELAY')


class FarMember(Member):
    """A member whose advertised peer URL is its relay's address."""

    relay_port = None

    @property
    def peer_url(self):
        return '%s://%s:%d' % (self.scheme, self.host, self.relay_port)


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1.0).close()
        return True
    except OSError:
        return False


@unittest.skipUnless(RELAY and os.access(RELAY, os.X_OK),
                     'DELAY_RELAY is not set to the relay binary')
class FarPeersTest(unittest.TestCase):

    def setUp(self):
        # Elections far slower than the round trip: a loaded machine and
        # 32 writers must not make the leader change for no reason.
        self.cluster = Cluster(3, name='FarPeersTest',
                               election_timeout_ms=2000,
                               heartbeat_ms=100,
                               request_timeout_ms=5000)
        self.relays = {}
        for m in self.cluster.all():
            m.__class__ = FarMember
            m.relay_port = free_port()
        self.cluster.start()
        # The harness may have moved the members to new ports (a clash):
        # the relays start once the members' ports are final.
        for m in self.cluster.all():
            self.relays[m.id] = subprocess.Popen(
                [RELAY, str(m.relay_port), str(m.peer_port),
                 str(RTT_MS // 2)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        for m in self.cluster.all():
            wait_for(lambda: accepts(m.relay_port),
                     what='relay of member %d listening' % m.id)

    def tearDown(self):
        for p in self.relays.values():
            p.kill()
            p.wait()
        self.cluster.close()

    def test_writes_through_far_peers(self):
        try:
            self.writes_through_far_peers()
        except BaseException:
            # Keeps the cluster's data and shows its logs.
            self.cluster.failed = True
            raise

    def writes_through_far_peers(self):
        c = self.cluster
        c.wait_leader(timeout=60)
        leader = [c.find_leader(timeout=60)]
        lock = threading.Lock()
        acked = {}
        errors = []
        stop = time.monotonic() + WRITE_SECONDS

        def current():
            with lock:
                return leader[0]

        def refind():
            m = c.find_leader(timeout=60)
            with lock:
                leader[0] = m
            return m

        def writer(w):
            n = 0
            try:
                while time.monotonic() < stop:
                    key = 'far/%02d/%06d' % (w, n)
                    value = ('%d-%d-%s' % (w, n, random.getrandbits(32))
                             ).encode()
                    r = c.write('PUT', key, value, via=current,
                                timeout=60, request_timeout=20.0)
                    if r.status != 200:
                        refind()
                        continue
                    with lock:
                        acked[key] = value
                    n += 1
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,))
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        self.assertGreater(len(acked), WRITERS)

        # Every acknowledged write reads back (a linearizable list, paged,
        # from whichever member leads now).
        got = {}
        after = None
        give_up = time.monotonic() + 180
        while True:
            self.assertLess(time.monotonic(), give_up,
                            'no linearizable list within 180 s')
            m = c.find_leader(timeout=60)
            r = m.list(prefix='far/', after=after, limit=10000, timeout=30)
            if r.status in (503, 504):
                time.sleep(0.1)  # a new leader is settling: ask again
                continue
            self.assertEqual(r.status, 200, r)
            j = r.json()
            for kv in j['kvs']:
                got[kv['key']] = base64.b64decode(kv['value'])
            if not j['more'] or not j['kvs']:
                break
            after = j['kvs'][-1]['key']
        missing = [k for k in acked if got.get(k) != acked[k]]
        self.assertEqual(missing[:10], [])

        # The leader's batches went out as stream frames: no lane waited
        # a round trip per batch.
        def streamed():
            return c.find_leader(timeout=60).metric(
                'kvd_peer_stream_frames_sent_total', 0) > 0
        wait_for(streamed, timeout=60,
                 what='kvd_peer_stream_frames_sent_total > 0 on the leader')
        sys.stderr.write('far peers: %d writes acknowledged in %.0f s\n'
                         % (len(acked), WRITE_SECONDS))


if __name__ == '__main__':
    harness.main()
