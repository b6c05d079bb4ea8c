# test_limits.py - the limits on what a member receives, recovers and
# replicates do not follow its own --max-value-bytes: a member restarted
# with a lower flag after large values were written still opens its WAL and
# still accepts the leader's appends of large values; only its public API
# applies the flag.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

# The largest --max-value-bytes accepted: a command carrying such a value
# is above 16 MiB, the codec's and the WAL's default entry limit.
BIG = 16 * 1024 * 1024
SMALL = 1024


def with_flag(m, value):
    """Makes member @m start with --max-value-bytes @value from now on."""
    orig = harness.Member.args

    def args():
        a = orig(m)
        if '--max-value-bytes' in a:
            i = a.index('--max-value-bytes')
            a = a[:i] + a[i + 2:]
        return a + ['--max-value-bytes', str(value)]
    m.args = args


class LowerFlagRestartTest(ClusterTest):
    CLUSTER_ARGS = ('--max-value-bytes', str(BIG))
    CLUSTER_KW = {'request_timeout_ms': 20000}

    def test_member_restarted_with_lower_flag_recovers_and_catches_up(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        f = [m for m in c.all() if m.id != lid][0]
        big1 = os.urandom(BIG)
        # Sending a 16 MiB entry may cost the leader its lead on a loaded
        # machine (503): the write is sent again, applied once.
        r = c.put('lim/a', big1, timeout=120, request_timeout=60)
        self.assertEqual(r.status, 200, r)
        c.wait_converged(timeout=60)

        # Restart the follower with a far smaller flag: its WAL holds the
        # entry above 16 MiB and must still open.
        self.assertEqual(f.terminate(), 0)
        with_flag(f, SMALL)
        f.start()
        wait_for(lambda: f.try_status() is not None, timeout=60,
                 what='member %d up with --max-value-bytes %d'
                 % (f.id, SMALL))
        g = f.get('lim/a', stale=True, timeout=30)
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body, big1)

        # A large value written now reaches it by replication. It is sent
        # to a leader other than f (whose own API refuses it), found again
        # before every attempt: sending it to f may cost the lead.
        def leader_not_f():
            lead = c.find_leader()
            if lead is f:
                other = [m for m in c.all() if m is not f][0]
                r = f.request('POST', '/v1/leader/transfer',
                              '{"to": %d}' % other.id,
                              {'Content-Type': 'application/json'})
                if r.status != 200:
                    raise AssertionError('transfer away from %d: %r'
                                         % (f.id, r))
                lead = c.find_leader()
            if lead is f:
                raise AssertionError('member %d leads again' % f.id)
            return lead
        big2 = os.urandom(BIG)
        r = c.put('lim/b', big2, via=leader_not_f, timeout=120,
                  request_timeout=60)
        self.assertEqual(r.status, 200, r)
        index = r.json()['index']

        def caught_up():
            s = f.try_status()
            return s is not None and s['applied_index'] >= index
        wait_for(caught_up, timeout=60,
                 what='member %d applies index %d' % (f.id, index))
        g = f.get('lim/b', stale=True, timeout=30)
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body, big2)

        # Its own public API still applies its flag.
        self.assertError(f.put('lim/c', b'x' * (SMALL + 1)), 413,
                         'too_large')
        r = c.put('lim/c', b'x' * SMALL, via=lambda: f)
        self.assertEqual(r.status, 200, r)


if __name__ == '__main__':
    harness.main()
