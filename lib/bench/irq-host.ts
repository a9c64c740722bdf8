// `vfio bench --suite irq` where no real device is measured: interrupt
// delivery on this host, with no VFIO (the interrupt twin of the overhead
// suite). A native raiser thread writes an eventfd, event i once the waiter
// acknowledged event i - 1 and after a seeded random gap, with CLOCK_MONOTONIC
// read just before the write(); four waiters see the same gaps:
//   C reference   a native thread in epoll_wait, then read() (scripts/ref/irq-ref.c's way)
//   libuv         uv_poll in a private uv_loop_t on a native thread, no JS
//   listener      Node's loop -> native/irq.cc's OnReadable -> the IrqVector's 'interrupt' listener
//   wait()        the same, to the continuation of `await vector.wait()`
// The last two run through exactly what a device's vectors run through (the
// addon's IrqTable, lib/native/irq.ts, lib/irq.ts), over the stand-in of
// native/overhead_irq.h. So the table reads C epoll -> libuv -> N-API + JS,
// on a real CPU, where the lane's TCG inflates the event loop's path. The
// 1.5x target (JS median / C median) is printed, never asserted.
import { loadavg } from 'node:os';
import type { IrqEvent, IrqHostProbe, IrqRaiseOptions } from '../irq.js';
import { percentileSorted } from './stats.js';
import { ratio, renderTable } from './text-table.js';

export type IrqHostRowId = 'epoll' | 'uv' | 'listener' | 'wait';
export const IRQ_HOST_ROWS: readonly IrqHostRowId[] = ['epoll', 'uv', 'listener', 'wait'];

export const IRQ_HOST_LABELS: Readonly<Record<IrqHostRowId, string>> = {
  epoll: 'C reference: epoll_wait + read (native thread)',
  uv: 'libuv: uv_poll in a private loop (native thread, no JS)',
  listener: "node-vfio: IrqVector 'interrupt' listener (Node's loop)",
  wait: "node-vfio: await vector.wait() (Node's loop)",
};

export interface IrqHostRow {
  id: IrqHostRowId;
  label: string;
  /** ns from just before the eventfd write to the waiter (its read, its listener, its continuation). */
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  /** Timed events. */
  n: number;
  /** Events whose read counted more than one write (should be 0: each write waits for the last delivery). */
  coalesced: number;
}

export interface IrqHostTarget {
  label: string;
  /** listener median / C reference median. */
  value: number;
  limit: number;
  met: boolean;
}

export interface IrqHostReport {
  available: boolean;
  reason: string | null;
  /** Timed events per row, split over the rounds. */
  events: number;
  /** Untimed events at the start of every block. */
  warmup: number;
  /** Blocks per row, each round running every row once in turn. */
  rounds: number;
  gapMinNs: number;
  gapMaxNs: number;
  /** Seeds the raiser's gaps (every block of the run draws the same sequence). */
  seed: number;
  /**
   * Every waiter (the native thread, or Node's main thread for the JS rows)
   * pinned to one CPU and the raiser to another, so every row pays the same
   * cross-CPU wake-up; null: unpinned (one CPU allowed, or asked so).
   */
  placement: { waiterCpu: number; raiserCpu: number } | null;
  /** 1-minute load average at the start and at the end: figures from a busy machine read high. */
  loadAverage: number;
  loadAverageEnd: number;
  rows: IrqHostRow[];
  /** Each row's median over the C reference's. */
  ratios: Partial<Record<IrqHostRowId, number>>;
  target: IrqHostTarget | null;
  notes: string[];
}

export interface IrqHostOptions {
  events?: number;
  warmup?: number;
  rounds?: number;
  gapMinNs?: number;
  gapMaxNs?: number;
  seed?: number;
  /** Pin the waiter and the raiser to two different CPUs (default true, where two are allowed). */
  pin?: boolean;
}

// Gaps long enough that every waiter (Node's loop included: ~7k instructions
// from one delivery back to epoll_wait) is asleep again before the next write:
// the figure is a wake-up, as a device's interrupt is.
export const IRQ_HOST_DEFAULTS = { events: 2000, warmup: 50, rounds: 2, gapMinNs: 20_000, gapMaxNs: 60_000 } as const;
export const IRQ_HOST_TARGET = 1.5;
export const IRQ_HOST_TARGET_LABEL = 'JS delivery / C reference (median)';

/** A block the raiser abandoned ends after this long (a listener alone does not keep Node's loop alive: this timer does). */
function budgetMs(o: IrqRaiseOptions): number {
  return 5_000 + o.events * (o.gapMaxNs / 1e6 + 20);
}

interface Block {
  ns: Float64Array;
  coalesced: number;
}

