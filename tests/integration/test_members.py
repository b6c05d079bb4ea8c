# test_members.py - membership changes on real kvd processes: growing and
# shrinking under writes, replacing a member, removing the leader, a removed
# member that cannot disturb the cluster, and the errors of the endpoints.

import json
import threading
import time

import harness
from harness import ClusterTest, wait_for


def members_of(m):
    """{id: voter} from GET /v1/members of member m."""
    r = m.request('GET', '/v1/members', timeout=5)
    assert r.status == 200, r
    return {x['id']: x['voter'] for x in r.json()['members']}


def add(via, new, timeout=30):
    return via.request('POST', '/v1/members',
                       json.dumps({'id': new.id, 'peer_url': new.peer_url}),
                       timeout=timeout)


def remove(via, mid, timeout=30):
    return via.request('DELETE', '/v1/members/%d' % mid, timeout=timeout)


class Writer:
    """Writes keys w/0, w/1, ... through the given members in turn, until
    stopped; remembers every acknowledged (200) write."""

    def __init__(self, members):
        self.members = list(members)
        self.acked = {}
        self.failed = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop_ev.is_set():
            m = self.members[i % len(self.members)]
            key, val = 'w/%06d' % i, b'v%d' % i
            try:
                r = m.put(key, val, timeout=5)
                if r.status == 200:
                    self.acked[key] = val
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1
            i += 1

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join(30)


class GrowShrinkTest(ClusterTest):
    """3 -> 5 -> 3 members while writes go on: no acknowledged write is
    lost, and the new members vote."""

    def test_grow_then_shrink_under_writes(self):
        c = self.cluster
        first = c.all()
        new = [c.add_member(4), c.add_member(5)]
        for m in new:
            m.start()
            wait_for(lambda: m.request('GET', '/healthz', timeout=2)
                     .status == 200, what='member %d /healthz' % m.id)
            # Waiting to be added: no leader known, not ready.
            self.assertEqual(m.request('GET', '/readyz').status, 503)
        with Writer(first) as w:
            wait_for(lambda: len(w.acked) > 0, what='a first write')
            # Through a follower (relayed to the leader) and the leader.
            lid, _ = c.wait_leader(members=first)
            r = add([m for m in first if m.id != lid][0], new[0])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(members_of(c[1]).get(4), True)
            r = add(c[lid], new[1])
            self.assertEqual(r.status, 200, r)
            for m in c.all():
                wait_for(lambda: members_of(m) ==
                         {1: True, 2: True, 3: True, 4: True, 5: True},
                         what='member %d sees 5 voters' % m.id)
            self.assertEqual(new[1].try_status()['state'] in
                             ('follower', 'leader'), True)
            acked_mid = len(w.acked)
            wait_for(lambda: len(w.acked) > acked_mid,
                     what='a write acknowledged by 5 members')
            acked_mid = len(w.acked)
            for m in reversed(new):
                r = remove(c[2], m.id)
                self.assertEqual(r.status, 200, r)
            wait_for(lambda: len(w.acked) > acked_mid,
                     what='a write acknowledged after the removals')
        self.assertGreater(acked_mid, 0)
        self.assertGreater(len(w.acked), acked_mid)
        for m in first:
            wait_for(lambda: members_of(m) == {1: True, 2: True, 3: True},
                     what='member %d sees 3 voters' % m.id)
        for m in new:
            wait_for(lambda: (m.try_status() or {}).get('state') ==
                     'removed', what='member %d says removed' % m.id)
            self.assertIn('was removed from the cluster',
                          m.log_since_start())
        c.wait_leader(members=first)
        c.wait_converged(members=first)
        # No acknowledged write is lost, on any remaining member.
        for m in first:
            r = m.list('w/', limit=10000)
            self.assertEqual(r.status, 200, r)
            got = {kv['key']: harness.base64.b64decode(kv['value'])
                   for kv in r.json()['kvs']}
            for k, v in w.acked.items():
                self.assertEqual(got.get(k), v, 'member %d key %s'
                                 % (m.id, k))
        self.assertEqual(c.put('after', b'x', via=lambda: c[1]).status, 200)
        for m in new:
            m.kill()


class ReplaceTest(ClusterTest):
    """Replace member 3 by member 4 (add the new, remove the old); the new
    member restarts from its members.json."""

    def test_replace_member(self):
        c = self.cluster
        self.assertEqual(c.put('before', b'1').status, 200)
        m4 = c.add_member(4)
        m4.start()
        r = add(c[3], m4)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: m4.get('before', stale=True).body == b'1',
                 what='member 4 has the data')
        r = remove(c[1], 3)
        self.assertEqual(r.status, 200, r)
        c[3].kill()
        rest = [c[1], c[2], m4]
        c.wait_leader(members=rest)
        # Member 4 learns the removal when the entry reaches it, and its
        # members.json follows once it has applied it: wait for each.
        wait_for(lambda: members_of(m4) == {1: True, 2: True, 4: True},
                 what='member 4 lists members 1, 2 and 4')

        def stored():
            with open(m4.data_dir + '/members.json') as f:
                return {x['id'] for x in json.load(f)['members']}
        wait_for(lambda: stored() == {1, 2, 4},
                 what="member 4's members.json holds members 1, 2 and 4")
        # A restart knows its peers without --initial-cluster.
        m4.kill()
        m4.start()
        c.wait_leader(members=rest)
        self.assertEqual(c.put('after', b'2', via=lambda: m4).status, 200)
        wait_for(lambda: c[1].get('after', stale=True).body == b'2',
                 what='write through the restarted member')
        m4.kill()


