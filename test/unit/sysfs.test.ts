import { existsSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VfioError } from '../../lib/errors.js';
import {
  assertPciAddress, bindRecord, bindRecordPath, bindToVfioPci, describeRestorePlan, dmaEntryLimit, hugepagePools, isPciAddress, iommuGroup,
  listIommuGroups, restoreDriver,
  memlockLimit, pciDevice, thpMode, usableVfioGroup, vfioPresence, writePciAttribute,
} from '../../lib/sysfs.js';
import { EDU, NIC, fakeHost, type FakeHost } from './sysfs.fixture.js';

let host: FakeHost | undefined;
afterEach(() => host?.cleanup());

describe('PCI address validation', () => {
  it.each(['0000:00:03.0', 'ffff:ff:1f.7', '0001:3a:10.4'])('accepts %s', (a) => {
    expect(isPciAddress(a)).toBe(true);
    expect(assertPciAddress(a)).toBe(a);
  });

  it.each([
    '00:03.0', // no domain
    '0000:00:03.8', // function > 7
    '0000:00:20.0', // device > 0x1f
    '0000:00:03.0 ', '0000:00:03.0\n', // trailing junk
    '0000:0A:03.0', // upper case
    '../../../etc', '0000:00:03.0/../../x', '', '0000:00:03', 'g000:00:03.0',
  ])('rejects %j with a RangeError', (a) => {
    expect(isPciAddress(a)).toBe(false);
    expect(() => assertPciAddress(a)).toThrow(RangeError);
  });

  it('rejects non-strings with a TypeError', () => {
    expect(() => assertPciAddress(3)).toThrow(TypeError);
    expect(() => assertPciAddress(null)).toThrow(TypeError);
  });
});

describe('reading the host', () => {
  it('lists groups, devices, drivers and viability', () => {
    host = fakeHost({ devices: [EDU, NIC, { ...EDU, address: '0000:00:04.0', group: 3, driver: 'vfio-pci' }], vfio: true });
    const groups = listIommuGroups(host.root);
    expect(groups.map((g) => g.id)).toEqual([2, 3]);
    const [nicGroup, eduGroup] = groups;
    expect(nicGroup!.devices[0]).toEqual({
      address: NIC.address, vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: 'e1000e',
      driverOverride: null, iommuGroup: 2,
    });
    expect(nicGroup!.viable).toBe(false);
    expect(nicGroup!.blockers).toEqual(['0000:00:02.0 (e1000e)']);
    expect(eduGroup!.devices.map((d) => [d.address, d.driver])).toEqual([['0000:00:03.0', null], ['0000:00:04.0', 'vfio-pci']]);
    expect(eduGroup!.viable).toBe(true);
    expect(iommuGroup(99, host.root)).toBeNull();
    expect(() => iommuGroup(-1, host!.root)).toThrow(RangeError);
  });

  it('finds the group a container can use: viable, a vfio-pci device, a /dev/vfio node', () => {
    const VFIO_DEV = { ...EDU, address: '0000:00:05.0', group: 5, driver: 'vfio-pci' };
    host = fakeHost({ devices: [EDU, NIC, VFIO_DEV], vfio: true });
    expect(usableVfioGroup(host.root)).toBeNull(); // group 5 has no /dev/vfio/5 yet
    host.write('dev/vfio/5', '');
    expect(usableVfioGroup(host.root)).toBe(5); // group 3 is viable but has no vfio-pci device
  });

  it('answers empty, not an error, on a host without an IOMMU', () => {
    host = fakeHost();
    expect(listIommuGroups(host.root)).toEqual([]);
    expect(pciDevice('0000:00:03.0', host.root)).toBeNull();
    const v = vfioPresence(host.root);
    expect(v.present).toBe(false);
    expect(v.reason).toMatch(/modprobe vfio-pci/);
    expect(dmaEntryLimit(host.root)).toBeNull();
    expect(thpMode(host.root)).toBeNull();
    expect(hugepagePools(host.root)).toEqual([]);
  });

  it('says what is missing when vfio is loaded without groups', () => {
    host = fakeHost({ vfio: true });
    expect(vfioPresence(host.root)).toMatchObject({ present: true, iommuGroups: 0 });
    expect(vfioPresence(host.root).reason).toMatch(/no IOMMU groups/);
  });

  it('reads RLIMIT_MEMLOCK, including unlimited', () => {
    host = fakeHost({ memlock: '65536                unlimited' });
    expect(memlockLimit(host.root)).toEqual({ soft: 65536n, hard: null });
    host.cleanup();
    host = fakeHost();
    expect(memlockLimit(host.root)).toEqual({ soft: 8388608n, hard: 8388608n });
    host.write('proc/self/limits', 'Max locked memory  lots  lots  bytes\n');
    expect(memlockLimit(host.root)).toBeNull();
  });

  it('reads hugepage pools by size, THP mode and dma_entry_limit', () => {
    host = fakeHost({
      vfio: true, dmaEntryLimit: 1234, thp: 'always [madvise] never',
      hugepages: { '1048576kB': { nr: 1, free: 0 }, '2048kB': { nr: 64, free: 60 } },
    });
    expect(hugepagePools(host.root)).toEqual([
      { pageSize: 2n << 20n, total: 64, free: 60 },
      { pageSize: 1n << 30n, total: 1, free: 0 },
    ]);
    expect(thpMode(host.root)).toBe('madvise');
    expect(dmaEntryLimit(host.root)).toBe(1234);
  });
});

