// The event-loop stall table of `vfio bench --suite irq` (issue 15): why async
// plans exist. A 1 ms setInterval watches the loop; every gap between two of
// its ticks is recorded, and a phase's stall is its longest gap (and p99).
// Phases, in alternating rounds so that load on the host hits each alike:
//   idle   nothing runs but the watcher: the loop's own jitter (under TCG,
//          the guest's timer and vCPU scheduling), the baseline;
//   sync   mapBatch of one big region of 4 KiB pages on the JS thread;
//   async  mapBatchAsync of the same plan (libuv's pool on the native backend);
//   async, entries of 2 MiB  the same region split into 2 MiB entries, which
//          the job maps one by one (type1 then drops its lock between them).
// Each map phase unmaps after, untimed. Beside each: the map's own wall time,
// and the garbage collections V8 reported during the phase (count, longest).
// Before the rounds, one page goes through each path once (the warm-up): the
// first call of a path in a process pays V8 compiling it and often a young
// collection (~0.5 ms inside the first mapBatchAsync on a host, ~8 ms under
// TCG), once. The warm-up's own figures are reported beside the table, so
// the cold call is shown, not hidden; the rounds measure the map.
//
// The region is the largest power of two up to 1 GiB that leaves 384 MiB of
// the memory the kernel says is available (os.freemem(): MemAvailable) to
// everything else, capped by --max-memory (the lane's 2 GiB guest: 1 GiB); on the sim 64 MiB (its buffers are real ArrayBuffers). On the
// sim, async has no thread: the plan runs on the loop after one turn, so its
// stall is the sync one's (labelled so).
import { freemem, release } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import type { Backend, Container, DmaBuffer, Group } from '../backend.js';
import { buildPlan, mapBatch, mapBatchAsync, unmapBatch, type Plan } from '../plan/index.js';
import { planAsyncOf } from '../seam/capabilities.js';
import { percentileSorted } from './stats.js';
import { renderTable } from './text-table.js';

export type StallPhaseId = 'idle' | 'sync' | 'async' | 'async-chunked';
export const STALL_PHASES: readonly StallPhaseId[] = ['idle', 'sync', 'async', 'async-chunked'];
export const STALL_TARGET_MS = 10;
const GiB = 1n << 30n;
const CHUNK = 2n << 20n;

export interface StallPhase {
  id: StallPhaseId;
  label: string;
  /** Plan entries (0 for idle). */
  entries: number;
  /** Per round: the longest gap between two ticks of the 1 ms interval (ms). */
  longestMs: number[];
  /** Longest over the rounds (ms). */
  worstMs: number;
  /** p99 (nearest rank) of every gap of every round (ms). */
  p99Ms: number;
  /** Median gap (ms): ~1 on a quiet loop. */
  medianGapMs: number;
  /** Ticks counted over all rounds. */
  ticks: number;
  /** Per round: the map's own wall time (ms); idle: how long it watched. */
  wallMs: number[];
  /**
   * Per round: the JS thread's own time inside the call before it returned (ms): for sync the whole map,
   * for async the checks up to the first await (a cold limits check then reads /proc off the loop, and the
   * job starts in a later turn: the longest stall holds those turns); idle 0.
   */
  callMs: number[];
  /** Garbage collections V8 reported during the phase, all rounds, and the longest (ms). */
  gcCount: number;
  gcLongestMs: number;
}

/** The note a stall table carries when each phase started on a collected heap (node --expose-gc). */
export const HEAP_COLLECTED_NOTE = 'the heap was collected before each phase (gc exposed)';

export interface StallReport {
  available: boolean;
  reason: string | null;
  simulated: boolean;
  kernel: string;
  /** Bytes mapped per map phase, 4 KiB pages. */
  size: number;
  pages: number;
  /** Why that size (memory available, --max-memory, the sim). */
  sizeReason: string;
  backing: '4k';
  /** Whether async plans run off the loop on this backend (false: the sim's fallback). */
  offLoop: boolean;
  rounds: number;
  phases: StallPhase[];
  /** The async map's (one entry) longest stall against 10 ms; null when not measured or not off the loop (the sim). */
  target: { limitMs: number; asyncWorstMs: number; met: boolean } | null;
  /** The warm-up before the rounds: one page through mapBatchAsync, then mapBatch, the first calls in this table. */
  warmup: StallWarmup | null;
  notes: string[];
}

