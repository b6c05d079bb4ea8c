# test_member_pool.py - a follower relaying requests to the leader reuses
# its connection to the leader's client URL (server/member_pool.c): 20
# keepalives relayed through a follower cost the leader at most a couple
# of accepted connections, over http:// and over https:// (where each one
# saved is a TLS handshake); a leader killed between relays, and started
# again and made leader again, leaves no stale connection in use: every
# relayed request is answered 200, or the documented 503 while no leader
# is reachable; over https://, SIGHUP's reload closes the idle
# connections, so the next relay presents the reloaded certificate.
#
# Uses tests/integration/harness.py; argv[1] is the kvd binary.

import json
import signal

import harness
from harness import ClusterTest, wait_for

RELAYS = 20


class PoolTest(ClusterTest):
    """Runs on a plain cluster; TlsPoolTest runs it over HTTPS."""

    def grant(self):
        c = self.cluster

        def once():
            r = c.find_leader().request('POST', '/v1/leases',
                                        json.dumps({'ttl': 600}))
            return r.json()['id'] if r.status == 200 else None
        return wait_for(once, what='a lease granted')

    def keepalive(self, m, lease):
        return m.request('POST', '/v1/leases/%d/keepalive' % lease)

    def test_1_relays_reuse_one_connection(self):
        c = self.cluster
        lease = self.grant()
        last = None
        # A leader change in the middle spreads the relays over two
        # leaders: measured again then.
        for _ in range(5):
            lid, term = c.wait_leader()
            leader = c[lid]
            f = [m for m in c.live() if m.id != lid][0]
            accepted = leader.metric('kvd_http_connections_accepted_total')
            opened = f.metric('kvd_member_connections_opened_total')
            reused = f.metric('kvd_member_connections_reused_total')
            codes = [self.keepalive(f, lease).status for _ in range(RELAYS)]
            st = f.try_status()
            if codes != [200] * RELAYS or st is None or \
                    st['leader'] != lid or st['term'] != term:
                last = (codes, st)
                continue
            # This scrape's own connection, and the one the relays
            # share (a second one only if the leader closed the first).
            dl = leader.metric('kvd_http_connections_accepted_total') - \
                accepted
            do = f.metric('kvd_member_connections_opened_total') - opened
            dr = f.metric('kvd_member_connections_reused_total') - reused
            self.assertLessEqual(dl, 3, 'the leader accepted %d '
                                 'connections for %d relays' % (dl, RELAYS))
            self.assertLessEqual(do, 2)
            self.assertGreaterEqual(dr, RELAYS - 2)
            return
        self.fail('no %d relays under one leader; last: %r' % (RELAYS, last))

    def relay_until_ok(self, f, lease):
        """Keepalives through f until one is 200; every other answer
        must be the documented 503."""
        def once():
            r = self.keepalive(f, lease)
            if r.status != 200:
                self.assertError(r, 503, 'unavailable')
                return None
            return r
        return wait_for(once, timeout=60, what='a relayed keepalive')

    def test_2_killed_leader(self):
        c = self.cluster
        lease = self.grant()
        lid, _ = c.wait_leader()
        old = c[lid]
        f = [m for m in c.live() if m.id != lid][0]
        self.relay_until_ok(f, lease)
        # The follower keeps a connection to the leader, which dies.
        old.kill()
        c.wait_leader()
        self.relay_until_ok(f, lease)
        # Back at the same URL, and leading again: the follower's next
        # relays there take a new connection, not the closed one.
        old.start()
        c.wait_leader()
        c.wait_converged()

        def leads():
            lid, _ = c.wait_leader()
            if lid == old.id:
                return True
            c[lid].request('POST', '/v1/leader/transfer',
                           json.dumps({'to': old.id}), timeout=30)
            return False
        wait_for(leads, timeout=120, interval=0.5,
                 what='the restarted member leading')
        f = [m for m in c.live() if m.id != old.id][0]
        self.relay_until_ok(f, lease)


class TlsPoolTest(PoolTest):
    CLUSTER_KW = {'tls': True}

    def test_3_sighup_closes_idle_connections(self):
        # Reloaded certificates are presented from the next relay on: the
        # idle connections made with the old ones are closed.
        c = self.cluster
        lease = self.grant()
        for _ in range(5):
            lid, term = c.wait_leader()
            f = [m for m in c.live() if m.id != lid][0]
            self.relay_until_ok(f, lease)
            reloads = f.log_since_start().count(
                'SIGHUP: client certificates reloaded')
            f.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: f.log_since_start().count(
                'SIGHUP: client certificates reloaded') > reloads,
                what='the reload logged')
            opened = f.metric('kvd_member_connections_opened_total')
            r = self.keepalive(f, lease)
            st = f.try_status()
            if r.status != 200 or st is None or st['leader'] != lid or \
                    st['term'] != term:
                continue
            self.assertEqual(
                f.metric('kvd_member_connections_opened_total'),
                opened + 1)
            return
        self.fail('no relay after a reload under one leader')


if __name__ == '__main__':
    harness.main()
