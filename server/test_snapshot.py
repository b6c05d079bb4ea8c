# test_snapshot.py - snapshots and log compaction on real kvd processes:
# a member that was down rejoins through InstallSnapshot and converges, the
# WAL stays bounded under load, restart from snapshot + WAL, a corrupt
# newest snapshot is set aside, kill -9 during snapshot creation and
# installation loses no acknowledged write, and kvd --restore seeds a new
# cluster from GET /v1/snapshot.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import base64
import glob
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import Cluster, ClusterTest, crc32c, key_path, wait_for  # noqa: E402

SNAP_ARGS = ('--snapshot-entries', '200', '--wal-segment-bytes', '65536')


# A member stopped while 50,000 writes happen rejoins through
# InstallSnapshot. 24 keep-alive writers to the leader do them in about
# 10 s, in the ASan+UBSan build too, so no build scales the count down.
REJOIN_WRITES = 50000


class Writer:
    """Puts keys over keep-alive connections (to any member, or to the
    leader only), retrying through leader changes; remembers every
    acknowledged (key, value)."""

    def __init__(self, cluster, to_leader=False):
        self.cluster = cluster
        self.acked = {}
        self.lock = threading.Lock()
        self.conns = {}
        # Straight to the leader: no forwarding hop, for large write runs.
        self.to_leader = to_leader
        self.leader = None

    def _conn(self, m):
        c = self.conns.get(threading.get_ident())
        if c is None or c[0] is not m:
            if c is not None:
                c[1].close()
            c = (m, http.client.HTTPConnection(m.host, m.client_port,
                                               timeout=10))
            self.conns[threading.get_ident()] = c
        return c[1]

    def _drop(self):
        c = self.conns.pop(threading.get_ident(), None)
        if c is not None:
            c[1].close()

    def _target(self):
        """A live member: the leader when to_leader is set (found through
        /v1/status and kept until a write to it fails), else any."""
        live = self.cluster.live()
        if not live:
            return None
        if not self.to_leader:
            return random.choice(live)
        m = self.leader
        if m is not None and m in live:
            return m
        for o in live:
            st = o.try_status()
            if st and st.get('leader') in self.cluster.members:
                m = self.cluster[st['leader']]
                if m in live:
                    self.leader = m
                    return m
        return random.choice(live)

    def put(self, key, value, deadline_s=harness.WAIT_S):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            m = self._target()
            if m is None:
                time.sleep(0.05)
                continue
            try:
                conn = self._conn(m)
                conn.request('PUT', key_path(key), body=value)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    with self.lock:
                        self.acked[key] = value
                    return True
                if r.getheader('Connection', '').lower() == 'close':
                    self._drop()
            except (OSError, http.client.HTTPException):
                self._drop()
            self.leader = None
            time.sleep(0.02)
        return False

    def run(self, keys, threads=4, value_bytes=16):
        """Puts every key of @keys using @threads threads; returns the
        number acknowledged."""
        it = iter(keys)
        it_lock = threading.Lock()

        def work():
            while True:
                with it_lock:
                    k = next(it, None)
                if k is None:
                    break
                v = (k.encode() * (value_bytes // len(k) + 1))[:value_bytes]
                self.put(k, v)
            self._drop()

        ts = [threading.Thread(target=work) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return len(self.acked)


def listing(m, prefix=''):
    """Every (key, value, index) under @prefix, read locally (stale)."""
    out = []
    after = None
    while True:
        path = '/v1/kv?prefix=%s&limit=10000' % prefix
        if after is not None:
            path += '&after=' + after
        r = m.request('GET', path, timeout=30)
        assert r.status == 200, r
        j = r.json()
        out += [(x['key'], base64.b64decode(x['value']), x['index'])
                for x in j['kvs']]
        if not j['more']:
            return out
        after = j['kvs'][-1]['key']


def snap_files(m):
    return sorted(glob.glob(os.path.join(m.data_dir, 'snap', 'snap-*.snap')))


def flip_middle_byte(path):
    """Corrupts one bit in the middle of @path (its checksum then fails)."""
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))


def wal_files(m):
    return glob.glob(os.path.join(m.data_dir, 'wal', 'wal-*.log'))


def assert_same_content(test, c, members=None, prefix=''):
    ms = members or c.live()
    c.wait_converged(members=ms)
    want = listing(ms[0], prefix)
    for m in ms[1:]:
        test.assertEqual(listing(m, prefix), want, 'member %d differs' % m.id)
    return want


class InstallSnapshotTest(ClusterTest):
    CLUSTER_ARGS = SNAP_ARGS

    def test_stopped_member_rejoins_through_install_snapshot(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        down = [m for m in c.all() if m.id != lid][0]
        down.kill()
        w = Writer(c, to_leader=True)
        keys = ['is/%05d' % i for i in range(REJOIN_WRITES)]
        t0 = time.monotonic()
        self.assertEqual(w.run(keys, threads=24), REJOIN_WRITES)
        sys.stderr.write('%d writes in %.1fs\n'
                         % (REJOIN_WRITES, time.monotonic() - t0))
        leader = c[c.wait_leader()[0]]
        # The log the stopped member needs is compacted away: the leader
        # snapshotted many times, far past where the member stopped.
        wait_for(lambda: leader.try_status()['snapshot_index'] >
                 REJOIN_WRITES // 2, what='leader snapshots')
        self.assertGreater(leader.metric('kvd_snapshots_total'), 5)
        down.start()
        c.wait_leader()
        # Converged: every member reports the same applied index (= its
        # commit index), and the same full content (key, value, mod index).
        applied = c.wait_converged(min_index=REJOIN_WRITES)
        content = assert_same_content(self, c, prefix='is/')
        self.assertEqual(len(content), REJOIN_WRITES)
        for k, v, _ in content:
            self.assertEqual(v, w.acked[k])
        for m in c.all():
            self.assertGreaterEqual(m.try_status()['applied_index'], applied)
        self.assertGreaterEqual(
            down.metric('kvd_snapshot_installs_received_total'), 1)
        self.assertGreaterEqual(
            down.metric('kvd_snapshot_installs_total'), 1)
        # Sent by the leader of the time, which may lead no more.
        self.assertGreaterEqual(
            sum(m.metric('kvd_snapshot_installs_sent_total')
                for m in c.all() if m is not down), 1)
        st = down.try_status()
        self.assertGreater(st['snapshot_index'], 0)
        # It serves writes afterwards, and restarts from its snapshot.
        self.assertEqual(c.put('is/after', b'ok', via=lambda: down).status,
                         200)
        self.assertEqual(down.terminate(), 0)
        down.start()
        c.wait_leader()
        assert_same_content(self, c)
        self.assertEqual(down.get('is/after', stale=True).body, b'ok')

    def test_wal_stays_bounded_under_load(self):
        c = self.cluster
        c.wait_leader()
        w = Writer(c)
        # 4000 writes of 1 KiB: about 4.3 MB of log, 66 segments of 64 KiB
        # without compaction.
        for r in range(4):
            keys = ['wal/%d/%04d' % (r, i) for i in range(1000)]
            w.run(keys, value_bytes=1024)
            c.wait_converged()
            # Compaction follows each snapshot asynchronously.
            for m in c.live():
                wait_for(lambda: len(wal_files(m)) <= 12,
                         what='member %d WAL bounded (%d segments)'
                         % (m.id, len(wal_files(m))))
                wait_for(lambda: len(snap_files(m)) <= 1,
                         what='member %d keeps one snapshot' % m.id)
        for m in c.live():
            wal_bytes = sum(os.path.getsize(f) for f in wal_files(m))
            self.assertLess(wal_bytes, 12 * 65536 + 2 * 1024 * 1024)
            self.assertGreater(m.metric('kvd_snapshot_index'), 3000)
            self.assertGreater(m.metric('kvd_snapshot_size_bytes'), 0)

    def test_restart_from_snapshot_and_wal(self):
        c = self.cluster
        c.wait_leader()
        w = Writer(c)
        w.run(['rs/%04d' % i for i in range(700)])
        before = assert_same_content(self, c)
        for m in c.all():
            self.assertEqual(m.terminate(), 0)
        for m in c.all():
            self.assertTrue(snap_files(m), 'member %d has no snapshot' % m.id)
        c.start()
        c.wait_leader()
        after = assert_same_content(self, c)
        self.assertEqual(after, before)


def corrupt_newest_and_restart(test, prefix, writes, kept):
    """Loads @writes keys, waits until member 2 keeps @kept snapshots,
    stops it, flips a bit of its newest and starts it again; checks that
    the content is whole and the newest set aside as corrupt. Returns
    (writer, member, the snapshot files before, the bad index, its log)."""
    c = test.cluster
    c.wait_leader()
    w = Writer(c)
    w.run(['%s/%04d' % (prefix, i) for i in range(writes)])
    before = assert_same_content(test, c)
    m = c[2]
    wait_for(lambda: len(snap_files(m)) == kept,
             what='%d snapshot(s) kept' % kept)
    test.assertEqual(m.terminate(), 0)
    files = snap_files(m)
    test.assertEqual(len(files), kept, files)
    newest = files[-1]
    flip_middle_byte(newest)
    m.start()
    c.wait_leader()
    test.assertEqual(assert_same_content(test, c), before)
    test.assertTrue(os.path.exists(newest + '.corrupt'))
    # (A fresh one may already be there: the restart's own applies can
    # start it.)
    test.assertNotIn(newest, snap_files(m))
    bad = int(os.path.basename(newest)[5:21], 16)
    with open(m.log_path) as f:
        log = f.read()
    test.assertIn('snapshot %d is corrupt' % bad, log)
    return w, m, files, bad, log


class CorruptSnapshotTest(ClusterTest):
    CLUSTER_ARGS = SNAP_ARGS

    def test_corrupt_newest_snapshot_is_set_aside(self):
        # One snapshot is kept (--snapshot-keep 1, the default): when it is
        # corrupt it is set aside, the member restarts from its store
        # alone, and a fresh snapshot is taken at the next applies.
        w, m, _, bad, log = corrupt_newest_and_restart(self, 'cs', 900, 1)
        self.assertIn('no usable snapshot left', log)
        # New writes are applied: a fresh snapshot, newer than the bad one.
        w.run(['cs2/%04d' % i for i in range(50)])
        wait_for(lambda: [f for f in snap_files(m)
                          if int(os.path.basename(f)[5:21], 16) > bad],
                 what='a fresh snapshot on member %d' % m.id)
        assert_same_content(self, self.cluster)


class KeepTwoSnapshotsTest(ClusterTest):
    CLUSTER_ARGS = SNAP_ARGS + ('--snapshot-keep', '2')

    def test_two_kept_and_a_corrupt_newest_falls_back_to_the_older(self):
        w, m, files, _, log = corrupt_newest_and_restart(self, 'k2', 1200,
                                                         2)
        # The older one is still there and still whole.
        self.assertIn(files[0], snap_files(m))
        self.assertNotIn('no usable snapshot left', log)
        # More writes: never more than two on any member.
        w.run(['k2b/%04d' % i for i in range(600)])
        assert_same_content(self, self.cluster)
        # (A snapshot just written is there before the oldest is removed.)
        for x in self.cluster.all():
            wait_for(lambda: len(snap_files(x)) <= 2,
                     what='member %d keeps two snapshots: %r'
                     % (x.id, snap_files(x)))


class BackupDownloadTest(ClusterTest):
    # No periodic snapshots: every snapshot here is made for a download.
    CLUSTER_ARGS = ('--snapshot-entries', '100000000')

    def test_downloads_hold_acked_writes_and_the_member_serves_meanwhile(
            self):
        c = self.cluster
        lid, _ = c.wait_leader()
        m = c[lid]
        w = Writer(c, to_leader=True)
        observed = False
        n = 0
        for attempt in range(6):
            # A bigger store each time, so the copy takes longer.
            w.run(['bk/%06d' % i for i in range(n, n + 4000)], threads=8,
                  value_bytes=1000)
            n += 4000
            r = c.put('bk/last%d' % attempt, b'x', via=lambda: m)
            self.assertEqual(r.status, 200, r)
            last = r.json()['index']
            results = []

            def download():
                results.append(m.request('GET', '/v1/snapshot', timeout=60))

            ts = [threading.Thread(target=download) for _ in range(3)]
            for t in ts:
                t.start()
            while any(t.is_alive() for t in ts):
                # /metrics answered while a copy runs: the member's loop
                # serves during the copy, which runs off it.
                if m.metric('kvd_snapshot_in_progress') == 1:
                    observed = True
                    r = c.put('bk/during%d' % attempt, b'y', via=lambda: m)
                    self.assertEqual(r.status, 200, r)
            for t in ts:
                t.join()
            self.assertEqual(len(results), 3)
            for r in results:
                self.assertEqual(r.status, 200, r)
                # Every write acknowledged before the request is in it.
                self.assertGreaterEqual(
                    int(r.header('X-Kv-Snapshot-Index')), last)
            # Downloads served by one copy get the very same file.
            by_index = {}
            for r in results:
                by_index.setdefault(r.header('X-Kv-Snapshot-Index'),
                                    set()).add(r.body)
            for bodies in by_index.values():
                self.assertEqual(len(bodies), 1)
            if observed:
                break
        self.assertTrue(observed, 'no copy was ever seen running')
        # The files are the member's own snapshots: at most the one kept
        # (once an older one is removed, after the newest is written).
        wait_for(lambda: len(snap_files(m)) <= 1,
                 what='member %d keeps one snapshot: %r'
                 % (m.id, snap_files(m)))


class KillDuringSnapshotsTest(ClusterTest):
    CLUSTER_ARGS = ('--snapshot-entries', '100', '--wal-segment-bytes',
                    '65536')

    def test_kill9_during_creation_and_install_loses_nothing(self):
        c = self.cluster
        rnd = random.Random(int(os.environ.get('KVD_TEST_SEED', '0')) or
                            random.randrange(1 << 30))
        w = Writer(c)
        n = 0
        for it in range(4):
            lid, _ = c.wait_leader()
            victim = c[rnd.choice([m.id for m in c.all() if m.id != lid])]
            # Down while the log moves past several snapshots, so it
            # needs one; killed again at a random moment of its catch-up
            # (receiving or installing the snapshot).
            victim.kill()
            w.run(['k9/%d/%04d' % (it, i) for i in range(400)])
            n += 400
            victim.start()
            time.sleep(rnd.uniform(0.0, 0.4))
            victim.kill()
            victim.start()
            # Meanwhile the others take snapshots under writes: kill one
            # of them at a random moment too.
            other = c[rnd.choice([m.id for m in c.all()
                                  if m.id != victim.id])]
            t = threading.Thread(target=w.run, args=(
                ['k9b/%d/%04d' % (it, i) for i in range(250)],))
            t.start()
            time.sleep(rnd.uniform(0.05, 0.5))
            other.kill()
            other.start()
            t.join()
            c.wait_leader()
            c.wait_converged()
        content = {k: v for k, v, _ in assert_same_content(self, c)}
        for k, v in w.acked.items():
            self.assertEqual(content.get(k), v, 'acknowledged %s lost' % k)
        for m in c.all():
            self.assertTrue(m.running(), 'member %d is down' % m.id)
        # Both were exercised: snapshots taken, and received ones installed.
        logs = ''
        for m in c.all():
            with open(m.log_path) as f:
                logs += f.read()
        self.assertIn('installed snapshot at index', logs)
        self.assertIn('] snapshot at index', logs)


_TOKEN_DIR = tempfile.mkdtemp(prefix='kvd-snap-token-')
TOKEN_FILE = os.path.join(_TOKEN_DIR, 'token')
with open(TOKEN_FILE, 'w') as _f:
    _f.write('s3cret-peer-token\n')


class TokenInstallTest(ClusterTest):
    """InstallSnapshot carries the peer token like every peer request."""
    CLUSTER_ARGS = SNAP_ARGS + ('--peer-token-file', TOKEN_FILE)

    def test_install_snapshot_with_peer_token(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        down = [m for m in c.all() if m.id != lid][0]
        down.kill()
        w = Writer(c)
        w.run(['tk/%04d' % i for i in range(800)])
        down.start()
        c.wait_leader()
        content = assert_same_content(self, c, prefix='tk/')
        self.assertEqual(len(content), 800)
        self.assertGreaterEqual(
            down.metric('kvd_snapshot_installs_received_total'), 1)
        # Without the token a chunk is refused.
        r = down.peer_request('POST', '/raft/snapshot?index=1&term=1'
                              '&offset=0', b'x', {'X-Kvd-From': '1'})
        self.assertEqual(r.status, 401)


class LeaderChanged(Exception):
    pass


class TransferProtocolTest(ClusterTest):
    """POST /raft/snapshot spoken by hand to a follower's peer listener, as
    its leader (a member takes snapshots from its leader only): chunk
    checksums, resumable offsets, the whole-file check."""
    CLUSTER_SIZE = 3

    def post(self, m, idx, term, off, chunk, size, crc, chunk_crc=None,
             token=None):
        h = {'X-Kvd-From': str(self.sender),
             'X-Kvd-Snapshot-Size': str(size),
             'X-Kvd-Snapshot-CRC': '%08x' % crc,
             'X-Kvd-Chunk-CRC': '%08x' % (crc32c(chunk) if chunk_crc is None
                                          else chunk_crc),
             'X-Kvd-Raft-Term': '0', 'X-Kvd-Raft-Commit': '0'}
        r = m.peer_request('POST', '/raft/snapshot?index=%d&term=%d'
                           '&offset=%d' % (idx, term, off), chunk, h)
        if r.status == 409:
            raise LeaderChanged()
        return r

    def test_chunks_offsets_and_checksums(self):
        # Leadership may move on a loaded machine: start over then.
        for _ in range(10):
            lid, _ = self.cluster.wait_leader()
            m = [x for x in self.cluster.all() if x.id != lid][0]
            wait_for(lambda: (m.try_status() or {}).get('leader') == lid,
                     what='member %d follows %d' % (m.id, lid))
            self.sender = lid
            try:
                return self.chunks_offsets_and_checksums(m)
            except LeaderChanged:
                continue
        self.fail('the leader kept changing')

    def chunks_offsets_and_checksums(self, m):
        for i in range(50):
            self.assertEqual(m.put('tp/%02d' % i, b'x' * 100).status, 200)
        r = m.request('GET', '/v1/snapshot')
        self.assertEqual(r.status, 200)
        data = r.body
        idx = int(r.header('X-Kv-Snapshot-Index'))
        term = int(r.header('X-Kv-Snapshot-Term'))
        size, crc = len(data), crc32c(data)
        self.assertEqual('%08x' % crc, r.header('X-Kv-Snapshot-CRC32C'))
        third = size // 3
        # A first chunk is taken.
        r = self.post(m, idx, term, 0, data[:third], size, crc)
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), third)
        # A damaged chunk is refused, the offset stays.
        r = self.post(m, idx, term, third, data[third:2 * third], size, crc,
                      chunk_crc=crc32c(data[third:2 * third]) ^ 1)
        self.assertEqual(r.status, 400)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), third)
        # A chunk at another offset is not written: the answer says where
        # to continue (a sender resuming an earlier attempt).
        r = self.post(m, idx, term, 0, data[:10], size, crc)
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), third)
        # The rest completes the transfer.
        r = self.post(m, idx, term, third, data[third:], size, crc)
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), size)
        # The final chunk retried after it was taken: complete.
        r = self.post(m, idx, term, third, data[third:], size, crc)
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), size)
        # A whole file that does not match its announced checksum is
        # refused at the end (its one chunk intact on its own).
        r = self.post(m, idx, term, 0, data, size, crc ^ 1)
        self.assertEqual(r.status, 400)
        self.assertEqual(int(r.header('X-Kvd-Snapshot-Offset')), 0)
        # Malformed requests.
        r = m.peer_request('POST', '/raft/snapshot?index=1&term=1&offset=0',
                           b'x', {'X-Kvd-From': '7'})
        self.assertEqual(r.status, 400)
        r = m.peer_request('GET', '/raft/snapshot')
        self.assertEqual(r.status, 405)
        # The member is unharmed.
        self.assertEqual(m.put('tp/after', b'ok').status, 200)


