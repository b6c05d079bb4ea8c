#!/usr/bin/env python3
"""bench_bigstore.py - kvd and etcd holding a big store: the disk and memory
it takes, a restart, and a new member catching up while writes go on.

usage: scripts/bench_bigstore.py [--kvd PATH] [--with-etcd | --etcd-only] [options]

For each system in turn (kvd, then etcd; each removed before the next, so
the disk holds one at a time), on loopback:

  load      3 members; --keys (4,000,000) keys of --value-bytes (1024)
            written through the API by wrk over 64 connections (kvd: PUT
            /v1/kv; etcd: its v3 JSON gateway, POST /v3/kv/put, into its
            bbolt backend with --quota-backend-bytes raised to 16 GiB),
            then counted (and any key a dropped connection lost written
            again, so the count is exact);
  size      every member's data dir (du) and VmRSS;
  restart   a follower stopped and started again: exec to ready (kvd:
            /readyz 200; etcd: /health true);
  before    wrk PUT of new keys of the same size over 64 connections for
            --write-seconds (20): the write rate and p99;
  catch-up  a 4th member added (kvd: POST /v1/members; etcd: POST
            /v3/cluster/member/add) and started with an empty data dir;
            the time from its start until it has applied what the
            cluster had when it was added (kvd: applied_index; etcd: its
            revision), and the leader's data dir size over that time in
            MB/s, next to what `dd` writes (1 MiB blocks, fdatasync at the
            end) for a file of that size (at most 4 GiB) on the same
            disk; also the new member's own data dir over the same
            time (what it had to write); meanwhile, from the new
            member's start, the same PUT load as "before" runs for
            --write-seconds: its rate over the rate before. With --kvd-args "--log-level info" the
            members log the snapshot sends, and kvd's catch-up is also
            split into its phases: snapshots sent to the new member, their
            bytes and time (first send to last verified: MB/s), and
            their install time.

The issue's goals: catch-up at least 50% of dd's MB/s, writes during it at
least 70% of their rate before it.

options:
  --keys N            keys to load (default 4000000)
  --value-bytes N     value size (default 1024)
  --write-seconds S   each PUT measurement (default 20)
  --dir DIR           where data dirs go (default: a new dir under $TMPDIR)
  --json FILE         results (default bench-bigstore-results.json)
  --kvd-args ARGS     extra kvd flags, one string
  --keep              keep the data dirs and logs

Ports (127.0.0.1): kvd 7301-7304 (client), 7401-7404 (peer); etcd
23791-23794, 23801-23804. Needs a release build: meson setup build-bench
-Dbuildtype=release && ninja -C build-bench server/kvd. A kvd member
holding D bytes of values takes about 4 D of disk (its store, about 2 D
at 1 KiB values, and a snapshot of it); with the new member and dd's file
the run needs about 17 D free, and refuses to start with less (4,000,000
keys of 1 KiB: about 70 GB). See docs/PERFORMANCE.md "Big stores".
"""

import base64
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "bench.d"))
import benchlib  # noqa: E402
from benchlib import BenchError, http_json, log, poll  # noqa: E402

benchlib.PROG = "bench_bigstore"

KVD_CLIENT = [7301, 7302, 7303, 7304]
KVD_PEER = [7401, 7402, 7403, 7404]
ETCD_CLIENT = [23791, 23792, 23793, 23794]
ETCD_PEER = [23801, 23802, 23803, 23804]
LOAD_TIMEOUT_S = 4 * 3600

ETCD_LOAD_V3 = """
-- etcd v3 JSON gateway: writes the loaded key set in order, then exits.
wrk.headers["Content-Type"] = "application/json"
local next_key = 0
local value64 = bench.base64(bench.value)
request = function()
	if next_key >= bench.keys then
		os.exit(0)
	end
	local k = bench.loaded_key(next_key)
	next_key = next_key + 1
	return wrk.format("POST", "/v3/kv/put", nil, '{"key":"' ..
			  bench.base64(k) .. '","value":"' .. value64 .. '"}')
end
"""

