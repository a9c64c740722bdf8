// `vfio probe` names the host's IOMMU driver (from a fake sysfs tree laid out
// as the kernel lays it out), the probed group's unit, domain type and
// reserved regions, and the sim profile that imitates it: from GET_INFO when a
// container opens, else from the VT-d unit's registers, else from the driver.
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { SimBackend, type SimOptions } from '../../lib/sim/index.js';
import { sysfsIommu, vtdGeometry } from '../../lib/sysfs-host.js';
import { noNative, runCli } from './cli.helpers.js';
import { EDU, fakeHost, vtdCap, type FakeHost, type FakeIommu } from './sysfs.fixture.js';

let host: FakeHost | undefined;
afterEach(() => host?.cleanup());

const QEMU_VTD: FakeIommu = { unit: 'dmar0', driver: 'intel-iommu', cap: vtdCap(39, 0b11n), ecap: 0n };
const AMD_VI: FakeIommu = {
  unit: 'ivhd0', driver: 'amd-iommu',
  reserved: '0x00000000fee00000 0x00000000feefffff msi\n0x000000fd00000000 0x000000ffffffffff reserved\n',
};

function hostWith(iommu?: FakeIommu): FakeHost {
  const h = fakeHost({ devices: [{ ...EDU, driver: 'vfio-pci' }], vfio: true, ...(iommu ? { iommu } : {}) });
  h.write(`dev/vfio/${EDU.group}`, '');
  return h;
}

/** A "native" backend that is the sim with these options, its group the fake host's: GET_INFO answers as that IOMMU would. */
function nativeAs(opts: SimOptions): BackendOpener {
  return () => ({
    backend: new SimBackend({ ...opts, groups: [{ id: EDU.group, devices: [EDU.address] }] }),
    reason: 'native: stand-in',
  });
}

describe('vfio probe: the IOMMU', () => {
  it('reads a VT-d unit\'s registers: MGAW, superpage levels, snoop control', () => {
    expect(vtdGeometry(vtdCap(39, 0b11n), 0n)).toEqual({ addressWidth: 39, pageSizes: 0x40201000n, snoopControl: false });
    expect(vtdGeometry(vtdCap(48, 0b01n), 1n << 7n)).toEqual({ addressWidth: 48, pageSizes: 0x201000n, snoopControl: true });
    expect(vtdGeometry(vtdCap(57, 0n), null)).toEqual({ addressWidth: 57, pageSizes: 0x1000n, snoopControl: null });
  });

  it('names intel-iommu, the group\'s unit, type and reserved regions, and vtd-qemu from the registers (no container)', async () => {
    host = hostWith(QEMU_VTD);
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IOMMU: Intel VT-d \(intel-iommu: dmar0\)$/m);
    expect(r.stdout).toMatch(/^ {2}dmar0 registers: 39-bit, page sizes 4 KiB, 2 MiB, 1 GiB, snoop control no$/m);
    expect(r.stdout).toMatch(/^ {2}group 3: unit dmar0, domain type DMA, reserved 0xfee00000-0xfeefffff msi$/m);
    expect(r.stdout).toMatch(/^ {2}sim profile: vtd-qemu \(matches the unit's registers .*exactly; vfio bench --sim-iommu vtd-qemu\)$/m);
    const doc = JSON.parse((await runCli(['probe', '--json'], { sysfsRoot: host.root, open: noNative })).stdout);
    expect(doc.iommu).toMatchObject({
      name: 'intel-iommu', driver: 'intel-iommu',
      units: [{ name: 'dmar0', driver: 'intel-iommu', predicted: { addressWidth: 39, pageSizes: [4096, 2097152, 1073741824], snoopControl: false } }],
      group: { id: 3, unit: 'dmar0', type: 'DMA', reserved: [{ start: '0xfee00000', last: '0xfeefffff', type: 'msi' }] },
      simProfile: { matches: ['vtd-qemu'], closest: 'vtd-qemu', basis: 'registers', differs: [] },
    });
  });

  it('names amd-iommu and, without a container, the AMD-Vi profile from the driver alone', async () => {
    host = hostWith(AMD_VI);
    const r = await runCli(['probe', '--json'], { sysfsRoot: host.root, open: noNative });
    const doc = JSON.parse(r.stdout);
    expect(doc.iommu).toMatchObject({
      name: 'amd-iommu', driver: 'amd-iommu', units: [{ name: 'ivhd0', driver: 'amd-iommu', predicted: null }],
      group: { unit: 'ivhd0', reserved: [{ type: 'msi' }, { start: '0xfd00000000', last: '0xffffffffff', type: 'reserved' }] },
      simProfile: { matches: [], closest: 'amd-vi', basis: 'driver' },
    });
    const text = (await runCli(['probe'], { sysfsRoot: host.root, open: noNative })).stdout;
    expect(text).toMatch(/^IOMMU: AMD-Vi \(amd-iommu: ivhd0\)$/m);
    expect(text).toMatch(/sim profile: closest amd-vi, from the driver alone/);
  });

  it('with a container, matches GET_INFO exactly: both AMD-Vi profiles answer as QEMU\'s AMD-Vi', async () => {
    host = hostWith(AMD_VI);
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: nativeAs({ iommu: 'amd-vi-qemu' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/page sizes: 4 KiB to 256 GiB, 1 TiB to 2048 TiB \(every power of two in a range\)$/m);
    expect(r.stdout).toMatch(/sim profile: amd-vi or amd-vi-qemu \(matches GET_INFO exactly; vfio bench --sim-iommu amd-vi\)/);
  });

  it('with a container whose geometry no profile has, names the closest of the driver\'s and how this host differs', async () => {
    host = hostWith(QEMU_VTD);
    const r = await runCli(['probe', '--json'], { sysfsRoot: host.root, open: nativeAs({ iommu: 'vtd', addressWidth: 46 }) });
    const p = JSON.parse(r.stdout).iommu.simProfile;
    expect(p).toMatchObject({ matches: [], closest: 'vtd', basis: 'GET_INFO' });
    expect(p.differs).toEqual([expect.stringMatching(/^IOVA ranges 0x0-0xfedfffff, 0xfef00000-0x3fffffffffff \(the profile has .*0xffffffffffff\)$/)]);
  });

  it('says when there is no IOMMU unit at all', async () => {
    host = fakeHost();
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: noNative });
    expect(r.stdout).toMatch(/^IOMMU: no IOMMU unit in \/sys\/class\/iommu$/m);
    expect(r.stdout).toMatch(/sim profile: none imitates this IOMMU/);
    expect(sysfsIommu(host.root)).toMatchObject({ name: 'none', driver: null, units: [] });
  });

  it('the bench on a real host labels its tables with the driver (HostView.iommu)', () => {
    host = hostWith(AMD_VI);
    expect(sysfsIommu(host.root, EDU.group)).toMatchObject({ name: 'amd-iommu', simProfile: null, group: { id: EDU.group, unit: 'ivhd0', type: 'DMA' } });
  });
});
