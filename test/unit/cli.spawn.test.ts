// The real executable: compiled with the build config, started as a process
// (through a symlink, as npm links bin entries), exit codes read from the OS.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
// Inside node_modules so the compiled files resolve the package's dependencies.
const out = join(repo, 'node_modules/.cache', `vfio-cli-spawn-${process.pid}`);
const entry = join(out, 'dist/cli/main.js');

beforeAll(() => {
  mkdirSync(out, { recursive: true });
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json'),
    '--outDir', join(out, 'dist')], { stdio: 'pipe' });
  // dist/cli/main.js reads ../../package.json for --version.
  copyFileSync(join(repo, 'package.json'), join(out, 'package.json'));
  symlinkSync(entry, join(out, 'vfio'));
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

function vfio(args: string[]) {
  return spawnSync(process.execPath, [join(out, 'vfio'), ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('the compiled vfio executable', () => {
  it('starts with a node shebang', () => {
    const head = execFileSync('head', ['-c', '19', entry], { encoding: 'utf8' });
    expect(head).toBe('#!/usr/bin/env node');
  });

  it('runs the sim bench and exits 0', () => {
    const r = vfio(['bench', '--reps', '2', '--warmup', '0', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ schema: 'node-vfio/bench@1', simulated: true });
  });

  it('exits 2 on a usage error, without a stack', () => {
    const r = vfio(['bench', '--reps', 'many']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vfio: --reps wants a whole number/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
