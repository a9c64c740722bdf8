// A benchmark session: given a backend (and the host behind it), pick the
// group, attach it through each interface asked for, run the cells, time the
// C reference and the kernel's pin path where the host allows, and return the
// report. It knows no concrete backend: host facts come from the HostView.
import { freemem } from 'node:os';
import type { Backend, DmaInterface, DmaSpace, HostView, KernelPinner, OverheadProbe } from '../backend.js';
import { SZ_1G, SZ_2M } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { attachGroup } from '../seam/attach.js';
import { openIommufdSpace } from './iommufd-space.js';
import { runFacts } from './report-envelope.js';
import { runKernelPin, type KernelPinReport } from './kernel-pin.js';
import { DEFAULT_OVERHEAD, runOverhead, type OverheadReport } from './overhead.js';
import { buildRef, runRef } from './ref.js';
import { addonAgain } from './ref-bracket.js';
import { BenchRunner, type BenchPlanner, type MemoryBudget, type RunOutput } from './runner.js';
import { BENCH_SCHEMA, type BenchReport, type SuiteName } from './schema.js';
import { summarize } from './stats.js';
import { cellsFor } from './suites.js';

export interface SessionOptions {
  reps: number;
  warmup: number;
  suites: SuiteName[];
  /** The group to measure; else the group of `device`; else the host's default group. */
  group: number | null;
  device: string | null;
  interfaces: DmaInterface[];
  /** Largest buffer one cell may take; default a quarter of free memory, at most 1 GiB. */
  maxMemory: bigint | null;
  /** Also time the same plans from the C reference program. */
  ref: boolean;
  /** Also time the kernel's pin path. */
  kernelPin: boolean;
  /** Why this backend (goes into the report). */
  reason: string;
  planner: BenchPlanner;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Where the kernel's pin path comes from (lib/open.ts kernelPinSource). */
  kernelPinSource: () => { backend: Backend | null; pinner: KernelPinner | null };
  /** Also measure the library's own cost (--suite overhead). */
  overhead?: boolean;
  /** Where the stand-in comes from (lib/open.ts overheadSource). */
  overheadSource?: () => { backend: Backend | null; probe: OverheadProbe | null; reason: string | null };
}

/** The overhead table alone: like kernel-pin it needs no IOMMU group (nor VFIO at all). */
export function overheadOnly(opts: Pick<SessionOptions, 'planner' | 'overheadSource' | 'warmup'>): OverheadReport {
  const src = opts.overheadSource?.() ?? { backend: null, probe: null, reason: 'no overhead source given' };
  return runOverhead(src, { ...DEFAULT_OVERHEAD, planner: opts.planner, ...(opts.warmup === 0 ? { warm: false } : {}) });
}

/** The kernel pin table alone: it needs no IOMMU group, it times the kernel's pin path, not MAP_DMA. */
export function kernelPinOnly(opts: Pick<SessionOptions, 'reps' | 'warmup' | 'kernelPinSource'>): KernelPinReport {
  return runKernelPin({ reps: opts.reps, warmup: opts.warmup, ...opts.kernelPinSource() });
}

function chooseGroup(opts: SessionOptions, host: HostView): number {
  if (opts.group !== null) return opts.group;
  if (opts.device !== null) {
    const group = host.groupOfDevice(opts.device);
    if (group === undefined) throw new VfioError(Errno.ENODEV, 'bench', { device: opts.device }, `no PCI device ${opts.device} in sysfs`);
    if (group === null) throw new VfioError(Errno.ENODEV, 'bench', { device: opts.device }, 'the device has no IOMMU group (IOMMU off?)');
    return group;
  }
  const usable = host.defaultGroup();
  if (usable === null) {
    throw new VfioError(Errno.ENODEV, 'bench', {}, 'no viable IOMMU group with a vfio-pci device: pass --group N (see vfio probe)');
  }
  return usable;
}

function budgetFor(opts: SessionOptions, host: HostView, space: DmaSpace): MemoryBudget {
  const quarterFree = BigInt(freemem()) / 4n;
  const maxBuffer = opts.maxMemory ?? (quarterFree < SZ_1G ? quarterFree : SZ_1G);
  const ml = space.memlock();
  const lockable = ml.exempt || ml.limit === null ? null : ml.limit - ml.locked;
  return { maxBuffer, hugetlbFree: host.hugetlbFree(SZ_2M), lockable: lockable !== null && lockable < 0n ? 0n : lockable };
}

