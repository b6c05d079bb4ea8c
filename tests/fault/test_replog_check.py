# test_replog_check.py - the replog run's checker (replog_check.py) on
# synthetic outputs: a correct set passes, and each kind of violation (a
# line that differs at an index, a hole in a run, a lost printed line, a
# line at two indexes, indexes out of order, a line never written) fails
# with its own message.

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replog_check import Run, check, converged  # noqa: E402

# The common sequence: index 1 is the first leader's no-op, 5 a later
# leader's, so lines are numbered 2, 3, 4, 6, 7, 8.
SEQ = [(2, 'm1-1'), (3, 'm2-1'), (4, 'm1-2'), (6, 'm3-1'), (7, 'm2-2'),
       (8, 'm1-3')]
WRITTEN = [line for _, line in SEQ] + ['m3-2']  # m3-2 failed: never shown


def correct():
    """Member 1 ran twice (killed after index 4, then printed all again),
    members 2 and 3 once."""
    return [Run(1, 0, SEQ[:3]), Run(1, 1, SEQ, final=True),
            Run(2, 0, SEQ, final=True), Run(3, 0, SEQ, final=True)]


def kinds(res):
    return sorted({f.split(':')[0] for f in res.failures})


class CheckTest(unittest.TestCase):
    def test_correct(self):
        res = check(correct(), WRITTEN)
        self.assertEqual(res.failures, [])
        self.assertEqual(res.sequence, SEQ)
        self.assertEqual(res.lines, 6)
        self.assertTrue(converged(correct()))

    def test_empty_runs_and_gaps_pass(self):
        # A run killed before it printed anything; a final run may start
        # at any index of the sequence as long as it has them all.
        runs = correct() + [Run(3, 1, [])]
        self.assertEqual(check(runs, WRITTEN).failures, [])

    def test_line_differs_at_an_index(self):
        runs = correct()
        runs[2] = Run(2, 0, SEQ[:3] + [(6, 'm3-X')] + SEQ[4:], final=True)
        res = check(runs)
        self.assertIn('agreement', kinds(res))
        self.assertTrue(any("index 6" in f and "'m3-X'" in f
                            for f in res.failures), res.failures)

    def test_run_with_a_hole(self):
        runs = correct()
        runs[0] = Run(1, 0, [SEQ[0], SEQ[2]])  # index 3 skipped
        res = check(runs, WRITTEN)
        self.assertEqual(kinds(res), ['prefix'])
        self.assertIn('member 1 run 0: index 3 missing', res.failures[0])

    def test_hole_in_a_final_run(self):
        runs = correct()
        runs[3] = Run(3, 0, SEQ[:2] + SEQ[3:], final=True)
        res = check(runs, WRITTEN)
        self.assertIn('prefix', kinds(res))
        self.assertIn('lost', kinds(res))

    def test_lost_printed_line(self):
        # Member 2's first run printed index 9; after the heal no final
        # run has it: the line was printed (acknowledged), then lost.
        runs = correct()
        runs[2] = Run(2, 0, SEQ + [(9, 'm2-3')])
        runs.append(Run(2, 1, SEQ, final=True))
        self.assertFalse(converged(runs))
        res = check(runs, WRITTEN + ['m2-3'])
        self.assertEqual(kinds(res), ['lost'])
        self.assertEqual(len(res.failures), 3)  # each final run lacks it
        self.assertIn("'m2-3'", res.failures[0])

    def test_line_at_two_indexes(self):
        seq = SEQ + [(9, 'm1-2')]
        runs = [Run(m, 0, seq, final=True) for m in (1, 2, 3)]
        res = check(runs, WRITTEN)
        self.assertEqual(kinds(res), ['once'])
        self.assertIn("'m1-2' at indexes 4, 9", res.failures[0])

    def test_indexes_out_of_order(self):
        runs = correct()
        runs[0] = Run(1, 0, [SEQ[1], SEQ[0]])
        res = check(runs, WRITTEN)
        self.assertEqual(kinds(res), ['increasing'])
        runs[0] = Run(1, 0, [SEQ[0], SEQ[0]])
        self.assertEqual(kinds(check(runs, WRITTEN)), ['increasing'])

    def test_line_never_written(self):
        res = check(correct(), WRITTEN[1:])
        self.assertEqual(kinds(res), ['known'])
        self.assertIn("'m1-1'", res.failures[0])

    def test_not_converged(self):
        runs = correct()
        runs[3] = Run(3, 0, SEQ[:4], final=True)  # member 3 still behind
        self.assertFalse(converged(runs))
        self.assertEqual(kinds(check(runs, WRITTEN)), ['lost'])
        self.assertFalse(converged([Run(1, 0, SEQ)]))  # no final run

    def test_failures_are_capped(self):
        seq = [(i, 'l%d' % (i % 3)) for i in range(1, 40)]
        res = check([Run(1, 0, seq, final=True)], limit=4)
        self.assertEqual(kinds(res), ['once'])
        self.assertEqual(len(res.failures), 3)  # l0, l1, l2 repeat
        res = check([Run(1, 0, seq, final=True)], limit=2)
        self.assertEqual(len(res.failures), 3)
        self.assertEqual(res.failures[-1], 'once: 1 more')


if __name__ == '__main__':
    unittest.main()
