#!/usr/bin/env python3
"""benchtool.py - the HTTP and report steps of scripts/bench.

Subcommands (each bounded by --timeout; exit 1 with one line on stderr when
a deadline passes or an answer is wrong):

  kvd-leader URL...          wait for a leader among the kvd members; print
                             its client URL
  kvd-caught-up URL...       wait until every member applied the leader's
                             commit index
  kvd-fill URL               count the loaded keys (prefix listing), write
                             the missing ones, print the count as JSON
  etcd-leader URL...         print the client URL of the etcd leader
  etcd-caught-up URL...      wait until every etcd member applied the
                             leader's raft index
  etcd-fill URL              same as kvd-fill, for etcd's v2 directory /bk
  etcd-v3-load URL           write the read key set through the v3 gateway
  wait-ready URL             poll URL/readyz (--path) until ready; print the
                             Unix time of that answer (--armed FILE is
                             created once polling runs)
  member-stats PID DIR       VmRSS/RssAnon of PID and du of DIR, as JSON
  wal-bench OUTPUT-FILE      parse wal_bench output, as JSON
  report RAW.jsonl           median of runs per load, the table, the JSON

Standard library only.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.parse

VALUE_BYTES = 100


def fail(msg):
    print("benchtool: " + msg, file=sys.stderr)
    sys.exit(1)


def loaded_key(i):
    """The i-th key of the loaded set (the same as in common.lua)."""
    return "ld%014d" % i


class Http:
    """One keep-alive connection to a base URL, reopened after errors."""

    def __init__(self, base, timeout=5.0):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes); raises OSError on transport errors."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body,
                                  headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None


def get_json(url, path, method="GET", body=None, timeout=2.0):
    """One request on a fresh connection; None on any error."""
    try:
        status, doc = Http(url, timeout).json(method, path, body)
    except (OSError, http.client.HTTPException):
        return None
    return doc if status == 200 else None


def poll(deadline, what, fn, interval=0.05):
    """Calls fn() until it returns something other than None."""
    while True:
        r = fn()
        if r is not None:
            return r
        if time.monotonic() >= deadline:
            fail("timed out waiting for " + what)
        time.sleep(interval)


# --- kvd -----------------------------------------------------------------

def kvd_leader_url(urls):
    for u in urls:
        st = get_json(u, "/v1/status")
        if st and st.get("state") == "leader":
            return u
    return None


def cmd_kvd_leader(a):
    deadline = time.monotonic() + a.timeout
    print(poll(deadline, "a kvd leader", lambda: kvd_leader_url(a.urls)))


def cmd_kvd_caught_up(a):
    deadline = time.monotonic() + a.timeout
    leader = poll(deadline, "a kvd leader", lambda: kvd_leader_url(a.urls))
    st = poll(deadline, "the leader's status",
              lambda: get_json(leader, "/v1/status"))
    target = st["commit_index"]

    def all_applied():
        for u in a.urls:
            s = get_json(u, "/v1/status")
            if not s or s.get("applied_index", -1) < target:
                return None
        return True

    poll(deadline, "members to apply index %d" % target, all_applied)
    print(target)


def kvd_list(conn, prefix):
    """All keys under prefix, page by page."""
    keys, after = [], ""
    while True:
        q = {"prefix": prefix, "limit": "10000"}
        if after:
            q["after"] = after
        status, doc = conn.json("GET", "/v1/kv?" + urllib.parse.urlencode(q))
        if status != 200 or doc is None:
            fail("list %s: HTTP %d" % (prefix, status))
        page = [kv["key"] for kv in doc.get("kvs", [])]
        keys.extend(page)
        if not doc.get("more") or not page:
            return keys
        after = page[-1]


def fill(count_fn, put_fn, n, deadline):
    """Counts the loaded keys, writes the missing ones, counts again."""
    present = count_fn()
    missing = [i for i in range(n) if loaded_key(i) not in present]
    before = len(present)
    for i in missing:
        if time.monotonic() >= deadline:
            fail("timed out writing %d missing keys" % len(missing))
        status = put_fn(loaded_key(i))
        if status not in (200, 201):
            fail("PUT %s: HTTP %d" % (loaded_key(i), status))
    after = len(count_fn()) if missing else before
    expected = set(loaded_key(i) for i in range(n))
    if after < n:
        fail("after filling, %d of %d keys are present" % (after, n))
    return {"loaded_by_wrk": len(present & expected), "filled": len(missing),
            "count": after}


def cmd_kvd_fill(a):
    deadline = time.monotonic() + a.timeout
    conn = Http(a.url, 10.0)
    value = b"v" * VALUE_BYTES
    res = fill(lambda: set(kvd_list(conn, "ld")),
               lambda k: conn.request("PUT", "/v1/kv/" + k, value)[0],
               a.keys, deadline)
    print(json.dumps(res))


# --- etcd ----------------------------------------------------------------

def etcd_status(u):
    return get_json(u, "/v3/maintenance/status", "POST", b"{}")


def etcd_leader_url(urls):
    for u in urls:
        st = etcd_status(u)
        if st and st.get("leader") and \
                st["leader"] == st.get("header", {}).get("member_id"):
            return u
    return None


def cmd_etcd_leader(a):
    deadline = time.monotonic() + a.timeout
    print(poll(deadline, "an etcd leader", lambda: etcd_leader_url(a.urls)))


def cmd_etcd_caught_up(a):
    deadline = time.monotonic() + a.timeout
    leader = poll(deadline, "an etcd leader", lambda: etcd_leader_url(a.urls))
    st = poll(deadline, "the leader's status", lambda: etcd_status(leader))
    target = int(st["raftIndex"])

    def all_applied():
        for u in a.urls:
            s = etcd_status(u)
            if not s or int(s.get("raftAppliedIndex", 0)) < target:
                return None
        return True

    poll(deadline, "etcd members to apply index %d" % target, all_applied)
    print(target)


def cmd_etcd_fill(a):
    deadline = time.monotonic() + a.timeout
    conn = Http(a.url, 30.0)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = ("value=" + "v" * VALUE_BYTES).encode()

    def count():
        status, doc = conn.json("GET", "/v2/keys/bk?quorum=true")
        if status == 404:
            return set()
        if status != 200 or doc is None:
            fail("GET /v2/keys/bk: HTTP %d" % status)
        return set(n["key"].rsplit("/", 1)[-1]
                   for n in doc["node"].get("nodes", []))

    res = fill(count,
               lambda k: conn.request("PUT", "/v2/keys/bk/" + k, body,
                                      form)[0],
               a.keys, deadline)
    print(json.dumps(res))


def cmd_etcd_v3_load(a):
    deadline = time.monotonic() + a.timeout
    conn = Http(a.url)
    value = base64.b64encode(b"v" * VALUE_BYTES).decode()
    for i in range(a.keys):
        if time.monotonic() >= deadline:
            fail("timed out loading v3 keys")
        key = base64.b64encode(loaded_key(i).encode()).decode()
        body = json.dumps({"key": key, "value": value}).encode()
        status, _ = conn.request("POST", "/v3/kv/put", body)
        if status != 200:
            fail("v3 put %s: HTTP %d" % (loaded_key(i), status))
    print(a.keys)


# --- processes -----------------------------------------------------------

def cmd_wait_ready(a):
    """Polls often (a refused connection costs microseconds), so that the
    answer's time is within a few milliseconds of readiness."""
    deadline = time.monotonic() + a.timeout
    u = urllib.parse.urlsplit(a.url)
    if a.armed:
        open(a.armed, "w").close()
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1.0)
        try:
            conn.request("GET", a.path)
            r = conn.getresponse()
            body = r.read()
            # etcd's /health is 200 with "false" while it has no leader.
            if r.status == 200 and (a.path != "/health" or
                                    b'"health":"true"' in body):
                print("%.6f" % time.time())
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.002)
    fail("%s%s not ready within %g s" % (a.url, a.path, a.timeout))