describe('binding to vfio-pci', () => {
  it('writes driver_override, unbinds the old driver and probes, and says so', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    const r = bindToVfioPci(NIC.address, host.root);
    const pci = join(host.root, 'sys/bus/pci');
    expect(readFileSync(join(pci, 'devices', NIC.address, 'driver_override'), 'utf8')).toBe('vfio-pci');
    expect(readFileSync(join(pci, 'drivers/e1000e/unbind'), 'utf8')).toBe(NIC.address);
    expect(readFileSync(join(pci, 'drivers_probe'), 'utf8')).toBe(NIC.address);
    expect(r.previousDriver).toBe('e1000e');
    const record = join(host.root, 'run/node-vfio', `bind-${NIC.address}.json`);
    expect(r.record).toBe(record);
    expect(r.changes).toEqual([
      `${record} <- e1000e`,
      `${pci}/devices/${NIC.address}/driver_override <- vfio-pci`,
      `${pci}/drivers/e1000e/unbind <- ${NIC.address}`,
      `${pci}/drivers_probe <- ${NIC.address}`,
    ]);
  });

  it('skips the unbind for a device with no driver, and changes nothing when already bound', () => {
    host = fakeHost({ devices: [EDU, { ...NIC, driver: 'vfio-pci' }], vfio: true });
    expect(bindToVfioPci(EDU.address, host.root).changes).toHaveLength(3);
    const again = bindToVfioPci(NIC.address, host.root);
    expect(again).toEqual({ address: NIC.address, previousDriver: 'vfio-pci', driver: 'vfio-pci', changes: [], record: null });
  });

  it('refuses malformed addresses before touching anything', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    for (const bad of ['../../../../tmp/x', '0000:00:02.0/../../..', '0000:00:02.0\n0000:00:03.0']) {
      expect(() => bindToVfioPci(bad, host!.root)).toThrow(RangeError);
    }
    expect(readFileSync(join(host.root, 'sys/bus/pci/drivers_probe'), 'utf8')).toBe('');
  });

  it('refuses an absent device and a missing vfio-pci driver with a VfioError and a hint', () => {
    host = fakeHost({ devices: [NIC] });
    expect(() => bindToVfioPci('0000:00:09.0', host!.root)).toThrow(/no PCI device/);
    const err = (() => {
      try {
        bindToVfioPci(NIC.address, host!.root);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).code).toBe('ENODEV');
    expect((err as VfioError).hint).toMatch(/modprobe vfio-pci/);
  });

  it('never writes outside <root>/sys/bus/pci', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    for (const rel of ['../../../etc/passwd', '../../kernel/mm/x', '/etc/passwd', '..', '']) {
      expect(() => writePciAttribute(host!.root, rel, 'x')).toThrow(RangeError);
    }
    expect(existsSync(join(host.root, 'etc/passwd'))).toBe(false);
  });

  it('reports a failed write as a VfioError with the errno', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    // A dangling driver link: unbind cannot be opened.
    symlinkSync('/nonexistent-dir/x', join(host.root, 'sys/bus/pci/drivers/broken'));
    expect(() => writePciAttribute(host!.root, 'drivers/broken/unbind', NIC.address)).toThrow(VfioError);
  });
});

