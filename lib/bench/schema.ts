// The shape of `vfio bench --json` (documented in SCHEMA.md). Bump the version
// in BENCH_SCHEMA on any change a consumer could trip on: a renamed or retyped
// field, a changed unit or cell id. Adding optional fields keeps @1.
import type { Backing, BackendName, DmaInterface } from '../backend.js';
import type { KernelPinReport } from './kernel-pin.js';
import type { OverheadReport } from './overhead.js';
import type { IrqBenchReport } from './irq.js';
import type { Strategy } from './names.js';

export const BENCH_SCHEMA = 'node-vfio/bench@1';

export { BACKINGS, STRATEGIES, type Strategy } from './names.js';

export type SuiteName = 'matrix' | 'scaling' | 'patterns' | 'unmap' | 'dirty';
export const SUITES: readonly SuiteName[] = ['matrix', 'scaling', 'patterns', 'unmap', 'dirty'];

/** What a cell times: mapping a plan, unmapping it, or reading a dirty bitmap. */
export type CellOp = 'map' | 'unmap' | 'dirty';

/** Memory layouts the requests describe (see patterns.ts). */
export type PatternName = 'contiguous' | 'pool' | 'strided' | 'scatter' | 'vm-map';

export interface CellResult {
  /** Stable key, compared across runs: suite/op/pattern/size/backing/strategy. */
  id: string;
  suite: SuiteName;
  op: CellOp;
  pattern: PatternName;
  /** Bytes the requests cover. */
  size: number;
  /** 4 KiB pages the requests cover. */
  pages: number;
  backing: Backing;
  /** null for ops that do not go through the planner (dirty). */
  strategy: Strategy | null;
  /** Plan entries (ioctls) per repetition. */
  entries: number;
  /**
   * ns per repetition, from the plan executor (native: CLOCK_MONOTONIC around
   * each ioctl; sim: cost model). With `timing` 'native-loop', every
   * repetition ran inside one native call (runPlanCycles), as a C loop does.
   */
  samples: number[];
  /** How `samples` were taken: 'native-loop' (no JS between repetitions) or 'js-loop' (one call from JS each). */
  timing?: 'native-loop' | 'js-loop';
  /**
   * The executor's ns per repetition when each repetition is a mapBatch /
   * unmapBatch call from JS: the same ioctls, with the planner and V8 between
   * them. Beside a 'native-loop' median it shows what returning to JS costs
   * the kernel path (caches, and under emulation far more).
   */
  jsLoopSamples?: number[];
  jsLoopMedian?: number;
  /**
   * JS end-to-end over the time inside those same calls' ioctls: the median of
   * jsSamples[i] / jsLoopSamples[i]. 1.2 means a sixth of a mapBatch call went
   * to everything but its ioctls (the planner's checks, N-API, the result).
   * Only where the ioctl times are measured (absent on the simulator, whose
   * times are its cost model's).
   */
  jsOverInside?: number;
  min: number;
  median: number;
  p99: number;
  mean: number;
  /** median / pages. */
  nsPerPage: number;
  /** ns per repetition measured in JS around the whole call (N-API and planner overhead included). */
  jsSamples: number[];
  jsMedian: number;
  /** per-page median / this median, for the same size, backing and pattern; null without a per-page cell. */
  speedup: number | null;
  /**
   * The C reference program's median for the same plan, and the addon's against it. The addon's kernel loop runs
   * again after C (addon, C, addon: lib/bench/ref-bracket.ts), so `addonMedian` is the median of `samples` and
   * `addonAfter` together, and `ratio` = addonMedian / median: a drift over the run cancels.
   */
  ref?: { median: number; ratio: number; samples: number[]; addonMedian?: number; addonAfter?: number[] };
  /**
   * With --ref where the space has it (runBareCycles): the C reference's loop run in this process on the same
   * space and plan, alternating with the executor (executor, loop, executor, loop), so both are timed moments
   * apart. `samples` the loop's, `addonSamples` the executor's second pass, `ratio` = the median of the
   * executor's two passes / the loop's median: what the addon adds to the kernel's time, drift paired out.
   */
  floor?: { median: number; ratio: number; samples: number[]; addonSamples: number[] };
  /** Set when the cell was not run; the figures are then NaN (null in JSON) and samples empty. */
  skipped?: string;
  /** The kernel interface measured: type1 (a VFIO container) or iommufd (an IOAS). Absent = type1. */
  interface?: DmaInterface;
}

export interface PlannerOverhead {
  backing: Backing;
  /** JS-measured median of one DmaSpace.map() of one page. */
  directNs: number;
  /** JS-measured median of buildPlan + mapBatch of the same page. */
  plannedNs: number;
  overheadNs: number;
  /** Its parts: buildPlan alone, mapBatch alone (limits check + executor), the limits check alone. */
  buildNs?: number;
  batchNs?: number;
  limitsNs?: number | null;
  /**
   * The measured figures come after warming until stable: the median of the
   * first warm-up round (buildPlan + mapBatch, what a cold run reads), the
   * calls spent warming, and whether the timings settled in the budget.
   */
  coldPlannedNs?: number;
  warmupCalls?: number;
  stable?: boolean;
}

export interface BenchIommu {
  /** Short label, as every table title carries it. */
  name: string;
  description: string;
  /** The kernel driver, or the one the sim profile imitates; null when the host showed none. */
  driver: string | null;
  simProfile: string | null;
}

/** " [IOMMU: name]" for a table title; '' for a report that does not say. */
export function iommuTag(r: Pick<BenchReport, 'iommu'>): string {
  return r.iommu ? ` [IOMMU: ${r.iommu.name}]` : '';
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  host: { hostname: string; arch: string; cpus: number; cpuModel: string; memBytes: number };
  kernel: string;
  node: string;
  backend: BackendName;
  /** True when every figure comes from the sim's cost model. */
  simulated: boolean;
  /** Why this backend was chosen. */
  backendReason: string;
  /**
   * The IOMMU the cells ran on: the host's driver (name 'intel-iommu', 'amd-iommu') or the sim's profile
   * (name 'sim amd-vi-qemu', simProfile 'amd-vi-qemu'). Absent in reports from before it was recorded.
   */
  iommu?: BenchIommu;
  options: { reps: number; warmup: number; suites: SuiteName[]; group: number | null; device: string | null };
  cells: CellResult[];
  plannerOverhead: PlannerOverhead[];
  /** Things the run could not do (allocation refused, limits), in plain words. */
  notes: string[];
  /** --suite kernel-pin: the kernel's own pin path (IOMMUFD_TEST access), or why it is unavailable. */
  kernelPin?: KernelPinReport;
  /** --suite overhead: the library's own cost against a stand-in system call, or why it is unavailable. */
  overhead?: OverheadReport;
  /** --suite irq: edu's raise register -> JS listener, beside a C epoll loop, or why it is unavailable. */
  irq?: IrqBenchReport;
}

/** type1 ids are unchanged from before the interface column (baselines still match); iommufd ids get a prefix. */
export function cellId(c: Pick<CellResult, 'suite' | 'op' | 'pattern' | 'backing' | 'strategy'> & { size: number | bigint; interface?: DmaInterface }): string {
  const id = [c.suite, c.op, c.pattern, String(c.size), c.backing, c.strategy ?? '-'].join('/');
  return c.interface === 'iommufd' ? `iommufd/${id}` : id;
}