class RemoveLeaderTest(ClusterTest):
    """Removing the leader: it steps down once C_new commits, another
    member leads, and the old leader reports itself removed."""

    def test_remove_the_leader(self):
        c = self.cluster
        leader = c.leader()
        _, term = c.wait_leader()
        r = remove(leader, leader.id)
        self.assertEqual(r.status, 200, r)
        rest = [m for m in c.all() if m.id != leader.id]
        lid, term2 = c.wait_leader(members=rest)
        self.assertNotEqual(lid, leader.id)
        self.assertGreater(term2, term)
        wait_for(lambda: (leader.try_status() or {}).get('state') ==
                 'removed', what='old leader says removed')
        self.assertEqual(c.put('k', b'v').status, 200)
        self.assertEqual(set(members_of(c[lid])), {m.id for m in rest})


class RemovedMemberQuietTest(ClusterTest):
    """A member removed while it was cut off still believes it votes; its
    campaigns (PreVote, unknown to the others) never depose the leader."""

    def test_removed_member_does_not_disturb(self):
        c = self.cluster
        lid, term = c.wait_leader()
        victim = [m for m in c.all() if m.id != lid][0]
        victim.pause()  # misses its removal
        r = remove(c[lid], victim.id)
        self.assertEqual(r.status, 200, r)
        rest = [m for m in c.all() if m.id != victim.id]
        victim.resume()
        # Well past its election timeout, several times over. The victim
        # campaigns all along, so if it can depose the leader it does so
        # in every window; an election of the others' own (a loaded
        # machine) does not come back each time.
        for _ in range(3):
            lid2, term2 = c.wait_leader(members=rest)
            deadline = time.monotonic() + 8 * c.election_timeout_ms / 1000.0
            changed = None
            while time.monotonic() < deadline and changed is None:
                st = c[lid2].try_status()
                if st is not None and \
                        (st['leader'], st['term']) != (lid2, term2):
                    changed = st
                time.sleep(0.1)
            if changed is None:
                break
        self.assertIsNone(changed, 'leader %d of term %d deposed in each '
                          'of 3 windows' % (lid2, term2))
        self.assertEqual(c.put('k', b'v', via=lambda: c[lid2]).status, 200)
        st = victim.try_status()
        self.assertNotEqual(st['state'], 'leader')


class JoinFromSnapshotTest(ClusterTest):
    """A new member whose entries were compacted away joins through a
    snapshot, which carries the configuration."""

    CLUSTER_ARGS = ('--snapshot-entries', '20')

    def test_join_through_a_snapshot(self):
        c = self.cluster
        for i in range(120):
            self.assertEqual(c.put('s/%03d' % i, b'%d' % i).status, 200)
        wait_for(lambda: all((m.try_status() or {}).get('snapshot_index', 0)
                             > 0 for m in c.all()),
                 what='every member compacted')
        m4 = c.add_member(4)
        m4.start()
        r = add(c[2], m4)
        self.assertEqual(r.status, 200, r)
        wait_for(lambda: m4.get('s/119', stale=True).body == b'119',
                 what='member 4 has the data')
        st = m4.try_status()
        self.assertEqual(st['state'] in ('follower', 'leader'), True, st)
        self.assertEqual({x['id']: x['voter'] for x in st['members']},
                         {1: True, 2: True, 3: True, 4: True})
        self.assertIn('installed snapshot', m4.log_since_start())
        # Restarted, it knows it is a voter from the snapshot and log.
        m4.kill()
        m4.start()
        c.wait_leader(members=c.all())
        self.assertEqual(m4.try_status()['state'] in ('follower', 'leader'),
                         True)
        self.assertEqual(c.put('after', b'x', via=lambda: m4).status, 200)
        m4.kill()


class MemberErrorsTest(ClusterTest):
    """400 for bad input, duplicates; 404 for an unknown member; 409 while
    another change is under way."""

    def test_bad_requests(self):
        c = self.cluster
        m = c.follower()
        for body in ('', '{', '[]', '{"id": 0, "peer_url": "http://h:1"}',
                     '{"id": 7}', '{"id": 7, "peer_url": "ftp://x"}',
                     '{"id": "7", "peer_url": "http://h:1"}'):
            self.assertError(m.request('POST', '/v1/members', body), 400,
                             'bad_request')
        # A duplicate id, a duplicate peer URL.
        self.assertError(add(m, c[2]), 400, 'bad_request')
        dup = {'id': 9, 'peer_url': c[3].peer_url}
        self.assertError(m.request('POST', '/v1/members', json.dumps(dup)),
                         400, 'bad_request')
        self.assertError(remove(m, 42), 404, 'not_found')
        self.assertError(m.request('DELETE', '/v1/members/x'), 400,
                         'bad_request')

    def test_conflict_while_a_change_is_under_way(self):
        c = self.cluster
        # Member 6 is never started: it stays a learner that does not
        # catch up, so its change stays under way until it times out.
        m6 = c.add_member(6)
        first = {}

        def slow():
            first['r'] = add(c[1], m6)

        t = threading.Thread(target=slow)
        t.start()
        wait_for(lambda: 6 in members_of(c[1]), what='learner 6')
        m7 = c.add_member(7)
        self.assertError(add(c[2], m7), 409, 'conflict')
        t.join(60)
        self.assertIn(first['r'].status, (503, 504), first['r'])
        self.assertEqual(members_of(c[1]).get(6), False)
        # A learner is removed in one step, once the leader gave up on
        # the first change too (the relaying member may answer first).
        r = wait_for(lambda: (lambda r: r if r.status != 409 else None)(
            remove(c[3], 6)), what='the first change ends')
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(6, members_of(c[1]))
        del c.members[6]
        del c.members[7]


if __name__ == '__main__':
    harness.main()
