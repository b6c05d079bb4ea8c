# test_faults.py - real process faults against a 3-member cluster: leader
# crash (SIGKILL) and restart, clean shutdown (SIGTERM) and restart, crash of
# every member mid-write, and a member cut off from the majority
# (SIGSTOP/SIGCONT of the others).

import http.client
import signal
import socket
import threading
import time

import harness
from harness import ClusterTest, wait_for


def must_put(m, key, value, timeout=harness.WAIT_S):
    """Retries a put on m through elections until it is acknowledged."""
    def attempt():
        r = m.put(key, value)
        return r.json()['index'] if r.status == 200 else None
    return wait_for(attempt, timeout=timeout, what='put %s acknowledged' % key)


class LeaderCrashTest(ClusterTest):
    def test_leader_kill9_reelect_restart_catch_up(self):
        c = self.cluster
        old, term = c.wait_leader()
        for i in range(10):
            self.assertEqual(c.put('before/%d' % i, b'%d' % i,
                                   via=lambda: c[1 + i % 3]).status, 200)
        c[old].kill()
        others = [m for m in c.all() if m.id != old]
        new, term2 = c.wait_leader(members=others, exclude=(old,))
        self.assertNotEqual(new, old)
        self.assertGreater(term2, term)
        # writes continue, through the new leader and the other follower
        last = 0
        for i in range(20):
            last = must_put(others[i % 2], 'after/%d' % i, b'%d' % i)
        for m in others:
            self.assertEqual(m.get('before/3').body, b'3')
            self.assertEqual(m.get('after/19').body, b'19')
        # the old leader comes back with its data dir and catches up
        c[old].start()
        c.wait_leader()
        applied = c.wait_converged(min_index=last)
        self.assertGreaterEqual(applied, last)
        for i in range(20):
            g = c[old].get('after/%d' % i, stale=True)
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, b'%d' % i)
        self.assertEqual(c[old].get('before/9').body, b'9')
        # and serves writes again
        self.assertEqual(c.put('after/old', b'back', via=lambda: c[old])
                         .status, 200)
        self.assertEqual(c[new].get('after/old').body, b'back')


class RetryAcrossLeaderChangeTest(ClusterTest):
    def test_retry_after_leader_kill9_returns_first_result(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        hdr = {'X-Kv-Client': 'fedcba9876543210', 'X-Kv-Seq': '1'}
        # 503 if it lost the lead meanwhile: sent again, applied once.
        r = c.put('retry/k', b'first', headers=hdr, via=lambda: c[lid])
        self.assertEqual(r.status, 200, r)
        first = r.json()['index']
        c[lid].kill()
        others = [m for m in c.all() if m.id != lid]
        c.wait_leader(members=others, exclude=(lid,))
        # The retry (another body on purpose) through each survivor.
        for m in others:
            r = wait_for(lambda: (lambda x: x if x.status == 200 else None)(
                m.put('retry/k', b'second', headers=hdr)),
                what='retry acknowledged')
            self.assertEqual(r.json()['index'], first)
        for m in others:
            g = m.get('retry/k')
            self.assertEqual(g.body, b'first')
            self.assertEqual(int(g.header('X-Kv-Index')), first)
        # and after the old leader is back
        c[lid].start()
        c.wait_leader()
        r = c.put('retry/k', b'third', headers=hdr, via=lambda: c[lid])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()['index'], first)
        self.assertEqual(c[lid].get('retry/k').body, b'first')


class CleanRestartTest(ClusterTest):
    def test_sigterm_all_exit_0_and_keys_survive(self):
        c = self.cluster
        acked = {}
        for i in range(30):
            k = 'term/%02d' % i
            v = ('value %d' % i).encode()
            r = c.put(k, v, via=lambda: c[1 + i % 3])
            self.assertEqual(r.status, 200, r)
            acked[k] = (v, r.json()['index'])
        r = c.delete('term/05', via=lambda: c[2])
        self.assertEqual(r.status, 200, r)
        del acked['term/05']
        for m in c.all():
            rc = m.terminate()
            self.assertEqual(rc, 0, 'member %d exit status on SIGTERM' % m.id)
        c.start()
        c.wait_leader()
        for m in c.all():
            # §1.2: a data dir with state ignores --initial-cluster and
            # says so in the log.
            self.assertIn('initial-cluster', m.log_since_start().split(
                '\n', 1)[1])
            for k, (v, idx) in acked.items():
                g = m.get(k)
                self.assertEqual(g.status, 200, (m.id, k, g))
                self.assertEqual(g.body, v)
                self.assertEqual(int(g.header('X-Kv-Index')), idx)
            self.assertEqual(m.get('term/05').status, 404)


