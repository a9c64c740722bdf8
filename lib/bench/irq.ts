// `vfio bench --suite irq`: interrupt delivery latency, as a user's callback
// sees it. edu's raise register (BAR0 + 0x60) is written through the BAR
// mapping and the clock stops in the vector's 'interrupt' listener: the path
// is the device's interrupt -> the eventfd VFIO_DEVICE_SET_IRQS gave the kernel
// -> libuv's epoll in Node's loop -> native/irq.cc -> the JS listener. Beside it
// a C program (scripts/ref/irq-ref.c) times the same store -> the same kind of
// eventfd -> epoll_wait + read, on the same device, in the same run, in
// alternating blocks so load on the host hits both alike. MSI, then INTx (which
// the kernel masks on delivery: acknowledge + unmask between runs, outside the
// timed span, in both programs).
//
// On the simulator there is no kernel and no device: the figures are the sim's
// setImmediate delivery through the same IrqVector code, labelled simulated,
// and the C reference is unavailable.
//
// Then the event-loop stall table (lib/bench/stall.ts): the same group, a big
// map of 4 KiB pages done sync and async with a 1 ms interval watching, beside
// the idle loop's own gaps. It needs no edu: any group with a device maps.
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PciRegion, type Backend, type Device, type HostView } from '../backend.js';
import type { IrqHostProbe, IrqVector } from '../irq.js';
import { openRegisters } from '../regs.js';
import { formatIrqHost, runIrqHostBench, type IrqHostOptions, type IrqHostReport } from './irq-host.js';
import { buildRef, refCacheDir } from './ref.js';
import { formatStall, runStallBench, type StallReport } from './stall.js';
import { summarize } from './stats.js';
import { ratio, renderTable } from './text-table.js';

export const IRQ_REF_SOURCE = fileURLToPath(new URL('../../scripts/ref/irq-ref.c', import.meta.url));

export type IrqBenchKind = 'msi' | 'intx';
export const IRQ_BENCH_KINDS: readonly IrqBenchKind[] = ['msi', 'intx'];

/** A bit of edu's interrupt status no other cause uses (factorial 0x1, DMA 0x100). */
const RAISE_BIT = 0x8000;
const EDU_REGS = {
  irqStatus: { offset: 0x24, access: 'ro' },
  irqRaise: { offset: 0x60, access: 'wo' },
  irqAck: { offset: 0x64, access: 'wo' },
} as const;

export interface IrqLatencyRow {
  kind: IrqBenchKind;
  side: 'js' | 'c';
  /** ns from before the register store to the callback (JS) / after the eventfd read (C). */
  samples: number[];
  min: number;
  median: number;
  p99: number;
  /** Runs whose eventfd read counted more than one interrupt (should be 0). */
  coalesced: number;
}

export interface IrqBenchReport {
  /** `uname -r`. */
  kernel: string;
  available: boolean;
  reason: string | null;
  simulated: boolean;
  device: string | null;
  /** The device's IOMMU group (null when none was found). */
  group: number | null;
  runs: number;
  warmup: number;
  /** Blocks each side's runs were split into, alternating JS and C. */
  rounds: number;
  rows: IrqLatencyRow[];
  /** Whether the C reference ran, and if not why. */
  ref: { available: boolean; reason: string | null };
  /** JS median / C median per kind, where both ran. */
  ratios: Partial<Record<IrqBenchKind, number>>;
  /** Errors of one kind that did not stop the others. */
  notes: string[];
  /** The event-loop stall table (lib/bench/stall.ts); null when no group could be picked or it was not asked for. */
  stall: StallReport | null;
  /**
   * Where no real device was measured (the sim, or no edu): delivery on this
   * host through the addon's stand-in beside C epoll and bare libuv
   * (lib/bench/irq-host.ts); absent where a device was, or with no host source.
   */
  host?: IrqHostReport;
}

