// Runs benchmark cells against any Backend. Per repetition: map the plan,
// unmap it. The figure that counts is the sum of the executor's per-entry
// timings (CLOCK_MONOTONIC in C++ on native, the cost model on the sim), taken
// with every repetition inside one native call where the backend can, so
// neither JS nor what JS does to the caches sits between repetitions; the same
// plan is also run from JS one call per repetition and timed with hrtime, so
// the N-API and planner overhead stay visible next to it.
import type { Backend, Backing, DmaBuffer, DmaInterface, DmaMapping, DmaSpace, IommuInfo, PlanCycles } from '../backend.js';
import { SZ_2M } from '../backend.js';
import { Op, VfioError } from '../errors.js';
import { IovaAllocator, NotContiguousError } from '../plan/index.js';
import { bareCyclesOf, dirtyTrackingOf, planCyclesOf, unsupported, type Cycles } from '../seam/capabilities.js';
import { PAGE, PATTERNS, bytesCovered, seededRandom } from './patterns.js';
import { cellId, type CellResult, type PlannerOverhead, type Strategy } from './schema.js';
import { summarize, sum } from './stats.js';
import { alignUp, BufferCache } from './buffer-cache.js';
import { emptyCell, fillSpeedups, fullCell } from './cells.js';
import { formatBytes, type CellSpec } from './suites.js';
import { warmUntilStable, type WarmOptions, type WarmResult } from './warmup.js';
import type { BenchPlan, BenchPlanner, KeptPlan } from './planner.js';
// The planner's shape lives beside the default planner (planner.ts), so the suites that take one need nothing here.
export type { BatchTimings, BenchPlan, BenchPlanner, KeptPlan } from './planner.js';

/** Limits checked before allocating, so a big cell is skipped with a reason instead of failing half-way. */
export interface MemoryBudget {
  /** Bytes we allow one buffer to take. */
  maxBuffer: bigint;
  /** Free hugetlb bytes at the default huge page size, null when not known (sim). */
  hugetlbFree: bigint | null;
  /** Bytes the container may still lock, null when unlimited or exempt. */
  lockable: bigint | null;
}

export interface RunOptions {
  reps: number;
  warmup: number;
  budget: MemoryBudget;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Keep each cell's plan (for the C reference run). */
  keepPlans?: boolean;
  /** Time the C reference's loop in this process beside each map/unmap cell, where the space has it (CellResult.floor). */
  floor?: boolean;
  /** The interface `space` goes through, recorded in every cell (default type1). */
  iface?: DmaInterface;
  now?: () => bigint;
  /**
   * How JS-timed figures are warmed until stable (lib/bench/warmup.ts).
   * `warmup: 0` asks for no warm-up at all: then the figures are cold, and
   * the report says so.
   */
  warm?: Partial<WarmOptions>;
}

export interface RunOutput {
  cells: CellResult[];
  plannerOverhead: PlannerOverhead[];
  notes: string[];
  plans: Map<string, KeptPlan>;
}

/**
 * Where a cell's region goes: a fresh allocator per cell (each cell unmaps
 * everything before the next), so every cell gets the same placement, aligned
 * and congruent with the buffer so the IOMMU can use its large pages.
 */
function placeRegion(info: IommuInfo, buf: DmaBuffer, size: bigint): bigint {
  return new IovaAllocator(info).alloc(size, { backing: buf.backing, hugePageSize: buf.pageSize, vaddr: buf.vaddr });
}

