# test_ui.py - the status page over HTTP on a real cluster: /ui/ and its
# files with their types, validators and security headers, the redirect
# of /, refusals (404, 405), the `ui` metrics route, and GET /v1/cluster
# (with auth on, the caller's token sent on to the other members).
#
# argv[1] is the kvd binary.

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

FILES = {
    '/ui/': 'text/html; charset=utf-8',
    '/ui/index.html': 'text/html; charset=utf-8',
    '/ui/app.css': 'text/css; charset=utf-8',
    '/ui/app.js': 'text/javascript; charset=utf-8',
}


class StatusPageFiles(ClusterTest):
    CLUSTER_SIZE = 1

    def m(self):
        return self.cluster[1]

    def test_files_with_type_and_security_headers(self):
        for path, ctype in FILES.items():
            r = self.m().request('GET', path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.header('Content-Type'), ctype, path)
            self.assertEqual(r.header('X-Content-Type-Options'), 'nosniff')
            self.assertEqual(r.header('Cache-Control'), 'no-cache')
            csp = r.header('Content-Security-Policy')
            self.assertIn("default-src 'self'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn('unsafe-inline', csp)
            self.assertGreater(len(r.body), 0)
            self.assertEqual(int(r.header('Content-Length')), len(r.body))
        self.assertIn(b'<script src="app.js"',
                      self.m().request('GET', '/ui/').body)

    def test_etag_revalidates(self):
        r = self.m().request('GET', '/ui/app.js')
        etag = r.header('ETag')
        self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
        r2 = self.m().request('GET', '/ui/app.js',
                              headers={'If-None-Match': etag})
        self.assertEqual(r2.status, 304, r2)
        self.assertEqual(r2.body, b'')
        r3 = self.m().request('GET', '/ui/app.js',
                              headers={'If-None-Match': '"0000000000000000"'})
        self.assertEqual(r3.status, 200, r3)

    def test_root_redirects_to_page(self):
        for path in ('/', '/ui'):
            r = self.m().request('GET', path)
            self.assertEqual(r.status, 302, (path, r))
            self.assertEqual(r.header('Location'), '/ui/')

    def test_head_has_no_body(self):
        r = self.m().request('HEAD', '/ui/app.css')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'')

    def test_unknown_file_and_wrong_method(self):
        for path in ('/ui/nothing.js', '/ui/../v1/status', '/ui/a/b',
                     '/ui/.hidden'):
            r = self.m().request('GET', path)
            self.assertError(r, 404, 'not_found')
        for method in ('POST', 'PUT', 'DELETE'):
            r = self.m().request(method, '/ui/', body=b'')
            self.assertError(r, 405, 'method_not_allowed')
            self.assertEqual(r.header('Allow'), 'GET, HEAD')

    def test_metrics_route_ui(self):
        self.m().request('GET', '/ui/app.js')
        text = self.m().request('GET', '/metrics').body.decode()
        self.assertIn('kvd_http_requests_total{route="ui",code="200"}', text)


