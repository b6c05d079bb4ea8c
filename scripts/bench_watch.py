#!/usr/bin/env python3
"""bench_watch.py - the cost of watch streams in kvd, and in etcd measured
the same way: idle streams against write throughput, and the fan-out of one
write to many streams.

usage: scripts/bench_watch.py [--kvd PATH] [--with-etcd | --etcd-only] [options]

Each run ("round") measures one system after the other (kvd, then etcd),
both 3-member clusters on loopback started once for the whole run:

  idle    PUT throughput of wrk -t1 with --conns (64) connections against
          the leader (scripts/bench.d's put.lua, random 16-byte keys,
          100-byte values) with no watch stream open and with --watchers
          (10,000) idle streams open on the leader, each on its own key
          that is never written; the leader's CPU per answered PUT, its
          VmRSS and RssAnon with the streams open, and its CPU (utime +
          stime from /proc/PID/stat) over --idle-seconds (30) with and
          without them. kvd runs with its default --watch-progress-ms
          (5000): every idle stream gets a progress event every 5 s, and
          this client reads them all and counts the streams that had none
          in the window. The order of the two halves changes every round
          (without first in odd rounds). After closing streams it waits
          until the member's gauge of open streams is back to 0.
  fanout  --fanout (1,000) streams on one key, first all on the leader, then
          spread over the 3 members; --writes (20) PUTs of that key to the
          leader, one after the other, each once every stream has the
          previous one. For each stream and write: the time from sending
          the PUT to the arrival of the event's line (the kernel's receive
          timestamp, SO_TIMESTAMPNS, of the segment that completed the line;
          when a kernel gives none, the time this client read it).

etcd (--with-etcd): the anchor cluster of ../shared/anchors/etcd_cluster.sh
(or scripts/bench.d/etcd_cluster.sh), v3 watches through its JSON gateway,
one HTTP/1.1 request POST /v3/watch per stream, as kvd has one GET per
stream (etcdctl would multiplex watches on one gRPC stream), and PUTs through
the gateway's POST /v3/kv/put (v2 writes never reach v3 watchers).

options:
  --kvd PATH          kvd binary (default build-bench/server/kvd of this
                      checkout: meson setup build-bench -Dbuildtype=release
                      && ninja -C build-bench server/kvd)
  --with-etcd         also measure etcd, in alternating rounds
  --etcd-only         measure etcd only
  --runs N            rounds; the table shows the median (default 4)
  --duration S        seconds per wrk run (default 10)
  --conns N           wrk connections (default 64)
  --watchers N        idle streams (default 10000)
  --idle-seconds S    CPU window with the streams idle (default 30)
  --fanout N          streams on the fan-out key (default 1000)
  --writes N          timed writes per fan-out run (default 20; one more,
                      untimed, goes first)
  --phases LIST       idle,fanout or one of them (default both)
  --kvd-args "ARGS"   more flags for each kvd member (e.g.
                      "--watch-progress-ms 60000")
  --json FILE         results, every single run (default
                      bench-watch-results.json)
  --keep              keep the temporary directory (logs, data dirs)

Ports on 127.0.0.1 (it refuses to start when one is busy): kvd client
7321-7323, peer 7421-7423; etcd client 23791-23793, peer 23801-23803.
It raises its RLIMIT_NOFILE to the hard limit (the servers inherit it) and
needs about --watchers + --conns + 1000 descriptors. Every process it
starts is stopped on exit, also on Ctrl-C. Standard library only; needs
wrk (and etcd, etcdctl for --with-etcd). See docs/PERFORMANCE.md, "Watch".
"""

import base64
import http.client
import json
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_D = os.path.join(ROOT, "scripts", "bench.d")
sys.path.insert(0, BENCH_D)
import benchlib  # noqa: E402
from benchlib import (BenchError, Conn, EtcdCluster, KvdCluster,  # noqa: E402
                      LineConn, Pool, log, median, pct, print_table,
                      proc_cpu_seconds, proc_rss_kb, raise_nofile)