function requestsFor(spec: CellSpec, buf: DmaBuffer, iovaBase: bigint): DmaMapping[] {
  const seed = Number(spec.size % 0x7fff_ffffn) ^ spec.pattern.length;
  return PATTERNS[spec.pattern]({ vaddr: buf.vaddr, iova: iovaBase, size: spec.size, random: seededRandom(seed) });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export { emptyCell, fillSpeedups } from './cells.js';

/** A cycles run's per-repetition times for the op a cell measures, the warm-up dropped. */
export function cycleSamples(c: PlanCycles, op: string, warmup: number): number[] {
  return Array.from((op === 'unmap' ? c.unmapNs : c.mapNs).subarray(warmup));
}

export class BenchRunner {
  private readonly now: () => bigint;
  private readonly buffers: BufferCache;

  constructor(
    private readonly backend: Backend,
    private readonly space: DmaSpace,
    private readonly planner: BenchPlanner,
    private readonly opts: RunOptions,
  ) {
    this.now = opts.now ?? process.hrtime.bigint;
    this.buffers = new BufferCache(backend);
  }

  run(specs: CellSpec[]): RunOutput {
    const out: RunOutput = { cells: [], plannerOverhead: [], notes: [], plans: new Map() };
    const info = this.space.info();
    try {
      // The JS end-to-end column is timed with hrtime too: warm the planner's
      // code before a backing's first cell, so those cells do not read cold
      // (a new backing alone left them ~6x slow: V8 re-specialises for it).
      const warmed = new Set<Backing>();
      specs.forEach((spec, i) => {
        this.opts.onProgress?.(i, specs.length, `${spec.suite} ${spec.pattern} ${formatBytes(spec.size)} ${spec.backing} ${spec.strategy ?? ''}`.trimEnd());
        if (this.opts.warmup > 0 && spec.op !== 'dirty' && !warmed.has(spec.backing)) {
          warmed.add(spec.backing);
          this.warmSinglePage(spec.backing, info);
        }
        out.cells.push(this.tagged(this.runCell(spec, info, out)));
      });
      this.opts.onProgress?.(specs.length, specs.length, 'done');
      if (specs.some((s) => s.suite === 'matrix')) {
        for (const backing of new Set(specs.filter((s) => s.suite === 'matrix').map((s) => s.backing))) {
          const o = this.plannerOverhead(backing, info, out);
          if (o) out.plannerOverhead.push(o);
        }
      }
    } finally {
      this.buffers.close();
    }
    fillSpeedups(out.cells);
    return out;
  }

  private tagged(cell: CellResult): CellResult {
    const iface = this.opts.iface ?? 'type1';
    return { ...cell, interface: iface, id: cellId({ ...cell, interface: iface }) };
  }

  private skip(spec: CellSpec, reason: string, out: RunOutput): CellResult {
    if (!out.notes.includes(reason)) out.notes.push(reason);
    return emptyCell(spec, reason);
  }

  /** Why this cell cannot run here, before anything is allocated or pinned. */
  private precheck(spec: CellSpec, info: IommuInfo): string | null {
    const { budget } = this.opts;
    if (spec.size > budget.maxBuffer) {
      return `skipped ${formatBytes(spec.size)} cells: larger than the memory budget (${formatBytes(budget.maxBuffer)})`;
    }
    if (spec.backing === 'hugetlb' && budget.hugetlbFree !== null && alignUp(spec.size, SZ_2M) > budget.hugetlbFree) {
      return `skipped hugetlb ${formatBytes(spec.size)}: only ${formatBytes(budget.hugetlbFree)} of huge pages free (reserve more in /proc/sys/vm/nr_hugepages)`;
    }
    if (budget.lockable !== null && spec.size > budget.lockable) {
      return `skipped ${formatBytes(spec.size)}: RLIMIT_MEMLOCK leaves ${formatBytes(budget.lockable)} lockable (ulimit -l, or CAP_IPC_LOCK)`;
    }
    if (spec.strategy === 'per-page' && info.dmaAvail !== null && Number(spec.size / PAGE) > info.dmaAvail) {
      return `skipped per-page ${formatBytes(spec.size)}: needs ${spec.size / PAGE} mappings, the container allows ${info.dmaAvail} (dma_entry_limit)`;
    }
    return null;
  }

  private runCell(spec: CellSpec, info: IommuInfo, out: RunOutput): CellResult {
    const refused = this.precheck(spec, info);
    if (refused) return this.skip(spec, refused, out);
    let buf: DmaBuffer;
    try {
      buf = this.buffers.get(spec.backing, spec.size);
    } catch (err) {
      return this.skip(spec, `skipped ${spec.backing} ${formatBytes(spec.size)}: allocation failed: ${message(err)}`, out);
    }
    const iovaBase = placeRegion(info, buf, spec.size);
    const requests = requestsFor(spec, buf, iovaBase);
    try {
      return spec.op === 'dirty'
        ? this.timeDirty(spec, requests, info, iovaBase)
        : this.timePlan(spec, requests, info, buf, iovaBase, out);
    } catch (err) {
      this.sweep(iovaBase, spec.size);
      if (err instanceof NotContiguousError) {
        return this.skip(spec, `kernel strategy not applicable to the ${spec.pattern} pattern: its requests are not one contiguous region`, out);
      }
      return this.skip(spec, `failed ${spec.suite} ${spec.pattern} ${formatBytes(spec.size)} ${spec.backing} ${spec.strategy ?? ''}: ${message(err)}`, out);
    }
  }

  /** After a failure, make sure nothing of this cell stays mapped (type1v2 unmaps whole mappings in range). */
  private sweep(iova: bigint, size: bigint): void {
    try {
      this.space.unmap(iova, size);
    } catch {
      // Nothing mapped there, or the container is gone: either way nothing is left pinned by us.
    }
  }

  private reps(spec: CellSpec): number {
    return spec.maxReps !== undefined ? Math.min(this.opts.reps, spec.maxReps) : this.opts.reps;
  }

  /**
   * A map or unmap cell, timed twice. First the kernel's cost: warm-up +
   * reps x (map the plan, unmap it) in one native call where the space can
   * (planCyclesOf), so nothing runs between repetitions, as in the C
   * reference. Then the same plan as a caller runs it, one mapBatch /
   * unmapBatch from JS per repetition: hrtime around each call (the JS
   * end-to-end column) and the executor's own times (jsLoopSamples).
   */
  private timePlan(spec: CellSpec, requests: DmaMapping[], info: IommuInfo, buf: DmaBuffer, iovaBase: bigint,
    out: RunOutput): CellResult {
    const strategy = spec.strategy!;
    const reps = this.reps(spec);
    const cycles = planCyclesOf(this.space);
    const first = this.planner.buildPlan(requests, strategy, info);
    // A failed loop leaves the cell's range swept and throws, naming the loop and the op that failed.
    const pick = (x: PlanCycles, loop: (failed: string) => string): number[] => {
      if (x.failedOp !== null) {
        this.sweep(iovaBase, spec.size);
        throw new VfioError(x.errno, loop(x.failedOp), { entry: x.failedIndex, repetition: x.completed });
      }
      return cycleSamples(x, spec.op, this.opts.warmup);
    };
    const samples = pick(cycles.run(first.entries, this.opts.warmup + reps), (f) => `plan ${f} (cycles)`);
    const floor = this.opts.floor ? this.timeFloor(first.entries, reps, cycles, pick, samples) : undefined;
    const jsLoopSamples: number[] = [];
    const jsSamples: number[] = [];
    let entries = 0;
    for (let i = 0; i < this.opts.warmup + reps; i++) {
      const plan = this.planner.buildPlan(requests, strategy, info);
      entries = plan.count;
      const t0 = this.now();
      const mapped = this.planner.mapBatch(this.space, plan);
      const t1 = this.now();
      const t2 = this.now();
      const unmapped = this.planner.unmapBatch(this.space, plan);
      const t3 = this.now();
      if (i < this.opts.warmup) continue;
      const result = spec.op === 'unmap' ? unmapped : mapped;
      jsLoopSamples.push(sum(result.ns));
      jsSamples.push(Number(spec.op === 'unmap' ? t3 - t2 : t1 - t0));
      if (i === this.opts.warmup && this.opts.keepPlans) {
        out.plans.set(cellId(spec), {
          backing: spec.backing, bufferSize: buf.size, bufferVaddr: buf.vaddr, iovaBase,
          entries: plan.entries.slice(), count: plan.count, op: spec.op === 'unmap' ? 'unmap' : 'map',
        });
      }
    }
    const cell = fullCell(spec, entries, samples, jsSamples, Number(bytesCovered(requests)),
      { timing: cycles.native ? 'native-loop' : 'js-loop', jsLoopSamples, measured: !this.backend.simulated });
    return floor ? { ...cell, floor } : cell;
  }

  /**
   * The C reference's loop in this process (runBareCycles), alternating with the executor on the same plan:
   * the executor's first pass (already taken), the loop, the executor again, the loop again; so the two are
   * compared moments apart, whatever the machine's speed does over the run. Undefined where the space has none.
   */
  private timeFloor(plan: BigUint64Array, reps: number, cycles: Cycles,
    pick: (x: PlanCycles, loop: (failed: string) => string) => number[], firstPass: number[]): CellResult['floor'] {
    const bare = bareCyclesOf(this.space);
    if (!bare) return undefined;
    const n = this.opts.warmup + reps;
    const inProcess = (f: string) => `C loop (in process) ${f}`;
    const loop = pick(bare(plan, n), inProcess);
    const addonSamples = pick(cycles.run(plan, n), (f) => `plan ${f} (cycles, again)`);
    loop.push(...pick(bare(plan, n), inProcess));
    const median = summarize(loop).median;
    return { median, ratio: summarize([...firstPass, ...addonSamples]).median / median, samples: loop, addonSamples };
  }

  /** Cost of one dirty-bitmap read of the whole region, tracking on, everything mapped in one entry. */
  private timeDirty(spec: CellSpec, requests: DmaMapping[], info: IommuInfo, iovaBase: bigint): CellResult {
    // An IOAS has no space-wide tracking: iommufd reads dirty bits through a HWPT, which this suite does not time.
    const dirty = dirtyTrackingOf(this.space);
    if (!dirty) throw unsupported(Op.HWPT_GET_DIRTY_BITMAP, 'iommufd reads dirty bits through a dirty-tracking HWPT (IOMMU_HWPT_GET_DIRTY_BITMAP), not timed by this suite');
    if (!info.migration) throw unsupported(Op.DIRTY_PAGES, 'this IOMMU reports no dirty-tracking (migration) capability');
    const plan = this.planner.buildPlan(requests, 'coalesced', info);
    this.planner.mapBatch(this.space, plan);
    const samples: number[] = [];
    try {
      dirty.start();
      for (let i = 0; i < this.opts.warmup + this.reps(spec); i++) {
        const t0 = this.now();
        dirty.get(iovaBase, spec.size, PAGE);
        const t1 = this.now();
        if (i >= this.opts.warmup) samples.push(Number(t1 - t0));
      }
    } finally {
      try {
        dirty.stop();
      } finally {
        this.planner.unmapBatch(this.space, plan);
      }
    }
    // Measured from JS only: there is no per-entry executor for this ioctl.
    return fullCell(spec, 1, samples, samples, Number(spec.size));
  }

  /** One page, one round of what the planner-overhead table times: a closure over its buffer and IOVA. */
  private singlePage(backing: Backing, info: IommuInfo): { iova: bigint; once: () => SinglePageTimes } {
    const buf = this.buffers.get(backing, PAGE);
    const iova = placeRegion(info, buf, PAGE);
    const req: DmaMapping = { vaddr: buf.vaddr, iova, size: PAGE };
    const once = (): SinglePageTimes => {
      const t0 = this.now();
      this.space.map(req);
      const t1 = this.now();
      this.space.unmap(iova, PAGE);
      const t2 = this.now();
      const plan = this.planner.buildPlan([req], 'coalesced', info);
      const tb = this.now();
      this.planner.mapBatch(this.space, plan);
      const t3 = this.now();
      this.planner.unmapBatch(this.space, plan);
      // The limits check again, alone: it runs inside mapBatch, and on a real
      // host it reads /proc and issues GET_INFO, so it is worth seeing apart.
      const t4 = this.now();
      this.planner.checkLimits?.(this.space, plan);
      const t5 = this.now();
      return {
        direct: Number(t1 - t0), planned: Number(t3 - t2), build: Number(tb - t2), batch: Number(t3 - tb),
        limits: this.planner.checkLimits ? Number(t5 - t4) : null,
      };
    };
    return { iova, once };
  }

  /** Runs the single-page path until its JS timings stop falling; null if it cannot run here. */
  private warmSinglePage(backing: Backing, info: IommuInfo): WarmResult | null {
    let iova: bigint | null = null;
    try {
      const sp = this.singlePage(backing, info);
      iova = sp.iova;
      return warmUntilStable(() => sp.once().planned, this.opts.warm);
    } catch {
      // The cells that follow meet the same refusal and report it.
      if (iova !== null) this.sweep(iova, PAGE);
      return null;
    }
  }

  /**
   * One page: a direct DmaSpace.map() against buildPlan + mapBatch, both timed
   * from JS, after warming until stable (--warmup alone is too few calls for
   * V8); the first warm-up round's median is kept as the cold figure.
   */
  private plannerOverhead(backing: Backing, info: IommuInfo, out: RunOutput): PlannerOverhead | null {
    let sp: ReturnType<BenchRunner['singlePage']>;
    try {
      sp = this.singlePage(backing, info);
    } catch {
      return null;
    }
    const direct: number[] = [];
    const planned: number[] = [];
    const build: number[] = [];
    const batch: number[] = [];
    const limits: number[] = [];
    let warm: WarmResult | null = null;
    try {
      if (this.opts.warmup > 0) warm = warmUntilStable(() => sp.once().planned, this.opts.warm);
      for (let i = 0; i < this.opts.warmup + this.opts.reps; i++) {
        const t = sp.once();
        if (i < this.opts.warmup) continue;
        direct.push(t.direct);
        planned.push(t.planned);
        build.push(t.build);
        batch.push(t.batch);
        if (t.limits !== null) limits.push(t.limits);
      }
    } catch (err) {
      this.sweep(sp.iova, PAGE);
      out.notes.push(`planner overhead (${backing}) not measured: ${message(err)}`);
      return null;
    }
    if (warm && !warm.stable) {
      out.notes.push(`planner overhead (${backing}): JS timings still falling after ${warm.calls} warm-up calls; `
        + 'the figures may read high (a loaded machine, or a slow one)');
    }
    const d = summarize(direct).median;
    const p = summarize(planned).median;
    return {
      backing, directNs: d, plannedNs: p, overheadNs: p - d,
      buildNs: summarize(build).median, batchNs: summarize(batch).median,
      limitsNs: limits.length ? summarize(limits).median : null,
      ...(warm ? { coldPlannedNs: warm.firstMedian, warmupCalls: warm.calls, stable: warm.stable } : { warmupCalls: 0, stable: false }),
    };
  }
}

interface SinglePageTimes {
  direct: number;
  planned: number;
  build: number;
  batch: number;
  limits: number | null;
}
