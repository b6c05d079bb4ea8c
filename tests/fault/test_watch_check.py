# test_watch_check.py - the watchers' checker (watch_check.py) on hand-made
# histories: a correct one passes, and each kind of violation (a gap, a
# duplicate, a phantom, a reorder, a wrong index, an event outside the
# watch, a replay that disagrees with the store) fails with its own message.

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from watch_check import Write, check  # noqa: E402

P = 'w/'


def writes():
    """Under w/: acknowledged puts and deletes, a delete of an absent key,
    a refused cas, and writes whose outcome is unknown (one applied, one
    not); one write outside the prefix."""
    return [
        Write('put', 'w/a', b'a1', 'ok', 5),
        Write('put', 'w/b', b'b1', 'ok', 6),
        Write('delete', 'w/a', None, 'ok', 8, deleted=True),
        Write('delete', 'w/z', None, 'ok', 9, deleted=False),
        Write('put', 'w/b', b'b2', 'fail'),
        Write('put', 'w/b', b'b3', 'info'),     # applied at 11
        Write('put', 'w/a', b'a2', 'info'),     # never applied
        Write('delete', 'w/b', None, 'info'),   # applied at 14
        Write('put', 'w/c', b'c1', 'ok', 15),
        Write('put', 'x/a', b'x1', 'ok', 7),
    ]


EVENTS = [('put', 'w/a', b'a1', 5), ('put', 'w/b', b'b1', 6),
          ('delete', 'w/a', None, 8), ('put', 'w/b', b'b3', 11),
          ('delete', 'w/b', None, 14), ('put', 'w/c', b'c1', 15)]
FINAL = {'w/c': (b'c1', 15)}


def kinds(res):
    return sorted({f.split(':')[0] for f in res.failures})


class CheckTest(unittest.TestCase):
    def test_correct(self):
        res = check(P, writes(), EVENTS, last=20, final=FINAL)
        self.assertEqual(res.failures, [])
        self.assertEqual(res.events, 6)
        self.assertEqual(res.acknowledged, 4)
        self.assertEqual(res.unknown, 2)

    def test_unknown_writes_may_be_missing(self):
        ev = [e for e in EVENTS if e[3] not in (11, 14)]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(res.failures, [])
        self.assertEqual(res.unknown, 0)

    def test_gap(self):
        ev = EVENTS[:2] + EVENTS[3:]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['gap'])
        self.assertIn("delete 'w/a'", res.failures[0])
        self.assertIn('@8', res.failures[0])

    def test_gap_at_the_end_needs_last(self):
        # Not known to have caught up past 14: w/c@15 may still come.
        self.assertEqual(check(P, writes(), EVENTS[:-1], last=14).failures,
                         [])
        self.assertEqual(kinds(check(P, writes(), EVENTS[:-1], last=15)),
                         ['gap'])
        # Without last: up to the last event received.
        self.assertEqual(check(P, writes(), EVENTS[:-1]).failures, [])

    def test_gap_before_first_is_not_asked_for(self):
        res = check(P, writes(), EVENTS[2:], first=7, last=20)
        self.assertEqual(res.failures, [])
        res = check(P, writes(), EVENTS[2:], first=6, last=20)
        self.assertEqual(kinds(res), ['gap'])

    def test_duplicate_same_index(self):
        ev = EVENTS[:3] + [EVENTS[2]] + EVENTS[3:]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['duplicate'])
        self.assertIn("delete 'w/a' @8 again", res.failures[0])

    def test_duplicate_write_at_two_indexes(self):
        # The unknown-outcome put replayed at a second index.
        ev = EVENTS[:4] + [('put', 'w/b', b'b3', 12)] + EVENTS[4:]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['duplicate'])
        self.assertIn('already came at 11', res.failures[0])
        # An acknowledged one too.
        ev = EVENTS + [('put', 'w/a', b'a1', 16)]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['duplicate'])

    def test_phantom(self):
        for bad, why in ((('put', 'w/a', b'zz', 12), 'never written'),
                         (('put', 'w/b', b'b2', 12), 'a refused write'),
                         (('delete', 'w/z', None, 9), 'did not exist'),
                         (('delete', 'w/c', None, 16), 'none of unknown')):
            ev = sorted(EVENTS + [bad], key=lambda e: e[3])
            res = check(P, writes(), ev, last=20)
            self.assertEqual(kinds(res), ['phantom'], bad)
            self.assertIn(why, res.failures[0])
        # One unknown delete explains one delete event, not two.
        ev = EVENTS + [('delete', 'w/b', None, 17)]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['phantom'])

    def test_reorder(self):
        ev = EVENTS[:1] + [EVENTS[2], EVENTS[1]] + EVENTS[3:]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['order'])
        self.assertIn("put 'w/b'=b'b1' @6 after an event at 8",
                      res.failures[0])

    def test_wrong_index(self):
        ev = [EVENTS[0], ('put', 'w/b', b'b1', 7)] + EVENTS[2:]
        res = check(P, writes(), ev, last=20)
        self.assertEqual(kinds(res), ['index'])
        self.assertIn('acknowledged at 6', res.failures[0])

    def test_outside(self):
        ev = EVENTS[:1] + [('put', 'x/a', b'x1', 7)] + EVENTS[1:]
        self.assertEqual(kinds(check(P, writes(), ev, last=20)), ['outside'])
        # Before the first index asked for.
        res = check(P, writes(), EVENTS, first=6, last=20)
        self.assertEqual(kinds(res), ['outside'])

    def test_state(self):
        res = check(P, writes(), EVENTS, last=20,
                    final={'w/c': (b'c1', 15), 'w/b': (b'b3', 11)})
        self.assertEqual(kinds(res), ['state'])
        self.assertIn("'w/b'", res.failures[0])
        res = check(P, writes(), EVENTS, last=20, final={})
        self.assertEqual(kinds(res), ['state'])

    def test_failures_are_capped(self):
        w = [Write('put', 'w/k', b'v%d' % i, 'ok', i) for i in range(1, 30)]
        res = check(P, w, [], last=30, limit=3)
        self.assertEqual(kinds(res), ['gap'])
        self.assertEqual(len(res.failures), 4)
        self.assertEqual(res.failures[-1], 'gap: 26 more')

    def test_workload_must_write_unique_values(self):
        w = writes() + [Write('put', 'w/a', b'a1', 'info')]
        with self.assertRaises(ValueError):
            check(P, w, EVENTS)


if __name__ == '__main__':
    unittest.main()
