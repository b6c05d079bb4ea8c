# replog_check.py - the checker of the replog fault run (tests/fault/
# replog_run): every output of every member is a prefix of one common
# sequence of committed lines, and no line any member printed is lost.
#
# A run is one process of one member, from its start to its end: replog
# prints INDEX<TAB>LINE for every committed line in index order, and a
# restarted member prints every line again from the first. The checks:
#
#   increasing  within a run, indexes strictly increase;
#   agreement   the line at an index is the same in every run of every
#               member;
#   prefix      each run's indexes are exactly the common sequence's
#               indexes up to the run's last one: no index missing in the
#               middle. Gaps in the numbering itself (entries that are not
#               lines: leader no-ops, configuration changes) are allowed,
#               since every run has the same ones;
#   not lost    every line any run printed is in the final output of every
#               member (its last run, after the cluster healed and
#               converged);
#   once        no line appears at two indexes: replog never retries a
#               proposal, and the harness writes each line once;
#   known       (when the lines written are given) every line printed was
#               written to some member's stdin.
#
# Lines whose proposal failed (reported on stderr) may be missing; they may
# also be present, since a proposal that timed out may still commit.

import collections


class Run:
    """One process of a member: entries is [(index, line)] in the order
    printed; final marks the member's last run, which the checks of lost
    lines compare against."""

    def __init__(self, member, run, entries, final=False):
        self.member = member
        self.run = run
        self.entries = list(entries)
        self.final = final

    def name(self):
        return 'member %s run %s' % (self.member, self.run)

    def last_index(self):
        return self.entries[-1][0] if self.entries else 0


class Result:
    def __init__(self):
        self.failures = []
        self.sequence = []  # [(index, line)], the common sequence
        self.lines = 0      # distinct lines committed

    @property
    def ok(self):
        return not self.failures


def _short(items, n=5):
    items = sorted(items)
    more = ' ...' if len(items) > n else ''
    return ', '.join(repr(x) for x in items[:n]) + more


def converged(runs):
    """True when every final run ends at the same index, and no run of any
    member printed beyond it: the outputs are complete and can be checked."""
    finals = [r for r in runs if r.final]
    if not finals:
        return False
    ends = {r.last_index() for r in finals}
    if len(ends) != 1:
        return False
    end = ends.pop()
    return all(r.last_index() <= end for r in runs)


def check(runs, written=None, limit=10):
    """Checks the runs; returns a Result whose failures (at most `limit` of
    each kind) say what is wrong, and whose sequence is the common
    sequence."""
    res = Result()
    fails = collections.defaultdict(list)

    # increasing
    increasing = {}
    for r in runs:
        prev = 0
        ok = True
        for idx, _ in r.entries:
            if idx <= prev:
                fails['increasing'].append(
                    '%s: index %d after %d' % (r.name(), idx, prev))
                ok = False
                break
            prev = idx
        increasing[id(r)] = ok

    # agreement
    at = {}     # index -> (line, run name)
    for r in runs:
        for idx, line in r.entries:
            seen = at.get(idx)
            if seen is None:
                at[idx] = (line, r.name())
            elif seen[0] != line:
                fails['agreement'].append(
                    'index %d: %s printed %r, %s printed %r' % (
                        idx, seen[1], seen[0], r.name(), line))
    common = sorted(at)
    res.sequence = [(i, at[i][0]) for i in common]

    # prefix
    for r in runs:
        if not increasing[id(r)]:
            continue
        idxs = [i for i, _ in r.entries]
        want = common[:len(idxs)]
        if idxs != want:
            k = next(j for j in range(len(idxs)) if idxs[j] != want[j])
            fails['prefix'].append(
                '%s: index %d missing (its output goes on with %d)' % (
                    r.name(), want[k], idxs[k]))

    # not lost
    printed = {line for line, _ in at.values()}
    finals = [r for r in runs if r.final]
    for r in finals:
        have = {line for _, line in r.entries}
        lost = printed - have
        if lost:
            fails['lost'].append(
                '%s (final): %d printed lines missing, e.g. %s' % (
                    r.name(), len(lost), _short(lost)))

    # once
    where = collections.defaultdict(list)
    for idx in common:
        where[at[idx][0]].append(idx)
    for line, idxs in sorted(where.items()):
        if len(idxs) > 1:
            fails['once'].append('line %r at indexes %s' % (
                line, ', '.join(str(i) for i in idxs)))
    res.lines = len(where)

    # known
    if written is not None:
        unknown = printed - set(written)
        if unknown:
            fails['known'].append('%d lines printed that were never '
                                  'written, e.g. %s' % (len(unknown),
                                                        _short(unknown)))

    for kind in ('increasing', 'agreement', 'prefix', 'lost', 'once',
                 'known'):
        fl = fails.get(kind, [])
        res.failures.extend('%s: %s' % (kind, f) for f in fl[:limit])
        if len(fl) > limit:
            res.failures.append('%s: %d more' % (kind, len(fl) - limit))
    return res