describe('giving a device back to the driver vfio bind took it from', () => {
  /** What the kernel does on drivers_probe with driver_override = vfio-pci: the device's driver link now points there. */
  const kernelBindsVfio = (h: FakeHost, address: string) => {
    const link = join(h.root, 'sys/devices/pci0000:00', address, 'driver');
    rmSync(link, { force: true });
    h.link(`sys/devices/pci0000:00/${address}/driver`, 'sys/bus/pci/drivers/vfio-pci');
  };

  it('records the driver under run/node-vfio, then unbinds from vfio-pci, puts driver_override back and binds to it', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    bindToVfioPci(NIC.address, host.root);
    kernelBindsVfio(host, NIC.address);
    const rec = bindRecord(NIC.address, host.root)!;
    expect(rec).toMatchObject({ schema: 'node-vfio/bind@1', address: NIC.address, vendor: 0x8086, device: 0x10d3, previousDriver: 'e1000e', previousOverride: null });
    const path = bindRecordPath(NIC.address, host.root);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect(describeRestorePlan(NIC.address, host.root)).toMatch(/now: vfio-pci\) would go back to e1000e/);

    const pci = join(host.root, 'sys/bus/pci');
    const r = restoreDriver(NIC.address, host.root);
    expect(r.target).toBe('e1000e');
    expect(r.changes).toEqual([
      `${pci}/drivers/vfio-pci/unbind <- ${NIC.address}`,
      `${pci}/devices/${NIC.address}/driver_override <- \\n`,
      `${pci}/drivers/e1000e/bind <- ${NIC.address}`,
      `${path} removed`,
    ]);
    expect(readFileSync(join(pci, 'drivers/e1000e/bind'), 'utf8')).toBe(NIC.address);
    expect(readFileSync(join(pci, 'devices', NIC.address, 'driver_override'), 'utf8')).toBe('\n');
    expect(existsSync(path)).toBe(false);
  });

  it('a device that had no driver is left with none; without a record drivers_probe chooses', () => {
    host = fakeHost({ devices: [EDU, { ...NIC, driver: 'vfio-pci' }], vfio: true });
    bindToVfioPci(EDU.address, host.root);
    kernelBindsVfio(host, EDU.address);
    const pci = join(host.root, 'sys/bus/pci');
    const edu = restoreDriver(EDU.address, host.root);
    expect(edu.target).toBeNull();
    expect(edu.changes.filter((c) => c.includes('/bind <-') || c.includes('drivers_probe'))).toEqual([]);
    const nic = restoreDriver(NIC.address, host.root);
    expect(nic.target).toBe('drivers_probe');
    expect(nic.record).toBeNull();
    expect(nic.changes).toEqual([
      `${pci}/drivers/vfio-pci/unbind <- ${NIC.address}`,
      `${pci}/devices/${NIC.address}/driver_override <- \\n`,
      `${pci}/drivers_probe <- ${NIC.address}`,
    ]);
  });

  it('leaves alone a device another driver holds, a record for another device, and a driver that is not loaded', () => {
    host = fakeHost({ devices: [NIC, { ...EDU, driver: 'vfio-pci' }], vfio: true });
    const probe = join(host.root, 'sys/bus/pci/drivers_probe');
    expect(() => restoreDriver(NIC.address, host!.root)).toThrow(/bound to e1000e, not vfio-pci: not touching it/);
    // A record whose driver is not loaded here.
    host.write(`run/node-vfio/bind-${EDU.address}.json`, JSON.stringify({
      schema: 'node-vfio/bind@1', address: EDU.address, vendor: 0x1234, device: 0x11e8, previousDriver: 'edu_drv', previousOverride: null, boundAt: 'x',
    }));
    expect(() => restoreDriver(EDU.address, host!.root)).toThrow(/edu_drv is not loaded/);
    // A record for another device at the same address.
    host.write(`run/node-vfio/bind-${EDU.address}.json`, JSON.stringify({
      schema: 'node-vfio/bind@1', address: EDU.address, vendor: 0x8086, device: 0x10d3, previousDriver: 'e1000e', previousOverride: null, boundAt: 'x',
    }));
    expect(() => restoreDriver(EDU.address, host!.root)).toThrow(/for another device/);
    // A record naming a path instead of a driver is not a record.
    host.write(`run/node-vfio/bind-${EDU.address}.json`, JSON.stringify({
      schema: 'node-vfio/bind@1', address: EDU.address, vendor: 0x1234, device: 0x11e8, previousDriver: '../../../x', previousOverride: null, boundAt: 'x',
    }));
    expect(bindRecord(EDU.address, host.root)).toBeNull();
    expect(readFileSync(probe, 'utf8')).toBe('');
  });

  it('a device already back with its recorded driver only loses the record', () => {
    host = fakeHost({ devices: [NIC], vfio: true });
    bindToVfioPci(NIC.address, host.root); // the fake kernel leaves it with e1000e
    const r = restoreDriver(NIC.address, host.root);
    expect(r.changes).toHaveLength(1);
    expect(r.changes[0]).toMatch(/removed \(the device is already with e1000e\)/);
    expect(bindRecord(NIC.address, host.root)).toBeNull();
  });
});
