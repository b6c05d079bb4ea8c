# test_service.py - kvd as a service (DESIGN.md §1.10): readiness and stop
# notices on $NOTIFY_SOCKET (systemd's Type=notify), SIGHUP leaves it
# serving, a member started from --config FILE alone, log lines on stderr
# (as JSON with --log-format json) and nothing on stdout, the unit file
# passes `systemd-analyze verify`, and every flag of `kvd --help` is in
# docs/kvd.8 and README.md.
#
# argv[1] is the kvd binary, argv[2] the built kvd.service, argv[3] the
# source root.

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import free_port, wait_for  # noqa: E402

UNIT = None
ROOT = None


def ready(port):
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
        c.request('GET', '/readyz')
        return c.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False


class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='kvd-service-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def write_config(self, extra=''):
        self.cport, self.pport = free_port(), free_port()
        path = os.path.join(self.tmp, 'kvd.conf')
        with open(path, 'w') as f:
            f.write('# a member from its file alone\n'
                    'id = 1\n'
                    'data-dir = %s/data\n'
                    'listen-client = 127.0.0.1:%d   # clients\n'
                    'listen-peer = 127.0.0.1:%d\n'
                    'initial-cluster = 1=http://127.0.0.1:%d\n%s'
                    % (self.tmp, self.cport, self.pport, self.pport, extra))
        return path

    def start(self, args, env=None):
        out = open(os.path.join(self.tmp, 'stdout'), 'wb')
        err = open(os.path.join(self.tmp, 'stderr'), 'wb')
        p = subprocess.Popen([harness.KVD] + args, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, env=env)
        out.close()
        err.close()
        self.procs.append(p)
        return p

    def output(self, name):
        with open(os.path.join(self.tmp, name), 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def test_notify_socket_reload_and_stop(self):
        sock_path = os.path.join(self.tmp, 'notify')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(60)
        self.addCleanup(s.close)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        p = self.start(['--config', self.write_config()], env)
        msg = s.recv(4096).decode()
        self.assertIn('READY=1', msg.split('\n'))
        # Ready means serving: /readyz answers once a leader is known.
        wait_for(lambda: ready(self.cport), what='the member ready')
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: 'SIGHUP' in self.output('stderr'),
                 what='the SIGHUP logged')
        self.assertIsNone(p.poll())
        self.assertTrue(ready(self.cport))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(60), 0)
        self.assertIn('STOPPING=1', s.recv(4096).decode().split('\n'))

    def test_abstract_notify_socket(self):
        name = '\0kvd-test-%d' % os.getpid()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(name)
        s.settimeout(60)
        self.addCleanup(s.close)
        env = dict(os.environ, NOTIFY_SOCKET='@' + name[1:])
        self.start(['--config', self.write_config()], env)
        self.assertIn('READY=1', s.recv(4096).decode().split('\n'))

    def test_json_logs_on_stderr_and_nothing_on_stdout(self):
        p = self.start(['--config', self.write_config('log-format = json\n'),
                        '--log-level', 'info'])
        wait_for(lambda: ready(self.cport), what='the member ready')
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(60), 0)
        self.assertEqual(self.output('stdout'), '')
        lines = self.output('stderr').splitlines()
        self.assertGreater(len(lines), 3)
        for ln in lines:
            o = json.loads(ln)
            self.assertEqual(sorted(o), ['level', 'member', 'msg', 'ts'])
            self.assertEqual(o['member'], 1)
            self.assertIn(o['level'], ('debug', 'info', 'warn', 'error'))
            self.assertRegex(o['ts'],
                             r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertTrue(any('ready to serve' in json.loads(ln)['msg']
                            for ln in lines))

    def test_command_line_wins_over_the_file(self):
        # A heartbeat not below the election timeout: refused from the
        # file, fine once the command line sets another.
        path = self.write_config('heartbeat-ms = 5000\n')
        p = self.start(['--config', path])
        self.assertEqual(p.wait(30), 2)
        err = self.output('stderr').splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn('--heartbeat-ms', err[0])
        p = self.start(['--config', path, '--heartbeat-ms', '50'])
        wait_for(lambda: ready(self.cport), what='the member ready')
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(60), 0)

    def test_bad_config_line_names_file_and_line(self):
        p = self.start(['--config', self.write_config('heartbeat-ms = x\n')])
        self.assertEqual(p.wait(30), 2)
        err = self.output('stderr').splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn('kvd.conf:7: --heartbeat-ms', err[0])

    @unittest.skipUnless(shutil.which('systemd-analyze'),
                         'systemd-analyze is not installed')
    def test_unit_verifies(self):
        with open(UNIT) as f:
            text = f.read()
        for key in ('Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID',
                    'ProtectSystem=strict', 'NoNewPrivileges=yes',
                    'ReadWritePaths=/var/lib/kvd'):
            self.assertIn(key + '\n', text)
        # Verified with ExecStart on the built binary (the installed path
        # need not exist here).
        unit = os.path.join(self.tmp, 'kvd.service')
        with open(unit, 'w') as f:
            f.write(re.sub(r'^ExecStart=\S+', 'ExecStart=' + harness.KVD,
                           text, flags=re.M))
        r = subprocess.run(['systemd-analyze', 'verify', '--man=no', unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode())

    def test_every_flag_is_documented(self):
        help_text = subprocess.run([harness.KVD, '--help'],
                                   stdout=subprocess.PIPE).stdout.decode()
        flags = set(re.findall(r'^  (--[a-z-]+)', help_text, flags=re.M))
        self.assertIn('--config', flags)
        with open(os.path.join(ROOT, 'docs', 'kvd.8')) as f:
            man = f.read().replace('\\-', '-')
        with open(os.path.join(ROOT, 'README.md')) as f:
            readme = f.read()
        for fl in sorted(flags):
            self.assertIn(fl, man, 'docs/kvd.8 lacks %s' % fl)
            if fl not in ('--help', '--version'):
                self.assertIn('`' + fl, readme, 'README lacks %s' % fl)


if __name__ == '__main__':
    UNIT = sys.argv.pop(2)
    ROOT = sys.argv.pop(2)
    harness.main()
