// scripts/install.cjs, npm's install step: it never fails the install, builds
// nothing for a non-Linux target (npm's --os reaches it as npm_config_os), and
// on Linux, when no prebuild loads and the compile fails, says what a
// consumer installs and runs (and fails when the compile was asked for). Runs from a scratch copy of the package with
// no prebuild and no build, so node-gyp-build has to compile.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONG } from '../long.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
// Node's headers next to this node (Debian: /usr/include/node): node-gyp configures offline.
const prefix = process.env.npm_config_nodedir ?? dirname(dirname(process.execPath));
const localHeaders = existsSync(join(prefix, 'include', 'node', 'node_version.h'));
let pkg = '';

beforeAll(() => {
  pkg = mkdtempSync(join(tmpdir(), 'vfio-install-'));
  mkdirSync(join(pkg, 'scripts'));
  cpSync(join(root, 'scripts', 'install.cjs'), join(pkg, 'scripts', 'install.cjs'));
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(root, 'binding.gyp'), join(pkg, 'binding.gyp'));
  cpSync(join(root, 'native'), join(pkg, 'native'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
});
afterAll(() => rmSync(pkg, { recursive: true, force: true }));

function install(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_(os|platform|build_from_source)$/i.test(k)));
  const r = spawnSync(process.execPath, [join(pkg, 'scripts', 'install.cjs')], {
    cwd: pkg, encoding: 'utf8', env: { ...clean, ...env },
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('the install script', () => {
  it.each(['darwin', 'win32'])('installing for %s (npm --os): builds nothing, says the simulator works, exit 0', (os) => {
    const r = install({ npm_config_os: os });
    expect(r.status).toBe(0);
    expect(r.out.trim()).toBe(`node-vfio: VFIO is Linux-only (installing for ${os}): no native addon, the simulated backend works`);
    expect(existsSync(join(pkg, 'build'))).toBe(false);
  });

  it.skipIf(process.platform !== 'linux' || !localHeaders)('Linux, no prebuild, no compiler: the install succeeds and says what to do', () => {
    // CXX=false: the compiler gyp's Makefile calls fails, as on a machine without g++.
    const r = install({ CXX: 'false', CC: 'false', npm_config_nodedir: prefix });
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/node-gyp/); // it did try to compile
    expect(r.out).toContain('node-vfio: no prebuilt addon loads here and compiling it failed (exit 1).');
    expect(r.out).toContain('apt-get install g++ make python3');
    expect(r.out).toContain('dnf install gcc-c++ make python3');
    expect(r.out).toMatch(/then run: npm rebuild node-vfio\n/);
    expect(existsSync(join(pkg, 'build', 'Release', 'vfio.node'))).toBe(false);
  });

  // A gyp configure and a failed compile (~3 s): under test:long (CI), beside the one above that always runs.
  it.skipIf(process.platform !== 'linux' || !localHeaders || !LONG)('--build-from-source and no compiler: the install fails, saying why', () => {
    // CI installs with --build-from-source to test these sources: a broken compile must not pass unseen.
    const r = install({ CXX: 'false', CC: 'false', npm_config_nodedir: prefix, npm_config_build_from_source: 'true' });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('node-vfio: building from source was asked for and failed (exit 1)');
    expect(r.out).toMatch(/then run: npm rebuild node-vfio\n/);
  });
});