class TermUnderLoadTest(ClusterTest):
    def test_sigterm_under_load_exits_0_and_keeps_acknowledged_writes(self):
        c = self.cluster
        c.wait_leader()
        acked = {}
        errors = []
        stop = threading.Event()

        def writer(m, tag):
            i = 0
            while not stop.is_set():
                k = 'load/%s/%04d' % (tag, i)
                t0 = time.monotonic()
                try:
                    r = m.put(k, k.encode(), timeout=30)
                    if r.status == 200:
                        acked[k] = r.json()['index']
                except (OSError, http.client.HTTPException):
                    pass  # refused or cut: not acknowledged
                # In-flight requests finish or fail; none hangs (the
                # bound: --request-timeout-ms 2 s with slack for a loaded
                # machine; a hang lasts the whole 30 s).
                if time.monotonic() - t0 > 20:
                    errors.append('put %s took %.1fs' % (k, time.monotonic()
                                                         - t0))
                i += 1

        ts = [threading.Thread(target=writer, args=(m, 'w%d' % m.id))
              for m in c.all()]
        for t in ts:
            t.start()
        try:
            wait_for(lambda: len(acked) >= 30, what='30 acknowledged writes')
            for m in c.all():
                m.proc.send_signal(signal.SIGTERM)
            for m in c.all():
                self.assertEqual(m.terminate(), 0,
                                 'member %d exit status on SIGTERM' % m.id)
        finally:
            stop.set()
            for t in ts:
                t.join()
        self.assertEqual(errors, [])
        c.start()
        c.wait_leader()
        for m in c.all():
            have = {x['key']: x['index'] for x in
                    m.list(prefix='load/', limit=10000).json()['kvs']}
            for k, idx in acked.items():
                self.assertEqual(have.get(k), idx,
                                 'member %d lost acknowledged %s' % (m.id, k))


class CrashAllTest(ClusterTest):
    def test_kill9_all_mid_write_loses_no_acknowledged_write(self):
        c = self.cluster
        c.wait_leader()
        acked = {}
        stop = threading.Event()

        def writer(m, tag):
            i = 0
            while not stop.is_set():
                k = 'crash/%s/%04d' % (tag, i)
                try:
                    r = m.put(k, k.encode(), timeout=5)
                    if r.status == 200:
                        acked[k] = r.json()['index']
                except (OSError, http.client.HTTPException):
                    pass  # the member died under us: not acknowledged
                i += 1

        ts = [threading.Thread(target=writer, args=(m, 'w%d' % m.id))
              for m in c.all()]
        for t in ts:
            t.start()
        wait_for(lambda: len(acked) >= 30, what='30 acknowledged writes')
        for m in c.all():
            m.kill()
        stop.set()
        for t in ts:
            t.join()
        n = len(acked)
        self.assertGreaterEqual(n, 30)
        c.start()
        c.wait_leader()
        for m in c.all():
            j = m.list(prefix='crash/', limit=10000).json()
            have = {x['key']: x['index'] for x in j['kvs']}
            for k, idx in acked.items():
                self.assertIn(k, have, 'member %d lost acknowledged %s'
                              % (m.id, k))
                self.assertEqual(have[k], idx)


