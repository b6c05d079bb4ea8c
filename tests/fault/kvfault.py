# kvfault.py - kvd clusters on distinct loopback addresses, network cuts
# with iptables, a JSON-lines history recorder and client operations, for
# the nemesis run (tests/fault/run) and the disk faults (tests/fault/disk).
#
# Member i listens on 127.0.0.(10+i) for clients and peers; kvd makes its
# outgoing peer connections from that address, so an iptables rule that
# drops packets from 127.0.0.11 to 127.0.0.12 cuts member 1 -> member 2
# exactly as a firewall between two hosts would. Rules live in a chain of
# their own (one per run) and match this cluster's ports only, so other
# clusters on the same addresses are not touched.

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ELECTION_TIMEOUT_MS = 400
HEARTBEAT_MS = 50
REQUEST_TIMEOUT_MS = 2000
CLIENT_TIMEOUT_S = 4.0  # above --request-timeout-ms: kvd answers first
WAIT_S = 60.0

SANITIZER_PATTERNS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                      'runtime error:', 'WARNING: ThreadSanitizer')


def log(msg):
    sys.stdout.write('[%8.3f] %s\n' % (time.monotonic() - T0, msg))
    sys.stdout.flush()


T0 = time.monotonic()


def require_root(what):
    """Exits 77 (a skip for meson) unless running as root."""
    if os.geteuid() != 0:
        sys.stdout.write('SKIP: %s needs root\n' % what)
        sys.exit(77)


def find_kvd(explicit=None):
    """--kvd, else $KVD, else build/server/kvd of the checkout."""
    cands = [explicit, os.environ.get('KVD')]
    here = os.path.dirname(os.path.abspath(__file__))
    cands.append(os.path.join(here, '..', '..', 'build', 'server', 'kvd'))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise SystemExit('kvd binary not found: pass --kvd PATH or set KVD=')


def find_kvctl(explicit=None):
    """--kvctl, else $KVCTL, else build/client/kvctl of the checkout."""
    cands = [explicit, os.environ.get('KVCTL')]
    here = os.path.dirname(os.path.abspath(__file__))
    cands.append(os.path.join(here, '..', '..', 'build', 'client', 'kvctl'))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise SystemExit('kvctl binary not found: pass --kvctl PATH or set '
                     'KVCTL=')


def free_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def key_path(key):
    return '/v1/kv/' + urllib.parse.quote(key, safe='')


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode('utf-8'))


class Security:
    """TLS on both listeners of every member and/or tokens, for a run
    that checks the cluster's promises with security on.

    With tls, make() writes into DIR a CA, one certificate per member
    (its 127.0.0.x address, usable as server and client: members talk to
    each other's both ports) and one for the harness's clients, with the
    openssl CLI; members then listen with HTTPS and verify each other's
    and the clients' certificates against the CA. With a token set, every
    client request carries it."""

    def __init__(self, tls=False):
        self.tls = tls
        self.dir = None
        self.token = None
        self._ctx = None

    def _openssl(self, *args):
        subprocess.run(['openssl'] + list(args), cwd=self.dir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _cert(self, name, ext):
        self._openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                      name + '.key', '-out', name + '.csr', '-subj',
                      '/CN=' + name)
        os.chmod(os.path.join(self.dir, name + '.key'), 0o600)
        with open(os.path.join(self.dir, name + '.ext'), 'w') as f:
            f.write(ext)
        self._openssl('x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem',
                      '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
                      '-out', name + '.pem', '-extfile', name + '.ext')

    def make(self, d, hosts):
        """Certificates for the member addresses in hosts ({id: host})."""
        if not self.tls:
            return
        self.dir = d
        os.makedirs(d, mode=0o700, exist_ok=True)
        self._openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                      '-keyout', 'ca.key', '-out', 'ca.pem', '-subj',
                      '/CN=kvd fault CA', '-days', '2')
        for mid, host in hosts.items():
            self._cert('member-%d' % mid,
                       'subjectAltName=IP:%s\n'
                       'extendedKeyUsage=serverAuth,clientAuth\n' % host)
        self._cert('client', 'extendedKeyUsage=clientAuth\n')

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def scheme(self):
        return 'https' if self.tls else 'http'

    def member_args(self, mid):
        if not self.tls:
            return []
        c, k = self.path('member-%d.pem' % mid), self.path('member-%d.key'
                                                             % mid)
        ca = self.path('ca.pem')
        return ['--client-cert', c, '--client-key', k, '--client-ca', ca,
                '--peer-cert', c, '--peer-key', k, '--peer-ca', ca]

    def kvctl_args(self):
        """kvctl's flags (the token goes in its environment: never on a
        command line)."""
        if not self.tls:
            return []
        return ['--cacert', self.path('ca.pem'), '--cert',
                self.path('client.pem'), '--key', self.path('client.key')]

    def kvctl_env(self):
        return {'KVCTL_TOKEN': self.token} if self.token else {}

    def context(self):
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=self.path('ca.pem'))
            ctx.load_cert_chain(self.path('client.pem'),
                                self.path('client.key'))
            self._ctx = ctx
        return self._ctx

    def connection(self, host, port, timeout):
        """A connection from 127.0.0.1 (never from a member address, so
        network cuts between members do not hit clients)."""
        if self.tls:
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self.context(),
                source_address=('127.0.0.1', 0))
        return http.client.HTTPConnection(host, port, timeout=timeout,
                                          source_address=('127.0.0.1', 0))

    def headers(self, headers=None):
        """headers with the run's token added; an Authorization given
        wins, and None for it sends none."""
        h = dict(headers or {})
        if 'Authorization' in h:
            if h['Authorization'] is None:
                del h['Authorization']
        elif self.token:
            h['Authorization'] = 'Bearer ' + self.token
        return h