benchlib.PROG = "bench_watch"

KVD_CLIENT = [7321, 7322, 7323]
KVD_PEER = [7421, 7422, 7423]

IDLE_KEY = "wi/%06d"
FAN_KEY = "wf/fan"

# wrk load for etcd: the gateway's v3 put, as put.lua is for kvd.
ETCD_PUT_V3_LUA = """\
-- etcd v3 JSON gateway: put of a random 16-byte key with a 100-byte value
-- (v3 writes are what v3 watchers see; scripts/bench compares v2 PUTs).
wrk.headers["Content-Type"] = "application/json"
local value64 = bench.base64(bench.value)

request = function()
	return wrk.format("POST", "/v3/kv/put", nil, '{"key":"' ..
			  bench.base64(bench.random_key()) ..
			  '","value":"' .. value64 .. '"}')
end
"""


class Watch(LineConn):
    """One watch stream: ready once the server confirmed it; remembers when
    each watched value first arrived (kvd and etcd differ in the request
    and in the lines; the subclasses say how)."""

    def __init__(self, pool, host, port, key):
        super().__init__(host, port)
        self.pool = pool
        self.key = key
        self.ready = False
        self.seen = {}          # value -> (kernel ts, read ts)
        self.duplicates = 0
        self.progress = 0
        self.events = 0
        self.error = None

    def start(self):
        self.send(self.request())

    def got_event(self, value, ts):
        self.events += 1
        if value in self.seen:
            self.duplicates += 1
            return
        self.seen[value] = ts
        self.pool.count_value(value)

    def on_answer(self, ts):
        self.failed = self.failed or "the stream ended"

    def fail(self, why):
        self.failed = self.failed or why


class KvdWatch(Watch):
    def request(self):
        q = urllib.parse.quote(self.key, safe="")
        return ("GET /v1/watch?key=%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" %
                (q, self.addr[0], self.addr[1])).encode()

    def on_head(self):
        if self.status == 200:
            self.ready = True
        else:
            self.fail("HTTP %d" % self.status)

    def on_line(self, text, ts):
        ev = json.loads(text)
        t = ev.get("type")
        if t == "put":
            self.got_event(base64.b64decode(ev.get("value", "")), ts)
        elif t == "delete":
            self.got_event(None, ts)
        elif t == "progress":
            self.progress += 1
        elif t == "error":
            self.fail("error event %s" % text.decode(errors="replace"))


