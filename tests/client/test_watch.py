# test_watch.py - `kvctl watch` and libkvc's watch: against stand-in members
# whose answers the test scripts (where a stream resumes, changes sharing an
# index, error events, 410 and 503, a server that breaks its promises), and
# against real 3-member kvd clusters (puts and deletes printed, --from
# replaying the history, -o json as the server sends it, the watched member
# killed -9 or terminated mid-stream with every acknowledged write seen
# exactly once in order, 410 as exit 4 naming the oldest index, SIGINT and
# SIGTERM, a reader that goes away, and the Check suite test_libkvc_watch).
#
# argv[1]: kvd, then optional unittest names; environment KVCTL: the kvctl
# binary, TEST_LIBKVC_WATCH: the test_libkvc_watch binary (its test is
# skipped without it).

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

KVCTL = os.environ.get('KVCTL', '')


def kvctl(args, endpoints, timeout_s=None, wait=120):
    """Runs kvctl to its end; returns (exit status, stdout text, stderr)."""
    cmd = [KVCTL, '--endpoints', endpoints]
    if timeout_s is not None:
        cmd += ['--timeout', str(timeout_s)]
    env = dict(os.environ)
    env.pop('KVCTL_ENDPOINTS', None)
    p = subprocess.run(cmd + list(args), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=wait)
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def kvctl_bg(args, endpoints, timeout_s=None):
    """Starts kvctl; a thread collects its stdout lines in .lines."""
    cmd = [KVCTL, '--endpoints', endpoints]
    if timeout_s is not None:
        cmd += ['--timeout', str(timeout_s)]
    env = dict(os.environ)
    env.pop('KVCTL_ENDPOINTS', None)
    p = subprocess.Popen(cmd + list(args), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.lines = []

    def read():
        for line in p.stdout:
            p.lines.append(line.decode('utf-8', 'replace').rstrip('\n'))
    p.reader = threading.Thread(target=read, daemon=True)
    p.reader.start()
    return p


def finish(p, timeout=120):
    """Waits for a kvctl_bg process; returns (status, lines, stderr)."""
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError('kvctl did not end within %ds; printed %r'
                             % (timeout, p.lines[-5:]))
    p.reader.join(timeout=30)
    err = p.stderr.read().decode('utf-8', 'replace')
    p.stdout.close()
    p.stderr.close()
    return p.returncode, p.lines, err


def connected_ports(pid):
    """The remote ports of the established TCP connections of process
    @pid (from its socket inodes and /proc/net/tcp)."""
    inodes = set()
    fd_dir = '/proc/%d/fd' % pid
    for fd in os.listdir(fd_dir):
        try:
            t = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if t.startswith('socket:['):
            inodes.add(t[8:-1])
    ports = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    x = line.split()
                    if x[3] == '01' and x[9] in inodes:  # ESTABLISHED
                        ports.add(int(x[2].split(':')[1], 16))
        except OSError:
            pass
    return ports


# --- stand-in members ---

def head(index=41, status='200 OK', ctype='application/x-ndjson'):
    h = 'HTTP/1.1 %s\r\nContent-Type: %s\r\n' % (status, ctype)
    if index is not None:
        h += 'X-Kv-Index: %d\r\n' % index
    return (h + 'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
            ).encode()


def chunk(obj):
    """One event line in one chunk."""
    data = (json.dumps(obj) + '\n').encode()
    return b'%x\r\n%s\r\n' % (len(data), data)


def put(key, value, index):
    return chunk({'type': 'put', 'key': key,
                  'value': base64.b64encode(value).decode(), 'index': index})


def delete(key, index):
    return chunk({'type': 'delete', 'key': key, 'index': index})


def progress(index):
    return chunk({'type': 'progress', 'index': index})


def error_event(code, **kw):
    return chunk(dict({'type': 'error', 'error': code, 'message': 'm'},
                      **kw))


END = b'0\r\n\r\n'


def answer(status, body, extra=''):
    body = json.dumps(body).encode()
    return ('HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s'
            'Content-Length: %d\r\nConnection: close\r\n\r\n'
            % (status, extra, len(body))).encode() + body


class StandIns:
    """@n listening sockets standing in for members. Each accepted
    connection takes the next script of @scripts (shared by all of them,
    so the order in which the client tries them does not matter): a list
    of bytes to send, ending in 'cut' (close at once, no end of the
    chunked body) or 'hold' (keep the stream open until the client
    closes it); a connection beyond the scripts is held. Requests are
    recorded as (socket number, path)."""

    def __init__(self, n, scripts):
        self.scripts = list(scripts)
        self.requests = []
        self.times = []  # time.monotonic() of each request
        self.lock = threading.Lock()
        self.socks = []
        self.threads = []
        self.closed = False
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            s.listen(16)
            self.socks.append(s)
            t = threading.Thread(target=self.accept_loop, args=(i, s),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def endpoints(self):
        return ','.join('http://127.0.0.1:%d' % s.getsockname()[1]
                        for s in self.socks)

    def accept_loop(self, i, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(i, c),
                             daemon=True).start()

    def serve(self, i, c):
        with c:
            c.settimeout(60)
            req = b''
            try:
                while b'\r\n\r\n' not in req:
                    got = c.recv(4096)
                    if not got:
                        return
                    req += got
            except OSError:
                return
            path = req.split(b'\r\n')[0].split(b' ')[1].decode()
            with self.lock:
                self.requests.append((i, path))
                self.times.append(time.monotonic())
                script = self.scripts.pop(0) if self.scripts else ['hold']
            try:
                for step in script:
                    if step == 'cut':
                        return
                    if step == 'hold':
                        while c.recv(4096):
                            pass
                        return
                    c.sendall(step)
            except OSError:
                return

    def froms(self):
        """The from= of each request in order (None when absent)."""
        out = []
        for _, path in self.requests:
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            out.append(int(q['from'][0]) if 'from' in q else None)
        return out

    def close(self):
        for s in self.socks:
            s.close()


class StandInTest(unittest.TestCase):
    """Where a watch resumes and what it refuses, with answers the test
    writes byte by byte."""

    def watch(self, scripts, args, n=1, timeout_s=5):
        s = StandIns(n, scripts)
        self.addCleanup(s.close)
        rc, out, err = kvctl(['-o', 'json', 'watch'] + args, s.endpoints(),
                             timeout_s=timeout_s)
        events = [json.loads(line) for line in out.splitlines()]
        return s, rc, events, err

    def test_resumes_after_the_open_index_when_no_change_came(self):
        # The first stream dies before any line: resume at X-Kv-Index + 1.
        s, rc, ev, err = self.watch(
            [[head(41), 'cut'],
             [head(50), put('k', b'v', 42), 'hold']],
            ['k', '--count', '1'])
        self.assertEqual(rc, 0, err)
        self.assertEqual(ev, [{'type': 'put', 'key': 'k', 'value': 'dg==',
                               'index': 42}])
        self.assertEqual(s.froms(), [None, 42])
        self.assertTrue(s.requests[0][1].startswith('/v1/watch?key=k'),
                        s.requests)

    def test_resumes_after_the_last_change_or_progress(self):
        s, rc, ev, err = self.watch(
            [[head(41), put('a/1', b'x', 42), progress(45), 'cut'],
             [head(60), progress(44), delete('a/1', 46), progress(46),
              'cut'],
             [head(60), put('a/2', b'y', 47), 'hold']],
            ['--prefix', 'a/', '--count', '3'])
        self.assertEqual(rc, 0, err)
        self.assertEqual([(e['type'], e['index']) for e in ev],
                         [('put', 42), ('delete', 46), ('put', 47)])
        # 46 from the progress (45) over the change (42); a progress
        # below the position (44) changes nothing; 47 once a progress
        # says the index of the last change (46) is complete (a prefix
        # watch would resume at 46 otherwise, as the next test shows).
        self.assertEqual(s.froms(), [None, 46, 47])
        self.assertIn('prefix=a%2F', s.requests[0][1])

    def test_empty_prefix_watches_every_key(self):
        s, rc, ev, err = self.watch(
            [[head(7), put('any', b'1', 8), delete('other/key', 9),
              'hold']],
            ['--prefix', '', '--count', '2'])
        self.assertEqual(rc, 0, err)
        self.assertEqual([e['key'] for e in ev], ['any', 'other/key'])
        self.assertEqual(s.requests[0][1], '/v1/watch?prefix=')

    def test_changes_sharing_an_index_resume_within_it(self):
        # A prefix watch cut after the first of a transaction's changes
        # resumes at that index and skips what it returned already.
        s, rc, ev, err = self.watch(
            [[head(None), put('t/a', b'1', 12), put('t/b', b'2', 12),
              'cut'],
             [head(20), put('t/a', b'1', 12), put('t/b', b'2', 12),
              put('t/c', b'3', 12), delete('t/a', 13), 'hold']],
            ['--prefix', 't/', '--from', '12', '--count', '4'])
        self.assertEqual(rc, 0, err)
        self.assertEqual([(e['key'], e['index']) for e in ev],
                         [('t/a', 12), ('t/b', 12), ('t/c', 12),
                          ('t/a', 13)])
        self.assertEqual(s.froms(), [12, 12])

    def test_error_events_and_ended_streams_resume_on_the_next_member(self):
        s, rc, ev, err = self.watch(
            [[head(10), put('k', b'1', 11),
              error_event('shutting_down'), END],
             [head(10), put('k', b'2', 12), END],
             [head(10), error_event('slow_consumer'), END],
             [head(10), error_event('removed'), 'cut'],
             [head(10), put('k', b'3', 13), 'hold']],
            ['k', '--count', '3'], n=2)
        self.assertEqual(rc, 0, err)
        self.assertEqual([e['index'] for e in ev], [11, 12, 13])
        self.assertEqual(s.froms(), [None, 12, 13, 13, 13])
        # Each new stream goes to the other member.
        members = [i for i, _ in s.requests]
        for a, b in zip(members, members[1:]):
            self.assertNotEqual(a, b, s.requests)

    def test_members_that_only_end_streams_are_retried_with_backoff(self):
        # Each stream is accepted and ends with an error event at once: the
        # watch keeps trying, but with growing pauses, not in a loop.
        s = StandIns(1, [[head(5), error_event('shutting_down'), END]] * 50)
        self.addCleanup(s.close)
        p = kvctl_bg(['watch', 'k'], s.endpoints())
        wait_for(lambda: len(s.times) >= 9, what='nine attempts')
        p.send_signal(signal.SIGINT)
        rc, lines, err = finish(p, timeout=60)
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [])
        # The pause before the 9th attempt is at least half of the
        # backoff's cap (1 s).
        self.assertGreaterEqual(s.times[8] - s.times[7], 0.45, s.times)

    def test_503_and_refused_members_are_skipped(self):
        dead = socket.socket()
        dead.bind(('127.0.0.1', 0))  # bound, never listening: refused
        self.addCleanup(dead.close)
        s = StandIns(1, [[answer('503 Service Unavailable',
                                 {'error': 'unavailable', 'message': 'full'},
                                 'Retry-After: 1\r\n')],
                         [head(5), put('k', b'v', 6), 'hold']])
        self.addCleanup(s.close)
        eps = s.endpoints() + ',http://127.0.0.1:%d' % dead.getsockname()[1]
        rc, out, err = kvctl(['watch', 'k', '--count', '1'], eps,
                             timeout_s=10)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, 'PUT\tk\tv\t6\n')

    def test_410_at_open_exit_4_naming_the_oldest_index(self):
        s, rc, ev, err = self.watch(
            [[answer('410 Gone', {'error': 'compacted', 'message': 'gone',
                                  'oldest': 77})]],
            ['k', '--from', '3'])
        self.assertEqual(rc, 4, err)
        self.assertIn('77', err)
        self.assertIn('compacted', err)
        self.assertEqual(len(s.requests), 1)

    def test_compacted_error_event_exit_4(self):
        s, rc, ev, err = self.watch(
            [[head(10), put('k', b'1', 11),
              error_event('compacted', oldest=500), END]],
            ['k'])
        self.assertEqual(rc, 4, err)
        self.assertEqual([e['index'] for e in ev], [11])
        self.assertIn('500', err)
        self.assertEqual(len(s.requests), 1)

    def test_broken_promises_exit_4(self):
        cases = [
            ('index backwards',
             [head(10), put('k', b'1', 12), put('k', b'2', 11), 'hold'],
             ['k'], 'out of order'),
            ('key twice at one index',
             [head(10), put('k', b'1', 12), put('k', b'2', 12), 'hold'],
             ['k'], 'out of order'),
            ('below from', [head(10), put('k', b'1', 4), 'hold'],
             ['k', '--from', '5'], 'out of order'),
            ('a key not watched',
             [head(10), put('other', b'1', 12), 'hold'], ['k'],
             'not watched'),
            ('outside the prefix',
             [head(10), put('b/x', b'1', 12), 'hold'],
             ['--prefix', 'a/'], 'not watched'),
            ('malformed line',
             [head(10), b'5\r\n{oops\r\n', b'1\r\n\n\r\n', 'hold'], ['k'],
             'malformed event line'),
            ('not NDJSON',
             [head(10, ctype='text/plain'), 'hold'], ['k'], 'NDJSON'),
            ('no X-Kv-Index', [head(None), 'hold'], ['k'], 'X-Kv-Index'),
            ('broken chunk framing',
             [head(10), b'zz\r\n', 'hold'], ['k'], 'malformed HTTP'),
            ('a stream ending inside a line',
             [head(10), b'3\r\n{"t\r\n', END], ['k'], 'inside a line'),
        ]
        for name, script, args, why in cases:
            with self.subTest(name):
                s, rc, ev, err = self.watch([script], args)
                self.assertEqual(rc, 4, '%s: %s' % (name, err))
                self.assertIn(why, err, name)
                self.assertEqual(len(s.requests), 1, name)

    def test_member_that_never_answers_is_skipped(self):
        # The first member takes the request and says nothing: after the
        # request timeout (5 s) the next member serves.
        s, rc, ev, err = self.watch(
            [['hold'], [head(3), put('k', b'v', 4), 'hold']],
            ['k', '--count', '1'], n=2, timeout_s=20)
        self.assertEqual(rc, 0, err)
        self.assertEqual([e['index'] for e in ev], [4])
        self.assertEqual(len(s.requests), 2)

    def test_nobody_answers_exit_3(self):
        dead = socket.socket()
        dead.bind(('127.0.0.1', 0))
        self.addCleanup(dead.close)
        rc, out, err = kvctl(['watch', 'k'],
                             'http://127.0.0.1:%d' % dead.getsockname()[1],
                             timeout_s=1)
        self.assertEqual(rc, 3, err)
        self.assertEqual(out, '')

    def test_usage_exit_2(self):
        for args in (['watch'], ['watch', 'k', '--prefix', 'p'],
                     ['watch', 'k', '--from', '0'],
                     ['watch', 'k', '--from', 'x'],
                     ['watch', 'k', '--count', '0'],
                     ['watch', 'k', '--bogus'], ['watch', 'a', 'b']):
            rc, out, err = kvctl(args, 'http://127.0.0.1:1')
            self.assertEqual(rc, 2, '%r: %s' % (args, err))
        rc, out, err = kvctl(['watch', '--help'], 'http://127.0.0.1:1')
        self.assertEqual(rc, 0)
        self.assertIn('--prefix', out)


