# test_wal_syncs.py - sequential single writes cost each member at most one
# WAL fdatasync per write: the leader syncs its entry, not also the commit
# index the acknowledgements move (a commit-only hard state is recorded
# without a sync), and a follower syncs the entries it acknowledges. Nor
# does a new commit index alone cost a WAL job: it rides with the next one.
# Read from /metrics (kvd_wal_syncs_total, kvd_wal_entries_total,
# kvd_wal_jobs_total).
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest  # noqa: E402

WRITES = 60
# Heartbeats, a lease check or a lagging ack may add a sync or two that
# no write caused; a doubled count (2 per write) is far above this.
SLACK = 5


def metric(m, name):
    """The value of counter @name in member @m's /metrics."""
    r = m.request('GET', '/metrics', timeout=10)
    if r.status != 200:
        raise AssertionError('GET /metrics on %d: %r' % (m.id, r))
    for line in r.body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    raise AssertionError('%s missing from /metrics of member %d'
                         % (name, m.id))


class SequentialWriteSyncTest(ClusterTest):
    def counters(self):
        return {m.id: (metric(m, 'kvd_wal_syncs_total'),
                       metric(m, 'kvd_wal_entries_total'),
                       metric(m, 'kvd_wal_jobs_total'))
                for m in self.cluster.all()}

    def test_at_most_one_sync_per_sequential_write(self):
        c = self.cluster
        lid, term = c.wait_leader()
        # Settle the election's own writes (term, vote, no-op entry).
        r = c[lid].put('sync/warm', b'w')
        self.assertEqual(r.status, 200, r)
        c.wait_converged()
        before = self.counters()

        value = b'v' * 100
        for i in range(WRITES):
            r = c[lid].put('sync/k%03d' % i, value)
            self.assertEqual(r.status, 200, r)
        c.wait_converged()
        after = self.counters()
        lid2, term2 = c.wait_leader()
        self.assertEqual((lid2, term2), (lid, term),
                         'leadership changed during the writes')

        for m in c.all():
            syncs = after[m.id][0] - before[m.id][0]
            entries = after[m.id][1] - before[m.id][1]
            who = 'leader' if m.id == lid else 'follower'
            # Every write went through this member's WAL ...
            self.assertGreaterEqual(
                entries, WRITES, '%s %d wrote %d entries for %d writes'
                % (who, m.id, entries, WRITES))
            # ... with at most one fdatasync each.
            self.assertLessEqual(
                syncs, WRITES + SLACK,
                '%s %d made %d WAL syncs for %d sequential writes'
                % (who, m.id, syncs, WRITES))
            # ... and one job for the writer each: a new commit index
            # alone rides with the next job instead of making its own.
            jobs = after[m.id][2] - before[m.id][2]
            self.assertLessEqual(
                jobs, WRITES + SLACK,
                '%s %d handed the WAL writer %d jobs for %d sequential '
                'writes' % (who, m.id, jobs, WRITES))

        # The acknowledged writes are all there.
        for i in (0, WRITES - 1):
            g = c[lid].get('sync/k%03d' % i)
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, value)


if __name__ == '__main__':
    harness.main()