class ClusterView(ClusterTest):
    """GET /v1/cluster on three members: the view of each member, fetched
    by the member asked."""

    def view(self, m):
        r = m.request('GET', '/v1/cluster')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header('Content-Type'), 'application/json')
        return r.json()

    def test_a_every_member_with_one_leader(self):
        c = self.cluster
        c.wait_converged()

        def settled():
            v = self.view(c[2])
            ok = (len(v['members']) == 3
                  and all(m['reachable'] for m in v['members'])
                  and sum(m['is_leader'] for m in v['members']) == 1)
            return v if ok else None
        v = wait_for(settled, what='a view of 3 reachable members, 1 leader')
        self.assertEqual(v['member'], 2)
        ids = sorted(m['id'] for m in v['members'])
        self.assertEqual(ids, [1, 2, 3])
        leader = [m for m in v['members'] if m['is_leader']][0]
        self.assertEqual(v['leader'], leader['id'])
        self.assertEqual(leader['state'], 'leader')
        for m in v['members']:
            self.assertEqual(m['self'], m['id'] == 2)
            self.assertEqual(m['client_url'], c[m['id']].client_url)
            self.assertIsNone(m['error'])
            self.assertGreaterEqual(m['lag'], 0)
            self.assertEqual(m['lag'], max(0, v['leader_commit_index']
                                           - m['applied_index']))
            for k in ('term', 'commit_index', 'applied_index', 'last_index'):
                self.assertIsInstance(m[k], int, k)

    def test_b_wrong_method(self):
        r = self.cluster[1].request('POST', '/v1/cluster', body=b'{}')
        self.assertError(r, 405, 'method_not_allowed')
        self.assertEqual(r.header('Allow'), 'GET')
        text = self.cluster[1].request('GET', '/metrics').body.decode()
        self.assertIn('kvd_http_requests_total{route="cluster",code="405"}',
                      text)

    def test_c_killed_member_unreachable(self):
        c = self.cluster
        victim = c.follower()
        asker = [m for m in c.all() if m is not victim][0]
        victim.kill()

        def marked():
            v = self.view(asker)
            m = [m for m in v['members'] if m['id'] == victim.id][0]
            return m if not m['reachable'] else None
        m = wait_for(marked, what='the killed member shown unreachable')
        self.assertIsInstance(m['error'], str)
        self.assertNotEqual(m['error'], '')
        self.assertIsNone(m['lag'])
        self.assertNotIn('state', m)


    def test_d_silent_member_times_out(self):
        """A member that accepts connections but never answers (stopped)
        is shown unreachable once the fetch times out."""
        c = self.cluster
        live = c.live()
        asker, victim = live[0], live[1]
        victim.pause()
        try:
            def marked():
                v = self.view(asker)
                m = [m for m in v['members'] if m['id'] == victim.id][0]
                return m if not m['reachable'] else None
            m = wait_for(marked, what='the stopped member shown unreachable')
            self.assertEqual(m['error'], 'timed out')
        finally:
            victim.resume()

    def test_e_stop_during_a_round(self):
        """A member stopped (SIGTERM) while it waits for another member's
        status answers what waits and exits cleanly, its requests freed
        (the sanitizer build reports any left)."""
        c = self.cluster
        lid, _ = c.wait_leader()
        # A follower: a stopping leader first hands leadership over.
        asker = [m for m in c.live() if m.id != lid][0]
        victim = [m for m in c.live() if m is not asker][0]
        victim.pause()
        answers = []

        def ask():
            # One request at a time: while a round is under way, the one
            # waiting is the one that started it (a view served again
            # from the cache comes back at once, and the next one asks).
            while True:
                try:
                    r = asker.request('GET', '/v1/cluster', timeout=30)
                except OSError:
                    return
                answers.append(r)
                if r.status != 200 or any(
                        m['error'] == 'this member is stopping'
                        for m in r.json()['members']):
                    return
        t = threading.Thread(target=ask)
        try:
            t.start()
            # A round is under way once the asker has a connection to the
            # stopped member's client port.
            wait_for(lambda: client_connections(asker, victim),
                     what='a status request to the stopped member')
            asker.terminate()
            t.join(60)
        finally:
            victim.resume()
        self.assertFalse(t.is_alive())
        self.assertEqual(asker.proc.returncode, 0)
        log = asker.log_since_start()
        self.assertNotIn('Sanitizer', log)
        self.assertNotIn('runtime error', log)
        self.assertTrue(answers)
        for r in answers:
            if r.status != 200:
                # Asked after the stop began.
                self.assertError(r, 503, 'unavailable')
                continue
            m = [m for m in r.json()['members'] if m['id'] == victim.id][0]
            self.assertFalse(m['reachable'])
            # Usually the stop ends the round; on a slow machine the
            # member's 700 ms may have run out first.
            self.assertIn(m['error'], ('this member is stopping',
                                       'timed out'))


class ClusterViewWithToken(ClusterTest):
    """With auth on, the member asked sends the caller's Authorization on
    to the others: their /v1/status answers only to a token. Runs when
    POST /v1/auth/enable answers 200 (a build with auth); else says it
    skipped."""

    def test_token_sent_on(self):
        c = self.cluster
        c.wait_converged()
        r = c.find_leader().request('POST', '/v1/auth/enable')
        if r.status != 200:
            sys.stderr.write('skipped: POST /v1/auth/enable answered %d\n'
                             % r.status)
            return
        root = r.json()['token']
        bearer = {'Authorization': 'Bearer ' + root}
        # The harness's own requests (leader, status) carry it too.
        c.token = root

        def disable():
            c.find_leader().request('POST', '/v1/auth/disable')
            c.token = None
        self.addCleanup(disable)
        asker = c[2]

        def all_reachable():
            r = asker.request('GET', '/v1/cluster', headers=bearer)
            self.assertEqual(r.status, 200, r)
            ms = r.json()['members']
            return len(ms) == 3 and all(m['reachable'] for m in ms)
        wait_for(all_reachable,
                 what='3 members reachable through the token sent on')
        r = harness.http_request(asker.host, asker.client_port, 'GET',
                                 '/v1/cluster', None, {}, 10, c.context())
        self.assertError(r, 401, 'unauthorized')


def client_connections(m, to):
    """Established TCP connections member m's process opened to member
    to's client port (from /proc: its socket inodes and /proc/net/tcp)."""
    inodes = set()
    fd_dir = '/proc/%d/fd' % m.proc.pid
    for fd in os.listdir(fd_dir):
        try:
            t = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if t.startswith('socket:['):
            inodes.add(t[8:-1])
    n = 0
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            x = line.split()
            port = int(x[2].split(':')[1], 16)
            if x[3] == '01' and x[9] in inodes and port == to.client_port:
                n += 1
    return n


if __name__ == '__main__':
    harness.main()
