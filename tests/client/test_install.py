# test_install.py - `meson install --destdir` into a temp dir, then build
# client/examples/example.c with `pkg-config --cflags --libs kvc` against
# the installed header, library and kvc.pc, and run it against a real
# 3-member cluster; the man pages kvctl.1 and kvc.3 are installed.
#
# argv[1]: kvd; environment: KVD_BUILD_ROOT (the meson build dir),
# KVC_EXAMPLE (example.c), KVD_SANITIZE (b_sanitize of the build), CC.

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
import harness  # noqa: E402
from harness import ClusterTest  # noqa: E402


def find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    return None


class InstallTest(ClusterTest):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix='kvc-install-')

    def tearDown(self):
        shutil.rmtree(self.dest, ignore_errors=True)

    def test_install_pkgconfig_example(self):
        build = os.environ['KVD_BUILD_ROOT']
        p = subprocess.run(['meson', 'install', '-C', build, '--no-rebuild',
                            '--destdir', self.dest],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout.decode()[-3000:])
        pc = find(self.dest, 'kvc.pc')
        self.assertIsNotNone(pc, 'kvc.pc not installed')
        self.assertIsNotNone(find(self.dest, 'kvc.h'), 'kvc.h not installed')
        self.assertIsNotNone(find(self.dest, 'kvc_async.h'),
                             'kvc_async.h not installed')
        so = find(self.dest, 'libkvc.so')
        self.assertIsNotNone(so, 'libkvc.so not installed')
        self.assertIsNotNone(find(self.dest, 'libkvc.a'),
                             'libkvc.a not installed')
        # the man pages: kvctl(1) and the library's kvc(3)
        for page, section in (('kvctl.1', 'man1'), ('kvc.3', 'man3')):
            path = find(self.dest, page)
            self.assertIsNotNone(path, '%s not installed' % page)
            self.assertEqual(os.path.basename(os.path.dirname(path)),
                             section)

        env = dict(os.environ)
        env['PKG_CONFIG_PATH'] = os.path.dirname(pc)
        # kvc.pc names the final prefix; the sysroot maps it into destdir.
        env['PKG_CONFIG_SYSROOT_DIR'] = self.dest
        p = subprocess.run(['pkg-config', '--cflags', '--libs', 'kvc'],
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        flags = p.stdout.decode().split()
        self.assertIn('-lkvc', flags)
        exe = os.path.join(self.dest, 'example')
        cc = os.environ.get('CC', 'cc').split()
        san = os.environ.get('KVD_SANITIZE', 'none')
        extra = ['-fsanitize=' + san] if san not in ('', 'none') else []
        p = subprocess.run(cc + ['-std=c11', '-Wall', '-Wextra', '-Werror'] +
                           extra + ['-o', exe, os.environ['KVC_EXAMPLE']] +
                           flags, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout.decode())

        env = dict(os.environ)
        env['LD_LIBRARY_PATH'] = os.path.dirname(so)
        p = subprocess.run([exe, self.cluster.endpoints(), 'example/key'],
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        out = p.stdout.decode()
        self.assertIn('get example/key = hello', out)
        self.assertIn('deleted example/key: yes', out)
        # the program really linked the installed library
        p = subprocess.run(['ldd', exe], env=env, stdout=subprocess.PIPE)
        self.assertIn(os.path.dirname(so), p.stdout.decode())
        self.assertEqual(self.cluster[2].get('example/key').status, 404)


if __name__ == '__main__':
    harness.main()
