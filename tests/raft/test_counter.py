# test_counter.py - raft/examples/counter, libkvdraft's node API as a
# program uses it: three members on loopback, each with its own data dir
# and stdin. Adds go to every member (a follower forwards a proposal to
# the leader); a get on any member then gives the sum of every
# acknowledged add (ReadIndex: a linearizable read on any member); a
# member killed with SIGKILL and restarted rebuilds the sum from its newest
# snapshot (--snapshot-entries 5) and the log after it.
#
# The adds are distinct powers of two, so a get's value says exactly
# which adds it holds: all the acknowledged ones, and of the ones whose
# outcome is unknown (a timeout while leadership moved) any. No test step
# waits for a fixed time: each waits for an answer or polls with a
# generous deadline, and none assumes who leads.
#
# Usage: test_counter.py COUNTER (meson passes counter_exe.full_path()).

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
from harness import free_port, wait_for  # noqa: E402

COUNTER = ''
WAIT_S = 60.0  # a busy 2-core machine, perhaps a sanitizer build
BACKOFF_MAX_S = 2.0  # the transport's default backoff_max_ms
ANSWER_S = 60.0  # every command is answered within the request timeout


class Member:
    """One counter process (the program @exe): commands go to its stdin, a
    thread collects its stdout lines, its stderr (the node's log) goes to
    a file. test_install.py runs the counter it builds with it too."""

    def __init__(self, root, mid, exe=None):
        self.exe = exe or COUNTER
        self.mid = mid
        self.port = free_port()
        self.data_dir = os.path.join(root, 'm%d' % mid)
        self.log_path = os.path.join(root, 'm%d.log' % mid)
        self.proc = None

    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def start(self, initial_cluster, env=None, snapshot_entries=5):
        self.log = open(self.log_path, 'ab')
        self.log_start = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(
            [self.exe, '--id', str(self.mid), '--data-dir', self.data_dir,
             '--listen-peer', '127.0.0.1:%d' % self.port,
             '--initial-cluster', initial_cluster,
             '--snapshot-entries', str(snapshot_entries)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines),
                         daemon=True).start()

    @staticmethod
    def _read(proc, lines):
        for raw in proc.stdout:
            lines.put(raw.decode('utf-8', 'replace').rstrip('\n'))
        lines.put(None)  # EOF

    def log_since_start(self):
        with open(self.log_path, 'rb') as f:
            f.seek(self.log_start)
            return f.read().decode('utf-8', 'replace')

    def ask(self, cmd):
        """Sends @cmd and returns its answer, the next line of output;
        None when the process has ended."""
        try:
            self.proc.stdin.write((cmd + '\n').encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        try:
            return self.lines.get(timeout=ANSWER_S)
        except queue.Empty:
            raise AssertionError('member %d: no answer to %r within %.0fs'
                                 % (self.mid, cmd, ANSWER_S))

    def get(self):
        """Asks for the value until a get succeeds (none does while no
        leader is known); None when the process exited."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            line = self.ask('get')
            if line is None:
                return None
            if line.startswith('value '):
                return int(line.split()[1])
            if not line.startswith('error: get: '):
                raise AssertionError('member %d: get: %r' % (self.mid, line))
            time.sleep(0.05)  # poll interval before asking again
        raise AssertionError('member %d: no get succeeded within %.0fs'
                             % (self.mid, WAIT_S))

    def add(self, n):
        """Adds @n until it is acknowledged: returns its index; None when
        its outcome is unknown (not retried: it could apply twice)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            line = self.ask('add %d' % n)
            if line is None:
                raise AssertionError('member %d exited (status %r)'
                                     % (self.mid, self.proc.wait()))
            hit = re.fullmatch(r'added (-?\d+) at (\d+)', line)
            if hit and int(hit.group(1)) == n:
                return int(hit.group(2))
            if not line.startswith('error: add %d: ' % n):
                raise AssertionError('member %d: add %d: %r'
                                     % (self.mid, n, line))
            if line.endswith('(outcome unknown)'):
                return None
            time.sleep(0.05)  # refused (no leader yet): ask again
        raise AssertionError('member %d: add %d not taken within %.0fs'
                             % (self.mid, n, WAIT_S))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def terminate(self):
        """SIGTERM: the counter closes its node and exits; its status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=WAIT_S)
        self._close()
        return rc

    def _close(self):
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.log.close()


def newest_snapshot(member):
    """The index of the newest snapshot @member logged taking, or 0."""
    taken = re.findall(r'INFO snapshot at index (\d+) term',
                       member.log_since_start())
    return max((int(i) for i in taken), default=0)


class CounterTest(unittest.TestCase):
    def setUp(self):
        if not COUNTER or not os.access(COUNTER, os.X_OK):
            self.fail('counter binary not found: %r' % COUNTER)
        self.root = tempfile.mkdtemp(prefix='kvdraft-counter-')
        self.members = {}
        self.acked = 0    # the sum of the acknowledged adds
        self.unknown = 0  # the adds whose outcome is unknown (bits)
        self.passed = False

    def tearDown(self):
        for m in self.members.values():
            m.kill()
        if not self.passed:
            for m in self.members.values():
                sys.stderr.write('--- member %d log (%s) ---\n%s\n' % (
                    m.mid, m.log_path, open(m.log_path, errors='replace')
                    .read()[-4000:]))
            sys.stderr.write('data kept in %s\n' % self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def initial_cluster(self):
        return ','.join('%d=%s' % (m.mid, m.url())
                        for m in self.members.values())

    def start_cluster(self, n):
        """Starts @n members; when one cannot listen because its port was
        taken since free_port(), all start again on new ports."""
        for _ in range(5):
            for k in self.members:
                self.members[k].kill()
                shutil.rmtree(self.members[k].data_dir, ignore_errors=True)
            self.members = {i: Member(self.root, i) for i in range(1, n + 1)}
            for m in self.members.values():
                m.start(self.initial_cluster())
            # Every member answers a get once a leader is known.
            clash = [m for m in self.members.values()
                     if self.get(m, fail_on_exit=False) is None]
            if not clash:
                return
        self.fail('members could not listen on their ports')

    def get(self, m, fail_on_exit=True):
        """A get on @m (asked again while it fails); its value, or None
        when @m exited and not @fail_on_exit."""
        v = m.get()
        if v is None and fail_on_exit:
            self.fail('member %d exited' % m.mid)
        return v

    def add(self, m, n):
        """Adds @n on @m: counts it as acknowledged or as of unknown
        outcome; returns its index, or None."""
        idx = m.add(n)
        if idx is None:
            self.unknown |= n
        else:
            self.acked += n
        return idx

    def assertSum(self, value, who):
        """@value holds every acknowledged add and nothing but adds whose
        outcome is unknown."""
        extra = value - self.acked
        self.assertTrue(extra >= 0 and extra & ~self.unknown == 0,
                        '%s: value %d, acknowledged adds sum to %d, '
                        'unknown outcome: %#x'
                        % (who, value, self.acked, self.unknown))

    def test_sum_on_every_member_and_after_kill(self):
        self.start_cluster(3)
        ms = list(self.members.values())
        bit = 0
        indexes = []
        # Adds to every member in turn: followers forward them.
        for i in range(15):
            idx = self.add(ms[i % 3], 1 << bit)
            bit += 1
            if idx is not None:
                indexes.append(idx)
        self.assertEqual(indexes, sorted(indexes),
                         'adds answered one after the other apply in order')
        for m in ms:
            self.assertSum(self.get(m), 'get on member %d' % m.mid)

        # Member 3 (leader or not) has taken a snapshot by now, 16 or more
        # entries past 5 per snapshot.
        victim = self.members[3]
        snap_dir = os.path.join(victim.data_dir, 'snap')
        wait_for(lambda: any(f.endswith('.meta')
                             for f in os.listdir(snap_dir)),
                 timeout=WAIT_S, what='a snapshot on member 3')
        victim.kill()
        # The others go on without it (a new leader if it led).
        for i in range(4):
            self.add(ms[i % 2], 1 << bit)
            bit += 1
        victim.start(self.initial_cluster())
        self.assertSum(self.get(victim), 'get on member 3 after restart')
        log = victim.log_since_start()
        hit = re.search(r'recovered: .* applied=(\d+)', log)
        self.assertIsNotNone(hit, log[-2000:])
        self.assertGreater(int(hit.group(1)), 0,
                           'member 3 restored no snapshot:\n' + log[-2000:])
        # Its adds count too, and every member agrees.
        self.add(victim, 1 << bit)
        for m in ms:
            self.assertSum(self.get(m), 'get on member %d' % m.mid)
        for m in ms:
            self.assertEqual(m.terminate(), 0,
                             'member %d after SIGTERM' % m.mid)
        self.passed = True

    def test_a_received_snapshot_survives_a_restart(self):
        """A member that was down while the others compacted their logs
        is sent a snapshot; the node keeps it as its own newest snapshot
        before the log restarts after it, so after a kill -9 the member
        rebuilds its state from that file and the log."""
        self.start_cluster(3)
        ms = [self.members[1], self.members[2]]
        victim = self.members[3]
        bit = 0
        self.add(ms[0], 1 << bit)
        bit += 1
        self.assertSum(self.get(victim), 'get on member 3')
        victim.kill()
        # 40 entries at 5 per snapshot: the others' logs start far past
        # member 3's.
        for i in range(40):
            self.add(ms[i % 2], 1 << bit)
            bit += 1
        # Snapshots are taken in the background and rest after each copy,
        # so on a busy machine the others may not have compacted yet: a
        # member restarted now could catch up from their logs. Both keep
        # only entries past (index - 2) after a snapshot at index; one at
        # 20 or later leaves member 3 (at most a few entries) far behind,
        # whichever of them leads.
        wait_for(lambda: all(newest_snapshot(m) >= 20 for m in ms),
                 timeout=WAIT_S, what='snapshots at 20 or later on 1 and 2')
        # A lane to a member that is down keeps the messages queued since
        # its last failed attempt and delivers them when one succeeds
        # (transport.h, "Failures"): an append queued before the
        # compaction would hand member 3 the entries it lacks, and no
        # snapshot would be needed. Every attempt that fails drops the
        # queue, and a lane tries again within backoff_max_ms (2 s); past
        # twice that, with room for a slow loop, only messages queued
        # after the compaction are left.
        time.sleep(3 * BACKOFF_MAX_S)  # no outside sign of that attempt
        # It takes no snapshot of its own from now on (one every 100000
        # entries): the received one is the only one it could restart from.
        victim.start(self.initial_cluster(), snapshot_entries=100000)
        self.assertSum(self.get(victim), 'get on member 3 after restart')
        wait_for(lambda: 'installed snapshot at index' in
                 victim.log_since_start(),
                 timeout=WAIT_S, what='member 3 installs a snapshot')
        victim.kill()
        victim.start(self.initial_cluster(), snapshot_entries=100000)
        self.assertSum(self.get(victim),
                       'get on member 3 after a kill following the install')
        self.assertIsNone(victim.proc.poll(), victim.log_since_start())
        for m in self.members.values():
            self.assertEqual(m.terminate(), 0,
                             'member %d after SIGTERM' % m.mid)
        self.passed = True

    def test_numbers_are_range_checked(self):
        """One member: N must be a signed 64-bit integer, and an add that
        would overflow the counter is refused by apply(), alike on every
        member, leaving the counter as it was."""
        self.start_cluster(1)
        m = self.members[1]
        self.assertEqual(m.get(), 0)
        for bad in ('add 9223372036854775808', 'add -9223372036854775809',
                    'add 1x', 'add', 'add  1', 'add +1', 'sub 1', 'get 1'):
            self.assertEqual(m.ask(bad),
                             'error: %s: not "add N" or "get"' % bad)
        self.assertIsNotNone(m.add(9223372036854775807))
        self.assertEqual(m.ask('add 1'),
                         'error: add 1: the counter would overflow')
        self.assertIsNotNone(m.add(-9223372036854775807))  # 0
        self.assertIsNotNone(m.add(-9223372036854775807))
        self.assertIsNotNone(m.add(-1))  # the smallest int64
        self.assertEqual(m.ask('add -1'),
                         'error: add -1: the counter would overflow')
        self.assertRegex(m.ask('add -00'), r'^added 0 at \d+$')
        self.assertEqual(m.get(), -9223372036854775807 - 1)
        self.assertEqual(m.terminate(), 0)
        self.passed = True


if __name__ == '__main__':
    if len(sys.argv) > 1 and not sys.argv[1].startswith('-'):
        COUNTER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
