#!/usr/bin/env python3
"""bench_leases.py - what keeping many leases alive costs kvd's leader, and
etcd's measured the same way.

usage: scripts/bench_leases.py [--kvd PATH] [--with-etcd | --etcd-only] [options]

Both systems are 3-member clusters on loopback, started once for the run.
Each round measures kvd and etcd one after the other (kvd first in odd
rounds, etcd first in even ones); in a round, for each system:

  idle     the leader's and the cluster's CPU over --rest-seconds (5) with
           no lease;
  grant    --leases (10,000) leases of --ttl (10) seconds, granted through
           the leader over --conns (64) keep-alive connections, as fast
           as they are answered;
  keep     every lease kept alive once a second for --duration (20)
           seconds, the keepalives spread evenly over each second (lease
           i at second k + i/N; the client sends each when due, on a free
           connection, and counts how late it could send it; a server that
           cannot keep up gets them later and later, but every lease in
           turn, and what is still unsent 1 s after the phase ends is
           not sent):
             kvd batch   POST /v1/leases/keepalive {"ids":[...]}, --batch
                         (1000) ids a request, N/batch requests a second;
             kvd single  POST /v1/leases/{id}/keepalive, one per lease;
             etcd        its JSON gateway, POST /v3/lease/keepalive
                         {"ID": id}, one per lease (etcd has no batch: its
                         gRPC stream also carries one lease a message);
           kvd runs both, in alternating order, on the same leases.
           Measured: keepalives answered per second (each must be a
           renewal: kvd 200 / etcd TTL > 0), the leader's and the whole
           cluster's CPU (utime + stime of /proc/PID/stat over the phase's
           wall time, % of one CPU, and per keepalive answered, which
           compares a system that keeps up with one that does not), this
           client's CPU, the leader's VmRSS
           at the end, and the latency of each request (send to the kernel's
           receive timestamp of its answer's last segment);
  present  right after the last keepalive: the leader's lease list holds
           every one of the N leases (none expired during the run);
  rest     the CPU over --rest-seconds with the N leases granted and no
           keepalive (must end before the first lease could expire);
  revoke   every lease revoked, until the list is empty.

etcdctl lease keep-alive keeps one lease alive per process: 10,000
processes are no way to measure this, hence the gateway.

options:
  --kvd PATH          kvd binary (default build-bench/server/kvd of this
                      checkout: meson setup build-bench -Dbuildtype=release
                      && ninja -C build-bench server/kvd)
  --with-etcd         also measure etcd, in alternating rounds
  --etcd-only         measure etcd only
  --runs N            rounds; the table shows the median (default 3)
  --leases N          leases kept alive (default 10000)
  --ttl S             their TTL (default 10)
  --duration S        seconds of keepalives per phase (default 20)
  --conns N           connections for grants, revokes and single
                      keepalives (default 64)
  --batch N           ids per kvd batch keepalive (default 1000)
  --rest-seconds S    CPU windows without keepalives (default 5; at most
                      --ttl - 4)
  --modes LIST        kvd's keepalive rows: batch,single or one of them
                      (default both)
  --kvd-args "ARGS"   more flags for each kvd member
  --json FILE         results, every single run (default
                      bench-leases-results.json)
  --keep              keep the temporary directory (logs, data dirs)

Ports on 127.0.0.1 (it refuses to start when one is busy): kvd client
7331-7333, peer 7431-7433; etcd client 23791-23793, peer 23801-23803.
Every process it starts is stopped on exit, also on Ctrl-C. Standard library
only; needs etcd and etcdctl for --with-etcd (Debian: etcd-server,
etcd-client). See docs/PERFORMANCE.md, "Leases".
"""

import json
import os
import resource
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_D = os.path.join(ROOT, "scripts", "bench.d")
sys.path.insert(0, BENCH_D)
import benchlib  # noqa: E402
from benchlib import (BenchError, Conn, EtcdCluster, KvdCluster,  # noqa: E402
                      Pool, http_json, log, median, pct, print_table,
                      proc_cpu_seconds, proc_rss_kb, poll, raise_nofile)

benchlib.PROG = "bench_leases"

KVD_CLIENT = [7331, 7332, 7333]
KVD_PEER = [7431, 7432, 7433]

