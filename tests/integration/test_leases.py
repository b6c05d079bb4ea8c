# test_leases.py - leases end to end (DESIGN.md §1.6, docs/API.md "Leases")
# on real 3-member clusters: every route and error, keys attached, detached
# and deleted with their lease, revoke and expiry seen by a watcher as
# deletes at one index, no key lost while a client keeps its lease alive
# through a leader's SIGKILL, expiry in time once keepalives stop (and never
# before the TTL), keepalives through followers, leases across restarts of
# every member and a snapshot install.

import json
import random
import sys
import threading
import time

import harness
from harness import ClusterTest, key_path, wait_for
from test_watch import Stream

WAIT_S = 60.0


def lease_req(m, method, path, body=None, headers=None, timeout=10.0):
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return m.request(method, path, body=body, headers=headers,
                     timeout=timeout)


def retry(c, fn, what, timeout=WAIT_S, ok=(200,)):
    """fn(member) on any live member until its status is not 503/504 and
    no connection error; returns the response."""
    def once():
        m = random.choice(c.live())
        try:
            r = fn(m)
        except OSError:
            return None
        return r if r.status not in (503, 504) else None
    r = wait_for(once, timeout=timeout, what=what)
    if ok and r.status not in ok:
        raise AssertionError('%s: %r' % (what, r))
    return r


def grant(c, ttl, headers=None):
    r = retry(c, lambda m: lease_req(m, 'POST', '/v1/leases', {'ttl': ttl},
                                     headers), 'grant')
    j = r.json()
    assert j['ttl'] == ttl, j
    assert j['id'] > 0, j
    return j['id']


def put_lease(c, key, value, lease):
    """PUT with ?lease=, once (exactly-once headers), through the leader."""
    hdrs = {'X-Kv-Client': '%016x' % random.getrandbits(64),
            'X-Kv-Seq': '1'}
    def once():
        m = c.find_leader()
        try:
            r = m.request('PUT', key_path(key) + '?lease=%d' % lease,
                          body=value, headers=hdrs)
        except OSError:
            return None
        return r if r.status not in (503, 504) else None
    r = wait_for(once, what='put with lease')
    assert r.status == 200, r
    return r.json()['index']


def key_exists(c, key):
    r = retry(c, lambda m: m.get(key), 'get %s' % key, ok=(200, 404))
    return r.status == 200