ETCD_PUT_V3 = """
-- etcd v3 JSON gateway: PUT of a random 16-byte key.
wrk.headers["Content-Type"] = "application/json"
local value64 = bench.base64(bench.value)
request = function()
	return wrk.format("POST", "/v3/kv/put", nil, '{"key":"' ..
			  bench.base64(bench.random_key()) .. '","value":"' ..
			  value64 .. '"}')
end
"""


def du_bytes(path):
    r = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("du %s: %s" % (path, r.stderr.strip()))
    return int(r.stdout.split()[0])


# dd's file is at most this big: the rate is what is compared, and a file
# the size of a big data dir may not fit beside four of them.
DD_MAX_BYTES = 4 << 30

# Disk a run needs per byte of values: three members and the new one at
# about 4 bytes each (a store about twice the values at 1 KiB values, and a
# snapshot of it), and room to spare.
DISK_PER_VALUE_BYTE = 17


def dd_mb_s(d, nbytes):
    """What dd writes per second into d for a file of nbytes, at most
    DD_MAX_BYTES (1 MiB blocks, one fdatasync at the end, as a snapshot
    is written)."""
    f = os.path.join(d, "dd.tmp")
    count = max(1, min(nbytes, DD_MAX_BYTES) >> 20)
    t0 = time.monotonic()
    r = subprocess.run(["dd", "if=/dev/zero", "of=" + f, "bs=1M",
                        "count=%d" % count, "conv=fdatasync"],
                       capture_output=True, text=True)
    secs = time.monotonic() - t0
    os.unlink(f)
    if r.returncode != 0:
        raise BenchError("dd: %s" % r.stderr.strip())
    return count * 1048576 / 1e6 / secs


def lua(work, name, body):
    """common.lua + body + report.lua in one file, as scripts/bench does."""
    out = os.path.join(work, name)
    with open(out, "w") as f:
        for part in ("common.lua", None, "report.lua"):
            if part is None:
                f.write(body)
            else:
                with open(os.path.join(benchlib.BENCH_D, part)) as src:
                    f.write(src.read())
    return out


def wrk(script, url, conns, seconds, env):
    r = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
                        "--timeout", "10s", "-s", script, url],
                       capture_output=True, text=True,
                       env=dict(os.environ, **env), timeout=seconds + 120)
    m = re.search(r"^BENCHRESULT (\{.*\})$", r.stdout, re.M)
    if m is None:
        # The loaders leave by os.exit(): no summary, only the time.
        return None
    return json.loads(m.group(1))