export interface IrqBenchOptions {
  backend: Backend;
  host: HostView;
  group: number | null;
  device: string | null;
  /** Timed runs per kind and side (default 1000). */
  runs?: number;
  /** Discarded runs per block first (default 50). */
  warmup?: number;
  /** Blocks per side, alternating JS and C (default 2). */
  rounds?: number;
  /** Run the C reference beside (default true; never on the sim). */
  ref?: boolean;
  /** Measure the event-loop stall table too (default true). */
  stall?: boolean;
  /** Stall rounds (default 3) and a cap on the region it maps (--max-memory). */
  stallRounds?: number;
  maxMemory?: bigint | null;
  /** Builds the C reference (tests replace it). */
  buildRef?: () => string;
  /** The addon's interrupt stand-in (lib/open.ts irqHostSource), for the host table where no device is measured. */
  hostSource?: () => { probe: IrqHostProbe | null; reason: string | null };
  hostOptions?: IrqHostOptions;
}

export const IRQ_BENCH_DEFAULTS = { runs: 1000, warmup: 50, rounds: 2 } as const;

function unavailable(base: Omit<IrqBenchReport, 'available' | 'reason'>, reason: string): IrqBenchReport {
  return { ...base, available: false, reason };
}

/** The device to measure: --device, else the first device of --group, else of the host's default group. */
function pickDevice(opts: IrqBenchOptions): { group: number; device: string } | string {
  if (opts.device !== null) {
    const g = opts.host.groupOfDevice(opts.device);
    if (g === undefined) return `no PCI device ${opts.device}`;
    if (g === null) return `${opts.device} has no IOMMU group`;
    return { group: g, device: opts.device };
  }
  const group = opts.group ?? opts.host.defaultGroup();
  if (group === null) return 'no group given and no viable group with a vfio-pci device (give --device BDF of an edu)';
  const device = opts.host.deviceNames(group)[0];
  return device ? { group, device } : `IOMMU group ${group} has no device`;
}

function isEdu(dev: Device): boolean {
  const c = dev.read(PciRegion.CONFIG, 0n, 4);
  return (c[0]! | (c[1]! << 8)) === 0x1234 && (c[2]! | (c[3]! << 8)) === 0x11e8;
}

/** One block of `runs` timed raises (after `warmup` untimed) on an open device, from JS. */
async function jsBlock(dev: Device, kind: IrqBenchKind, runs: number, warmup: number): Promise<{ samples: number[]; coalesced: number }> {
  const cmd = dev.read(PciRegion.CONFIG, 4n, 2);
  const on = (cmd[0]! | (cmd[1]! << 8)) | 0x6; // memory decode, bus master (MSI is a memory write)
  dev.write(PciRegion.CONFIG, 4n, new Uint8Array([on & 0xff, on >> 8]));
  const regs = openRegisters(dev, PciRegion.BAR0, EDU_REGS);
  regs.write('irqAck', 0xffff_ffff);
  const set = dev.irqs(kind, { count: 1 });
  const v: IrqVector = set.vectors[0]!;
  const samples: number[] = [];
  let coalesced = 0;
  let t1 = 0n;
  let wake: ((count: bigint) => void) | null = null;
  const listener = (e: Event): void => {
    t1 = process.hrtime.bigint();
    wake?.((e as unknown as { count: bigint }).count);
  };
  // A listener does not keep the loop alive; each run's 5 s timer does.
  v.addEventListener('interrupt', listener);
  try {
    for (let r = 0; r < warmup + runs; r++) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = new Promise<bigint>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(() => reject(new Error(`no ${kind} interrupt within 5 s of the raise`)), 5_000);
      });
      const t0 = process.hrtime.bigint();
      regs.write('irqRaise', RAISE_BIT);
      const count = await got;
      clearTimeout(timer);
      if (count !== 1n) coalesced++;
      regs.write('irqAck', RAISE_BIT);
      if (set.automasked) v.unmask();
      if (r >= warmup) samples.push(Number(t1 - t0));
    }
  } finally {
    wake = null;
    v.removeEventListener('interrupt', listener);
    set.disable();
  }
  return { samples, coalesced };
}