class LeaseApiTest(ClusterTest):
    """Every route and error, on one cluster."""

    def test_01_errors(self):
        c = self.cluster
        m = c.follower()
        for body in ('', 'x', '{}', '{"ttl": 0}', '{"ttl": 86401}',
                     '{"ttl": "5"}', '{"ttl": -1}', '{"ttl": 5, "x": 1}',
                     '{"ttl": 99999999999999999999}', '[5]'):
            self.assertError(lease_req(m, 'POST', '/v1/leases', body), 400,
                             'bad_request')
        for path in ('/v1/leases/abc', '/v1/leases/0', '/v1/leases/-1',
                     '/v1/leases/18446744073709551616',
                     '/v1/leases/0/keepalive'):
            method = 'POST' if path.endswith('keepalive') else 'GET'
            self.assertError(lease_req(m, method, path), 400, 'bad_request')
        self.assertError(lease_req(m, 'GET', '/v1/leases/1/x'), 404,
                         'not_found')
        self.assertError(lease_req(m, 'GET', '/v1/leasesx'), 404,
                         'not_found')
        self.assertError(lease_req(m, 'PUT', '/v1/leases'), 405,
                         'method_not_allowed')
        self.assertError(lease_req(m, 'PUT', '/v1/leases/5'), 405,
                         'method_not_allowed')
        self.assertError(lease_req(m, 'GET', '/v1/leases/5/keepalive'), 405,
                         'method_not_allowed')
        self.assertError(lease_req(m, 'GET', '/v1/leases/keepalive'), 405,
                         'method_not_allowed')
        for body in ('', '{}', '{"ids": []}', '{"ids": [0]}',
                     '{"ids": ["1"]}', '{"ids": 5}',
                     json.dumps({'ids': list(range(1, 10002))})):
            self.assertError(lease_req(m, 'POST', '/v1/leases/keepalive',
                                       body), 400, 'bad_request')
        for q in ('?limit=0', '?limit=10001', '?after=x'):
            self.assertError(lease_req(m, 'GET', '/v1/leases' + q), 400,
                             'bad_request')
        # Unknown leases: 404, through a follower and on the leader.
        for mm in (m, c.leader()):
            r = retry(c, lambda _: lease_req(
                mm, 'POST', '/v1/leases/999999999/keepalive'),
                'keepalive', ok=(404,))
            self.assertError(r, 404, 'not_found')
            r = retry(c, lambda _: lease_req(mm, 'GET',
                                             '/v1/leases/999999999'),
                      'get', ok=(404,))
            self.assertError(r, 404, 'not_found')
            r = retry(c, lambda _: lease_req(mm, 'DELETE',
                                             '/v1/leases/999999999'),
                      'revoke', ok=(404,))
            self.assertError(r, 404, 'not_found')
        # PUT ?lease=: a positive id, an existing lease, PUT only.
        for q in ('0', 'x', '-3', ''):
            self.assertError(m.request('PUT', key_path('l/e') + '?lease=' + q,
                                       body=b'v'), 400, 'bad_request')
        self.assertError(m.request('DELETE', key_path('l/e') + '?lease=5'),
                         400, 'bad_request')
        r = retry(c, lambda mm: mm.request(
            'PUT', key_path('l/e') + '?lease=999999999', body=b'v'),
            'put to an unknown lease', ok=(404,))
        self.assertError(r, 404, 'not_found')
        self.assertFalse(key_exists(c, 'l/e'))

    def test_02_routes(self):
        c = self.cluster
        f = c.follower()
        r = retry(c, lambda m: lease_req(f, 'POST', '/v1/leases',
                                         {'ttl': 60}), 'grant')
        lid = r.json()['id']
        self.assertEqual(r.json(), {'id': lid, 'ttl': 60})
        put_lease(c, 'l/a', b'A', lid)
        put_lease(c, 'l/b', b'B', lid)
        # Read through a follower (relayed to the leader).
        r = retry(c, lambda m: lease_req(f, 'GET', '/v1/leases/%d' % lid),
                  'get lease')
        j = r.json()
        self.assertEqual(j['id'], lid)
        self.assertEqual(j['ttl'], 60)
        self.assertEqual(sorted(j['keys']), ['l/a', 'l/b'])
        self.assertNotIn('keys_more', j)
        self.assertTrue(0 < j['remaining_ms'] <= 60000, j)
        r = retry(c, lambda m: lease_req(m, 'GET', '/v1/leases'), 'list')
        ls = {x['id']: x for x in r.json()['leases']}
        self.assertIn(lid, ls)
        self.assertEqual(ls[lid]['ttl'], 60)
        self.assertIs(r.json()['more'], False)
        # Paging: after=lid leaves it out.
        r = retry(c, lambda m: lease_req(
            m, 'GET', '/v1/leases?after=%d&limit=1' % lid), 'list after')
        self.assertNotIn(lid, [x['id'] for x in r.json()['leases']])
        # Keepalive through a follower, one and a batch.
        r = retry(c, lambda m: lease_req(
            f, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive')
        self.assertEqual(r.json(), {'id': lid, 'ttl': 60})
        r = retry(c, lambda m: lease_req(
            f, 'POST', '/v1/leases/keepalive',
            {'ids': [lid, 999999999]}), 'batch keepalive')
        self.assertEqual(r.json(), {'leases': [{'id': lid, 'ttl': 60}],
                                    'not_found': [999999999]})
        # A plain PUT detaches, a DELETE removes the key from the lease.
        c.put('l/b', b'B2')
        c.delete('l/a')
        r = retry(c, lambda m: lease_req(m, 'GET', '/v1/leases/%d' % lid),
                  'get lease')
        self.assertEqual(r.json()['keys'], [])
        # Revoke: every attached key deleted at one index, seen by a
        # watcher as deletes at that index.
        i1 = put_lease(c, 'l/c', b'C', lid)
        put_lease(c, 'l/d', b'D', lid)
        w = Stream(c.leader(), prefix='l/', frm=i1).open()
        try:
            hdrs = {'X-Kv-Client': '00000000000000ab', 'X-Kv-Seq': '7'}
            r = retry(c, lambda m: lease_req(
                m, 'DELETE', '/v1/leases/%d' % lid, headers=hdrs), 'revoke')
            j = r.json()
            self.assertEqual(j['deleted'], 2)
            idx = j['index']
            # The same request again: the first answer (exactly once).
            r = retry(c, lambda m: lease_req(
                m, 'DELETE', '/v1/leases/%d' % lid, headers=hdrs), 'revoke')
            self.assertEqual(r.json(), j)
            w.wait(lambda s: len([x for x in s.changes()
                                  if x[0] == 'delete']) >= 2,
                   'the revoke\'s deletes')
            dels = [x for x in w.changes() if x[0] == 'delete']
            self.assertEqual(sorted(x[1] for x in dels), ['l/c', 'l/d'])
            self.assertEqual({x[3] for x in dels}, {idx})
        finally:
            w.close()
        self.assertFalse(key_exists(c, 'l/c'))
        self.assertTrue(key_exists(c, 'l/b'))
        r = retry(c, lambda m: lease_req(
            m, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive',
            ok=(404,))
        r = retry(c, lambda m: lease_req(m, 'DELETE', '/v1/leases/%d' % lid),
                  'revoke again', ok=(404,))

    def test_03_grant_exactly_once(self):
        c = self.cluster
        hdrs = {'X-Kv-Client': '00000000000000cd', 'X-Kv-Seq': '1'}
        a = grant(c, 30, hdrs)
        b = grant(c, 30, hdrs)
        self.assertEqual(a, b)
        hdrs['X-Kv-Seq'] = '2'
        self.assertNotEqual(grant(c, 30, hdrs), a)

    def test_04_metrics(self):
        c = self.cluster
        lid = grant(c, 30)
        retry(c, lambda m: lease_req(
            m, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive')
        text = c.leader().request('GET', '/metrics').body.decode()
        for name in ('kvd_leases ', 'kvd_lease_keepalives_total ',
                     'kvd_lease_expired_total '):
            self.assertIn('\n' + name, text)


class LeaseLimitTest(ClusterTest):
    CLUSTER_ARGS = ('--max-leases', '2')

    def test_max_leases_409(self):
        c = self.cluster
        grant(c, 60)
        grant(c, 60)
        c.wait_converged()
        r = retry(c, lambda m: lease_req(m, 'POST', '/v1/leases',
                                         {'ttl': 60}), 'grant', ok=(409,))
        self.assertError(r, 409, 'conflict')


class KeepAlive(threading.Thread):
    """Keeps lease @lid alive through random members every @period s
    (retrying at once on errors): valid_until is the send time of the last
    200 plus the TTL, as a careful client counts it."""

    def __init__(self, cluster, lid, ttl, period):
        super().__init__(daemon=True)
        self.c, self.lid, self.ttl, self.period = cluster, lid, ttl, period
        self.stop = threading.Event()
        self.valid_until = time.monotonic() + ttl
        self.last_answer = None
        self.gone = False
        self.oks = 0

    def run(self):
        while not self.stop.is_set():
            ms = self.c.live()
            m = random.choice(ms)
            sent = time.monotonic()
            try:
                r = lease_req(m, 'POST', '/v1/leases/%d/keepalive' % self.lid,
                              timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            if r.status == 200:
                self.valid_until = sent + self.ttl
                self.last_answer = time.monotonic()
                self.oks += 1
                self.stop.wait(self.period)
            elif r.status == 404:
                self.gone = True
                return
            else:
                time.sleep(0.05)


class LeaseSafetyTest(ClusterTest):
    """The promise and its bound."""

    def test_01_leader_killed_no_key_lost(self):
        c = self.cluster
        ttl = 4
        lid = grant(c, ttl)
        first = put_lease(c, 'k/a', b'a', lid)
        put_lease(c, 'k/b', b'b', lid)
        ka = KeepAlive(c, lid, ttl, ttl / 3.0)
        ka.start()
        watchers = []
        try:
            for m in c.all():
                watchers.append(Stream(m, prefix='k/', frm=first).open())
            old = c.leader()
            old.kill()
            new, _ = c.wait_leader(members=[m for m in c.all()
                                            if m.id != old.id])
            # Several TTLs under the new leader.
            t_end = time.monotonic() + 3 * ttl
            while time.monotonic() < t_end:
                self.assertFalse(ka.gone, 'a kept-alive lease was lost')
                time.sleep(0.2)
            self.assertGreater(ka.oks, 3)
            sys.stderr.write('%d keepalives answered across the leader '
                             'change\n' % ka.oks)
            # A lapse of the client's own keepalives (a stalled machine)
            # would make expiry legal: the test needs none.
            self.assertFalse(ka.gone)
            self.assertTrue(key_exists(c, 'k/a'))
            self.assertTrue(key_exists(c, 'k/b'))
            for w in [w for w in watchers if w.member.id != old.id]:
                self.assertEqual([x for x in w.changes()
                                  if x[0] == 'delete'], [])
        finally:
            ka.stop.set()
            ka.join(10)
            for w in watchers:
                w.close()
            if not old.running():
                old.start()
                c.wait_leader()

    def test_02_keepalives_stop_expiry_in_time(self):
        c = self.cluster
        ttl = 2
        et = c.election_timeout_ms / 1000.0
        lid = grant(c, ttl)
        first = put_lease(c, 'x/a', b'a', lid)
        put_lease(c, 'x/b', b'b', lid)
        put_lease(c, 'x/c', b'c', lid)
        w = Stream(c.follower(), prefix='x/', frm=first).open()
        try:
            # The last keepalive: the lease is valid until its send time
            # + TTL at least.
            sent = time.monotonic()
            r = retry(c, lambda m: lease_req(
                m, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive')
            answered = time.monotonic()
            if r.status != 200:
                self.fail(r)
            # Never gone before the TTL: a read answered "absent" before
            # sent + TTL would be a broken promise.
            while time.monotonic() < sent + ttl - 0.2:
                try:
                    g = c.leader().get('x/a', timeout=5)
                except (OSError, AssertionError):
                    # No leader known yet, or it did not answer: ask
                    # again shortly rather than spin.
                    time.sleep(0.05)
                    continue
                t = time.monotonic()
                if g.status == 404:
                    self.assertGreaterEqual(t, sent + ttl,
                                            'deleted before its TTL')
                time.sleep(0.05)
            w.wait(lambda s: len([x for x in s.changes()
                                  if x[0] == 'delete']) >= 3,
                   'the expiry\'s deletes', timeout=WAIT_S)
            seen = time.monotonic()
            dels = [x for x in w.changes() if x[0] == 'delete']
            self.assertEqual(sorted(x[1] for x in dels),
                             ['x/a', 'x/b', 'x/c'])
            self.assertEqual(len({x[3] for x in dels}), 1,
                             'one index for the expiry: %r' % dels)
            took = seen - answered
            sys.stderr.write('expired %.2fs after the last keepalive was '
                             'answered (TTL %ds, election timeout %.1fs)\n'
                             % (took, ttl, et))
            # The bound is TTL + 2 election timeouts while a leader
            # exists; the slack covers a loaded machine's scheduling.
            self.assertLess(took, ttl + 2 * et + 10.0,
                            'expired %.2fs after the last keepalive' % took)
            r = retry(c, lambda m: lease_req(
                m, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive',
                ok=(404,))
            r = retry(c, lambda m: lease_req(m, 'GET', '/v1/leases/%d' % lid),
                      'get', ok=(404,))
        finally:
            w.close()
        # Counted by the leader that expired it (which may have moved).
        expired = 0
        for m in c.live():
            text = m.request('GET', '/metrics').body.decode()
            expired += sum(int(float(line.split()[1]))
                           for line in text.splitlines()
                           if line.startswith('kvd_lease_expired_total '))
        self.assertGreaterEqual(expired, 1)


    def test_03_many_expire_in_batches(self):
        """More leases than one expiry entry takes (1024), due at once (a
        new leader gives them all the same deadline): all end, counted by
        the leader that expired them."""
        c = self.cluster
        n, workers = 1100, 8
        ids, errors = [], []
        lock = threading.Lock()

        def grant_some(k):
            try:
                got = [grant(c, 5) for _ in range(k)]
            except AssertionError as e:
                errors.append(e)
                return
            with lock:
                ids.extend(got)
        ts = [threading.Thread(target=grant_some, args=(n // workers,))
              for _ in range(workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids)), n // workers * workers)
        put_lease(c, 'many/k', b'1', grant(c, 5))
        # A new leader: every lease gets now + 5 s, the same deadline.
        old = c.leader()
        to = [m for m in c.all() if m.id != old.id][0]
        wait_for(lambda: retry(c, lambda m: m.request(
            'POST', '/v1/leader/transfer', body=json.dumps({'to': to.id})),
            'transfer', ok=(200, 504)).status == 200,
            what='leadership moved to %d' % to.id)

        def gauge():
            m = c.find_leader()
            text = m.request('GET', '/metrics').body.decode()
            for line in text.splitlines():
                if line.startswith('kvd_leases '):
                    return int(float(line.split()[1])) == 0
            return False
        wait_for(gauge, timeout=WAIT_S, what='every lease expired')
        self.assertFalse(key_exists(c, 'many/k'))
        expired = 0
        for m in c.all():
            text = m.request('GET', '/metrics').body.decode()
            expired += sum(int(float(line.split()[1]))
                           for line in text.splitlines()
                           if line.startswith('kvd_lease_expired_total '))
        self.assertGreaterEqual(expired, len(ids))


class LeasePersistTest(ClusterTest):
    """Leases survive restarts of every member and a snapshot install."""
    CLUSTER_ARGS = ('--snapshot-entries', '16')

    def test_01_restart_every_member(self):
        c = self.cluster
        lid = grant(c, 300)
        put_lease(c, 'p/a', b'a', lid)
        c.wait_converged()
        for m in c.all():
            self.assertEqual(m.terminate(), 0)
        for m in c.all():
            m.start()
        c.wait_leader()
        r = retry(c, lambda m: lease_req(m, 'GET', '/v1/leases/%d' % lid),
                  'get after restart')
        self.assertEqual(r.json()['keys'], ['p/a'])
        self.assertEqual(r.json()['ttl'], 300)
        retry(c, lambda m: lease_req(
            m, 'POST', '/v1/leases/%d/keepalive' % lid), 'keepalive')

    def test_02_snapshot_install(self):
        c = self.cluster
        lid0, _ = c.wait_leader()
        down = [m for m in c.all() if m.id != lid0][0]
        down_last = down.try_status()['last_index']
        down.kill()
        lid = grant(c, 300)
        put_lease(c, 's/a', b'a', lid)
        for i in range(60):
            c.put('s/filler%02d' % i, b'x')
        wait_for(lambda: c.find_leader().try_status()['snapshot_index'] >
                 down_last + 16, what='a snapshot past the member')
        down.start()
        c.wait_leader()
        c.wait_converged()
        # The member's store came from the snapshot: made leader, it
        # knows the lease and its key, and keeps it alive.
        def transfer():
            r = retry(c, lambda m: m.request(
                'POST', '/v1/leader/transfer',
                body=json.dumps({'to': down.id})), 'transfer',
                ok=(200, 504))
            return r.status == 200
        wait_for(transfer, what='leadership moved to %d' % down.id)
        self.assertEqual(down.get('s/a', stale=True).body, b'a')
        r = retry(c, lambda m: lease_req(down, 'GET', '/v1/leases/%d' % lid),
                  'get through the installed member')
        self.assertEqual(r.json()['keys'], ['s/a'])
        r = retry(c, lambda m: lease_req(m, 'DELETE', '/v1/leases/%d' % lid),
                  'revoke')
        self.assertEqual(r.json()['deleted'], 1)
        self.assertFalse(key_exists(c, 's/a'))


if __name__ == '__main__':
    harness.main()
