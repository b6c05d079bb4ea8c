# test_watch.py - watches and blocking reads (DESIGN.md §1.5) against real
# members: every change exactly once and in order on every member, resumed
# on another member after kill -9, replayed from the durable history after a
# restart, 410 below the trimmed history, SSE framing and Last-Event-ID,
# progress events, blocking GET and list, the stream limits, and the error
# event of a member that shuts down.
#
# Streams are raw HTTP (http.client): a thread per stream reads its lines
# (or SSE frames) into a list that the test waits on with deadlines, so a
# slow machine makes a test slower, never wrong.

import base64
import http.client
import json
import random
import socket
import threading
import time
import urllib.parse

import harness
from harness import ClusterTest, key_path, wait_for

WAIT_S = 60.0  # deadline of every wait for a stream to reach a point


def watch_path(key=None, prefix=None, frm=None, extra=None):
    q = {}
    if key is not None:
        q['key'] = key
    if prefix is not None:
        q['prefix'] = prefix
    if frm is not None:
        q['from'] = str(frm)
    q.update(extra or {})
    return '/v1/watch?' + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


class Stream:
    """One watch stream on a member. open() sends the request; on a 200 a
    thread reads the stream to its end: NDJSON lines, or with sse=True
    Server-Sent Events frames ({"id", "event", "data"} with data decoded
    from JSON). items is every object read, in order; ended is set at the
    end of the stream (EOF, a reset, a read timeout), with the reason in
    end_reason; a last line cut off by the end goes to partial."""

    def __init__(self, member, key=None, prefix=None, frm=None,
                 headers=None, sse=False, read_timeout=120.0):
        self.member = member
        self.path = watch_path(key, prefix, frm)
        self.headers = dict(headers or {})
        if sse:
            self.headers.setdefault('Accept', 'text/event-stream')
        self.sse = sse
        self.read_timeout = read_timeout
        self.items = []
        self.partial = b''
        self.cond = threading.Condition()
        self.ended = threading.Event()
        self.end_reason = None
        self.status = None
        self.resp_headers = {}
        self.body = None
        self.conn = None
        self.sock = None
        self.thread = None

    def open(self, timeout=10.0):
        m = self.member
        self.conn = http.client.HTTPConnection(m.host, m.client_port,
                                               timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock
        self.conn.request('GET', self.path, headers=self.headers)
        r = self.conn.getresponse()
        self.status = r.status
        self.resp_headers = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            self.body = r.read()
            self.conn.close()
            self.ended.set()
            self.end_reason = 'status %d' % r.status
            return self
        self.sock.settimeout(self.read_timeout)
        self.thread = threading.Thread(target=self._read, args=(r,),
                                       daemon=True)
        self.thread.start()
        return self

    def json(self):
        return json.loads(self.body.decode('utf-8'))

    @property
    def applied_at_open(self):
        """X-Kv-Index: the member's applied index when the stream opened."""
        return int(self.resp_headers['x-kv-index'])

    def _add(self, obj):
        with self.cond:
            self.items.append(obj)
            self.cond.notify_all()

    def _read(self, r):
        frame = {}
        try:
            while True:
                line = r.readline()
                if not line:
                    self.end_reason = 'eof'
                    break
                if not line.endswith(b'\n'):
                    self.partial = line
                    self.end_reason = 'eof in a line'
                    break
                if not self.sse:
                    self._add(json.loads(line.decode('utf-8')))
                    continue
                line = line.rstrip(b'\r\n').decode('utf-8')
                if line == '':
                    if frame:
                        if 'data' in frame:
                            frame['data'] = json.loads(frame['data'])
                        self._add(frame)
                    frame = {}
                elif line.startswith(':'):
                    continue  # an SSE comment
                else:
                    name, _, value = line.partition(':')
                    if value.startswith(' '):
                        value = value[1:]
                    if name == 'data' and 'data' in frame:
                        value = frame['data'] + '\n' + value
                    frame[name] = value
        except Exception as e:  # noqa: B902 (a reset, close(), bad JSON)
            self.end_reason = repr(e)
        finally:
            with self.cond:
                self.ended.set()
                self.cond.notify_all()

    def close(self):
        # The reader thread sees the end of the socket first; the
        # connection object is closed after it stopped using it.
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.conn is not None:
            self.conn.close()

    def objects(self):
        """The event objects (the SSE frames' data)."""
        with self.cond:
            items = list(self.items)
        return [i.get('data') if self.sse else i for i in items]

    def changes(self):
        """[(type, key, value bytes or None, index)] of put/delete events."""
        out = []
        for o in self.objects():
            if o and o.get('type') in ('put', 'delete'):
                v = o.get('value')
                out.append((o['type'], o['key'],
                            base64.b64decode(v) if v is not None else None,
                            o['index']))
        return out

    def progress(self):
        return [o['index'] for o in self.objects()
                if o and o.get('type') == 'progress']

    def errors(self):
        return [o for o in self.objects() if o and o.get('type') == 'error']

    def position(self):
        """Everything up to this index was delivered: the last event's or
        progress event's index, else the applied index at open."""
        pos = self.applied_at_open
        for o in self.objects():
            if o and o.get('type') in ('put', 'delete', 'progress'):
                pos = max(pos, o['index'])
        return pos

    def wait(self, pred, what, timeout=WAIT_S):
        """Waits until pred(self) holds; fails after timeout or when the
        stream ended without it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if pred(self):
                    return
                if self.ended.is_set():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 1.0))
        if pred(self):
            return
        raise AssertionError('stream %s on member %d: %s not within %.0fs '
                             '(ended: %s; last items %r)' % (
                                 self.path, self.member.id, what, timeout,
                                 self.end_reason if self.ended.is_set()
                                 else 'no', self.items[-3:]))

    def wait_index(self, index, timeout=WAIT_S):
        """Waits until a change or progress event at >= index arrived."""
        self.wait(lambda s: s.position() >= index,
                  'an event or progress at index >= %d' % index, timeout)

    def wait_end(self, timeout=WAIT_S):
        if not self.ended.wait(timeout):
            raise AssertionError('stream %s on member %d did not end within '
                                 '%.0fs' % (self.path, self.member.id,
                                            timeout))


def open_stream(member, **kw):
    s = Stream(member, **kw).open()
    if s.status != 200:
        raise AssertionError('watch %s on member %d: %d %r' % (
            s.path, member.id, s.status, s.body[:300]))
    return s


def expected(acks, key=None, prefix=None, after=0):
    """The events the acknowledged writes make for a key or a prefix, in
    index order: [(type, key, value, index)]. acks holds ('put', key,
    value, index) and ('delete', key, deleted, index); a delete of a key
    that did not exist makes none."""
    out = []
    for typ, k, v, idx in acks:
        if key is not None and k != key:
            continue
        if prefix is not None and not k.startswith(prefix):
            continue
        if idx <= after:
            continue
        if typ == 'put':
            out.append(('put', k, v, idx))
        elif v:
            out.append(('delete', k, None, idx))
    return sorted(out, key=lambda e: e[3])


class Writes:
    """Acknowledged writes through the cluster (any member that leads;
    retried with one X-Kv-Client/X-Kv-Seq pair, so applied once)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acks = []
        self.lock = threading.Lock()

    def put(self, key, value):
        r = self.cluster.put(key, value)
        if r.status != 200:
            raise AssertionError('put %r: %r' % (key, r))
        idx = r.json()['index']
        with self.lock:
            self.acks.append(('put', key, value, idx))
        return idx

    def delete(self, key):
        r = self.cluster.delete(key)
        if r.status != 200:
            raise AssertionError('delete %r: %r' % (key, r))
        j = r.json()
        with self.lock:
            self.acks.append(('delete', key, j['deleted'], j['index']))
        return j['index'], j['deleted']


def run_threads(targets):
    """Runs the functions in threads; re-raises the first exception."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: B902 (reported below)
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(fn,), daemon=True)
          for fn in targets]
    for t in ts:
        t.start()
    return ts, errors


def join_threads(ts, errors, timeout=300):
    for t in ts:
        t.join(timeout)
        if t.is_alive():
            raise AssertionError('a writer thread did not finish')
    if errors:
        raise errors[0]


def blocking_get(member, key, wait_index, wait=None, timeout=60.0):
    path = key_path(key) + '?wait_index=%s' % wait_index
    if wait is not None:
        path += '&wait=' + urllib.parse.quote(wait, safe='')
    return member.request('GET', path, timeout=timeout)


def blocking_list(member, prefix, wait_index, wait=None, timeout=60.0):
    q = {'prefix': prefix, 'wait_index': str(wait_index)}
    if wait is not None:
        q['wait'] = wait
    return member.request('GET', '/v1/kv?' + urllib.parse.urlencode(
        q, quote_via=urllib.parse.quote), timeout=timeout)


class Background:
    """A request in a thread: done is set with result (a Response) or
    error."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.done = threading.Event()

        def run():
            try:
                self.result = fn()
            except BaseException as e:  # noqa: B902 (reported by get())
                self.error = e
            finally:
                self.done.set()
        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()

    def get(self, timeout=WAIT_S):
        if not self.done.wait(timeout):
            raise AssertionError('request still running after %.0fs'
                                 % timeout)
        if self.error is not None:
            raise self.error
        return self.result


class WatchTest(ClusterTest):
    # Progress every 200 ms: streams that wait for an index are never idle
    # for long, and progress events mix with the changes of every test.
    CLUSTER_ARGS = ('--watch-progress-ms', '200')

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def stream(self, member, **kw):
        s = open_stream(member, **kw)
        self.streams.append(s)
        return s

    def assert_events(self, s, want, what):
        got = s.changes()
        if got != want:
            gi = [e[3] for e in got]
            wi = [e[3] for e in want]
            self.fail('%s (member %d %s): %d events, want %d; missing %r, '
                      'unexpected %r; first difference at %r' % (
                          what, s.member.id, s.path, len(got), len(want),
                          sorted(set(wi) - set(gi))[:10],
                          sorted(set(gi) - set(wi))[:10],
                          next(((a, b) for a, b in zip(got, want) if a != b),
                               (got[len(want):len(want) + 1],
                                want[len(got):len(got) + 1]))))

    def test_00_bad_requests_400(self):
        m = self.cluster[1]
        for path in ('/v1/watch', '/v1/watch?from=1',
                     watch_path(prefix='a/', frm='abc'),
                     watch_path(prefix='a/', frm='-1'),
                     watch_path(prefix='a/', frm='1x'),
                     watch_path(prefix='a/', frm='99999999999999999999999'),
                     '/v1/watch?key=a%01b', '/v1/watch?key=%FF%FE',
                     '/v1/watch?key=', watch_path(key='k' * 512)):
            self.assertError(m.request('GET', path), 400, 'bad_request')
        for q in ('wait_index=abc', 'wait_index=-1', 'wait_index=1x',
                  'wait_index=99999999999999999999999'):
            self.assertError(m.request('GET', key_path('a/b') + '?' + q),
                             400, 'bad_request')
            self.assertError(m.request('GET', '/v1/kv?prefix=a/&' + q),
                             400, 'bad_request')

    def test_10_concurrent_writers_every_watcher_exact(self):
        """3 writers (puts and deletes, some of absent keys) against
        prefix watchers on every member and key watchers: each sees the
        acknowledged writes under its key or prefix, none missing, none
        twice, in index order."""
        c = self.cluster
        w = Writes(c)
        keys = ['cw/k%d' % i for i in range(6)]
        watched = ['cw/k1', 'cw/k2', 'cw/k3']
        prefix_streams = [self.stream(m, prefix='cw/') for m in c.all()]
        key_streams = [self.stream(m, key=k)
                       for m, k in zip(c.all(), watched)]
        # Writes outside: a key that shares the prefix's first bytes, and
        # one that extends a watched key.
        outside = ['cw', 'cwx/a', 'cv/k1']

        def writer(t):
            def run():
                rng = random.Random(t)
                for n in range(30):
                    x = rng.random()
                    if x < 0.1:
                        w.put(rng.choice(outside), b'out')
                    elif x < 0.4:
                        w.delete(rng.choice(keys))
                    else:
                        w.put(rng.choice(keys), b'v%d-%d' % (t, n))
            return run
        ts, errs = run_threads([writer(t) for t in range(3)])
        join_threads(ts, errs)
        # The last writes: one to each watched key, after every other.
        last = 0
        for k in watched:
            last = w.put(k, b'end')
        self.assertTrue(any(a[0] == 'delete' and not a[2] for a in w.acks),
                        'no delete of an absent key happened')
        for s in prefix_streams:
            s.wait_index(last)
            self.assert_events(s, expected(w.acks, prefix='cw/'),
                               'prefix watcher')
        for s, k in zip(key_streams, watched):
            s.wait_index(last)
            self.assert_events(s, expected(w.acks, key=k), 'key watcher')
        for s in prefix_streams + key_streams:
            self.assertEqual(s.errors(), [])
            self.assertFalse(s.ended.is_set(), s.end_reason)

    def test_20_kill_watched_member_resume_elsewhere(self):
        """kill -9 of the member (the leader) whose stream is being read:
        a new stream on another member from the last index + 1 continues
        it with no gap and no duplicate."""
        c = self.cluster
        w = Writes(c)
        lid, _ = c.wait_leader()
        victim = c[lid]
        s1 = self.stream(victim, prefix='kl/')
        done = threading.Event()

        def writer():
            try:
                for n in range(100):
                    w.put('kl/k%d' % (n % 7), b'v%d' % n)
            finally:
                done.set()
        ts, errs = run_threads([writer])
        s1.wait(lambda s: len(s.changes()) >= 20 or done.is_set(),
                '20 events')
        victim.kill()
        s1.wait_end()
        frm = s1.position() + 1
        other = random.choice([m for m in c.all() if m is not victim])
        s2 = self.stream(other, prefix='kl/', frm=frm)
        join_threads(ts, errs)
        last = w.put('kl/end', b'end')
        s2.wait_index(last)
        got = s1.changes() + s2.changes()
        want = expected(w.acks, prefix='kl/')
        self.assertLess(len(s1.changes()), len(want),
                        'the stream ended after the last write')
        self.assertEqual([e[3] for e in got], [e[3] for e in want])
        self.assertEqual(got, want)
        victim.start()
        c.wait_ready([victim])

    def test_30_restart_replays_history(self):
        """A member restarted after kill -9 replays the same events from
        its durable history (from=1 and from an index in the middle)."""
        c = self.cluster
        w = Writes(c)
        for n in range(20):
            if n % 5 == 4:
                w.delete('rp/k%d' % (n % 3))
            else:
                w.put('rp/k%d' % (n % 3), b'v%d' % n)
        last = w.put('rp/end', b'end')
        want = expected(w.acks, prefix='rp/')
        mid = want[len(want) // 2][3]
        m = c[2]
        before = {}
        for frm in (1, mid):
            s = self.stream(m, prefix='rp/', frm=frm)
            s.wait_index(last)
            before[frm] = s.changes()
            s.close()
        self.assertEqual(before[1], want)
        self.assertEqual(before[mid], [e for e in want if e[3] >= mid])
        m.kill()
        m.start()
        c.wait_ready([m])
        for frm in (1, mid):
            s = self.stream(m, prefix='rp/', frm=frm)
            s.wait_index(last)
            self.assertEqual(s.changes(), before[frm], 'from=%d' % frm)

    def test_40_sse_framing_and_last_event_id(self):
        c = self.cluster
        w = Writes(c)
        i1 = w.put('sse/a', b'one')
        i2 = w.put('sse/b', b'two')
        i3, _ = w.delete('sse/a')
        m = c[3]
        s = self.stream(m, prefix='sse/', frm=i1, sse=True)
        self.assertTrue(s.resp_headers.get('content-type', '').startswith(
            'text/event-stream'), s.resp_headers)
        s.wait_index(i3)
        frames = [f for f in s.items if f.get('event') != 'progress']
        self.assertEqual([f.get('event') for f in frames],
                         ['put', 'put', 'delete'])
        for f, idx in zip(frames, (i1, i2, i3)):
            self.assertEqual(f.get('id'), str(idx), f)
            self.assertEqual(f['data']['index'], idx, f)
            self.assertEqual(f['data']['type'], f['event'], f)
        self.assertEqual(s.changes(), [('put', 'sse/a', b'one', i1),
                                       ('put', 'sse/b', b'two', i2),
                                       ('delete', 'sse/a', None, i3)])
        for f in s.items:
            if f.get('event') == 'progress':
                self.assertEqual(f['data']['type'], 'progress', f)
        # Last-Event-ID: I resumes like from=I+1.
        s = self.stream(m, prefix='sse/', sse=True,
                        headers={'Last-Event-ID': str(i1)})
        s.wait_index(i3)
        self.assertEqual([e[3] for e in s.changes()], [i2, i3])
        # from wins over Last-Event-ID.
        s = self.stream(m, prefix='sse/', sse=True, frm=i1,
                        headers={'Last-Event-ID': str(i2)})
        s.wait_index(i3)
        self.assertEqual([e[3] for e in s.changes()], [i1, i2, i3])

    def test_50_progress_on_idle_stream(self):
        """With --watch-progress-ms 200 an idle stream gets progress
        events, never below the applied index at open."""
        c = self.cluster
        for m in c.all():
            s = self.stream(m, prefix='idle/')
            a = s.applied_at_open
            s.wait(lambda s: len(s.progress()) >= 2, 'two progress events')
            p = s.progress()
            self.assertGreaterEqual(p[0], a)
            self.assertEqual(p, sorted(p))
            self.assertEqual(s.changes(), [])
            for o in s.objects():
                if o['type'] == 'progress':
                    self.assertEqual(set(o), {'type', 'index'}, o)
                    self.assertIsInstance(o['index'], int)

    def test_60_blocking_get(self):
        c = self.cluster
        w = Writes(c)
        m = c[1]
        i1 = w.put('bl/k', b'one')
        c.wait_converged(i1)
        # Changed after N: at once.
        for mm in c.all():
            r = blocking_get(mm, 'bl/k', i1 - 1, '120s')
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, b'one')
            self.assertEqual(int(r.header('X-Kv-Index')), i1)
            self.assertLess(r.elapsed, 60)
        # A write while waiting: the answer is the new value, early.
        bg = Background(lambda: blocking_get(m, 'bl/k', i1, '120s', 150))
        self.assertFalse(bg.done.wait(0.5), 'answered before a change: %r'
                         % bg.result)
        i2 = w.put('bl/k', b'two')
        r = bg.get()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'two')
        self.assertEqual(int(r.header('X-Kv-Index')), i2)
        self.assertLess(r.elapsed, 100)
        # No change: the answer after wait (plus jitter), the current value.
        r = blocking_get(c[2], 'bl/k', i2, '1s')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'two')
        self.assertEqual(int(r.header('X-Kv-Index')), i2)
        self.assertGreaterEqual(r.elapsed, 1.0)
        self.assertLess(r.elapsed, 30)
        # A delete is a change: 404, with the index to wait from next.
        bg = Background(lambda: blocking_get(c[3], 'bl/k', i2, '120s', 150))
        self.assertFalse(bg.done.wait(0.5), 'answered before a change: %r'
                         % bg.result)
        i3, deleted = w.delete('bl/k')
        self.assertTrue(deleted)
        r = bg.get()
        self.assertError(r, 404, 'not_found')
        # An absent key, changed after N: 404 at once.
        r = blocking_get(m, 'bl/k', i2, '120s')
        self.assertError(r, 404, 'not_found')
        self.assertLess(r.elapsed, 60)

    def test_61_blocking_wait_limits(self):
        m = self.cluster[2]
        i = Writes(self.cluster).put('bw/k', b'v')
        for wait in ('601s', '10001s', '601000ms', '11m', '5x', '-1s', '',
                     's', 'ms', '1h', '99999999999999999999999s',
                     '18446744073709551617ms'):
            self.assertError(blocking_get(m, 'bw/k', i - 1, wait), 400,
                             'bad_request')
            self.assertError(blocking_list(m, 'bw/', i - 1, wait), 400,
                             'bad_request')
        # wait without wait_index is not a blocking read: 400.
        self.assertError(m.request('GET', key_path('bw/k') + '?wait=1s'),
                         400, 'bad_request')
        # The largest waits are allowed (answered at once: changed after N).
        for wait in ('600s', '10m', '600000ms'):
            r = blocking_get(m, 'bw/k', i - 1, wait)
            self.assertEqual(r.status, 200, (wait, r))
            r = blocking_list(m, 'bw/', i - 1, wait)
            self.assertEqual(r.status, 200, (wait, r))

    def test_62_blocking_list(self):
        c = self.cluster
        w = Writes(c)
        i1 = w.put('blst/a', b'1')
        c.wait_converged(i1)
        m = c[3]
        r = blocking_list(m, 'blst/', i1 - 1, '120s')
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x['key'] for x in r.json()['kvs']], ['blst/a'])
        self.assertLess(r.elapsed, 60)
        # Nothing under the prefix changes (a write beside it): after wait.
        w.put('blsu', b'beside')
        r = blocking_list(m, 'blst/', i1, '1s')
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.elapsed, 1.0)
        self.assertLess(r.elapsed, 30)
        self.assertEqual([x['key'] for x in r.json()['kvs']], ['blst/a'])
        # A write under the prefix while waiting: early, with it.
        bg = Background(lambda: blocking_list(m, 'blst/', i1, '120s', 150))
        self.assertFalse(bg.done.wait(0.5), 'answered before a change: %r'
                         % bg.result)
        i2 = w.put('blst/b', b'2')
        r = bg.get()
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x['key'] for x in r.json()['kvs']],
                         ['blst/a', 'blst/b'])
        self.assertLess(r.elapsed, 100)
        # A delete under it wakes it too.
        bg = Background(lambda: blocking_list(c[1], 'blst/', i2, '120s', 150))
        self.assertFalse(bg.done.wait(0.5), 'answered before a change: %r'
                         % bg.result)
        i3, _ = w.delete('blst/a')
        r = bg.get()
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x['key'] for x in r.json()['kvs']], ['blst/b'])

    def test_63_blocking_answers_carry_the_next_index(self):
        """Every blocking answer has X-Kv-Index (DESIGN.md §1.5), the N of
        the next blocking read: also a 404 after a delete, and a list,
        whose keys' indexes cannot show a delete under the prefix (a
        client that waited from the largest of them would be answered at
        once, again and again)."""
        c = self.cluster
        w = Writes(c)
        w.put('bx/a', b'1')
        i2 = w.put('bx/b', b'2')
        i3, _ = w.delete('bx/b')
        c.wait_converged(i3)
        m = c[2]
        r = blocking_get(m, 'bx/b', i2, '120s')
        self.assertError(r, 404, 'not_found')
        self.assertIsNotNone(r.header('X-Kv-Index'), r.headers)
        self.assertGreaterEqual(int(r.header('X-Kv-Index')), i3)
        r = blocking_list(m, 'bx/', i2, '120s')
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x['key'] for x in r.json()['kvs']], ['bx/a'])
        self.assertIsNotNone(r.header('X-Kv-Index'), r.headers)
        self.assertGreaterEqual(int(r.header('X-Kv-Index')), i3)

    def test_70_delete_of_absent_key_no_event(self):
        c = self.cluster
        w = Writes(c)
        s = self.stream(c[2], prefix='nx/')
        i1, deleted = w.delete('nx/absent')
        self.assertFalse(deleted)
        i2 = w.put('nx/b', b'b')
        i3, deleted = w.delete('nx/b')
        self.assertTrue(deleted)
        i4, deleted = w.delete('nx/b')
        self.assertFalse(deleted)
        i5 = w.put('nx/c', b'c')
        # An empty value is a put too (with "value": "").
        i6 = w.put('nx/c', b'')
        s.wait_index(i6)
        self.assertLess(i1, i2)
        self.assertEqual(s.changes(), [('put', 'nx/b', b'b', i2),
                                       ('delete', 'nx/b', None, i3),
                                       ('put', 'nx/c', b'c', i5),
                                       ('put', 'nx/c', b'', i6)])
        puts = [o for o in s.objects() if o['type'] == 'put']
        self.assertEqual(puts[-1], {'type': 'put', 'key': 'nx/c',
                                    'value': '', 'index': i6})
        self.assertNotIn(i4, [e[3] for e in s.changes()])

    def test_71_without_from_only_later_changes(self):
        c = self.cluster
        w = Writes(c)
        i0 = w.put('nf/a', b'before')
        for m in c.all():
            # Every earlier write applied here: the stream starts after it.
            c.wait_converged(i0)
            s = self.stream(m, prefix='nf/')
            self.assertGreaterEqual(s.applied_at_open, i0)
            i = i0 = w.put('nf/a', b'after-%d' % m.id)
            s.wait_index(i)
            self.assertEqual(s.changes(), [('put', 'nf/a',
                                            b'after-%d' % m.id, i)])
            self.assertGreater(i, s.applied_at_open)
            for p in s.progress():
                self.assertGreaterEqual(p, s.applied_at_open)

    def test_99_sigterm_ends_stream_with_shutting_down(self):
        """Last in the class: SIGTERM of a member with an open stream; the
        stream's last line is the error event shutting_down."""
        c = self.cluster
        m = c[3]
        s = self.stream(m, prefix='st/')
        i = Writes(c).put('st/a', b'a')
        s.wait_index(i)
        self.assertEqual(m.terminate(), 0)
        s.wait_end()
        objs = s.objects()
        self.assertTrue(objs, 'nothing read')
        last = objs[-1]
        self.assertEqual(last.get('type'), 'error', objs[-3:])
        self.assertEqual(last.get('error'), 'shutting_down', last)
        self.assertIsInstance(last.get('message'), str, last)
        self.assertEqual(s.partial, b'')
        m.start()
        c.wait_ready([m])


