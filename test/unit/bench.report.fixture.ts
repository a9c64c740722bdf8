// Bench reports that exercise every part of the HTML report: every suite,
// skipped cells, iommufd beside type1, the kernel pin path (available or not),
// the irq suite (latency beside C, the event-loop stall table; or unavailable),
// and a "future" suite that no report code knows about, which must still get a
// table and a chart from its cells alone.
import type { Backing } from '../../lib/backend.js';
import type { IrqBenchReport } from '../../lib/bench/irq.js';
import type { KernelPinCell, KernelPinReport } from '../../lib/bench/kernel-pin.js';
import type { OverheadReport } from '../../lib/bench/overhead.js';
import { BENCH_SCHEMA, cellId, type BenchReport, type CellResult, type Strategy } from '../../lib/bench/schema.js';
import { summarize } from '../../lib/bench/stats.js';

type Spec = Pick<CellResult, 'suite' | 'op' | 'pattern' | 'size' | 'backing' | 'strategy'> & { interface?: 'type1' | 'iommufd' };

/** A cell whose samples scale with the pages it covers, with a per-backing and per-strategy factor. */
export function cell(spec: Spec, skipped?: string): CellResult {
  const pages = spec.size / 4096;
  const id = cellId(spec);
  if (skipped) {
    return { ...spec, id, pages, entries: 0, samples: [], min: NaN, median: NaN, p99: NaN, mean: NaN, nsPerPage: NaN,
      jsSamples: [], jsMedian: NaN, speedup: null, skipped };
  }
  const b = { '4k': 3, thp: 2, hugetlb: 1 }[spec.backing];
  const st = spec.strategy === 'per-page' ? 10 : spec.strategy === 'coalesced' ? 2 : 1;
  const base = 200 + 50 * b * st * pages;
  const samples = [base, base * 1.1, base * 1.3];
  const s = summarize(samples);
  return { ...spec, id, pages, entries: spec.strategy === 'per-page' ? pages : 1, samples, min: s.min, median: s.median,
    p99: s.p99, mean: s.mean, nsPerPage: s.median / pages, jsSamples: samples.map((v) => v + 700), jsMedian: s.median + 700,
    speedup: null };
}

const BACKINGS: Backing[] = ['4k', 'thp', 'hugetlb'];
const STRATEGIES: Strategy[] = ['per-page', 'coalesced', 'kernel'];
const MiB = 1 << 20;

function grid(suite: CellResult['suite'], op: CellResult['op'], pattern: CellResult['pattern'], sizes: number[], iface?: 'iommufd'): CellResult[] {
  return sizes.flatMap((size) => BACKINGS.flatMap((backing) => STRATEGIES.map((strategy) =>
    cell({ suite, op, pattern, size, backing, strategy, ...(iface ? { interface: iface } : {}) }))));
}

export function kernelPin(available: boolean): KernelPinReport {
  if (!available) {
    return { kernel: '6.12.0-test', available: false, reason: 'no /dev/iommu: the kernel has no CONFIG_IOMMUFD', reps: 3, warmup: 1, cells: [] };
  }
  const cells: KernelPinCell[] = [];
  for (const pages of [1, 512]) {
    for (const backing of BACKINGS) {
      for (const mode of pages === 1 ? ['one-call' as const] : ['per-page' as const, 'one-call' as const]) {
        const median = (mode === 'per-page' ? 16000 : 300) * pages + 1000;
        const c = { pages, backing, mode, calls: mode === 'per-page' ? pages : 1, samples: [median], min: median, median,
          p99: median, nsPerPage: median / pages, unpinMedian: median / 2, speedup: mode === 'per-page' || pages === 1 ? null : 16000 / 300 };
        cells.push(backing === 'hugetlb' && pages === 512 && mode === 'per-page'
          ? { ...c, samples: [], min: NaN, median: NaN, p99: NaN, nsPerPage: NaN, unpinMedian: NaN, speedup: null, skipped: 'no free 2 MiB hugetlb page' }
          : c);
      }
    }
  }
  return { kernel: '6.12.0-test', available: true, reason: null, reps: 3, warmup: 1, cells };
}

