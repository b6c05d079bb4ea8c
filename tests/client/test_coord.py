# test_coord.py - leases, transactions, prefix deletes and locks from the
# client side: the Check suite test_libkvc_coord (libkvc) and kvctl's lease,
# txn, del --prefix, put --lease and lock commands with their exit codes,
# first against a stand-in member (standin_coord.py), then against a real
# 3-member kvd cluster. Locks: several `kvctl lock` started at once never
# overlap and enter in the order they queued (their keys' indexes); a
# holder's kvctl killed -9 frees the lock after the TTL; kvctl exits with
# CMD's status; a holder whose lease is revoked, or whose members all stop
# answering, kills CMD and exits 5 ("lock lost").
#
# argv[1]: kvd, then optional unittest names; environment KVCTL: the kvctl
# binary, TEST_LIBKVC_COORD: the test_libkvc_coord binary (its test is
# skipped without it).

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

KVCTL = os.environ.get('KVCTL', '')


def run(args, endpoints, stdin=None, wait=120):
    """Runs kvctl to its end; returns (exit status, stdout, stderr)."""
    env = dict(os.environ)
    env.pop('KVCTL_ENDPOINTS', None)
    p = subprocess.run([KVCTL, '--endpoints', endpoints] + list(args),
                       env=env, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=wait)
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def start(args, endpoints):
    env = dict(os.environ)
    env.pop('KVCTL_ENDPOINTS', None)
    return subprocess.Popen([KVCTL, '--endpoints', endpoints] + list(args),
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


class CoordCases:
    """The tests both kinds of member run; subclasses give endpoints()."""

    def name(self, what):
        return 'coord-%s-%d-%d' % (what, os.getpid(), time.monotonic_ns())

    def test_libkvc_suite(self):
        exe = os.environ.get('TEST_LIBKVC_COORD')
        if not exe:
            self.skipTest('TEST_LIBKVC_COORD not set')
        env = dict(os.environ, KVC_ENDPOINTS=self.endpoints())
        p = subprocess.run([exe], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stdout.write(out)
        self.assertEqual(p.returncode, 0, out[-4000:])
        self.assertIn('100%: Checks: ', out)

    def test_kvctl_lease_commands(self):
        ep = self.endpoints()
        rc, out, err = run(['lease', 'grant', '30'], ep)
        self.assertEqual(rc, 0, err)
        lease = int(out)
        key = self.name('lk')
        rc, out, err = run(['put', key, 'v', '--lease', str(lease)], ep)
        self.assertEqual(rc, 0, err)
        rc, out, err = run(['-o', 'json', 'lease', 'info', str(lease)], ep)
        self.assertEqual(rc, 0, err)
        info = json.loads(out)
        self.assertEqual(info['keys'], [key])
        self.assertEqual(info['ttl'], 30)
        rc, out, err = run(['lease', 'list'], ep)
        self.assertEqual(rc, 0, err)
        self.assertIn(str(lease), [line.split('\t')[0]
                                   for line in out.splitlines()])
        rc, out, err = run(['lease', 'keepalive', str(lease), '--once'], ep)
        self.assertEqual((rc, out), (0, '30\n'), err)
        # Without --once: a TTL line each time, until SIGTERM (exit 0).
        p = start(['lease', 'keepalive', str(lease)], ep)
        line = p.stdout.readline()
        self.assertEqual(line, b'30\n')
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)
        p.stdout.close()
        p.stderr.close()
        rc, out, err = run(['lease', 'revoke', str(lease)], ep)
        self.assertEqual((rc, out), (0, '1\n'), err)
        rc, out, err = run(['get', key], ep)
        self.assertEqual(rc, 1)
        # The lease is gone: 1 for each of them.
        for args in (['lease', 'keepalive', str(lease), '--once'],
                     ['lease', 'keepalive', str(lease)],
                     ['lease', 'revoke', str(lease)],
                     ['lease', 'info', str(lease)],
                     ['put', key, 'v', '--lease', str(lease)]):
            rc, out, err = run(args, ep)
            self.assertEqual(rc, 1, (args, err))
            self.assertIn('not found', err)
        # -o json: {"id", "ttl"} for a grant, {"id", "deleted"} for a
        # revoke.
        rc, out, err = run(['-o', 'json', 'lease', 'grant', '30'], ep)
        self.assertEqual(rc, 0, err)
        lease = json.loads(out)['id']
        self.assertEqual(json.loads(out), {'id': lease, 'ttl': 30})
        rc, out, err = run(['-o', 'json', 'lease', 'revoke', str(lease)], ep)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {'id': lease, 'deleted': 0})
        for args in (['lease', 'grant', '0'], ['lease', 'grant', '86401'],
                     ['lease', 'revoke', '0'], ['lease', 'fly'],
                     ['lease', 'grant', '5', '--once'],
                     ['put', key, 'v', '--lease', 'x']):
            rc, out, err = run(args, ep)
            self.assertEqual(rc, 2, (args, err))

    def test_kvctl_del_prefix(self):
        ep = self.endpoints()
        p = self.name('dp') + '/'
        for i in range(3):
            self.assertEqual(run(['put', p + str(i), 'v'], ep)[0], 0)
        rc, out, err = run(['del', '--prefix', p], ep)
        self.assertEqual((rc, out), (0, '3\n'), err)
        rc, out, err = run(['-o', 'json', 'del', '--prefix', p], ep)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)['deleted'], 0)
        self.assertEqual(run(['del', '--prefix', ''], ep)[0], 2)

    def test_kvctl_txn_exit_codes(self):
        ep = self.endpoints()
        key = self.name('txn')
        txn = json.dumps({
            'compare': [{'key': key, 'target': 'exists', 'op': '==',
                         'value': False}],
            'success': [{'put': {'key': key, 'value': 'djE='}}],
            'failure': [{'get': {'key': key}}]})
        rc, out, err = run(['txn'], ep, stdin=txn.encode())
        self.assertEqual(rc, 0, err)
        res = json.loads(out)
        self.assertTrue(res['succeeded'])
        self.assertEqual(len(res['results']), 1)
        with tempfile.NamedTemporaryFile('w', suffix='.json') as f:
            f.write(txn)
            f.flush()
            rc, out, err = run(['txn', '--file', f.name], ep)
        self.assertEqual(rc, 1, err)
        res = json.loads(out)
        self.assertFalse(res['succeeded'])
        self.assertEqual(res['results'][0]['value'], 'djE=')
        rc, out, err = run(['txn'], ep, stdin=b'not json')
        self.assertEqual(rc, 4, err)
        rc, out, err = run(['txn'], ep, stdin=b'{"compare": 3}')
        self.assertEqual(rc, 4, err)
        rc, out, err = run(['txn', '--file', '/nonexistent/x'], ep)
        self.assertEqual(rc, 4, err)
        self.assertEqual(run(['txn', 'extra'], ep)[0], 2)

    def test_kvctl_lock_exit_status(self):
        ep = self.endpoints()
        name = self.name('st')
        rc, out, err = run(['lock', name, '--', 'sh', '-c',
                            'echo "$KVCTL_LOCK_KEY $KVCTL_LOCK_LEASE"; '
                            'exit 7'], ep)
        self.assertEqual(rc, 7, err)
        k, lease = out.split()
        self.assertEqual(k, '%s/%016x' % (name, int(lease)))
        rc, out, err = run(['lock', name, '--', 'sh', '-c',
                            'kill -TERM $$'], ep)
        self.assertEqual(rc, 128 + signal.SIGTERM, err)
        rc, out, err = run(['lock', name, '--', '/nonexistent/cmd'], ep)
        self.assertEqual(rc, 127, err)
        # Released and revoked each time: nothing left.
        rc, out, err = run(['list', name + '/'], ep)
        self.assertEqual((rc, out), (0, ''), err)
        for args in (['lock', name], ['lock', name, '--ttl', '0', 'true'],
                     ['lock', '', 'true']):
            self.assertEqual(run(args, ep)[0], 2, args)

    def test_kvctl_lock_fair_no_overlap(self):
        """Four kvctl lock started at once: no two sections overlap, and
        they enter in the order of their waiter keys' indexes."""
        ep = self.endpoints()
        name = self.name('fair')
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, 'log')
            section = ('echo "enter $ID $KVCTL_LOCK_INDEX" >> %s; '
                       'sleep 0.3; echo "exit $ID" >> %s' % (log, log))
            procs = []
            for i in range(4):
                env = dict(os.environ, ID=str(i))
                env.pop('KVCTL_ENDPOINTS', None)
                procs.append(subprocess.Popen(
                    [KVCTL, '--endpoints', ep, 'lock', name, '--ttl', '10',
                     '--', 'sh', '-c', section], env=env,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            for p in procs:
                _, err = p.communicate(timeout=300)
                self.assertEqual(p.returncode, 0, err)
            with open(log) as f:
                lines = [line.split() for line in f]
        self.assertEqual(len(lines), 8, lines)
        indexes = []
        for i in range(0, 8, 2):
            self.assertEqual(lines[i][0], 'enter', lines)
            self.assertEqual(lines[i + 1], ['exit', lines[i][1]], lines)
            indexes.append(int(lines[i][2]))
        self.assertEqual(indexes, sorted(indexes), lines)
        self.assertEqual(len(set(indexes)), 4, lines)

    def test_kvctl_lock_holder_killed_frees_after_ttl(self):
        ep = self.endpoints()
        name = self.name('kill')
        with tempfile.TemporaryDirectory() as d:
            mark = os.path.join(d, 'held')
            holder = start(['lock', name, '--ttl', '2', '--', 'sh', '-c',
                            'echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 600'
                            % (mark, mark, mark)], ep)
            wait_for(lambda: os.path.exists(mark), timeout=60,
                     what='the holder runs')
            with open(mark) as f:
                cmd_pid = int(f.read())
            holder.kill()
            holder.wait()
            holder.stdout.close()
            holder.stderr.close()
            # CMD dies with its kvctl; the lock goes with the lease.
            wait_for(lambda: not pid_alive(cmd_pid), timeout=30,
                     what='CMD killed with kvctl')
            rc, out, err = run(['lock', name, '--', 'echo', 'got it'], ep,
                               wait=120)
            self.assertEqual((rc, out), (0, 'got it\n'), err)

    def test_kvctl_lock_lease_revoked_is_lost(self):
        """A keepalive that finds the lease gone: CMD killed, exit 5."""
        ep = self.endpoints()
        name = self.name('revoked')
        with tempfile.TemporaryDirectory() as d:
            mark = os.path.join(d, 'held')
            holder = start(['lock', name, '--ttl', '3', '--', 'sh', '-c',
                            'echo $$ $KVCTL_LOCK_LEASE > %s.tmp; '
                            'mv %s.tmp %s; exec sleep 600'
                            % (mark, mark, mark)], ep)
            wait_for(lambda: os.path.exists(mark), timeout=60,
                     what='the holder runs')
            with open(mark) as f:
                cmd_pid, lease = (int(x) for x in f.read().split())
            self.assertEqual(run(['lease', 'revoke', str(lease)], ep)[0], 0)
            rc = holder.wait(timeout=120)
            err = holder.stderr.read().decode()
            holder.stdout.close()
            holder.stderr.close()
            self.assertEqual(rc, 5, err)
            self.assertIn('lock lost', err)
            self.assertFalse(pid_alive(cmd_pid))


class StandInCoordTest(CoordCases, unittest.TestCase):
    """Against standin_coord.py, one member in a process of its own."""

    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'standin_coord.py')],
            stdout=subprocess.PIPE)
        cls.url = cls.proc.stdout.readline().decode().strip()

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stdout.close()

    def endpoints(self):
        return self.url

    def test_lock_lost_when_the_member_stops(self):
        """No keepalive answered: CMD is killed before the lease could
        end, kvctl exits 5 with "lock lost"."""
        self.lock_lost([self.proc])