# --- real members ---

class KvctlWatchTest(ClusterTest):
    def put(self, key, value):
        r = self.cluster.put(key, value)
        self.assertEqual(r.status, 200, r)
        return r.json()['index']

    def delete(self, key):
        r = self.cluster.delete(key)
        self.assertEqual(r.status, 200, r)
        return r.json()['index']

    def test_puts_and_deletes_printed_from_the_history(self):
        c = self.cluster
        i1 = self.put('w1/a', b'alpha')
        i2 = self.put('w1/b', b'tab\there\nnewline')
        i3 = self.delete('w1/a')
        self.put('w2/other', b'not watched')
        i4 = self.put('w1/a', b'again')
        rc, out, err = kvctl(['watch', '--prefix', 'w1/', '--from', str(i1),
                              '--count', '4'], c.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, 'PUT\tw1/a\talpha\t%d\n'
                              'PUT\tw1/b\ttab\\there\\nnewline\t%d\n'
                              'DELETE\tw1/a\t%d\n'
                              'PUT\tw1/a\tagain\t%d\n' % (i1, i2, i3, i4))
        # One key: only its changes.
        rc, out, err = kvctl(['watch', 'w1/a', '--from', str(i1),
                              '--count', '3'], c.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertEqual([line.split('\t')[-1] for line in
                          out.splitlines()], [str(i1), str(i3), str(i4)])

    def test_put_of_an_empty_value_is_a_put(self):
        i = self.put('we/empty', b'')
        rc, out, err = kvctl(['watch', 'we/empty', '--from', str(i),
                              '--count', '1'], self.cluster.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, 'PUT\twe/empty\t\t%d\n' % i)

    def test_json_lines_are_the_servers(self):
        c = self.cluster
        first = self.put('wj/x', b'\x00\xffbinary')
        self.delete('wj/x')
        self.put('wj/y', b'y' * 1000)
        rc, out, err = kvctl(['-o', 'json', 'watch', '--prefix', 'wj/',
                              '--from', str(first), '--count', '3'],
                             c.endpoints())
        self.assertEqual(rc, 0, err)
        mine = out.splitlines()
        # The same range straight from a member's stream.
        m = c.live()[0]
        conn = socket.create_connection((m.host, m.client_port), timeout=30)
        conn.sendall(('GET /v1/watch?prefix=wj%%2F&from=%d HTTP/1.1\r\n'
                      'Host: x\r\nConnection: close\r\n\r\n' % first)
                     .encode())
        data = b''
        events = []
        while len(events) < 3:
            got = conn.recv(65536)
            self.assertTrue(got, 'stream ended: %r' % data)
            data += got
            events = [line for line in data.decode().split('\n')
                      if line.startswith('{') and '"progress"' not in line]
        conn.close()
        self.assertEqual(mine, events[:3])

    def test_without_from_only_later_changes(self):
        c = self.cluster
        # "Now" is the serving member's applied index: let every member
        # apply the old put first.
        c.wait_converged(min_index=self.put('wn/old', b'before'))
        p = kvctl_bg(['watch', '--prefix', 'wn/', '--count', '1'],
                     c.endpoints())
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                self.put('wn/new%d' % n, b'after')
                n += 1
                stop.wait(0.2)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            rc, lines, err = finish(p, timeout=60)
        finally:
            stop.set()
            t.join(timeout=60)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith('PUT\twn/new'), lines)

    def test_lines_flushed_pipe_closed_and_signals(self):
        c = self.cluster
        first = self.put('ws/a', b'1')
        self.put('ws/b', b'2')
        # Like `| head -1`: the first line comes while kvctl runs, and
        # once the reader has gone, the next change ends kvctl (SIGPIPE).
        env = dict(os.environ)
        env.pop('KVCTL_ENDPOINTS', None)
        p = subprocess.Popen([KVCTL, '--endpoints', c.endpoints(), 'watch',
                              '--prefix', 'ws/', '--from', str(first)],
                             env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        self.assertEqual(p.stdout.readline().decode(),
                         'PUT\tws/a\t1\t%d\n' % first)
        p.stdout.close()
        self.put('ws/c', b'3')
        self.assertEqual(p.wait(timeout=60), -signal.SIGPIPE)
        # SIGINT and SIGTERM end a running watch with status 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            p = kvctl_bg(['watch', '--prefix', 'ws/', '--from', str(first)],
                         c.endpoints())
            wait_for(lambda: len(p.lines) >= 3, what='three lines printed')
            p.send_signal(sig)
            rc, lines, err = finish(p, timeout=60)
            self.assertEqual(rc, 0, '%s: %s' % (sig, err))
            self.assertEqual(len(lines), 3)


