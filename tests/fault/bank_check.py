# bank_check.py - the invariant of the nemesis run's bank workload (tests/
# fault/run --bank M): K accounts bank/a0.. hold decimal balances that
# start at 100 each; transfers move money between two of them in one
# transaction, so every consistent read of all of them sums to K * 100 and
# no balance is negative. The workload reads every account in one read-only
# transaction (a list of the prefix or a get of each account) and checks
# each such read here, and the final linearizable listing at the end.
#
# A read is wrong when:
#
#   accounts  an account is missing, or a key under the prefix is not one;
#   value     a balance is not a decimal number;
#   negative  a balance is below zero;
#   total     the balances do not sum to the total.

import base64

PREFIX = 'bank/'
START = 100


def account_keys(k):
    return ['%sa%d' % (PREFIX, i) for i in range(k)]


def encode(n):
    """A balance as a txn value (base64 of its decimal digits)."""
    return base64.b64encode(str(n).encode('ascii')).decode('ascii')


def decode(b64):
    """A txn value (base64) as a balance; None if it is not a number."""
    try:
        s = base64.b64decode(b64, validate=True).decode('ascii')
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not s or not (s.isdigit() or (s[0] == '-' and s[1:].isdigit())):
        return None
    return int(s)


def from_results(results):
    """The balances a read-only txn returned, {key: value (base64) or
    None when absent}: from a list result ({"kvs": [...]}) or from get
    results ({"key", "value"}), in any mix."""
    out = {}
    for r in results:
        if 'kvs' in r:
            for kv in r['kvs']:
                out[kv['key']] = kv['value']
        elif 'key' in r:
            out[r['key']] = r.get('value')
    return out


def check_read(balances, k, total=None):
    """The problems of one read of all accounts, {key: base64 value or
    None}: [] when it is consistent."""
    if total is None:
        total = k * START
    keys = account_keys(k)
    problems = []
    missing = [a for a in keys if balances.get(a) is None]
    extra = sorted(set(balances) - set(keys))
    if missing:
        problems.append('accounts: missing %s' % ', '.join(missing))
    if extra:
        problems.append('accounts: not accounts: %s' % ', '.join(extra))
    nums = {}
    for a in keys:
        v = balances.get(a)
        if v is None:
            continue
        n = decode(v)
        if n is None:
            problems.append('value: %s is %r' % (a, v))
            continue
        nums[a] = n
        if n < 0:
            problems.append('negative: %s is %d' % (a, n))
    if not missing and len(nums) == len(keys):
        s = sum(nums.values())
        if s != total:
            problems.append('total: %d, not %d (%s)' % (
                s, total, ' '.join('%s=%d' % (a[len(PREFIX):], nums[a])
                                   for a in keys)))
    return problems
