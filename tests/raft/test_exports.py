# test_exports.py - libkvdraft exports exactly the functions its public
# headers declare (raft.h and kvdraft/version.h, all marked RAFT_API): the
# core's internal raft__* functions, shared between its files, stay hidden
# in libkvdraft.so, and every global symbol of libkvdraft.a carries the
# raft_ or kvdraft_ prefix, so a program linking either sees nothing but
# the API.
#
# argv[1]: libkvdraft.so; argv[2]: libkvdraft.a; argv[3:]: the public
# headers. Exit 77 (skipped) when nm is not installed.

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'lib'))
from symbols import defined  # noqa: E402


def declared(header):
    """The function names @header declares (comments and macros removed
    first), and those among them not marked RAFT_API."""
    with open(header, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'^#.*?(?<!\\)$', ' ', text, flags=re.M | re.S)
    names = set()
    unmarked = set()
    # A declaration: everything since the previous ';', '}' or '{' up to
    # the name and its '('.
    for m in re.finditer(r'([^;{}]*?)\b((?:raft|kvdraft)_[a-z_]+)\s*\(',
                         text):
        names.add(m.group(2))
        if 'RAFT_API' not in m.group(1):
            unmarked.add(m.group(2))
    return names, unmarked


def main():
    nm = shutil.which('nm')
    if nm is None:
        print('nm not found: skipped')
        return 77
    so, ar = sys.argv[1:3]
    api = set()
    failed = False
    for header in sys.argv[3:]:
        names, unmarked = declared(header)
        api |= names
        if unmarked:
            print('%s: declarations without RAFT_API: %s' %
                  (header, sorted(unmarked)))
            failed = True
    if len(api) < 20 or 'kvdraft_version' not in api:
        print('headers: only %d functions found: %s' % (len(api),
                                                       sorted(api)))
        failed = True

    exported = defined(nm, so, True)
    names = {name for _, name in exported}
    if names != api:
        print('libkvdraft.so exports symbols the headers do not declare: %s'
              % sorted(names - api))
        print('declared functions libkvdraft.so does not export: %s' %
              sorted(api - names))
        failed = True
    data = sorted(name for t, name in exported if t != 'T')
    if data:
        print('libkvdraft.so exports symbols that are not functions: %s' %
              data)
        failed = True

    # Hidden symbols stay global inside the archive; the prefix keeps them
    # out of a linking program's names.
    foreign = sorted(name for _, name in defined(nm, ar, False)
                     if not name.startswith(('raft_', 'kvdraft_')))
    if foreign:
        print('libkvdraft.a defines globals without the raft_ or kvdraft_ '
              'prefix: %s' % foreign)
        failed = True

    if not failed:
        print('libkvdraft.so exports the %d functions of its headers and '
              'nothing else' % len(api))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
