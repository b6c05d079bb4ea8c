# test_api.py - the public HTTP API (docs/API.md) against a real 3-member
# cluster: election, replication through any member, kv routes, CAS, list,
# key/value limits, error shape, exactly-once writes, health and status.

import base64
import json
import os
import re
import resource
import socket
import threading
import time

import harness
from harness import ClusterTest, key_path, wait_for

MAX_VALUE = 1024


class ApiTest(ClusterTest):
    CLUSTER_ARGS = ('--max-value-bytes', str(MAX_VALUE))

    def test_00_one_leader_all_agree(self):
        c = self.cluster

        def agreed():
            # Read again after an election of the cluster's own between
            # wait_leader() and the statuses (a loaded machine).
            lid, term = c.wait_leader()
            sts = [m.try_status() for m in c.all()]
            return all(s and (s['leader'], s['term']) == (lid, term)
                       for s in sts) and (lid, term, sts)
        lid, term, sts = wait_for(agreed, what='statuses of one term')
        self.assertEqual([s['state'] for s in sts].count('leader'), 1)
        for s in sts:
            self.assertEqual(s['leader'], lid)
            self.assertEqual(s['term'], term)
            self.assertGreater(term, 0)
            if s['id'] != lid:
                self.assertEqual(s['state'], 'follower')

    def test_01_status_fields(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        # A member learns the others' client URLs from their peer
        # messages: wait until each member knows all of them.
        for m in c.all():
            wait_for(lambda: all(x.get('client_url') for x in
                                 (m.try_status() or {}).get('members',
                                                            [{}])),
                     what='member %d knows every client URL' % m.id)
        for m in c.all():
            s = m.try_status()
            self.assertIsNotNone(s)
            for f in ('id', 'term', 'leader', 'commit_index', 'applied_index',
                      'last_index', 'snapshot_index'):
                self.assertIsInstance(s[f], int, f)
                self.assertNotIsInstance(s[f], bool, f)
            self.assertEqual(s['id'], m.id)
            self.assertIn(s['state'], ('leader', 'follower', 'candidate',
                                       'learner', 'removed'))
            # The leader's: the one it names (it may have changed since).
            self.assertEqual(s['leader_client_url'],
                             c[s['leader'] or lid].client_url)
            self.assertLessEqual(s['applied_index'], s['commit_index'])
            self.assertLessEqual(s['commit_index'], s['last_index'])
            self.assertLessEqual(s['snapshot_index'], s['applied_index'])
            ms = sorted(s['members'], key=lambda x: x['id'])
            self.assertEqual([x['id'] for x in ms], [1, 2, 3])
            for x in ms:
                self.assertEqual(x['peer_url'], c[x['id']].peer_url)
                self.assertEqual(x['client_url'], c[x['id']].client_url)
                self.assertIs(x['voter'], True)

    def test_02_members_route(self):
        c = self.cluster
        for m in c.all():
            r = m.request('GET', '/v1/members')
            self.assertEqual(r.status, 200, r)
            ms = sorted(r.json()['members'], key=lambda x: x['id'])
            self.assertEqual([x['id'] for x in ms], [1, 2, 3])
            self.assertEqual([x['peer_url'] for x in ms],
                             [c[i].peer_url for i in (1, 2, 3)])

    def test_03_put_anywhere_get_everywhere(self):
        c = self.cluster
        for writer in c.all():
            key = 'rep/from-%d' % writer.id
            val = ('value written through member %d' % writer.id).encode()
            r = writer.put(key, val)
            self.assertEqual(r.status, 200, r)
            idx = r.json()['index']
            self.assertIsInstance(idx, int)
            self.assertGreater(idx, 0)
            for reader in c.all():
                if reader is writer:
                    continue
                g = reader.get(key)
                self.assertEqual(g.status, 200, g)
                self.assertEqual(g.body, val)
                self.assertEqual(int(g.header('X-Kv-Index')), idx)
                self.assertEqual(g.header('Content-Type'),
                                 'application/octet-stream')

    def test_04_indexes_grow_and_mod_index(self):
        m = self.cluster[1]
        i1 = m.put('idx/k', b'one').json()['index']
        i2 = m.put('idx/k', b'two').json()['index']
        self.assertGreater(i2, i1)
        g = self.cluster[2].get('idx/k')
        self.assertEqual(g.body, b'two')
        self.assertEqual(int(g.header('X-Kv-Index')), i2)

    def test_05_binary_and_empty_values(self):
        c = self.cluster
        blob = bytes(range(256))
        r = c[1].put('bin/blob', blob)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(c[3].get('bin/blob').body, blob)
        r = c[2].put('bin/empty', b'')
        self.assertEqual(r.status, 200, r)
        g = c[1].get('bin/empty')
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body, b'')

    def test_06_get_absent_404(self):
        for m in self.cluster.all():
            self.assertError(m.get('absent/nothing-here'), 404, 'not_found')
            self.assertError(m.get('absent/nothing-here', stale=True), 404,
                             'not_found')

    def test_07_delete(self):
        c = self.cluster
        i = c[1].put('del/k', b'v').json()['index']
        r = c[2].delete('del/k')
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertIs(j['deleted'], True)
        self.assertGreater(j['index'], i)
        self.assertError(c[3].get('del/k'), 404, 'not_found')
        r = c[3].delete('del/k')
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()['deleted'], False)
        self.assertIsInstance(r.json()['index'], int)

    def test_08_cas(self):
        c = self.cluster
        r = c[1].put('cas/k', b'a', cas=0)
        self.assertEqual(r.status, 200, r)
        i1 = r.json()['index']
        # cas=0 on an existing key: 412 with the current mod index.
        j = self.assertError(c[2].put('cas/k', b'b', cas=0), 412, 'cas_failed')
        self.assertEqual(j['index'], i1)
        j = self.assertError(c[3].put('cas/k', b'b', cas=i1 + 1000), 412,
                             'cas_failed')
        self.assertEqual(j['index'], i1)
        self.assertEqual(c[1].get('cas/k').body, b'a')
        r = c[2].put('cas/k', b'b', cas=i1)
        self.assertEqual(r.status, 200, r)
        i2 = r.json()['index']
        self.assertEqual(c[3].get('cas/k').body, b'b')
        # cas on an absent key with M != 0: 412, current index 0.
        j = self.assertError(c[1].put('cas/absent', b'x', cas=5), 412,
                             'cas_failed')
        self.assertEqual(j['index'], 0)
        # cas delete
        j = self.assertError(c[1].delete('cas/k', cas=i1), 412, 'cas_failed')
        self.assertEqual(j['index'], i2)
        self.assertEqual(c[1].get('cas/k').body, b'b')
        r = c[3].delete('cas/k', cas=i2)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()['deleted'], True)
        self.assertError(c[2].get('cas/k'), 404, 'not_found')

    def test_09_list(self):
        c = self.cluster
        keys = ['lst/a', 'lst/b', 'lst/c', 'lst/d']
        idx = {}
        for k in reversed(keys):
            idx[k] = c[1].put(k, ('val-' + k).encode() + b'\x00\xff').json()[
                'index']
        c[1].put('lsu', b'outside')
        c[1].put('lss', b'outside')
        r = c[2].list(prefix='lst/')
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual([x['key'] for x in j['kvs']], keys)
        self.assertIs(j['more'], False)
        for x in j['kvs']:
            self.assertEqual(base64.b64decode(x['value']),
                             ('val-' + x['key']).encode() + b'\x00\xff')
            self.assertEqual(x['index'], idx[x['key']])
        # paging: limit + more, then after
        j = c[3].list(prefix='lst/', limit=2).json()
        self.assertEqual([x['key'] for x in j['kvs']], keys[:2])
        self.assertIs(j['more'], True)
        j = c[3].list(prefix='lst/', limit=2, after='lst/b').json()
        self.assertEqual([x['key'] for x in j['kvs']], keys[2:])
        self.assertIs(j['more'], False)
        j = c[1].list(prefix='lst/', after='lst/d').json()
        self.assertEqual(j['kvs'], [])
        self.assertIs(j['more'], False)
        # no prefix: everything, in key order
        j = c[1].list().json()
        allkeys = [x['key'] for x in j['kvs']]
        self.assertEqual(allkeys, sorted(allkeys, key=lambda s: s.encode()))
        for k in keys + ['lsu', 'lss']:
            self.assertIn(k, allkeys)

    def test_10_bad_keys_400(self):
        m = self.cluster[2]
        bad = ['/v1/kv/',                       # empty
               key_path('k' * 512),             # too long
               '/v1/kv/a%01b',                  # control character
               '/v1/kv/a%7Fb',                  # DEL
               '/v1/kv/%FF%FE',                 # invalid UTF-8
               '/v1/kv/%C0%AF']                 # overlong encoding
        for p in bad:
            for method, body in (('PUT', b'v'), ('GET', None),
                                 ('DELETE', None)):
                r = m.request(method, p, body)
                self.assertError(r, 400, 'bad_request')
        # the longest valid key, and a multi-byte one, work
        r = m.put('k' * 511, b'long')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.cluster[1].get('k' * 511).body, b'long')
        r = m.put('ключ/é', b'utf8')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.cluster[3].get('ключ/é').body, b'utf8')

    def test_11_value_too_large_413(self):
        c = self.cluster
        r = c[1].put('big/ok', b'x' * MAX_VALUE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(c[2].get('big/ok').body), MAX_VALUE)
        for m in c.all():
            self.assertError(m.put('big/no', b'x' * (MAX_VALUE + 1)), 413,
                             'too_large')
        self.assertError(c[3].get('big/no'), 404, 'not_found')

    def test_12_wrong_methods_405(self):
        m = self.cluster[1]
        for method, path in (('POST', '/v1/kv/somekey'),
                             ('PATCH', '/v1/kv/somekey'),
                             ('PUT', '/v1/kv'),
                             ('POST', '/v1/kv'),
                             ('GET', '/v1/txn'),
                             ('PUT', '/v1/status'),
                             ('POST', '/v1/status'),
                             ('PUT', '/v1/members'),
                             ('GET', '/v1/leader/transfer')):
            r = m.request(method, path, b'' if method != 'GET' else None)
            self.assertError(r, 405, 'method_not_allowed')

    def test_13_unknown_path_404(self):
        r = self.cluster[1].request('GET', '/v1/nothing-here')
        self.assertError(r, 404, 'not_found')

    def test_14_exactly_once(self):
        c = self.cluster
        hdr = {'X-Kv-Client': '0123456789abcdef', 'X-Kv-Seq': '7'}
        r1 = c[1].put('once/k', b'first', headers=hdr)
        self.assertEqual(r1.status, 200, r1)
        i1 = r1.json()['index']
        # The retry carries another body on purpose: were it applied, the
        # value would change.
        for m in c.all():
            r = m.put('once/k', b'second', headers=hdr)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()['index'], i1)
        for m in c.all():
            g = m.get('once/k')
            self.assertEqual(g.body, b'first')
            self.assertEqual(int(g.header('X-Kv-Index')), i1)
        # The next seq of the same client is a new write.
        hdr2 = dict(hdr, **{'X-Kv-Seq': '8'})
        r = c[2].put('once/k', b'third', headers=hdr2)
        self.assertGreater(r.json()['index'], i1)
        self.assertEqual(c[3].get('once/k').body, b'third')
        # A delete retried is applied once too.
        hdr3 = dict(hdr, **{'X-Kv-Seq': '9'})
        d1 = c[3].delete('once/k', headers=hdr3)
        self.assertEqual(d1.status, 200, d1)
        self.assertIs(d1.json()['deleted'], True)
        c[1].put('once/k', b'fourth')
        d2 = c[2].delete('once/k', headers=hdr3)
        self.assertEqual(d2.status, 200, d2)
        self.assertEqual(d2.json(), d1.json())
        self.assertEqual(c[1].get('once/k').body, b'fourth')

    def test_15_health_ready_metrics(self):
        c = self.cluster
        c.wait_ready()
        line = re.compile(
            r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? '
            r'[-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]?Inf)( [0-9]+)?$')
        for m in c.all():
            self.assertEqual(m.request('GET', '/healthz').status, 200)
            # 503 while an election of the cluster's own is under way.
            wait_for(lambda: m.request('GET', '/readyz').status == 200,
                     what='/readyz 200 on member %d' % m.id)
            r = m.request('GET', '/metrics')
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header('Content-Type').startswith('text/plain'),
                            r.headers)
            text = r.body.decode('utf-8')
            samples = 0
            for ln in text.splitlines():
                if not ln or ln.startswith('#'):
                    if ln.startswith('# TYPE'):
                        self.assertRegex(
                            ln, r'^# TYPE \S+ (counter|gauge|histogram|'
                                r'summary|untyped)$')
                    continue
                self.assertRegex(ln, line)
                samples += 1
            self.assertGreater(samples, 0)

    def test_16_stale_read_local(self):
        c = self.cluster
        i = c[1].put('stale/k', b'v1').json()['index']
        for m in c.all():
            # A follower may not have applied it yet: poll.
            g = wait_for(lambda: (lambda r: r if r.status == 200 and
                                  r.body == b'v1' else None)(
                m.get('stale/k', stale=True)), what='stale read')
            self.assertEqual(int(g.header('X-Kv-Index')), i)

    def raw(self, m, data, timeout=10.0):
        """Sends @data on a fresh connection; returns (status line,
        headers, body, whether the member closed the connection after
        the answer)."""
        s = raw_connect(m)
        try:
            status, hdrs, body = raw_exchange(s, data, timeout=timeout)
            s.settimeout(timeout)
            try:
                closed = s.recv(1) == b''
            except (socket.timeout, ConnectionResetError):
                closed = False
            return status, hdrs, body, closed
        finally:
            s.close()

    def test_17_duplicate_content_length_400(self):
        m = self.cluster[1]
        status, hdrs, body, closed = self.raw(
            m, b'PUT /v1/kv/dup HTTP/1.1\r\nHost: x\r\n'
               b'Content-Length: 1\r\nContent-Length: 5\r\n\r\nhello')
        self.assertIn(' 400 ', status, body)
        self.assertEqual(json_error(body), 'bad_request')
        self.assertTrue(closed, 'the connection stays open after 400')
        self.assertError(m.get('dup'), 404, 'not_found')

    def test_18_http10_put_without_length_400(self):
        m = self.cluster[1]
        status, _, body, closed = self.raw(
            m, b'PUT /v1/kv/h10 HTTP/1.0\r\nHost: x\r\n\r\nvalue')
        self.assertIn(' 400 ', status, body)
        self.assertEqual(json_error(body), 'bad_request')
        self.assertTrue(closed)
        self.assertError(m.get('h10'), 404, 'not_found')
        # With a length it is an ordinary write.
        status, _, body, _ = self.raw(
            m, b'PUT /v1/kv/h10 HTTP/1.0\r\nContent-Length: 5\r\n\r\n'
               b'value')
        self.assertIn(' 200 ', status, body)
        self.assertEqual(m.get('h10').body, b'value')

    def test_19_connect_answered_with_a_length(self):
        """An answer to CONNECT states its length, so the client sees
        where it ends, and the connection serves the next request."""
        m = self.cluster[1]
        for target in (b'/v1/kv/x', b'127.0.0.1:1'):
            s = raw_connect(m)
            try:
                status, hdrs, body = raw_exchange(
                    s, b'CONNECT ' + target + b' HTTP/1.1\r\nHost: x\r\n'
                    b'\r\n')
                self.assertIn(' 405 ', status)
                self.assertIn('content-length', hdrs)
                self.assertEqual(int(hdrs['content-length']), len(body))
                self.assertEqual(json_error(body), 'method_not_allowed')
                status, _, _ = raw_exchange(
                    s, b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
                self.assertIn(' 200 ', status)
            finally:
                s.close()

    def test_20_c1_control_characters_in_keys_400(self):
        m = self.cluster[1]
        for k in (b'a\xc2\x80b', b'\xc2\x85', b'x\xc2\x9f'):
            self.assertError(m.put(k, b'v'), 400, 'bad_request')
        # Their neighbours are ordinary characters.
        for k in (b'a\xc2\xa0b', b'\xc2\xbf'):
            self.assertEqual(m.put(k, b'v').status, 200)

    def test_answers_on_one_connection_whole_and_in_order(self):
        """Answers leave from the turn that makes them (server/http_util.c,
        raft/peer/write_now.c): PUTs pipelined on one connection are all
        answered, whole and in order; a list answer many times what the
        client's small receive buffer holds arrives whole (the socket takes
        part of it at once, the bufferevent writes the rest); and
        "Connection: close" still closes once its answer is out."""
        c = self.cluster
        lid, _ = c.wait_leader()
        m = c[lid]
        n = 200
        value = b'w' * MAX_VALUE
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(60)
        s.connect((m.host, m.client_port))
        got = AnswerReader(s)
        try:
            reqs = b''.join(
                b'PUT /v1/kv/one/%03d HTTP/1.1\r\nHost: x\r\n'
                b'Content-Length: %d\r\n\r\n' % (i, len(value)) + value
                for i in range(n))
            # From a thread: the member reads the next request once the
            # answer before it is out, and these answers wait for us.
            sender = threading.Thread(target=s.sendall, args=(reqs,))
            sender.start()
            last = 0
            for i in range(n):
                status, _, body = got.answer()
                self.assertIn(' 200 ', status, (i, body))
                index = json.loads(body)['index']
                self.assertGreater(index, last, i)
                last = index
            sender.join(60)
            self.assertFalse(sender.is_alive())
            s.sendall(b'GET /v1/kv?prefix=one/&limit=10000 HTTP/1.1\r\n'
                      b'Host: x\r\n\r\n')
            status, _, body = got.answer()
            self.assertIn(' 200 ', status)
            self.assertGreater(len(body), 64 * 4096)
            kvs = json.loads(body)['kvs']
            self.assertEqual([x['key'] for x in kvs],
                             ['one/%03d' % i for i in range(n)])
            for x in kvs:
                self.assertEqual(base64.b64decode(x['value']), value)
            s.sendall(b'GET /v1/status HTTP/1.1\r\nHost: x\r\n'
                      b'Connection: close\r\n\r\n')
            status, _, body = got.answer()
            self.assertIn(' 200 ', status)
            self.assertEqual(json.loads(body)['id'], m.id)
            self.assertEqual(got.rest(), b'', 'bytes after the last answer')
        finally:
            s.close()


class AnswerReader:
    """Whole HTTP answers (Content-Length bodies) read in turn from one
    socket, the bytes after each kept for the next."""

    def __init__(self, s):
        self.s = s
        self.buf = b''

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError('closed mid-answer: %r' % self.buf[:200])
        self.buf += chunk

    def answer(self):
        while b'\r\n\r\n' not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        status, hdrs = parse_head(head)
        n = int(hdrs.get('content-length', '0'))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def rest(self):
        """What comes before the member closes the connection."""
        while True:
            chunk = self.s.recv(65536)
            if not chunk:
                return self.buf
            self.buf += chunk


def json_error(body):
    import json
    return json.loads(body.decode('utf-8')).get('error')


class DefaultsTest(ClusterTest):
    """Members started without --advertise-*, --max-value-bytes: the
    defaults of §1.2/§1.3."""
    ADVERTISE = False

    def test_advertised_urls_default_to_the_listen_addresses(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        for m in c.all():
            wait_for(lambda: all(x.get('client_url') for x in
                                 (m.try_status() or {}).get('members',
                                                            [{}])),
                     what='member %d knows every client URL' % m.id)
            s = m.try_status()
            self.assertEqual(s['leader_client_url'],
                             c[s['leader'] or lid].client_url)
            for x in s['members']:
                self.assertEqual(x['peer_url'], c[x['id']].peer_url)
                self.assertEqual(x['client_url'], c[x['id']].client_url)

    def test_default_max_value_is_1_mib(self):
        c = self.cluster
        r = c[1].put('def/max', b'm' * (1 << 20))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(c[2].get('def/max').body), 1 << 20)
        self.assertError(c[3].put('def/over', b'm' * ((1 << 20) + 1)), 413,
                         'too_large')

    def test_default_list_limit_is_1000(self):
        c = self.cluster
        for i in range(1001):
            r = c.put('def/l/%04d' % i, b'x', via=lambda: c[1 + i % 3])
            self.assertEqual(r.status, 200, r)
        j = c[2].list(prefix='def/l/').json()
        self.assertEqual(len(j['kvs']), 1000)
        self.assertIs(j['more'], True)
        self.assertEqual(j['kvs'][-1]['key'], 'def/l/0999')
        j = c[2].list(prefix='def/l/', limit=10000).json()
        self.assertEqual(len(j['kvs']), 1001)
        self.assertIs(j['more'], False)

    def test_list_page_is_bounded_by_bytes(self):
        """A prefix holding more bytes than one page (1 MiB of encoded
        entries) comes back over several pages, each cut with "more":
        true, and after= paging returns every key exactly once."""
        c = self.cluster
        want = {}
        for i in range(7):
            k = 'pg/%02d' % i
            v = bytes([65 + i]) * (300 * 1024)  # 400 KiB in base64
            self.assertEqual(c[1 + i % 3].put(k, v).status, 200)
            want[k] = v
        seen, pages, after = [], 0, None
        while True:
            r = c[2].list(prefix='pg/', after=after, limit=10000)
            self.assertEqual(r.status, 200, r)
            j = r.json()
            pages += 1
            self.assertTrue(j['kvs'], 'an empty page with more: true')
            if len(j['kvs']) > 1:
                self.assertLessEqual(len(r.body), (1 << 20) + 1024)
            for kv in j['kvs']:
                seen.append(kv['key'])
                self.assertEqual(base64.b64decode(kv['value']),
                                 want[kv['key']])
            if not j['more']:
                break
            after = j['kvs'][-1]['key']
            self.assertLess(pages, 20)
        self.assertEqual(seen, sorted(want))
        self.assertGreater(pages, 1)


# ---- connections: limits, descriptors, header deadline (docs/API.md, "Connections and limits") ----

def raw_connect(m, timeout=10.0):
    s = socket.create_connection((m.host, m.client_port), timeout=timeout)
    return s


def parse_head(head):
    """An answer's head (bytes before the blank line): its status line and
    its headers, names lowercased."""
    lines = head.decode('latin-1').split('\r\n')
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def raw_exchange(s, request, timeout=10.0):
    """Sends @request on socket @s and reads one whole answer (headers and
    a Content-Length body); returns (status line, headers dict, body)."""
    s.settimeout(timeout)
    if request:
        s.sendall(request)
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError('closed before an answer: %r' % data)
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    status, hdrs = parse_head(head)
    n = int(hdrs.get('content-length', '0'))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, hdrs, body


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class DescriptorsTest(ClusterTest):
    """A member out of file descriptors: it pauses accepting instead of
    spinning, logs the episode a bounded number of times, and serves
    again once descriptors are free."""
    CLUSTER_SIZE = 1

    def test_out_of_descriptors_no_spin_then_serves(self):
        m = self.cluster[1]
        wait_for(lambda: m.request('GET', '/healthz').status == 200,
                 what='healthz')
        pid = m.proc.pid
        n_open = len(os.listdir('/proc/%d/fd' % pid))
        # Room for a few more descriptors than the member uses now.
        resource.prlimit(pid, resource.RLIMIT_NOFILE,
                         (n_open + 8, n_open + 8))
        socks = []
        try:
            for _ in range(60):
                socks.append(raw_connect(m))
            wait_for(lambda: 'accept' in m.log_since_start(),
                     what='the member logs that accept() fails')
            cpu0 = cpu_seconds(pid)
            t0 = time.monotonic()
            time.sleep(4.0)
            used = cpu_seconds(pid) - cpu0
            wall = time.monotonic() - t0
            self.assertLess(used, wall / 4,
                            'the member spent %.2fs of CPU in %.2fs while '
                            'out of descriptors' % (used, wall))
            lines = [x for x in m.log_since_start().splitlines()
                     if 'accept' in x]
            self.assertLessEqual(len(lines), 2, lines[:5])
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: m.request('GET', '/healthz', timeout=2.0).status
                 == 200, what='the member serves again')
        r = m.put('fd/after', b'v')
        self.assertEqual(r.status, 200, r)
        self.assertTrue(m.running())


