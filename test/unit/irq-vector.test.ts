// IrqVector's own contract (lib/irq.ts), on the sim's edu: argument checks,
// timeouts, abort, events, the count kept between waits, and the async
// iterator. The kernel-facing behaviour is in test/conformance/irq-suite.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { PciRegion, type Device } from '../../lib/backend.js';
import { IrqEvent } from '../../lib/irq.js';
import { SimBackend, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP } from '../../lib/sim/index.js';

const RAISE = 0x60n;

function raise(d: Device, value = 1): void {
  d.write(PciRegion.BAR0, RAISE, new Uint8Array([value, 0, 0, 0]));
}

let device: Device;
function open(): Device {
  const b = new SimBackend();
  const c = b.openContainer();
  const g = b.openGroup(SIM_DEFAULT_GROUP);
  g.setContainer(c);
  c.setIommu('type1v2');
  device = g.openDevice(SIM_DEFAULT_DEVICE);
  return device;
}

afterEach(() => device?.close());

describe('IrqVector', () => {
  it('checks wait() options: TypeError for types, RangeError for values', async () => {
    const v = open().irqs('msi').vectors[0]!;
    await expect(v.wait({ timeoutMs: '5' as unknown as number })).rejects.toBeInstanceOf(TypeError);
    await expect(v.wait({ timeoutMs: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(v.wait({ timeoutMs: Infinity })).rejects.toBeInstanceOf(RangeError);
    await expect(v.wait({ signal: {} as AbortSignal })).rejects.toBeInstanceOf(TypeError);
    await expect(v.wait(null as unknown as object)).rejects.toBeInstanceOf(TypeError);
  });

  it('times out with a TimeoutError and aborts with the signal\'s reason', async () => {
    const v = open().irqs('msi').vectors[0]!;
    await expect(v.wait({ timeoutMs: 5 })).rejects.toMatchObject({ name: 'TimeoutError' });
    const ac = new AbortController();
    const p = v.wait({ signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await expect(v.wait({ signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    // A waiter that gave up takes nothing: the next interrupt goes to the next wait().
    raise(device);
    expect(await v.wait({ timeoutMs: 1_000 })).toBe(1n);
  });

  it('dispatches an IrqEvent per delivery and keeps the count for the next wait()', async () => {
    const d = open();
    const v = d.irqs('msi').vectors[0]!;
    const events: IrqEvent[] = [];
    v.addEventListener('interrupt', (e) => events.push(e as IrqEvent));
    raise(d);
    raise(d); // same loop turn: one read of the counter
    expect(events).toHaveLength(0); // never synchronous
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => [e.vector, e.count])).toEqual([[0, 2n]]);
    raise(d);
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(2);
    expect(await v.wait()).toBe(3n); // both deliveries, awaited by nobody until now
    expect(v.delivered).toBe(3n);
  });

  it('iterates until disabled', async () => {
    const d = open();
    const set = d.irqs('msi');
    const got: bigint[] = [];
    const done = (async () => {
      for await (const n of set.vectors[0]!) {
        got.push(n);
        if (got.length < 3) raise(d);
        else set.disable();
      }
    })();
    raise(d);
    await done;
    expect(got).toEqual([1n, 1n, 1n]);
    expect(set.disabled).toBe(true);
    expect(() => set.vectors[0]!.mask()).toThrow(/disabled/);
  });

  it('disposes with using, and a vector disabled alone takes the index when it is the last', () => {
    const d = open();
    {
      using set = d.irqs('intx');
      expect(set.vectors[0]!.closed).toBe(false);
    }
    const set = d.irqs('msi'); // INTx is off again, or this would be EINVAL
    set.vectors[0]!.disable();
    expect(set.vectors[0]!.closed).toBe(true);
    expect(() => d.irqs('intx')).not.toThrow();
  });
});