/** Every suite, as `--suite all,irq --interface both` on a kernel with the pin path would write it, plus a future suite. */
export function fullReport(opts: { simulated?: boolean; kernelPin?: boolean; overhead?: boolean; irq?: IrqFixture } = {}): BenchReport {
  const scaling = Array.from({ length: 8 }, (_, i) => 4096 << i);
  const cells = [
    ...grid('matrix', 'map', 'contiguous', [4096, 2 * MiB]),
    ...grid('matrix', 'map', 'contiguous', [4096, 2 * MiB], 'iommufd'),
    // 128 KiB hugetlb skipped: its line must break there, not bridge the gap.
    ...grid('scaling', 'map', 'contiguous', scaling).map((c) => (c.size === 131072 && c.backing === 'hugetlb'
      ? cell(c, 'cannot allocate a hugetlb buffer') : c)),
    ...(['pool', 'strided', 'scatter', 'vm-map'] as const).flatMap((p) => grid('patterns', 'map', p, [64 * MiB])),
    ...grid('unmap', 'unmap', 'contiguous', [4096, 2 * MiB, 64 * MiB]),
    ...[2 * MiB, 64 * MiB, 1024 * MiB].flatMap((size) => BACKINGS.map((backing) =>
      cell({ suite: 'dirty', op: 'dirty', pattern: 'contiguous', size, backing, strategy: null }))),
    // A suite the report has no code for: cells it has never seen the like of.
    ...[1, 4, 16].flatMap((vectors) => (['eventfd', 'poll'] as const).map((how) =>
      cell({ suite: 'future' as CellResult['suite'], op: 'future' as CellResult['op'], pattern: how as unknown as CellResult['pattern'],
        size: vectors * 4096, backing: '4k', strategy: null }))),
  ];
  const simulated = opts.simulated ?? true;
  return {
    schema: BENCH_SCHEMA, createdAt: '2026-01-01T00:00:00.000Z',
    host: { hostname: 'test-host', arch: 'x64', cpus: 2, cpuModel: 'Test CPU', memBytes: 1 << 30 },
    kernel: '6.12.0-test', node: 'v20.0.0', backend: simulated ? 'sim' : 'native', simulated, backendReason: 'synthetic',
    iommu: simulated
      ? { name: 'sim amd-vi-qemu', description: 'simulated: AMD-Vi as QEMU 7.2 emulates it', driver: 'amd-iommu', simProfile: 'amd-vi-qemu' }
      : { name: 'intel-iommu', description: 'Intel VT-d (intel-iommu: dmar0)', driver: 'intel-iommu', simProfile: null },
    options: { reps: 3, warmup: 1, suites: ['matrix', 'scaling', 'patterns', 'unmap', 'dirty', 'future' as CellResult['suite']], group: null, device: null },
    cells, plannerOverhead: [{ backing: '4k', directNs: 1500, plannedNs: 1700, overheadNs: 200, buildNs: 80, batchNs: 120, limitsNs: null }],
    notes: ['hugetlb: 128 KiB cell skipped (synthetic)'],
    kernelPin: kernelPin(opts.kernelPin ?? true),
    overhead: overhead(opts.overhead ?? true),
    ...(opts.irq === 'none' ? {} : { irq: irqReport(opts.irq ?? 'full', simulated) }),
  };
}

/** full: latency (JS and C) and stall; no-c: the C reference failed; no-edu: latency unavailable, stall measured; none: absent. */
export type IrqFixture = 'full' | 'no-c' | 'no-edu' | 'none';

/** Samples spread around a median, so min < median < p99. */
function latencyRow(kind: 'msi' | 'intx', side: 'js' | 'c', median: number): IrqBenchReport['rows'][number] {
  const samples = [0.8, 0.9, 1, 1, 1.1, 3].map((f) => Math.round(median * f));
  const s = summarize(samples);
  return { kind, side, samples, min: s.min, median: s.median, p99: s.p99, coalesced: 0 };
}