# A send later than this after its due time counts as late.
LATE_S = 0.1
# Keepalives still unsent this long after the phase's last second are not
# sent (the server is that far behind; a client stalled for a moment by
# the machine's other work is not).
STOP_GRACE_S = 1.0


# --- requests over keep-alive connections ------------------------------------

class Req(Conn):
    """A keep-alive connection of a Load: one request at a time."""

    def __init__(self, host, port, load):
        super().__init__(host, port)
        self.load = load
        self.body = bytearray()
        self.job = None
        self.t_send = None

    def on_body(self, data, ts):
        self.body += data

    def on_answer(self, ts):
        self.load.answered(self, ts)


class Load:
    """Sends jobs over --conns keep-alive connections to one member. Each
    job has a due time (open loop: a job is sent when due, or as soon as a
    connection is free, and how late it went is counted), or none (closed
    loop: as fast as answers come)."""

    def __init__(self, url, conns, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.pool = Pool()
        self.conns = [Req(self.host, self.port, self) for _ in range(conns)]
        for c in self.conns:
            self.pool.add(c)
        deadline = time.monotonic() + timeout
        while not all(c.connected for c in self.conns):
            bad = [c.failed for c in self.conns if c.failed]
            if bad or time.monotonic() > deadline:
                raise BenchError("connecting to %s: %s" %
                                 (url, bad[0] if bad else "timed out"))
            self.pool.pump(0.05)
        self.idle = list(self.conns)

    def close(self):
        self.pool.close_all()

    def answered(self, c, ts):
        k, r = ts
        self.latencies.append(((k if k is not None else r) - c.t_send) / 1e6)
        self.on_answer(c.job, c.status, bytes(c.body))
        c.job = None
        self.inflight -= 1
        self.idle.append(c)

    def run(self, jobs, request, on_answer, interval_s=0.0, timeout=120,
            stop_s=None):
        """Sends request(job) for each of JOBS, job k due at k * INTERVAL_S
        from now, and calls on_answer(job, status, body) for each answer.
        Jobs go in order, late ones too: a server that cannot keep up gets
        each lease's keepalive later and later, but still in turn (skipping
        the late ones would leave the same leases out again and again).
        After STOP_S nothing more is sent: what is left is counted as not
        sent. Returns {"wall_s", "latencies_ms", "late", "unsent",
        "max_lag_ms"}."""
        self.on_answer = on_answer
        self.latencies = []
        self.inflight = 0
        late, max_lag = 0, 0.0
        n = len(jobs)
        k = 0
        t0 = time.monotonic()
        deadline = t0 + n * interval_s + timeout
        stop = n
        while k < stop or self.inflight:
            now = time.monotonic()
            if stop_s is not None and now - t0 >= stop_s:
                stop = min(stop, k)
            while k < stop and self.idle and t0 + k * interval_s <= now:
                lag = now - (t0 + k * interval_s)
                c = self.idle.pop()
                c.job = jobs[k]
                c.body = bytearray()
                c.t_send = c.send(request(jobs[k]))
                if interval_s and lag > LATE_S:
                    late += 1
                max_lag = max(max_lag, lag)
                k += 1
                self.inflight += 1
            if k < stop and self.idle:
                wait = t0 + k * interval_s - time.monotonic()
            else:
                wait = 0.2
            self.pool.pump(min(max(wait, 0.0), 0.2))
            bad = [c for c in self.conns if c.closed]
            if bad:
                raise BenchError("%s:%d: a connection ended: %s" %
                                 (self.host, self.port, bad[0].failed or
                                  "closed"))
            if time.monotonic() > deadline:
                raise BenchError("%s:%d: %d of %d requests unanswered %d s "
                                 "after the last was due" %
                                 (self.host, self.port,
                                  stop - k + self.inflight, n, timeout))
        return {"wall_s": time.monotonic() - t0,
                "latencies_ms": sorted(self.latencies), "late": late,
                "unsent": n - k, "max_lag_ms": 1000.0 * max_lag}


def http_request(host, port, method, path, body=b"",
                 content_type="application/json"):
    head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n" % (
        method, path, host, port, len(body))
    if body:
        head += "Content-Type: %s\r\n" % content_type
    return (head + "\r\n").encode() + body


def cluster_cpu(system):
    """utime + stime of every member, by client URL."""
    return {u: proc_cpu_seconds(p) for u, p in system.pids.items()}


