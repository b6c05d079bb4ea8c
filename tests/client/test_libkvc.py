# test_libkvc.py - runs the Check suite test_libkvc (libkvc's API) against
# a real 3-member cluster.
#
# argv[1]: kvd; environment TEST_LIBKVC: the test_libkvc binary.

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest  # noqa: E402


class LibkvcTest(ClusterTest):
    def test_check_suite(self):
        env = dict(os.environ, KVC_ENDPOINTS=self.cluster.endpoints())
        p = subprocess.run([os.environ['TEST_LIBKVC']], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stdout.write(out)
        self.assertEqual(p.returncode, 0, out[-4000:])
        self.assertIn('100%: Checks: ', out)


if __name__ == '__main__':
    harness.main()
