// `vfio bench --interface`: both kernel interfaces measured in one run, each
// cell tagged, ids kept apart (type1's unchanged for old baselines), and
// speed-ups computed within one interface. On the sim; the native run is in HIL.
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../lib/bench/schema.js';
import { runCli } from './cli.helpers.js';

async function bench(...extra: string[]): Promise<BenchReport> {
  const r = await runCli(['bench', '--backend', 'sim', '--suite', 'matrix', '--reps', '2', '--warmup', '0', '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as BenchReport;
}

describe('bench --interface', () => {
  it('type1 by default: cells tagged type1, ids as before', async () => {
    const rep = await bench();
    expect(rep.cells.length).toBeGreaterThan(0);
    expect(rep.cells.every((c) => c.interface === 'type1' && !c.id.startsWith('iommufd/'))).toBe(true);
  });

  it('both: every type1 cell has an iommufd twin with a prefixed id, measured through an attached IOAS', async () => {
    const rep = await bench('--interface', 'both');
    const t1 = rep.cells.filter((c) => c.interface === 'type1');
    const fd = rep.cells.filter((c) => c.interface === 'iommufd');
    expect(fd.length).toBe(t1.length);
    for (const c of t1) {
      const twin = fd.find((f) => f.id === `iommufd/${c.id}`);
      expect(twin, c.id).toBeDefined();
      expect(twin!.skipped).toBeUndefined();
      expect(twin!.entries).toBe(c.entries);
      // Speed-ups are relative to the per-page cell of the same interface.
      if (c.strategy === 'per-page') expect(twin!.speedup).toBe(1);
    }
    expect(rep.notes.some((n) => /iommufd: IOAS \d+ with vfio0 attached/.test(n))).toBe(true);
  });

  it('iommufd alone, and the table gains an interface column', async () => {
    const rep = await bench('--interface', 'iommufd');
    expect(rep.cells.every((c) => c.interface === 'iommufd')).toBe(true);
    const t = await runCli(['bench', '--backend', 'sim', '--suite', 'matrix', '--reps', '1', '--warmup', '0', '--interface', 'both']);
    expect(t.stdout).toMatch(/^interface\s+size\s+backing/m);
    expect(t.stdout).toMatch(/^iommufd\s+2 MiB\s+thp\s+coalesced/m);
  });

  it('an unknown interface is a usage error (exit 2)', async () => {
    const r = await runCli(['bench', '--interface', 'vfio']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--interface must be type1, iommufd or both/);
  });
});
