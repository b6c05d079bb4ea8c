# test_recovery.py - restarts from data dirs a crash or a fault left
# behind: a bare member stopped before it was added, a members.json that
# could not be written while the log was compacted, and an LMDB store that
# a power loss left unusable (rebuilt from the newest snapshot + the WAL).
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import json
import os
import shutil
import subprocess
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



def wal_segments(m):
    return sorted(f for f in os.listdir(os.path.join(m.data_dir, 'wal'))
                  if f.startswith('wal-'))


def snapshot_index(m):
    st = m.try_status()
    return st['snapshot_index'] if st else 0


def first_wal_index(m):
    """The first log index the member's last start recovered ("log=[F,")."""
    log = m.log_since_start()
    i = log.index(' log=[') + len(' log=[')
    return int(log[i:log.index(',', i)])


def members_json(m):
    with open(os.path.join(m.data_dir, 'members.json')) as f:
        return sorted(x['id'] for x in json.load(f)['members'])


class MembersJsonFaultTest(ClusterTest):
    """members.json cannot be written (a directory sits where its
    temporary file goes) while the membership changes and the log grows
    far past --snapshot-entries: compaction must keep the configuration
    entry, so a restart has the new voter set."""

    CLUSTER_ARGS = ('--snapshot-entries', '100', '--wal-segment-bytes',
                    '65536')

    def test_restart_after_failed_members_json_keeps_new_voters(self):
        c = self.cluster
        c.wait_leader()
        x = c[2]
        tmp = os.path.join(x.data_dir, 'members.json.tmp')
        os.mkdir(tmp)
        m4 = c.add_member(4)
        m4.start()
        lid, _ = c.wait_leader(members=[c[1], c[2], c[3]])
        r = add(c[lid], m4)
        self.assertEqual(r.status, 200, r)
        cfg_index = wait_for(c[lid].try_status)['commit_index']
        wait_for(lambda: (x.try_status() or {}).get('applied_index', 0)
                 >= cfg_index,
                 what='member 2 applied the configuration')
        self.assertEqual(voters(x), [1, 2, 3, 4])
        self.assertEqual(members_json(x), [1, 2, 3])
        # About 60 entries of 1 KiB fill a 64 KiB segment: 1200 writes
        # are 20 segments, 12 snapshots.
        value = b'v' * 1024
        for i in range(1200):
            wait_for(lambda: c[1].put('mj/%04d' % i, value).status == 200,
                     what='write %d' % i)
        c.wait_converged()
        wait_for(lambda: snapshot_index(x) >= cfg_index + 1000,
                 what='member 2 snapshots past the configuration')
        self.assertEqual(x.terminate(), 0)
        self.assertEqual(members_json(x), [1, 2, 3])
        os.rmdir(tmp)
        x.start()
        c.wait_leader()
        c.wait_converged()
        self.assertEqual(voters(x), [1, 2, 3, 4])
        self.assertLess(first_wal_index(x), cfg_index)
        wait_for(lambda: members_json(x) == [1, 2, 3, 4],
                 what='members.json written after the restart')
        self.assertEqual(x.get('mj/1199', stale=True).body, value)



def damage_meta(path):
    with open(path, 'r+b') as f:
        f.write(os.urandom(8192))


