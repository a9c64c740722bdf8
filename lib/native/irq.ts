// The native IrqPort: the addon's irq* methods on a device (native/irq.cc),
// or on the host stand-in (native/overhead_irq.h), which has the same methods
// over the same polling. The addon checks the kernel's preconditions and
// creates the eventfds; this file only routes the shared IrqSet's calls to them.
import { openIrqs, type IrqAction, type IrqCapable, type IrqHostProbe, type IrqSet, type IrqStandIn } from '../irq.js';
import type { NativeAddon } from './addon.js';
import { requireAddon } from './load.js';

/** The irq* methods native/irq.cc puts on the addon's device object (NativeDevice extends this), and the stand-in has too. */
export interface NativeIrqMethods {
  irqEnable(index: number, count: number, onEvent: (vector: number, count: bigint) => void,
    onClose: (errno: number) => void): void;
  /** vector undefined: the whole index. */
  irqDisable(index: number, vector?: number): void;
  /** action 0 mask, 1 unmask, 2 trigger (DATA_NONE). */
  irqAction(index: number, vector: number, action: number): void;
  irqPoll(index: number, vector: number, on: boolean): void;
  irqRef(index: number, vector: number, on: boolean): void;
}

const ACTIONS: Record<IrqAction, number> = { mask: 0, unmask: 1, trigger: 2 };

export function nativeIrqs(n: NativeIrqMethods & IrqCapable, kind: unknown, opts: unknown): IrqSet {
  // A prebuild older than native/irq.cc loads fine but has no irq methods.
  if (typeof (n as Partial<NativeIrqMethods>).irqEnable !== 'function') {
    throw new Error('this build of the addon has no interrupt support: rebuild it (npm run build:native) or refresh the prebuild (npm run prebuild)');
  }
  return openIrqs(n, kind, opts, (index, count, attach) => {
    // The sink exists only once the port does; the addon calls back only
    // after irqEnable returns (from the event loop, or when the device closes).
    let sink: ReturnType<typeof attach> | null = null;
    n.irqEnable(index, count, (vector, c) => sink?.event(vector, c), (errno) => sink?.closed(errno));
    sink = attach({
      action: (vector, action) => n.irqAction(index, vector, ACTIONS[action]),
      poll: (vector, on) => n.irqPoll(index, vector, on),
      ref: (vector, on) => n.irqRef(index, vector, on),
      disable: (vector) => n.irqDisable(index, vector),
    });
  });
}

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