class ClusterCoordTest(CoordCases, ClusterTest):
    def endpoints(self):
        return self.cluster.endpoints()

    def test_zz_lock_lost_when_members_stop(self):
        self.cluster.wait_leader()
        self.lock_lost([m.proc for m in self.cluster.live()])


def lock_lost(self, procs):
    ep = self.endpoints()
    name = self.name('lost')
    with tempfile.TemporaryDirectory() as d:
        mark = os.path.join(d, 'held')
        holder = start(['lock', name, '--ttl', '2', '--', 'sh', '-c',
                        'echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 600'
                        % (mark, mark, mark)], ep)
        wait_for(lambda: os.path.exists(mark), timeout=60,
                 what='the holder runs')
        with open(mark) as f:
            cmd_pid = int(f.read())
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        try:
            rc = holder.wait(timeout=120)
            err = holder.stderr.read().decode()
            alive = pid_alive(cmd_pid)
        finally:
            for p in procs:
                p.send_signal(signal.SIGCONT)
            holder.stdout.close()
            holder.stderr.close()
        self.assertEqual(rc, 5, err)
        self.assertIn('lock lost: the lease could not be kept alive', err)
        self.assertFalse(alive)


CoordCases.lock_lost = lock_lost


if __name__ == '__main__':
    harness.main()
