# test_monitoring.py - docs/monitoring/ stays true to /metrics: every metric
# the Grafana dashboard and the Prometheus alerting rules use is one a real
# member serves (histograms by their _bucket series), among them the slow
# apply, slow fsync and heartbeat failure counters; the dashboard is valid
# JSON with a query in every panel, and the rules parse with
# `promtool check rules` when Prometheus is installed (Debian: prometheus).
# /metrics itself passes `promtool check metrics` then too.
#
# argv[1] is the kvd binary, argv[2] the source root.

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest, wait_for  # noqa: E402

ROOT = None
# Not kvd's: Prometheus's own series.
FOREIGN = {'up'}
# PromQL words that look like metric names.
PROMQL = {'sum', 'by', 'rate', 'increase', 'histogram_quantile', 'max',
          'count', 'le', 'instance', 'job', 'code', 'route', 'without',
          'on', 'and', 'or', 'unless', 'humanizePercentage', 'value',
          'labels', 'avg', 'min'}


def names_in(expr):
    """Metric names in a PromQL expression: identifiers not followed by
    '(' (functions), outside label matchers and ranges."""
    e = re.sub(r'\{[^}]*\}', '', expr)
    e = re.sub(r'\[[^\]]*\]', '', e)
    e = re.sub(r'"[^"]*"', '', e)
    e = re.sub(r'by \([^)]*\)', '', e)
    out = set()
    for m in re.finditer(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?', e):
        word = m.group(0).rstrip('( \t')
        if m.group(1) or word in PROMQL or re.fullmatch(r'[0-9.e]+', word):
            continue
        out.add(word)
    return out


class MonitoringTest(ClusterTest):
    CLUSTER_SIZE = 3  # peers: their round trips

    def served(self):
        c = self.cluster
        m = c.find_leader()
        self.assertEqual(c.put('mon/k', b'v').status, 200)
        text = wait_for(lambda: (lambda t: t if 'kvd_has_leader 1' in t and
                                 'kvd_peer_round_trip_seconds_bucket' in t
                                 else None)(
            m.request('GET', '/metrics').body.decode()),
            what='a leader and peer round trips in /metrics')
        names = set()
        for ln in text.splitlines():
            if ln and not ln.startswith('#'):
                names.add(re.match(r'[a-zA-Z_:][a-zA-Z0-9_:]*', ln).group(0))
        return text, names

    def exprs(self):
        with open(os.path.join(ROOT, 'docs', 'monitoring',
                               'kvd-dashboard.json')) as f:
            dash = json.load(f)
        exprs = []
        for p in dash['panels']:
            self.assertTrue(p['targets'], p['title'])
            exprs += [t['expr'] for t in p['targets']]
        with open(os.path.join(ROOT, 'docs', 'monitoring',
                               'kvd-alerts.yml')) as f:
            rules = f.read()
        alert_exprs = re.findall(r'^\s+expr: (.+)$', rules, flags=re.M)
        self.assertGreaterEqual(len(alert_exprs), 5)
        return exprs + alert_exprs

    def test_every_metric_used_is_served(self):
        _, served = self.served()
        used = set()
        for e in self.exprs():
            used |= names_in(e)
        self.assertIn('kvd_has_leader', used)
        self.assertIn('kvd_wal_fsync_duration_seconds_bucket', used)
        # The slow-operation and heartbeat counters: served, and used by
        # the alerts or the dashboard.
        for n in ('kvd_slow_applies_total', 'kvd_wal_slow_fsyncs_total',
                  'kvd_heartbeat_send_failures_total'):
            self.assertIn(n, served)
            self.assertIn(n, used)
        missing = sorted(n for n in used - FOREIGN if n not in served)
        self.assertEqual(missing, [], 'used but not served')

    @unittest.skipUnless(shutil.which('promtool'),
                         'promtool (Debian: prometheus) is not installed')
    def test_promtool_checks(self):
        r = subprocess.run(['promtool', 'check', 'rules',
                            os.path.join(ROOT, 'docs', 'monitoring',
                                         'kvd-alerts.yml')],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        text, _ = self.served()
        r = subprocess.run(['promtool', 'check', 'metrics'],
                           input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode())


if __name__ == '__main__':
    ROOT = sys.argv.pop(2)
    harness.main()