export function irqReport(kind: Exclude<IrqFixture, 'none'>, simulated: boolean): IrqBenchReport {
  const withC = kind === 'full' && !simulated;
  const rows = kind === 'no-edu' ? [] : (['msi', 'intx'] as const).flatMap((k) => [
    latencyRow(k, 'js', k === 'msi' ? 150_000 : 170_000), ...(withC ? [latencyRow(k, 'c', k === 'msi' ? 20_000 : 18_000)] : []),
  ]);
  const phase = (id: 'idle' | 'sync' | 'async' | 'async-chunked', label: string, longest: number[], wall: number[], entries: number) => ({
    id, label, entries, longestMs: longest, worstMs: Math.max(...longest), p99Ms: Math.max(...longest) / 2, medianGapMs: 1.1,
    ticks: 900, wallMs: wall, callMs: wall.map((w) => (id === 'sync' ? w : id === 'idle' ? 0 : 0.4)), gcCount: id === 'async' ? 1 : 0, gcLongestMs: id === 'async' ? 2.5 : 0,
  });
  return {
    kernel: '6.12.0-test', available: kind !== 'no-edu', reason: kind === 'no-edu' ? '0000:00:03.0 is not QEMU\'s edu (1234:11e8)' : null,
    simulated, device: '0000:00:03.0', group: simulated ? null : 3, runs: 6, warmup: 1, rounds: 2, rows,
    ref: withC ? { available: true, reason: null } : { available: false, reason: simulated ? 'the simulator has no kernel' : 'cc not found' },
    ratios: withC ? { msi: 7.5, intx: 170 / 18 } : {}, notes: kind === 'no-c' ? ['msi, C reference: cc not found'] : [],
    stall: {
      available: true, reason: null, simulated, kernel: '6.12.0-test', size: 1 << 30, pages: 262144, sizeReason: '1 GiB (synthetic)',
      backing: '4k', offLoop: !simulated, rounds: 3,
      phases: [
        phase('idle', 'nothing running (baseline)', [4.5, 6.1, 3.9], [390, 400, 410], 0),
        phase('sync', 'mapBatch (sync, on the JS thread)', [392, 401, 415], [390, 400, 410], 1),
        phase('async', 'mapBatchAsync (libuv pool), one entry', [9.8, 12.2, 8.1], [395, 405, 412], 1),
        phase('async-chunked', 'mapBatchAsync (libuv pool), 2 MiB entries', [7.7, 8.8, 6.5], [420, 430, 440], 512),
      ],
      target: simulated ? null : { limitMs: 10, asyncWorstMs: 12.2, met: false },
      warmup: { syncCallMs: 0.41, asyncCallMs: 7.93, asyncStallMs: 21.6 }, notes: [],
    },
  };
}

/** The overhead suite, measured (three figures, two targets, one missed) or unavailable. */
function overhead(available: boolean): OverheadReport {
  const base = { rounds: 5, loadAverage: 0.5, stable: true, syscall: available ? 'getppid' : null };
  if (!available) return { ...base, available, reason: 'the addon is not built', figures: [], targets: [] };
  return {
    ...base, available, reason: null,
    figures: [
      { id: 'syscall', label: 'system call, C loop', ns: 410, min: 400, max: 430 },
      { id: 'map', label: 'map(), 1 page', ns: 897, min: 880, max: 950 },
      { id: 'planned-1', label: 'buildPlan + mapBatch, 1 page', ns: 3099, min: 3000, max: 3300 },
    ],
    targets: [
      { id: 'map-vs-syscall', label: 'map() over the system call', value: 487, limit: 300, unit: 'ns', met: false },
      { id: 'planned-vs-map', label: 'planned over map()', value: 3.45, limit: 1.1, unit: 'x', met: false },
    ],
  };
}

/** What the page receives when it is rendered from a JSON file: NaN became null. */
export function viaJson(r: BenchReport): BenchReport {
  return JSON.parse(JSON.stringify(r)) as BenchReport;
}
