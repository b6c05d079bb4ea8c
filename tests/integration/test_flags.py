# test_flags.py - kvd startup errors (kvd --help; README.md): a bad flag, a
# missing required flag, a port in use or a founding list that places this
# member elsewhere make kvd print one line on stderr and exit non-zero.

import socket
import subprocess
import tempfile
import unittest

import harness
from harness import free_port


class FlagsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='kvd-flags-')
        self.data = self.tmp.name + '/data'

    def tearDown(self):
        self.tmp.cleanup()

    def base(self, cport=None, pport=None):
        cport = cport or free_port()
        pport = pport or free_port()
        return [harness.KVD, '--id', '1', '--data-dir', self.data,
                '--listen-client', '127.0.0.1:%d' % cport,
                '--listen-peer', '127.0.0.1:%d' % pport,
                '--initial-cluster', '1=http://127.0.0.1:%d' % pport]

    def expect_fail(self, args):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail('kvd did not exit: %r' % args)
        self.assertNotEqual(p.returncode, 0, args)
        lines = err.decode('utf-8', 'replace').splitlines()
        self.assertEqual(len(lines), 1, 'stderr of %r: %r' % (args, lines))
        self.assertTrue(lines[0].strip(), 'empty stderr line')
        return lines[0]

    def test_unknown_flag(self):
        line = self.expect_fail(self.base() + ['--no-such-flag'])
        self.assertIn('--no-such-flag', line)

    def test_missing_id(self):
        a = self.base()
        i = a.index('--id')
        del a[i:i + 2]
        self.expect_fail(a)

    def test_bad_id(self):
        for bad in ('0', '-3', 'abc', ''):
            a = self.base()
            a[a.index('--id') + 1] = bad
            self.expect_fail(a)

    def test_bad_number(self):
        self.expect_fail(self.base() + ['--heartbeat-ms', 'fast'])

    def test_bad_snapshot_keep(self):
        for bad in ('0', '101', 'abc'):
            line = self.expect_fail(self.base() + ['--snapshot-keep', bad])
            self.assertIn('--snapshot-keep', line)

    def test_bad_connection_limits(self):
        for flag, bad in (('--max-connections', '0'),
                          ('--max-connections', '1000001'),
                          ('--max-connections', 'many'),
                          ('--header-timeout-ms', '0'),
                          ('--header-timeout-ms', '600001')):
            line = self.expect_fail(self.base() + [flag, bad])
            self.assertIn(flag, line)

    def test_help_names_the_connection_limits(self):
        out = subprocess.run([harness.KVD, '--help'], capture_output=True,
                             timeout=20)
        self.assertEqual(out.returncode, 0)
        for flag in (b'--max-connections', b'--header-timeout-ms'):
            self.assertIn(flag, out.stdout)

    def test_linearizable_reads_mode_checked(self):
        line = self.expect_fail(self.base() + ['--linearizable-reads',
                                               'sometimes'])
        self.assertIn('--linearizable-reads', line)
        # A lease needs an election timeout of at least 4 ticks (a tick
        # is half the heartbeat, at most 50 ms): 150 ms is 3.
        line = self.expect_fail(self.base() + [
            '--linearizable-reads', 'lease', '--heartbeat-ms', '100',
            '--election-timeout-ms', '150'])
        self.assertIn('4 ticks', line)

    def test_missing_value(self):
        self.expect_fail(self.base() + ['--election-timeout-ms'])

    def test_client_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        try:
            port = s.getsockname()[1]
            line = self.expect_fail(self.base(cport=port))
            self.assertIn(str(port), line)
        finally:
            s.close()

    def test_peer_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        try:
            port = s.getsockname()[1]
            line = self.expect_fail(self.base(pport=port))
            self.assertIn(str(port), line)
        finally:
            s.close()

    def test_own_initial_cluster_entry_must_be_where_it_is_reached(self):
        # A founding member whose entry names another host or port would
        # start in a cluster that never forms: refused, with one line.
        pport = free_port()
        for listed in ('http://localhost:%d' % pport,
                       'http://127.0.0.1:%d' % free_port()):
            a = self.base(pport=pport)
            a[a.index('--initial-cluster') + 1] = '1=' + listed
            line = self.expect_fail(a)
            self.assertIn('--initial-cluster', line)
            self.assertIn(listed, line)
        # --advertise-peer is where it is reached when given.
        a = self.base(pport=pport)
        a[a.index('--initial-cluster') + 1] = '1=http://127.0.0.1:%d' % pport
        line = self.expect_fail(a + ['--advertise-peer',
                                     'http://127.0.0.9:%d' % pport])
        self.assertIn('http://127.0.0.9:%d' % pport, line)


if __name__ == '__main__':
    harness.main()
