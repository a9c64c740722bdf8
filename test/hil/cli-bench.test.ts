// The `vfio` CLI on a real kernel: probe reads GET_INFO from a real container,
// bench runs the kernel thread's matrix on the native backend (real ioctls,
// real pins) and the C reference over the same plans, and nothing stays
// pinned afterwards. Shapes and invariants only: no timing is asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/run.js';
import type { BenchReport } from '../../lib/bench/schema.js';
import { inLaneVm, laneIommu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

describe.skipIf(!onVfioHost)(`vfio CLI on the native backend (${SKIP_REASON})`, () => {
  const cache = mkdtempSync(join(tmpdir(), 'vfio-ref-cache-'));
  const savedCache = process.env.XDG_CACHE_HOME;
  afterAll(() => {
    if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedCache;
    rmSync(cache, { recursive: true, force: true });
  });

  it('probe --group reports the real container: page sizes, IOVA ranges, DMA entries', async () => {
    const dev = testDevice();
    const r = await run(['probe', '--json', '--group', String(dev.group)]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.vfio.present).toBe(true);
    expect(doc.native.available).toBe(true);
    expect(doc.extensions.TYPE1v2).toBe(true);
    expect(doc.container.error).toBeUndefined();
    expect(doc.container.group).toBe(dev.group);
    expect(doc.container.pageSizes).toContain(4096);
    expect(doc.container.ranges.length).toBeGreaterThan(0);
    expect(typeof doc.container.dmaAvail).toBe('number');
    const group = doc.groups.find((g: { id: number }) => g.id === dev.group);
    expect(group.devices.map((d: { address: string }) => d.address)).toContain(dev.address);
    // The IOMMU, by its driver, and the sim profile whose GET_INFO is this kernel's, exactly.
    if (inLaneVm && laneIommu !== 'none') {
      const amd = laneIommu === 'amd';
      expect(doc.iommu.driver).toBe(amd ? 'amd-iommu' : 'intel-iommu');
      expect(doc.iommu.group).toMatchObject({ id: dev.group, unit: expect.stringMatching(amd ? /^ivhd\d+$/ : /^dmar\d+$/) });
      expect(doc.iommu.simProfile).toMatchObject({ basis: 'GET_INFO' });
      expect(doc.iommu.simProfile.matches).toContain(amd ? 'amd-vi-qemu' : 'vtd-qemu');
    }
  });

  it('bench --device --ref runs the matrix on real ioctls, beside the C reference, and leaves nothing pinned', async () => {
    const dev = testDevice();
    process.env.XDG_CACHE_HOME = cache; // the reference is compiled here
    const before = (await nativeBackend()).openContainer();
    const lockedBefore = before.memlock().locked;
    before.close();

    const r = await run(['bench', '--device', dev.address, '--reps', '3', '--warmup', '1', '--json', '--ref']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as BenchReport;
    expect(report).toMatchObject({ schema: 'node-vfio/bench@1', backend: 'native', simulated: false });
    // Every table is labelled with the host's IOMMU driver.
    if (inLaneVm && laneIommu !== 'none') expect(report.iommu).toMatchObject({ name: laneIommu === 'amd' ? 'amd-iommu' : 'intel-iommu', simProfile: null });
    expect(report.options.group).toBe(dev.group);
    expect(report.cells).toHaveLength(18);
    for (const c of report.cells) {
      expect(c.skipped, c.id).toBeUndefined();
      expect(c.samples).toHaveLength(3);
      expect(c.entries).toBe(c.strategy === 'per-page' ? c.pages : 1);
      // The C reference ran the same plan for every cell, and the addon's loop ran it again after C.
      expect(c.ref?.samples, c.id).toHaveLength(3);
      expect(c.ref?.addonAfter, c.id).toHaveLength(3);
      expect(c.ref!.ratio).toBeCloseTo(c.ref!.addonMedian! / c.ref!.median, 9);
      // And the C loop in this process, on the same container, alternating with the executor.
      expect(c.floor?.samples, c.id).toHaveLength(6);
      expect(c.floor!.addonSamples).toHaveLength(3);
      for (const t of c.floor!.samples) expect(t).toBeGreaterThan(0);
      // Each JS-timed call holds its own ioctls' windows: over them, never under.
      expect(c.jsOverInside, c.id).toBeGreaterThan(1);
    }
    // No cell skipped or failed. A warm-up note ('JS timings still falling', measured) is a
    // timing judgement, which under emulation depends on the load: not asserted here.
    expect(report.notes.filter((n) => !/JS timings still falling/.test(n))).toEqual([]);
    expect(report.plannerOverhead).toHaveLength(3);

    const after = (await nativeBackend()).openContainer();
    expect(after.memlock().locked).toBe(lockedBefore);
    after.close();
  });
});