# The run's security settings (tests/fault/run --tls / --auth); the
# default is none, as kvd's.
SECURITY = Security()


def http_request(host, port, method, path, body=None, headers=None,
                 timeout=CLIENT_TIMEOUT_S):
    """One request on a fresh connection from 127.0.0.1 (never from a
    member address, so network cuts between members do not hit clients).
    Raises OSError / http.client.HTTPException on transport failure."""
    conn = SECURITY.connection(host, port, timeout)
    try:
        if body is None and method in ('PUT', 'POST'):
            body = b''
        conn.request(method, path, body=body,
                     headers=SECURITY.headers(headers))
        r = conn.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()},
                     data)
    finally:
        conn.close()


# ssl.SSLError is an OSError.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


class Member:
    def __init__(self, cluster, mid):
        self.cluster = cluster
        self.id = mid
        self.host = '127.0.0.%d' % (10 + mid)
        self.client_port = free_port(self.host)
        self.peer_port = free_port(self.host)
        self.data_dir = os.path.join(cluster.root, 'member-%d' % mid)
        self.log_path = os.path.join(cluster.root, 'member-%d.log' % mid)
        self.proc = None
        self.paused = False
        self.resumed_at = 0.0  # time.monotonic() of the last SIGCONT
        self.expect_exit = True  # we stopped it, or it never ran
        self.starts = 0

    @property
    def peer_url(self):
        return '%s://%s:%d' % (SECURITY.scheme, self.host, self.peer_port)

    @property
    def client_url(self):
        return '%s://%s:%d' % (SECURITY.scheme, self.host, self.client_port)

    def args(self):
        c = self.cluster
        return [c.kvd, '--id', str(self.id), '--data-dir', self.data_dir,
                '--listen-client', '%s:%d' % (self.host, self.client_port),
                '--listen-peer', '%s:%d' % (self.host, self.peer_port),
                '--initial-cluster', c.initial_cluster(),
                '--election-timeout-ms', str(c.election_timeout_ms),
                '--heartbeat-ms', str(c.heartbeat_ms),
                '--request-timeout-ms', str(c.request_timeout_ms)] + \
            SECURITY.member_args(self.id) + list(c.extra_args)

    def start(self, expect_exit=False):
        assert not self.running()
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.log_path, 'ab') as f:
            f.write(('=== start %d: %s\n' % (self.starts, ' '.join(
                self.args()))).encode())
            f.flush()
            env = None
            if self.cluster.env_for is not None:
                env = dict(os.environ)
                env.update(self.cluster.env_for(self))
            self.proc = subprocess.Popen(self.args(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT,
                                         env=env)
        self.starts += 1
        self.paused = False
        self.expect_exit = expect_exit

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL and reap (a paused member is killed as it stands)."""
        self.expect_exit = True
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self.paused = False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False
        self.resumed_at = time.monotonic()

    def request(self, method, path, body=None, headers=None,
                timeout=CLIENT_TIMEOUT_S):
        return http_request(self.host, self.client_port, method, path, body,
                            headers, timeout)

    def status(self, timeout=2.0):
        try:
            r = self.request('GET', '/v1/status', timeout=timeout)
            return r.json() if r.status == 200 else None
        except TRANSPORT_ERRORS + (ValueError,):
            return None

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def listing(self, prefix='', stale=True, page=1000):
        """Every key under prefix as [(key, value bytes, mod index)], by
        paging GET /v1/kv. Raises on any error."""
        out = []
        after = None
        while True:
            q = {'prefix': prefix, 'limit': str(page)}
            if after is not None:
                q['after'] = after
            if stale:
                q['consistency'] = 'stale'
            r = self.request('GET', '/v1/kv?' + urllib.parse.urlencode(
                q, quote_via=urllib.parse.quote), timeout=10)
            if r.status != 200:
                raise RuntimeError('member %d list: %d %r' % (
                    self.id, r.status, r.body[:200]))
            j = r.json()
            for kv in j['kvs']:
                out.append((kv['key'], base64.b64decode(kv['value']),
                            kv['index']))
            if not j['more'] or not j['kvs']:
                return out
            after = j['kvs'][-1]['key']


class Cluster:
    """n founding members 127.0.0.11.. with ids 1..n, in a fresh temp dir
    (or under root)."""

    def __init__(self, kvd, n=3, root=None, extra_args=(),
                 election_timeout_ms=ELECTION_TIMEOUT_MS,
                 heartbeat_ms=HEARTBEAT_MS,
                 request_timeout_ms=REQUEST_TIMEOUT_MS, name='fault'):
        self.kvd = kvd
        self.root = root or tempfile.mkdtemp(prefix='kvd-%s-' % name)
        os.makedirs(self.root, exist_ok=True)
        self.extra_args = list(extra_args)
        self.election_timeout_ms = election_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.request_timeout_ms = request_timeout_ms
        self.members = {i: Member(self, i) for i in range(1, n + 1)}
        # A function member -> dict of extra environment variables.
        self.env_for = None

    def initial_cluster(self):
        return ','.join('%d=%s' % (m.id, m.peer_url)
                        for m in self.members.values())

    def all(self):
        return list(self.members.values())

    def start(self):
        for m in self.all():
            m.start()
        return self

    def unexpected_exits(self):
        """[(member id, exit status)] of members that exited on their own."""
        return [(m.id, m.proc.returncode) for m in self.all()
                if not m.expect_exit and m.proc is not None
                and m.proc.poll() is not None]

    def statuses(self, members=None):
        ms = members if members is not None else self.all()
        return {m.id: (m.status() if m.running() and not m.paused else None)
                for m in ms}

    def leader(self, members=None):
        """The id of a member that says it leads (highest term), or None."""
        best = None
        for mid, st in self.statuses(members).items():
            if st and st.get('state') == 'leader':
                if best is None or st['term'] > best[1]:
                    best = (mid, st['term'])
        return best[0] if best else None

    def wait_leader(self, members=None, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lid = self.leader(members)
            if lid is not None:
                return lid
            time.sleep(0.1)
        raise AssertionError('no leader within %.0fs; statuses %r' % (
            timeout, self.statuses(members)))

    def sanitizer_reports(self):
        """[(member id, line)] of sanitizer errors in the member logs."""
        out = []
        for m in self.all():
            for line in m.log_text().splitlines():
                if any(p in line for p in SANITIZER_PATTERNS):
                    out.append((m.id, line.strip()))
        return out

    def stop_all(self):
        for m in self.all():
            m.kill()

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Net:
    """Directed cuts between members with iptables, in a chain owned by
    this process. cut(a, b) drops every packet member a sends to member b
    (its connections to b's ports and its answers on b's connections to
    it): with TCP a one-way cut also stalls b's requests to a, whose
    acknowledgements never come back, but a still receives what b sends,
    as with Jepsen's one-way partitions."""

    IPT = 'iptables'

    def __init__(self, cluster):
        self.cluster = cluster
        self.chain = 'KVDF-%d' % os.getpid()
        self.cuts = set()
        self.installed = False

    @classmethod
    def ensure_iptables(cls):
        """Installs iptables with apt-get when missing and we are root."""
        if shutil.which(cls.IPT):
            return
        if os.geteuid() == 0 and shutil.which('apt-get'):
            log('iptables missing: installing it with apt-get')
            subprocess.run(['apt-get', 'install', '-y', '-q', 'iptables'],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if not shutil.which(cls.IPT):
            raise SystemExit('iptables is not available (and cannot be '
                             'installed): network partitions need it')

    def ipt(self, *args, check=True):
        r = subprocess.run([self.IPT, '-w', '5'] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise RuntimeError('iptables %s: %s' % (' '.join(args),
                                                    r.stderr.decode().strip()))
        return r.returncode

    def install(self):
        self.ensure_iptables()
        self.ipt('-N', self.chain)
        self.installed = True
        self.ipt('-I', 'OUTPUT', '1', '-j', self.chain)

    def probe(self):
        """Checks that a rule really drops loopback packets here (the
        kernel may lack netfilter): a connection across a cut must fail,
        one across no cut must succeed."""
        a, b = self.cluster.members[1], self.cluster.members[2]
        srv = socket.socket()
        srv.bind((b.host, 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        rule = ['-s', a.host, '-d', b.host, '-p', 'tcp', '--dport', str(port),
                '-j', 'DROP']

        def try_connect():
            c = socket.socket()
            c.bind((a.host, 0))
            c.settimeout(1.0)
            try:
                c.connect((b.host, port))
                return True
            except OSError:
                return False
            finally:
                c.close()
        try:
            if not try_connect():
                raise RuntimeError('loopback connection failed without a cut')
            self.ipt('-A', self.chain, *rule)
            cut_works = not try_connect()
            self.ipt('-D', self.chain, *rule)
            if not cut_works:
                raise RuntimeError('iptables rules do not drop loopback '
                                   'packets on this kernel')
        finally:
            srv.close()

    def _rules(self, a, b):
        ma, mb = self.cluster.members[a], self.cluster.members[b]
        base = ['-s', ma.host, '-d', mb.host, '-p', 'tcp', '-m', 'multiport']
        return [base + ['--dports', '%d,%d' % (mb.peer_port, mb.client_port),
                        '-j', 'DROP'],
                base + ['--sports', '%d,%d' % (ma.peer_port, ma.client_port),
                        '-j', 'DROP']]

    def cut(self, a, b):
        """Drop what member a sends to member b."""
        if (a, b) in self.cuts:
            return
        for r in self._rules(a, b):
            self.ipt('-A', self.chain, *r)
        self.cuts.add((a, b))

    def cut_both(self, a, b):
        self.cut(a, b)
        self.cut(b, a)

    def partition(self, *groups):
        """Members in different groups cannot talk at all."""
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut_both(a, b)

    def heal(self):
        if self.installed:
            self.ipt('-F', self.chain)
        self.cuts.clear()

    def uninstall(self):
        if not self.installed:
            return
        self.ipt('-D', 'OUTPUT', '-j', self.chain, check=False)
        self.ipt('-F', self.chain, check=False)
        self.ipt('-X', self.chain, check=False)
        self.installed = False


class History:
    """A thread-safe JSON-lines history in the format of
    tests/lincheck/lincheck.py: the invocation is written before the
    request is sent, the completion after its reply arrived."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, 'w')
        self.lock = threading.Lock()

    def add(self, process, typ, f, key, value):
        line = json.dumps({'process': process, 'type': typ, 'f': f,
                           'key': key, 'value': value,
                           't': round(time.monotonic() - T0, 4)})
        with self.lock:
            self.f.write(line + '\n')

    def close(self):
        with self.lock:
            self.f.close()


class Client:
    """One logical client (one thread): picks members at random, uses its
    own X-Kv-Client id and increasing X-Kv-Seq numbers so that a write it
    retries (after a timeout, a dropped connection or a 503) is applied at
    most once and the retry returns the first attempt's result."""

    def __init__(self, cluster, rng, cid):
        self.cluster = cluster
        self.rng = rng
        self.client_hex = '%016x' % cid
        self.seq = 0

    def _member(self):
        return self.rng.choice(self.cluster.all())

    def write(self, method, key, body=None, cas=None, deadline_s=8.0):
        """A write with retries until deadline_s. Returns (outcome, reply):
        outcome 'ok' (2xx), 'fail' (a definite 4xx answer: the write was
        not applied, e.g. 412 cas_failed) or 'info' (unknown)."""
        path = key_path(key) + ('?cas=%d' % cas if cas is not None else '')
        return self._retried(method, path, body, self._identity(),
                             deadline_s)

    def txn(self, txn, deadline_s=8.0, once=True):
        """POST /v1/txn of txn (a dict) with retries until deadline_s, as
        write: a txn that writes goes with once=True, the exactly-once
        headers, so that its retries apply it at most once; a read-only
        one needs none. Returns (outcome, reply) as write does: 'ok' is
        200 whichever branch ran."""
        body = json.dumps(txn).encode('utf-8')
        hdrs = {'Content-Type': 'application/json'}
        if once:
            hdrs.update(self._identity())
        return self._retried('POST', '/v1/txn', body, hdrs, deadline_s)

    def _identity(self):
        """The headers of a new logical write: this client, its next
        sequence number."""
        self.seq += 1
        return {'X-Kv-Client': self.client_hex, 'X-Kv-Seq': str(self.seq)}

    def _retried(self, method, path, body, hdrs, deadline_s):
        """The request, repeated as it is (the same headers) on random
        members until a definite answer or deadline_s."""
        end = time.monotonic() + deadline_s
        last = None
        while True:
            try:
                r = self._member().request(method, path, body, hdrs)
                last = r
                if 200 <= r.status < 300:
                    return 'ok', r
                if 400 <= r.status < 500:
                    return 'fail', r
            except TRANSPORT_ERRORS:
                pass
            if time.monotonic() + 0.2 >= end:
                return 'info', last
            time.sleep(0.1 + self.rng.random() * 0.2)

    def read(self, key, stale=False):
        """A read on one member: ('ok', value or None, mod index) or
        ('info', None, None)."""
        path = key_path(key) + ('?consistency=stale' if stale else '')
        try:
            r = self._member().request('GET', path)
        except TRANSPORT_ERRORS:
            return 'info', None, None
        if r.status == 200:
            return 'ok', r.body.decode('utf-8'), int(r.headers['x-kv-index'])
        if r.status == 404:
            return 'ok', None, 0
        return 'info', None, None


def wait_converged(cluster, min_index, timeout, members=None):
    """Polls until every member reports the same applied_index, equal to
    its commit_index and >= min_index, twice in a row. Returns it."""
    deadline = time.monotonic() + timeout
    prev = None
    last = None
    while time.monotonic() < deadline:
        sts = cluster.statuses(members)
        last = sts
        if all(s is not None for s in sts.values()):
            applied = {s['applied_index'] for s in sts.values()}
            commit = {s['commit_index'] for s in sts.values()}
            if len(applied) == 1 and applied == commit:
                a = applied.pop()
                if a >= min_index and a == prev:
                    return a
                prev = a
        time.sleep(0.2)
    raise AssertionError('no convergence to applied >= %d within %.0fs; '
                         'last statuses %r' % (min_index, timeout, last))



def wait_for(fn, timeout, what):
    """Calls fn until it returns a true value (returned), or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except TRANSPORT_ERRORS:
            pass
        time.sleep(0.1)
    raise AssertionError('%s: not within %.0fs' % (what, timeout))


def wal_segments(data_dir):
    """The WAL segment files of a data dir, oldest first."""
    d = os.path.join(data_dir, 'wal')
    names = sorted(n for n in os.listdir(d)
                   if re.fullmatch(r'wal-[0-9a-f]{16}\.log', n))
    return [os.path.join(d, n) for n in names]


def wal_records(path):
    """[(offset, size, type, term, index)] of the frames of one segment,
    up to the first zero header or the end of the file (docs/FORMAT.md,
    section WAL). Checksums are not verified here."""
    out = []
    with open(path, 'rb') as f:
        data = f.read()
    off = 0
    while off + 32 <= len(data):
        hdr = data[off:off + 32]
        if hdr == bytes(32):
            break
        _hc, _pc, ver, typ, _res, length, term, index = struct.unpack(
            '<IIBBHIQQ', hdr)
        if ver != 1 or off + 32 + length > len(data):
            break
        out.append((off, 32 + length, typ, term, index))
        off += 32 + length
    return out


# No line for this long on a stream: its member is stopped (SIGSTOP), or
# it failed to send the progress events an idle stream gets (the run uses
# --watch-progress-ms 1000).
WATCH_READ_TIMEOUT_S = 10.0


class Watcher:
    """A watcher of one prefix for the nemesis run (one thread): it
    streams GET /v1/watch from a random member, from index 1 on, and
    whenever the stream fails (the connection is refused, reset or ends,
    no line comes for WATCH_READ_TIMEOUT_S, an error event other than
    compacted) it opens a new one on a random member from the index after
    the last one it knows it has (its last event's or progress event's).
    Every few seconds it also leaves a healthy stream for another member,
    so that resuming is exercised without faults too. A compacted answer
    (410 or the error event) ends it: it cannot go on without a gap. A
    stream silent for WATCH_READ_TIMEOUT_S on a member that was not
    stopped meanwhile is recorded in silent (progress events missing).

    events is every change received, in order, over all its streams:
    [(type, key, value bytes or None, index)]; position the index up to
    which it has everything."""

    def __init__(self, cluster, wid, prefix, rng, switch_s=(5.0, 15.0),
                 resume_skew=1):
        self.cluster = cluster
        # A new stream starts at position + resume_skew: 1 is right; the
        # run's self-check plants 0 (duplicates) or 2 (gaps).
        self.resume_skew = resume_skew
        self.wid = wid
        self.prefix = prefix
        self.rng = rng
        self.switch_s = switch_s
        self.lock = threading.Lock()
        self.events = []
        self.position = 0
        self.streams = 0     # streams opened (200)
        self.ends = {}       # why streams ended -> count
        self.compacted = []  # (member id, from, oldest)
        self.protocol = []   # lines that are not events
        self.silent = []     # (member id, seconds) of silent streams
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _end(self, why):
        with self.lock:
            self.ends[why] = self.ends.get(why, 0) + 1

    def _run(self):
        while not self.stop.is_set() and not self.compacted:
            self._stream(self.rng.choice(self.cluster.all()))
            if not self.stop.is_set():
                time.sleep(0.05 + self.rng.random() * 0.2)

    def _stream(self, m):
        frm = max(1, self.position + self.resume_skew)
        path = '/v1/watch?prefix=%s&from=%d' % (
            urllib.parse.quote(self.prefix, safe=''), frm)
        conn = SECURITY.connection(m.host, m.client_port, CLIENT_TIMEOUT_S)
        t_read = None  # when the read of the current line began
        try:
            conn.connect()
            sock = conn.sock
            conn.request('GET', path, headers=SECURITY.headers())
            r = conn.getresponse()
            if r.status == 410:
                body = r.read()
                try:
                    oldest = json.loads(body.decode('utf-8')).get('oldest')
                except ValueError:
                    oldest = body[:100]
                self.compacted.append((m.id, frm, oldest))
                self._end('410 compacted')
                return
            if r.status != 200:
                r.read()
                self._end('status %d' % r.status)
                return
            self.streams += 1
            sock.settimeout(WATCH_READ_TIMEOUT_S)
            switch_at = time.monotonic() + self.rng.uniform(*self.switch_s)
            while not self.stop.is_set():
                t_read = time.monotonic()
                line = r.readline()
                if not line:
                    self._end('eof')
                    return
                if not line.endswith(b'\n'):
                    self._end('cut line')
                    return
                try:
                    o = json.loads(line.decode('utf-8'))
                    typ = o['type']
                    if typ in ('put', 'delete'):
                        ev = (typ, o['key'], base64.b64decode(o['value'])
                              if typ == 'put' else None, o['index'])
                    elif typ in ('progress', 'error'):
                        ev = None
                    else:
                        raise ValueError('unknown type')
                    index = o.get('index', 0)
                    if not isinstance(index, int):
                        raise ValueError('index not an integer')
                except (ValueError, KeyError, TypeError) as e:
                    self.protocol.append('member %d: %s: %r' % (
                        m.id, e, line[:200]))
                    self._end('protocol')
                    return
                if typ == 'error':
                    self._end('error ' + str(o.get('error')))
                    if o.get('error') == 'compacted':
                        self.compacted.append((m.id, frm, o.get('oldest')))
                    return
                with self.lock:
                    if ev is not None:
                        self.events.append(ev)
                    self.position = max(self.position, index)
                if time.monotonic() >= switch_at:
                    self._end('switch')
                    return
        except socket.timeout:
            self._end('read timeout')
            if t_read is not None and not m.paused and \
                    m.resumed_at < t_read:
                self.silent.append((m.id, time.monotonic() - t_read))
                log('watcher %d (%s): member %d silent for %.0fs' % (
                    self.wid, self.prefix, m.id, self.silent[-1][1]))
        except TRANSPORT_ERRORS as e:
            errno = getattr(e, 'errno', None)
            self._end(type(e).__name__ + (' %d' % errno if errno else ''))
        finally:
            conn.close()

    def wait_caught_up(self, index, timeout):
        """Waits until position >= index; False after timeout or when the
        watcher stopped for a compacted history."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.compacted:
            if self.position >= index:
                return True
            time.sleep(0.1)
        return self.position >= index

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=WATCH_READ_TIMEOUT_S + 5)