/** The cold calls: each path's first use in the table (its first in the process, unless something ran it before). */
export interface StallWarmup {
  /** ms inside mapBatch (one page), and inside mapBatchAsync before it returned (called first). */
  syncCallMs: number;
  asyncCallMs: number;
  /** The longest gap of the 1 ms interval while the one-page mapBatchAsync ran (ms). */
  asyncStallMs: number;
}

export interface StallOptions {
  backend: Backend;
  group: number;
  /** Bytes to map (default: see above). */
  size?: bigint;
  maxMemory?: bigint | null;
  /** Rounds of every phase (default 3). */
  rounds?: number;
}

/** Left to the rest of the system (node, the test runner, the page cache) when sizing the region. */
export const STALL_HEADROOM = 384 * 2 ** 20;

/** The region: largest power of two <= 1 GiB leaving STALL_HEADROOM of MemAvailable (and <= --max-memory); the sim 64 MiB. */
export function stallSize(simulated: boolean, maxMemory: bigint | null | undefined, available = freemem()): { size: bigint; reason: string } {
  if (simulated) return { size: 64n << 20n, reason: 'simulator: 64 MiB (its buffers are real ArrayBuffers; the map is the cost model)' };
  let size = GiB;
  const room = BigInt(Math.max(0, Math.floor(available - STALL_HEADROOM)));
  while (size > 1n << 20n && (size > room || (maxMemory != null && size > maxMemory))) size >>= 1n;
  const avail = `${Math.round(available / 2 ** 20)} MiB available`;
  const why = size === GiB ? `1 GiB (the issue's size; ${avail})`
    : `${size >> 20n} MiB: the largest power of two leaving ${STALL_HEADROOM / 2 ** 20} MiB of the ${avail}${maxMemory != null ? ' within --max-memory' : ''}`;
  return { size, reason: why };
}

/** Every gap between ticks of a 1 ms interval while `work` runs, and its wall time (ms). */
export async function watchLoop(work: () => Promise<unknown> | unknown): Promise<{ gaps: number[]; wallMs: number; t0: number; t1: number }> {
  const gaps: number[] = [];
  let last = 0;
  let on = false;
  const timer = setInterval(() => {
    const now = performance.now();
    if (on) gaps.push(now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20)); // the interval is running
  const t0 = performance.now();
  last = t0;
  on = true;
  await work();
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 5)); // a tick after the end counts the last gap
  on = false;
  clearInterval(timer);
  return { gaps, wallMs: t1 - t0, t0, t1 };
}

function label(id: StallPhaseId, offLoop: boolean): string {
  switch (id) {
    case 'idle': return 'nothing running (baseline)';
    case 'sync': return 'mapBatch (sync, on the JS thread)';
    case 'async': return offLoop ? 'mapBatchAsync (libuv pool), one entry' : 'mapBatchAsync, one entry [sim fallback: on the loop after one turn]';
    case 'async-chunked': return offLoop ? 'mapBatchAsync (libuv pool), 2 MiB entries' : 'mapBatchAsync, 2 MiB entries [sim fallback: on the loop]';
  }
}

