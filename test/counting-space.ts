// A DmaSpace that forwards to another and counts the kernel calls (map,
// unmap, runPlan) made through it: what a test of "refused before any ioctl"
// reads. Used by the sim's unit test and the lane's child alike.
import type { DmaSpace } from '../lib/backend.js';

export interface CountingSpace {
  space: DmaSpace;
  calls(): number;
  reset(): void;
}

export function countingSpace(inner: DmaSpace): CountingSpace {
  let calls = 0;
  const space: DmaSpace = {
    simulated: inner.simulated,
    info: () => inner.info(),
    memlock: () => inner.memlock(),
    map: (m) => {
      calls++;
      inner.map(m);
    },
    unmap: (iova, size) => {
      calls++;
      return inner.unmap(iova, size);
    },
    runPlan: (op, plan) => {
      calls++;
      return inner.runPlan(op, plan);
    },
  };
  return { space, calls: () => calls, reset: () => { calls = 0; } };
}
