#!/usr/bin/env python3
"""bench_tls.py - what TLS on both listeners costs kvd, and what it costs
etcd, measured side by side in one run.

usage: scripts/bench_tls.py [--kvd PATH] [--with-etcd | --etcd-only] [options]

Four 3-member clusters on loopback are started once for the run: kvd with
plain HTTP, kvd with TLS on both listeners (--client-cert/--client-key,
--peer-cert/--peer-key/--peer-ca: the members verify each other), and with
--with-etcd etcd the same two ways (--cert-file/--key-file,
--peer-cert-file/--peer-key-file/--peer-trusted-ca-file with
--peer-client-cert-auth). The certificates (a CA, one per member for
127.0.0.1, usable as server and client) are made with the openssl CLI.
Clients do not present certificates (wrk cannot), for both systems alike.

For each load (PUT and linearizable GET at 1, 64 and 256 connections; kvd's
v1 API, etcd's v2 keys API for PUTs and its v3 JSON gateway for GETs, as
scripts/bench), --runs rounds each measure the four clusters one after
the other for --duration seconds with wrk against the leader, in an order
that rotates from round to round. wrk keeps its connections open, so a
TLS handshake is paid once per connection. Reported, as medians: answered
requests per second, p50 and p99 latency, and the whole cluster's CPU per
request (utime + stime of every member over the run); then, per system,
TLS over plain. The issue's bar: kvd's TLS/plain throughput ratio is at
least etcd's (TLS does not cost kvd more than it costs etcd).

options:
  --runs N        rounds per load (default 3)
  --duration S    seconds per wrk run (default 5)
  --loads LIST    comma-separated subset of put1,put64,put256,get1,get64,
                  get256 (the default), and stale1: a GET answered by the
                  member from its own state (kvd ?consistency=stale, etcd
                  serializable), one connection: what TLS adds to a client
                  round trip alone
  --read-keys N   keys loaded beforehand for the GETs (default 1000)
  --json FILE     results (default bench-tls-results.json)
  --kvd-args ARGS extra kvd flags, one string
  --kvd-before PATH
                  another kvd binary (a build before a change), run the
                  same two ways as clusters kvd-before and kvd-tls-before
                  in the same rotation: the table then gives each kvd
                  cluster over its before, from one run on one machine
  --keep          keep the temporary directory (logs, data dirs)

Ports (127.0.0.1): kvd 7301-7303/7401-7403 (plain), 7311-7313/7421-7423
(TLS), with --kvd-before 7321-7323/7431-7433 and 7331-7333/7441-7443; etcd
23791-23793/23801-23803 (plain), 23891-23893/23901-23903 (TLS).
Needs a release build: meson setup build-bench -Dbuildtype=release &&
ninja -C build-bench server/kvd. See docs/PERFORMANCE.md "TLS".
"""

import base64
import http.client
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "bench.d"))
import benchlib  # noqa: E402
from benchlib import BenchError, log, median, poll  # noqa: E402

benchlib.PROG = "bench_tls"

LOADS = {
    "put1": ("PUT 1 conn", 1, "put.lua", "etcd_put_v2.lua"),
    "put64": ("PUT 64 conn", 64, "put.lua", "etcd_put_v2.lua"),
    "put256": ("PUT 256 conn", 256, "put.lua", "etcd_put_v2.lua"),
    "get1": ("GET 1 conn", 1, "get.lua", "etcd_get_v3.lua"),
    "get64": ("GET 64 conn", 64, "get.lua", "etcd_get_v3.lua"),
    "get256": ("GET 256 conn", 256, "get.lua", "etcd_get_v3.lua"),
    "stale1": ("GET stale 1 conn", 1, "get_stale.lua",
               "etcd_get_serializable_v3.lua"),
}
VALUE = b"v" * 100


def loaded_key(i):
    """The i-th loaded key, as common.lua's bench.loaded_key()."""
    return "ld%014d" % i


