# test_file_modes.py - who may reach what kvd writes, on real kvd
# processes: after a member ran (WAL segments, the store, members.json,
# snapshots) every file in its data dir is 0600 and every directory 0700,
# under a umask of 0 and of 022; a pre-created data dir open to others is
# logged and tightened to 0700; a token file others may read is logged
# (name and mode, never the token); kvd --restore does not write through a
# symlink planted at its temp name, kv.restore.tmp.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import glob
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import Cluster, wait_for  # noqa: E402

# Small segments and frequent snapshots: a short run writes every kind of
# file a data dir holds.
RUN_ARGS = ('--snapshot-entries', '50', '--snapshot-keep', '2',
            '--wal-segment-bytes', '65536')


def start_with_umask(c, mask):
    """Starts the cluster's members with umask @mask (inherited by kvd)."""
    old = os.umask(mask)
    try:
        c.start()
    finally:
        os.umask(old)


def warnings(m):
    """The WARN lines of the member's current run."""
    return [line for line in m.log_since_start().splitlines()
            if ' WARN ' in line]


class FileModesTest(unittest.TestCase):
    def cluster(self, *args, **kw):
        c = Cluster(1, args, name=kw.pop('name', 'modes'), **kw)
        self.addCleanup(c.close)
        # Keeps the data and shows the log when the test fails.
        self.clusters.append(c)
        return c

    def setUp(self):
        self.clusters = []

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for c in self.clusters:
                c.failed = True
        return result

    def fill(self, m, n, prefix):
        for i in range(n):
            k = '%s/%04d' % (prefix, i)
            r = wait_for(lambda: m.put(k, b'v' * 1000).status == 200,
                         what='put %s' % k)
            self.assertTrue(r)

    def test_data_dir_files_0600_dirs_0700(self):
        for mask in (0, 0o022):
            with self.subTest(umask='%03o' % mask):
                c = self.cluster(*RUN_ARGS, name='modes-%03o' % mask)
                m = c[1]
                start_with_umask(c, mask)
                c.wait_leader()
                self.fill(m, 150, 'walk')
                # Two snapshots: each writes .snap and .meta through .tmp
                # names, and the WAL below them is compacted.
                wait_for(lambda: len(glob.glob(os.path.join(
                    m.data_dir, 'snap', 'snap-*.meta'))) >= 2,
                    what='two snapshots')
                self.assertEqual(m.terminate(), 0)
                seen = set()
                for root, dirs, files in os.walk(m.data_dir):
                    for name in [root] + [os.path.join(root, d)
                                          for d in dirs]:
                        st = os.lstat(name)
                        self.assertTrue(stat.S_ISDIR(st.st_mode), name)
                        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700,
                                         '%s: %04o' % (
                                             name, stat.S_IMODE(st.st_mode)))
                    for f in files:
                        p = os.path.join(root, f)
                        st = os.lstat(p)
                        self.assertTrue(stat.S_ISREG(st.st_mode), p)
                        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                                         '%s: %04o' % (
                                             p, stat.S_IMODE(st.st_mode)))
                        seen.add(os.path.relpath(p, m.data_dir))
                # Every kind of file was there to check.
                for want in ('wal/wal-', 'kv/data.mdb', 'kv/lock.mdb',
                             'snap/snap-', 'members.json'):
                    self.assertTrue([s for s in seen if s.startswith(want)],
                                    '%s: none in %r' % (want, sorted(seen)))

    def test_loose_data_dir_is_logged_and_tightened(self):
        c = self.cluster()
        m = c[1]
        os.makedirs(m.data_dir)
        os.chmod(m.data_dir, 0o755)
        start_with_umask(c, 0o022)
        c.wait_leader()
        w = [line for line in warnings(m) if m.data_dir in line]
        self.assertEqual(len(w), 1, m.log_since_start())
        self.assertIn('data dir', w[0])
        self.assertIn('0755', w[0])
        self.assertEqual(stat.S_IMODE(os.stat(m.data_dir).st_mode), 0o700)
        # Once tight, a restart says nothing.
        self.assertEqual(m.terminate(), 0)
        c.start()
        c.wait_leader()
        self.assertEqual(warnings(m), [])

    def test_token_file_others_can_read_is_logged_without_the_token(self):
        secret = 'tok-' + os.urandom(16).hex()
        c = self.cluster()
        tok = os.path.join(c.root, 'peer.token')
        with open(tok, 'w') as f:
            f.write(secret + '\n')
        os.chmod(tok, 0o600)
        c.extra_args += ['--peer-token-file', tok]
        m = c[1]
        c.start()
        c.wait_leader()
        self.assertEqual([line for line in warnings(m) if tok in line], [])
        self.assertEqual(m.terminate(), 0)
        os.chmod(tok, 0o644)
        c.start()
        c.wait_leader()
        w = [line for line in warnings(m) if tok in line]
        self.assertEqual(len(w), 1, m.log_since_start())
        self.assertIn('0644', w[0])
        with open(m.log_path) as f:
            self.assertNotIn(secret, f.read())

    def test_restore_ignores_a_planted_tmp_symlink(self):
        src = self.cluster(name='restore-src')
        src.start()
        src.wait_leader()
        self.fill(src[1], 20, 'rs')
        r = src[1].request('GET', '/v1/snapshot', timeout=60)
        self.assertEqual(r.status, 200)
        backup = os.path.join(src.root, 'backup.mdb')
        with open(backup, 'wb') as f:
            f.write(r.body)
        c = self.cluster('--restore', backup, name='restore-dst')
        m = c[1]
        victim = os.path.join(c.root, 'victim')
        with open(victim, 'wb') as f:
            f.write(b'not yours')
        os.chmod(victim, 0o600)
        os.makedirs(m.data_dir, mode=0o700)
        os.symlink(victim, os.path.join(m.data_dir, 'kv.restore.tmp'))
        c.start()
        c.wait_leader()
        self.assertEqual(m.get('rs/0007').body, b'v' * 1000)
        with open(victim, 'rb') as f:
            self.assertEqual(f.read(), b'not yours')
        data = os.path.join(m.data_dir, 'kv', 'data.mdb')
        st = os.lstat(data)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertFalse(os.path.lexists(
            os.path.join(m.data_dir, 'kv.restore.tmp')))


if __name__ == '__main__':
    harness.main()
