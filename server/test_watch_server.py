# test_watch_server.py - watch streams across what happens to the member
# serving them: a snapshot install that the installed history covers (the
# stream goes on, no gap, no duplicate), one that jumps past the stream's
# position (the stream ends with error "compacted" naming the oldest index,
# and a new watch from there works), and the member's removal from the
# cluster (error "removed").
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import Cluster, wait_for  # noqa: E402

WAIT_S = 60


class Stream:
    """A watch stream read by a thread: its lines, parsed, as they come."""

    def __init__(self, member, query):
        self.conn = http.client.HTTPConnection(member.host,
                                               member.client_port,
                                               timeout=120)
        self.conn.request('GET', '/v1/watch?' + query)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise AssertionError('watch %s: %d %r' % (
                query, self.resp.status, self.resp.read()))
        self.start_index = int(self.resp.getheader('X-Kv-Index'))
        self.lines = []
        self.ended = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                with self.lock:
                    self.lines.append(json.loads(line))
        except (OSError, http.client.HTTPException, ValueError):
            pass
        self.ended = True

    def events(self):
        with self.lock:
            return [e for e in self.lines if e['type'] in ('put', 'delete')]

    def errors(self):
        with self.lock:
            return [e for e in self.lines if e['type'] == 'error']

    def close(self):
        self.conn.close()


def put_many(cluster, prefix, n, size, acked):
    """n puts of @size-byte values under @prefix through the leader;
    records each acknowledged (index, key)."""
    value = b'v' * size
    for i in range(n):
        key = '%s%05d' % (prefix, i)
        r = cluster.write('PUT', key, value)
        assert r.status == 200, r
        acked.append((r.json()['index'], key))


def check_exact(test, events, acked, prefix):
    """@events are exactly the acknowledged puts under @prefix, in index
    order: none missing, none twice."""
    got = [(e['index'], e['key']) for e in events
           if e['key'].startswith(prefix)]
    want = sorted(a for a in acked if a[1].startswith(prefix))
    test.assertEqual(got, want)


class InstallTest(harness.unittest.TestCase):
    def cluster_with(self, *args):
        c = Cluster(3, ('--snapshot-entries', '50', '--wal-segment-bytes',
                        '65536') + args, name='watch-install')
        self.addCleanup(c.close)
        c.start()
        c.wait_leader()
        return c

    def paused_behind(self, c, watch_query, writes):
        """Opens a stream on a follower, writes, stops the follower while
        the others write @writes large values (so that its log is
        compacted away), resumes it and waits until it installed a
        snapshot. Returns (stream, acked, follower)."""
        leader = c.leader()
        f = next(m for m in c.all() if m is not leader)
        acked = []
        s = Stream(f, watch_query)
        self.addCleanup(s.close)
        put_many(c, 'w/a', 5, 10, acked)
        wait_for(lambda: len(s.events()) == 5, WAIT_S, what='first events')
        f.pause()
        try:
            put_many(c, 'w/b', writes, 2048, acked)
        finally:
            f.resume()
        wait_for(lambda: re.search(r'installed snapshot',
                                   f.log_since_start()) is not None,
                 WAIT_S, what='the follower to install a snapshot')
        c.wait_converged(min_index=max(a[0] for a in acked))
        return s, acked, f

    def test_install_within_history_keeps_the_stream(self):
        c = self.cluster_with()
        s, acked, _ = self.paused_behind(c, 'prefix=w/', 400)
        put_many(c, 'w/c', 5, 10, acked)
        wait_for(lambda: len(s.events()) >= len(acked), WAIT_S, what='every change on the stream')
        self.assertEqual(s.errors(), [])
        check_exact(self, s.events(), acked, 'w/')

    def test_install_past_history_ends_with_compacted(self):
        c = self.cluster_with('--watch-history', '20')
        s, acked, f = self.paused_behind(c, 'prefix=w/', 400)
        wait_for(lambda: s.errors() != [], WAIT_S, what='the error event')
        err = s.errors()[-1]
        self.assertEqual(err['error'], 'compacted')
        last = max(e['index'] for e in s.events())
        self.assertGreater(err['oldest'], last + 1)
        wait_for(lambda: s.ended, WAIT_S, what='the stream to end')
        # What was passed before is exact, and a new watch from oldest
        # (or, trimmed since, from the oldest the member names then) on
        # the same member replays from there.
        check_exact(self, s.events(),
                    [a for a in acked if a[0] <= last], 'w/')
        r = f.request('GET', '/v1/watch?prefix=w/&from=%d' % (last + 1))
        self.assertEqual(r.status, 410)
        self.assertEqual(r.json()['error'], 'compacted')
        oldest = r.json()['oldest']
        self.assertGreaterEqual(oldest, err['oldest'])
        s2 = Stream(f, 'prefix=w/&from=%d' % oldest)
        self.addCleanup(s2.close)
        wait_for(lambda: s2.events() and
                 s2.events()[-1]['index'] == max(a[0] for a in acked),
                 WAIT_S, what='the replay from oldest')
        check_exact(self, s2.events(),
                    [a for a in acked if a[0] >= oldest], 'w/')


class RemovedTest(harness.ClusterTest):
    def test_removed_member_ends_its_streams(self):
        c = self.cluster
        leader = c.leader()
        f = next(m for m in c.all() if m is not leader)
        s = Stream(f, 'prefix=r/')
        self.addCleanup(s.close)
        acked = []
        put_many(c, 'r/', 3, 10, acked)
        wait_for(lambda: len(s.events()) == 3, WAIT_S, what='events')
        r = c.leader().request('DELETE', '/v1/members/%d' % f.id)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: s.errors() != [], WAIT_S, what='the error event')
        self.assertEqual(s.errors()[-1]['error'], 'removed')
        wait_for(lambda: s.ended, WAIT_S, what='the stream to end')
        r = f.request('GET', '/v1/watch?prefix=r/')
        self.assertEqual(r.status, 503)


if __name__ == '__main__':
    harness.main()
