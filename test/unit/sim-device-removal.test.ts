// The sim's model of a removal while the device is open
// (SimDevice.simulateRemoval: vfio_unregister_group_dev() asking through
// vfio_pci_core_request() until the device closes), driven through the
// request watch as an application would.
import { describe, expect, it } from 'vitest';
import { watchRequests } from '../../lib/device-request.js';
import { Errno } from '../../lib/errors.js';
import { SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SimBackend, type SimDevice } from '../../lib/sim/index.js';

function open() {
  const backend = new SimBackend();
  const container = backend.openContainer();
  const group = backend.openGroup(SIM_DEFAULT_GROUP);
  group.setContainer(container);
  container.setIommu('type1v2');
  const device = group.openDevice(SIM_DEFAULT_DEVICE) as SimDevice;
  return { container, group, device };
}

describe('sim: removal of an open device', () => {
  it('asks again every interval until released, then the removal completes', async () => {
    const { container, group, device } = open();
    const watch = watchRequests(device);
    const totals: bigint[] = [];
    watch.addEventListener('request', () => {
      totals.push(watch.total);
      if (watch.total === 3n) watch.releaseDevice();
    });
    const requests = await device.simulateRemoval({ intervalMs: 10 });
    expect(requests).toBe(3);
    expect(totals).toEqual([1n, 2n, 3n]);
    expect(device.closed).toBe(true);
    expect(() => device.info()).toThrow(expect.objectContaining({ errno: Errno.ENODEV }));
    group.close();
    container.close();
  });

  it('release: true ends it at the first request; without a watch only a close does', async () => {
    const a = open();
    watchRequests(a.device, { release: true });
    expect(await a.device.simulateRemoval({ intervalMs: 10 })).toBe(1);
    a.group.close();
    a.container.close();

    const b = open();
    const removal = b.device.simulateRemoval({ intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    b.device.close();
    expect(await removal).toBeGreaterThan(1);
    expect(() => b.device.info()).toThrow(expect.objectContaining({ errno: Errno.EBADF }));
    b.group.close();
    b.container.close();
  });
});