class RestoreTest(ClusterTest):
    CLUSTER_ARGS = SNAP_ARGS

    def test_snapshot_download_restores_a_new_cluster(self):
        c = self.cluster
        c.wait_leader()
        w = Writer(c)
        w.run(['rt/%04d' % i for i in range(500)])
        self.assertEqual(c[1].delete('rt/0007').status, 200)
        before = assert_same_content(self, c)
        m = c[1]
        r = m.request('GET', '/v1/snapshot', timeout=60)
        self.assertEqual(r.status, 200)
        idx = int(r.header('X-Kv-Snapshot-Index'))
        self.assertGreaterEqual(idx, 501)
        self.assertEqual(r.header('Content-Type'), 'application/octet-stream')
        path = os.path.join(c.root, 'backup.mdb')
        with open(path, 'wb') as f:
            f.write(r.body)
        # No temporary file is left behind.
        self.assertEqual(glob.glob(os.path.join(m.data_dir, 'snap',
                                                'backup-*')), [])
        nc = Cluster(3, SNAP_ARGS + ('--restore', path), name='restored')
        try:
            nc.start()
            nc.wait_leader()
            after = assert_same_content(self, nc)
            self.assertEqual(after, before)
            for mm in nc.all():
                self.assertGreaterEqual(mm.try_status()['applied_index'], idx)
            # The new cluster takes writes on top of the restored data.
            lead = nc[nc.wait_leader()[0]]
            self.assertEqual(lead.put('rt/new', b'n').status, 200)
            self.assertEqual(lead.get('rt/0001').status, 200)
            self.assertEqual(lead.get('rt/0007').status, 404)
            # A restart with the same flags ignores --restore.
            for mm in nc.all():
                self.assertEqual(mm.terminate(), 0)
            nc.start()
            nc.wait_leader()
            self.assertEqual(nc[1].get('rt/new').body, b'n')
        except BaseException:
            nc.failed = True
            raise
        finally:
            nc.close()

    def test_kvctl_snapshot_save_then_restore(self):
        kvctl = os.path.join(os.path.dirname(os.path.dirname(harness.KVD)),
                             'client', 'kvctl')
        if not os.access(kvctl, os.X_OK):
            self.skipTest('no kvctl next to kvd')
        c = self.cluster
        c.wait_leader()
        w = Writer(c)
        w.run(['kc/%04d' % i for i in range(300)])
        before = assert_same_content(self, c, prefix='kc/')
        path = os.path.join(c.root, 'kvctl-backup.mdb')
        # The first endpoint does not answer: the next one is used.
        dead = 'http://127.0.0.1:%d' % harness.free_port()
        p = subprocess.run([kvctl, '--endpoints',
                            dead + ',' + c[2].client_url, '-o', 'json',
                            'snapshot', 'save', path],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j['endpoint'], c[2].client_url)
        self.assertEqual(j['bytes'], os.path.getsize(path))
        self.assertFalse(os.path.exists(path + '.tmp'))
        # Nobody answers: exit 3.
        p = subprocess.run([kvctl, '--endpoints', dead, 'snapshot', 'save',
                            path + '.2'], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertFalse(os.path.exists(path + '.2'))
        nc = Cluster(1, ('--restore', path), name='kvctl-restored')
        try:
            nc.start()
            nc.wait_leader()
            self.assertEqual(listing(nc[1], 'kc/'), before)
        except BaseException:
            nc.failed = True
            raise
        finally:
            nc.close()

    def test_restore_refuses_a_file_that_is_not_a_snapshot(self):
        bogus = os.path.join(self.cluster.root, 'bogus.mdb')
        with open(bogus, 'wb') as f:
            f.write(b'not lmdb' * 1000)
        nc = Cluster(1, ('--restore', bogus), name='bogus')
        try:
            m = nc[1]
            m.start()
            rc = m.proc.wait(timeout=30)
            self.assertNotEqual(rc, 0)
            self.assertIn('--restore', m.log_tail())
        finally:
            nc.close()


if __name__ == '__main__':
    try:
        harness.main()
    finally:
        shutil.rmtree(_TOKEN_DIR, ignore_errors=True)
