"""benchlib.py - what the Python benchmarks of scripts/ share (bench_watch.py,
bench_leases.py): the kvd and etcd clusters they start on loopback, leader
lookup, HTTP/1.1 connections driven on one epoll selector, CPU and memory
of a process from /proc, medians and percentiles, and the results table.

Standard library only. A script imports it with scripts/bench.d on its path.
"""

import argparse
import http.client
import json
import math
import os
import platform
import resource
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

BENCH_D = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH_D))
# The same place scripts/bench looks for them: $KVD_ROOT/../shared/anchors.
ANCHORS = os.path.join(ROOT, "..", "shared", "anchors")

ETCD_CLIENT = [23791, 23792, 23793]
ETCD_PEER = [23801, 23802, 23803]

# Linux's SO_TIMESTAMPNS (asm-generic and x86; the control message type is
# the same number). Python's socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")

# The name log() prints before each line: the importing script's.
PROG = "bench"


class BenchError(Exception):
    pass


def log(msg):
    print(PROG + ": " + msg, file=sys.stderr, flush=True)


# --- numbers -------------------------------------------------------------

def pct(sorted_vals, q):
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1,
                   int(math.ceil(q / 100.0 * len(sorted_vals))) - 1))
    return sorted_vals[k]


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# --- /proc ---------------------------------------------------------------

def proc_cpu_seconds(pid):
    """utime + stime of PID, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # The command name may hold spaces: the fields follow its last ')'.
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid):
    """VmRSS and RssAnon of PID in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS"), out.get("RssAnon")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return False
    return s[s.rindex(")") + 2:].split()[0] != "Z"


# --- plain HTTP for the setup steps ---------------------------------------

def http_json(url, method, path, body=None, timeout=2.0):
    """(status, parsed body or None); (None, None) on a transport error."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"} if body
                     else {})
        r = conn.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, None
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def poll(what, timeout, fn):
    """Calls fn() until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r is not None:
            return r
        if time.monotonic() >= deadline:
            raise BenchError("timed out (%d s) waiting for %s" %
                             (timeout, what))
        time.sleep(0.05)


# --- streams on non-blocking sockets ---------------------------------------

