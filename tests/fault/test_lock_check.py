# test_lock_check.py - the lock workload's checker (lock_check.py) on
# hand-made attempts: sections one after another pass, with lost ones and
# failed attempts counted; planted overlaps (of finished sections, of a
# lost section whose end is its kvctl's exit, touching ends) fail, as do
# fencing tokens that do not grow, a section entered twice, a torn line
# and an unfinished section that kvctl reported as a success.

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lock_check import Attempt, check, parse_line  # noqa: E402


def run(client, start, exit_, status, *lines):
    return Attempt(client, start, exit_, status, list(lines))


def sec(client, start, enter, end, lease=7, index=None):
    """A finished section: kvctl started at start, exited just after; its
    lock index is its enter time unless given."""
    return run(client, start, end + 5, 0,
               'enter %d %d %d %d' % (client, enter, lease,
                                      enter if index is None else index),
               'exit %d %d' % (client, end))


def kinds(res):
    return sorted({f.split(':')[0] for f in res.failures})


class CheckTest(unittest.TestCase):
    def test_sequential(self):
        atts = [sec(0, 0, 10, 20), sec(1, 0, 25, 40), sec(2, 15, 41, 60),
                sec(0, 30, 70, 80)]
        res = check(atts)
        self.assertEqual(res.failures, [])
        self.assertEqual(len(res.sections), 4)
        self.assertEqual(res.lost, 0)
        self.assertEqual(res.waits_ms(), [x / 1e6 for x in (10, 25, 26,
                                                             40)])

    def test_lost_and_unacquired(self):
        # Client 1's section was killed: it ends at its kvctl's exit (50),
        # before client 2 enters. Client 0's second run never got the lock.
        atts = [sec(0, 0, 10, 20),
                Attempt(1, 0, 50, 5, ['enter 1 30 8'], lost_msg=True),
                sec(2, 0, 51, 60),
                run(0, 21, 90, 1)]
        res = check(atts)
        self.assertEqual(res.failures, [])
        self.assertEqual(len(res.sections), 3)
        self.assertEqual(res.lost, 1)
        self.assertEqual(res.lost_msgs, 1)
        self.assertEqual(res.unacquired, 1)
        self.assertEqual(res.attempts, 4)

    def test_overlap(self):
        res = check([sec(0, 0, 10, 30), sec(1, 0, 29, 40)])
        self.assertEqual(kinds(res), ['overlap'])

    def test_overlap_contained(self):
        # A short section inside a long one, after other sections.
        res = check([sec(0, 0, 10, 100), sec(1, 0, 20, 30),
                     sec(2, 0, 40, 50)])
        self.assertEqual(kinds(res), ['overlap'])
        self.assertEqual(len(res.failures), 2)

    def test_overlap_touching(self):
        res = check([sec(0, 0, 10, 30), sec(1, 0, 30, 40)])
        self.assertEqual(kinds(res), ['overlap'])

    def test_overlap_with_lost_section(self):
        # The killed section's end is its kvctl's exit (60): the next
        # entered before it.
        atts = [Attempt(0, 0, 60, 5, ['enter 0 10 7'], lost_msg=True),
                sec(1, 0, 55, 70)]
        res = check(atts)
        self.assertEqual(kinds(res), ['overlap'])

    def test_overlap_same_client(self):
        # One client's runs are sequential, but an orphaned section of an
        # earlier run may outlive its kvctl.
        res = check([run(0, 0, 20, 0, 'enter 0 10 7', 'exit 0 40'),
                     sec(0, 21, 30, 50)])
        self.assertIn('overlap', kinds(res))

    def test_entered_twice(self):
        res = check([run(0, 0, 50, 0, 'enter 0 10 7', 'exit 0 20',
                         'enter 0 30 7', 'exit 0 40')])
        self.assertEqual(kinds(res), ['twice'])

    def test_torn_line(self):
        res = check([run(0, 0, 50, 4, 'enter 0 10 7', 'exi')])
        self.assertEqual(kinds(res), ['torn'])
        res = check([run(0, 0, 50, 4, 'enter 1 10 7')])
        self.assertEqual(kinds(res), ['torn'])

    def test_unfinished_success(self):
        res = check([run(0, 0, 50, 0, 'enter 0 10 7')])
        self.assertEqual(kinds(res), ['unfinished'])
        self.assertEqual(res.lost, 1)

    def test_time(self):
        res = check([run(0, 20, 50, 0, 'enter 0 10 7', 'exit 0 30')])
        self.assertEqual(kinds(res), ['time'])
        res = check([run(0, 0, 50, 0, 'enter 0 30 7', 'exit 0 20')])
        self.assertEqual(kinds(res), ['time'])

    def test_many_overlaps_are_summed_up(self):
        atts = [sec(i, 0, 10 + i, 100) for i in range(15)]
        res = check(atts, max_reports=3)
        self.assertEqual(len(res.failures), 4)
        self.assertIn('11 more', res.failures[-1])

    def test_fence(self):
        # Apart in time, but the later holder's key is older.
        res = check([sec(0, 0, 10, 20, index=50), sec(1, 0, 30, 40,
                                                       index=45)])
        self.assertEqual(kinds(res), ['fence'])
        res = check([sec(0, 0, 10, 20, index=50), sec(1, 0, 30, 40,
                                                       index=50)])
        self.assertEqual(kinds(res), ['fence'])
        # Unknown indexes are left out.
        res = check([sec(0, 0, 10, 20, index=50),
                     run(1, 0, 45, 0, 'enter 1 30 7 -', 'exit 1 40'),
                     sec(2, 0, 50, 60, index=51)])
        self.assertEqual(res.failures, [])

    def test_parse_line(self):
        self.assertEqual(parse_line('enter 3 12 99 41'),
                         ('enter', '3', 12, '99', 41))
        self.assertEqual(parse_line('enter 3 12 - -'),
                         ('enter', '3', 12, None, None))
        self.assertEqual(parse_line('enter 3 12 99'),
                         ('enter', '3', 12, '99', None))
        self.assertEqual(parse_line('exit 3 13'),
                         ('exit', '3', 13, None, None))
        self.assertIsNone(parse_line('exit 3'))
        self.assertIsNone(parse_line('enter 3 x 1'))
        self.assertIsNone(parse_line(''))


if __name__ == '__main__':
    unittest.main()