class EtcdWatch(Watch):
    def request(self):
        body = json.dumps({"create_request": {
            "key": base64.b64encode(self.key.encode()).decode()}}).encode()
        return (("POST /v3/watch HTTP/1.1\r\nHost: %s:%d\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "\r\n") % (self.addr[0], self.addr[1], len(body))).encode() \
            + body

    def on_head(self):
        if self.status != 200:
            self.fail("HTTP %d" % self.status)

    def on_line(self, text, ts):
        doc = json.loads(text)
        if "error" in doc:
            self.fail("error %s" % text.decode(errors="replace"))
            return
        r = doc.get("result", {})
        if r.get("created"):
            self.ready = True
        if r.get("canceled"):
            self.fail("canceled %s" % text.decode(errors="replace"))
        evs = r.get("events")
        if evs:
            for e in evs:
                self.got_event(base64.b64decode(
                    e.get("kv", {}).get("value", "")), ts)
        elif not r.get("created"):
            self.progress += 1


class Put(Conn):
    """A keep-alive connection for timed PUTs."""

    def __init__(self, host, port):
        super().__init__(host, port)
        self.body = bytearray()
        self.done_ts = None

    def on_body(self, data, ts):
        self.body += data

    def on_answer(self, ts):
        self.done_ts = ts

    def put(self, request):
        self.body = bytearray()
        self.done_ts = None
        return self.send(request)


class WatchPool(Pool):
    """The pool of the fan-out: it counts the streams that have each
    watched value and can defer parsing."""

    def __init__(self):
        super().__init__()
        self.counts = {}        # watched value -> streams that have it
        # While a write fans out, streams only keep what they receive
        # (parsed afterwards): this client shares the CPUs with the
        # members, and parsing on the way would slow down the very
        # deliveries being timed.
        self.defer = False
        self.fresh = 0          # streams that received bytes while deferred

    def count_value(self, value):
        self.counts[value] = self.counts.get(value, 0) + 1

    def close_all(self):
        super().close_all()
        self.counts = {}

    def start_defer(self, streams):
        for c in streams:
            c.raw = []
        self.fresh = 0
        self.defer = True

    def end_defer(self, streams):
        """Parses what the streams received while deferred."""
        self.defer = False
        for c in streams:
            raw, c.raw = c.raw, []
            for data, ts in raw:
                if c.closed:
                    break
                try:
                    c.feed(data, ts)
                except (OSError, ValueError) as e:
                    c.failed = c.failed or "%s" % e
                    self.close(c)

    def deliver(self, c, data, ts):
        if self.defer and c.raw is not None:
            if not c.raw:
                self.fresh += 1
            c.raw.append((data, ts))
            return
        c.feed(data, ts)


class Drainer:
    """Reads the pool's streams on a thread while the main thread runs wrk
    or watches the clock, so idle streams stay read like a client's."""

    def __init__(self, pool):
        self.pool = pool
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.pool.pump(0.2)
        except Exception as e:  # reported by the main thread
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        if self.error:
            raise BenchError("reading the streams: %s" % self.error)


def open_streams(pool, cls, targets, keys, timeout, inflight=200):
    """Opens one stream per (target, key) and waits until every one is
    ready; at most INFLIGHT connect at once (a listen backlog must not
    overflow into SYN retries, which would time the kernel, not the
    server)."""
    deadline = time.monotonic() + timeout
    todo = list(zip(targets, keys))
    todo.reverse()
    opening, streams = [], []
    while todo or opening:
        while todo and len(opening) < inflight:
            (host, port), key = todo.pop()
            w = cls(pool, host, port, key)
            pool.add(w)
            w.start()
            opening.append(w)
            streams.append(w)
        pool.pump(0.05)
        still = []
        for w in opening:
            if w.failed:
                raise BenchError("opening watch %d of %d (%s): %s" % (
                    len(streams) - len(opening) + len(still) + 1,
                    len(targets), w.key, w.failed))
            if not w.ready:
                still.append(w)
        opening = still
        if time.monotonic() >= deadline:
            raise BenchError("opening %d watch streams: %d not ready after "
                             "%d s" % (len(targets),
                                       len(opening) + len(todo), timeout))
    return streams


# --- the two systems --------------------------------------------------------

class Watched:
    """What the benchmark asks of either cluster beyond starting it."""
    watch_cls = None
    streams_metric = ""

    def streams_open(self, url):
        """The member's gauge of open watch streams, or None."""
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        for line in text.splitlines():
            name, _, v = line.partition(" ")
            if name == self.streams_metric:
                try:
                    return int(float(v))
                except ValueError:
                    return None
        return None

    def wait_streams_gone(self, urls):
        """A closed stream is the member's until it notices (kvd: at the
        next progress sweep, up to --watch-progress-ms later): the next
        step starts once no member counts any, so that it neither meets
        --max-watchers nor carries the last step's streams."""
        deadline = time.monotonic() + 120
        for u in urls:
            while True:
                n = self.streams_open(u)
                if n == 0:
                    break
                if time.monotonic() >= deadline:
                    log("note: %s %s still counts %s watch streams 120 s "
                        "after they were closed" % (self.name, u, n))
                    break
                time.sleep(0.1)


class Kvd(Watched, KvdCluster):
    watch_cls = KvdWatch
    streams_metric = "kvd_watch_streams"

    def __init__(self, work, binary, procs, max_fds, kvd_args):
        super().__init__(work, binary, procs, KVD_CLIENT, KVD_PEER)
        self.kvd_args = kvd_args
        self.max_fds = max_fds

    def start(self, watchers_needed):
        help_text = self.help_text()
        if "--watch-progress-ms" not in help_text:
            raise BenchError("%s has no watch (no --watch-progress-ms in "
                             "its --help): build a kvd that serves "
                             "GET /v1/watch" % self.binary)
        # A connection for each stream, the wrk connections and the
        # control connections; the streams are the only watchers.
        extra = ["--max-connections", str(self.max_fds)]
        if "--max-watchers" in help_text:
            # Closed streams count until the member notices them
            # (Watched.wait_streams_gone).
            extra += ["--max-watchers",
                      str(max(10000, 2 * watchers_needed))]
        self.launch(extra + self.kvd_args)

    def put_request(self, url, key, value):
        host, port = self.hostport(url)
        return (("PUT /v1/kv/%s HTTP/1.1\r\nHost: %s:%d\r\n"
                 "Content-Length: %d\r\n\r\n") %
                (urllib.parse.quote(key, safe=""), host, port,
                 len(value))).encode() + value

    def wrk_script(self):
        return os.path.join(BENCH_D, "put.lua")


class Etcd(Watched, EtcdCluster):
    watch_cls = EtcdWatch
    streams_metric = "etcd_debugging_mvcc_watch_stream_total"

    def start(self, watchers_needed):
        self.launch()

    def put_request(self, url, key, value):
        host, port = self.hostport(url)
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value).decode()}).encode()
        return (("POST /v3/kv/put HTTP/1.1\r\nHost: %s:%d\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "\r\n") % (host, port, len(body))).encode() + body

    def wrk_script(self):
        return None


# --- measurements -----------------------------------------------------------

class Bench:
    def __init__(self, args, work):
        self.a = args
        self.work = work
        self.raw = []
        self.lua = {}

    def record(self, **kv):
        self.raw.append(kv)

    def lua_for(self, system):
        """common.lua + the load + report.lua, as scripts/bench builds
        them."""
        if system.name in self.lua:
            return self.lua[system.name]
        with open(os.path.join(BENCH_D, "common.lua")) as f:
            common = f.read()
        with open(os.path.join(BENCH_D, "report.lua")) as f:
            report = f.read()
        if system.wrk_script():
            with open(system.wrk_script()) as f:
                load = f.read()
        else:
            load = ETCD_PUT_V3_LUA
        path = os.path.join(self.work, "%s_put.lua" % system.name)
        with open(path, "w") as f:
            f.write(common + load + report)
        self.lua[system.name] = path
        return path

    def wrk(self, system, url, label, pid):
        """One wrk run; with it the leader's CPU per answered PUT, which
        the machine's other work moves less than the throughput."""
        script = self.lua_for(system)
        env = dict(os.environ)
        env["BENCH_SEED"] = str(int.from_bytes(os.urandom(4), "little"))
        cmd = ["wrk", "-t1", "-c%d" % self.a.conns, "-d%ds" % self.a.duration,
               "--timeout", "5s", "-s", script, url]
        cpu0 = proc_cpu_seconds(pid)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                               timeout=self.a.duration + 60,
                               stdin=subprocess.DEVNULL)
            cpu1 = proc_cpu_seconds(pid)
        except subprocess.TimeoutExpired:
            raise BenchError("wrk did not finish (%s %s)" %
                             (system.name, label))
        for line in r.stdout.splitlines():
            if line.startswith("BENCHRESULT "):
                w = json.loads(line[len("BENCHRESULT "):])
                errs = sum(w["errors"].values())
                w["leader_cpu_us_per_put"] = (1e6 * (cpu1 - cpu0) / w["ok"]
                                              if w["ok"] else None)
                log("  %-4s %-22s %8.0f req/s ok, p50 %.2f ms, p99 %.2f ms, "
                    "%d errors, leader CPU %.1f us/PUT" %
                    (system.name, label, w["ok_rps"], w["p50_ms"],
                     w["p99_ms"], errs, w["leader_cpu_us_per_put"] or 0))
                return w
        raise BenchError("wrk printed no result (%s %s): %s" %
                         (system.name, label, (r.stdout + r.stderr)[-500:]))

    def idle_window(self, pid):
        """The member's CPU over --idle-seconds (a measurement window: the
        clock is what is measured), and this client's own."""
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        c0, t0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(self.a.idle_seconds)
        c1, t1 = proc_cpu_seconds(pid), time.monotonic()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        client = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        return {"cpu_s": c1 - c0, "window_s": t1 - t0,
                "cpu_pct": 100.0 * (c1 - c0) / (t1 - t0),
                "client_cpu_pct": 100.0 * client / (t1 - t0)}

    def idle_without(self, system, rnd, leader, pid):
        win = self.idle_window(pid)
        rss, anon = proc_rss_kb(pid)
        log("  %-4s leader idle, no streams: CPU %.2f%% of one CPU over "
            "%.0f s, VmRSS %.1f MB" % (system.name, win["cpu_pct"],
                                       win["window_s"], rss / 1024.0))
        w = self.wrk(system, leader, "PUT, no streams", pid)
        self.record(kind="idle", system=system.name, run=rnd, watchers=0,
                    idle=win, rss_kb=rss, rss_anon_kb=anon, wrk=w)

    def idle_with(self, system, rnd, leader, pid):
        n = self.a.watchers
        pool = WatchPool()
        host, port = system.hostport(leader)
        rss0, anon0 = proc_rss_kb(pid)
        t0 = time.monotonic()
        streams = open_streams(pool, system.watch_cls, [(host, port)] * n,
                               [IDLE_KEY % i for i in range(n)], 600)
        opened_s = time.monotonic() - t0
        try:
            with Drainer(pool):
                rss_open, anon_open = proc_rss_kb(pid)
                before = [s.progress for s in streams]
                win = self.idle_window(pid)
                after = [s.progress for s in streams]
                p0, p1 = sum(before), sum(after)
                # kvd: every stream idle for a whole --watch-progress-ms
                # (5 s) must have had a progress event in the window.
                silent = sum(1 for b, e in zip(before, after) if b == e)
                rss, anon = proc_rss_kb(pid)
                log("  %-4s %d streams open in %.1f s; idle: CPU %.2f%% of "
                    "one CPU over %.0f s, %d progress lines, %d streams "
                    "without one (client CPU %.1f%%), VmRSS %.1f MB (%.1f "
                    "before)" %
                    (system.name, n, opened_s, win["cpu_pct"],
                     win["window_s"], p1 - p0, silent,
                     win["client_cpu_pct"], rss / 1024.0, rss0 / 1024.0))
                w = self.wrk(system, leader, "PUT, %d streams" % n, pid)
                rss_after, _ = proc_rss_kb(pid)
            ended = [s for s in streams if s.failed]
            if ended:
                raise BenchError("%s: %d of %d idle streams ended during the "
                                 "run (first: %s)" % (system.name, len(ended),
                                                      n, ended[0].failed))
            self.record(kind="idle", system=system.name, run=rnd, watchers=n,
                        open_s=opened_s, idle=win, progress_lines=p1 - p0,
                        streams_without_progress=silent,
                        rss_before_kb=rss0, rss_open_kb=rss_open,
                        rss_anon_before_kb=anon0, rss_anon_open_kb=anon_open,
                        rss_kb=rss,
                        rss_anon_kb=anon, rss_after_wrk_kb=rss_after, wrk=w)
        finally:
            pool.close_all()
        system.wait_streams_gone([leader])

    def fanout(self, system, rnd, leader, mode):
        n = self.a.fanout
        if mode == "leader":
            targets = [system.hostport(leader)] * n
        else:
            hp = [system.hostport(u) for u in system.client_urls]
            targets = [hp[i % len(hp)] for i in range(n)]
        pool = WatchPool()
        try:
            streams = open_streams(pool, system.watch_cls, targets,
                                   [FAN_KEY] * n, 300)
            host, port = system.hostport(leader)
            put = None
            lat_k, lat_r, last, acks, missing = [], [], [], [], 0
            per_write = []
            for i in range(self.a.writes + 1):
                if put is None or put.closed:
                    # Connected before the clock starts.
                    put = Put(host, port)
                    pool.add(put)
                    deadline = time.monotonic() + 30
                    while not put.connected:
                        if put.failed or time.monotonic() > deadline:
                            raise BenchError("%s: cannot connect to %s: %s"
                                             % (system.name, leader,
                                                put.failed))
                        pool.pump(0.05)
                value = ("r%d-%s-%d" % (rnd, mode, i)).encode()
                req = system.put_request(leader, FAN_KEY, value)
                pool.start_defer(streams)
                t_send = put.put(req)
                deadline = time.monotonic() + 30
                # Every stream received something: most likely the
                # write's event (a progress event cannot come before 5 s
                # without one); parsed, the counts say whether it was.
                while (pool.fresh < n or put.done_ts is None) and \
                        time.monotonic() < deadline:
                    pool.pump(0.2)
                    if put.closed and put.done_ts is None:
                        raise BenchError("%s: the PUT connection closed: %s"
                                         % (system.name, put.failed))
                pool.end_defer(streams)
                while pool.counts.get(value, 0) < n and \
                        time.monotonic() < deadline:
                    pool.pump(0.2)
                if put.done_ts is None or put.status != 200:
                    raise BenchError("%s: fan-out PUT: %s %s" % (
                        system.name, put.status, bytes(put.body)[:200]))
                got = [s.seen[value] for s in streams if value in s.seen]
                # The slowest delivery per member, to tell a member that
                # learned of the commit late from a slow fan-out.
                by_member = {}
                for s in streams:
                    if value in s.seen:
                        k, r = s.seen[value]
                        ms = ((k if k is not None else r) - t_send) / 1e6
                        m = "%s:%d" % s.addr
                        by_member[m] = max(by_member.get(m, 0), ms)
                if len(got) < n:
                    ended = [s.failed for s in streams if s.failed]
                    log("  %s: write %d reached %d of %d streams in 30 s%s" %
                        (system.name, i, len(got), n,
                         " (%d ended: %s)" % (len(ended), ended[0])
                         if ended else ""))
                    missing += n - len(got)
                if i == 0:
                    continue  # the untimed first write
                ks = [((k if k is not None else r) - t_send) / 1e6
                      for k, r in got]
                rs = [(r - t_send) / 1e6 for _, r in got]
                lat_k += ks
                lat_r += rs
                last.append(max(ks))
                per_write.append(by_member)
                k, r = put.done_ts
                acks.append(((k if k is not None else r) - t_send) / 1e6)
            lat_k.sort()
            lat_r.sort()
            res = {"min_ms": lat_k[0] if lat_k else None,
                   "p50_ms": pct(lat_k, 50), "p99_ms": pct(lat_k, 99),
                   "max_ms": lat_k[-1] if lat_k else None,
                   "read_p50_ms": pct(lat_r, 50), "read_p99_ms": pct(lat_r, 99),
                   "read_max_ms": lat_r[-1] if lat_r else None,
                   "last_stream_median_ms": median(last),
                   "put_ack_median_ms": median(acks),
                   "slowest_by_member_ms": per_write,
                   "samples": len(lat_k), "missing": missing,
                   "duplicates": sum(s.duplicates for s in streams),
                   "kernel_timestamps": pool.kernel_ts}
            log("  %-4s fan-out %d streams (%s): p50 %.2f ms, p99 %.2f ms, "
                "max %.2f ms; PUT answered after %.2f ms (median)" %
                (system.name, n, mode, res["p50_ms"], res["p99_ms"],
                 res["max_ms"], res["put_ack_median_ms"]))
            self.record(kind="fanout", system=system.name, run=rnd, mode=mode,
                        streams=n, writes=self.a.writes, **res)
        finally:
            pool.close_all()
        system.wait_streams_gone(system.client_urls)

    def round(self, system, rnd):
        leader, pid = system.round_leader(rnd)
        if rnd == 1:
            # Memory once given to streams mostly stays with the process
            # (malloc's arenas, Go's heap): "without streams" is this one.
            rss, anon = proc_rss_kb(pid)
            self.record(kind="fresh", system=system.name, rss_kb=rss,
                        rss_anon_kb=anon)
        if "idle" in self.a.phases:
            # Half the rounds start without streams, half with them, so
            # that a store growing run by run weighs on both alike.
            if rnd % 2 == 1:
                self.idle_without(system, rnd, leader, pid)
                self.idle_with(system, rnd, leader, pid)
            else:
                self.idle_with(system, rnd, leader, pid)
                self.idle_without(system, rnd, leader, pid)
        if "fanout" in self.a.phases:
            leader = system.leader()
            self.fanout(system, rnd, leader, "leader")
            self.fanout(system, rnd, leader, "spread")


# --- the report -------------------------------------------------------------

def report(raw, args, systems):
    names = [s.name for s in systems]

    def runs(kind, system, **match):
        return [r for r in raw if r.get("kind") == kind and
                r.get("system") == system and
                all(r.get(k) == v for k, v in match.items())]

    def med(kind, system, get, **match):
        return median([get(r) for r in runs(kind, system, **match)])

    n, f = args.watchers, args.fanout
    rows = []
    if "idle" in args.phases:
        def rps(r):
            return r["wrk"]["ok_rps"]
        rows.append(("PUT %d conn, no streams" % args.conns, "req/s",
                     {s: med("idle", s, rps, watchers=0) for s in names}))
        rows.append(("PUT %d conn, {:,} idle streams on the leader".format(n)
                     % args.conns, "req/s",
                     {s: med("idle", s, rps, watchers=n) for s in names}))
        ratio = {}
        for s in names:
            # The ratio of each round's pair, then their median: pairs
            # measured minutes apart share the machine's load.
            by_run = {}
            for r in runs("idle", s):
                by_run.setdefault(r["run"], {})[r["watchers"]] = \
                    r["wrk"]["ok_rps"]
            ratio[s] = median([p[n] / p[0] for p in by_run.values()
                               if 0 in p and n in p and p[0]])
        rows.append(("with / without streams (median of the rounds' "
                     "ratios)", "x", ratio))
        for w, what in ((0, "no streams"),
                        (n, "{:,} idle streams".format(n))):
            rows.append(("leader CPU per PUT, %s" % what, "us",
                         {s: med("idle", s, lambda r:
                                 r["wrk"]["leader_cpu_us_per_put"],
                                 watchers=w) for s in names}))
        rows.append(("leader VmRSS before the first stream", "kB",
                     {s: med("fresh", s, lambda r: r["rss_kb"])
                      for s in names}))
        rows.append(("leader VmRSS, {:,} idle streams".format(n), "kB",
                     {s: med("idle", s, lambda r: r["rss_kb"], watchers=n)
                      for s in names}))
        # Memory freed by closed streams stays with the process and serves
        # the next round's: the first round shows what streams cost.
        rows.append(("leader RssAnon growth opening {:,} streams, first "
                     "round".format(n), "kB",
                     {s: med("idle", s, lambda r: r["rss_anon_open_kb"] -
                             r["rss_anon_before_kb"], watchers=n, run=1)
                      for s in names}))
        rows.append(("leader CPU idle %d s, no streams (of one CPU)" %
                     args.idle_seconds, "%",
                     {s: med("idle", s, lambda r: r["idle"]["cpu_pct"],
                             watchers=0) for s in names}))
        rows.append(("leader CPU idle %d s, {:,} streams (of one CPU)".format(n)
                     % args.idle_seconds, "%",
                     {s: med("idle", s, lambda r: r["idle"]["cpu_pct"],
                             watchers=n) for s in names}))
        rows.append(("opening {:,} streams".format(n), "s",
                     {s: med("idle", s, lambda r: r["open_s"], watchers=n)
                      for s in names}))
    if "fanout" in args.phases:
        for mode, where in (("leader", "on the leader"),
                            ("spread", "over 3 members")):
            for key, what in (("p50_ms", "p50"), ("p99_ms", "p99"),
                              ("max_ms", "max")):
                rows.append(("fan-out {:,} streams {}: {}".format(f, where,
                                                                  what),
                             "ms", {s: med("fanout", s,
                                           lambda r, key=key: r[key],
                                           mode=mode) for s in names}))
            rows.append(("  (PUT answered, median)", "ms",
                         {s: med("fanout", s,
                                 lambda r: r["put_ack_median_ms"], mode=mode)
                          for s in names}))

    print_table(names, rows)
    return rows


def parse_args():
    p = benchlib.arg_parser("scripts/bench_watch.py", __doc__)
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--watchers", type=int, default=10000)
    p.add_argument("--idle-seconds", type=int, default=30)
    p.add_argument("--fanout", type=int, default=1000)
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--phases", default="idle,fanout")
    p.add_argument("--json", default="bench-watch-results.json")
    a = benchlib.parse(p, __doc__)
    for name in ("runs", "duration", "conns", "watchers", "idle_seconds",
                 "fanout", "writes"):
        v = getattr(a, name)
        if not 1 <= v <= 1000000:
            p.error("--%s must be between 1 and 1000000" %
                    name.replace("_", "-"))
    a.phases = a.phases.split(",")
    if not a.phases or any(x not in ("idle", "fanout") for x in a.phases):
        p.error("--phases: a comma-separated subset of idle,fanout")
    return a


def bench(run):
    a = run.a
    fds = raise_nofile(max(a.watchers, a.fanout) + a.conns + 1000,
                       "--watchers")
    run.check(["wrk"], KVD_CLIENT + KVD_PEER)
    work = run.mkwork("kvd-bench-watch.")
    log("work dir %s; %d round(s); RLIMIT_NOFILE %d" % (work, a.runs, fds))
    systems = []
    if not a.etcd_only:
        systems.append(Kvd(work, a.kvd, run.procs, fds - 100,
                           a.kvd_args.split()))
    if a.with_etcd or a.etcd_only:
        systems.append(Etcd(work, run.procs))
    load_start = benchlib.loadavg()
    benchlib.start_all(systems, max(a.watchers, a.fanout))
    b = Bench(a, work)
    t_start = time.time()
    for rnd in range(1, a.runs + 1):
        for s in systems:
            b.round(s, rnd)
    load_end = benchlib.loadavg()
    print()
    print("%d round(s), medians; %s; load average %s at the start, %s "
          "at the end; %d CPUs" % (a.runs, ", ".join(
              "%s %s" % (s.name, s.version()) for s in systems),
              " ".join(load_start), " ".join(load_end), os.cpu_count()))
    print()
    rows = report(b.raw, a, systems)
    run.results(systems, rows, b.raw, t_start, load_start, load_end)


def main():
    return benchlib.Run(parse_args()).run(bench)


if __name__ == "__main__":
    sys.exit(main())

