# standin_coord.py - a one-process stand-in for a kvd member that answers
# the routes locks, leases, transactions and prefix deletes use (DESIGN.md
# §1.3, §1.5 blocking reads, §1.6, §1.7), with a store in memory: enough to
# run libkvc's and kvctl's coordination code without a cluster. Leases
# expire on this process's monotonic clock. Not a model of replication.
#
# Use: StandIn().start() -> .url; .stop(). Or run it: python3
# standin_coord.py PORT (serves until killed).

import base64
import http.server
import json
import socketserver
import sys
import threading
import time
import urllib.parse


class Store:
    def __init__(self):
        self.cv = threading.Condition()
        self.index = 1
        self.kvs = {}        # key -> (value bytes, mod index, lease)
        self.changed = {}    # key -> index of its last change (incl. delete)
        self.leases = {}     # id -> [ttl, deadline]
        self.seen = {}       # (client, seq) -> (status, body)
        threading.Thread(target=self._expirer, daemon=True).start()

    def _next(self):
        self.index += 1
        return self.index

    def _delete_keys(self, keys, idx):
        for k in keys:
            del self.kvs[k]
            self.changed[k] = idx

    def _end_lease(self, lid):
        idx = self._next()
        keys = [k for k, v in self.kvs.items() if v[2] == lid]
        self._delete_keys(keys, idx)
        del self.leases[lid]
        self.cv.notify_all()
        return idx, len(keys)

    def _expirer(self):
        while True:
            time.sleep(0.05)
            with self.cv:
                now = time.monotonic()
                for lid in [i for i, l in self.leases.items()
                            if l[1] <= now]:
                    self._end_lease(lid)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def send(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def err(self, status, code, msg, **extra):
        body = {'error': code, 'message': msg}
        body.update(extra)
        self.send(status, body)

    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def route(self, method):
        st = self.server.store
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        path = u.path
        body = self.body()
        ident = (self.headers.get('X-Kv-Client'), self.headers.get('X-Kv-Seq'))
        if ident[0] and ident in st.seen:
            return self.send(*st.seen[ident])
        if path == '/v1/status':
            return self.send(200, {
                'id': 1, 'state': 'leader', 'term': 1, 'leader': 1,
                'leader_client_url': self.server.url, 'commit_index': st.index,
                'applied_index': st.index, 'last_index': st.index,
                'snapshot_index': 0, 'members': [
                    {'id': 1, 'peer_url': 'http://127.0.0.1:1',
                     'client_url': self.server.url, 'voter': True}]})
        with st.cv:
            r = self.answer(st, method, path, q, body)
        if r is None:
            return
        if ident[0] and method != 'GET':
            st.seen[ident] = r
        self.send(*r)

    def answer(self, st, method, path, q, body):
        if path.startswith('/v1/kv/'):
            key = urllib.parse.unquote(path[7:])
            if method == 'GET':
                if 'wait_index' in q:
                    n = int(q['wait_index'])
                    w = q.get('wait', '60s')
                    secs = (float(w[:-2]) / 1000 if w.endswith('ms')
                            else float(w[:-1]))
                    end = time.monotonic() + secs
                    while st.changed.get(key, 0) <= n and \
                            time.monotonic() < end:
                        st.cv.wait(end - time.monotonic())
                if key not in st.kvs:
                    return (404, {'error': 'not_found', 'message': key},
                            [('X-Kv-Index', str(st.index))])
                v, m, _ = st.kvs[key]
                return (200, v, [('X-Kv-Index', str(m))])
            cur = st.kvs.get(key)
            if 'cas' in q and int(q['cas']) != (cur[1] if cur else 0):
                return (412, {'error': 'cas_failed', 'message': 'cas',
                              'index': cur[1] if cur else 0})
            if method == 'PUT':
                lease = int(q.get('lease', 0))
                if lease and lease not in st.leases:
                    return (404, {'error': 'not_found',
                                  'message': 'lease %d not found' % lease})
                idx = st._next()
                st.kvs[key] = (body, idx, lease)
                st.changed[key] = idx
                st.cv.notify_all()
                return (200, {'index': idx})
            if method == 'DELETE':
                idx = st._next()
                if cur:
                    st._delete_keys([key], idx)
                    st.cv.notify_all()
                return (200, {'index': idx, 'deleted': cur is not None})
        if path == '/v1/kv':
            p = q.get('prefix', '')
            keys = sorted(k for k in st.kvs if k.startswith(p))
            if method == 'DELETE':
                idx = st._next()
                st._delete_keys(keys, idx)
                st.cv.notify_all()
                return (200, {'index': idx, 'deleted': len(keys)})
            after = q.get('after', '')
            keys = [k for k in keys if k > after]
            limit = int(q.get('limit', 1000))
            return (200, {'kvs': [
                {'key': k, 'value': base64.b64encode(st.kvs[k][0]).decode(),
                 'index': st.kvs[k][1]} for k in keys[:limit]],
                'more': len(keys) > limit}, [('X-Kv-Index', str(st.index))])
        if path == '/v1/leases' and method == 'POST':
            ttl = json.loads(body)['ttl']
            lid = st._next()
            st.leases[lid] = [ttl, time.monotonic() + ttl]
            return (200, {'id': lid, 'ttl': ttl})
        if path == '/v1/leases' and method == 'GET':
            now = time.monotonic()
            return (200, {'leases': [
                {'id': i, 'ttl': l[0],
                 'remaining_ms': max(0, int((l[1] - now) * 1000))}
                for i, l in sorted(st.leases.items())]})
        if path.startswith('/v1/leases/'):
            parts = path.split('/')
            lid = int(parts[3])
            if lid not in st.leases:
                return (404, {'error': 'not_found', 'message': 'lease'})
            lease = st.leases[lid]
            if len(parts) == 5 and parts[4] == 'keepalive':
                if self.server.silent_keepalives:
                    return (503, {'error': 'unavailable', 'message': 'x'},
                            [('Retry-After', '1')])
                lease[1] = time.monotonic() + lease[0]
                return (200, {'id': lid, 'ttl': lease[0]})
            if method == 'DELETE':
                idx, n = st._end_lease(lid)
                return (200, {'index': idx, 'deleted': n})
            return (200, {'id': lid, 'ttl': lease[0], 'remaining_ms': max(
                0, int((lease[1] - time.monotonic()) * 1000)),
                'keys': sorted(k for k, v in st.kvs.items()
                               if v[2] == lid)})
        if path == '/v1/txn':
            try:
                return self.txn(st, json.loads(body))
            except (ValueError, KeyError, TypeError, AttributeError):
                return (400, {'error': 'bad_request',
                              'message': 'malformed transaction'})
        return (404, {'error': 'not_found', 'message': path})

    def txn(self, st, t):
        def holds(c):
            cur = st.kvs.get(c['key'])
            if c['target'] == 'exists':
                a, b = cur is not None, c['value']
            elif c['target'] == 'mod_index':
                a, b = cur[1] if cur else 0, c['value']
            else:
                if cur is None:
                    return c['op'] == '!='
                a, b = cur[0], base64.b64decode(c['value'])
            return {'==': a == b, '!=': a != b, '<': a < b,
                    '>': a > b}[c['op']]
        ok = all(holds(c) for c in t.get('compare', []))
        idx = st._next()
        res = []
        for op in t.get('success' if ok else 'failure', []):
            (kind, a), = op.items()
            if kind == 'put':
                st.kvs[a['key']] = (base64.b64decode(a['value']), idx,
                                    a.get('lease', 0))
                st.changed[a['key']] = idx
                res.append({'index': idx})
            elif kind == 'delete':
                had = a['key'] in st.kvs
                if had:
                    st._delete_keys([a['key']], idx)
                res.append({'deleted': had})
            elif kind == 'delete_prefix':
                keys = [k for k in st.kvs if k.startswith(a['prefix'])]
                st._delete_keys(keys, idx)
                res.append({'deleted': len(keys)})
            elif kind == 'get':
                cur = st.kvs.get(a['key'])
                res.append({'key': a['key'], 'value': base64.b64encode(
                    cur[0]).decode() if cur else None,
                    'index': cur[1] if cur else 0})
            elif kind == 'list':
                keys = sorted(k for k in st.kvs if k.startswith(a['prefix']))
                lim = a.get('limit', 1000)
                res.append({'kvs': [{'key': k, 'value': base64.b64encode(
                    st.kvs[k][0]).decode(), 'index': st.kvs[k][1]}
                    for k in keys[:lim]], 'more': len(keys) > lim})
        st.cv.notify_all()
        return (200, {'succeeded': ok, 'index': idx, 'results': res})

    def do_GET(self):
        self.route('GET')

    def do_PUT(self):
        self.route('PUT')

    def do_POST(self):
        self.route('POST')

    def do_DELETE(self):
        self.route('DELETE')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StandIn:
    def __init__(self, port=0):
        self.httpd = Server(('127.0.0.1', port), Handler)
        self.httpd.store = Store()
        self.httpd.silent_keepalives = False
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.httpd.url = self.url

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == '__main__':
    s = StandIn(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(s.url, flush=True)
    s.httpd.serve_forever()