class MaxConnectionsTest(ClusterTest):
    """--max-connections N: connection N+1 waits until one closes."""
    CLUSTER_SIZE = 1
    CLUSTER_ARGS = ('--max-connections', '3')

    def test_connection_beyond_the_limit_waits(self):
        m = self.cluster[1]
        wait_for(lambda: m.request('GET', '/healthz').status == 200,
                 what='healthz')
        req = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
        held = []
        try:
            for _ in range(3):
                s = raw_connect(m)
                held.append(s)
                status, _, _ = raw_exchange(s, req)
                self.assertIn(' 200 ', status)
            extra = raw_connect(m)  # the kernel's backlog takes it
            held.append(extra)
            extra.sendall(req)
            extra.settimeout(1.5)
            with self.assertRaises(socket.timeout):
                extra.recv(1)
            held[0].close()
            status, _, _ = raw_exchange(extra, b'', timeout=30.0)
            self.assertIn(' 200 ', status)
            self.assertIn('--max-connections', m.log_since_start())
        finally:
            for s in held:
                s.close()
        wait_for(lambda: m.request('GET', '/healthz').status == 200,
                 what='healthz after the connections closed')


class HeaderDeadlineTest(ClusterTest):
    """--header-timeout-ms: a request's headers must be complete that long
    after its first byte; idle keep-alive connections and bodies after
    "100 Continue" are not cut by it."""
    CLUSTER_SIZE = 1
    CLUSTER_ARGS = ('--header-timeout-ms', '1000')

    def test_slow_headers_are_cut(self):
        m = self.cluster[1]
        s = raw_connect(m)
        try:
            s.sendall(b'GET /healthz HTTP/1.1\r\nX-Slow: ')
            deadline = time.monotonic() + 60
            closed = False
            while time.monotonic() < deadline:
                try:
                    s.sendall(b'a')
                    s.settimeout(0.25)
                    if s.recv(1024) == b'':
                        closed = True
                        break
                except socket.timeout:
                    continue
                except OSError:
                    closed = True
                    break
            self.assertTrue(closed, 'a byte-by-byte header lived 60s')
        finally:
            s.close()

    def test_idle_keepalive_and_continue_survive(self):
        m = self.cluster[1]
        s = raw_connect(m)
        try:
            req = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
            self.assertIn(' 200 ', raw_exchange(s, req)[0])
            time.sleep(2.5)  # idle for longer than the header deadline
            self.assertIn(' 200 ', raw_exchange(s, req)[0])
            s.sendall(b'PUT /v1/kv/cont HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Length: 3\r\nExpect: 100-continue\r\n\r\n')
            s.settimeout(10)
            got = b''
            while b'\r\n\r\n' not in got:
                chunk = s.recv(1024)
                self.assertTrue(chunk, 'closed after the headers')
                got += chunk
            self.assertIn(b' 100 ', got.split(b'\r\n')[0])
            time.sleep(2.5)  # the body comes later than the deadline
            status, _, body = raw_exchange(s, b'abc')
            self.assertIn(' 200 ', status, body)
        finally:
            s.close()
        self.assertEqual(m.get('cont').body, b'abc')


if __name__ == '__main__':
    harness.main()