class Window:
    """The CPU of the leader, of the cluster and of this client between
    construction and stop()."""

    def __init__(self, system, leader):
        self.system, self.leader = system, leader
        self.cpu0 = cluster_cpu(system)
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.monotonic()

    def stop(self):
        t = time.monotonic() - self.t0
        cpu1 = cluster_cpu(self.system)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        client = (ru1.ru_utime + ru1.ru_stime) - \
            (self.ru0.ru_utime + self.ru0.ru_stime)
        return {"window_s": t,
                "leader_cpu_pct": 100.0 * (cpu1[self.leader] -
                                           self.cpu0[self.leader]) / t,
                "cluster_cpu_pct": 100.0 * sum(cpu1[u] - self.cpu0[u]
                                               for u in cpu1) / t,
                "client_cpu_pct": 100.0 * client / t}


# --- the two systems --------------------------------------------------------

class Kvd(KvdCluster):
    modes = ("batch", "single")

    def __init__(self, work, binary, procs, kvd_args):
        super().__init__(work, binary, procs, KVD_CLIENT, KVD_PEER)
        self.kvd_args = kvd_args

    def start(self):
        if "--max-leases" not in self.help_text():
            raise BenchError("%s has no leases (no --max-leases in its "
                             "--help): build a kvd that serves "
                             "POST /v1/leases" % self.binary)
        self.launch(self.kvd_args)

    def grant_request(self, h, p, ttl):
        return http_request(h, p, "POST", "/v1/leases",
                            json.dumps({"ttl": ttl}).encode())

    def granted(self, status, body):
        return json.loads(body)["id"] if status == 200 else None

    def keepalive_requests(self, h, p, ids, mode, batch):
        """The requests of one second of keepalives, in order, and what
        each renews."""
        if mode == "single":
            return [(http_request(h, p, "POST", "/v1/leases/%d/keepalive" %
                                  i), 1) for i in ids]
        out = []
        for j in range(0, len(ids), batch):
            part = ids[j:j + batch]
            out.append((http_request(h, p, "POST", "/v1/leases/keepalive",
                                     json.dumps({"ids": part}).encode()),
                        len(part)))
        return out

    def renewed(self, status, body):
        """(renewed, not found) of one keepalive answer."""
        if status == 404:
            return 0, 1
        if status != 200:
            return None
        doc = json.loads(body)
        if "leases" in doc:
            return len(doc["leases"]), len(doc.get("not_found", []))
        return 1, 0

    def revoke_request(self, h, p, lease_id):
        return http_request(h, p, "DELETE", "/v1/leases/%d" % lease_id)

    def lease_ids(self, url):
        """The ids of the leases the member lists, page by page."""
        ids, after = set(), 0
        while True:
            status, doc = http_json(url, "GET", "/v1/leases?limit=10000"
                                    "&after=%d" % after, timeout=30)
            if status != 200 or doc is None:
                raise BenchError("kvd GET /v1/leases: %s" % status)
            page = [x["id"] for x in doc.get("leases", [])]
            ids.update(page)
            if not doc.get("more") or not page:
                return ids
            after = max(page)


class Etcd(EtcdCluster):
    modes = ("single",)

    def start(self):
        self.launch()

    def grant_request(self, h, p, ttl):
        return http_request(h, p, "POST", "/v3/lease/grant",
                            json.dumps({"TTL": ttl}).encode())

    def granted(self, status, body):
        # The gateway writes 64-bit integers as strings.
        return int(json.loads(body)["ID"]) if status == 200 else None

    def keepalive_requests(self, h, p, ids, mode, batch):
        return [(http_request(h, p, "POST", "/v3/lease/keepalive",
                              json.dumps({"ID": str(i)}).encode()), 1)
                for i in ids]

    def renewed(self, status, body):
        # The answer is a stream of one result line; an unknown lease is
        # answered with no TTL (0).
        if status != 200:
            return None
        doc = json.loads(body.split(b"\n", 1)[0])
        if "result" not in doc:
            return None
        return (1, 0) if int(doc["result"].get("TTL", 0)) > 0 else (0, 1)

    def revoke_request(self, h, p, lease_id):
        return http_request(h, p, "POST", "/v3/lease/revoke",
                            json.dumps({"ID": str(lease_id)}).encode())

    def lease_ids(self, url):
        status, doc = http_json(url, "POST", "/v3/lease/leases", b"{}",
                                timeout=30)
        if status != 200 or doc is None:
            raise BenchError("etcd /v3/lease/leases: %s" % status)
        return set(int(x["ID"]) for x in doc.get("leases", []))


