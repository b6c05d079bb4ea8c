#!/usr/bin/env python3
"""bench_relay.py - what a request a follower relays to the leader costs:
lease keepalives sent to a follower, which only the leader can answer.

usage: scripts/bench_relay.py [--kvd PATH] [--requests N] [--runs N]

For plain HTTP and then TLS on both listeners (certificates made with the
openssl CLI, as the integration tests make them), a 3-member kvd cluster
on loopback; a lease is granted, then curl sends --requests (2000)
keepalives for it one after the other on one kept-alive connection to a
follower, which relays each to the leader's client URL. Reported per
mode, as medians of --runs (3) rounds: keepalives answered per second and
the whole cluster's CPU (utime + stime of every member) per keepalive.
Between the follower and the leader the relays reuse kept-alive
connections (server/member_pool.c); before they did, each relay opened a
connection, and over TLS made a handshake.

Needs curl and openssl, and a release build: meson setup build-bench
-Dbuildtype=release && ninja -C build-bench server/kvd. See
docs/PERFORMANCE.md, "Relayed requests".
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "bench.d"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests",
                                "integration"))
import benchlib  # noqa: E402
import harness  # noqa: E402
from benchlib import BenchError, log, median  # noqa: E402

benchlib.PROG = "bench_relay"


def one_round(kvd, tls, requests):
    """Runs one round on a new cluster: (answered, req/s, us CPU/req)."""
    harness.KVD = kvd
    c = harness.Cluster(n=3, tls=tls, name="bench-relay")
    try:
        c.start()
        lid, _ = c.wait_leader()
        r = c[lid].request("POST", "/v1/leases", json.dumps({"ttl": 60}))
        if r.status != 200:
            raise BenchError("granting a lease: HTTP %d" % r.status)
        lease = r.json()["id"]
        follower = next(m for m in c.all() if m.id != lid)
        url = "%s/v1/leases/%d/keepalive" % (follower.client_url, lease)
        args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n",
                "-X", "POST"]
        if tls:
            t = c.tls
            args += ["--cacert", t.path("ca.pem"), "--cert",
                     t.path("client.pem"), "--key", t.path("client.key")]
        pids = [m.proc.pid for m in c.all()]
        cpu0 = sum(benchlib.proc_cpu_seconds(p) for p in pids)
        t0 = time.time()
        out = subprocess.run(args + [url] * requests, capture_output=True,
                             text=True, timeout=600).stdout.split()
        dt = time.time() - t0
        cpu = sum(benchlib.proc_cpu_seconds(p) for p in pids) - cpu0
        ok = sum(1 for x in out if x == "200")
        return ok, ok / dt, cpu * 1e6 / max(ok, 1)
    finally:
        c.close()


def main():
    p = benchlib.arg_parser("bench_relay.py", __doc__)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    a = benchlib.parse(p, __doc__)
    if a.requests < 1 or a.runs < 1:
        print("bench_relay.py: --requests and --runs must be positive",
              file=sys.stderr)
        return 2
    if not os.access(a.kvd, os.X_OK):
        print("bench_relay.py: no kvd at %s (see --help)" % a.kvd,
              file=sys.stderr)
        return 2
    print("| mode | keepalives/s via a follower | cluster CPU/keepalive |")
    print("|---|---|---|")
    for tls in (False, True):
        rates, cpus = [], []
        for rnd in range(1, a.runs + 1):
            ok, rate, cpu = one_round(a.kvd, tls, a.requests)
            if ok != a.requests:
                raise BenchError("%d of %d keepalives answered 200"
                                 % (ok, a.requests))
            log("%s round %d: %.0f req/s, %.0f us CPU/req"
                % ("TLS" if tls else "plain", rnd, rate, cpu))
            rates.append(rate)
            cpus.append(cpu)
        print("| %s | %.0f | %.0f us |" % ("TLS" if tls else "plain",
                                           median(rates), median(cpus)))
    print("\n(medians of %d rounds of %d keepalives; load average %s)"
          % (a.runs, a.requests, " ".join(benchlib.loadavg())))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench_relay.py: %s" % e, file=sys.stderr)
        sys.exit(1)
