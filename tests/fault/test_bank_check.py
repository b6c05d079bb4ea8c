# test_bank_check.py - the bank workload's invariant (bank_check.py) on
# hand-made reads: consistent reads pass, from a list or from gets; a
# wrong total, a negative balance, a missing or extra account and a value
# that is not a number each fail with their own message.

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bank_check import (account_keys, check_read, decode, encode,  # noqa
                        from_results)

K = 4


def read(*nums):
    return {a: encode(n) for a, n in zip(account_keys(K), nums)}


def kinds(problems):
    return sorted({p.split(':')[0] for p in problems})


class CheckTest(unittest.TestCase):
    def test_consistent(self):
        self.assertEqual(check_read(read(100, 100, 100, 100), K), [])
        self.assertEqual(check_read(read(0, 250, 50, 100), K), [])

    def test_total(self):
        p = check_read(read(100, 100, 100, 99), K)
        self.assertEqual(kinds(p), ['total'])
        self.assertIn('399, not 400', p[0])
        p = check_read(read(100, 100, 100, 101), K)
        self.assertEqual(kinds(p), ['total'])

    def test_negative(self):
        # The total is right, a balance below zero is not.
        p = check_read(read(-10, 110, 100, 200), K)
        self.assertEqual(kinds(p), ['negative'])

    def test_accounts(self):
        b = read(100, 100, 100, 100)
        del b['bank/a2']
        self.assertEqual(kinds(check_read(b, K)), ['accounts'])
        b = read(100, 100, 100, 100)
        b['bank/a2'] = None
        self.assertEqual(kinds(check_read(b, K)), ['accounts'])
        b = read(100, 100, 100, 100)
        b['bank/x'] = encode(0)
        self.assertEqual(kinds(check_read(b, K)), ['accounts'])

    def test_value(self):
        b = read(100, 100, 100, 100)
        b['bank/a1'] = 'eHl6'  # "xyz"
        self.assertEqual(kinds(check_read(b, K)), ['value'])
        self.assertIsNone(decode('!!'))
        self.assertIsNone(decode(''))
        self.assertEqual(decode(encode(-3)), -3)

    def test_from_results(self):
        lst = [{'kvs': [{'key': 'bank/a0', 'value': encode(40), 'index': 3},
                        {'key': 'bank/a1', 'value': encode(160),
                         'index': 9}], 'more': False}]
        self.assertEqual(from_results(lst), {'bank/a0': encode(40),
                                             'bank/a1': encode(160)})
        gets = [{'key': 'bank/a0', 'value': encode(1), 'index': 3},
                {'key': 'bank/a1', 'value': None, 'index': 0}]
        self.assertEqual(from_results(gets), {'bank/a0': encode(1),
                                              'bank/a1': None})
        self.assertEqual(kinds(check_read(from_results(gets), 2)),
                         ['accounts'])


if __name__ == '__main__':
    unittest.main()
