# test_snapshot_rest.py - periodic snapshots take at most a tenth of the
# time: after a copy that took T seconds, the next periodic one starts no
# sooner than 9 T seconds later, however many entries were applied
# meanwhile (raft/node/snapshotter.c, SNAPSHOT_REST_FACTOR). Checked from the
# member's own log: each "snapshot at index ..." line carries the time the
# copy took and is written when the copy is joined, so the next copy began
# at (its line's time - its duration) and must not be earlier than the
# previous line's time + 9 x the previous duration. A snapshot that came
# due during a rest is still taken when the rest ends.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import datetime
import os
import re
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest  # noqa: E402

EVERY = 20  # --snapshot-entries: far fewer entries than a copy's rest
WRITERS = 8
MIN_SNAPSHOTS = 4
MAX_WRITES_EACH = 20000
REST_FACTOR = 9.0
# Log times have millisecond resolution (two of them) and durations are
# printed with three decimals (the previous one counts nine times).
SLACK = 0.001 + 0.001 + 0.0005 + REST_FACTOR * 0.0005

LINE = re.compile(r'^(\S+)Z INFO .*snapshot at index (\d+) term \d+: '
                  r'\d+ bytes, crc32c [0-9a-f]+, ([0-9.]+) s$')


def snapshots(log_path):
    """[(logged at, index, seconds)] of every snapshot in the log."""
    out = []
    with open(log_path, 'r', errors='replace') as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                t = datetime.datetime.strptime(m.group(1),
                                               '%Y-%m-%dT%H:%M:%S.%f')
                out.append((t.timestamp(), int(m.group(2)),
                            float(m.group(3))))
    return out


class SnapshotRestTest(ClusterTest):
    CLUSTER_SIZE = 1
    CLUSTER_ARGS = ('--snapshot-entries', str(EVERY), '--log-level', 'info')

    def test_periodic_snapshots_rest_nine_times_their_duration(self):
        c = self.cluster
        lid, _ = c.wait_leader()
        m = c[lid]
        errors = []

        # The load goes on until the log shows several snapshots (how
        # many writes that takes depends on how fast copies are on this
        # machine), within a bound on writes and time.
        stop = threading.Event()
        counts = [0] * WRITERS

        def writer(w):
            i = 0
            while not stop.is_set() and i < MAX_WRITES_EACH:
                r = m.put('rest/%d/%05d' % (w, i), b'v' * 100)
                if r.status != 200:
                    errors.append(r)
                    return
                i += 1
            counts[w] = i

        threads = [threading.Thread(target=writer, args=(w,))
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        try:
            harness.wait_for(
                lambda: len(snapshots(m.log_path)) >= MIN_SNAPSHOTS or
                not any(t.is_alive() for t in threads),
                timeout=120, what='several snapshots during the load')
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        writes = sum(counts)
        # A snapshot that came due during a rest is taken when the rest
        # ends, although no entry is applied any more.
        applied = m.try_status()['applied_index']
        harness.wait_for(
            lambda: m.try_status()['snapshot_index'] + EVERY > applied,
            what='the snapshot due at the end of the load')

        snaps = snapshots(m.log_path)
        # Not vacuous: the load was long enough for several snapshots ...
        self.assertGreaterEqual(len(snaps), MIN_SNAPSHOTS, snaps)
        # ... yet far fewer than one every EVERY entries would make.
        self.assertLess(len(snaps), writes // EVERY, snaps)
        checked = 0
        for (t0, i0, d0), (t1, i1, d1) in zip(snaps, snaps[1:]):
            self.assertGreater(i1, i0)
            if REST_FACTOR * d0 < 4 * SLACK:
                continue  # a rest too short to tell from the roundings
            checked += 1
            began = t1 - d1
            rest_end = t0 + REST_FACTOR * d0
            self.assertGreaterEqual(
                began + SLACK, rest_end,
                'the snapshot at %d began %.4f s after the one at %d, '
                'which took %.3f s (rest %.4f s)'
                % (i1, began - t0, i0, d0, REST_FACTOR * d0))
        self.assertGreater(checked, 0, 'every copy was too quick to tell: '
                           '%r' % snaps)


if __name__ == '__main__':
    harness.main()