function latencies(t0: BigInt64Array, t1: BigInt64Array, n: number): Float64Array {
  if (t0.length < n) throw new Error(`the raiser wrote ${t0.length} of ${n} events`);
  const ns = new Float64Array(n);
  for (let k = 0; k < n; k++) ns[k] = Number(t1[k]! - t0[k]!);
  return ns;
}

/** Raise -> the vector's 'interrupt' listener, which acknowledges each event. */
async function listenerBlock(probe: IrqHostProbe, o: IrqRaiseOptions): Promise<Block> {
  const s = probe.open(1);
  const set = s.irqs({ count: 1 });
  const v = set.vectors[0]!;
  const n = o.events;
  const t1 = new BigInt64Array(n);
  let i = 0;
  let coalesced = 0;
  let done!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => { done = resolve; fail = reject; });
  const listener = (e: Event): void => {
    t1[i] = process.hrtime.bigint();
    if ((e as IrqEvent).count !== 1n) coalesced++;
    if (++i === n) done();
    else s.ack();
  };
  v.addEventListener('interrupt', listener);
  const watchdog = setTimeout(() => fail(new Error(`listener: ${i} of ${n} events within ${budgetMs(o)} ms`)), budgetMs(o));
  let t0: BigInt64Array | null = null;
  try {
    s.raise(0, o);
    await finished;
    t0 = s.raised();
  } finally {
    clearTimeout(watchdog);
    v.removeEventListener('interrupt', listener);
    s.close();
  }
  return { ns: latencies(t0, t1, n), coalesced };
}

/** Raise -> the continuation of `await vector.wait()`, which acknowledges each event. */
async function waitBlock(probe: IrqHostProbe, o: IrqRaiseOptions): Promise<Block> {
  const s = probe.open(1);
  const v = s.irqs({ count: 1 }).vectors[0]!;
  const n = o.events;
  const t2 = new BigInt64Array(n);
  let coalesced = 0;
  // Closing the stand-in rejects the pending wait() (EBADF): no timer per event on the path measured.
  const watchdog = setTimeout(() => s.close(), budgetMs(o));
  let t0: BigInt64Array | null = null;
  try {
    s.raise(0, o);
    for (let k = 0; k < n; k++) {
      const c = await v.wait();
      t2[k] = process.hrtime.bigint();
      if (c !== 1n) coalesced++;
      s.ack();
    }
    t0 = s.raised();
  } finally {
    clearTimeout(watchdog);
    s.close();
  }
  return { ns: latencies(t0, t2, n), coalesced };
}

function summarizeRow(id: IrqHostRowId, samples: number[], coalesced: number): IrqHostRow {
  const s = Float64Array.from(samples).sort();
  return {
    id, label: IRQ_HOST_LABELS[id], n: s.length, coalesced,
    min: s[0]!, median: percentileSorted(s, 0.5), p90: percentileSorted(s, 0.9), p99: percentileSorted(s, 0.99), max: s[s.length - 1]!,
  };
}

export function irqHostUnavailable(reason: string, o: IrqHostOptions = {}): IrqHostReport {
  const load = loadavg()[0]!;
  return {
    available: false, reason, events: o.events ?? IRQ_HOST_DEFAULTS.events, warmup: o.warmup ?? IRQ_HOST_DEFAULTS.warmup,
    rounds: o.rounds ?? IRQ_HOST_DEFAULTS.rounds, gapMinNs: o.gapMinNs ?? IRQ_HOST_DEFAULTS.gapMinNs,
    gapMaxNs: o.gapMaxNs ?? IRQ_HOST_DEFAULTS.gapMaxNs, seed: o.seed ?? 0, placement: null, loadAverage: load, loadAverageEnd: load,
    rows: [], ratios: {}, target: null, notes: [],
  };
}