class Conn:
    """One HTTP/1.1 connection driven by a Pool: it sends requests and reads
    each answer's status, headers and body (chunked, Content-Length or up to
    the close); body bytes go to on_body with the time they arrived, as
    (kernel receive timestamp or None, time read), in Unix nanoseconds."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None
        self.connected = False
        self.closed = False
        self.failed = None      # why the connection ended early
        self.wbuf = b""
        self.rbuf = bytearray()
        self.state = "idle"     # idle, head, chunk-size, chunk-data, length, close
        self.status = None
        self.headers = {}
        self.remaining = 0
        self.answers = 0        # complete answers read
        self.raw = None         # (bytes, ts) kept while a pool defers

    # Called by the pool.
    def on_connected(self):
        pass

    def on_head(self):
        pass

    def on_body(self, data, ts):
        pass

    def on_answer(self, ts):
        pass

    def send(self, request):
        """Queues REQUEST; returns the Unix time (ns) it was handed over."""
        self.state = "head"
        self.status = None
        self.headers = {}
        self.wbuf += request
        t = time.time_ns()
        if self.connected:
            self.flush()
        return t

    def flush(self):
        while self.wbuf:
            try:
                n = self.sock.send(self.wbuf)
            except BlockingIOError:
                return
            self.wbuf = self.wbuf[n:]

    def feed(self, data, ts):
        self.rbuf += data
        while True:
            if self.state == "head":
                end = self.rbuf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.rbuf[:end]).decode("latin-1").split("\r\n")
                del self.rbuf[:end + 4]
                parts = lines[0].split(" ", 2)
                if len(parts) < 2 or not parts[1].isdigit():
                    raise ValueError("bad status line %r" % lines[0])
                self.status = int(parts[1])
                for h in lines[1:]:
                    k, _, v = h.partition(":")
                    self.headers[k.strip().lower()] = v.strip()
                te = self.headers.get("transfer-encoding", "").lower()
                if "chunked" in te:
                    self.state = "chunk-size"
                elif "content-length" in self.headers:
                    self.remaining = int(self.headers["content-length"])
                    if not 0 <= self.remaining <= 1 << 30:
                        raise ValueError("bad Content-Length")
                    self.state = "length"
                else:
                    self.state = "close"
                self.on_head()
                if self.state == "length" and self.remaining == 0:
                    self.answer_done(ts)
            elif self.state == "chunk-size":
                end = self.rbuf.find(b"\r\n")
                if end < 0:
                    return
                size_text = bytes(self.rbuf[:end]).split(b";")[0].strip()
                del self.rbuf[:end + 2]
                size = int(size_text, 16)
                if not 0 <= size <= 1 << 30:
                    raise ValueError("bad chunk size")
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk-data"
            elif self.state == "chunk-data":
                if len(self.rbuf) < self.remaining + 2:
                    return
                data = bytes(self.rbuf[:self.remaining])
                del self.rbuf[:self.remaining + 2]
                self.state = "chunk-size"
                self.on_body(data, ts)
            elif self.state == "trailer":
                # Trailer lines, if any, then the empty line that ends the
                # answer.
                end = self.rbuf.find(b"\r\n")
                if end < 0:
                    return
                del self.rbuf[:end + 2]
                if end == 0:
                    self.answer_done(ts)
            elif self.state == "length":
                if not self.rbuf:
                    return
                n = min(self.remaining, len(self.rbuf))
                data = bytes(self.rbuf[:n])
                del self.rbuf[:n]
                self.remaining -= n
                self.on_body(data, ts)
                if self.remaining == 0:
                    self.answer_done(ts)
            elif self.state == "close":
                if not self.rbuf:
                    return
                data = bytes(self.rbuf)
                self.rbuf.clear()
                self.on_body(data, ts)
            else:
                if self.rbuf:
                    raise ValueError("bytes after the answer")
                return

    def answer_done(self, ts):
        self.state = "idle"
        self.answers += 1
        self.on_answer(ts)


class LineConn(Conn):
    """A streaming answer read as lines."""

    def __init__(self, host, port):
        super().__init__(host, port)
        self.line = bytearray()

    def on_body(self, data, ts):
        self.line += data
        while True:
            end = self.line.find(b"\n")
            if end < 0:
                return
            text = bytes(self.line[:end])
            del self.line[:end + 1]
            if text.strip():
                self.on_line(text, ts)

    def on_line(self, text, ts):
        pass


class Pool:
    """Non-blocking connections on one epoll selector."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.conns = set()
        self.kernel_ts = True

    def add(self, conn):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            self.kernel_ts = False
        conn.sock = s
        err = s.connect_ex(conn.addr)
        if err not in (0, 115):  # EINPROGRESS
            s.close()
            conn.closed = True
            conn.failed = "connect: %s" % os.strerror(err)
            return
        self.conns.add(conn)
        self.sel.register(s, selectors.EVENT_WRITE, conn)

    def close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        self.conns.discard(conn)
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def close_all(self):
        for c in list(self.conns):
            self.close(c)

    def pump(self, timeout):
        for key, mask in self.sel.select(timeout):
            c = key.data
            if c.closed:
                continue
            try:
                if not c.connected:
                    err = c.sock.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_ERROR)
                    if err:
                        c.failed = "connect: %s" % os.strerror(err)
                        self.close(c)
                        continue
                    c.connected = True
                    self.sel.modify(c.sock, selectors.EVENT_READ, c)
                    c.on_connected()
                    c.flush()
                    continue
                self.read(c)
            except (OSError, ValueError) as e:
                c.failed = c.failed or "%s" % e
                self.close(c)

    def read(self, c):
        data, anc, _, _ = c.sock.recvmsg(65536, 64)
        t_read = time.time_ns()
        if not data:
            if c.state == "close":
                c.answer_done((None, t_read))
            elif c.state != "idle":
                c.failed = c.failed or "closed by the server"
            self.close(c)
            return
        self.deliver(c, data, (self._kernel_ts(anc), t_read))

    def deliver(self, c, data, ts):
        """Hands what C received to its parser (a subclass may keep it for
        later)."""
        c.feed(data, ts)

    @staticmethod
    def _kernel_ts(anc):
        t_kernel = None
        for level, kind, d in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and \
                    len(d) >= TIMESPEC.size:
                sec, nsec = TIMESPEC.unpack(d[:TIMESPEC.size])
                t_kernel = sec * 1000000000 + nsec
        return t_kernel


# --- the two systems --------------------------------------------------------

class Cluster:
    """Three members on loopback: their client URLs and pids."""
    name = ""

    def __init__(self, work):
        self.work = work
        self.client_urls = []
        self.pids = {}          # client url -> pid

    def hostport(self, url):
        u = urllib.parse.urlsplit(url)
        return u.hostname, u.port

    def round_leader(self, rnd):
        """The leader at the start of round RND and its pid, logged."""
        leader = self.leader()
        pid = self.pids[leader]
        log("%s round %d: leader %s (pid %d)" % (self.name, rnd, leader,
                                                  pid))
        return leader, pid


