#!/usr/bin/env python3
"""lincheck.py - linearizability checker for histories of per-key registers.

A history is a sequence of events: a process invokes an operation (read,
write, cas, delete) on a key and later sees it complete with "ok", "fail" or
"info" (outcome unknown, e.g. a timeout). The history is linearizable when
every operation can be given a single instant between its invocation and its
completion such that, taken in that order, the operations behave like a
plain register per key. Operations whose outcome is unknown complete at
+infinity: they may have taken effect at any time after their invocation, or
never.

Registers are independent, so each key is checked on its own (linearizability
is local: Herlihy & Wing 1990). Each key is searched with the Wing-Gong
algorithm as improved by Lowe ("Testing for linearizability", 2017): a
depth-first search over the operations that may go next, with a cache of
(set of linearized operations, register value) pairs already explored, so
that the same configuration is never searched twice.

Usage: lincheck.py [--format jepsen|jsonl] [--budget-seconds S]
                   [--max-memory-mb MB] [--no-minimize] [-q] FILE...

A violation is explained by the key, the reads (and failed cas) that cannot
all be explained -- reduced by dropping the others while the history stays
non-linearizable, which is sound since dropping an operation that changes
nothing only makes linearizing easier -- and the deepest point the search
reached: the partial linearization, the register value after it, and the
operation that completed without fitting anywhere.

Exit status: 0 every history is linearizable; 1 at least one is not; 3 none
is proven non-linearizable but at least one could not be decided (the time
budget or the search-cache memory limit ran out, or the file could not be
read or parsed); 2 usage error.
A run never passes because it ran out of time or memory.

History formats
---------------
jsonl (our own; the default for files not ending in .log): one JSON object
per line, in real-time order (an invocation is written before the request is
sent, a completion after the reply arrived):

  {"process": P, "type": "invoke"|"ok"|"fail"|"info",
   "f": "read"|"write"|"cas"|"delete", "key": K, "value": V}

* process: any JSON string or integer; a process has at most one operation
  in flight, and each completion belongs to the process's pending invocation.
* key: a string (absent: one unnamed register).
* value: on invoke, write: the value written; cas: [expected, new]; read and
  delete: ignored. On "ok" read: the value read (null: the key is absent).
  Any JSON value; null stands for "absent", which is also the initial state.
* type "fail": the operation certainly did not take effect. For cas it means
  the compare failed (the current value was not the expected one), which is
  checked like a read. "info": the outcome is unknown; the operation may
  take effect at any time after its invocation, or never. Invocations with
  no completion by the end of the file are treated as "info".
* Blank lines and lines starting with '#' are ignored.

jepsen (the default for files ending in .log): the lines Jepsen's util logger
writes for a single register, e.g.
  INFO  jepsen.util - 3	:invoke	:cas	[1 4]
  INFO  jepsen.util - 3	:fail	:cas	[1 4]
Values are integers, nil, or [a b]; other lines (nemesis, logger noise) are
skipped.
"""

import argparse
import json
import math
import re
import sys
import time

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_UNDECIDED = 3

INF = math.inf
OPS = ("read", "write", "cas", "delete")
TYPES = ("invoke", "ok", "fail", "info")

# Limits: a history bigger than this is refused rather than searched badly.
MAX_EVENTS = 10_000_000
MAX_LINE_BYTES = 1 << 20
# The search cache grows with the configurations explored; past this size
# (an estimate) the key is left undecided rather than exhausting memory.
DEFAULT_CACHE_MB = 1024


class HistoryError(Exception):
    """A history that cannot be parsed; carries file and line."""


class BudgetExceeded(Exception):
    """The search did not finish within its time or memory budget."""


