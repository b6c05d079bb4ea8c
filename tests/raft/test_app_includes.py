#!/usr/bin/env python3
# tests/raft/test_app_includes.py SRC_ROOT - kvd runs on libkvdraft's node
# as any program would: of raft/node/ its sources (server/, but its unit
# tests) include only the public header kvdraft_node.h, never the node's
# insides (node.h, snapshotter.h, members_file.h, ...). The build keeps the
# other direction: raft/node/ is compiled without server/ and kv/ on its
# include path.

import os
import re
import sys


def main():
    root = sys.argv[1]
    node_dir = os.path.join(root, 'raft', 'node')
    internal = {f for f in os.listdir(node_dir)
                if f.endswith('.h') and f != 'kvdraft_node.h'}
    if 'node.h' not in internal or 'snapshotter.h' not in internal:
        print('raft/node/ does not hold the node: %s' % sorted(internal))
        return 1
    bad = []
    server = os.path.join(root, 'server')
    for name in sorted(os.listdir(server)):
        if not name.endswith(('.c', '.h')) or name.startswith('test_'):
            continue
        with open(os.path.join(server, name), encoding='utf-8') as f:
            for no, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
                if m and os.path.basename(m.group(1)) in internal:
                    bad.append('server/%s:%d includes %s' %
                               (name, no, m.group(1)))
    for b in bad:
        print(b)
    if bad:
        print('kvd must use the node through kvdraft_node.h only')
        return 1
    print('server/ uses raft/node only through kvdraft_node.h '
          '(%d internal headers checked)' % len(internal))
    return 0


if __name__ == '__main__':
    sys.exit(main())