class KvdCluster(Cluster):
    name = "kvd"

    def __init__(self, work, binary, procs, client_ports, peer_ports):
        super().__init__(work)
        self.binary = binary
        self.procs = procs
        self.client_ports = client_ports
        self.peer_ports = peer_ports
        self.client_urls = ["http://127.0.0.1:%d" % p for p in client_ports]

    def help_text(self):
        """kvd --help: what this binary serves shows in its flags."""
        try:
            return subprocess.run([self.binary, "--help"],
                                  capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise BenchError("%s --help: %s" % (self.binary, e))

    def launch(self, extra):
        """Starts the three founding members with flags EXTRA and waits
        until each is ready."""
        initial = ",".join("%d=http://127.0.0.1:%d" % (i + 1, p)
                           for i, p in enumerate(self.peer_ports))
        os.makedirs(os.path.join(self.work, "kvd"), exist_ok=True)
        for i in range(3):
            logf = open(os.path.join(self.work, "kvd", "m%d.log" % (i + 1)),
                        "ab")
            p = subprocess.Popen(
                [self.binary, "--id", str(i + 1),
                 "--data-dir", os.path.join(self.work, "kvd", "m%d" % (i + 1)),
                 "--listen-client", "127.0.0.1:%d" % self.client_ports[i],
                 "--listen-peer", "127.0.0.1:%d" % self.peer_ports[i],
                 "--initial-cluster", initial, "--log-level", "warn"]
                + extra, stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            logf.close()
            self.procs.append(p.pid)
            self.pids[self.client_urls[i]] = p.pid
        for u in self.client_urls:
            poll("kvd %s to be ready" % u, 60,
                 lambda u=u: True if http_json(u, "GET", "/readyz")[0] == 200
                 else None)

    def leader(self):
        def find():
            for u in self.client_urls:
                status, st = http_json(u, "GET", "/v1/status")
                if status == 200 and st and st.get("state") == "leader":
                    return u
            return None
        return poll("a kvd leader", 60, find)

    def version(self):
        try:
            return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                                   "HEAD"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""


class EtcdCluster(Cluster):
    name = "etcd"

    def __init__(self, work, procs):
        super().__init__(work)
        self.procs = procs
        self.client_urls = ["http://127.0.0.1:%d" % p for p in ETCD_CLIENT]
        self.dir = os.path.join(work, "etcd")

    def launch(self):
        launcher = os.path.join(ANCHORS, "etcd_cluster.sh")
        if not os.access(launcher, os.X_OK):
            launcher = os.path.join(BENCH_D, "etcd_cluster.sh")
        log("etcd: starting 3 members (%s)" % launcher)
        try:
            r = subprocess.run([launcher, "start", self.dir],
                               capture_output=True, text=True, timeout=90,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            r = None
        finally:
            # The launcher detached them: their pids are in its files,
            # also when it gave up half way.
            for i in range(3):
                try:
                    with open(os.path.join(self.dir, "e%d.pid" % (i + 1))) as f:
                        pid = int(f.read().strip())
                except (OSError, ValueError):
                    continue
                self.procs.append(pid)
                self.pids[self.client_urls[i]] = pid
        if r is None or r.returncode != 0:
            raise BenchError("etcd did not start: %s" %
                             (r.stderr.strip() if r else "timed out"))

    def leader(self):
        def find():
            for u in self.client_urls:
                status, st = http_json(u, "POST", "/v3/maintenance/status",
                                       b"{}")
                if status == 200 and st and st.get("leader") and \
                        st["leader"] == st.get("header", {}).get("member_id"):
                    return u
            return None
        return poll("an etcd leader", 60, find)

    def version(self):
        try:
            out = subprocess.run(["etcd", "--version"], capture_output=True,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.split("\n")[0].replace("etcd Version: ", "")

class Named:
    """What Run.results() asks of a system that is not a Cluster here:
    its name and the version of its kind ("kvd": this checkout's commit,
    "etcd": etcd --version)."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind

    def version(self):
        try:
            if self.kind == "etcd":
                out = subprocess.run(["etcd", "--version"],
                                     capture_output=True, text=True,
                                     timeout=10).stdout
                return out.split("\n")[0].replace("etcd Version: ", "")
            return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                                   "HEAD"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

# --- the report -------------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "req/s":
        return "{:,.0f} req/s".format(v)
    if unit == "/s":
        return "{:,.0f}/s".format(v)
    if unit == "n":
        return "{:,.0f}".format(v)
    if unit == "kB":
        return "%.1f MB" % (v / 1024.0)
    if unit == "%":
        return "%.2f%%" % v
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "us":
        return "%.1f us" % v
    if unit == "s":
        return "%.1f s" % v
    if unit == "x":
        return "%.3f" % v
    return str(v)


def print_table(names, rows, ratios=None):
    """Prints ROWS, (label, unit, {system name: value}), as a Markdown
    table with a column per system in NAMES, and a column for each pair
    (a, b) of RATIOS with a's value over b's (by default, when there are
    two systems, the first's over the second's)."""
    if ratios is None:
        ratios = [(names[0], names[1])] if len(names) == 2 else []
    head = "| figure | " + " | ".join(names)
    sep = "|---|" + "---|" * len(names)
    for a, b in ratios:
        head += " | %s / %s" % (a, b)
        sep += "---|"
    print(head + " |")
    print(sep)
    for label, unit, vals in rows:
        cells = [fmt(vals.get(s), unit) for s in names]
        for a, b in ratios:
            a, b = vals.get(a), vals.get(b)
            cells.append("%.2f" % (a / b) if a is not None and b else "-")
        print("| %s | %s |" % (label, " | ".join(cells)))

# --- setup ------------------------------------------------------------------

def port_busy(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def raise_nofile(need, fewer):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            raise BenchError("RLIMIT_NOFILE hard limit %d < %d needed: "
                             "raise it (ulimit -Hn, as root) or use "
                             "fewer %s" % (hard, need, fewer))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def stop_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    for pid in pids:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def require_tools(tools):
    """Fails unless every program in TOOLS is on the PATH."""
    for tool in tools:
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":")):
            raise BenchError("%s is not installed (Debian: wrk, "
                             "etcd-server, etcd-client)" % tool)


def check_ports(ports):
    """Fails when one of PORTS on 127.0.0.1 is taken."""
    busy = [p for p in ports if port_busy(p)]
    if busy:
        raise BenchError("port(s) %s on this machine are in use; stop "
                         "what listens there (ss -ltnp) and run again" %
                         " ".join(map(str, busy)))


# --- the frame of a run ---------------------------------------------------

def arg_parser(prog, doc):
    """An argument parser whose usage line is DOC's (parse() prints DOC
    for -h), with the options every benchmark has."""
    p = argparse.ArgumentParser(
        prog=prog, add_help=False,
        usage=next(l for l in doc.split("\n")
                   if l.startswith("usage: "))[7:])
    p.add_argument("--kvd", default=os.path.join(ROOT, "build-bench",
                                                 "server", "kvd"))
    p.add_argument("--with-etcd", action="store_true")
    p.add_argument("--etcd-only", action="store_true")
    p.add_argument("--kvd-args", default="")
    p.add_argument("--keep", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def parse(p, doc):
    a = p.parse_args()
    if a.help:
        print(doc.strip())
        sys.exit(0)
    return a


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def start_all(systems, *args):
    """Starts each of SYSTEMS (start(*ARGS)) and logs its leader."""
    for s in systems:
        s.start(*args)
        log("%s: members ready, leader %s" % (s.name, s.leader()))


class Run:
    """What one run of a benchmark owns: the processes it started (pids in
    procs) and its temporary directory. run() stops and removes them at
    the end, also on Ctrl-C and SIGTERM; a failed run or --keep keeps the
    directory (its logs, data dirs)."""

    def __init__(self, args):
        self.a = args
        self.procs = []
        self.work = None

    def check(self, tools, kvd_ports):
        """Fails unless TOOLS (and etcd's with --with-etcd or
        --etcd-only), the kvd binary (unless --etcd-only) and the ports of
        the clusters to start are there."""
        etcd = self.a.with_etcd or self.a.etcd_only
        require_tools(tools + (["etcd", "etcdctl"] if etcd else []))
        ports = []
        if not self.a.etcd_only:
            if not os.access(self.a.kvd, os.X_OK):
                raise BenchError("%s is missing: meson setup build-bench "
                                 "-Dbuildtype=release && ninja -C "
                                 "build-bench server/kvd" % self.a.kvd)
            ports += kvd_ports
        if etcd:
            ports += ETCD_CLIENT + ETCD_PEER
        check_ports(ports)

    def mkwork(self, prefix):
        self.work = tempfile.mkdtemp(prefix=prefix)
        return self.work

    def results(self, systems, rows, raw, t_start, load_start, load_end):
        """Writes the table and every single measurement to --json."""
        out = {"args": vars(self.a), "started": t_start,
               "finished": time.time(),
               "loadavg_start": load_start, "loadavg_end": load_end,
               "cpus": os.cpu_count(), "kernel": platform.release(),
               "versions": {s.name: s.version() for s in systems},
               "table": [{"figure": l, "unit": u, "values": v}
                         for l, u, v in rows],
               "runs": raw}
        with open(self.a.json, "w") as f:
            json.dump(out, f, indent=1)
        log("results written to %s" % self.a.json)

    def run(self, body):
        """Calls body(self); returns the exit status."""
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        rc = 0
        try:
            body(self)
        except BenchError as e:
            log(str(e))
            rc = 1
        except KeyboardInterrupt:
            rc = 130
        finally:
            stop_pids(self.procs)
            if self.work:
                if self.a.keep or rc:
                    # A failed run keeps its logs too.
                    log("kept %s" % self.work)
                else:
                    subprocess.run(["rm", "-rf", self.work])
        return rc