class Op:
    """One operation. status: "ok", "fail" (cas compare failed) or "info".

    call and ret are positions in the history (event numbers); ret is INF
    for an operation whose outcome is unknown."""

    __slots__ = ("process", "f", "key", "arg", "out", "status", "call",
                 "ret", "line_call", "line_ret")

    def __init__(self, process, f, key, arg, call, line_call):
        self.process = process
        self.f = f
        self.key = key
        self.arg = arg
        self.out = None
        self.status = None
        self.call = call
        self.ret = INF
        self.line_call = line_call
        self.line_ret = None

    def describe(self):
        """A one-line human description, with the lines it came from."""
        if self.f == "read":
            what = "read -> %s" % fmt_value(self.out)
        elif self.f == "write":
            what = "write(%s)" % fmt_value(self.arg)
        elif self.f == "delete":
            what = "delete"
        else:
            what = "cas(%s, %s)" % (fmt_value(self.arg[0]),
                                    fmt_value(self.arg[1]))
        if self.status == "info":
            where = "invoked at line %d, outcome unknown" % self.line_call
        else:
            if self.f == "cas":
                what += " -> %s" % ("ok" if self.status == "ok"
                                    else "failed")
            where = "lines %d-%d" % (self.line_call, self.line_ret)
        return "process %s: %s (%s)" % (self.process, what, where)


def fmt_value(v):
    if v is None:
        return "nil"
    if isinstance(v, tuple):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return json.dumps(v) if isinstance(v, str) else str(v)


def freeze(v):
    """JSON values made hashable (lists become tuples) for the cache."""
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    return v


# ---------------------------------------------------------------- parsing

class _Builder:
    """Pairs invocations with completions, in history order."""

    def __init__(self, path):
        self.path = path
        self.pending = {}  # process -> Op
        self.ops = []
        self.n = 0  # event counter: the history's clock

    def fail(self, line, msg):
        raise HistoryError("%s:%d: %s" % (self.path, line, msg))

    def event(self, line, process, typ, f, key, value):
        self.n += 1
        if self.n > MAX_EVENTS:
            self.fail(line, "more than %d events" % MAX_EVENTS)
        if typ == "invoke":
            if process in self.pending:
                self.fail(line, "process %s invokes while its operation "
                          "from line %d is pending"
                          % (process, self.pending[process].line_call))
            if f == "write":
                arg = value
            elif f == "cas":
                if not (isinstance(value, tuple) and len(value) == 2):
                    self.fail(line, "cas value must be [expected, new]")
                arg = value
            else:
                arg = None
            self.pending[process] = Op(process, f, key, arg, self.n, line)
            return
        op = self.pending.pop(process, None)
        if op is None:
            self.fail(line, "%s for process %s, which has no pending "
                      "operation" % (typ, process))
        if op.f != f or op.key != key:
            self.fail(line, "%s %s on key %r does not match the pending "
                      "%s on key %r from line %d"
                      % (typ, f, key, op.f, op.key, op.line_call))
        op.line_ret = line
        if typ == "info":
            op.status = "info"  # ret stays INF: may take effect any time
        elif typ == "fail":
            if f != "cas":
                return  # certainly not applied: drop it
            op.status = "fail"
            op.ret = self.n
        else:
            op.status = "ok"
            op.ret = self.n
            if f == "read":
                op.out = value
        if op.f == "read" and op.status == "info":
            return  # a read of unknown outcome constrains nothing
        self.ops.append(op)

    def finish(self):
        # Invocations never completed: outcome unknown.
        for op in self.pending.values():
            op.status = "info"
            if op.f != "read":
                self.ops.append(op)
        self.pending = {}
        return self.ops


_JEPSEN_LINE = re.compile(
    r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w-]+)\s*(.*?)\s*$")
_JEPSEN_TOKEN = re.compile(r"\[|\]|[^\s\[\]]+")