class Tls:
    """The run's certificates, made with the openssl CLI."""

    def __init__(self, d):
        self.d = d
        os.makedirs(d, mode=0o700, exist_ok=True)
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                      "-keyout", "ca.key", "-out", "ca.pem", "-subj",
                      "/CN=bench CA", "-days", "2")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                      "member.key", "-out", "member.csr", "-subj",
                      "/CN=member")
        os.chmod(self.path("member.key"), 0o600)
        with open(self.path("member.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        self._openssl("x509", "-req", "-in", "member.csr", "-CA", "ca.pem",
                      "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                      "-out", "member.pem", "-extfile", "member.ext")
        self.ctx = ssl.create_default_context(cafile=self.path("ca.pem"))

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.d,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("openssl %s: %s" % (args[0], r.stderr.strip()))

    def path(self, name):
        return os.path.join(self.d, name)


def request(url, method, path, body=None, ctx=None, headers=None,
            timeout=5.0):
    """(status, body bytes); (None, None) on a transport error."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port,
                                           timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port,
                                          timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def request_json(url, method, path, body=None, ctx=None):
    status, data = request(url, method, path, body, ctx)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


class System:
    """One 3-member cluster: its name, client URLs, pids, leader."""

    def __init__(self, name, kind, tls, ctx):
        self.name = name
        self.kind = kind  # "kvd" or "etcd"
        self.tls = tls
        self.ctx = ctx
        self.urls = []
        self.pids = []

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def leader(self):
        def find():
            for u in self.urls:
                if self.kind == "kvd":
                    s, st = request_json(u, "GET", "/v1/status",
                                         ctx=self.ctx)
                    if s == 200 and st and st.get("state") == "leader":
                        return u
                else:
                    s, st = request_json(u, "POST", "/v3/maintenance/status",
                                         b"{}", ctx=self.ctx)
                    if s == 200 and st and st.get("leader") and \
                            st["leader"] == st.get("header", {}).get(
                                "member_id"):
                        return u
            return None
        return poll("a %s leader" % self.name, 60, find)

    def cpu_seconds(self):
        return sum(benchlib.proc_cpu_seconds(p) for p in self.pids)


def start_kvd(run, name, tls, ctx, client_ports, peer_ports, extra,
              binary=None):
    s = System(name, "kvd", tls is not None, ctx)
    s.urls = ["%s://127.0.0.1:%d" % (s.scheme, p) for p in client_ports]
    initial = ",".join("%d=%s://127.0.0.1:%d" % (i + 1, s.scheme, p)
                       for i, p in enumerate(peer_ports))
    d = os.path.join(run.work, name)
    os.makedirs(d, exist_ok=True)
    flags = []
    if tls is not None:
        c, k, ca = (tls.path("member.pem"), tls.path("member.key"),
                    tls.path("ca.pem"))
        flags = ["--client-cert", c, "--client-key", k, "--peer-cert", c,
                 "--peer-key", k, "--peer-ca", ca]
    for i in range(3):
        with open(os.path.join(d, "m%d.log" % (i + 1)), "ab") as logf:
            p = subprocess.Popen(
                [binary or run.a.kvd, "--id", str(i + 1),
                 "--data-dir", os.path.join(d, "m%d" % (i + 1)),
                 "--listen-client", "127.0.0.1:%d" % client_ports[i],
                 "--listen-peer", "127.0.0.1:%d" % peer_ports[i],
                 "--initial-cluster", initial, "--log-level", "warn"]
                + flags + extra, stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        run.procs.append(p.pid)
        s.pids.append(p.pid)
    for u in s.urls:
        poll("%s %s to be ready" % (name, u), 60,
             lambda u=u: True if request(u, "GET", "/readyz",
                                         ctx=ctx)[0] == 200 else None)
    return s


def start_etcd(run, name, tls, ctx, client_ports, peer_ports):
    s = System(name, "etcd", tls is not None, ctx)
    s.urls = ["%s://127.0.0.1:%d" % (s.scheme, p) for p in client_ports]
    peers = ",".join("e%d=%s://127.0.0.1:%d" % (i + 1, s.scheme, p)
                     for i, p in enumerate(peer_ports))
    d = os.path.join(run.work, name)
    os.makedirs(d, exist_ok=True)
    flags = []
    if tls is not None:
        c, k, ca = (tls.path("member.pem"), tls.path("member.key"),
                    tls.path("ca.pem"))
        flags = ["--cert-file", c, "--key-file", k, "--peer-cert-file", c,
                 "--peer-key-file", k, "--peer-trusted-ca-file", ca,
                 "--peer-client-cert-auth"]
    for i in range(3):
        cu = s.urls[i]
        pu = "%s://127.0.0.1:%d" % (s.scheme, peer_ports[i])
        with open(os.path.join(d, "e%d.log" % (i + 1)), "ab") as logf:
            p = subprocess.Popen(
                ["etcd", "--name", "e%d" % (i + 1),
                 "--data-dir", os.path.join(d, "e%d" % (i + 1)),
                 "--listen-client-urls", cu, "--advertise-client-urls", cu,
                 "--listen-peer-urls", pu,
                 "--initial-advertise-peer-urls", pu,
                 "--initial-cluster", peers,
                 "--initial-cluster-state", "new", "--enable-v2=true",
                 "--log-level", "error"] + flags,
                stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        run.procs.append(p.pid)
        s.pids.append(p.pid)

    def healthy():
        st, body = request(s.urls[0], "GET", "/health", ctx=ctx)
        return True if st == 200 and b'"true"' in body else None
    poll("%s to be healthy" % name, 60, healthy)
    return s


def load_keys(s, n):
    """The keys the GET loads read, written through the leader."""
    u = s.leader()
    for i in range(n):
        k = loaded_key(i)
        if s.kind == "kvd":
            st, _ = request(u, "PUT", "/v1/kv/" + k, VALUE, s.ctx)
        else:
            body = json.dumps({
                "key": base64.b64encode(k.encode()).decode(),
                "value": base64.b64encode(VALUE).decode()}).encode()
            st, _ = request(u, "POST", "/v3/kv/put", body, s.ctx)
        if st != 200:
            raise BenchError("%s: loading %s: HTTP %s" % (s.name, k, st))


def lua_script(work, name):
    """common.lua + the load script + report.lua, as scripts/bench builds
    them."""
    out = os.path.join(work, "lua", name)
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            for part in ("common.lua", name, "report.lua"):
                with open(os.path.join(benchlib.BENCH_D, part)) as src:
                    f.write(src.read())
    return out


def run_wrk(run, s, load, rnd):
    label, conns, kvd_script, etcd_script = LOADS[load]
    script = lua_script(run.work, kvd_script if s.kind == "kvd"
                        else etcd_script)
    url = s.leader()
    env = dict(os.environ, BENCH_SEED=str(int(time.time() * 1000) % 1000003
                                          + rnd),
               BENCH_READ_KEYS=str(run.a.read_keys))
    cpu0 = s.cpu_seconds()
    try:
        r = subprocess.run(["wrk", "-t1", "-c%d" % conns,
                            "-d%ds" % run.a.duration, "--timeout", "5s",
                            "-s", script, url], capture_output=True,
                           text=True, env=env, timeout=run.a.duration + 60)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not end (%s %s)" % (s.name, load))
    cpu = s.cpu_seconds() - cpu0
    m = re.search(r"^BENCHRESULT (\{.*\})$", r.stdout, re.M)
    if r.returncode != 0 or m is None:
        raise BenchError("wrk failed (%s %s): %s" % (
            s.name, load, (r.stdout + r.stderr)[-500:]))
    w = json.loads(m.group(1))
    w["cluster_cpu_us_per_req"] = (cpu * 1e6 / w["ok"]) if w["ok"] else None
    log("  %-9s %-7s round %d: %8.0f req/s, p50 %.2f ms, p99 %.2f ms, "
        "%s us CPU/req, %d errors" % (
            s.name, load, rnd, w["ok_rps"], w["p50_ms"], w["p99_ms"],
            "%.0f" % w["cluster_cpu_us_per_req"]
            if w["cluster_cpu_us_per_req"] is not None else "-",
            sum(w["errors"].values())))
    return w


def main():
    p = benchlib.arg_parser("bench_tls.py", __doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--loads", default=",".join(
        x for x in LOADS if x != "stale1"))
    p.add_argument("--read-keys", type=int, default=1000)
    p.add_argument("--json", default="bench-tls-results.json")
    p.add_argument("--kvd-before", default=None)
    a = benchlib.parse(p, __doc__)
    loads = a.loads.split(",")
    bad = [x for x in loads if x not in LOADS]
    if a.kvd_before is not None and (a.etcd_only or not os.access(
            a.kvd_before, os.X_OK)):
        print("bench_tls.py: --kvd-before %s: no such executable, or "
              "--etcd-only" % a.kvd_before, file=sys.stderr)
        return 2
    if bad or a.runs < 1 or a.duration < 1 or a.read_keys < 1:
        print("bench_tls.py: bad --loads (%s), --runs, --duration or "
              "--read-keys" % ",".join(bad), file=sys.stderr)
        return 2
    run = benchlib.Run(a)

    def body(run):
        etcd = a.with_etcd or a.etcd_only
        tools = ["wrk", "openssl"]
        kvd_ports = [7301, 7302, 7303, 7401, 7402, 7403, 7311, 7312, 7313,
                     7421, 7422, 7423]
        if a.kvd_before is not None:
            kvd_ports += [7321, 7322, 7323, 7431, 7432, 7433, 7331, 7332,
                          7333, 7441, 7442, 7443]
        run.check(tools, kvd_ports)
        if etcd:
            benchlib.check_ports([23891, 23892, 23893, 23901, 23902, 23903])
        benchlib.raise_nofile(4096, "connections")
        work = run.mkwork("kvd-bench-tls-")
        tls = Tls(os.path.join(work, "tls"))
        extra = shlex.split(a.kvd_args)
        systems = []
        if not a.etcd_only:
            systems.append(start_kvd(run, "kvd", None, None,
                                     [7301, 7302, 7303],
                                     [7401, 7402, 7403], extra))
            systems.append(start_kvd(run, "kvd-tls", tls, tls.ctx,
                                     [7311, 7312, 7313],
                                     [7421, 7422, 7423], extra))
        if a.kvd_before is not None:
            systems.append(start_kvd(run, "kvd-before", None, None,
                                     [7321, 7322, 7323],
                                     [7431, 7432, 7433], extra,
                                     a.kvd_before))
            systems.append(start_kvd(run, "kvd-tls-before", tls, tls.ctx,
                                     [7331, 7332, 7333],
                                     [7441, 7442, 7443], extra,
                                     a.kvd_before))
        if etcd:
            systems.append(start_etcd(run, "etcd", None, None,
                                      benchlib.ETCD_CLIENT,
                                      benchlib.ETCD_PEER))
            systems.append(start_etcd(run, "etcd-tls", tls, tls.ctx,
                                      [23891, 23892, 23893],
                                      [23901, 23902, 23903]))
        for s in systems:
            log("%s: leader %s; loading %d keys" % (s.name, s.leader(),
                                                    a.read_keys))
            load_keys(s, a.read_keys)
        t_start, load_start = time.time(), benchlib.loadavg()
        raw = []
        for load in loads:
            log("load %s" % load)
            for rnd in range(1, a.runs + 1):
                k = (rnd - 1) % len(systems)
                for s in systems[k:] + systems[:k]:
                    w = run_wrk(run, s, load, rnd)
                    raw.append({"system": s.name, "load": load,
                                "round": rnd, "wrk": w})
        load_end = benchlib.loadavg()

        def med(system, load, key):
            return median([r["wrk"][key] for r in raw
                           if r["system"] == system and r["load"] == load])
        names = [s.name for s in systems]
        rows = []
        for load in loads:
            label = LOADS[load][0]
            rows.append((label, "req/s",
                         {n: med(n, load, "ok_rps") for n in names}))
            rows.append((label + " p50", "ms",
                         {n: med(n, load, "p50_ms") for n in names}))
            rows.append((label + " p99", "ms",
                         {n: med(n, load, "p99_ms") for n in names}))
            rows.append((label + " CPU/req", "us",
                         {n: med(n, load, "cluster_cpu_us_per_req")
                          for n in names}))
        ratios = [(n + "-tls", n) for n in ("kvd", "etcd")
                  if n in names and n + "-tls" in names]
        ratios += [(n, n + "-before") for n in ("kvd", "kvd-tls")
                   if n + "-before" in names]
        print()
        benchlib.print_table(names, rows, ratios)
        print("\n(medians of %d rounds of %d s per load, wrk -t1; CPU is "
              "the whole cluster's utime + stime per answered request; "
              "load average %s at start, %s at end)" % (
                  a.runs, a.duration, " ".join(load_start),
                  " ".join(load_end)))
        if "kvd-tls" in names and "etcd-tls" in names:
            print("\nTLS/plain throughput, kvd vs etcd (kvd's should be at "
                  "least etcd's):")
            for load in loads:
                kr = [med("kvd-tls", load, "ok_rps"), med("kvd", load,
                                                          "ok_rps")]
                er = [med("etcd-tls", load, "ok_rps"), med("etcd", load,
                                                           "ok_rps")]
                if all(kr) and all(er):
                    k, e = kr[0] / kr[1], er[0] / er[1]
                    print("  %-13s kvd %.2f  etcd %.2f  %s" % (
                        LOADS[load][0], k, e,
                        "met" if k >= e else "NOT met"))
        run.results(systems=[benchlib.Named(s.name, s.kind) for s in systems], rows=rows,
                    raw=raw, t_start=t_start, load_start=load_start,
                    load_end=load_end)

    return run.run(body)


if __name__ == "__main__":
    sys.exit(main())
