// The native IrqPort: the addon's irq* methods on a device (native/irq.cc),
// or on the host stand-in (native/overhead_irq.h, wrapped by irq-host.ts),
// which has the same methods over the same polling. The addon checks the
// kernel's preconditions and creates the eventfds; this file only routes the
// shared IrqSet's calls to them.
import { openIrqs, type IrqAction, type IrqCapable, type IrqSet } from '../irq.js';

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
