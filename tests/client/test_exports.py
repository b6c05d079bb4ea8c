# test_exports.py - libkvc exports exactly the functions kvc.h and
# kvc_async.h declare: the HTTP layer's functions shared between its files
# (kvc_http.h) stay hidden in libkvc.so, and every global symbol of libkvc.a
# carries the kvc_ prefix, so a program linking either sees nothing but the
# API.
#
# argv[1]: libkvc.so; argv[2]: libkvc.a; argv[3...]: kvc.h, kvc_async.h.
# Exit 77 (skipped) when nm is not installed.

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'lib'))
from symbols import defined  # noqa: E402


def declared(header):
    """The function names kvc.h declares (comments removed first)."""
    with open(header, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return set(re.findall(r'\b(kvc_[a-z_]+)\s*\(', text))


def main():
    nm = shutil.which('nm')
    if nm is None:
        print('nm not found: skipped')
        return 77
    so, ar = sys.argv[1:3]
    api = set()
    for header in sys.argv[3:]:
        api |= declared(header)
    failed = False
    if len(api) < 10:
        print('headers: only %d functions found: %s' % (len(api),
                                                        sorted(api)))
        failed = True

    exported = defined(nm, so, True)
    names = {name for _, name in exported}
    if names != api:
        print('libkvc.so exports symbols the headers do not declare: %s' %
              sorted(names - api))
        print('header functions libkvc.so does not export: %s' %
              sorted(api - names))
        failed = True
    data = sorted(name for t, name in exported if t != 'T')
    if data:
        print('libkvc.so exports symbols that are not functions: %s' % data)
        failed = True

    # Hidden symbols stay global inside the archive; the prefix keeps them
    # out of a linking program's names.
    foreign = sorted(name for _, name in defined(nm, ar, False)
                     if not name.startswith('kvc_'))
    if foreign:
        print('libkvc.a defines globals without the kvc_ prefix: %s' %
              foreign)
        failed = True

    if not failed:
        print('libkvc.so exports the %d functions of its headers and '
              'nothing else' % len(api))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
