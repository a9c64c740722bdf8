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

describe('vfio bench --sim-iommu', () => {
  // An opener that passes the sim options on, as lib/open.ts does.
  const withOptions: BackendOpener = (_choice, opts) => ({ backend: new SimBackend(opts?.sim), reason: 'sim: requested' });

  it('runs on the named profile, and every table, the JSON, the CSV and the HTML report say which IOMMU', async () => {
    const r = await runCli(['bench', ...fast, '--sim-iommu', 'amd-vi-qemu'], { open: withOptions });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IOMMU: sim amd-vi-qemu: simulated: AMD-Vi as QEMU 7\.2 emulates it/m);
    const titles = r.stdout.split('\n').filter((l) => /^(Map cost|Planner overhead)/.test(l));
    expect(titles).toHaveLength(2);
    for (const t of titles) expect(t).toMatch(/\[IOMMU: sim amd-vi-qemu\] \[simulated\]$/);

    const doc = JSON.parse((await runCli(['bench', ...fast, '--json', '--sim-iommu', 'amd-vi-qemu'], { open: withOptions })).stdout);
    expect(doc.iommu).toEqual({ name: 'sim amd-vi-qemu', description: expect.stringMatching(/AMD-Vi/), driver: 'amd-iommu', simProfile: 'amd-vi-qemu' });

    const csv = (await runCli(['bench', ...fast, '--csv', '--sim-iommu', 'vtd-qemu'], { open: withOptions })).stdout.trimEnd().split('\n');
    const col = csv[0]!.split(',').indexOf('iommu');
    expect(csv.slice(1).every((l) => l.split(',')[col] === 'sim vtd-qemu')).toBe(true);

    const out = join(dir, 'report-amd');
    expect((await runCli(['bench', ...fast, '--report', out, '--sim-iommu', 'amd-vi'], { open: withOptions })).code).toBe(0);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toMatch(/<dt>IOMMU<\/dt><dd>sim amd-vi: /);
    expect(html).toMatch(/<h2>Map cost: the kernel thread&#39;s matrix \[IOMMU: sim amd-vi\] \(simulated\)<\/h2>|<h2>Map cost: the kernel thread(?:'|&#39;|&apos;)s matrix \[IOMMU: sim amd-vi\] \(simulated\)<\/h2>/);
    expect(html).toMatch(/<caption>[^<]*\[IOMMU: sim amd-vi\]<\/caption>/);
  });

  it('without it, the default profile (vtd) is named', async () => {
    const r = await runCli(['bench', ...fast], { open: withOptions });
    expect(r.stdout).toMatch(/^IOMMU: sim vtd: /m);
    expect(r.stdout).toMatch(/\[IOMMU: sim vtd\] \[simulated\]/);
  });

  it('refuses an unknown name, listing the profiles, and a native run (exit 2)', async () => {
    const bad = await runCli(['bench', '--sim-iommu', 'amd'], { open: withOptions });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--sim-iommu must be one of vtd, vtd-qemu, amd-vi, amd-vi-qemu, got "amd"/);
    for (const argv of [['--group', '3'], ['--device', '0000:00:03.0'], ['--backend', 'native']]) {
      const r = await runCli(['bench', ...argv, '--sim-iommu', 'amd-vi'], { open: withOptions });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--sim-iommu chooses the IOMMU the simulated backend imitates/);
    }
  });

  it('the help lists every profile', async () => {
    const r = await runCli(['bench', '--help']);
    for (const name of ['vtd (default)', 'vtd-qemu', 'amd-vi', 'amd-vi-qemu']) expect(r.stdout).toContain(`  ${name}`);
  });

  it('--compare warns when the baseline ran on another IOMMU', async () => {
    const base = (await runCli(['bench', ...fast, '--json', '--sim-iommu', 'vtd'], { open: withOptions })).stdout;
    const path = join(dir, 'vtd.json');
    writeFileSync(path, base);
    const r = await runCli(['bench', ...fast, '--sim-iommu', 'amd-vi', '--compare', path, '--max-regression', '1000%'], { open: withOptions });
    expect(r.stdout + r.stderr).toMatch(/IOMMU differs: baseline sim vtd, now sim amd-vi/);
  });
});

describe.skipIf(existsSync('/dev/vfio/vfio'))('vfio bench --backend auto on a host without VFIO', () => {
  it('falls back to the sim through lib/open.ts and says why', async () => {
    const r = await runCli(['bench', '--backend', 'auto', ...fast]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend: sim \(SIMULATED\)\s+\(sim: native backend unavailable/);
  });
});
