#!/usr/bin/env python3
"""jepsen_corpus.py - runs lincheck over the Jepsen etcd register histories.

Usage: jepsen_corpus.py [--budget-seconds S] [DIR]

DIR (default: $LINCHECK_JEPSEN_DIR, else /work/shared/testdata/jepsen-etcd)
holds etcd_NNN.log files recorded by Jepsen against etcd. Every history must
be decided within the budget, and each verdict must equal the one listed in
jepsen_expected.txt. Exit status: 0 all agree, 1 a disagreement or an
undecided history, 77 (skipped) when DIR is absent.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lincheck  # noqa: E402

DEFAULT_DIR = "/work/shared/testdata/jepsen-etcd"
EXIT_SKIP = 77


def expected_verdicts():
    want = {}
    with open(os.path.join(HERE, "jepsen_expected.txt")) as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                name, verdict = line.split()
                want[name] = verdict
    return want


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-seconds", type=float, default=60.0,
                    help="time allowed per history (default 60)")
    ap.add_argument("dir", nargs="?",
                    default=os.environ.get("LINCHECK_JEPSEN_DIR",
                                           DEFAULT_DIR))
    args = ap.parse_args()
    if not os.path.isdir(args.dir):
        print("SKIP: no Jepsen histories at %s" % args.dir)
        return EXIT_SKIP
    want = expected_verdicts()
    names = sorted(n for n in os.listdir(args.dir) if n.endswith(".log"))
    if not names:
        print("SKIP: no .log files in %s" % args.dir)
        return EXIT_SKIP

    bad = disagree = 0
    counts = {}
    slowest = (0.0, "")
    t0 = time.monotonic()
    for name in names:
        r = lincheck.check_file(os.path.join(args.dir, name), "jepsen",
                                args.budget_seconds, explain=False)
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
        slowest = max(slowest, (r.seconds, name))
        expect = want.get(name)
        if r.verdict not in ("linearizable", "violation"):
            print("UNDECIDED %s" % r.line())
            bad += 1
        elif expect is None:
            print("NEW %s: %s (no expected verdict listed)"
                  % (name, r.verdict))
        elif r.verdict != expect:
            print("DISAGREE %s: %s, expected %s\n%s"
                  % (name, r.verdict, expect, r.line()))
            bad += 1
            disagree += 1
    missing = sorted(set(want) - set(names))
    print("%d histories in %.1fs (slowest %s, %.2fs): %d linearizable, "
          "%d NOT linearizable, %d undecided, %d errors; %d disagree with "
          "jepsen_expected.txt%s"
          % (len(names), time.monotonic() - t0, slowest[1], slowest[0],
             counts.get("linearizable", 0), counts.get("violation", 0),
             counts.get("undecided", 0), counts.get("error", 0),
             disagree,
             "; not present: " + ", ".join(missing) if missing else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
