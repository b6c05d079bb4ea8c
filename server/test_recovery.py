# test_recovery.py - restarts from data dirs a crash or a fault left
# behind: a bare member stopped before it was added, a members.json that
# could not be written while the log was compacted, and an LMDB store that
# a power loss left unusable (rebuilt from the newest snapshot + the WAL).
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402


def healthy(m):
    try:
        return m.request('GET', '/healthz', timeout=2).status == 200
    except OSError:
        return False


def add(via, new, timeout=30):
    return via.request('POST', '/v1/members',
                       json.dumps({'id': new.id, 'peer_url': new.peer_url}),
                       timeout=timeout)


def voters(m):
    st = m.try_status()
    return sorted(x['id'] for x in st['members']) if st else None


class BareMemberRestartTest(ClusterTest):
    """A member started without --initial-cluster and stopped before it
    was added restarts (SIGTERM and SIGKILL alike), keeps waiting, and
    joins when added."""

    def test_bare_member_restarts_then_joins(self):
        c = self.cluster
        c.wait_leader()
        self.assertEqual(c[1].put('bare/k', b'v').status, 200)
        m4 = c.add_member(4)
        m4.start()
        wait_for(lambda: healthy(m4), what='bare member serves /healthz')
        self.assertTrue(os.listdir(os.path.join(m4.data_dir, 'wal')))
        self.assertFalse(os.path.exists(
            os.path.join(m4.data_dir, 'members.json')))
        self.assertEqual(m4.terminate(), 0)
        m4.start()
        wait_for(lambda: healthy(m4) or not m4.running(),
                 what='restart after SIGTERM')
        self.assertTrue(m4.running(), m4.log_tail())
        m4.kill()
        m4.start()
        wait_for(lambda: healthy(m4) or not m4.running(),
                 what='restart after SIGKILL')
        self.assertTrue(m4.running(), m4.log_tail())
        lid, _ = c.wait_leader(members=[c[1], c[2], c[3]])
        r = add(c[lid], m4)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: m4.get('bare/k', stale=True).body == b'v',
                 what='member 4 caught up')
        c.wait_converged()
        self.assertEqual(voters(m4), [1, 2, 3, 4])


if __name__ == '__main__':
    harness.main()
