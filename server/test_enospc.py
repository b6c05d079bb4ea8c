# test_enospc.py - a member whose WAL cannot be written (ENOSPC) keeps
# running: writes fail with 503 "disk full" and Retry-After, nothing
# acknowledged is lost, and writes resume by themselves once space returns.
#
# tests/fault/enospc_shim.c (LD_PRELOAD) makes every write to a path under
# a wal/ directory fail with ENOSPC while a flag file exists; no root
# needed. Uses tests/integration/harness.py; argv[1] is the kvd binary.

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

_tmp = tempfile.mkdtemp(prefix='kvd-enospc-')
SHIM = os.path.join(_tmp, 'enospc_shim.so')
FLAG = os.path.join(_tmp, 'full')


def build_shim():
    src = os.path.join(HERE, '..', 'tests', 'fault', 'enospc_shim.c')
    subprocess.run([os.environ.get('CC', 'cc'), '-shared', '-fPIC', '-O1',
                    '-o', SHIM, src, '-ldl'], check=True)


class WalEnospcTest(ClusterTest):
    CLUSTER_KW = {'request_timeout_ms': 1000}

    @classmethod
    def setUpClass(cls):
        build_shim()
        # Inherited by the members only (the flag file does not exist
        # yet, so they start normally).
        asan = os.environ.get('ASAN_OPTIONS', '')
        os.environ.update({
            'LD_PRELOAD': SHIM, 'KVD_ENOSPC_FLAG': FLAG,
            'KVD_ENOSPC_MATCH': '/wal/',
            'ASAN_OPTIONS': (asan + ':' if asan else '') +
            'verify_asan_link_order=0'})
        super().setUpClass()

    def test_full_wal_fails_writes_then_resumes(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        leader = c[lid]
        self.assertEqual(leader.put('ns/before', b'v1').status, 200)
        open(FLAG, 'w').close()
        try:
            seen = []

            def disk_full_503():
                r = leader.put('ns/during', b'x')
                seen.append(r.status)
                self.assertNotEqual(r.status, 200, r)
                return r.status == 503 and b'disk full' in r.body and \
                    r.header('Retry-After') is not None
            wait_for(disk_full_503, timeout=30,
                     what='a write answered 503 "disk full"')
            c.check_alive()
            # Reads of applied data still work.
            g = leader.get('ns/before', stale=True)
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, b'v1')
        finally:
            os.unlink(FLAG)
        c.check_alive()

        def written():
            return leader.put('ns/after', b'v2').status == 200
        wait_for(written, timeout=30, what='writes resume after space returns')
        idx = c.wait_converged()
        for m in c.all():
            for k, v in (('ns/before', b'v1'), ('ns/after', b'v2')):
                g = m.get(k, stale=True)
                self.assertEqual(g.status, 200, (m.id, g))
                self.assertEqual(g.body, v)
        # And all of it is in the WALs and stores: a restart recovers it.
        for m in c.all():
            self.assertEqual(m.terminate(), 0)
        c.start()
        c.wait_leader()
        self.assertGreaterEqual(c.wait_converged(), idx)
        for m in c.all():
            g = m.get('ns/after', stale=True)
            self.assertEqual(g.status, 200, (m.id, g))
            self.assertEqual(g.body, b'v2')
        with open(leader.log_path) as f:
            text = f.read()
        self.assertIn('WAL write failed', text)
        self.assertIn('writes resume', text)


if __name__ == '__main__':
    try:
        harness.main()
    finally:
        for p in (SHIM, FLAG):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(_tmp)