def _jepsen_value(text, path, line):
    """nil, integers, keywords (:timed-out) and [a b] vectors."""
    toks = _JEPSEN_TOKEN.findall(text)
    pos = 0

    def one():
        nonlocal pos
        if pos >= len(toks):
            raise HistoryError("%s:%d: truncated value %r"
                               % (path, line, text))
        t = toks[pos]
        pos += 1
        if t == "[":
            items = []
            while pos < len(toks) and toks[pos] != "]":
                items.append(one())
            if pos >= len(toks):
                raise HistoryError("%s:%d: unclosed [ in %r"
                                   % (path, line, text))
            pos += 1
            return tuple(items)
        if t == "nil":
            return None
        if t.startswith(":"):
            return t  # a keyword such as :timed-out
        try:
            return int(t)
        except ValueError:
            raise HistoryError("%s:%d: cannot parse value %r"
                               % (path, line, text)) from None

    if not toks:
        return None
    v = one()
    if pos != len(toks):
        raise HistoryError("%s:%d: trailing text in value %r"
                           % (path, line, text))
    return v


def parse_jepsen(path, lines):
    b = _Builder(path)
    for lineno, text in enumerate(lines, 1):
        m = _JEPSEN_LINE.match(text)
        if not m:
            continue  # not an operation line
        proc, typ, f, rest = m.groups()
        if not re.fullmatch(r"\d+", proc):
            continue  # the nemesis and other non-client processes
        if typ not in TYPES or f not in OPS:
            b.fail(lineno, "unknown event %s %s" % (typ, f))
        value = _jepsen_value(rest, path, lineno)
        if typ != "invoke" and isinstance(value, str):
            value = None  # :timed-out and friends carry no result
        b.event(lineno, int(proc), typ, f, None, value)
    return b.finish()


def parse_jsonl(path, lines):
    b = _Builder(path)
    for lineno, text in enumerate(lines, 1):
        s = text.strip()
        if not s or s.startswith("#"):
            continue
        try:
            ev = json.loads(s)
        except ValueError as e:
            b.fail(lineno, "bad JSON: %s" % e)
        if not isinstance(ev, dict):
            b.fail(lineno, "an event must be a JSON object")
        process = ev.get("process")
        if isinstance(process, bool) or \
                not isinstance(process, (int, str)):
            b.fail(lineno, "process must be a string or an integer")
        typ = ev.get("type")
        if typ not in TYPES:
            b.fail(lineno, "type must be one of %s" % ", ".join(TYPES))
        f = ev.get("f")
        if f not in OPS:
            b.fail(lineno, "f must be one of %s" % ", ".join(OPS))
        key = ev.get("key")
        if key is not None and not isinstance(key, str):
            b.fail(lineno, "key must be a string")
        b.event(lineno, process, typ, f, key, freeze(ev.get("value")))
    return b.finish()


def load(path, fmt=None):
    """Parses one history file into a list of Op. Raises HistoryError."""
    if fmt is None:
        fmt = "jepsen" if path.endswith(".log") else "jsonl"
    try:
        with open(path, "r", encoding="utf-8") as fh:
            lines = []
            for text in fh:
                if len(text) > MAX_LINE_BYTES:
                    raise HistoryError("%s:%d: line longer than %d bytes"
                                       % (path, len(lines) + 1,
                                          MAX_LINE_BYTES))
                lines.append(text.rstrip("\n"))
    except OSError as e:
        raise HistoryError("%s: %s" % (path, e.strerror)) from None
    except UnicodeDecodeError as e:
        raise HistoryError("%s: not UTF-8 (%s)" % (path, e)) from None
    if fmt == "jepsen":
        return parse_jepsen(path, lines)
    return parse_jsonl(path, lines)


# ----------------------------------------------------------------- search

def _step(state, op):
    """The sequential register: returns (legal, new state)."""
    f = op.f
    if f == "read":
        return state == op.out, state
    if f == "write":
        return True, op.arg
    if f == "delete":
        return True, None
    expected, new = op.arg
    if op.status == "ok":
        return state == expected, new
    if op.status == "fail":
        return state != expected, state
    # Outcome unknown: whatever the register held, the cas was legal.
    return True, new if state == expected else state


