# harness.py - start, stop and talk to real kvd members on loopback.
#
# A Cluster owns N kvd processes, each with its own temp data dir, free
# client/peer ports and a log file. Waits poll /v1/status with a deadline;
# faults are real signals (SIGKILL, SIGTERM, SIGSTOP/SIGCONT). When a test
# fails, the data dirs are kept and every member's log tail is printed.
#
# The kvd binary comes from argv[1] (meson passes kvd_exe.full_path()) or
# the KVD environment variable; harness.main() strips it before unittest.

import base64
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

KVD = os.environ.get('KVD', '')

# Short timeouts so failures show fast; generous deadlines for slow (ASan)
# builds on a busy machine.
ELECTION_TIMEOUT_MS = 400
HEARTBEAT_MS = 50
REQUEST_TIMEOUT_MS = 2000
WAIT_S = 30.0


_ports_given = set()


def _ephemeral_range():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            lo, hi = f.read().split()
            return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def read_to_close(sock):
    """Every byte @sock receives until the peer closes it."""
    data = b''
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def free_port():
    """A free port on loopback for a member to listen on, never one this
    process handed out before. It is taken below the kernel's ephemeral
    range: a port from there (what binding port 0 gives) can be taken by
    any outgoing connection on the machine while its member is down,
    and the member could not listen on it again after a restart. A
    candidate is checked by binding it."""
    lo, _ = _ephemeral_range()
    first, last = 10000, max(lo - 1, 10001)
    rng = random.Random()
    for _ in range(10000):
        port = rng.randint(first, last)
        if port in _ports_given:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            continue
        finally:
            s.close()
        _ports_given.add(port)
        return port
    raise RuntimeError('no free port in %d..%d' % (first, last))