class ResumeTest(ClusterTest):
    def across(self, prefix, stop):
        """A watcher of @prefix while 200 keys are written: the member it
        streams from is stopped with @stop after some of them (and started
        again at the end); the watcher still prints every acknowledged
        write exactly once, in index order."""
        c = self.cluster
        base = c.put(prefix + 'base', b'x').json()['index']
        p = kvctl_bg(['-o', 'json', 'watch', '--prefix', prefix + 'k/',
                      '--from', str(base + 1), '--count', '200'],
                     c.endpoints(), timeout_s=30)
        acked = []
        half = threading.Event()

        def writer():
            for i in range(200):
                if i == 100:
                    half.wait(120)
                key = '%sk/%03d' % (prefix, i)
                r = c.put(key, b'v%d' % i, timeout=120)
                assert r.status == 200, r
                acked.append((key, r.json()['index']))
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            wait_for(lambda: len(p.lines) >= 50, timeout=120,
                     what='50 changes printed')
            ports = connected_ports(p.pid)
            watched = [m for m in c.all() if m.client_port in ports]
            self.assertEqual(len(watched), 1, ports)
            stop(watched[0])
        finally:
            # The second half is written after the stop: the watcher
            # must have resumed elsewhere to print it.
            half.set()
        t.join(timeout=300)
        self.assertFalse(t.is_alive(), 'the writer did not finish')
        rc, lines, err = finish(p, timeout=120)
        self.assertEqual(rc, 0, err)
        got = [json.loads(line) for line in lines]
        self.assertEqual(len(acked), 200)
        self.assertEqual([(e['key'], e['index']) for e in got],
                         sorted(acked, key=lambda x: x[1]))
        for e in got:
            self.assertEqual(e['type'], 'put')
            self.assertEqual(base64.b64decode(e['value']),
                             b'v%d' % int(e['key'][-3:]))
        watched[0].start()
        c.wait_ready()

    def test_watched_member_killed_mid_stream(self):
        self.across('kill/', lambda m: m.kill())

    def test_watched_member_terminated_mid_stream(self):
        # SIGTERM: the member ends the stream with shutting_down.
        def terminate(m):
            self.assertEqual(m.terminate(), 0)
        self.across('term/', terminate)