# --- measurements -----------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.a = args
        self.raw = []

    def record(self, **kv):
        self.raw.append(kv)

    def idle(self, system, leader, what):
        w = Window(system, leader)
        time.sleep(self.a.rest_seconds)  # a measurement window
        r = w.stop()
        log("  %-4s %s: leader CPU %.2f%%, cluster %.2f%% of one CPU over "
            "%.0f s" % (system.name, what, r["leader_cpu_pct"],
                        r["cluster_cpu_pct"], r["window_s"]))
        return r

    def grant(self, system, leader):
        h, p = system.hostport(leader)
        ids, errors = [], []

        def answer(job, status, body):
            i = system.granted(status, body)
            if i is None:
                errors.append((status, body[:200]))
            else:
                ids.append(i)
        load = Load(leader, self.a.conns)
        try:
            req = system.grant_request(h, p, self.a.ttl)
            r = load.run(range(self.a.leases), lambda _: req, answer)
        finally:
            load.close()
        if errors:
            raise BenchError("%s: %d grants failed (first: %s %r)" %
                             (system.name, len(errors), *errors[0]))
        if len(set(ids)) != self.a.leases:
            raise BenchError("%s: %d distinct lease ids for %d grants" %
                             (system.name, len(set(ids)), self.a.leases))
        log("  %-4s granted %d leases in %.1f s (%.0f/s)" %
            (system.name, len(ids), r["wall_s"], len(ids) / r["wall_s"]))
        return ids, r["wall_s"]

    def keep(self, system, leader, ids, mode, rnd):
        h, p = system.hostport(leader)
        pid = system.pids[leader]
        second = system.keepalive_requests(h, p, ids, mode, self.a.batch)
        jobs = second * self.a.duration
        conns = self.a.conns if mode == "single" else \
            min(self.a.conns, len(second))
        count = {"renewed": 0, "not_found": 0, "errors": 0}
        first_error = []

        def answer(job, status, body):
            r = system.renewed(status, body)
            if r is None:
                count["errors"] += job[1]
                if not first_error:
                    first_error.append((status, body[:200]))
            else:
                count["renewed"] += r[0]
                count["not_found"] += r[1]
        load = Load(leader, conns)
        try:
            w = Window(system, leader)
            r = load.run(jobs, lambda job: job[0], answer,
                         interval_s=1.0 / len(second),
                         stop_s=self.a.duration + STOP_GRACE_S)
            cpu = w.stop()
        finally:
            load.close()
        rss, anon = proc_rss_kb(pid)
        now_leader = system.leader()
        lat = r.pop("latencies_ms")
        res = dict(r, **cpu, **count)
        # The keepalives due in --duration seconds, answered in at least
        # that long.
        res.update(rate=count["renewed"] / max(r["wall_s"],
                                               self.a.duration),
                   # A system that does not keep up spends less CPU on
                   # fewer keepalives: the CPU per keepalive compares.
                   leader_cpu_us=(1e4 * cpu["leader_cpu_pct"] *
                                  cpu["window_s"] / count["renewed"]
                                  if count["renewed"] else None),
                   cluster_cpu_us=(1e4 * cpu["cluster_cpu_pct"] *
                                   cpu["window_s"] / count["renewed"]
                                   if count["renewed"] else None),
                   requests=len(jobs), p50_ms=pct(lat, 50),
                   p99_ms=pct(lat, 99), max_ms=lat[-1] if lat else None,
                   rss_kb=rss, rss_anon_kb=anon,
                   leader_changed=now_leader != leader)
        log("  %-4s %-6s %8.0f keepalives/s answered (%d requests), p50 "
            "%.2f ms, p99 %.2f ms; leader CPU %.1f%%, cluster %.1f%%, "
            "client %.1f%%; %d late sends (max %.0f ms), %d not sent; %d not "
            "found, %d errors; VmRSS %.1f MB" %
            (system.name, mode, res["rate"], len(jobs), res["p50_ms"],
             res["p99_ms"], res["leader_cpu_pct"], res["cluster_cpu_pct"],
             res["client_cpu_pct"], res["late"], res["max_lag_ms"],
             res["unsent"], res["not_found"], res["errors"], rss / 1024.0))
        if first_error:
            log("  %-4s first failed keepalive: %s %r" %
                (system.name, *first_error[0]))
        if res["rate"] < 0.98 * len(ids):
            log("  %-4s %s: does NOT keep up with %d keepalives a second" %
                (system.name, mode, len(ids)))
        if res["leader_changed"]:
            log("  %-4s note: the leader changed during the phase (now %s):"
                " its CPU figure is not the leader's alone" %
                (system.name, now_leader))
        self.record(kind="keep", system=system.name, mode=mode, run=rnd,
                    leases=len(ids), **res)

    def present(self, system, leader, ids):
        missing = len(set(ids) - system.lease_ids(leader))
        log("  %-4s %d of %d leases present after the keepalives" %
            (system.name, len(ids) - missing, len(ids)))
        return missing

    def revoke(self, system, leader, ids):
        h, p = system.hostport(leader)
        errors = []

        def answer(job, status, body):
            # 404: the lease expired (counted by present()).
            if status not in (200, 404):
                errors.append((status, body[:200]))
        load = Load(leader, self.a.conns)
        try:
            r = load.run(ids, lambda i: system.revoke_request(h, p, i),
                         answer)
        finally:
            load.close()
        if errors:
            log("  %-4s %d revokes failed (first: %s %r)" %
                (system.name, len(errors), *errors[0]))
        poll("%s: no lease left" % system.name, 60,
             lambda: True if not (system.lease_ids(leader) & set(ids))
             else None)
        return r["wall_s"]

    def round(self, system, rnd):
        leader, pid = system.round_leader(rnd)
        rss0, _ = proc_rss_kb(pid)
        idle = self.idle(system, leader, "idle, no lease")
        ids, grant_s = self.grant(system, leader)
        modes = [m for m in self.a.modes if m in system.modes] or ["single"]
        if rnd % 2 == 0:
            modes.reverse()
        for m in modes:
            self.keep(system, leader, ids, m, rnd)
        missing = self.present(system, leader, ids)
        rest = self.idle(system, leader, "at rest, %d leases" % len(ids))
        revoke_s = self.revoke(system, leader, ids)
        self.record(kind="round", system=system.name, run=rnd, leader=leader,
                    rss_before_kb=rss0, idle=idle, rest=rest,
                    grant_s=grant_s, grant_rate=len(ids) / grant_s,
                    missing=missing, revoke_s=revoke_s)


