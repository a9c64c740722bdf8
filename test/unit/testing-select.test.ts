// node-vfio/testing: which device the environment names, looked up in a
// HostView (the sim's here), and the refusals that must not fall back.
import { describe, expect, it } from 'vitest';
import { SimBackend, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP } from '../../lib/sim/index.js';
import { resolveDevice } from '../../lib/testing/resolve.js';
import { wantedFromEnv } from '../../lib/testing/select.js';

const host = new SimBackend({
  groups: [
    { id: 7, devices: ['0000:00:03.0'] },
    { id: 9, devices: ['0000:00:06.0', '0000:00:05.0'] },
  ],
}).host();

describe('node-vfio/testing: choosing the device under test', () => {
  it('a device or a group in the environment means the native backend; neither means the sim', () => {
    expect(wantedFromEnv({ VFIO_TEST_DEVICE: '0000:00:03.0' })).toEqual({ backend: 'native', address: '0000:00:03.0', group: null });
    expect(wantedFromEnv({ VFIO_TEST_GROUP: '12' })).toEqual({ backend: 'native', address: null, group: 12 });
    expect(wantedFromEnv({ VFIO_TEST_GROUP: ' ' })).toEqual({ backend: 'sim', address: null, group: null });
    expect(wantedFromEnv({})).toEqual({ backend: 'sim', address: null, group: null });
  });

  it('refuses values that name nothing', () => {
    expect(() => wantedFromEnv({ VFIO_TEST_DEVICE: '00:03.0' })).toThrow(/VFIO_TEST_DEVICE=00:03.0 is not a PCI address/);
    expect(() => wantedFromEnv({ VFIO_TEST_GROUP: 'seven' })).toThrow(/VFIO_TEST_GROUP=seven is not an IOMMU group/);
  });

  it('finds the group of VFIO_TEST_DEVICE through the HostView, and refuses a group that disagrees', () => {
    expect(resolveDevice({ backend: 'native', address: '0000:00:05.0', group: null }, host))
      .toMatchObject({ group: 9, device: '0000:00:05.0' });
    expect(() => resolveDevice({ backend: 'native', address: '0000:00:05.0', group: 7 }, host))
      .toThrow('VFIO_TEST_DEVICE=0000:00:05.0 is in IOMMU group 9, not VFIO_TEST_GROUP=7');
    expect(() => resolveDevice({ backend: 'native', address: '0000:00:1f.0', group: null }, host)).toThrow(/no such PCI device/);
  });

  it('VFIO_TEST_GROUP alone takes the first device of the group, in address order', () => {
    expect(resolveDevice({ backend: 'native', address: null, group: 9 }, host)).toMatchObject({ group: 9, device: '0000:00:05.0' });
    expect(() => resolveDevice({ backend: 'native', address: null, group: 3 }, host)).toThrow(/VFIO_TEST_GROUP=3: the group has no devices/);
  });

  it('with neither, the default simulated device, and the reason says which and why', () => {
    const r = resolveDevice({ backend: 'sim', address: null, group: null }, new SimBackend().host());
    expect(r).toMatchObject({ group: SIM_DEFAULT_GROUP, device: SIM_DEFAULT_DEVICE });
    expect(r.why).toContain(`simulator's default device ${SIM_DEFAULT_DEVICE} (IOMMU group ${SIM_DEFAULT_GROUP})`);
    expect(r.why).toMatch(/neither VFIO_TEST_DEVICE nor VFIO_TEST_GROUP/);
  });
});
