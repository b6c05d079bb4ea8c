# lock_check.py - the checker of the nemesis run's lock workload (tests/
# fault/run --locks N): no two critical sections run by `kvctl lock` on the
# same lock ever overlapped.
#
# Each client loop runs `kvctl lock NAME --ttl S -- <section>` over and over
# (one run is an Attempt). The section (lock_section.py) appends
#
#     enter <client> <CLOCK_MONOTONIC ns> <lease> <index>
#     exit <client> <CLOCK_MONOTONIC ns>
#
# to its client's log; CLOCK_MONOTONIC is the same clock in every process
# of the machine, so the times of different clients compare. kvctl kills
# the section (SIGKILL to its process group) before the lease it can know
# of could have expired and then exits with its "lock lost" status: such a
# section has no exit line, and it ended at the latest when its kvctl had
# exited (the loop's monotonic time after waitpid: a late bound, which can
# only make an overlap more likely to be seen, never hide one).
#
# The checks:
#
#   overlap    no two sections' [enter, end] intervals intersect;
#   fence      the index each holder's key was created at (kvctl's
#              KVCTL_LOCK_INDEX, a fencing token) grows from one section to
#              the next, in the order they entered;
#   twice      one kvctl run entered its section at most once;
#   torn       every log line parses (a write is one append of one line);
#   unfinished a section without an exit line was not reported as a
#              success (kvctl exits with the section's status: 0 only when
#              the section ran to its end);
#   time       a section's end is not before its enter, and it entered
#              after its kvctl was started.
#
# Fairness is not checked: under faults a waiter may time out, retry and
# queue again behind later ones. The wait times are reported.


class Attempt:
    """One `kvctl lock` run of one client: its start and exit (CLOCK_
    MONOTONIC ns, taken by the loop), kvctl's exit status (negative: killed
    by that signal), whether kvctl said the lock was lost, and the lines its
    section appended to the client's log."""

    __slots__ = ('client', 'start_ns', 'exit_ns', 'status', 'lost_msg',
                 'lines')

    def __init__(self, client, start_ns, exit_ns, status, lines,
                 lost_msg=False):
        self.client = client
        self.start_ns = start_ns
        self.exit_ns = exit_ns
        self.status = status
        self.lines = lines
        self.lost_msg = lost_msg

    def __repr__(self):
        return 'Attempt(client %s, %d..%d, status %d)' % (
            self.client, self.start_ns, self.exit_ns, self.status)


class Section:
    """A critical section that ran: from enter to end (its exit line, or
    its kvctl's exit when it has none: lost)."""

    __slots__ = ('client', 'enter_ns', 'end_ns', 'lost', 'lease',
                 'wait_ns', 'index')

    def __init__(self, client, enter_ns, end_ns, lost, lease, wait_ns,
                 index=None):
        self.client = client
        self.enter_ns = enter_ns
        self.end_ns = end_ns
        self.lost = lost
        self.lease = lease
        self.wait_ns = wait_ns
        self.index = index

    def __repr__(self):
        return 'section(client %s lease %s index %s, %d..%d%s)' % (
            self.client, self.lease, self.index, self.enter_ns, self.end_ns,
            ' lost' if self.lost else '')


class Result:
    def __init__(self):
        self.failures = []
        self.sections = []
        self.attempts = 0
        self.lost = 0        # sections ended by kvctl (no exit line)
        self.lost_msgs = 0   # kvctl runs that said "lock lost"
        self.unacquired = 0  # kvctl runs that never entered (errors)

    def waits_ms(self):
        """Sorted wait times (kvctl start to enter), milliseconds."""
        return sorted(s.wait_ns / 1e6 for s in self.sections)