# --- the report -------------------------------------------------------------

def report(raw, args, systems):
    rows_of = []
    for s in systems:
        for m in s.modes:
            if s.name == "etcd" or m in args.modes:
                rows_of.append((s.name, m))
    cols = ["%s %s" % (s, m) if s == "kvd" else s for s, m in rows_of]

    def med(kind, get, system, **match):
        return median([get(r) for r in raw if r.get("kind") == kind and
                       r.get("system") == system and
                       all(r.get(k) == v for k, v in match.items())])

    def keep_row(label, unit, key):
        return (label, unit, {c: med("keep", lambda r: r[key], s, mode=m)
                              for c, (s, m) in zip(cols, rows_of)})

    def round_row(label, unit, get, **match):
        return (label, unit, {c: med("round", get, s, **match)
                              for c, (s, m) in zip(cols, rows_of)})
    n = args.leases
    rows = [
        keep_row("keepalives answered per second (of {:,} due)".format(n),
                 "/s", "rate"),
        keep_row("leader CPU while keeping them alive (of one CPU)", "%",
                 "leader_cpu_pct"),
        keep_row("cluster CPU, 3 members (of one CPU)", "%",
                 "cluster_cpu_pct"),
        keep_row("leader CPU per keepalive answered", "us",
                 "leader_cpu_us"),
        keep_row("cluster CPU per keepalive answered", "us",
                 "cluster_cpu_us"),
        keep_row("this client's CPU (of one CPU)", "%", "client_cpu_pct"),
        keep_row("request latency p50", "ms", "p50_ms"),
        keep_row("request latency p99", "ms", "p99_ms"),
        keep_row("sends later than %d ms (of %s)" % (
            LATE_S * 1000, "{:,}".format(n * args.duration)), "n", "late"),
        keep_row("keepalives still unsent %d s after the last was due" %
                 STOP_GRACE_S, "n", "unsent"),
        keep_row("leader VmRSS with the leases", "kB", "rss_kb"),
        # Memory once taken mostly stays with the process: the first
        # round's start is the one without leases.
        round_row("leader VmRSS before the first lease", "kB",
                  lambda r: r["rss_before_kb"], run=1),
        round_row("leader CPU idle, no lease", "%",
                  lambda r: r["idle"]["leader_cpu_pct"]),
        round_row("leader CPU at rest, {:,} leases, no keepalive".format(n),
                  "%", lambda r: r["rest"]["leader_cpu_pct"]),
        round_row("cluster CPU at rest, {:,} leases".format(n), "%",
                  lambda r: r["rest"]["cluster_cpu_pct"]),
        round_row("granting {:,} leases ({} connections)".format(
            n, args.conns), "s", lambda r: r["grant_s"]),
    ]
    # Each kvd row against etcd's.
    print_table(cols, rows, [(c, "etcd") for c in cols if c != "etcd"]
                if "etcd" in cols else None)
    lost = {s.name: sum(r["missing"] for r in raw if r.get("kind") ==
                        "round" and r["system"] == s.name) for s in systems}
    nf = {s.name: sum(r["not_found"] + r["errors"] for r in raw
                      if r.get("kind") == "keep" and r["system"] == s.name)
          for s in systems}
    print()
    for s in systems:
        print("%s: %d lease(s) missing after the keepalives, %d keepalive(s) "
              "not found or failed, over all rounds" % (s.name, lost[s.name],
                                                       nf[s.name]))
    return rows


