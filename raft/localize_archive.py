#!/usr/bin/env python3
# raft/localize_archive.py IN.a OUT.a - libkvdraft.a as one relocatable
# object whose hidden symbols are local: `ld -r` joins every member of IN.a
# (compiled with -fvisibility=hidden), `objcopy --localize-hidden` makes the
# internals local, and OUT.a holds the result. A program linking OUT.a sees
# only the RAFT_API functions, as with libkvdraft.so.

import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 3:
        print('usage: localize_archive.py IN.a OUT.a', file=sys.stderr)
        return 2
    src, dst = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as d:
        obj = os.path.join(d, 'kvdraft.o')
        subprocess.check_call(['ld', '-r', '-o', obj, '--whole-archive',
                               src])
        subprocess.check_call(['objcopy', '--localize-hidden', obj])
        if os.path.exists(dst):
            os.unlink(dst)
        subprocess.check_call(['ar', 'rcs', dst, obj])
    return 0


if __name__ == '__main__':
    sys.exit(main())
