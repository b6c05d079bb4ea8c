# test_snapshot.py - snapshots (docs/ARCHITECTURE.md, "Snapshots and log
# compaction"): with --snapshot-entries small, a member that was down while the
# log moved on catches up from a snapshot, serves afterwards, and restarts from
# it.

import base64

import harness
from harness import ClusterTest, wait_for
from test_faults import must_put


class SnapshotCatchUpTest(ClusterTest):
    # Small snapshots, so a member that was down catches up from one.
    CLUSTER_ARGS = ('--snapshot-entries', '16')

    def test_restarted_member_catches_up_through_snapshot(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        down = [m for m in c.all() if m.id != lid][0]
        down_last = down.try_status()['last_index']
        down.kill()
        last = 0
        for i in range(120):
            last = must_put(c[lid], 'snap/%03d' % i, b'v%d' % i)
        # The leader's snapshot covers entries the member never got: the
        # log behind it is compacted, so only a snapshot can bring the
        # member up to date.
        wait_for(lambda: c[lid].try_status()['snapshot_index'] >
                 down_last + 16, what='leader took a snapshot')
        down.start()
        c.wait_leader()
        c.wait_converged(min_index=last)
        # Just restarted, on a busy machine it may lose its leader for an
        # election: 503 means retry.
        r = wait_for(lambda: (lambda x: x if x.status != 503 else None)(
            down.list(prefix='snap/')), what='list answered')
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(len(j['kvs']), 120)
        for x in j['kvs']:
            self.assertEqual(base64.b64decode(x['value']),
                             b'v%d' % int(x['key'][5:]))
        # it serves as a full member afterwards
        must_put(down, 'snap/after', b'ok')
        # and a restart from its snapshot keeps everything
        self.assertEqual(down.terminate(), 0)
        down.start()
        c.wait_leader()
        c.wait_converged()
        self.assertEqual(down.get('snap/after', stale=True).body, b'ok')
        r = wait_for(lambda: (lambda x: x if x.status != 503 else None)(
            down.list(prefix='snap/')), what='list answered')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()['kvs']), 121)


if __name__ == '__main__':
    harness.main()
