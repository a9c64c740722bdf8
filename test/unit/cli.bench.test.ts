import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { SimBackend } from '../../lib/sim/index.js';
import { runCli } from './cli.helpers.js';

const sim: BackendOpener = () => ({ backend: new SimBackend(), reason: 'sim: requested' });
const dir = mkdtempSync(join(tmpdir(), 'vfio-cli-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --warmup 0 also skips warming the planner-overhead figures until stable (thousands of calls): these tests read formats, not speeds.
const fast = ['--reps', '3', '--warmup', '0'];

describe('vfio bench on the sim', () => {
  it('prints the matrix, labelled simulated, with the kernel thread figures beside it', async () => {
    const r = await runCli(['bench', ...fast], { open: sim });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend: sim \(SIMULATED\)/);
    expect(r.stdout).toMatch(/\[simulated\]/);
    expect(r.stdout).toMatch(/kernel thread, 4\.19, in-kernel pin/);
    expect(r.stdout).toMatch(/Planner overhead on the single-page path/);
    const rows = r.stdout.split('\n').filter((l) => /^(1 page|2 MiB)\s/.test(l));
    expect(rows).toHaveLength(18);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a terminal
  });

  it('--json is a node-vfio/bench@1 document with 18 cells of samples', async () => {
    const r = await runCli(['bench', ...fast, '--json'], { open: sim });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'node-vfio/bench@1', backend: 'sim', simulated: true });
    expect(doc.cells).toHaveLength(18);
    expect(doc.cells.every((c: { samples: number[] }) => c.samples.length === 3)).toBe(true);
  });

  it('--csv has a row per cell', async () => {
    const r = await runCli(['bench', ...fast, '--csv'], { open: sim });
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(19);
  });

  it('--report writes a self-contained HTML page', async () => {
    const out = join(dir, 'report');
    const r = await runCli(['bench', ...fast, '--report', out], { open: sim });
    expect(r.code).toBe(0);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toMatch(/<svg /);
    expect(r.stderr).toMatch(/report written to/);
  });

  it('--ref on the sim says it is unavailable and why', async () => {
    const r = await runCli(['bench', ...fast, '--ref'], { open: sim });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--ref unavailable: .*simulated/);
  });

  it('--compare: 0 against itself, 3 with the slower cells named, 2 for a bad baseline', async () => {
    const base = await runCli(['bench', ...fast, '--json'], { open: sim });
    const basePath = join(dir, 'base.json');
    writeFileSync(basePath, base.stdout);
    const same = await runCli(['bench', ...fast, '--compare', basePath], { open: sim });
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/no regression beyond 10\.0%/);

    // Pretend the baseline was twice as fast on two cells.
    const doc = JSON.parse(base.stdout);
    doc.cells[0].median /= 2;
    doc.cells[4].median /= 2;
    const fasterPath = join(dir, 'faster.json');
    writeFileSync(fasterPath, JSON.stringify(doc));
    const slow = await runCli(['bench', ...fast, '--compare', fasterPath, '--max-regression', '10%'], { open: sim });
    expect(slow.code).toBe(3);
    expect(slow.stdout).toMatch(/REGRESSION: 2 cell\(s\)/);
    expect(slow.stdout).toContain('matrix map contiguous 1 page 4k per-page');

    // With --json the comparison goes to stderr so stdout stays parseable.
    const js = await runCli(['bench', ...fast, '--json', '--compare', fasterPath], { open: sim });
    expect(js.code).toBe(3);
    expect(() => JSON.parse(js.stdout)).not.toThrow();
    expect(js.stderr).toMatch(/REGRESSION/);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"schema":"other"}');
    expect((await runCli(['bench', '--compare', bad], { open: sim })).code).toBe(2);
    expect((await runCli(['bench', '--compare', join(dir, 'absent.json')], { open: sim })).code).toBe(2);
  });

  it('a backend that cannot open is exit 1 with its message', async () => {
    const broken: BackendOpener = () => {
      throw new Error('native addon not built');
    };
    const r = await runCli(['bench', '--group', '3'], { open: broken });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/native addon not built/);
  });

  it('draws a progress bar on a terminal', async () => {
    const r = await runCli(['bench', ...fast], { open: sim, tty: true });
    expect(r.stderr).toMatch(/\[#+\.*\] \d+\/18/);
  });

  it('--compare refuses a baseline from the other kind of backend (exit 2)', async () => {
    const base = JSON.parse((await runCli(['bench', ...fast, '--json'], { open: sim })).stdout);
    base.simulated = false;
    base.backend = 'native';
    const path = join(dir, 'native.json');
    writeFileSync(path, JSON.stringify(base));
    const r = await runCli(['bench', ...fast, '--compare', path], { open: sim });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not comparable/);
  });
});

describe.skipIf(existsSync('/dev/vfio/vfio'))('vfio bench --backend auto on a host without VFIO', () => {
  it('falls back to the sim through lib/open.ts and says why', async () => {
    const r = await runCli(['bench', '--backend', 'auto', ...fast]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend: sim \(SIMULATED\)\s+\(sim: native backend unavailable/);
  });
});
