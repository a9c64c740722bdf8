// binding.gyp, as gyp reads it: the pinned Node-API version, C++ exceptions,
// hidden visibility and warnings, and the optional sanitizer build
// (-Dvfio_asan=1 or VFIO_ASAN=1). Configures in a scratch copy so the shared
// build/ folder is left alone.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LONG } from '../long.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
// Headers installed next to this node (Debian's nodejs puts them in /usr/include/node
// and its npmrc says nodedir=/usr): configuring against them needs no download, so
// the test also runs offline (the HIL guest has no network).
const prefix = process.env.npm_config_nodedir ?? dirname(dirname(process.execPath));
const localHeaders = existsSync(join(prefix, 'include', 'node', 'node_version.h'));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configure(args: string[], env: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-gyp-'));
  dirs.push(dir);
  cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [nodeGyp, 'configure', `--nodedir=${prefix}`, ...args], {
    cwd: dir, stdio: 'pipe', env: { ...process.env, VFIO_ASAN: '', VFIO_STATIC_RUNTIME: '', ...env },
  });
  return readFileSync(join(dir, 'build', 'vfio.target.mk'), 'utf8');
}

// Skipped in the HIL guest: gyp under TCG takes over a minute and checks nothing about the kernel.
describe.skipIf(!localHeaders || process.env.VFIO_HIL === '1')(
  // Each gyp configure is a few seconds idle, 15-20 s on a loaded 2-core runner; one test runs two.
  `binding.gyp (needs node headers under ${prefix}/include/node; host only)`, { timeout: 120_000 }, () => {
  it('release: NAPI_VERSION 8, C++ exceptions, C++17, hidden visibility, warnings on, no sanitizer', () => {
    const mk = configure([]);
    expect(mk).toMatch(/-DNAPI_VERSION=8/);
    expect(mk).toMatch(/-DNAPI_CPP_EXCEPTIONS/);
    expect(mk).toMatch(/-std=c\+\+17/);
    expect(mk).toMatch(/-fexceptions/);
    expect(mk).not.toMatch(/-fno-exceptions/);
    expect(mk).toMatch(/-fvisibility=hidden/);
    expect(mk).toMatch(/-Wextra/);
    expect(mk).not.toMatch(/-fsanitize/);
    for (const src of ['addon', 'container', 'group', 'device', 'dma_buffer', 'plan', 'errors']) {
      expect(mk).toContain(`native/${src}.o`);
    }
  });

  // Two more configures each (~3 s): the build variants are checked under test:long (CI), the release one always.
  it.runIf(LONG)('VFIO_STATIC_RUNTIME=1 (the prebuild) links the C++ runtime in; a source build and the sanitizer build do not', () => {
    const staticRe = /LDFLAGS_Release :=[^]*-static-libstdc\+\+[^]*-static-libgcc/;
    expect(configure([], { VFIO_STATIC_RUNTIME: '1' })).toMatch(staticRe);
    expect(configure([])).not.toMatch(/-static-libstdc\+\+/);
    expect(configure([], { VFIO_STATIC_RUNTIME: '1', VFIO_ASAN: '1' })).not.toMatch(/-static-libstdc\+\+/);
  });

  it.runIf(LONG)('-Dvfio_asan=1 adds AddressSanitizer and UBSan to compile and link', () => {
    const mk = configure(['--', '-Dvfio_asan=1']);
    expect(mk).toMatch(/CFLAGS_CC_Release :=[^]*-fsanitize=address,undefined/);
    expect(mk).toMatch(/LDFLAGS_Release :=[^]*-fsanitize=address,undefined/);
  });

  // A third gyp run (~5 s on 2 loaded cores) for the same flags by another switch: test:long.
  it.runIf(LONG)('VFIO_ASAN=1 in the environment does the same', () => {
    expect(configure([], { VFIO_ASAN: '1' })).toMatch(/-fsanitize=address,undefined/);
  });
});