class HistoryTrimTest(ClusterTest):
    """--watch-history 10: at least the last 10 events kept, at most 20;
    from older ones is 410 with the oldest index that can be resumed."""

    N = 10
    CLUSTER_ARGS = ('--watch-history', str(N))

    def test_410_after_trimming(self):
        c = self.cluster
        w = Writes(c)
        for n in range(2 * self.N + 15):
            w.put('tr/k%d' % (n % 4), b'v%d' % n)
        last = w.acks[-1][3]
        c.wait_converged(last)
        want = expected(w.acks, prefix='tr/')
        for m in c.all():
            r = m.request('GET', watch_path(prefix='tr/', frm=1))
            j = self.assertError(r, 410, 'compacted')
            oldest = j.get('oldest')
            self.assertIsInstance(oldest, int, j)
            self.assertGreater(oldest, 1, j)
            self.assertLessEqual(oldest, last, j)
            # The oldest index is where a watch can start again.
            s = open_stream(m, prefix='tr/', frm=oldest)
            try:
                s.wait_index(last)
                got = s.changes()
                self.assertGreaterEqual(got[0][3], oldest)
                self.assertEqual(got, [e for e in want if e[3] >= oldest])
                self.assertGreaterEqual(len(got), self.N)
                self.assertLessEqual(len(got), 2 * self.N)
            finally:
                s.close()
            # One below it: still 410, the same oldest.
            r = m.request('GET', watch_path(prefix='tr/', frm=oldest - 1))
            self.assertEqual(self.assertError(r, 410, 'compacted')['oldest'],
                             oldest)


