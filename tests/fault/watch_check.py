# watch_check.py - the checker of the nemesis run's watchers (tests/fault/
# run): the events one watcher received, over all its reconnections, are
# exactly the committed history of its prefix.
#
# The committed history is derived from the writes the clients issued under
# the prefix, each with its outcome: 'ok' (acknowledged, with the index it
# was applied at; a delete also says whether the key existed), 'fail' (a
# definite refusal: never applied) or 'info' (no definite answer: applied
# at most once, at an index nobody told us). Puts carry values unique per
# key, so a put event names its write. The checks:
#
#   outside    every event is under the prefix, at an index >= the first
#              one asked for (the watcher's first `from`);
#   order      indexes never go down;
#   duplicate  no event twice: the same key at the same index, or the same
#              write (key and value of a put) at two indexes;
#   index      an acknowledged write's event is at the index its answer
#              gave;
#   phantom    every event is a write some client issued and that may have
#              been applied: not a refused one ('fail'), not a delete of a
#              key that did not exist, not more deletes of a key than the
#              unknown-outcome deletes of it can explain;
#   gap        every acknowledged change (a put; a delete of a key that
#              existed) from the first index to the last one the watcher
#              was known to have received everything up to, is there;
#   state      (when the final content of the prefix is given) replaying
#              the events gives it: every key's last event is its value
#              and mod index, or a delete when it is absent. This pins the
#              index of the writes whose outcome was unknown.

import collections


class Write:
    """One write a client issued: op 'put' (value: bytes) or 'delete';
    outcome 'ok', 'fail' or 'info'; for 'ok' the index it was applied at
    and, for a delete, whether the key existed (deleted)."""

    __slots__ = ('op', 'key', 'value', 'outcome', 'index', 'deleted')

    def __init__(self, op, key, value=None, outcome='ok', index=None,
                 deleted=None):
        assert op in ('put', 'delete'), op
        assert outcome in ('ok', 'fail', 'info'), outcome
        assert outcome != 'ok' or isinstance(index, int), index
        assert op != 'delete' or outcome != 'ok' or deleted in (True, False)
        self.op = op
        self.key = key
        self.value = value
        self.outcome = outcome
        self.index = index
        self.deleted = deleted

    def __repr__(self):
        return 'Write(%s %r%s %s%s)' % (
            self.op, self.key,
            ' %r' % _short_value(self.value) if self.op == 'put' else '',
            self.outcome,
            ' @%d' % self.index if self.index is not None else '')


def _short_value(v):
    if v is not None and len(v) > 24:
        return v[:24] + b'...'
    return v


class Result:
    def __init__(self):
        self.failures = []
        self.events = 0        # events checked
        self.acknowledged = 0  # acknowledged changes expected and found
        self.unknown = 0       # events of writes whose outcome was unknown

    @property
    def ok(self):
        return not self.failures


def _ev(e):
    typ, key, value, index = e
    if typ == 'put':
        return 'put %r=%r @%d' % (key, _short_value(value), index)
    return '%s %r @%d' % (typ, key, index)


def check(prefix, writes, events, first=1, last=None, final=None, limit=10):
    """Checks the events [(type, key, value bytes or None, index)] one
    watcher of @prefix received, in order, from index @first on, against
    @writes (every Write under the prefix, any order). @last: the watcher
    is known to have received every change up to this index (None: up to
    its last event). @final: the prefix's content at @last,
    {key: (value, mod index)}, or None. Returns a Result."""
    res = Result()
    fails = collections.defaultdict(list)
    if last is None:
        last = events[-1][3] if events else first - 1

    puts = {}                           # (key, value) -> Write
    acked_del = {}                      # (key, index) -> Write
    unknown_dels = collections.Counter()  # key -> deletes of unknown outcome
    for w in writes:
        if not w.key.startswith(prefix):
            continue
        if w.op == 'put':
            if (w.key, w.value) in puts:
                raise ValueError('two puts of %r with one value: the '
                                 'workload must write unique values' % w.key)
            puts[(w.key, w.value)] = w
        elif w.outcome == 'ok':
            acked_del[(w.key, w.index)] = w
        elif w.outcome == 'info':
            unknown_dels[w.key] += 1

    seen_at = set()     # (key, index) of the events so far
    matched = {}        # id(Write) -> index of its event
    prev = 0
    for e in events:
        typ, key, value, index = e
        res.events += 1
        if not key.startswith(prefix) or index < first:
            fails['outside'].append('%s (prefix %r, from %d)' % (
                _ev(e), prefix, first))
            continue
        if index < prev:
            fails['order'].append('%s after an event at %d' % (_ev(e), prev))
        prev = max(prev, index)
        if (key, index) in seen_at:
            fails['duplicate'].append('%s again' % _ev(e))
            continue
        seen_at.add((key, index))
        if typ == 'put':
            w = puts.get((key, value))
            if w is None or w.outcome == 'fail':
                fails['phantom'].append('%s: %s' % (
                    _ev(e), 'a refused write' if w else 'never written'))
                continue
            if id(w) in matched:
                fails['duplicate'].append('%s: the write already came at '
                                          '%d' % (_ev(e), matched[id(w)]))
                continue
            matched[id(w)] = index
            if w.outcome == 'ok' and w.index != index:
                fails['index'].append('%s: acknowledged at %d' % (
                    _ev(e), w.index))
            if w.outcome == 'info':
                res.unknown += 1
        elif typ == 'delete':
            w = acked_del.get((key, index))
            if w is not None:
                if not w.deleted:
                    fails['phantom'].append('%s: the key did not exist '
                                            '(deleted: false)' % _ev(e))
                    continue
                matched[id(w)] = index
            elif unknown_dels[key] > 0:
                unknown_dels[key] -= 1
                res.unknown += 1
            else:
                fails['phantom'].append('%s: no delete of the key at that '
                                        'index, none of unknown outcome '
                                        'left' % _ev(e))
        else:
            fails['phantom'].append('event of type %r: %r' % (typ, e))

    # gap: acknowledged changes in [first, last] that never came.
    for w in list(puts.values()) + list(acked_del.values()):
        if w.outcome != 'ok' or (w.op == 'delete' and not w.deleted):
            continue
        if not first <= w.index <= last:
            continue
        if id(w) in matched:
            if matched[id(w)] == w.index:
                res.acknowledged += 1
            continue
        fails['gap'].append('%r: no event' % w)

    if final is not None:
        state = {}
        for typ, key, value, index in events:
            if key.startswith(prefix):
                state[key] = (value, index) if typ == 'put' else None
        state = {k: v for k, v in state.items() if v is not None}
        for key in sorted(set(state) | set(final)):
            if state.get(key) != final.get(key):
                fails['state'].append('%r: the events end at %r, the '
                                      'store holds %r' % (
                                          key, state.get(key),
                                          final.get(key)))

    for kind in ('outside', 'order', 'duplicate', 'index', 'phantom', 'gap',
                 'state'):
        fl = fails.get(kind, [])
        res.failures.extend('%s: %s' % (kind, f) for f in fl[:limit])
        if len(fl) > limit:
            res.failures.append('%s: %d more' % (kind, len(fl) - limit))
    return res
