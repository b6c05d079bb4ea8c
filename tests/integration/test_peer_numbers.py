# test_peer_numbers.py - numbers from the network are range checked: a peer
# message with term 2^64-1 (or any term above 2^63-1, or an index past the
# index space) is refused with 400 at the peer port and changes nothing; the
# cluster keeps its leader and takes writes, also after the member that got
# it restarts. And a data dir whose hard state already holds such a term
# (written before the check existed) is refused at start with one clear
# line, never an abort.
#
# Issue 13: without a peer token, one such message left a 3-member cluster
# leaderless forever (a campaign did term + 1 and wrapped) and made a
# 1-member cluster abort at every start.

import glob
import os
import struct
import time

import harness
from harness import ClusterTest, frame, wait_for

PEER_PATH = '/raft/messages'  # raft/peer/transport.h TRANSPORT_PATH
TERM_MAX = 2 ** 63 - 1        # raft.h RAFT_TERM_MAX
INDEX_MAX = 2 ** 64 - 2       # raft.h RAFT_INDEX_MAX (the WAL's last index)
U64_MAX = 2 ** 64 - 1

# enum raft_msg_type (docs/FORMAT.md, "Peer messages").
APPEND, APPEND_RESP, VOTE, PREVOTE, HEARTBEAT = 1, 2, 3, 5, 7
FRAME_ENTRY_NORMAL, FRAME_HARD_STATE, FRAME_MESSAGE = 1, 16, 32








def message(mtype, frm, to, term, index=0, log_term=0, commit=0,
            hint_index=0, hint_term=0, context=0, entries=()):
    """One message of a peer body, encoded by hand (version 1)."""
    payload = struct.pack('<BBBBI', 1, mtype, 0, 0, len(entries))
    payload += struct.pack('<9Q', frm, to, term, index, log_term, commit,
                           hint_index, hint_term, context)
    assert len(payload) == 80
    body = frame(FRAME_MESSAGE, payload, 0, 0)
    for (eterm, eindex, data) in entries:
        body += frame(FRAME_ENTRY_NORMAL, data, eterm, eindex)
    return body


def post(member, frm, body):
    return member.peer_request(
        'POST', PEER_PATH, body,
        {'X-Kvd-From': str(frm), 'Content-Type': 'application/octet-stream'})


def bad_bodies(frm, to):
    """Messages an unauthenticated peer could send, each with one number
    out of range (the first is the audit's)."""
    return [
        ('heartbeat term 2^64-1',
         message(HEARTBEAT, frm, to, U64_MAX, commit=1)),
        ('vote term 2^63',
         message(VOTE, frm, to, TERM_MAX + 1, index=U64_MAX >> 1,
                 log_term=TERM_MAX)),
        ('prevote log_term 2^64-1',
         message(PREVOTE, frm, to, 1, log_term=U64_MAX)),
        ('append_resp hint_index 2^64-1',
         message(APPEND_RESP, frm, to, 1, hint_index=U64_MAX)),
        ('heartbeat commit 2^64-1',
         message(HEARTBEAT, frm, to, 1, commit=U64_MAX)),
        ('append past the index space',
         message(APPEND, frm, to, 1, index=INDEX_MAX, log_term=1,
                 entries=[(1, U64_MAX, b'x')])),
    ]


class NumbersMixin:
    """Shared by the 3-member and the 1-member cluster."""

    def refuse_everything(self, member, frm):
        for name, body in bad_bodies(frm, member.id):
            r = post(member, frm, body)
            self.assertEqual(r.status, 400, (name, member.id, r))
            self.assertIn(b'out of range', r.body, (name, r))

    def assert_works(self, key):
        """A leader, in a term far below the largest, takes a write that
        every member then serves."""
        c = self.cluster
        _, term = c.wait_leader()
        self.assertLess(term, 2 ** 32)

        def put():
            r = c.leader().put(key, b'v')
            return r if r.status == 200 else None
        index = wait_for(put, what='a write').json()['index']
        c.wait_converged(index)
        for m in c.live():
            self.assertEqual(m.get(key).body, b'v')

    def restart(self, member):
        self.assertEqual(member.terminate(), 0)
        member.start()
        self.cluster.wait_ready()


class ThreeMembers(NumbersMixin, ClusterTest):
    CLUSTER_SIZE = 3

    def test_huge_term_refused_cluster_keeps_leader(self):
        c = self.cluster
        self.assert_works('numbers/before')
        # Every member, the leader too, as if from each other member.
        for m in c.all():
            for frm in (i for i in (1, 2, 3) if i != m.id):
                self.refuse_everything(m, frm)
        c.check_alive()
        self.assert_works('numbers/after')
        # The member that led restarts: it finds no wrapped term either.
        leader = c.leader()
        self.restart(leader)
        self.assert_works('numbers/after-restart')
        for m in c.all():
            self.refuse_everything(m, 1 if m.id != 1 else 2)
        self.assert_works('numbers/again')


class OneMember(NumbersMixin, ClusterTest):
    CLUSTER_SIZE = 1

    def test_huge_term_refused_single_member(self):
        c = self.cluster
        self.assert_works('numbers/before')
        # From a member id it does not know: the body is refused first.
        self.refuse_everything(c[1], 2)
        c.check_alive()
        self.assert_works('numbers/after')
        self.restart(c[1])
        self.assert_works('numbers/after-restart')

    def test_stored_huge_term_refused_at_start(self):
        """A hard state holding a term past the largest, as a member that
        took such a message before the range checks stored it, makes kvd
        exit at start with one clear line (a term can never be lowered
        safely), instead of aborting."""
        c = self.cluster
        m = c[1]
        self.assert_works('numbers/stored')
        self.assertEqual(m.terminate(), 0)
        wal = os.path.join(m.data_dir, 'wal')
        segs = sorted(glob.glob(os.path.join(wal, 'wal-*.log')))
        self.assertTrue(segs, os.listdir(m.data_dir))
        with open(segs[-1], 'r+b') as f:
            data = f.read()
            off = 0
            # Records end at the first all-zero header (or the file end).
            while off + 32 <= len(data) and data[off:off + 32] != bytes(32):
                length = struct.unpack_from('<I', data, off + 12)[0]
                off += 32 + length
            f.seek(off)
            hs = struct.pack('<QQQ', U64_MAX, 0, 0)
            f.write(frame(FRAME_HARD_STATE, hs, U64_MAX, 0))
            f.flush()
            os.fsync(f.fileno())
        m.start()
        try:
            rc = m.proc.wait(timeout=harness.WAIT_S)
        except Exception:
            m.kill()
            raise
        m.expected_exit = True
        log = m.log_since_start()
        self.assertGreater(rc, 0, log)  # an exit status, not a signal
        self.assertIn('out of range', log)
        self.assertNotIn('Assertion', log)
        self.assertNotIn('AddressSanitizer', log)
        # Not retried: the same refusal every time, nothing changed.
        m.start()
        self.assertGreater(m.proc.wait(timeout=harness.WAIT_S), 0)
        m.expected_exit = True


if __name__ == '__main__':
    harness.main()
