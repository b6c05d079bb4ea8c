# test_install.py - `meson install --destdir` into a temp dir, then build
# the examples of raft/examples/ out of tree with pkg-config only, against
# the installed headers, libkvdraft.so and kvdraft.pc, and once more against
# libkvdraft.a (`pkg-config --static`), and run them: core_pingpong (three
# cores wired by hand must all apply the proposed command) and counter (a
# one-member cluster on the node API: add 2, add 3, get gives 5). replog.c
# is built too when it is there.
#
# Environment: KVD_BUILD_ROOT (the meson build dir), KVDRAFT_EXAMPLES (the
# raft/examples folder), KVD_SANITIZE (b_sanitize of the build), CC,
# KVDRAFT_VERSION (the project version).

import os
import shutil
import subprocess
import tempfile
import unittest

from test_counter import Member


def find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    return None


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix='kvdraft-install-')

    def tearDown(self):
        shutil.rmtree(self.dest, ignore_errors=True)

    def run_ok(self, args, env=None):
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(p.returncode, 0,
                         '%s:\n%s' % (args, p.stdout.decode()[-3000:]))
        return p.stdout.decode()

    def test_install_pkgconfig_example(self):
        build = os.environ['KVD_BUILD_ROOT']
        self.run_ok(['meson', 'install', '-C', build, '--no-rebuild',
                     '--destdir', self.dest])
        pc = find(self.dest, 'kvdraft.pc')
        self.assertIsNotNone(pc, 'kvdraft.pc not installed')
        raft_h = find(self.dest, 'raft.h')
        self.assertIsNotNone(raft_h, 'raft.h not installed')
        inc = os.path.dirname(raft_h)
        self.assertEqual(os.path.basename(inc), 'kvdraft')
        # Whatever raft.h includes is installed beside it.
        for h in ('entry.h', 'raft_api.h', 'version.h'):
            self.assertTrue(os.path.exists(os.path.join(inc, h)),
                            h + ' not installed')
        so = find(self.dest, 'libkvdraft.so')
        self.assertIsNotNone(so, 'libkvdraft.so not installed')
        self.assertTrue(os.path.exists(so + '.0'), 'no libkvdraft.so.0')
        ar = find(self.dest, 'libkvdraft.a')
        self.assertIsNotNone(ar, 'libkvdraft.a not installed')
        p = subprocess.run(['readelf', '-d', so], stdout=subprocess.PIPE)
        if p.returncode == 0:
            self.assertIn('[libkvdraft.so.0]', p.stdout.decode())

        env = dict(os.environ)
        env['PKG_CONFIG_PATH'] = os.path.dirname(pc)
        # kvdraft.pc names the final prefix; the sysroot maps it into
        # destdir.
        env['PKG_CONFIG_SYSROOT_DIR'] = self.dest
        flags = self.run_ok(['pkg-config', '--cflags', '--libs', 'kvdraft'],
                            env=env).split()
        self.assertIn('-lkvdraft', flags)
        # Programs write #include <kvdraft/raft.h>: -I names the folder
        # above kvdraft/.
        self.assertIn('-I' + os.path.dirname(inc), flags)
        version = self.run_ok(['pkg-config', '--modversion', 'kvdraft'],
                              env=env).strip()
        self.assertEqual(version, os.environ['KVDRAFT_VERSION'])

        # Each example alone in a folder of its own: nothing of the source
        # tree is on the include path. The node's examples call libevent
        # too, which kvdraft.pc requires: `pkg-config --cflags --libs
        # kvdraft`, as docs/LIBRARY.md says.
        src_dir = os.environ['KVDRAFT_EXAMPLES']
        examples = ['core_pingpong', 'counter']
        if os.path.exists(os.path.join(src_dir, 'replog.c')):
            examples.append('replog')  # lands beside counter
        node_flags = self.run_ok(['pkg-config', '--cflags', '--libs',
                                  'kvdraft'],
                                 env=env).split()
        cflags = [f for f in flags if f.startswith('-I')]
        private = self.run_ok(['pkg-config', '--static', '--libs', 'kvdraft'],
                              env=env).split()
        private = [f for f in private if f != '-lkvdraft'
                   and not f.startswith('-L' + self.dest)]
        cc = os.environ.get('CC', 'cc').split()
        san = os.environ.get('KVD_SANITIZE', 'none')
        extra = ['-fsanitize=' + san] if san not in ('', 'none') else []
        strict = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic']
        built = {}
        for name in examples:
            src = os.path.join(self.dest, name + '.c')
            shutil.copy(os.path.join(src_dir, name + '.c'), src)
            libs = flags if name == 'core_pingpong' else node_flags
            exe = os.path.join(self.dest, name)
            self.run_ok(cc + strict + extra + ['-o', exe, src] + libs)
            # The same against the archive, with the libraries the node
            # level needs (pkg-config --static: libevent, jansson,
            # pthread).
            exe_static = os.path.join(self.dest, name + '_static')
            self.run_ok(cc + strict + extra + ['-o', exe_static, src] +
                        cflags + [ar] + private)
            built[name] = (exe, exe_static)

        env = dict(os.environ)
        env['LD_LIBRARY_PATH'] = os.path.dirname(so)
        for prog in built['core_pingpong']:
            out = self.run_ok([prog], env=env)
            self.assertIn('libkvdraft %s (headers %s)' % (version, version),
                          out)
            self.assertIn('all 3 members applied "hello"', out)
            for i in (1, 2, 3):
                self.assertRegex(out, r'member %d applied up to \d+: hello'
                                 % i)
        for prog in built['counter']:
            self.run_counter(prog, env)
        for exe, exe_static in built.values():
            # the program really linked the installed library
            p = subprocess.run(['ldd', exe], env=env, stdout=subprocess.PIPE)
            self.assertIn(os.path.dirname(so), p.stdout.decode())
            p = subprocess.run(['ldd', exe_static], env=env,
                               stdout=subprocess.PIPE)
            self.assertNotIn('libkvdraft', p.stdout.decode())

    def run_counter(self, prog, env):
        """@prog as a one-member cluster: add 2, add 3, get gives 5; SIGTERM
        ends it cleanly."""
        root = tempfile.mkdtemp(prefix='counter-', dir=self.dest)
        m = Member(root, 1, exe=prog)
        m.start('1=' + m.url(), env=env)
        try:
            self.assertEqual(m.get(), 0, m.log_since_start())
            self.assertIsNotNone(m.add(2), m.log_since_start())
            self.assertIsNotNone(m.add(3), m.log_since_start())
            self.assertEqual(m.get(), 5, m.log_since_start())
            self.assertEqual(m.terminate(), 0, m.log_since_start())
        finally:
            m.kill()


if __name__ == '__main__':
    unittest.main()