def cmd_member_stats(a):
    fields = {}
    try:
        with open("/proc/%d/status" % a.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    fields[k] = int(v.split()[0])
    except OSError as e:
        fail("cannot read /proc/%d/status: %s" % (a.pid, e))
    du = subprocess.run(["du", "-sk", a.dir], capture_output=True, text=True,
                        check=True, timeout=60)
    print(json.dumps({"rss_kb": fields.get("VmRSS"),
                      "rss_anon_kb": fields.get("RssAnon"),
                      "rss_file_kb": fields.get("RssFile"),
                      "hwm_kb": fields.get("VmHWM"),
                      "dir_kb": int(du.stdout.split()[0])}))


def cmd_cpu(a):
    """utime + stime of every pid, in seconds (0 for one that is gone)."""
    total = 0.0
    for pid in a.pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        # The command name may hold spaces: the fields follow its last ')'.
        fields = st[st.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / \
            os.sysconf("SC_CLK_TCK")
    print("%.3f" % total)


def cmd_wal_bench(a):
    """Lines like 'batch   1:       2345 appends/s    2345 entries/s ...'."""
    out = {}
    with open(a.output) as f:
        for line in f:
            parts = line.replace(":", " ").split()
            if len(parts) >= 6 and parts[0] == "batch" and \
                    parts[3] == "appends/s" and parts[5] == "entries/s":
                out[parts[1]] = {"appends_per_s": float(parts[2]),
                                 "entries_per_s": float(parts[4])}
    if "1" not in out:
        fail("no 'batch 1' line in wal_bench output")
    print(json.dumps(out))


# --- report --------------------------------------------------------------

# (load id, label, metric, unit, target factor, "ge"/"le" or None, etcd
# column: which etcd load stands in for kvd's)
ROWS = [
    ("put_c1", "PUT 1 conn p50", "p50_ms", "ms", 0.5, "le",
     "etcd v2 PUT"),
    ("put_c1", "PUT 1 conn", "ok_rps", "req/s", None, None, "etcd v2 PUT"),
    ("put_c64", "PUT 64 conn", "ok_rps", "req/s", 3.0, "ge", "etcd v2 PUT"),
    ("put_c64", "PUT 64 conn p99", "p99_ms", "ms", 1.0, "le", "etcd v2 PUT"),
    ("put_c256", "PUT 256 conn", "ok_rps", "req/s", 3.0, "ge",
     "etcd v2 PUT"),
    ("put_c64", "cluster CPU per PUT, 64 conn", "cpu_us", "us", 1 / 3.0,
     "le", "etcd v2 PUT"),
    ("put_c256", "cluster CPU per PUT, 256 conn", "cpu_us", "us", None,
     None, "etcd v2 PUT"),
    ("get_c64", "GET linearizable 64 conn", "ok_rps", "req/s", 3.0, "ge",
     "etcd v3 range (gateway)"),
    ("stale_c64", "GET stale 64 conn", "ok_rps", "req/s", 0.7, "ge",
     "evhttp no-op ceiling"),
]


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "us":
        return "%.0f us" % v
    if unit == "MB":
        return "%.1f MB" % v
    if unit == "s":
        return "%.2f s" % v
    return "%.0f %s" % (v, unit)


def cmd_report(a):
    runs, stats, extra, notes = [], {}, {}, []
    with open(a.raw) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                kind = rec.get("kind")
                if kind == "run":
                    runs.append(rec)
                elif kind == "member":
                    stats.setdefault(rec["system"], []).append(rec)
                elif kind == "note":
                    notes.append(rec["text"])
                else:
                    extra[kind] = rec

    def median(system, load, metric):
        vals = [r["wrk"][metric] for r in runs
                if r["system"] == system and r["load"] == load
                and r["wrk"].get(metric) is not None]
        return statistics.median(vals) if vals else None

    for r in runs:
        e = r["wrk"]["errors"]
        bad = {k: v for k, v in e.items() if v}
        if bad:
            notes.append("%s %s run %d: %d of %d requests answered, errors %s"
                         % (r["system"], r["load"], r["run"], r["wrk"]["ok"],
                            r["wrk"]["requests"], json.dumps(bad)))

    rows = []

    def add(label, kvd, etcd, unit, factor, sense, vs):
        ratio = kvd / etcd if kvd is not None and etcd else None
        target, met = "-", "-"
        if factor is not None:
            target = "%s %.3g x %s" % ("<=" if sense == "le" else ">=",
                                     factor, vs)
            if ratio is not None:
                met = "yes" if (ratio <= factor if sense == "le"
                                else ratio >= factor) else "NO"
            else:
                met = "n/a"
        rows.append({"load": label, "unit": unit, "kvd": kvd, "etcd": etcd,
                     "ratio": ratio, "target": target, "met": met,
                     "compared_with": vs})

    for load, label, metric, unit, factor, sense, vs in ROWS:
        etcd_load = "noop_c64" if load == "stale_c64" else load
        etcd_sys = "noop" if load == "stale_c64" else "etcd"
        add(label, median("kvd", load, metric),
            median(etcd_sys, etcd_load, metric), unit, factor, sense, vs)

    keys = a.keys
    for metric, label, factor in (("rss_kb", "RSS per member", 0.2),
                                  ("dir_kb", "data dir per member", 0.5)):
        vals = {}
        for system in ("kvd", "etcd"):
            m = [s[metric] for s in stats.get(system, []) if s.get(metric)]
            vals[system] = max(m) / 1024.0 if m else None
        add("%s (max) after %d keys" % (label, keys), vals["kvd"],
            vals["etcd"], "MB", factor, "le", "etcd")

    wal = extra.get("wal_bench")
    if wal:
        add("WAL appends/s (1 entry + fdatasync)",
            wal["result"]["1"]["appends_per_s"], None, "appends/s", None,
            None, "-")
    else:
        notes.append("WAL appends/s: not measured (%s)"
                     % extra.get("wal_bench_missing", {}).get(
                         "why", "wal_bench not run"))
    rk, re_ = extra.get("restart_kvd"), extra.get("restart_etcd")
    if rk or re_:
        add("restart of a follower until ready, %d keys" % keys,
            rk["seconds"] if rk else None, re_["seconds"] if re_ else None,
            "s", None, None, "-")

    headers = ["load", "kvd", "etcd", "ratio", "target", "met?"]
    table = [[r["load"], fmt(r["kvd"], r["unit"]), fmt(r["etcd"], r["unit"]),
              "%.2f" % r["ratio"] if r["ratio"] is not None else "-",
              r["target"], r["met"]] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table))
              for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for t in table:
        print(" | ".join(c.ljust(w) for c, w in zip(t, widths)))
    print("(median of %d run(s) of %g s per load, wrk -t1; the etcd column"
          " of 'GET stale' is the evhttp no-op ceiling)" % (a.runs,
                                                           a.duration))
    for s in ("kvd", "etcd"):
        for m in sorted(stats.get(s, []), key=lambda x: x["member"]):
            print("%s member %d: VmRSS %.1f MB (anon %.1f MB, file %.1f MB),"
                  " data dir %.1f MB" % (
                      s, m["member"], m["rss_kb"] / 1024.0,
                      (m.get("rss_anon_kb") or 0) / 1024.0,
                      (m.get("rss_file_kb") or 0) / 1024.0,
                      m["dir_kb"] / 1024.0))
    if wal:
        print("wal_bench: " + ", ".join(
            "batch %s: %.0f appends/s, %.0f entries/s" % (
                b, v["appends_per_s"], v["entries_per_s"])
            for b, v in sorted(wal["result"].items(),
                               key=lambda kv: int(kv[0]))))
    for n in notes:
        print("note: " + n)
    load_start = extra.get("loadavg_start", {}).get("value", "?")
    load_end = " ".join("%.2f" % x for x in os.getloadavg())
    print("machine: %d CPUs, load average at start %s, at end %s"
          % (os.cpu_count(), load_start, load_end))

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    doc = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu,
                    "kernel": platform.release(),
                    "loadavg": os.getloadavg()},
        "config": {"runs": a.runs, "duration_s": a.duration, "keys": keys,
                   "value_bytes": VALUE_BYTES, "key_bytes": 16},
        "rows": rows, "members": stats, "extra": extra, "notes": notes,
        "runs": runs,
    }
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    p = argparse.ArgumentParser(description="steps of scripts/bench")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, *args):
        s = sub.add_parser(name)
        s.set_defaults(fn=fn)
        s.add_argument("--timeout", type=float, default=30.0)
        for arg in args:
            if arg == "urls":
                s.add_argument("urls", nargs="+")
            elif arg == "keys":
                s.add_argument("--keys", type=int, required=True)
            else:
                s.add_argument(arg)
        return s

    add("kvd-leader", cmd_kvd_leader, "urls")
    add("kvd-caught-up", cmd_kvd_caught_up, "urls")
    add("kvd-fill", cmd_kvd_fill, "url", "keys")
    add("etcd-leader", cmd_etcd_leader, "urls")
    add("etcd-caught-up", cmd_etcd_caught_up, "urls")
    add("etcd-fill", cmd_etcd_fill, "url", "keys")
    add("etcd-v3-load", cmd_etcd_v3_load, "url", "keys")
    s = add("wait-ready", cmd_wait_ready, "url")
    s.add_argument("--armed")
    s.add_argument("--path", default="/readyz")
    s = add("member-stats", cmd_member_stats)
    s.add_argument("pid", type=int)
    s.add_argument("dir")
    add("wal-bench", cmd_wal_bench, "output")
    s = add("cpu", cmd_cpu)
    s.add_argument("pids", type=int, nargs="*")
    s = add("report", cmd_report, "raw")
    s.add_argument("--json", required=True)
    s.add_argument("--runs", type=int, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--keys", type=int, required=True)
    a = p.parse_args()
    try:
        a.fn(a)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
