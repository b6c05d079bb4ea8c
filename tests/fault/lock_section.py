# lock_section.py - the critical section of the nemesis run's lock workload
# (run by `kvctl lock` for tests/fault/run --locks N): appends
# "enter <client> <ns> <lease>" to LOG, sleeps MIN_MS..MAX_MS, appends
# "exit <client> <ns>". Times are CLOCK_MONOTONIC, shared by every process
# of the machine; each line is one O_APPEND write, so a SIGKILL leaves
# whole lines. lock_check.py reads the logs.
#
#   python3 lock_section.py LOG CLIENT MIN_MS MAX_MS

import os
import random
import sys
import time


def append(fd, line):
    os.write(fd, line.encode('ascii'))


def main():
    path, client = sys.argv[1], sys.argv[2]
    lo, hi = int(sys.argv[3]), int(sys.argv[4])
    lease = os.environ.get('KVCTL_LOCK_LEASE', '-') or '-'
    index = os.environ.get('KVCTL_LOCK_INDEX', '-') or '-'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    append(fd, 'enter %s %d %s %s\n' % (client, time.monotonic_ns(), lease,
                                         index))
    time.sleep(random.uniform(lo, hi) / 1000.0)
    append(fd, 'exit %s %d\n' % (client, time.monotonic_ns()))
    os.close(fd)
    return 0


if __name__ == '__main__':
    sys.exit(main())