class LimitsTest(ClusterTest):
    """--max-watchers 2 on one member: a third stream is 503, blocking
    reads still work; a stream whose reader never reads is ended with
    slow_consumer."""

    CLUSTER_SIZE = 1
    CLUSTER_ARGS = ('--max-watchers', '2')
    VALUE = 1000 * 1000  # 1 MB values: 1.33 MB event lines

    def open_admitted(self, m, **kw):
        """A stream, retried while the member still counts streams that
        were closed (it learns of a close asynchronously)."""
        def attempt():
            s = Stream(m, **kw).open()
            if s.status == 503:
                return None
            return s
        s = wait_for(attempt, what='a stream admitted')
        self.assertEqual(s.status, 200, s.body)
        return s

    def test_1_slow_consumer_is_ended(self):
        c = self.cluster
        m = c[1]
        # A raw connection with a small receive buffer whose reader does
        # not read: what the member writes piles up in its output.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(60)
        sock.connect((m.host, m.client_port))
        sock.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (
            watch_path(prefix='big/'), m.host)).encode())
        data = bytearray()
        try:
            # A first small change read through it: the stream is live.
            w = Writes(c)
            w.put('big/first', b'1')
            deadline = time.monotonic() + WAIT_S
            while b'big/first' not in data:
                if time.monotonic() > deadline:
                    self.fail('first event not read: %r' % data[-300:])
                b = sock.recv(4096)
                if not b:
                    self.fail('stream closed: %r' % data[-300:])
                data += b
            n = 24  # 32 MB of event lines: over 8 MiB + socket buffers
            value = b'x' * self.VALUE
            for i in range(n):
                w.put('big/k%d' % (i % 3), value)
            # The response ends (its last chunk; the connection may stay
            # open for another request) or the connection closes.
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and not (
                    data.endswith(b'\r\n0\r\n\r\n') and
                    body_complete(bytes(data))):
                try:
                    b = sock.recv(1 << 20)
                except socket.timeout:
                    self.fail('the stream was not closed within %.0fs: '
                              '%d bytes, the last %r' % (
                                  WAIT_S, len(data), bytes(data[-200:])))
                except ConnectionResetError:
                    break
                if not b:
                    break
                data += b
            else:
                if not body_complete(bytes(data)):
                    self.fail('the stream was not closed within %.0fs'
                              % WAIT_S)
        finally:
            sock.close()
        head, _, body = bytes(data).partition(b'\r\n\r\n')
        self.assertTrue(head.startswith(b'HTTP/1.1 200'), head[:200])
        lines = dechunk(body).split(b'\n')
        self.assertEqual(lines[-1], b'', 'the stream ends in a cut line')
        objs = [json.loads(x) for x in lines[:-1]]
        last = objs[-1]
        self.assertEqual(last.get('type'), 'error', last)
        self.assertEqual(last.get('error'), 'slow_consumer', last)
        got = [(o['type'], o['key'], base64.b64decode(o['value']), o['index'])
               for o in objs[:-1] if o['type'] == 'put']
        want = expected(w.acks, prefix='big/')
        self.assertLess(len(got), n + 1, 'every event delivered')
        self.assertEqual(got, want[:len(got)])

    def test_2_max_watchers_503(self):
        c = self.cluster
        m = c[1]
        w = Writes(c)
        i = w.put('mw/k', b'v')
        s1 = self.open_admitted(m, prefix='mw/')
        s2 = self.open_admitted(m, key='mw/k')
        try:
            s3 = Stream(m, prefix='mw/').open()
            s3.close()
            self.assertError(Response(s3), 503, 'unavailable')
            ra = s3.resp_headers.get('retry-after')
            self.assertIsNotNone(ra, s3.resp_headers)
            self.assertGreaterEqual(int(ra), 0)
            # Blocking reads do not count: at once, and after a wait.
            r = blocking_get(m, 'mw/k', i - 1, '60s')
            self.assertEqual(r.status, 200, r)
            r = blocking_get(m, 'mw/k', i, '1s')
            self.assertEqual(r.status, 200, r)
            self.assertGreaterEqual(r.elapsed, 1.0)
            r = blocking_list(m, 'mw/', i, '1s')
            self.assertEqual(r.status, 200, r)
            # The open streams still work.
            i2 = w.put('mw/k', b'v2')
            s1.wait_index(i2)
            s2.wait_index(i2)
            self.assertEqual(s1.changes(), [('put', 'mw/k', b'v2', i2)])
        finally:
            s1.close()
        # A closed stream makes room.
        s4 = self.open_admitted(m, prefix='mw/')
        s4.close()
        s2.close()


