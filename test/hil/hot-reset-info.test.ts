// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on the lane's two edus, as the kernel
// answers it (vfio_pci_ioctl_get_pci_hot_reset_info, drivers/vfio/pci/
// vfio_pci_core.c, 6.12):
// - the edu on the root bus: no hot-plug slot that can reset it
//   (pci_probe_reset_slot), and the root bus has no bridge above it
//   (pci_probe_reset_bus -> pci_bus_reset: !bus->self -> ENOTTY), so ENODEV,
//   through its group and through its cdev alike (the check comes first);
// - the hot-plug edu behind the lane's PCIe root port: its slot or its bus can
//   be reset, and the walk finds every device on the port's secondary bus,
//   which is the edu alone. Asked through its group the entry carries its IOMMU
//   group; asked through its cdev, its device id in that iommufd
//   (vfio_pci_fill_devs: VFIO_PCI_HOT_RESET_FLAG_DEV_ID). The answer is held
//   against sysfs, not against a fixed list.
// The call goes through deviceCallOf, as code that also runs on the sim would.
// The hot-plug edu is left unbound again afterwards (as the guest leaves it for
// test/hil/device-removal); once that file has unplugged it, its part skips.
import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Device, Group, HotResetDevice } from '../../lib/backend.js';
import { Errno, Op, VfioError } from '../../lib/errors.js';
import { deviceCallOf } from '../../lib/seam/capabilities.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { inLaneVm, isEdu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';
import { DEVICE_CALLS } from '../../lib/device-calls.js';

const PCI = '/sys/bus/pci/devices';
const hotBdf = process.env['VFIO_TEST_HOTPLUG_DEVICE'] ?? '';
const hotGroup = Number(process.env['VFIO_TEST_HOTPLUG_GROUP']);

/** The devices on the same PCI bus as `bdf`, from sysfs (the bus a bus reset resets). */
function busmates(bdf: string): string[] {
  const parent = dirname(readlinkSync(`${PCI}/${bdf}`).replace(/^(\.\.\/)+/, '/sys/'));
  return readdirSync(parent).filter((n) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(n)).sort();
}

/** True when sysfs puts the device straight under a host bridge (pciDDDD:BB): a root bus. */
function onRootBus(bdf: string): boolean {
  return /^pci[0-9a-f]{4}:[0-9a-f]{2}$/.test(basename(dirname(readlinkSync(`${PCI}/${bdf}`))));
}

/** The device's cdev (vfioN), or null without CONFIG_VFIO_DEVICE_CDEV or /dev/iommu. */
function cdevOf(bdf: string): string | null {
  const dir = `${PCI}/${bdf}/vfio-dev`;
  if (!existsSync('/dev/iommu') || !existsSync(dir)) return null;
  return readdirSync(dir).find((n) => /^vfio\d+$/.test(n)) ?? null;
}

/** The answer lists the devices on `bdf`'s bus (sysfs), `bdf` itself with `ids`. */
function expectItself(answer: HotResetDevice[], bdf: string, ids: { groupId: number | null; devId: number | null }): void {
  const [seg, bus, slotFn] = bdf.split(':') as [string, string, string];
  const [slot, fn] = slotFn.split('.') as [string, string];
  expect(answer.map((d) => d.address).sort(), 'the devices the reset reaches: those on its bus (sysfs)').toEqual(busmates(bdf));
  expect(answer.find((d) => d.address === bdf)).toEqual({
    segment: Number.parseInt(seg, 16), bus: Number.parseInt(bus, 16), slot: Number.parseInt(slot, 16),
    function: Number(fn), address: bdf, ...ids,
  });
}

