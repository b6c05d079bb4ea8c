# test_ui.py - the status page over HTTP on a real cluster: /ui/ and its
# files with their types, validators and security headers, the redirect
# of /, refusals (404, 405), the `ui` metrics route, and GET /v1/cluster.
#
# argv[1] is the kvd binary.

import os
import sys
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


if __name__ == '__main__':
    harness.main()
