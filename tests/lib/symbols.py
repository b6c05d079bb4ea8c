# symbols.py - the global symbols a library defines, read with nm: what
# the export tests of libkvc and libkvdraft compare with their headers.

import subprocess


def defined(nm, lib, dynamic):
    """(type, name) of every global symbol @lib defines; @dynamic reads the
    dynamic symbol table (what a shared library exports)."""
    args = [nm, '--defined-only', '--extern-only']
    if dynamic:
        args.append('-D')
    out = subprocess.run(args + [lib], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        # "ADDRESS TYPE NAME"; archive member headers ("x.c.o:") and blank
        # lines have fewer fields.
        if len(parts) == 3:
            syms.add((parts[1], parts[2]))
    return syms
