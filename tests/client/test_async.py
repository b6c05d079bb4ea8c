# test_async.py - libkvc's event-loop API (kvc_async.h): runs the Check
# suite test_libkvc_async against a real 3-member kvd cluster; its last test
# kills -9 the member at the first endpoint mid-run.
#
# argv[1]: kvd, then optional unittest names; environment TEST_LIBKVC_ASYNC:
# the test_libkvc_async binary (the test is skipped without it).

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest  # noqa: E402


class LibkvcAsyncTest(ClusterTest):
    def test_check_suite(self):
        exe = os.environ.get('TEST_LIBKVC_ASYNC')
        if not exe:
            self.skipTest('TEST_LIBKVC_ASYNC not set')
        first = list(self.cluster.members.values())[0]
        # The suite kills it; the harness must not take that for a crash.
        first.expected_exit = True
        env = dict(os.environ, KVC_ENDPOINTS=self.cluster.endpoints(),
                   KVC_KILL_PID=str(first.proc.pid))
        p = subprocess.run([exe], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=900)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stdout.write(out)
        first.kill()
        self.assertEqual(p.returncode, 0, out[-4000:])
        self.assertIn('100%: Checks: ', out)


if __name__ == '__main__':
    harness.main()