def parse_line(line):
    """('enter', client, ns, lease, index) or ('exit', client, ns, None,
    None), or None for a line that is not one of them. Lease and index
    are optional in an enter line ("-" or absent: unknown); the index is
    an int when known."""
    f = line.split()
    try:
        if f[0] == 'enter' and 3 <= len(f) <= 5:
            lease = f[3] if len(f) > 3 and f[3] != '-' else None
            index = int(f[4]) if len(f) > 4 and f[4] != '-' else None
            return ('enter', f[1], int(f[2]), lease, index)
        if f[0] == 'exit' and len(f) == 3:
            return ('exit', f[1], int(f[2]), None, None)
    except (IndexError, ValueError):
        pass
    return None


def sections_of(attempt, res):
    """The sections of one attempt (zero or one when all is well), adding
    what is wrong with it to res.failures."""
    out = []
    cur = None  # [enter_ns, lease, index]
    where = 'client %s run at %d' % (attempt.client, attempt.start_ns)
    for line in attempt.lines:
        p = parse_line(line)
        if p is None or p[1] != str(attempt.client):
            res.failures.append('torn: %s: line %r' % (where, line))
            continue
        kind, _, ns, lease, index = p
        if kind == 'enter':
            if cur is not None or out:
                res.failures.append('twice: %s entered its section again '
                                    'at %d' % (where, ns))
            if cur is not None:
                # The earlier enter never exited: it ended by this one at
                # the latest (kept, so that its overlaps are still seen).
                out.append(Section(attempt.client, cur[0], ns, True, cur[1],
                                   cur[0] - attempt.start_ns, cur[2]))
            cur = [ns, lease, index]
        else:
            if cur is None:
                res.failures.append('torn: %s: exit at %d without enter'
                                    % (where, ns))
                continue
            out.append(Section(attempt.client, cur[0], ns, False, cur[1],
                               cur[0] - attempt.start_ns, cur[2]))
            cur = None
    if cur is not None:
        if attempt.status == 0:
            res.failures.append('unfinished: %s: the section entered at %d '
                                'never exited, yet kvctl exited 0' % (
                                    where, cur[0]))
        out.append(Section(attempt.client, cur[0], attempt.exit_ns, True,
                           cur[1], cur[0] - attempt.start_ns, cur[2]))
    for s in out:
        if s.end_ns < s.enter_ns:
            res.failures.append('time: %s: %r ends before it enters'
                                % (where, s))
        if s.enter_ns < attempt.start_ns:
            res.failures.append('time: %s: %r entered before kvctl started'
                                % (where, s))
    return out


def check(attempts, max_reports=10):
    """Checks the attempts of all clients of one lock; returns a Result."""
    res = Result()
    for a in attempts:
        res.attempts += 1
        if a.lost_msg:
            res.lost_msgs += 1
        ss = sections_of(a, res)
        if not ss:
            res.unacquired += 1
        res.sections.extend(ss)
    res.lost = sum(1 for s in res.sections if s.lost)
    # Sweep in order of entry: a section overlaps an earlier one when it
    # enters before the latest end so far.
    order = sorted(res.sections, key=lambda s: (s.enter_ns, s.end_ns))
    latest = None
    overlaps = 0
    for s in order:
        if latest is not None and s.enter_ns <= latest.end_ns:
            overlaps += 1
            if overlaps <= max_reports:
                res.failures.append(
                    'overlap: %r entered %.3f ms before %r ended' % (
                        s, (latest.end_ns - s.enter_ns) / 1e6, latest))
        if latest is None or s.end_ns > latest.end_ns:
            latest = s
    if overlaps > max_reports:
        res.failures.append('overlap: %d more' % (overlaps - max_reports))
    # Fencing tokens: a later holder's key was created later.
    prev = None
    fences = 0
    for s in order:
        if s.index is None:
            continue
        if prev is not None and s.index <= prev.index:
            fences += 1
            if fences <= max_reports:
                res.failures.append('fence: %r entered after %r with a '
                                    'lock index not above it' % (s, prev))
        prev = s
    if fences > max_reports:
        res.failures.append('fence: %d more' % (fences - max_reports))
    return res
