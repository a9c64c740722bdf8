// The native IrqPort: the addon's irq* methods on the device (native/irq.cc).
// The addon checks the kernel's preconditions and creates the eventfds;
// this file only routes the shared IrqSet's calls to them.
import { openIrqs, type IrqAction, type IrqSet } from '../irq.js';
import type { NativeDevice } from './addon.js';

const ACTIONS: Record<IrqAction, number> = { mask: 0, unmask: 1, trigger: 2 };

export function nativeIrqs(n: NativeDevice, kind: unknown, opts: unknown): IrqSet {
  // A prebuild older than native/irq.cc loads fine but has no irq methods.
  if (typeof (n as Partial<NativeDevice>).irqEnable !== 'function') {
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