# --- setup and main ---------------------------------------------------------

def parse_args():
    p = benchlib.arg_parser("scripts/bench_leases.py", __doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--leases", type=int, default=10000)
    p.add_argument("--ttl", type=int, default=10)
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rest-seconds", type=int, default=5)
    p.add_argument("--modes", default="batch,single")
    p.add_argument("--json", default="bench-leases-results.json")
    a = benchlib.parse(p, __doc__)
    for name, hi in (("runs", 100), ("leases", 100000), ("ttl", 86400),
                     ("duration", 3600), ("conns", 1000), ("batch", 10000),
                     ("rest_seconds", 3600)):
        v = getattr(a, name)
        if not 1 <= v <= hi:
            p.error("--%s must be between 1 and %d" %
                    (name.replace("_", "-"), hi))
    if a.ttl < 5 or a.rest_seconds > a.ttl - 4:
        # The rest window ends before the first lease could expire.
        p.error("--ttl must be at least 5 and --rest-seconds at most "
                "--ttl - 4")
    a.modes = a.modes.split(",")
    if not a.modes or any(x not in ("batch", "single") for x in a.modes):
        p.error("--modes: a comma-separated subset of batch,single")
    return a


def bench(run):
    a = run.a
    raise_nofile(a.conns + 1000, "--conns")
    run.check([], KVD_CLIENT + KVD_PEER)
    work = run.mkwork("kvd-bench-leases.")
    log("work dir %s; %d round(s)" % (work, a.runs))
    systems = []
    if not a.etcd_only:
        systems.append(Kvd(work, a.kvd, run.procs, a.kvd_args.split()))
    if a.with_etcd or a.etcd_only:
        systems.append(Etcd(work, run.procs))
    load_start = benchlib.loadavg()
    benchlib.start_all(systems)
    b = Bench(a)
    t_start = time.time()
    for rnd in range(1, a.runs + 1):
        order = systems if rnd % 2 == 1 else systems[::-1]
        for s in order:
            b.round(s, rnd)
    load_end = benchlib.loadavg()
    print()
    print("%d round(s), medians; %s; %s leases, TTL %d s, kept alive "
          "%d s; load average %s at the start, %s at the end; %d CPUs" %
          (a.runs, ", ".join("%s %s" % (s.name, s.version())
                             for s in systems),
           "{:,}".format(a.leases), a.ttl, a.duration,
           " ".join(load_start), " ".join(load_end), os.cpu_count()))
    print()
    rows = report(b.raw, a, systems)
    run.results(systems, rows, b.raw, t_start, load_start, load_end)


def main():
    return benchlib.Run(parse_args()).run(bench)


if __name__ == "__main__":
    sys.exit(main())