class Response:
    """A Stream's refused answer in the shape assertError() reads."""

    def __init__(self, s):
        self.status = s.status
        self.body = s.body
        self.headers = s.resp_headers

    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        return 'Response(%d, %r)' % (self.status, self.body[:200])


def body_complete(data):
    """Whether an HTTP/1.1 response with a chunked body is complete (its
    last chunk and the empty trailer arrived)."""
    _, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        return False
    pos = 0
    while True:
        eol = body.find(b'\r\n', pos)
        if eol < 0:
            return False
        size = int(body[pos:eol].split(b';')[0], 16)
        if size == 0:
            return body.endswith(b'\r\n\r\n', eol)
        pos = eol + 2 + size + 2
        if pos > len(body):
            return False


def dechunk(body):
    """The data of an HTTP/1.1 chunked body, up to where it stops (a
    chunk cut off by the end is kept as far as it goes)."""
    out = []
    pos = 0
    while pos < len(body):
        eol = body.find(b'\r\n', pos)
        if eol < 0:
            break
        size = int(body[pos:eol].split(b';')[0], 16)
        if size == 0:
            break
        out.append(body[eol + 2:eol + 2 + size])
        pos = eol + 2 + size + 2
    return b''.join(out)


if __name__ == '__main__':
    harness.main()