function measure(backend: Backend, host: HostView, groupId: number, opts: SessionOptions, withRef: boolean): RunOutput {
  const runIn = (space: DmaSpace, iface: DmaInterface): RunOutput => new BenchRunner(backend, space, opts.planner, {
    reps: opts.reps,
    warmup: opts.warmup,
    budget: budgetFor(opts, host, space),
    // With --ref: type1's plans kept for the C program, and the C loop in this process beside each cell, on
    // every interface (it needs no group handed over).
    keepPlans: withRef && iface === 'type1',
    floor: withRef,
    iface,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  }).run(opts.suites.flatMap(cellsFor));
  const out: RunOutput = { cells: [], plannerOverhead: [], notes: [], plans: new Map() };
  // One interface after the other: a group open for type1 blocks binding its device's cdev (EBUSY).
  for (const iface of opts.interfaces) {
    let part: RunOutput;
    if (iface === 'type1') {
      const attached = attachGroup(backend, groupId);
      try {
        part = runIn(attached.container, 'type1');
      } finally {
        attached.close();
      }
    } else {
      let space;
      try {
        space = openIommufdSpace(backend, host, groupId);
      } catch (err) {
        out.notes.push(`iommufd not measured: ${(err as Error).message}`);
        continue;
      }
      try {
        part = runIn(space.ioas, 'iommufd');
      } finally {
        space.close();
      }
      part.notes.unshift(`iommufd: IOAS ${space.ioas.id} with ${space.cdev} attached; IOMMU_IOAS_MAP/UNMAP timed by the same plan executor`
        + (space.ioas.simulated ? ' (sim: the same cost model as type1, so the two columns only differ where the semantics do)' : ''));
      // The planner's single-page overhead is an addon/JS figure; keep type1's when both ran.
      if (out.plannerOverhead.length) part.plannerOverhead = [];
    }
    out.cells.push(...part.cells);
    out.plannerOverhead.push(...part.plannerOverhead);
    out.notes.push(...part.notes.filter((n) => !out.notes.includes(n)));
    for (const [k, v] of part.plans) out.plans.set(k, v);
  }
  return out;
}

/**
 * Times the matrix plans from the C program, then the addon's kernel loop once more (ref-bracket.ts): addon, C,
 * addon. Both open the same group, so this runs after every space is closed.
 */
function addReference(backend: Backend, out: RunOutput, groupId: number, opts: SessionOptions, notes: string[]): void {
  try {
    const matrixPlans = new Map([...out.plans].filter(([id]) => id.startsWith('matrix/')));
    const ref = runRef(buildRef(), groupId, matrixPlans, opts.reps, opts.warmup);
    notes.push(...ref.errors);
    const again = addonAgain(backend, groupId, matrixPlans, opts.reps, opts.warmup);
    notes.push(...again.errors);
    for (const cell of out.cells) {
      const s = ref.samples.get(cell.id);
      if (!s?.length) continue;
      const { median } = summarize(s);
      const after = again.samples.get(cell.id) ?? [];
      const addon = summarize([...cell.samples, ...after]).median;
      cell.ref = { median, ratio: addon / median, samples: s, addonMedian: addon, addonAfter: after };
    }
  } catch (err) {
    notes.push(`--ref failed: ${(err as Error).message}`);
  }
}

export function runBenchSession(backend: Backend, host: HostView, opts: SessionOptions): BenchReport {
  const groupId = chooseGroup(opts, host);
  const notes: string[] = [];
  const refBlocked = opts.ref ? host.foreignIoctls() : null;
  if (refBlocked !== null) notes.push(`--ref unavailable: ${refBlocked}`);
  const wantRef = opts.ref && refBlocked === null;

  const out = measure(backend, host, groupId, opts, wantRef);
  if (wantRef) addReference(backend, out, groupId, opts, notes);

  const hostIommu = host.iommu(groupId);
  const kernelPin = opts.kernelPin ? kernelPinOnly(opts) : undefined;
  const overhead = opts.overhead ? overheadOnly(opts) : undefined;
  return {
    schema: BENCH_SCHEMA,
    ...runFacts(),
    backend: backend.name,
    simulated: backend.simulated,
    backendReason: opts.reason,
    iommu: { name: hostIommu.name, description: hostIommu.description, driver: hostIommu.driver, simProfile: hostIommu.simProfile },
    // A simulated group number names nothing on this host: the report gives none.
    options: { reps: opts.reps, warmup: opts.warmup, suites: opts.suites, group: backend.simulated ? null : groupId, device: opts.device },
    cells: out.cells,
    plannerOverhead: out.plannerOverhead,
    notes: [...notes, ...out.notes],
    ...(kernelPin ? { kernelPin } : {}),
    ...(overhead ? { overhead } : {}),
  };
}
