// What the tarball holds: everything a dependency needs (licence, changelog,
// the documents the README links to, the sources its source maps name, every
// target of the exports map, the install script and the prebuild), and
// nothing of the checkout's own build or tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const packed = inject('packed');
const files = new Set(packed.files);
let dir = '';
let pkg: Record<string, any> = {};
const read = (path: string) => readFileSync(join(dir, 'package', path), 'utf8');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vfio-contents-'));
  execFileSync('tar', ['-xzf', packed.tarball, '-C', dir]);
  pkg = JSON.parse(read('package.json'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed package', () => {
  it('prints its size (README, contributing)', () => {
    // npm's own units (kB = 1000 bytes), as its notice prints them.
    console.log(`npm pack: ${packed.files.length} files, ${(packed.size / 1000).toFixed(1)} kB packed, `
      + `${(packed.unpackedSize / 1000).toFixed(1)} kB unpacked`);
    expect(packed.size).toBeGreaterThan(0);
  });

  it('has the MIT licence its package.json names, and a changelog with this version', () => {
    expect(pkg.license).toBe('MIT');
    expect(read('LICENSE')).toMatch(/^MIT License\n/);
    expect(read('CHANGELOG.md')).toContain(`## [${pkg.version}]`);
  });

  it('installs anywhere: no os restriction, an install script that is in the package', () => {
    expect(pkg.os).toBeUndefined();
    const script = /^node (\S+)$/.exec(pkg.scripts.install);
    expect(script).not.toBeNull();
    expect(files.has(script![1]!)).toBe(true);
    expect(files.has('prebuilds/linux-x64/node-vfio.node')).toBe(true);
    expect(files.has('binding.gyp')).toBe(true);
  });

  it('holds every document the README links to', () => {
    const readme = read('README.md');
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
      .filter((l) => !/^[a-z]+:/i.test(l) && !l.startsWith('#'))
      .map((l) => l.replace(/#.*$/, ''));
    expect(links.length).toBeGreaterThan(3);
    expect(links.filter((l) => !files.has(posix.normalize(l)))).toEqual([]);
  });

  it('ships the sources every source map names', () => {
    const maps = packed.files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(read(map)) as { sources: string[]; sourceRoot?: string };
      for (const s of sources) {
        const path = posix.normalize(posix.join(dirname(map), sourceRoot, s));
        if (!files.has(path)) missing.push(`${map} -> ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has an exports map whose every target is in the package, types first', () => {
    const targets: string[] = [];
    for (const [subpath, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (typeof target === 'string') {
        targets.push(target);
        continue;
      }
      const conditions = Object.keys(target as object);
      expect(conditions[0], `${subpath}: "types" must come first`).toBe('types');
      expect(conditions.at(-1), `${subpath}: "default" must come last`).toBe('default');
      targets.push(...Object.values(target as Record<string, string>));
    }
    expect(Object.keys(pkg.exports)).toContain('.');
    expect(targets.filter((t) => !files.has(posix.normalize(t)))).toEqual([]);
    expect(files.has(pkg.bin.vfio)).toBe(true);
  });

  it('leaves out the checkout: no build folder, no tests, no CI or lane scripts', () => {
    const stray = packed.files.filter((f) => /^(build|\.ci|\.cache|node_modules|examples)\//.test(f)
      || (f.startsWith('test/') && f !== 'test/reliability/README.md')
      || (f.startsWith('scripts/hil/') && f !== 'scripts/hil/README.md'));
    expect(stray).toEqual([]);
  });
});