/** The four waiters in alternating blocks; each row's figures are over every block's timed events. */
export async function runIrqHostBench(src: { probe: IrqHostProbe | null; reason: string | null }, opts: IrqHostOptions = {}): Promise<IrqHostReport> {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  if (!src.probe) return irqHostUnavailable(src.reason ?? 'the native addon is not loaded', { ...opts, seed });
  const probe = src.probe;
  const events = opts.events ?? IRQ_HOST_DEFAULTS.events;
  const warmup = opts.warmup ?? IRQ_HOST_DEFAULTS.warmup;
  const rounds = Math.max(1, Math.min(opts.rounds ?? IRQ_HOST_DEFAULTS.rounds, events));
  const gapMinNs = opts.gapMinNs ?? IRQ_HOST_DEFAULTS.gapMinNs;
  const gapMaxNs = opts.gapMaxNs ?? IRQ_HOST_DEFAULTS.gapMaxNs;
  const report = { ...irqHostUnavailable('', { events, warmup, rounds, gapMinNs, gapMaxNs, seed }), available: true, reason: null };
  const cpus = probe.threadCpus();
  if (opts.pin !== false && cpus.length >= 2) report.placement = { waiterCpu: cpus[0]!, raiserCpu: cpus[1]! };
  const place = report.placement;
  // Node's main thread is the JS rows' waiter: pinned for their blocks only, then given its CPUs back.
  const onWaiterCpu = async (fn: () => Promise<Block>): Promise<Block> => {
    if (!place) return fn();
    const old = probe.threadCpus([place.waiterCpu]);
    try {
      return await fn();
    } finally {
      probe.threadCpus(old);
    }
  };
  const samples: Record<IrqHostRowId, number[]> = { epoll: [], uv: [], listener: [], wait: [] };
  const coalesced: Record<IrqHostRowId, number> = { epoll: 0, uv: 0, listener: 0, wait: 0 };
  const run: Record<IrqHostRowId, (o: IrqRaiseOptions) => Promise<Block>> = {
    epoll: async (o) => probe.floor('epoll', o),
    uv: async (o) => probe.floor('uv', o),
    listener: (o) => onWaiterCpu(() => listenerBlock(probe, o)),
    wait: (o) => onWaiterCpu(() => waitBlock(probe, o)),
  };
  const per = (k: number) => Math.floor(events / rounds) + (k < events % rounds ? 1 : 0);
  for (let k = 0; k < rounds; k++) {
    const o: IrqRaiseOptions = { events: warmup + per(k), gapMinNs, gapMaxNs, seed, ...(place ? { raiserCpu: place.raiserCpu, waiterCpu: place.waiterCpu } : {}) };
    for (const id of IRQ_HOST_ROWS) {
      try {
        const b = await run[id](o);
        for (let j = warmup; j < b.ns.length; j++) samples[id].push(b.ns[j]!);
        coalesced[id] += b.coalesced;
      } catch (err) {
        report.notes.push(`${id}, block ${k + 1}: ${(err as Error).message}`);
      }
    }
  }
  report.loadAverageEnd = loadavg()[0]!;
  for (const id of IRQ_HOST_ROWS) {
    if (samples[id].length === events) report.rows.push(summarizeRow(id, samples[id], coalesced[id]));
  }
  const c = report.rows.find((r) => r.id === 'epoll');
  if (c) for (const r of report.rows) report.ratios[r.id] = r.median / c.median;
  const js = report.ratios.listener;
  if (js !== undefined) report.target = { label: IRQ_HOST_TARGET_LABEL, value: js, limit: IRQ_HOST_TARGET, met: js <= IRQ_HOST_TARGET };
  if (report.rows.length === 0) return { ...report, available: false, reason: report.notes.join('; ') || 'nothing ran' };
  return report;
}

const us = (v: number) => `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} us`;

export function irqHostTitle(r: IrqHostReport): string {
  return 'Interrupt delivery on this host, no VFIO: a native thread writes an eventfd -> the waiter'
    + ` (${r.events} events per row in ${r.rounds} alternating block(s), ${r.warmup} warm-up per block,`
    + ` gaps ${r.gapMinNs / 1000}-${r.gapMaxNs / 1000} us, seed ${r.seed};`
    + ` ${r.placement ? `every waiter on CPU ${r.placement.waiterCpu}, the raiser on CPU ${r.placement.raiserCpu}` : 'unpinned'})`;
}

export const IRQ_HOST_HEADERS = ['waiter', 'min', 'median', 'p90', 'p99', 'coalesced', '/ C median'];

export function irqHostRows(r: IrqHostReport): string[][] {
  return r.rows.map((x) => [x.label, us(x.min), us(x.median), us(x.p90), us(x.p99), String(x.coalesced),
    r.ratios[x.id] !== undefined ? ratio(r.ratios[x.id]!) : '']);
}

export function irqHostTargetLine(r: IrqHostReport): string {
  const t = r.target;
  if (!t) return `target: ${IRQ_HOST_TARGET_LABEL} <= ${IRQ_HOST_TARGET}x: not judged (the C reference or the listener did not run)`;
  const wait = r.ratios.wait !== undefined ? `; await wait(): ${ratio(r.ratios.wait)}` : '';
  return `target: ${t.label} = ${ratio(t.value)} (limit ${ratio(t.limit)}: ${t.met ? 'met' : 'NOT met'})${wait}. `
    + `Reported, not asserted: timing is this machine's (load average ${r.loadAverage.toFixed(2)} at the start, ${r.loadAverageEnd.toFixed(2)} at the end).`;
}

export function formatIrqHost(r: IrqHostReport): string {
  const out = [irqHostTitle(r)];
  if (!r.available) out.push(`  unavailable: ${r.reason}`);
  else {
    out.push(renderTable(IRQ_HOST_HEADERS, irqHostRows(r), ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
    out.push(`  ${irqHostTargetLine(r)}`);
  }
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}
