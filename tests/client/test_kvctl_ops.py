# test_kvctl_ops.py - kvctl's everyday operations against a real 3-member
# kvd cluster: --version, endpoint health and endpoint status (one dead
# endpoint fails them), status probing members in parallel within
# --timeout and exiting 3 without a leader.
#
# argv[1]: kvd, then optional unittest names; environment KVCTL: the kvctl
# binary.

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402
from test_kvctl import KVCTL, kvctl  # noqa: E402


def dead_url():
    """A client URL nobody listens on."""
    return 'http://127.0.0.1:%d' % harness.free_port()


class OpsTest(ClusterTest):
    def run_ok(self, args, **kw):
        rc, out, err = kvctl(args, self.cluster.endpoints(), **kw)
        self.assertEqual(rc, 0, 'kvctl %r: %s' % (args, err))
        return out

    def test_version(self):
        rc, out, err = kvctl(['--version'])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.decode(), r'^kvctl \d+\.\d+\.\d+\n$')

    def test_endpoint_health(self):
        c = self.cluster
        c.wait_ready()
        lines = self.run_ok(['endpoint', 'health']).decode().splitlines()
        self.assertEqual(lines[0].split(),
                         ['ENDPOINT', 'HEALTHY', 'REACHABLE', 'READY',
                          'LEADER', 'TOOK', 'ERROR'])
        rows = [ln.split() for ln in lines[1:]]
        self.assertEqual(sorted(r[0] for r in rows),
                         sorted(m.client_url for m in c.all()))
        for r in rows:
            self.assertEqual(r[1:4], ['true', 'yes', 'yes'], r)
            self.assertIn(int(r[4]), (1, 2, 3))
            self.assertTrue(r[5].endswith('ms'), r)
        j = json.loads(self.run_ok(['-o', 'json', 'endpoint', 'health']))
        self.assertEqual(len(j['endpoints']), 3)
        for e in j['endpoints']:
            self.assertIs(e['healthy'], True)
            self.assertIs(e['ready'], True)
            self.assertGreater(e['leader'], 0)
            self.assertGreaterEqual(e['took_ms'], 0)

    def test_endpoint_health_one_dead_exits_3(self):
        c = self.cluster
        c.wait_ready()
        dead = dead_url()
        eps = c.endpoints() + ',' + dead
        rc, out, err = kvctl(['endpoint', 'health'], eps)
        self.assertEqual(rc, 3, err)
        rows = {ln.split()[0]: ln.split() for ln in
                out.decode().splitlines()[1:]}
        self.assertEqual(rows[dead][1:4], ['false', 'no', 'no'])
        self.assertIn('refused', out.decode())
        for m in c.all():
            self.assertEqual(rows[m.client_url][1], 'true')
        rc, out, err = kvctl(['-o', 'json', 'endpoint', 'health'], eps)
        self.assertEqual(rc, 3, err)
        bad = [e for e in json.loads(out)['endpoints'] if not e['healthy']]
        self.assertEqual([e['endpoint'] for e in bad], [dead])
        self.assertIs(bad[0]['reachable'], False)
        self.assertIn('error', bad[0])

    def test_endpoint_status(self):
        c = self.cluster
        lines = self.run_ok(['endpoint', 'status']).decode().splitlines()
        self.assertEqual(lines[0].split(),
                         ['ENDPOINT', 'ID', 'STATE', 'TERM', 'LEADER',
                          'COMMIT', 'APPLIED', 'LAST', 'SNAPSHOT'])
        ids = {ln.split()[0]: int(ln.split()[1]) for ln in lines[1:]}
        self.assertEqual(ids, {m.client_url: m.id for m in c.all()})
        j = json.loads(self.run_ok(['-o', 'json', 'endpoint', 'status']))
        self.assertEqual(sorted(e['id'] for e in j['endpoints']), [1, 2, 3])
        rc, out, err = kvctl(['endpoint', 'status'],
                             c.endpoints() + ',' + dead_url())
        self.assertEqual(rc, 3, err)

    def test_endpoint_usage(self):
        for args in (['endpoint'], ['endpoint', 'bogus'],
                     ['endpoint', 'health', 'x']):
            rc, out, err = kvctl(args, self.cluster.endpoints())
            self.assertEqual(rc, 2, '%r: %s' % (args, err))

    def test_zz_status_in_parallel_within_timeout_and_no_leader(self):
        # Two members stopped (SIGSTOP: they accept connections and never
        # answer). Asked one after another, each for 2 s, they took over
        # 4 s; asked in parallel, status ends within its --timeout of 1 s
        # (plus room for starting a process on a loaded machine).
        c = self.cluster
        lid, _ = c.wait_leader()
        others = [m for m in c.all() if m.id != lid]
        alone = others[0]
        stopped = [c[lid], others[1]]
        for m in stopped:
            m.pause()
        try:
            t0 = time.monotonic()
            rc, out, err = kvctl(['status'], c.endpoints(), timeout_s=1)
            took = time.monotonic() - t0
            self.assertIn(rc, (0, 3), err)
            self.assertLess(took, 3.5, err)
            rows = {int(ln.split()[0]): ln.split() for ln in
                    out.decode().splitlines()[1:]}
            for m in stopped:
                self.assertEqual(rows[m.id][-1], 'no')
            # The lone member gives up on its leader: then no member
            # knows one, and status says so with exit 3.
            wait_for(lambda: (alone.try_status() or {}).get('leader', 1)
                     == 0, what='member %d knows no leader' % alone.id)
            rc, out, err = kvctl(['status'], c.endpoints(), timeout_s=2)
            self.assertEqual(rc, 3, err)
            self.assertIn('no leader known', err)
            self.assertIn(b'REACHABLE', out)
            rc, out, err = kvctl(['-o', 'json', 'status'], c.endpoints(),
                                 timeout_s=2)
            self.assertEqual(rc, 3, err)
            self.assertEqual(json.loads(err)['error'], 'unavailable')
        finally:
            for m in stopped:
                m.resume()
        c.wait_leader()


if __name__ == '__main__':
    if not KVCTL or not os.access(KVCTL, os.X_OK):
        sys.stderr.write('set KVCTL to the kvctl binary\n')
        sys.exit(1)
    harness.main()
