// Synthetic bench reports: known samples, so formatters and the regression
// gate can be checked without running anything.
import { fillSpeedups } from '../../lib/bench/runner.js';
import { BENCH_SCHEMA, cellId, type BenchReport, type CellResult, type Strategy } from '../../lib/bench/schema.js';
import { summarize } from '../../lib/bench/stats.js';
import type { Backing } from '../../lib/backend.js';

export function syntheticCell(size: number, backing: Backing, strategy: Strategy, samples: number[]): CellResult {
  const s = summarize(samples);
  const spec = { suite: 'matrix' as const, op: 'map' as const, pattern: 'contiguous' as const, size, backing, strategy };
  return {
    ...spec, id: cellId(spec), pages: size / 4096, entries: strategy === 'per-page' ? size / 4096 : 1,
    samples, min: s.min, median: s.median, p99: s.p99, mean: s.mean, nsPerPage: s.median / (size / 4096),
    jsSamples: samples.map((v) => v + 500), jsMedian: s.median + 500, speedup: null,
  };
}

export function syntheticReport(scale = 1, simulated = true): BenchReport {
  const cells: CellResult[] = [];
  for (const size of [4096, 2 * 1024 * 1024]) {
    const pages = size / 4096;
    for (const backing of ['4k', 'thp', 'hugetlb'] as const) {
      cells.push(syntheticCell(size, backing, 'per-page', [1000, 1100, 1200].map((v) => v * pages * scale)));
      cells.push(syntheticCell(size, backing, 'coalesced', [900, 1000, 1300].map((v) => (v + 300 * pages) * scale)));
      cells.push(syntheticCell(size, backing, 'kernel', [900, 1000, 1300].map((v) => (v + 300 * pages) * scale)));
    }
  }
  fillSpeedups(cells);
  return {
    schema: BENCH_SCHEMA, createdAt: '2026-01-01T00:00:00.000Z',
    host: { hostname: 'test-host', arch: 'x64', cpus: 2, cpuModel: 'Test CPU', memBytes: 1 << 30 },
    kernel: '6.12.0-test', node: 'v20.0.0', backend: simulated ? 'sim' : 'native', simulated, backendReason: 'synthetic',
    iommu: simulated
      ? { name: 'sim amd-vi-qemu', description: 'simulated: AMD-Vi as QEMU 7.2 emulates it', driver: 'amd-iommu', simProfile: 'amd-vi-qemu' }
      : { name: 'intel-iommu', description: 'Intel VT-d (intel-iommu: dmar0)', driver: 'intel-iommu', simProfile: null },
    options: { reps: 3, warmup: 0, suites: ['matrix'], group: null, device: null },
    cells, plannerOverhead: [{ backing: '4k', directNs: 1500, plannedNs: 1700, overheadNs: 200 }], notes: [],
  };
}