class Violation:
    """Why one key's history has no linearization: the deepest partial
    linearization the search reached and the operation it could not place.
    """

    def __init__(self, key, n_ops, prefix, state, blocked, candidates):
        self.key = key
        self.n_ops = n_ops
        self.prefix = prefix  # linearized ops, in order
        self.state = state  # register value after them
        self.blocked = blocked  # the op that completed but never fit
        self.candidates = candidates  # ops that could have gone next

    culprits = None  # set by minimize(): the observations that conflict
    n_observations = 0

    def explain(self, context=4):
        out = ["key %s: no linearization of its %d operations."
               % (fmt_key(self.key), self.n_ops)]
        if self.culprits == []:
            out.append("  The writes and cas alone conflict; no read is "
                       "needed to show it.")
        elif self.culprits is not None:
            out.append("  Even with every other read and failed cas removed "
                       "(%d of %d kept), these observations cannot all be "
                       "explained:" % (len(self.culprits),
                                       self.n_observations))
            for op in self.culprits:
                out.append("    " + op.describe())
        out.append("  The longest partial linearization%s has %d "
                   "operations; after the last of them the register holds "
                   "%s:" % (" of that reduced history"
                            if self.culprits is not None else "",
                            len(self.prefix), fmt_value(self.state)))
        if len(self.prefix) > context:
            out.append("    ... %d earlier" % (len(self.prefix) - context))
        for op in self.prefix[-context:]:
            out.append("    " + op.describe())
        out.append("  then this operation completed but fits nowhere:")
        out.append("    " + self.blocked.describe())
        others = [op for op in self.candidates if op is not self.blocked]
        if others:
            out.append("  while these were also free to go next:")
            for op in others:
                out.append("    " + op.describe())
        return "\n".join(out)


def fmt_key(key):
    return "(unnamed register)" if key is None else json.dumps(key)


