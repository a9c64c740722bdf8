// The host's interrupt stand-in (native/overhead_irq.h): an eventfd a native
// thread writes, read through the same polling as a device's vectors, and the
// C and libuv floors beside it. What `vfio bench --suite irq` times where no
// real edu is measured (lib/bench/irq-host.ts). Apart from irq.ts, so that the
// device's interrupt path needs nothing from the addon's loader.
import type { IrqCapable, IrqHostProbe, IrqStandIn } from '../irq.js';
import type { NativeAddon } from './addon.js';
import { nativeIrqs, type NativeIrqMethods } from './irq.js';
import { requireAddon } from './load.js';

/** native/overhead_irq.h as the addon exports it. */
export interface NativeIrqStandIn extends NativeIrqMethods, IrqCapable {
  startRaiser(index: number, vector: number, events: number, gapMinNs: number, gapMaxNs: number, seed: number, raiserCpu?: number): void;
  ack(): void;
  stopRaiser(): BigInt64Array;
  close(): void;
  readonly closed: boolean;
}

export interface IrqStandInAddon {
  openIrqStandIn(vectors?: number): NativeIrqStandIn;
  irqFloor(mode: 'epoll' | 'uv', events: number, gapMinNs: number, gapMaxNs: number, seed: number, raiserCpu?: number, waiterCpu?: number): { ns: Float64Array; coalesced: number };
  threadCpus(cpus?: readonly number[]): number[];
}

const MSI = 1;

/** The stand-in through nativeIrqs, as a device's vectors go. */
export function nativeIrqStandIn(n: NativeIrqStandIn): IrqStandIn {
  return {
    irqs: (opts) => nativeIrqs(n, 'msi', opts),
    raise: (vector, o) => n.startRaiser(MSI, vector, o.events, o.gapMinNs, o.gapMaxNs, o.seed, o.raiserCpu ?? -1),
    ack: () => n.ack(),
    raised: () => n.stopRaiser(),
    close: () => n.close(),
  };
}

/** The host probe, or null with an addon built before native/overhead_irq.cc. */
export function nativeIrqHostProbe(addon: NativeAddon = requireAddon()): IrqHostProbe | null {
  const a = addon as NativeAddon & Partial<IrqStandInAddon>;
  if (typeof a.openIrqStandIn !== 'function' || typeof a.irqFloor !== 'function' || typeof a.threadCpus !== 'function') return null;
  const { openIrqStandIn, irqFloor, threadCpus } = a as IrqStandInAddon;
  return {
    open: (vectors) => nativeIrqStandIn(openIrqStandIn(vectors)),
    floor: (mode, o) => irqFloor(mode, o.events, o.gapMinNs, o.gapMaxNs, o.seed, o.raiserCpu ?? -1, o.waiterCpu ?? -1),
    threadCpus: (cpus) => threadCpus(cpus),
  };
}