class MinorityTest(ClusterTest):
    def test_cut_off_follower_fails_fast_then_recovers(self):
        self.check_cut_off(leader=False)

    def test_cut_off_leader_fails_fast_then_recovers(self):
        self.check_cut_off(leader=True)

    def check_cut_off(self, leader):
        c = self.cluster
        lid, _ = c.wait_leader()
        lone = c[lid] if leader else [m for m in c.all() if m.id != lid][0]
        others = [m for m in c.all() if m is not lone]
        r = c.put('minority/k', b'last-known', via=lambda: lone)
        self.assertEqual(r.status, 200, r)
        i = r.json()['index']
        # The lone member has applied it once a stale read returns it.
        wait_for(lambda: lone.get('minority/k', stale=True).body ==
                 b'last-known', what='applied on the lone member')
        for m in others:
            m.pause()
        # + slack for a loaded machine; a hang would last the requests'
        # whole 10 s.
        bound = c.request_timeout_ms / 1000.0 + 6.0
        try:
            for what, fn in (
                    ('put', lambda: lone.put('minority/k', b'new')),
                    ('delete', lambda: lone.delete('minority/k')),
                    ('cas put', lambda: lone.put('minority/k', b'n', cas=i)),
                    ('linearizable get', lambda: lone.get('minority/k')),
                    ('list', lambda: lone.list(prefix='minority/'))):
                t0 = time.monotonic()
                r = fn()
                took = time.monotonic() - t0
                self.assertError(r, 503, 'unavailable')
                self.assertIsNotNone(r.header('Retry-After'),
                                     '%s: 503 without Retry-After' % what)
                self.assertLessEqual(took, bound,
                                     '%s took %.2fs, bound %.2fs'
                                     % (what, took, bound))
            g = lone.get('minority/k', stale=True)
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, b'last-known')
            self.assertEqual(int(g.header('X-Kv-Index')), i)
            self.assertEqual(lone.request('GET', '/healthz').status, 200)
            # Once it has no leader, it is not ready (§1.3 /readyz).
            wait_for(lambda: lone.request('GET', '/readyz').status == 503,
                     what='/readyz 503 on the cut-off member')
        finally:
            for m in others:
                m.resume()
        c.wait_leader()
        must_put(lone, 'minority/k', b'recovered')
        c.wait_ready()
        for m in c.all():
            self.assertEqual(m.get('minority/k').body, b'recovered')


class LeaseReadTest(ClusterTest):
    """--linearizable-reads lease: a leader answers reads from its lease;
    one that was stopped (SIGSTOP) past its lease while the others elected
    a leader and wrote must not answer from it when it wakes up."""

    CLUSTER_ARGS = ('--linearizable-reads', 'lease')

    def test_reads_see_writes_through_every_member(self):
        c = self.cluster
        c.wait_leader()
        for i, m in enumerate(c.all()):
            key = 'lease/%d' % i
            r = must_put(m, key, b'v%d' % i)
            for o in c.all():
                # An election under load may answer 503 for a moment.
                g = wait_for(lambda o=o: (lambda g: g if g.status == 200
                                          else None)(o.get(key)),
                             what='a linearizable GET of %s on member %d'
                             % (key, o.id))
                self.assertEqual(g.body, b'v%d' % i)
            self.assertGreater(r, 0)

    def test_leader_counts_its_lease_reads(self):
        """/metrics tells reads served from the lease from heartbeat
        rounds: a leader that keeps its lease serves GETs with no round."""
        c = self.cluster
        c.wait_leader()
        must_put(c.all()[0], 'lease/counted', b'v')

        def lease_reads_on_leader():
            lid, _ = c.wait_leader()
            leader = c[lid]
            before = leader.metric('kvd_reads_lease_total')
            for _ in range(5):
                if leader.get('lease/counted').status != 200:
                    return None
            after = leader.metric('kvd_reads_lease_total')
            # Still leading: the counts are that leader's own.
            if leader.metric('kvd_raft_is_leader') != 1:
                return None
            return after - before if after > before else None
        self.assertGreaterEqual(
            wait_for(lease_reads_on_leader, what='GETs served from the '
                     "leader's lease"), 1)

    def test_woken_leader_answers_no_stale_read(self):
        c = self.cluster
        for rnd in range(3):
            old, _ = c.wait_leader()
            key = 'lease/woken/%d' % rnd
            must_put(c[old], key, b'before')
            c[old].pause()
            try:
                others = [m for m in c.all() if m.id != old]
                new, _ = c.wait_leader(members=others, exclude=(old,))
                must_put(c[new], key, b'after')
                # The read is in the stopped member's socket before it
                # wakes (the kernel accepts and buffers it), so it is
                # among the first things the member does.
                sock = socket.create_connection(
                    (c[old].host, c[old].client_port), timeout=harness.WAIT_S)
                sock.sendall(('GET %s HTTP/1.1\r\nHost: kvd\r\n'
                              'Connection: close\r\n\r\n'
                              % harness.key_path(key)).encode())
            finally:
                c[old].resume()
            try:
                raw = harness.read_to_close(sock)
            finally:
                sock.close()
            head, _, body = raw.partition(b'\r\n\r\n')
            status = int(head.split(b' ')[1])
            self.assertNotEqual(body, b'before',
                                'round %d: a stale read from the old '
                                "leader's lease" % rnd)
            if status == 200:
                self.assertEqual(body, b'after')
            else:
                self.assertIn(status, (503, 504), raw)
            c.wait_leader()


if __name__ == '__main__':
    harness.main()
