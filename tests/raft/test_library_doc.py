# test_library_doc.py - the code docs/LIBRARY.md quotes from the examples
# is the examples' code: every ```c block right after a line
# "<!-- quoted from raft/examples/FILE -->" must appear in FILE as it is,
# line for line, so the documentation cannot drift from the program the
# tests run.
#
# Usage: test_library_doc.py SOURCE_ROOT

import os
import re
import sys
import unittest

ROOT = ''
MARK = re.compile(r'^<!-- quoted from (raft/examples/[\w.]+) -->$')


def quotes(doc):
    """(file, block, line number) for every marked block of @doc."""
    lines = doc.split('\n')
    out = []
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or lines[i + 1] != '```c':
            raise AssertionError('line %d: no ```c block after the mark'
                                 % (i + 1))
        end = lines.index('```', i + 2)
        out.append((m.group(1), '\n'.join(lines[i + 2:end]), i + 1))
    return out


class LibraryDocTest(unittest.TestCase):
    def test_quotes_are_the_examples_code(self):
        with open(os.path.join(ROOT, 'docs', 'LIBRARY.md'),
                  encoding='utf-8') as f:
            found = quotes(f.read())
        self.assertTrue(found, 'docs/LIBRARY.md quotes no example')
        for name, block, line in found:
            with open(os.path.join(ROOT, name), encoding='utf-8') as f:
                code = f.read()
            self.assertTrue(block.strip(), 'line %d: empty quote' % line)
            self.assertTrue(block + '\n' in code,
                          'docs/LIBRARY.md line %d: the quote is not in %s '
                          'as it is' % (line, name))


if __name__ == '__main__':
    if len(sys.argv) > 1 and not sys.argv[1].startswith('-'):
        ROOT = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