class CompactedTest(ClusterTest):
    CLUSTER_ARGS = ('--watch-history', '10')

    def test_from_below_the_history_exit_4_naming_the_oldest(self):
        c = self.cluster
        first = c.put('cmp/0', b'x').json()['index']
        for i in range(1, 40):
            r = c.put('cmp/%d' % i, b'x')
            self.assertEqual(r.status, 200, r)
        # Every member has trimmed its history (a lagging one would
        # still serve from @first).
        c.wait_converged(min_index=r.json()['index'])
        rc, out, err = kvctl(['watch', '--prefix', 'cmp/', '--from',
                              str(first)], c.endpoints())
        self.assertEqual(rc, 4, err)
        self.assertEqual(out, '')
        m = re.search(r'oldest index held is (\d+)', err)
        self.assertTrue(m, err)
        oldest = int(m.group(1))
        self.assertGreater(oldest, first)
        # From there on, the history is whole.
        rc, out, err = kvctl(['watch', '--prefix', 'cmp/', '--from',
                              str(oldest), '--count', '1'], c.endpoints())
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(int(out.split('\t')[-1]), oldest)


class LibkvcWatchTest(ClusterTest):
    CLUSTER_ARGS = ('--watch-history', '10', '--watch-progress-ms', '200')

    def test_check_suite(self):
        exe = os.environ.get('TEST_LIBKVC_WATCH')
        if not exe:
            self.skipTest('TEST_LIBKVC_WATCH not set')
        env = dict(os.environ, KVC_ENDPOINTS=self.cluster.endpoints())
        p = subprocess.run([exe], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stdout.write(out)
        self.assertEqual(p.returncode, 0, out[-4000:])
        self.assertIn('100%: Checks: ', out)


if __name__ == '__main__':
    harness.main()
