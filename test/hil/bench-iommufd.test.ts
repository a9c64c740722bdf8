// `vfio bench --interface both` on a real kernel: both interfaces measured in
// one run. With /dev/iommu and the device's cdev (the built kernel) every
// type1 cell has a measured iommufd twin; without (Debian's kernel) the run
// still succeeds, type1 only, and says why iommufd was not measured. Shapes
// only: no timing is asserted (figures: the report, and `vfio bench` itself).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../lib/bench/schema.js';
import { main } from '../../lib/cli/run.js';
import { onVfioHost, SKIP_REASON, testDevice } from './lane.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

describe.skipIf(!onVfioHost)(`vfio bench --interface both on the native backend (${SKIP_REASON})`, () => {
  it('measures type1 and, where the kernel has iommufd, iommufd in one report', async () => {
    const r = await run(['bench', '--device', testDevice().address, '--interface', 'both', '--suite', 'matrix',
      '--reps', '2', '--warmup', '1', '--json', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as BenchReport;
    const t1 = rep.cells.filter((c) => c.interface === 'type1');
    const fd = rep.cells.filter((c) => c.interface === 'iommufd');
    expect(t1.length).toBeGreaterThan(0);
    expect(t1.some((c) => !c.skipped)).toBe(true);
    if (existsSync('/dev/iommu') && existsSync('/dev/vfio/devices')) {
      expect(fd.length).toBe(t1.length);
      for (const c of t1.filter((x) => !x.skipped)) {
        const twin = fd.find((f) => f.id === `iommufd/${c.id}`)!;
        expect(twin.skipped, twin.id).toBeUndefined();
        expect(twin.entries).toBe(c.entries);
        expect(twin.median).toBeGreaterThan(0);
      }
      expect(rep.notes.some((n) => /^iommufd: IOAS \d+ with vfio\d+ attached/.test(n))).toBe(true);
    } else {
      expect(fd).toEqual([]);
      expect(rep.notes.some((n) => /^iommufd not measured: /.test(n))).toBe(true);
    }
  });
});