class Kvd:
    name = "kvd"

    def __init__(self, run, root):
        self.run = run
        self.root = os.path.join(root, "kvd")
        self.procs = {}
        self.urls = ["http://127.0.0.1:%d" % p for p in KVD_CLIENT]
        self.extra = shlex.split(run.a.kvd_args)

    def data_dir(self, i):
        return os.path.join(self.root, "m%d" % i)

    def start(self, i, join=False):
        os.makedirs(self.root, exist_ok=True)
        args = [self.run.a.kvd, "--id", str(i), "--data-dir",
                self.data_dir(i), "--listen-client",
                "127.0.0.1:%d" % KVD_CLIENT[i - 1], "--listen-peer",
                "127.0.0.1:%d" % KVD_PEER[i - 1], "--log-level", "warn"]
        if not join:
            args += ["--initial-cluster", ",".join(
                "%d=http://127.0.0.1:%d" % (j, KVD_PEER[j - 1])
                for j in (1, 2, 3))]
        with open(os.path.join(self.root, "m%d.log" % i), "ab") as logf:
            p = subprocess.Popen(args + self.extra, stdout=logf,
                                 stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        self.procs[i] = p
        self.run.procs.append(p.pid)

    def ready(self, i):
        return http_json(self.urls[i - 1], "GET", "/readyz")[0] == 200

    def leader(self):
        def find():
            for i in (1, 2, 3):
                s, st = http_json(self.urls[i - 1], "GET", "/v1/status")
                if s == 200 and st and st.get("state") == "leader":
                    return i
            return None
        return poll("a kvd leader", 60, find)

    def loader(self, work):
        with open(os.path.join(benchlib.BENCH_D, "load.lua")) as f:
            return lua(work, "kvd-load.lua", f.read())

    def putter(self, work):
        with open(os.path.join(benchlib.BENCH_D, "put.lua")) as f:
            return lua(work, "kvd-put.lua", f.read())

    def count(self, i):
        """Keys under "ld" (the loaded set), by paging the list."""
        n, after = 0, None
        while True:
            path = "/v1/kv?prefix=ld&limit=10000&consistency=stale"
            if after:
                path += "&after=" + after
            s, j = http_json(self.urls[i - 1], "GET", path, timeout=60)
            if s != 200:
                raise BenchError("kvd list: HTTP %s" % s)
            n += len(j["kvs"])
            if not j["more"]:
                return n
            after = j["kvs"][-1]["key"]

    def present(self, i):
        """The numbers of the loaded keys that are there (a listing
        carries the values too: this reads the whole store once)."""
        have, after = set(), None
        while True:
            path = "/v1/kv?prefix=ld&limit=10000&consistency=stale"
            if after:
                path += "&after=" + after
            s, j = http_json(self.urls[i - 1], "GET", path, timeout=60)
            if s != 200:
                raise BenchError("kvd list: HTTP %s" % s)
            have.update(int(kv["key"][2:]) for kv in j["kvs"])
            if not j["more"]:
                return have
            after = j["kvs"][-1]["key"]

    def put_loaded(self, i, k, value):
        s, _ = http_json(self.urls[i - 1], "PUT", "/v1/kv/" + k, value)
        return s == 200

    def join(self, leader):
        """Starts member 4 (it waits to be reached) and adds it; returns
        the index it must apply to have caught up and when it started.
        The add answers only once the member caught up as a learner and
        was made a voter (or 504 when that takes longer than the request
        timeout: it goes on regardless), so it is sent from a thread: the
        write load and the catch-up poll run meanwhile, not after it.
        join_done() checks its answer."""
        s, st = http_json(self.urls[leader - 1], "GET", "/v1/status")
        target = st["commit_index"]
        t0 = time.monotonic()
        self.start(4, join=True)
        self.add_answer = None

        def add():
            self.add_answer = http_json(
                self.urls[leader - 1], "POST", "/v1/members",
                json.dumps({"id": 4, "peer_url":
                            "http://127.0.0.1:%d" % KVD_PEER[3]})
                .encode(), timeout=30)
        self.add_thread = threading.Thread(target=add, daemon=True)
        self.add_thread.start()
        return target, t0

    def join_done(self):
        self.add_thread.join(timeout=60)
        s, j = self.add_answer if self.add_answer else (None, None)
        if s not in (200, 504):
            raise BenchError("kvd member add: HTTP %s %r" % (s, j))

    def caught_up(self, target):
        s, st = http_json(self.urls[3], "GET", "/v1/status")
        return s == 200 and st and st.get("applied_index", 0) >= target


class Etcd:
    name = "etcd"

    def __init__(self, run, root):
        self.run = run
        self.root = os.path.join(root, "etcd")
        self.procs = {}
        self.urls = ["http://127.0.0.1:%d" % p for p in ETCD_CLIENT]

    def data_dir(self, i):
        return os.path.join(self.root, "e%d" % i)

    def start(self, i, join=False):
        os.makedirs(self.root, exist_ok=True)
        members = (1, 2, 3, 4) if join else (1, 2, 3)
        cluster = ",".join("e%d=http://127.0.0.1:%d" % (j, ETCD_PEER[j - 1])
                           for j in members)
        cu = self.urls[i - 1]
        pu = "http://127.0.0.1:%d" % ETCD_PEER[i - 1]
        args = ["etcd", "--name", "e%d" % i, "--data-dir", self.data_dir(i),
                "--listen-client-urls", cu, "--advertise-client-urls", cu,
                "--listen-peer-urls", pu, "--initial-advertise-peer-urls",
                pu, "--initial-cluster", cluster, "--initial-cluster-state",
                "existing" if join else "new",
                "--quota-backend-bytes", str(16 << 30),
                "--log-level", "error"]
        with open(os.path.join(self.root, "e%d.log" % i), "ab") as logf:
            p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        self.procs[i] = p
        self.run.procs.append(p.pid)

    def _status(self, i):
        return http_json(self.urls[i - 1], "POST", "/v3/maintenance/status",
                         b"{}")

    def ready(self, i):
        s, j = http_json(self.urls[i - 1], "GET", "/health")
        return s == 200 and j and j.get("health") == "true"

    def leader(self):
        def find():
            for i in (1, 2, 3):
                s, st = self._status(i)
                if s == 200 and st and st.get("leader") and \
                        st["leader"] == st.get("header", {}).get("member_id"):
                    return i
            return None
        return poll("an etcd leader", 60, find)

    def loader(self, work):
        return lua(work, "etcd-load.lua", ETCD_LOAD_V3)

    def putter(self, work):
        return lua(work, "etcd-put.lua", ETCD_PUT_V3)

    def count(self, i):
        s, j = http_json(self.urls[i - 1], "POST", "/v3/kv/range", json.dumps(
            {"key": base64.b64encode(b"ld").decode(),
             "range_end": base64.b64encode(b"le").decode(),
             "count_only": True}).encode(), timeout=120)
        if s != 200:
            raise BenchError("etcd count: HTTP %s" % s)
        return int(j.get("count", 0))

    def present(self, i):
        """The numbers of the loaded keys that are there."""
        have, start = set(), b"ld"
        while True:
            s, j = http_json(self.urls[i - 1], "POST", "/v3/kv/range",
                             json.dumps({
                                 "key": base64.b64encode(start).decode(),
                                 "range_end": base64.b64encode(b"le")
                                 .decode(), "keys_only": True,
                                 "limit": 10000}).encode(), timeout=120)
            if s != 200:
                raise BenchError("etcd range: HTTP %s" % s)
            keys = [base64.b64decode(kv["key"]) for kv in j.get("kvs", [])]
            have.update(int(k[2:]) for k in keys)
            if not j.get("more") or not keys:
                return have
            start = keys[-1] + b"\0"

    def put_loaded(self, i, k, value):
        s, _ = http_json(self.urls[i - 1], "POST", "/v3/kv/put", json.dumps(
            {"key": base64.b64encode(k.encode()).decode(),
             "value": base64.b64encode(value).decode()}).encode())
        return s == 200

    def join(self, leader):
        """Adds member 4, then starts it (etcd's order); returns the
        revision it must reach and when it started."""
        s, st = self._status(leader)
        rev = int(st["header"]["revision"])
        # etcd refuses a change until every member has been up a few
        # seconds ("unhealthy cluster", 503): the restart just before.
        deadline = time.monotonic() + 120
        while True:
            s, j = http_json(self.urls[leader - 1], "POST",
                             "/v3/cluster/member/add", json.dumps(
                                 {"peerURLs": ["http://127.0.0.1:%d" %
                                               ETCD_PEER[3]]}).encode(),
                             timeout=30)
            if s != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if s != 200:
            raise BenchError("etcd member add: HTTP %s %r" % (s, j))
        t0 = time.monotonic()
        self.start(4, join=True)
        return rev, t0

    def join_done(self):
        pass

    def caught_up(self, target):
        s, st = self._status(4)
        return s == 200 and st and \
            int(st.get("header", {}).get("revision", 0)) >= target


def measure(run, sys_, work, results):
    a = run.a
    r = results.setdefault(sys_.name, {})
    for i in (1, 2, 3):
        sys_.start(i)
    for i in (1, 2, 3):
        poll("%s member %d ready" % (sys_.name, i), 120,
             lambda i=i: True if sys_.ready(i) else None)
    leader = sys_.leader()
    env = {"BENCH_KEYS": str(a.keys), "BENCH_VALUE_BYTES": str(a.value_bytes),
           "BENCH_SEED": str(int(time.time()))}
    log("%s: loading %d keys of %d bytes" % (sys_.name, a.keys,
                                            a.value_bytes))
    t0 = time.monotonic()
    wrk(sys_.loader(work), sys_.urls[leader - 1], 64, LOAD_TIMEOUT_S, env)
    secs = time.monotonic() - t0
    r["load_keys_per_s"] = a.keys / secs
    leader = sys_.leader()
    n = sys_.count(leader)
    if n < a.keys:
        # wrk does not retry a request whose connection failed, and the
        # loader leaves with its last ones unanswered: write what is
        # missing.
        have = sys_.present(leader)
        log("%s: %d keys counted; writing the %d missing" % (
            sys_.name, n, a.keys - len(have)))
        value = b"v" * a.value_bytes
        for k in range(a.keys):
            if k not in have and \
                    not sys_.put_loaded(leader, "ld%014d" % k, value):
                raise BenchError("%s: cannot write key %d" % (sys_.name, k))
        n = sys_.count(leader)
    if n != a.keys:
        raise BenchError("%s: %d keys after loading %d" % (sys_.name, n,
                                                           a.keys))
    log("%s: loaded at %.0f keys/s" % (sys_.name, r["load_keys_per_s"]))
    # Followers apply what the leader has before sizes are read.
    time.sleep(5)
    r["data_dir_bytes"] = max(du_bytes(sys_.data_dir(i)) for i in (1, 2, 3))
    r["rss_kb"] = max(benchlib.proc_rss_kb(sys_.procs[i].pid)[0]
                      for i in (1, 2, 3))
    log("%s: data dir %.0f MB, RSS %.0f MB" % (
        sys_.name, r["data_dir_bytes"] / 1e6, r["rss_kb"] / 1024))

    follower = next(i for i in (1, 2, 3) if i != leader)
    p = sys_.procs[follower]
    p.terminate()
    p.wait(timeout=60)
    t0 = time.monotonic()
    sys_.start(follower)
    poll("%s member %d ready again" % (sys_.name, follower), 600,
         lambda: True if sys_.ready(follower) else None)
    r["restart_s"] = time.monotonic() - t0
    log("%s: follower ready %.2f s after its restart" % (sys_.name,
                                                          r["restart_s"]))

    leader = sys_.leader()
    put = sys_.putter(work)
    w = wrk(put, sys_.urls[leader - 1], 64, a.write_seconds, env)
    r["put_before_rps"], r["put_before_p99_ms"] = w["ok_rps"], w["p99_ms"]
    log("%s: PUT before: %.0f/s, p99 %.1f ms" % (sys_.name, w["ok_rps"],
                                                w["p99_ms"]))

    leader = sys_.leader()
    leader_bytes = du_bytes(sys_.data_dir(leader))
    target, t0 = sys_.join(leader)
    # The write load runs from the new member's start, beside the
    # catch-up, and the catch-up is polled meanwhile: its end is when it
    # happened, not after the load.
    during = {}
    wt = threading.Thread(target=lambda: during.update(
        w=wrk(put, sys_.urls[leader - 1], 64, a.write_seconds, env)),
        daemon=True)
    wt.start()
    poll("%s member 4 to catch up" % sys_.name, 3600,
         lambda: True if sys_.caught_up(target) else None)
    secs = time.monotonic() - t0
    wt.join(timeout=a.write_seconds + 180)
    sys_.join_done()
    w = during.get("w")
    if w is None:
        raise BenchError("%s: the PUT load during the catch-up gave no "
                         "result" % sys_.name)
    r["put_during_rps"], r["put_during_p99_ms"] = w["ok_rps"], w["p99_ms"]
    r["catchup_s"] = secs
    r["catchup_mb_s"] = leader_bytes / 1e6 / secs
    r["new_member_bytes"] = du_bytes(sys_.data_dir(4))
    r["new_member_mb_s"] = r["new_member_bytes"] / 1e6 / secs
    if secs < a.write_seconds:
        log("%s: caught up within the PUT run: the rate during it also "
            "covers time after the catch-up" % sys_.name)
    log("%s: member 4 caught up in %.1f s (leader's data dir %.0f MB/s, "
        "its own %.0f MB in it: %.0f MB/s); PUT during: %.0f/s, p99 "
        "%.1f ms" % (sys_.name, secs, r["catchup_mb_s"],
                     r["new_member_bytes"] / 1e6, r["new_member_mb_s"],
                     w["ok_rps"], w["p99_ms"]))
    if sys_.name == "kvd":
        phases = kvd_transfer_phases(sys_)
        if phases:
            r.update(phases)
            log("kvd: %d snapshot(s) sent to member 4, %.0f MB in %.1f s "
                "(%.0f MB/s), installed in %.1f s" % (
                    phases["snapshot_sends"],
                    phases["snapshot_bytes"] / 1e6, phases["transfer_s"],
                    phases["transfer_mb_s"], phases["install_s"]))
    for i, p in sys_.procs.items():
        p.terminate()
    for i, p in sys_.procs.items():
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    # dd on a disk the members still write would slow both.
    r["dd_mb_s"] = dd_mb_s(sys_.root, leader_bytes)
    log("%s: dd %.0f MB/s" % (sys_.name, r["dd_mb_s"]))
    if not a.keep:
        shutil.rmtree(sys_.root, ignore_errors=True)


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def log_lines(path, needle):
    """(time in seconds, line) of the lines of @path holding @needle."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = LOG_TIME.match(line)
                if needle in line and m:
                    t = datetime.datetime.strptime(m.group(1),
                                                   "%Y-%m-%dT%H:%M:%S.%f")
                    out.append((t.timestamp(), line))
    except OSError:
        pass
    return out


def kvd_transfer_phases(sys_):
    """The catch-up's snapshot phases from the members' logs (they are
    logged at --log-level info: pass it with --kvd-args; {} otherwise):
    snapshots sent to member 4, their bytes, the time from the first send
    to the last one received and verified, and the install time."""
    sends, recv = [], []
    for i in (1, 2, 3):
        sends += log_lines(os.path.join(sys_.root, "m%d.log" % i),
                           "to member 4")
    sends = [(t, l) for t, l in sends if "sending snapshot" in l]
    recv = log_lines(os.path.join(sys_.root, "m4.log"), "and verified")
    inst = log_lines(os.path.join(sys_.root, "m4.log"),
                     "installed snapshot")
    if not sends or not recv:
        return {}
    size = 0
    for _, l in recv:
        m = re.search(r"term \d+, (\d+) bytes\)", l)
        size += int(m.group(1)) if m else 0
    secs = max(recv[-1][0] - sends[0][0], 1e-3)
    install = 0.0
    for _, l in inst:
        m = re.search(r" in ([0-9.]+) s", l)
        install += float(m.group(1)) if m else 0.0
    return {"snapshot_sends": len(sends), "snapshot_bytes": size,
            "transfer_s": secs, "transfer_mb_s": size / 1e6 / secs,
            "install_s": install}


def main():
    p = benchlib.arg_parser("bench_bigstore.py", __doc__)
    p.add_argument("--keys", type=int, default=4000000)
    p.add_argument("--value-bytes", type=int, default=1024)
    p.add_argument("--write-seconds", type=int, default=20)
    p.add_argument("--dir")
    p.add_argument("--json", default="bench-bigstore-results.json")
    a = benchlib.parse(p, __doc__)
    if a.keys < 1 or not 1 <= a.value_bytes <= 1 << 20 or \
            a.write_seconds < 1:
        print("bench_bigstore.py: --keys, --value-bytes (1..1 MiB) and "
              "--write-seconds must be positive", file=sys.stderr)
        return 2
    run = benchlib.Run(a)

    def body(run):
        etcd = a.with_etcd or a.etcd_only
        run.check(["wrk", "du", "dd"], KVD_CLIENT + KVD_PEER)
        if etcd:
            benchlib.check_ports([ETCD_CLIENT[3], ETCD_PEER[3]])
        benchlib.raise_nofile(4096, "connections")
        work = run.mkwork("kvd-bench-bigstore-")
        root = a.dir or work
        os.makedirs(root, exist_ok=True)
        st = os.statvfs(root)
        need = DISK_PER_VALUE_BYTE * a.keys * a.value_bytes
        have = st.f_bavail * st.f_frsize
        if have < need:
            raise BenchError(
                "%s has %.1f GB free; %d keys of %d bytes need about "
                "%.1f GB: fewer --keys, or a --dir on a larger disk" % (
                    root, have / 1e9, a.keys, a.value_bytes, need / 1e9))
        results = {}
        t_start, load_start = time.time(), benchlib.loadavg()
        systems = ([] if a.etcd_only else [Kvd(run, root)]) + \
            ([Etcd(run, root)] if etcd else [])
        for s in systems:
            measure(run, s, work, results)
        load_end = benchlib.loadavg()
        names = [s.name for s in systems]

        def row(label, unit, key, scale=1.0):
            return (label, unit, {n: results[n][key] * scale
                                  if results[n].get(key) is not None
                                  else None for n in names})
        rows = [
            row("load through the API", "/s", "load_keys_per_s"),
            row("data dir per member (max)", "kB", "data_dir_bytes",
                1 / 1024.0),
            row("RSS per member (max)", "kB", "rss_kb"),
            row("restart of a follower until ready", "s", "restart_s"),
            row("PUT 64 conn before", "req/s", "put_before_rps"),
            row("PUT 64 conn p99 before", "ms", "put_before_p99_ms"),
            row("new member caught up", "s", "catchup_s"),
            row("catch-up MB/s", "n", "catchup_mb_s"),
            row("new member's data dir after it", "kB", "new_member_bytes",
                1 / 1024.0),
            row("its MB/s", "n", "new_member_mb_s"),
            row("dd MB/s (same size, at most 4 GiB)", "n", "dd_mb_s"),
            row("PUT 64 conn during catch-up", "req/s", "put_during_rps"),
            row("PUT 64 conn p99 during catch-up", "ms",
                "put_during_p99_ms"),
        ]
        print()
        benchlib.print_table(names, rows)
        print("\n(%d keys of %d bytes; load average %s at start, %s at "
              "end)" % (a.keys, a.value_bytes, " ".join(load_start),
                        " ".join(load_end)))
        for n in names:
            x = results[n]
            print("%s: catch-up at %.0f%% of dd's MB/s (goal 50%%), writes "
                  "during it at %.0f%% of before (goal 70%%)" % (
                      n, 100 * x["catchup_mb_s"] / x["dd_mb_s"],
                      100 * x["put_during_rps"] / x["put_before_rps"]))
        run.results(systems=[benchlib.Named(n, n) for n in names], rows=rows,
                    raw=results, t_start=t_start, load_start=load_start,
                    load_end=load_end)

    return run.run(body)


if __name__ == "__main__":
    sys.exit(main())