function expectNoDevice(device: Device): void {
  let caught: unknown;
  try {
    deviceCallOf(device, 'hotResetInfo')();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(VfioError);
  const e = caught as VfioError;
  expect([e.code, e.op]).toEqual(['ENODEV', DEVICE_CALLS.hotResetInfo.op]);
  expect(e.errno).toBe(Errno.ENODEV);
  expect(e.hint).toMatch(/root bus/);
}

/** A group's device through a type1 container; close() closes the device, the group and the container. */
function openThroughGroup(backend: Backend, group: number, bdf: string): { device: Device; close(): void } {
  const container = backend.openContainer();
  let grp: Group | undefined;
  try {
    grp = backend.openGroup(group);
    grp.setContainer(container);
    container.setIommu('type1v2');
    const device = grp.openDevice(bdf);
    return { device, close: () => { device.close(); grp!.close(); container.close(); } };
  } catch (e) {
    grp?.close();
    container.close();
    throw e;
  }
}

const dev = onVfioHost ? testDevice() : null;
const rootWhy = dev === null ? SKIP_REASON : !isEdu(dev) ? `${dev.address} is not an edu` : null;

describe.skipIf(rootWhy !== null)(`hot reset info of the edu on the root bus${rootWhy ? ` (skipped: ${rootWhy})` : ''}`, () => {
  it('through its group: ENODEV where no slot or bus reset reaches it, else the devices on its bus', async () => {
    const backend = await nativeBackend();
    const { device, close } = openThroughGroup(backend, dev!.group, dev!.address);
    try {
      if (onRootBus(dev!.address)) expectNoDevice(device);
      else expectItself(deviceCallOf(device, 'hotResetInfo')(), dev!.address, { groupId: dev!.group, devId: null });
    } finally {
      close();
    }
  });

  const cdev = dev !== null ? eduCdev() : null;
  const cdevWhy = typeof cdev !== 'string' ? cdev?.none ?? SKIP_REASON
    : !existsSync('/dev/iommu') ? 'no /dev/iommu (the lane\'s built kernel has it)'
    : !onRootBus(dev!.address) ? `${dev!.address} is not on a root bus` : null;
  it.skipIf(cdevWhy !== null)(`through its cdev: the same ENODEV, decided before the cdev's devid part${cdevWhy ? ` (skipped: ${cdevWhy})` : ''}`, async () => {
    const backend = await nativeBackend();
    const fd = backend.openIommufd!();
    try {
      expectNoDevice(fd.bindDevice(cdev as string));
    } finally {
      fd.close();
    }
  });
});

const hotWhy = !inLaneVm ? 'the lane VM only (it binds the hot-plug edu to vfio-pci)'
  : !hotBdf ? 'the lane set no hot-plug device (VFIO_TEST_HOTPLUG_DEVICE)'
  : !existsSync(`${PCI}/${hotBdf}`) ? `${hotBdf} is gone: test/hil/device-removal unplugged it earlier in this boot`
  : null;

describe.skipIf(hotWhy !== null)(`hot reset info of the hot-plug edu behind a root port${hotWhy ? ` (skipped: ${hotWhy})` : ''}`, () => {
  const dir = `${PCI}/${hotBdf}`;
  const driver = () => (existsSync(`${dir}/driver`) ? basename(readlinkSync(`${dir}/driver`)) : null);
  const wasBound = driver();

  afterAll(() => {
    // As the guest left it: no driver, no override.
    if (wasBound === null && driver() === 'vfio-pci') writeFileSync(`${dir}/driver/unbind`, hotBdf);
    writeFileSync(`${dir}/driver_override`, '\n');
  });

  function bind(): void {
    if (driver() !== 'vfio-pci') {
      writeFileSync(`${dir}/driver_override`, 'vfio-pci');
      if (driver()) writeFileSync(`${dir}/driver/unbind`, hotBdf);
      writeFileSync('/sys/bus/pci/drivers_probe', hotBdf);
    }
    expect(driver()).toBe('vfio-pci');
    expect(Number(basename(readlinkSync(`${dir}/iommu_group`)))).toBe(hotGroup);
  }

  it('through its group: the edu itself, with its IOMMU group', async () => {
    bind();
    expect(onRootBus(hotBdf)).toBe(false);
    const backend = await nativeBackend();
    const { device, close } = openThroughGroup(backend, hotGroup, hotBdf);
    try {
      expectItself(deviceCallOf(device, 'hotResetInfo')(), hotBdf, { groupId: hotGroup, devId: null });
      // Asked twice, the same answer (two ioctls each: the count, then the entries).
      expect(device.hotResetInfo!()).toEqual(device.hotResetInfo!());
    } finally {
      close();
    }
    expect(() => device.hotResetInfo!()).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('through its cdev: the edu itself, with its device id in the asking iommufd', async ({ skip }) => {
    bind();
    const cdev = cdevOf(hotBdf);
    if (cdev === null) skip(`no cdev for ${hotBdf} or no /dev/iommu (the lane's built kernel has both)`);
    const backend = await nativeBackend();
    const fd = backend.openIommufd!();
    try {
      const device = fd.bindDevice(cdev!);
      expect(device.devId).toBeGreaterThan(0);
      expectItself(deviceCallOf(device, 'hotResetInfo')(), hotBdf, { groupId: null, devId: device.devId });
    } finally {
      fd.close();
    }
  });
});