def check_key(key, ops, deadline, cache_mb=DEFAULT_CACHE_MB):
    """Searches one key's operations. Returns None when linearizable, else a
    Violation. Raises BudgetExceeded once time.monotonic() passes deadline
    or the cache would outgrow about cache_mb megabytes.
    """
    n = len(ops)
    if n == 0:
        return None
    # A cache entry: a tuple, an n-bit integer, the value, the set's slot.
    max_seen = max(1000, int(cache_mb * 1e6) // (150 + n // 8))
    # Doubly linked list of call and return entries in time order, between
    # a head (0) and a tail (last) sentinel. Entry 1 + 2i is op i's call,
    # 2 + 2i its return. Info returns sit at +infinity, after all others.
    order = sorted(range(2 * n),
                   key=lambda e: (ops[e >> 1].call if e % 2 == 0
                                  else ops[e >> 1].ret, e % 2))
    head, tail = 0, 2 * n + 1
    nxt = [0] * (2 * n + 2)
    prv = [0] * (2 * n + 2)
    seq = [head] + [e + 1 for e in order] + [tail]
    for a, b in zip(seq, seq[1:]):
        nxt[a] = b
        prv[b] = a

    def is_call(e):
        return e % 2 == 1

    # Identical operations of unknown outcome are interchangeable: in any
    # linearization the one invoked first can take the place of the other
    # (it was invoked earlier, and neither ever returns). So only orders
    # that apply them in invocation order are searched; twin[i] is the bit
    # of the identical op that must be linearized before op i, or 0.
    twin = [0] * n
    last = {}
    for i in sorted((i for i in range(n) if ops[i].status == "info"),
                    key=lambda i: ops[i].call):
        sig = (ops[i].f, ops[i].arg)
        if sig in last:
            twin[i] = 1 << last[sig]
        last[sig] = i

    state = None
    linearized = 0
    seen = set()
    stack = []  # (call entry, state before it)
    best = -1
    violation = None
    iterations = 0
    e = nxt[head]
    while nxt[head] != tail:
        iterations += 1
        if iterations & 0x3FF == 0:
            if time.monotonic() > deadline:
                raise BudgetExceeded("time budget")
            if len(seen) > max_seen:
                raise BudgetExceeded("memory budget (%d configurations "
                                     "cached)" % len(seen))
        if is_call(e):
            i = (e - 1) >> 1
            if twin[i] and not linearized & twin[i]:
                e = nxt[e]
                continue
            legal, new = _step(state, ops[i])
            if legal:
                lin = linearized | (1 << i)
                if (lin, new) not in seen:
                    seen.add((lin, new))
                    stack.append((e, state))
                    state, linearized = new, lin
                    # Lift the op: unlink its call and its return.
                    r = e + 1
                    nxt[prv[e]] = nxt[e]
                    prv[nxt[e]] = prv[e]
                    nxt[prv[r]] = nxt[r]
                    prv[nxt[r]] = prv[r]
                    e = nxt[head]
                    continue
            e = nxt[e]
            continue
        # A return entry: its op was not linearized before it completed, so
        # this branch is dead. Remember the deepest such point to explain.
        if len(stack) > best:
            best = len(stack)
            cands = []
            c = nxt[head]
            while c != e:
                if is_call(c):
                    cands.append(ops[(c - 1) >> 1])
                c = nxt[c]
            violation = Violation(key, n, [ops[(c - 1) >> 1]
                                           for c, _ in stack],
                                  state, ops[(e - 1) >> 1], cands)
        if not stack:
            return violation
        e, state = stack.pop()
        linearized &= ~(1 << ((e - 1) >> 1))
        # Unlift: relink the return, then the call (reverse of lifting).
        r = e + 1
        prv[nxt[r]] = r
        nxt[prv[r]] = r
        prv[nxt[e]] = e
        nxt[prv[e]] = e
        e = nxt[e]
    return None


def mutates(op):
    """Whether an op may change the register (reads and failed cas don't).
    """
    return op.f in ("write", "delete") or \
        (op.f == "cas" and op.status != "fail")


def minimize(key, ops, violation, deadline, cache_mb=DEFAULT_CACHE_MB):
    """Shrinks the explanation of a violation: drops reads and failed cas
    one at a time while the rest stays non-linearizable. Dropping an
    operation that changes nothing can only make linearizing easier, so a
    reduced history that still fails proves the whole one fails. Returns
    the violation of the reduced history (or the given one if time runs
    out)."""
    observations = [op for op in ops if not mutates(op)]
    dropped = set()  # ids of the observations removed so far
    try:
        # Try dropping big chunks first, then smaller ones down to single
        # operations (the complement half of Zeller's ddmin), latest first.
        cands = list(reversed(observations))
        size = max(1, len(cands) // 2)
        while True:
            for at in range(0, len(cands), size):
                chunk = {id(op) for op in cands[at:at + size]} - dropped
                if not chunk:
                    continue
                gone = dropped | chunk
                trial = [o for o in ops if id(o) not in gone]
                if check_key(key, trial, deadline, cache_mb) is not None:
                    dropped = gone
            if size == 1:
                break
            size = max(1, size // 2)
        keep = [o for o in ops if id(o) not in dropped]
        reduced = check_key(key, keep, deadline, cache_mb)
    except BudgetExceeded:
        return violation
    reduced.n_ops = len(ops)
    reduced.culprits = [op for op in keep if not mutates(op)]
    reduced.n_observations = len(observations)
    return reduced


class Result:
    """The verdict on one file: "linearizable", "violation", "undecided" or
    "error", with a human-readable detail."""

    def __init__(self, path, verdict, detail, n_ops=0, n_keys=0,
                 seconds=0.0, violation=None):
        self.path = path
        self.violation = violation  # a Violation when verdict is that
        self.verdict = verdict
        self.detail = detail
        self.n_ops = n_ops
        self.n_keys = n_keys
        self.seconds = seconds

    def line(self):
        stats = "%d ops, %d key%s, %.2fs" % (
            self.n_ops, self.n_keys, "" if self.n_keys == 1 else "s",
            self.seconds)
        if self.verdict == "linearizable":
            return "%s: linearizable (%s)" % (self.path, stats)
        if self.verdict == "violation":
            return "%s: NOT linearizable (%s)\n%s" % (self.path, stats,
                                                      self.detail)
        if self.verdict == "undecided":
            return "%s: UNDECIDED: %s (%s)" % (self.path, self.detail, stats)
        return "%s: ERROR: %s" % (self.path, self.detail)


def check_ops(ops, budget_seconds, path="<history>", start=None,
              explain=True, cache_mb=DEFAULT_CACHE_MB):
    """Checks a parsed history, key by key, within budget_seconds overall
    (counted from start, a time.monotonic() value, by default now) and
    about cache_mb megabytes of search cache per key. With explain, a
    violation is reduced to the observations that conflict."""
    if start is None:
        start = time.monotonic()
    deadline = start + budget_seconds
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    keys = sorted(by_key, key=lambda k: (k is not None, k or ""))
    for key in keys:
        try:
            v = check_key(key, by_key[key], deadline, cache_mb)
        except BudgetExceeded as e:
            limit = "%gs" % budget_seconds if "time" in str(e) else \
                "%gMB" % cache_mb
            return Result(path, "undecided",
                          "%s of %s exhausted while searching key %s "
                          "(%d operations)"
                          % (e, limit, fmt_key(key), len(by_key[key])),
                          len(ops), len(keys), time.monotonic() - start)
        if v is not None:
            if explain:
                v = minimize(key, by_key[key], v, deadline, cache_mb)
            return Result(path, "violation", v.explain(), len(ops),
                          len(keys), time.monotonic() - start, v)
    return Result(path, "linearizable", "", len(ops), len(keys),
                  time.monotonic() - start)


def check_file(path, fmt=None, budget_seconds=60.0, explain=True,
               cache_mb=DEFAULT_CACHE_MB):
    start = time.monotonic()
    try:
        ops = load(path, fmt)
    except HistoryError as e:
        return Result(path, "error", str(e))
    return check_ops(ops, budget_seconds, path, start, explain, cache_mb)


def exit_code(results):
    verdicts = {r.verdict for r in results}
    if "violation" in verdicts:
        return EXIT_VIOLATION
    if verdicts & {"undecided", "error"}:
        return EXIT_UNDECIDED
    return EXIT_OK


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check histories of per-key register operations for "
        "linearizability.")
    ap.add_argument("--format", choices=("jepsen", "jsonl"),
                    help="history format (default: jepsen for *.log, "
                    "else jsonl)")
    ap.add_argument("--budget-seconds", type=float, default=60.0,
                    metavar="S",
                    help="time allowed per file; running out fails the run "
                    "with exit status 3 (default 60)")
    ap.add_argument("--max-memory-mb", type=float, default=DEFAULT_CACHE_MB,
                    metavar="MB",
                    help="search cache allowed per key; running out fails "
                    "the run with exit status 3 (default %d)"
                    % DEFAULT_CACHE_MB)
    ap.add_argument("--no-minimize", action="store_true",
                    help="explain a violation by the search's deepest point "
                    "only, without reducing it to the conflicting reads")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="print only histories that are not linearizable "
                    "or not decided, and a summary")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)
    if not args.budget_seconds > 0:
        ap.error("--budget-seconds must be positive")
    if not args.max_memory_mb > 0:
        ap.error("--max-memory-mb must be positive")

    results = []
    t0 = time.monotonic()
    for path in args.files:
        r = check_file(path, args.format, args.budget_seconds,
                       not args.no_minimize, args.max_memory_mb)
        results.append(r)
        if not (args.quiet and r.verdict == "linearizable"):
            print(r.line(), flush=True)
    if len(results) > 1 or args.quiet:
        count = {v: sum(r.verdict == v for r in results) for v in
                 ("linearizable", "violation", "undecided", "error")}
        print("%d files: %d linearizable, %d NOT linearizable, "
              "%d undecided (budget), %d errors; %.1fs"
              % (len(results), count["linearizable"], count["violation"],
                 count["undecided"], count["error"], time.monotonic() - t0))
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