def damage_truncate(path):
    os.truncate(path, os.path.getsize(path) // 2)


def damage_zeros(path):
    size = os.path.getsize(path)
    os.truncate(path, 0)
    os.truncate(path, size)


def damage_empty(path):
    os.truncate(path, 0)


class DamagedStoreTest(ClusterTest):
    """A member's data.mdb damaged as a power loss under MDB_NOSYNC can
    leave it (after SIGKILL or a clean stop): the member starts, moves the
    store aside, rebuilds it from its newest snapshot and the WAL, has
    every acknowledged write and rejoins."""

    CLUSTER_ARGS = ('--snapshot-entries', '100', '--wal-segment-bytes',
                    '65536')

    def write(self, acked, prefix, n):
        c = self.cluster
        for i in range(n):
            k = '%s/%04d' % (prefix, i % 200)
            v = ('%s-%d-' % (prefix, i)).encode() * 64

            def put():
                for m in c.live():
                    try:
                        if m.put(k, v, timeout=5).status == 200:
                            return True
                    except OSError:
                        pass
                return False
            wait_for(put, what='write %s' % k)
            acked[k] = v

    def check_content(self, m, acked):
        for k, v in sorted(acked.items()):
            r = m.get(k, stale=True)
            self.assertEqual(r.status, 200, (k, r))
            self.assertEqual(r.body, v, k)

    def test_damaged_store_is_rebuilt(self):
        c = self.cluster
        c.wait_leader()
        x = c[2]
        data = os.path.join(x.data_dir, 'kv', 'data.mdb')
        acked = {}
        for n, (name, damage) in enumerate([('meta', damage_meta),
                                            ('truncate', damage_truncate),
                                            ('zeros', damage_zeros),
                                            ('empty', damage_empty)]):
            with self.subTest(damage=name):
                # 400 writes of about 500 bytes: several WAL segments,
                # snapshots and compactions on every member; the oldest
                # segment goes (the WAL no longer starts at 1).
                oldest = wal_segments(x)[0]
                self.write(acked, 'd%d' % n, 400)
                c.wait_converged()
                wait_for(lambda: wal_segments(x)[0] > oldest,
                         what='member 2 compacts its WAL')
                if n % 2 == 0:
                    x.kill()
                else:
                    self.assertEqual(x.terminate(), 0)
                damage(data)
                # The cluster moves on meanwhile.
                self.write(acked, 'down%d' % n, 50)
                x.start()
                c.wait_leader()
                c.wait_converged()
                log = x.log_since_start()
                self.assertIn('is damaged', log)
                self.assertIn('moved aside', log)
                self.assertGreater(first_wal_index(x), 1)
                self.assertIn('newest snapshot', log)
                self.check_content(x, acked)
                self.assertEqual(len([d for d in os.listdir(x.data_dir)
                                      if d.startswith('kv.damaged-')]),
                                 n + 1)
                # It takes part again: a write through it.
                self.assertEqual(x.put('after/%d' % n, b'ok').status, 200)
                c.wait_converged()
                for m in c.all():
                    self.assertEqual(
                        m.get('after/%d' % n, stale=True).body, b'ok')


    def test_zz_no_snapshot_covering_the_wal_refuses(self):
        """Damaged, compacted, and no snapshot left: one clear line and a
        non-zero exit; the store stays where it is."""
        c = self.cluster
        c.wait_leader()
        x = c[3]
        oldest = wal_segments(x)[0]
        self.write({}, 'ns', 400)
        c.wait_converged()
        wait_for(lambda: wal_segments(x)[0] > oldest,
                 what='member 3 compacts its WAL')
        x.kill()
        damage_meta(os.path.join(x.data_dir, 'kv', 'data.mdb'))
        shutil.rmtree(os.path.join(x.data_dir, 'snap'))
        args = x.args()
        p = subprocess.run(args, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        lines = p.stderr.decode().strip().splitlines()
        self.assertTrue(lines and lines[-1].startswith('kvd: '), lines)
        self.assertIn('no snapshot', lines[-1])
        self.assertIn('is damaged', lines[-1])
        self.assertTrue(os.path.exists(
            os.path.join(x.data_dir, 'kv', 'data.mdb')))
        self.assertFalse([d for d in os.listdir(x.data_dir)
                          if d.startswith('kv.damaged-')])


class DamagedStoreWholeWalTest(ClusterTest):
    """Without any snapshot and a WAL that starts at 1, a damaged store is
    rebuilt by replaying the whole WAL."""

    def test_rebuilt_from_the_whole_wal(self):
        c = self.cluster
        c.wait_leader()
        x = c[2]
        acked = {}
        DamagedStoreTest.write(self, acked, 'w', 100)
        c.wait_converged()
        x.kill()
        damage_zeros(os.path.join(x.data_dir, 'kv', 'data.mdb'))
        x.start()
        c.wait_leader()
        c.wait_converged()
        log = x.log_since_start()
        self.assertIn('rebuilding it from the whole WAL', log)
        self.assertEqual(first_wal_index(x), 1)
        DamagedStoreTest.check_content(self, x, acked)


if __name__ == '__main__':
    harness.main()
