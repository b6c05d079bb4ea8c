# test_txn.py - transactions (POST /v1/txn) and prefix deletes
# (DELETE /v1/kv?prefix=P), DESIGN.md §1.7, against three real members:
# every compare in both branches, every op's result, get after put, list
# limit and more, one index and one set of watch events for all the
# changes, a transaction sent to a follower, exactly-once retries answered
# with the same bytes, keys with characters JSON escapes, puts that attach
# a key to a lease and detach it, the 400/404/413 refusals (a missing
# lease leaves no effect and no event), and prefix deletes with their
# events and mod indexes.
#
# Writes the test needs to succeed go through txn_ok()/write(), which
# carry X-Kv-Client/X-Kv-Seq and retry on 503/504 (a leader may change on
# a loaded machine); reads of the stream wait with deadlines.

import base64
import http.client
import json
import random
import urllib.parse

import harness
from harness import ClusterTest, wait_for

MAX_VALUE = 16384
MAX_TXN = 65536
WAIT_S = 60.0


def b64(data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    return base64.b64encode(data).decode('ascii')


def identity():
    return {'X-Kv-Client': '%016x' % random.getrandbits(64),
            'X-Kv-Seq': '1'}


def watch(member, prefix, frm, n, timeout=WAIT_S):
    """The first @n change events of a watch on @prefix from index @frm
    (progress lines skipped), read from the member's durable history."""
    q = urllib.parse.urlencode({'prefix': prefix, 'from': str(frm)},
                               quote_via=urllib.parse.quote)
    conn = http.client.HTTPConnection(member.host, member.client_port,
                                      timeout=timeout)
    try:
        conn.request('GET', '/v1/watch?' + q)
        r = conn.getresponse()
        assert r.status == 200, (r.status, r.read())
        events = []
        while len(events) < n:
            line = r.readline()
            assert line.endswith(b'\n'), 'stream ended: %r' % events
            ev = json.loads(line.decode('utf-8'))
            if ev['type'] in ('put', 'delete'):
                events.append(ev)
        return events
    finally:
        conn.close()


class TxnTest(ClusterTest):
    CLUSTER_ARGS = ('--max-value-bytes', str(MAX_VALUE),
                    '--max-txn-bytes', str(MAX_TXN))

    def post(self, member, body, headers=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return member.request('POST', '/v1/txn', body, headers)

    def txn_ok(self, body, via=None, headers=None):
        """A transaction applied once (retried on 503/504 with one
        identity), sent to via() or the leader of the moment: 200's JSON
        and the raw answer."""
        headers = headers or identity()
        c = self.cluster

        def attempt():
            m = via() if via is not None else c.find_leader()
            r = self.post(m, body, headers)
            return r if r.status not in (503, 504) else None
        r = wait_for(attempt, timeout=WAIT_S, what='the transaction')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header('content-type'), 'application/json')
        self.assertTrue(r.body.endswith(b'\n'))
        return r.json(), r

    def put(self, key, value):
        r = self.cluster.put(key, value)
        self.assertEqual(r.status, 200, r)
        return r.json()['index']

    def test_00_refused_400(self):
        m = self.cluster[1]
        cases = [
            (b'', 'not valid JSON'),
            (b'[]', 'must be an object'),
            ({'compare': [], 'sucess': []}, 'unknown field "sucess"'),
            ({'success': [{'put': {'key': 'a', 'value': 'a'}}]},
             'must be base64'),
            ({'success': [{'put': {'key': 'a', 'value': ''}},
                          {'delete_prefix': {'prefix': ''}}]}, 'success'),
            ({'success': [{'list': {'limit': 10001}}]}, '[1, 10000]'),
            ({'compare': [{'key': 'a', 'target': 'exists', 'op': '<',
                           'value': True}]}, '"exists" takes'),
            ({'compare': [{'key': 'k%d' % i, 'target': 'exists',
                           'op': '==', 'value': False}
                          for i in range(129)]}, 'at most 128 compares'),
            ({'failure': [{'get': {'key': 'k%d' % i}}
                          for i in range(129)]}, 'at most 128 ops'),
        ]
        for body, words in cases:
            j = self.assertError(self.post(m, body), 400, 'bad_request')
            self.assertIn(words, j['message'], body)
        r = self.post(m, {}, {'X-Kv-Client': '0' * 16, 'X-Kv-Seq': '1'})
        self.assertError(r, 400, 'bad_request')
        r = m.request('GET', '/v1/txn')
        self.assertError(r, 405, 'method_not_allowed')
        self.assertEqual(r.header('allow'), 'POST')

    def test_01_limits_413(self):
        m = self.cluster[2]
        # A body over --max-txn-bytes, refused on its length.
        big = {'success': [{'put': {'key': 'big/%d' % i,
                                    'value': b64(b'x' * 8000)}}
                           for i in range(9)]}
        text = json.dumps(big)
        self.assertGreater(len(text), MAX_TXN)
        j = self.assertError(self.post(m, text), 413, 'too_large')
        self.assertIn('--max-txn-bytes', j['message'])
        # A put's value over --max-value-bytes.
        body = {'success': [{'put': {'key': 'big/v',
                                     'value': b64(b'x' * (MAX_VALUE + 1))}}]}
        self.assertError(self.post(m, body), 413, 'too_large')
        body['success'][0]['put']['value'] = b64(b'x' * MAX_VALUE)
        self.txn_ok(body)
        # Results over 4 MiB: no effect, 413.
        for i in range(130):
            self.put('huge/%03d' % i, b'h' * MAX_VALUE)
        body = {'success': [{'list': {'prefix': 'huge/'}}] * 2 +
                [{'put': {'key': 'huge/marker', 'value': ''}}]}
        r = wait_for(lambda: (lambda r: r.status not in (503, 504) and r)(
            self.post(self.cluster.find_leader(), body, identity())),
            what='the large transaction')
        self.assertError(r, 413, 'too_large')
        self.assertEqual(self.cluster[1].get('huge/marker').status, 404)

    def test_10_every_compare_in_both_branches(self):
        mod = self.put('cmp/a', b'v1')
        present = [
            ('mod_index', '==', mod, True), ('mod_index', '!=', mod, False),
            ('mod_index', '<', mod + 1, True), ('mod_index', '>', mod, False),
            ('mod_index', '>', 0, True), ('mod_index', '<', mod, False),
            ('value', '==', b64('v1'), True), ('value', '!=', b64('v1'), False),
            ('value', '<', b64('v2'), True), ('value', '<', b64('v1'), False),
            ('value', '>', b64('v0'), True), ('value', '>', b64('v10'), False),
            ('value', '<', b64('v10'), True), ('value', '>', b64(''), True),
            ('exists', '==', True, True), ('exists', '!=', True, False),
            ('exists', '==', False, False), ('exists', '!=', False, True),
        ]
        absent = [
            ('mod_index', '==', 0, True), ('mod_index', '>', 0, False),
            ('mod_index', '<', 1, True),
            ('value', '!=', b64('x'), True), ('value', '==', b64(''), False),
            ('value', '<', b64('x'), False), ('value', '>', b64(''), False),
            ('exists', '==', False, True), ('exists', '!=', False, False),
            ('exists', '==', True, False),
        ]
        for key, table in (('cmp/a', present), ('cmp/none', absent)):
            for target, op, value, want in table:
                cmp = {'key': key, 'target': target, 'op': op,
                       'value': value}
                j, _ = self.txn_ok({
                    'compare': [cmp],
                    'success': [{'get': {'key': 'cmp/a'}}],
                    'failure': [{'delete': {'key': 'cmp/nothing'}}]})
                self.assertEqual(j['succeeded'], want, cmp)
                if want:
                    self.assertEqual(j['results'][0]['value'], b64('v1'))
                else:
                    self.assertEqual(j['results'], [{'deleted': False}])
        # Compares are ANDed; none at all is true.
        t = {'key': 'cmp/a', 'target': 'exists', 'op': '==', 'value': True}
        f = {'key': 'cmp/a', 'target': 'mod_index', 'op': '==', 'value': 0}
        self.assertFalse(self.txn_ok({'compare': [t, f, t]})[0]['succeeded'])
        self.assertTrue(self.txn_ok({'compare': [t, t]})[0]['succeeded'])
        j, _ = self.txn_ok({})
        self.assertEqual((j['succeeded'], j['results']), (True, []))

    def check_every_op(self, top, branch):
        """Every op in @branch ("success" or "failure") on keys under
        @top, with their results and what the store then holds."""
        def k(name):
            return top + name
        self.put(k('b'), b'old')
        for name in ('p/1', 'p/2', 'l/1', 'l/2', 'l/3'):
            self.put(k(name), k(name).encode())
        ops = [
            {'put': {'key': k('a'), 'value': b64('new')}},
            {'get': {'key': k('a')}},
            {'delete': {'key': k('b')}},
            {'get': {'key': k('b')}},
            {'delete': {'key': k('none')}},
            {'delete_prefix': {'prefix': k('p/')}},
            {'list': {'prefix': k('p/')}},
            {'list': {'prefix': k('l/'), 'limit': 2}},
            {'list': {'prefix': k('l/'), 'limit': 3}},
        ]
        other = [{'put': {'key': k('other'), 'value': ''}}]
        body = {'success': ops, 'failure': other}
        if branch == 'failure':
            body = {'compare': [{'key': k('b'), 'target': 'exists',
                                 'op': '==', 'value': False}],
                    'success': other, 'failure': ops}
        j, _ = self.txn_ok(body)
        i = j['index']
        self.assertEqual(j['succeeded'], branch == 'success')
        res = j['results']
        self.assertEqual(len(res), 9)
        self.assertEqual(res[0], {'index': i})
        # A get after a put in the same branch sees the new value.
        self.assertEqual(res[1], {'key': k('a'), 'value': b64('new'),
                                  'index': i})
        self.assertEqual(res[2], {'deleted': True})
        self.assertEqual(res[3], {'key': k('b'), 'value': None, 'index': 0})
        self.assertEqual(res[4], {'deleted': False})
        self.assertEqual(res[5], {'deleted': 2})
        self.assertEqual(res[6], {'kvs': [], 'more': False})
        self.assertEqual([kv['key'] for kv in res[7]['kvs']],
                         [k('l/1'), k('l/2')])
        self.assertTrue(res[7]['more'])
        self.assertEqual(res[7]['kvs'][0]['value'], b64(k('l/1')))
        self.assertIsInstance(res[7]['kvs'][0]['index'], int)
        self.assertEqual(len(res[8]['kvs']), 3)
        self.assertFalse(res[8]['more'])
        # The store agrees, on every member: the put's mod index is the
        # transaction's index; the other branch did nothing.
        self.cluster.wait_converged(i)
        for m in self.cluster.all():
            r = m.get(k('a'), stale=True)
            self.assertEqual((r.status, r.body, r.header('x-kv-index')),
                             (200, b'new', str(i)))
            self.assertEqual(m.get(k('b'), stale=True).status, 404)
            self.assertEqual(m.get(k('p/1'), stale=True).status, 404)
            self.assertEqual(m.get(k('other'), stale=True).status, 404)

    def test_20_every_op_and_its_result(self):
        self.check_every_op('ops/', 'success')

    def test_21_every_op_in_the_failure_branch(self):
        self.check_every_op('opf/', 'failure')

    def test_22_keys_as_json_strings(self):
        keys = ['esc/"q"', 'esc/back\\slash', 'esc/\u00e9\u2603\U0001f600',
                'esc/space key', 'esc/</script>']
        body = {'success': [{'put': {'key': k, 'value': b64(k)}}
                            for k in keys] +
                [{'get': {'key': k}} for k in keys] +
                [{'list': {'prefix': 'esc/'}}]}
        j, raw = self.txn_ok(body)
        got = [r['key'] for r in j['results'][len(keys):2 * len(keys)]]
        self.assertEqual(got, keys)
        self.assertEqual([kv['key'] for kv in j['results'][-1]['kvs']],
                         sorted(keys, key=lambda k: k.encode()))
        for r in j['results'][len(keys):2 * len(keys)]:
            self.assertEqual(base64.b64decode(r['value']).decode(), r['key'])
        # The same text as the list route writes for these keys.
        lst = self.cluster[1].list(prefix='esc/').body
        for k in keys:
            self.assertIn(json.dumps(k, ensure_ascii=False).encode(), raw.body)
            self.assertIn(json.dumps(k, ensure_ascii=False).encode(), lst)

    def test_30_one_index_one_set_of_events(self):
        self.put('atom/old', b'o')
        j, _ = self.txn_ok({'success': [
            {'put': {'key': 'atom/x', 'value': b64('1')}},
            {'put': {'key': 'atom/y', 'value': b64('2')}},
            {'delete': {'key': 'atom/old'}},
            {'put': {'key': 'atom/z', 'value': b64('3')}},
        ]})
        i = j['index']
        self.put('atom/after', b'a')
        # Every member's history: the three puts and the delete at one
        # index, in op order, then the next write.
        for m in self.cluster.all():
            evs = watch(m, 'atom/', i, 5)
            self.assertEqual([(e['type'], e['key'], e['index'])
                              for e in evs[:4]],
                             [('put', 'atom/x', i), ('put', 'atom/y', i),
                              ('delete', 'atom/old', i),
                              ('put', 'atom/z', i)])
            self.assertEqual(evs[0]['value'], b64('1'))
            self.assertEqual(evs[4]['key'], 'atom/after')
            self.assertGreater(evs[4]['index'], i)

    def test_40_sent_to_a_follower(self):
        c = self.cluster
        j, _ = self.txn_ok(
            {'success': [{'put': {'key': 'fol/a', 'value': b64('f')}},
                         {'get': {'key': 'fol/a'}}]},
            via=c.follower)
        self.assertEqual(j['results'][1]['value'], b64('f'))
        c.wait_converged(j['index'])
        for m in c.all():
            self.assertEqual(m.get('fol/a', stale=True).body, b'f')

    def test_50_exactly_once_same_answer(self):
        c = self.cluster
        self.put('once/n', b'1')
        h = identity()
        body = {'compare': [{'key': 'once/n', 'target': 'value', 'op': '==',
                             'value': b64('1')}],
                'success': [{'put': {'key': 'once/n', 'value': b64('2')}},
                            {'get': {'key': 'once/n'}},
                            {'list': {'prefix': 'once/'}}],
                'failure': [{'get': {'key': 'once/n'}}]}
        first, r1 = self.txn_ok(body, headers=h)
        self.assertTrue(first['succeeded'])
        self.put('once/n', b'3')
        # The retry, on every member: not applied again, the same bytes.
        for m in c.all():
            r = wait_for(lambda: (lambda r: r.status not in (503, 504)
                                  and r)(self.post(m, body, h)),
                         what='the retry')
            self.assertEqual((r.status, r.body), (200, r1.body))
        self.assertEqual(c[1].get('once/n').body, b'3')
        # An older X-Kv-Seq of the client: 409.
        h2 = dict(h, **{'X-Kv-Seq': '2'})
        self.txn_ok({}, headers=h2)
        r = wait_for(lambda: (lambda r: r.status not in (503, 504) and r)(
            self.post(c.find_leader(), {}, h)), what='the old seq')
        self.assertError(r, 409, 'conflict')

    def test_60_unknown_lease_404(self):
        before = self.put('lease/before', b'')
        body = {'success': [{'put': {'key': 'lease/plain', 'value': ''}},
                            {'put': {'key': 'lease/k', 'value': b64('v'),
                                     'lease': 987654321}}]}
        r = wait_for(lambda: (lambda r: r.status not in (503, 504) and r)(
            self.post(self.cluster.find_leader(), body, identity())),
            what='the transaction')
        j = self.assertError(r, 404, 'not_found')
        self.assertEqual(j['message'], 'lease 987654321 not found')
        # No effect: not even the put without a lease, and no event.
        self.assertEqual(self.cluster[2].get('lease/plain').status, 404)
        after = self.put('lease/after', b'')
        evs = watch(self.cluster[3], 'lease/', before, 2)
        self.assertEqual([(e['key'], e['index']) for e in evs],
                         [('lease/before', before), ('lease/after', after)])

    def test_61_put_with_a_lease(self):
        c = self.cluster

        def grant():
            r = c.find_leader().request('POST', '/v1/leases',
                                        json.dumps({'ttl': 600}), identity())
            return r if r.status not in (503, 504) else None
        r = wait_for(grant, what='a lease')
        self.assertEqual(r.status, 200, r)
        lease = r.json()['id']

        def keys():
            r = c.find_leader().request('GET', '/v1/leases/%d' % lease)
            return r.json()['keys'] if r.status == 200 else None
        self.txn_ok({'success': [{'put': {'key': 'lease/held', 'value': '',
                                          'lease': lease}}]})
        self.assertEqual(wait_for(keys, what='the lease'), ['lease/held'])
        # A put without a lease detaches the key.
        self.txn_ok({'success': [{'put': {'key': 'lease/held',
                                          'value': ''}}]})
        self.assertEqual(wait_for(lambda: (lambda k: k is not None and
                                           (k,))(keys()))[0], [])

    def test_70_delete_prefix(self):
        c = self.cluster
        for k in ('dp/a', 'dp/b', 'dp/c/d', 'dpx'):
            self.put(k, k.encode())

        def delete(query, headers=None):
            def attempt():
                r = c.find_leader().request('DELETE', '/v1/kv' + query,
                                            None, headers)
                return r if r.status not in (503, 504) else None
            return wait_for(attempt, what='the prefix delete')
        h = identity()
        r = delete('?prefix=dp/', h)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j['deleted'], 3)
        i = j['index']
        # A retry answers the same; a second delete finds nothing.
        r2 = c.follower().request('DELETE', '/v1/kv?prefix=dp/', None, h)
        if r2.status not in (503, 504):
            self.assertEqual((r2.status, r2.body), (200, r.body))
        j2 = delete('?prefix=dp%2F', identity()).json()
        self.assertEqual(j2['deleted'], 0)
        self.assertGreater(j2['index'], i)
        c.wait_converged(i)
        for m in c.all():
            lst = m.list(prefix='dp').json()
            self.assertEqual([kv['key'] for kv in lst['kvs']], ['dpx'])
        # Watchers see the deletes at one index, and nothing for the
        # delete that found nothing.
        mod = self.put('dp/a', b'again')
        self.assertGreater(mod, j2['index'])
        evs = watch(c[3], 'dp/', i, 4)
        self.assertEqual([(e['type'], e['key'], e['index']) for e in evs],
                         [('delete', 'dp/a', i), ('delete', 'dp/b', i),
                          ('delete', 'dp/c/d', i), ('put', 'dp/a', mod)])
        self.assertEqual(c[2].get('dp/a').header('x-kv-index'), str(mod))
        # Refusals.
        m = c[1]
        j = self.assertError(m.request('DELETE', '/v1/kv'), 400,
                             'bad_request')
        self.assertIn('prefix=', j['message'])
        self.assertError(m.request('DELETE', '/v1/kv?prefix=' + 'p' * 512),
                         400, 'bad_request')
        self.assertError(m.request('DELETE', '/v1/kv?prefix=%01'), 400,
                         'bad_request')
        j = self.assertError(m.request('DELETE', '/v1/kv?prefix=dpx&cas=0'),
                             400, 'bad_request')
        self.assertIn('cas', j['message'])
        self.assertEqual(m.get('dpx').status, 200)
        r = m.request('PUT', '/v1/kv')
        self.assertError(r, 405, 'method_not_allowed')
        self.assertEqual(r.header('allow'), 'GET, DELETE')

    def test_80_metrics_routes(self):
        m = self.cluster[1]
        self.txn_ok({}, via=lambda: m)
        self.assertError(m.request('DELETE', '/v1/kv'), 400, 'bad_request')
        text = m.request('GET', '/metrics').body.decode()

        def counted(route, code):
            line = 'kvd_http_requests_total{route="%s",code="%s"} ' % (
                route, code)
            at = text.find(line)
            self.assertGreaterEqual(at, 0, line)
            return int(text[at + len(line):].split('\n')[0])
        self.assertGreaterEqual(counted('txn', '200'), 1)
        self.assertGreaterEqual(counted('kv_delete_prefix', '400'), 1)

    def test_99_empty_prefix_deletes_every_key(self):
        c = self.cluster
        self.put('zzz', b'z')

        def attempt():
            r = c.find_leader().request('DELETE', '/v1/kv?prefix=', None,
                                        identity())
            return r if r.status not in (503, 504) else None
        r = wait_for(attempt, what='the delete of every key')
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json()['deleted'], 1)
        c.wait_converged(r.json()['index'])
        for m in c.all():
            self.assertEqual(m.list().json()['kvs'], [])


if __name__ == '__main__':
    harness.main()