def openssl(d, *args):
    """Runs the openssl CLI in directory d; raises on failure."""
    subprocess.run(['openssl'] + list(args), cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TlsFiles:
    """Certificates made with the openssl CLI in directory d (PEM, keys
    0600): a CA, one certificate per member (SANs for its IP and
    localhost; usages serverAuth and clientAuth: a member is a server to
    its peers and a client of them), a client certificate, and the ssl
    contexts that talk to the members with them."""

    def __init__(self, d, ca='ca'):
        self.d = d
        self.ca = ca
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(self.path(ca + '.pem')):
            self.make_ca(ca)
        if not os.path.exists(self.path('client.pem')):
            self.make_cert('client', server=False)

    def path(self, name):
        return os.path.join(self.d, name)

    def make_ca(self, name):
        openssl(self.d, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                '-keyout', name + '.key', '-out', name + '.pem',
                '-subj', '/CN=' + name, '-days', '2')
        os.chmod(self.path(name + '.key'), 0o600)

    def make_cert(self, name, ca=None, host='127.0.0.1', days=2,
                  server=True):
        """NAME.pem/NAME.key signed by ca (default: the CA); a member's
        (@server) names @host; @days negative: already expired. Returns
        (cert, key, the CA's pem)."""
        ca = ca or self.ca
        openssl(self.d, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                name + '.key', '-out', name + '.csr', '-subj', '/CN=' + name)
        os.chmod(self.path(name + '.key'), 0o600)
        ext = self.path(name + '.ext')
        with open(ext, 'w') as f:
            if server:
                f.write('subjectAltName=IP:%s,DNS:localhost\n'
                        'extendedKeyUsage=serverAuth,clientAuth\n' % host)
            else:
                f.write('extendedKeyUsage=clientAuth\n')
        # Negative days: not after a moment already past (as test_tls.py).
        openssl(self.d, 'x509', '-req', '-in', name + '.csr', '-CA',
                ca + '.pem', '-CAkey', ca + '.key', '-CAcreateserial',
                '-days', str(days), '-out', name + '.pem', '-extfile', ext)
        return (self.path(name + '.pem'), self.path(name + '.key'),
                self.path(ca + '.pem'))

    def member_files(self, mid, host='127.0.0.1'):
        """(cert, key, ca) of member mid, made on first use."""
        name = 'member-%d' % mid
        if not os.path.exists(self.path(name + '.pem')):
            self.make_cert(name, host=host)
        return (self.path(name + '.pem'), self.path(name + '.key'),
                self.path(self.ca + '.pem'))

    def context(self, cert='client'):
        """A client ssl context: verifies a member's certificate against
        the CA and presents @cert (None: no certificate)."""
        x = ssl.create_default_context(cafile=self.path(self.ca + '.pem'))
        if cert:
            x.load_cert_chain(self.path(cert + '.pem'),
                              self.path(cert + '.key'))
        return x


def serial_of(pem):
    """A certificate file's serial, upper-case hex (as ssl reports it)."""
    out = subprocess.run(['openssl', 'x509', '-in', pem, '-noout',
                          '-serial'], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().split('=', 1)[1].upper()


def served_serial(host, port, ctx, timeout=10.0):
    """The serial of the certificate a TLS listener serves to a new
    connection (ctx decides what this side presents and checks)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            return t.getpeercert()['serialNumber'].upper()


def key_path(key):
    """The /v1/kv/{key} path with the key percent-encoded (str or bytes)."""
    if isinstance(key, str):
        key = key.encode('utf-8')
    return '/v1/kv/' + urllib.parse.quote_from_bytes(key, safe='')


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return 'Response(%d, %r)' % (self.status, self.body[:200])


def http_request(host, port, method, path, body=None, headers=None,
                 timeout=10.0, context=None):
    """One HTTP request on a fresh connection (HTTPS with the ssl
    @context); raises OSError on failure."""
    t0 = time.monotonic()
    if context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and isinstance(body, str):
            body = body.encode('utf-8')
        if body is None and method in ('PUT', 'POST'):
            body = b''
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        return Response(r.status, h, data, time.monotonic() - t0)
    finally:
        conn.close()


class Member:
    def __init__(self, cluster, mid, host='127.0.0.1'):
        self.cluster = cluster
        self.id = mid
        self.host = host
        self.client_port = free_port()
        self.peer_port = free_port()
        self.data_dir = os.path.join(cluster.root, 'member-%d' % mid)
        self.log_path = os.path.join(cluster.root, 'member-%d.log' % mid)
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self.expected_exit = True  # not running, or we stopped it
        # A member added later starts without --initial-cluster.
        self.join = False
        # Set to advertise another client URL (a proxy in front of it).
        self.advertise_client = None
        # With a TLS cluster: (cert, key, ca) for --peer-* instead of the
        # member's own (a rogue or expired certificate, a renewal).
        self.peer_tls_files = None

    @property
    def scheme(self):
        return 'https' if self.cluster.tls is not None else 'http'

    def tls_args(self):
        """The TLS flags of a member of a TLS cluster: its certificate on
        both listeners, client certificates required on both."""
        tls = self.cluster.tls
        if tls is None:
            return []
        cert, key, ca = tls.member_files(self.id, self.host)
        pcert, pkey, pca = self.peer_tls_files or (cert, key, ca)
        return ['--client-cert', cert, '--client-key', key,
                '--client-ca', ca, '--peer-cert', pcert, '--peer-key', pkey,
                '--peer-ca', pca]

    @property
    def client_url(self):
        return '%s://%s:%d' % (self.scheme, self.host, self.client_port)

    @property
    def peer_url(self):
        return '%s://%s:%d' % (self.scheme, self.host, self.peer_port)

    def args(self):
        a = [KVD, '--id', str(self.id), '--data-dir', self.data_dir,
             '--listen-client', '%s:%d' % (self.host, self.client_port),
             '--listen-peer', '%s:%d' % (self.host, self.peer_port),
             ]
        if self.cluster.advertise:
            a += ['--advertise-client', self.advertise_client or
                  self.client_url, '--advertise-peer', self.peer_url]
        if not self.join:
            a += ['--initial-cluster', self.cluster.initial_cluster()]
        a += ['--election-timeout-ms', str(self.cluster.election_timeout_ms),
             '--heartbeat-ms', str(self.cluster.heartbeat_ms),
             '--request-timeout-ms', str(self.cluster.request_timeout_ms)]
        return a + self.tls_args() + list(self.cluster.extra_args)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(self.log_path, 'ab')
        log.write(('=== start %s\n' % ' '.join(self.args())).encode())
        log.flush()
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.stopped = False
        self.expected_exit = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL and reap."""
        self.expected_exit = True
        if self.running():
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.stopped = False

    def terminate(self, timeout=WAIT_S):
        """SIGTERM; returns the exit status (None if it did not exit)."""
        self.expected_exit = True
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        if self.cluster.token is not None:
            # Auth is on (test_auth.py): every helper sends the token.
            headers = dict(headers or {})
            headers.setdefault('Authorization',
                               'Bearer ' + self.cluster.token)
        return http_request(self.host, self.client_port, method, path,
                            body, headers, timeout, self.cluster.context())

    def peer_request(self, method, path, body=None, headers=None,
                     timeout=10.0):
        return http_request(self.host, self.peer_port, method, path,
                            body, headers, timeout, self.cluster.context())

    def metric(self, name, default=None):
        """The value of the unlabelled sample @name on /metrics; @default
        when the page has no such sample (a failure when it is None)."""
        r = self.request('GET', '/metrics')
        if r.status != 200:
            raise AssertionError('GET /metrics on member %d: %r'
                                 % (self.id, r))
        for line in r.body.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
        if default is not None:
            return default
        raise AssertionError('member %d has no metric %s' % (self.id, name))

    def try_status(self, timeout=2.0):
        """/v1/status as a dict, or None when the member does not answer."""
        try:
            r = self.request('GET', '/v1/status', timeout=timeout)
            if r.status != 200:
                return None
            return r.json()
        except (OSError, ValueError, http.client.HTTPException):
            return None

    # The key-value routes; each returns the Response.
    def put(self, key, value, cas=None, headers=None, timeout=10.0):
        path = key_path(key)
        if cas is not None:
            path += '?cas=%d' % cas
        return self.request('PUT', path, value, headers, timeout)

    def get(self, key, stale=False, timeout=10.0):
        path = key_path(key)
        if stale:
            path += '?consistency=stale'
        return self.request('GET', path, timeout=timeout)

    def delete(self, key, cas=None, headers=None, timeout=10.0):
        path = key_path(key)
        if cas is not None:
            path += '?cas=%d' % cas
        return self.request('DELETE', path, None, headers, timeout)

    def list(self, prefix=None, after=None, limit=None, timeout=10.0):
        q = {}
        if prefix is not None:
            q['prefix'] = prefix
        if after is not None:
            q['after'] = after
        if limit is not None:
            q['limit'] = str(limit)
        path = '/v1/kv'
        if q:
            path += '?' + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
        return self.request('GET', path, timeout=timeout)

    def log_since_start(self):
        """The log of the current (last) run."""
        with open(self.log_path, 'rb') as f:
            data = f.read().decode('utf-8', 'replace')
        return data[data.rfind('=== start '):]

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, 'rb') as f:
                data = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return '(no log)'
        return '\n'.join(data[-lines:])


class Cluster:
    """N founding members on loopback, ids 1..N (hosts: one address per
    member, default 127.0.0.1 for all)."""

    def __init__(self, n=3, extra_args=(), election_timeout_ms=ELECTION_TIMEOUT_MS,
                 heartbeat_ms=HEARTBEAT_MS, request_timeout_ms=REQUEST_TIMEOUT_MS,
                 name='kvd', hosts=None, tls=False):
        if not KVD:
            raise RuntimeError('no kvd binary: pass it as argv[1] or KVD=')
        self.root = tempfile.mkdtemp(prefix='%s-it-' % name)
        self.extra_args = list(extra_args)
        self.election_timeout_ms = election_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.request_timeout_ms = request_timeout_ms
        self.failed = False
        # False: no --advertise-* flags (the listen addresses are used).
        self.advertise = True
        # A token Member.request() sends (Authorization: Bearer), once a
        # test turned auth on.
        self.token = None
        # tls: TLS on both listeners of every member, certificates made
        # into the cluster's dir (TlsFiles); requests speak HTTPS with the
        # client certificate.
        self.tls = TlsFiles(os.path.join(self.root, 'tls')) if tls else None
        self._context = None
        self.members = {}
        for i in range(1, n + 1):
            self.members[i] = Member(self, i,
                                     hosts[i - 1] if hosts else '127.0.0.1')

    def context(self):
        """The ssl context requests use (None: plain HTTP)."""
        if self.tls is not None and self._context is None:
            self._context = self.tls.context()
        return self._context

    def initial_cluster(self):
        return ','.join('%d=%s' % (m.id, m.peer_url)
                        for m in self.members.values() if not m.join)

    def add_member(self, mid):
        """A new member (not started) that joins an existing cluster."""
        m = Member(self, mid)
        m.join = True
        self.members[mid] = m
        return m

    def endpoints(self):
        return ','.join(m.client_url for m in self.members.values())

    def __getitem__(self, mid):
        return self.members[mid]

    def all(self):
        return list(self.members.values())

    def live(self):
        return [m for m in self.members.values()
                if m.running() and not m.stopped]

    def start(self):
        """Starts every member. On first boot, when a member cannot bind
        because another process took one of its ports since free_port(),
        the members start again, on new ports and empty data dirs."""
        fresh = not any(os.path.exists(m.data_dir)
                        for m in self.members.values())
        for _ in range(5):
            for m in self.members.values():
                if not m.running():
                    m.start()
            if not fresh:
                return self
            clash = self.port_clashes()
            if not clash:
                return self
            sys.stderr.write('harness: ports of members %r taken, new ports\n'
                             % clash)
            for m in self.members.values():
                m.kill()
                shutil.rmtree(m.data_dir, ignore_errors=True)
                m.client_port = free_port()
                m.peer_port = free_port()
        raise AssertionError('members could not bind their ports')

    def port_clashes(self, timeout=10.0):
        """Waits until every member answers /healthz or has exited; returns
        the ids of those that exited because an address was in use."""
        deadline = time.monotonic() + timeout
        pending = set(self.members)
        clash = []
        while pending and time.monotonic() < deadline:
            for mid in sorted(pending):
                m = self.members[mid]
                if m.proc.poll() is not None:
                    pending.discard(mid)
                    if 'in use' in m.log_tail(5):
                        clash.append(mid)
                    continue
                try:
                    if m.request('GET', '/healthz', timeout=1).status == 200:
                        pending.discard(mid)
                except (OSError, http.client.HTTPException):
                    pass
            if pending:
                time.sleep(0.02)
        return clash

    def peer_connections(self, m):
        """(local, remote) 'ip:port' pairs of the established TCP
        connections member m's process opened to the other members' peer
        listeners (from /proc: its socket inodes and /proc/net/tcp)."""
        inodes = set()
        fd_dir = '/proc/%d/fd' % m.proc.pid
        for fd in os.listdir(fd_dir):
            try:
                t = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if t.startswith('socket:['):
                inodes.add(t[8:-1])
        peers = {(o.host, o.peer_port) for o in self.members.values()
                 if o is not m}

        def addr(hexaddr):
            ip, port = hexaddr.split(':')
            ip = socket.inet_ntoa(bytes.fromhex(ip)[::-1])
            return ip, int(port, 16)

        out = []
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                x = line.split()
                if x[3] != '01' or x[9] not in inodes:  # ESTABLISHED
                    continue
                local, remote = addr(x[1]), addr(x[2])
                if remote in peers:
                    out.append(('%s:%d' % local, '%s:%d' % remote))
        return out

    def check_alive(self):
        """Raises if a member we did not stop has exited."""
        for m in self.members.values():
            if not m.expected_exit and m.proc is not None \
                    and m.proc.poll() is not None:
                raise AssertionError('member %d exited unexpectedly with %r'
                                     % (m.id, m.proc.returncode))

    def wait_leader(self, members=None, timeout=WAIT_S, exclude=()):
        """Polls /v1/status of the given (default: live) members until all
        agree on one leader id and term, that leader is among them and says
        state=leader, and no other says leader. Returns (leader, term)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            ms = members if members is not None else self.live()
            sts = {m.id: m.try_status() for m in ms}
            last = sts
            if all(s is not None for s in sts.values()):
                leaders = {s['leader'] for s in sts.values()}
                terms = {s['term'] for s in sts.values()}
                says = [i for i, s in sts.items() if s['state'] == 'leader']
                if len(leaders) == 1 and len(terms) == 1:
                    lid = leaders.pop()
                    if lid != 0 and lid not in exclude and says == [lid]:
                        return lid, terms.pop()
            time.sleep(0.05)
        raise AssertionError('no agreed leader within %.0fs; last statuses: %r'
                             % (timeout, last))

    def wait_ready(self, members=None, timeout=WAIT_S):
        """Polls /readyz until every given member answers 200."""
        deadline = time.monotonic() + timeout
        ms = members if members is not None else self.live()
        pending = list(ms)
        while pending and time.monotonic() < deadline:
            self.check_alive()
            for m in list(pending):
                try:
                    if m.request('GET', '/readyz', timeout=2).status == 200:
                        pending.remove(m)
                except (OSError, http.client.HTTPException):
                    pass
            if pending:
                time.sleep(0.05)
        if pending:
            raise AssertionError('members %r not ready within %.0fs'
                                 % ([m.id for m in pending], timeout))

    def wait_converged(self, min_index=0, members=None, timeout=WAIT_S):
        """Polls until all given members report the same applied_index
        (equal to their commit_index) >= min_index. Returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            ms = members if members is not None else self.live()
            sts = [m.try_status() for m in ms]
            last = sts
            if all(s is not None for s in sts):
                applied = {s['applied_index'] for s in sts}
                commit = {s['commit_index'] for s in sts}
                if len(applied) == 1 and applied == commit:
                    a = applied.pop()
                    if a >= min_index:
                        return a
            time.sleep(0.05)
        raise AssertionError('members did not converge to applied >= %d '
                             'within %.0fs; last: %r' % (min_index, timeout,
                                                         last))

    def leader(self):
        lid, _ = self.wait_leader()
        return self.members[lid]

    def find_leader(self, timeout=WAIT_S):
        """A live member that says it leads (the one in the highest term
        when two do), without waiting for the others to agree; it may
        have lost the lead by the time it is used."""
        def leading():
            best = None
            for m in self.live():
                s = m.try_status()
                if s is not None and s['state'] == 'leader' and \
                        (best is None or s['term'] > best[0]):
                    best = (s['term'], m)
            return best and best[1]
        return wait_for(leading, timeout=timeout, what='a member that leads')

    def write(self, method, key, value=None, cas=None, via=None,
              timeout=WAIT_S, request_timeout=10.0, retry=(503, 504),
              headers=None):
        """One PUT or DELETE applied at most once however often it is
        sent: it carries its own X-Kv-Client/X-Kv-Seq pair and is sent
        again, to the member via() returns (default: the one that leads
        now, found again before every attempt), after an answer in
        @retry or a lost connection, until another answer or @timeout s.
        For writes whose success the test needs, not the ones whose
        failure it checks: a leader may change at any time on a loaded
        machine. @headers replaces the X-Kv-Client/X-Kv-Seq pair."""
        if headers is None:
            headers = {'X-Kv-Client': '%016x' % random.getrandbits(64),
                       'X-Kv-Seq': '1'}
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                m = via() if via is not None else self.find_leader(
                    timeout=max(deadline - time.monotonic(), 0.1))
                if method == 'PUT':
                    r = m.put(key, value, cas, headers, request_timeout)
                else:
                    r = m.delete(key, cas, headers, request_timeout)
            except (OSError, http.client.HTTPException,
                    AssertionError) as e:
                last = e
                time.sleep(0.1)
                continue
            if r.status not in retry:
                return r
            last = r
            time.sleep(0.1)
        raise AssertionError('%s %r: no answer but %r within %.0fs'
                             % (method, key, last, timeout))

    def put(self, key, value, **kw):
        """write('PUT', ...)."""
        return self.write('PUT', key, value, **kw)

    def delete(self, key, **kw):
        """write('DELETE', ...)."""
        return self.write('DELETE', key, **kw)

    def follower(self):
        lid, _ = self.wait_leader()
        return [m for m in self.live() if m.id != lid][0]

    def dump(self, out=sys.stderr):
        out.write('\n--- cluster data kept in %s\n' % self.root)
        for m in self.members.values():
            rc = m.proc.poll() if m.proc else None
            out.write('--- member %d (client %s, peer %s, running=%s rc=%r) '
                      'log tail:\n%s\n' % (m.id, m.client_url, m.peer_url,
                                           m.running(), rc, m.log_tail()))
        out.flush()

    def close(self):
        """Kills every member; removes the data unless a test failed."""
        for m in self.members.values():
            if m.proc is not None:
                m.kill()
        if self.failed:
            self.dump()
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def wait_for(fn, timeout=WAIT_S, interval=0.05, what='condition'):
    """Calls fn until it returns a true value; returns it, or fails."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, http.client.HTTPException) as e:
            last_exc = e
        time.sleep(interval)
    raise AssertionError('%s not met within %.0fs (last error: %r)'
                         % (what, timeout, last_exc))


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli) of @data, continuing @crc, as docs/FORMAT.md
    "CRC-32C" defines it."""
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


def frame(ftype, payload, term=0, index=0):
    """One frame (docs/FORMAT.md, "Frames"): a 32-byte header, then
    @payload."""
    rest = struct.pack('<IBBHIQQ', crc32c(payload), 1, ftype, 0,
                       len(payload), term, index)
    return struct.pack('<I', crc32c(rest)) + rest + payload


def b64(data):
    return base64.b64encode(data).decode('ascii')


class ClusterTest(unittest.TestCase):
    """Base: subclasses set CLUSTER_ARGS/CLUSTER_SIZE; one cluster per
    class. A failing test marks the cluster so its data and logs are kept
    and shown."""

    CLUSTER_SIZE = 3
    CLUSTER_ARGS = ()
    CLUSTER_KW = {}
    ADVERTISE = True
    cluster = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(cls.CLUSTER_SIZE, cls.CLUSTER_ARGS,
                              name=cls.__name__, **cls.CLUSTER_KW)
        cls.cluster.advertise = cls.ADVERTISE
        try:
            cls.cluster.start()
            cls.cluster.wait_leader()
        except BaseException:
            cls.cluster.failed = True
            cls.cluster.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.cluster is not None:
            cls.cluster.close()

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before \
                and self.cluster is not None:
            self.cluster.failed = True
        return result

    def assertError(self, r, status, code):
        """The §1.3 error shape: status, JSON {"error", "message"}."""
        self.assertEqual(r.status, status, r)
        try:
            j = r.json()
        except ValueError:
            self.fail('error body is not JSON: %r' % r.body)
        self.assertIsInstance(j, dict, r)
        self.assertEqual(j.get('error'), code, r)
        self.assertIsInstance(j.get('message'), str, r)
        return j


def main():
    """unittest.main() after taking the kvd path from argv[1]."""
    global KVD
    if len(sys.argv) > 1 and not sys.argv[1].startswith('-'):
        KVD = os.path.abspath(sys.argv.pop(1))
    if not KVD or not os.access(KVD, os.X_OK):
        sys.stderr.write('kvd binary not found: %r\n' % KVD)
        sys.exit(1)
    unittest.main(verbosity=2)