export async function runStallBench(opts: StallOptions): Promise<StallReport> {
  const simulated = opts.backend.simulated;
  const picked = opts.size !== undefined ? { size: opts.size, reason: 'given' } : stallSize(simulated, opts.maxMemory);
  const rounds = Math.max(1, opts.rounds ?? 3);
  const base: StallReport = {
    available: false, reason: null, simulated, kernel: release(), size: Number(picked.size), pages: Number(picked.size / 4096n),
    sizeReason: picked.reason, backing: '4k', offLoop: false, rounds, phases: [], target: null, warmup: null, notes: [],
  };
  let container: Container | undefined;
  let group: Group | undefined;
  let buf: DmaBuffer | undefined;
  const gcs: Array<{ start: number; duration: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  try {
    try {
      container = opts.backend.openContainer();
      group = opts.backend.openGroup(opts.group);
      group.setContainer(container);
      container.setIommu('type1v2');
      buf = opts.backend.allocBuffer({ size: picked.size, backing: '4k', prefault: true });
    } catch (err) {
      return { ...base, reason: `cannot set up the map: ${(err as Error).message}` };
    }
    const space = container;
    base.offLoop = planAsyncOf(space).offLoop;
    const info = space.info();
    const iova = 1n << 32n;
    const plans: Record<Exclude<StallPhaseId, 'idle'>, Plan> = {
      sync: buildPlan([{ vaddr: buf.vaddr, iova, size: picked.size }], 'coalesced', info),
      async: buildPlan([{ vaddr: buf.vaddr, iova, size: picked.size }], 'coalesced', info),
      'async-chunked': buildPlan([{ vaddr: buf.vaddr, iova, size: picked.size }], 'coalesced', info, { maxEntrySize: CHUNK }),
    };
    const acc = new Map<StallPhaseId, { gaps: number[]; longest: number[]; wall: number[]; gc: number[]; call: number[] }>(
      STALL_PHASES.map((p) => [p, { gaps: [], longest: [], wall: [], gc: [], call: [] }]));
    obs.observe({ entryTypes: ['gc'] });
    const record = async (id: StallPhaseId, w: Awaited<ReturnType<typeof watchLoop>>, callMs: number) => {
      await new Promise((r) => setImmediate(r)); // the observer's entries arrive on the loop
      const a = acc.get(id)!;
      a.gaps.push(...w.gaps);
      a.longest.push(w.gaps.length ? Math.max(...w.gaps) : w.wallMs);
      a.wall.push(w.wallMs);
      a.call.push(callMs);
      for (const g of gcs) if (g.start + g.duration >= w.t0 && g.start <= w.t1) a.gc.push(g.duration);
      gcs.length = 0;
    };
    // Where the process exposes V8's collector (node --expose-gc; the HIL lane's test process, which
    // runs many files in one heap), each phase starts on a collected heap, so a major GC owed to
    // garbage from before the table is not counted against the map. The GC column still shows any.
    const collect = (globalThis as { gc?: () => void }).gc;
    if (collect) base.notes.push(HEAP_COLLECTED_NOTE);
    base.warmup = await warmUp(space, buf, iova, info);
    gcs.length = 0;
    for (let r = 0; r < rounds; r++) {
      let idleMs = 0;
      for (const id of ['sync', 'async', 'async-chunked'] as const) {
        const plan = plans[id];
        let callMs = 0;
        collect?.();
        const w = await watchLoop(() => {
          const t = performance.now();
          const r = id === 'sync' ? mapBatch(space, plan) : mapBatchAsync(space, plan);
          callMs = performance.now() - t;
          return r;
        });
        unmapBatch(space, plans.sync);
        if (space.unmap(iova, picked.size) !== 0n) base.notes.push(`${id}: something was still mapped after the unmap`);
        await record(id, w, callMs);
        idleMs = Math.max(idleMs, w.wallMs);
      }
      collect?.();
      // The baseline watches as long as the longest map of the round.
      await record('idle', await watchLoop(() => new Promise((res) => setTimeout(res, Math.max(50, idleMs)))), 0);
    }
    base.phases = STALL_PHASES.map((id) => {
      const a = acc.get(id)!;
      const sorted = Float64Array.from(a.gaps).sort();
      return {
        id, label: label(id, base.offLoop), entries: id === 'idle' ? 0 : plans[id].count,
        longestMs: a.longest, worstMs: Math.max(...a.longest), p99Ms: percentileSorted(sorted, 0.99),
        medianGapMs: percentileSorted(sorted, 0.5), ticks: sorted.length, wallMs: a.wall, callMs: a.call,
        gcCount: a.gc.length, gcLongestMs: a.gc.length ? Math.max(...a.gc) : 0,
      };
    });
    const asyncWorst = base.phases.find((p) => p.id === 'async')!.worstMs;
    // On the sim no kernel pins: a target met there says nothing.
    if (base.offLoop) base.target = { limitMs: STALL_TARGET_MS, asyncWorstMs: asyncWorst, met: asyncWorst <= STALL_TARGET_MS };
    return { ...base, available: true };
  } catch (err) {
    return { ...base, reason: (err as Error).message };
  } finally {
    obs.disconnect();
    try { container?.unmapAll(); } catch { /* closed below */ }
    buf?.close();
    group?.close();
    container?.close();
  }
}

const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/**
 * One page through mapBatchAsync, then mapBatch (each unmapped): each path's first call, timed, outside the rounds.
 * The limits check is forced, as the region's plan takes it (a one-page plan skips it), and the async call comes
 * first, while the space's ledger is cold, so that its /proc read off the loop runs too (the first fs.promises read
 * in a process: ~9 ms on the JS thread under TCG, which the first round's async map paid when the sync warm-up
 * had filled the ledger).
 */
async function warmUp(space: Container, buf: DmaBuffer, iova: bigint, info: ReturnType<Container['info']>): Promise<StallWarmup> {
  const page = buildPlan([{ vaddr: buf.vaddr, iova, size: 4096n }], 'coalesced', info);
  let t = 0;
  let asyncCallMs = 0;
  const w = await watchLoop(() => {
    t = performance.now();
    const r = mapBatchAsync(space, page, { checkLimits: true });
    asyncCallMs = performance.now() - t;
    return r;
  });
  unmapBatch(space, page);
  t = performance.now();
  mapBatch(space, page, { checkLimits: true });
  const syncCallMs = performance.now() - t;
  unmapBatch(space, page);
  return { syncCallMs, asyncCallMs, asyncStallMs: w.gaps.length ? Math.max(...w.gaps) : w.wallMs };
}

export function stallTitle(s: StallReport): string {
  const size = s.size >= 1 << 30 ? `${s.size / 2 ** 30} GiB` : `${s.size / 2 ** 20} MiB`;
  return `Event-loop stall while mapping ${size} of 4 KiB pages (${s.pages.toLocaleString('en-US')} pages), 1 ms setInterval watching, `
    + `kernel ${s.kernel}${s.simulated ? ' [SIMULATED: no kernel, no pool thread: async runs on the loop after one turn]' : ''} (${s.rounds} round(s) of every phase)`;
}

export const STALL_HEADERS = ['phase', 'entries', 'longest stall', 'p99 gap', 'median gap', 'longest per round', 'map wall (median)', 'in the call, per round', 'GCs (longest)'];

export function stallRows(s: StallReport): string[][] {
  return s.phases.map((p) => [
    p.label, p.id === 'idle' ? '-' : String(p.entries), ms(p.worstMs), ms(p.p99Ms), ms(p.medianGapMs),
    p.longestMs.map((v) => v.toFixed(1)).join(' / '), p.id === 'idle' ? `(watched ${ms(median(p.wallMs))})` : ms(median(p.wallMs)),
    p.id === 'idle' ? '-' : p.callMs.map((v) => v.toFixed(v < 100 ? 2 : 0)).join(' / '),
    `${p.gcCount}${p.gcCount ? ` (${ms(p.gcLongestMs)})` : ''}`,
  ]);
}

export function stallTargetLine(s: StallReport): string {
  if (!s.target) {
    return `target (async longest stall <= ${STALL_TARGET_MS} ms): not judged: ${s.simulated ? 'the sim has no kernel pinning and no pool thread; these gaps are its JS cost' : 'async plans do not run off the loop here'}`;
  }
  const idle = s.phases.find((p) => p.id === 'idle');
  return `target: the async map's longest stall <= ${s.target.limitMs} ms: ${s.target.asyncWorstMs.toFixed(1)} ms, ${s.target.met ? 'met' : 'NOT met'}`
    + `${idle ? ` (the idle loop's own longest gap in the same run: ${idle.worstMs.toFixed(1)} ms)` : ''}`;
}

export function stallWarmupLine(w: StallWarmup): string {
  return `warm-up, before the rounds (each path's first call: V8 compiles it, often a young GC): one page, `
    + `mapBatchAsync ${w.asyncCallMs.toFixed(2)} ms in the call, longest stall ${w.asyncStallMs.toFixed(1)} ms; mapBatch ${w.syncCallMs.toFixed(2)} ms`;
}

export function formatStall(s: StallReport): string {
  const out = [stallTitle(s), `  region: ${s.sizeReason}`];
  if (!s.available) out.push(`  unavailable: ${s.reason}`);
  else {
    out.push(renderTable(STALL_HEADERS, stallRows(s), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    out.push(`  ${stallTargetLine(s)}`);
    if (s.warmup) out.push(`  ${stallWarmupLine(s.warmup)}`);
  }
  for (const n of s.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}
