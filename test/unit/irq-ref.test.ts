// When an IrqVector holds the event loop (IrqPort.ref): while a wait() is
// pending, and not once nothing waits. A waiter settled by a delivery drops
// the ref in a promise job queued after the settlement, so code that awaits
// again at once keeps it: no ref(false) / ref(true) pair per interrupt.
import { describe, expect, it } from 'vitest';
import { IrqSet, type IrqPort, type IrqSink } from '../../lib/irq.js';

function spySet(): { set: IrqSet; sink: IrqSink; refs: boolean[] } {
  const refs: boolean[] = [];
  const port: IrqPort = { action: () => {}, poll: () => {}, ref: (_v, on) => { refs.push(on); }, disable: () => {} };
  const set = new IrqSet('msi', { index: 1, flags: 1, count: 1 }, 1);
  return { set, sink: set._attach(port), refs };
}

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('IrqVector refs the loop while awaited', () => {
  it('await wait() in a loop: one ref for the whole loop, dropped once nothing waits', async () => {
    const { set, sink, refs } = spySet();
    const v = set.vectors[0]!;
    const done = (async () => {
      for (let k = 0; k < 5; k++) expect(await v.wait()).toBe(1n);
    })();
    expect(refs).toEqual([true]);
    for (let k = 0; k < 5; k++) {
      await macrotask();
      sink.event(0, 1n);
    }
    await done;
    await macrotask();
    expect(refs).toEqual([true, false]);
  });

  it('a waiter that nobody follows drops the ref before the next macrotask; a timeout too', async () => {
    const { set, sink, refs } = spySet();
    const v = set.vectors[0]!;
    const p = v.wait();
    sink.event(0, 2n);
    expect(await p).toBe(2n);
    await macrotask();
    expect(refs).toEqual([true, false]);
    await expect(v.wait({ timeoutMs: 1 })).rejects.toMatchObject({ name: 'TimeoutError' });
    await macrotask();
    expect(refs).toEqual([true, false, true, false]);
  });

  it('two waiters: the ref holds until both settled; a closed vector is never touched again', async () => {
    const { set, sink, refs } = spySet();
    const v = set.vectors[0]!;
    const a = v.wait();
    const ac = new AbortController();
    const b = v.wait({ signal: ac.signal });
    ac.abort();
    await expect(b).rejects.toBeDefined();
    await macrotask();
    expect(refs).toEqual([true]);
    sink.event(0, 1n);
    await a;
    await macrotask();
    expect(refs).toEqual([true, false]);
    const c = v.wait();
    sink.closed(9);
    await expect(c).rejects.toMatchObject({ code: 'EBADF' });
    await macrotask();
    expect(refs).toEqual([true, false, true]);
  });
});