function cBlock(bin: string, group: number, device: string, kind: IrqBenchKind, runs: number, warmup: number): { samples: number[]; coalesced: number } {
  const r = spawnSync(bin, [String(group), device, kind, String(runs), String(warmup)], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  const err = /^error (\d+) (.*)$/m.exec(r.stdout);
  if (err) throw new Error(`C reference: ${err[2]} failed, errno ${err[1]}`);
  if (r.status !== 0) throw new Error(`C reference exited with ${r.status}: ${r.stderr.trim()}`);
  const s = /^samples((?: \d+)*)$/m.exec(r.stdout);
  const c = /^coalesced (\d+)$/m.exec(r.stdout);
  if (!s || !c) throw new Error(`C reference: unexpected output ${JSON.stringify(r.stdout.slice(0, 200))}`);
  return { samples: s[1]!.trim().split(' ').filter(Boolean).map(Number), coalesced: Number(c[1]) };
}

function row(kind: IrqBenchKind, side: 'js' | 'c', samples: number[], coalesced: number): IrqLatencyRow {
  const s = summarize(samples);
  return { kind, side, samples, min: s.min, median: s.median, p99: s.p99, coalesced };
}

export async function runIrqBench(opts: IrqBenchOptions): Promise<IrqBenchReport> {
  const r = await runDeviceBench(opts);
  // The lane's table stands alone where a real device answered; elsewhere the host's delivery is the figure.
  const real = !r.simulated && r.rows.length > 0;
  if (real || !opts.hostSource) return r;
  return { ...r, host: await runIrqHostBench(opts.hostSource(), opts.hostOptions) };
}

async function runDeviceBench(opts: IrqBenchOptions): Promise<IrqBenchReport> {
  const runs = opts.runs ?? IRQ_BENCH_DEFAULTS.runs;
  const warmup = opts.warmup ?? IRQ_BENCH_DEFAULTS.warmup;
  const rounds = Math.max(1, Math.min(opts.rounds ?? IRQ_BENCH_DEFAULTS.rounds, runs));
  const simulated = opts.backend.simulated;
  const base: Omit<IrqBenchReport, 'available' | 'reason'> = {
    kernel: release(), simulated, device: null, group: null, runs, warmup, rounds, rows: [],
    ref: { available: false, reason: simulated ? 'the simulator has no kernel: nothing for C to wait on' : 'not asked for' },
    ratios: {}, notes: [], stall: null,
  };
  const picked = pickDevice(opts);
  if (typeof picked === 'string') return unavailable(base, picked);
  base.device = picked.device;
  base.group = picked.group;
  const stall = async (): Promise<StallReport | null> => (opts.stall === false ? null
    : runStallBench({ backend: opts.backend, group: picked.group, maxMemory: opts.maxMemory ?? null, ...(opts.stallRounds ? { rounds: opts.stallRounds } : {}) }));

  const open = () => {
    const container = opts.backend.openContainer();
    const group = opts.backend.openGroup(picked.group);
    try {
      group.setContainer(container);
      container.setIommu('type1v2');
      const device = group.openDevice(picked.device);
      return { device, close: () => { device.close(); group.close(); container.close(); } };
    } catch (err) {
      group.close();
      container.close();
      throw err;
    }
  };
  {
    let probe: ReturnType<typeof open> | null;
    try {
      probe = open();
    } catch (err) {
      return unavailable(base, `cannot open ${picked.device}: ${(err as Error).message}`);
    }
    try {
      if (!isEdu(probe.device)) {
        probe.close();
        probe = null;
        return { ...unavailable(base, `${picked.device} is not QEMU's edu (1234:11e8): the latency table writes edu's raise register`), stall: await stall() };
      }
    } finally {
      probe?.close();
    }
  }

  let bin: string | null = null;
  if (!simulated && opts.ref !== false) {
    try {
      bin = (opts.buildRef ?? (() => buildRef(refCacheDir(), IRQ_REF_SOURCE)))();
      base.ref = { available: true, reason: null };
    } catch (err) {
      base.ref = { available: false, reason: (err as Error).message.split('\n')[0]! };
    }
  }

  const per = (k: number) => Math.floor(runs / rounds) + (k < runs % rounds ? 1 : 0);
  for (const kind of IRQ_BENCH_KINDS) {
    const js = { samples: [] as number[], coalesced: 0 };
    const c = { samples: [] as number[], coalesced: 0 };
    try {
      for (let k = 0; k < rounds; k++) {
        // One device open per block: the group must be free for the C program (a group opens once).
        const d = open();
        try {
          const b = await jsBlock(d.device, kind, per(k), warmup);
          js.samples.push(...b.samples);
          js.coalesced += b.coalesced;
        } finally {
          d.close();
        }
        if (bin !== null) {
          try {
            const b = cBlock(bin, picked.group, picked.device, kind, per(k), warmup);
            c.samples.push(...b.samples);
            c.coalesced += b.coalesced;
          } catch (err) {
            base.notes.push(`${kind}, C reference: ${(err as Error).message}`);
            bin = null;
            base.ref = { available: false, reason: (err as Error).message };
          }
        }
      }
    } catch (err) {
      base.notes.push(`${kind}: ${(err as Error).message}`);
      continue;
    }
    base.rows.push(row(kind, 'js', js.samples, js.coalesced));
    if (c.samples.length === js.samples.length) {
      const cr = row(kind, 'c', c.samples, c.coalesced);
      base.rows.push(cr);
      base.ratios[kind] = base.rows.at(-2)!.median / cr.median;
    }
  }
  base.stall = await stall();
  return { ...base, available: base.rows.length > 0, reason: base.rows.length > 0 ? null : base.notes.join('; ') || 'nothing ran' };
}

const us = (v: number) => `${(v / 1000).toFixed(v < 10_000 ? 1 : 0)} us`;

export function formatIrqBench(r: IrqBenchReport): string {
  const title = `Interrupt latency: edu raise register (BAR0 + 0x60) -> ${r.simulated ? 'callback' : 'JS listener / C epoll_wait + read'}`
    + `${r.device ? ` on ${r.device}` : ''}, kernel ${r.kernel}${r.simulated ? ' [SIMULATED: the sim delivers on the next loop turn; no device, no kernel]' : ''}`
    + ` (${r.runs} runs per row in ${r.rounds} alternating block(s), ${r.warmup} warm-up per block)`;
  const out = [title];
  if (!r.available) out.push(`  unavailable: ${r.reason}`);
  else {
    const rows = r.rows.map((x) => {
      const c = x.side === 'js' ? r.rows.find((y) => y.kind === x.kind && y.side === 'c') : undefined;
      return [
        x.kind.toUpperCase(), x.side === 'js' ? 'node-vfio (JS listener)' : 'C reference (epoll)', us(x.min), us(x.median), us(x.p99),
        String(x.coalesced), c ? `${ratio(x.median / c.median)}` : '',
      ];
    });
    out.push(renderTable(['irq', 'waiter', 'min', 'median', 'p99', 'coalesced', 'JS / C median'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r']));
    if (!r.ref.available) out.push(`  C reference: unavailable (${r.ref.reason})`);
    out.push('  target: JS median within 1.5x of the C median, same run (reported, not asserted). INTx runs include neither the acknowledge nor the unmask.');
  }
  for (const n of r.notes) out.push(`  note: ${n}`);
  if (r.host) out.push('', formatIrqHost(r.host));
  if (r.stall) out.push('', formatStall(r.stall));
  return `${out.join('\n')}\n`;
}
