// A device removed while in use: the lane's second edu sits in a hot-plug
// PCIe root port; this file binds it to vfio-pci, opens it, maps a buffer and
// BAR0, arms its request interrupt (watchRequests) and asks the host to
// unplug it (QMP device_del through scripts/hil/unplug-relay.mjs). The guest
// kernel's vfio_unregister_group_dev() then asks user space for the device
// (vfio_pci_core_request(): the REQ eventfd), again every 10 s while it stays
// open. The test keeps it through the first request (preventDefault), lets
// the watch release it on the second, and proves: the unplug completes (gone
// from /sys/bus/pci/devices, QEMU reports DEVICE_DELETED), later calls get
// ENODEV saying why, the container's mapping outlived the device, and once
// the group and container close no vfio fd or eventfd is left and VmLck +
// VmPin are back where they started.
//
// A device can be unplugged once per boot, so this is one test, in one file;
// no other file uses the hot-plug edu (the guest leaves it unbound).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PROT_RW, type Container, type Device, type DmaBuffer, type Group } from '../../lib/backend.js';
import { DeviceRequestEvent, requestSupported, watchRequests } from '../../lib/device-request.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { openFds, newFds } from '../../lib/testing/fds.js';
import { Edu } from './edu.js';
import { eventfdSet, newEventfds } from './eventfds.js';
import { KernelLog } from './kmsg.js';
import { inLaneVm } from './lane.js';
import { nativeBackend } from './native-backend.js';

const PCI = '/sys/bus/pci/devices';
const bdf = process.env['VFIO_TEST_HOTPLUG_DEVICE'] ?? '';
const group = Number(process.env['VFIO_TEST_HOTPLUG_GROUP']);
const qemuId = process.env['VFIO_HIL_HOTPLUG_ID'] ?? '';
const unplugDir = process.env['VFIO_HIL_UNPLUG_DIR'] ?? '';
const IOVA = 0x20_0000n;
const SIZE = 0x1_0000n;

/** The hot-plug slot holding the device (pciehp or acpiphp registered it), or null. */
function hotplugSlot(): string | null {
  const slots = '/sys/bus/pci/slots';
  if (!existsSync(slots)) return null;
  const busDev = bdf.replace(/\.\d$/, '');
  return readdirSync(slots).find((s) => {
    try {
      return readFileSync(`${slots}/${s}/address`, 'utf8').trim() === busDev;
    } catch {
      return false;
    }
  }) ?? null;
}

const skip = !inLaneVm ? 'runs in the HIL lane only (a device QEMU can unplug: npm run test:hil)'
  : !bdf || !unplugDir || !qemuId ? 'the lane set no hot-plug device (VFIO_TEST_HOTPLUG_DEVICE, VFIO_HIL_UNPLUG_DIR)'
  : !hotplugSlot() && process.env['VFIO_HIL_KERNEL'] !== 'debian'
    ? `this kernel has no PCI hot-plug driver for ${bdf}'s slot (no /sys/bus/pci/slots entry: CONFIG_HOTPLUG_PCI_PCIE / _ACPI)`
    : null;

/** VmLck + VmPin of this process, in kB: what type1 charges for pinned pages. */
function pinnedKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return kb('VmLck') + kb('VmPin');
}

/** Descriptors that point at VFIO (group, container, device) or are eventfds. */
function vfioFds(list: string[]): string[] {
  return list.filter((f) => /vfio|eventfd/.test(f));
}

async function until<T>(what: string, ms: number, probe: () => T | null | undefined | false): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
  }
}

/** Hands the hot-plug edu to vfio-pci (the guest left it unbound). */
function bindToVfio(): void {
  const dev = `${PCI}/${bdf}`;
  writeFileSync(`${dev}/driver_override`, 'vfio-pci');
  if (existsSync(`${dev}/driver`)) writeFileSync(`${dev}/driver/unbind`, bdf);
  writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  expect(existsSync(`/dev/vfio/${group}`), `/dev/vfio/${group} after binding ${bdf}`).toBe(true);
}

describe.skipIf(skip !== null)(`device removal while in use (${skip ?? `${bdf}, group ${group}, QEMU id ${qemuId}`})`, () => {
  let container: Container | undefined;
  let grp: Group | undefined;
  let device: Device | undefined;
  let buffer: DmaBuffer | undefined;
  let kmsg: KernelLog | undefined;
  afterAll(() => {
    kmsg?.close();
    device?.close();
    grp?.close();
    container?.close();
    buffer?.close();
  });

  it('a request event on unplug, again 10 s later if kept; released, the unplug completes and nothing is left', async () => {
    // Said at once, not only in vitest's summary: a loaded lane can reach its
    // timeout before the summary is printed, and this file runs once per boot.
    try {
      await removal();
    } catch (err) {
      console.error(`device-removal failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      throw err;
    }
  });

  async function removal(): Promise<void> {
    expect(hotplugSlot(), `a hot-plug slot for ${bdf} in /sys/bus/pci/slots`).not.toBeNull();
    bindToVfio();
    const fdsBefore = openFds()!;
    const eventfdsBefore = eventfdSet();
    const pinnedBefore = pinnedKiB();
    kmsg = new KernelLog();

    const backend = await nativeBackend();
    container = backend.openContainer();
    grp = backend.openGroup(group);
    grp.setContainer(container);
    container.setIommu('type1v2');
    device = grp.openDevice(bdf);
    buffer = backend.allocBuffer({ size: SIZE, backing: '4k', prefault: true });
    container.map({ vaddr: buffer.vaddr, iova: IOVA, size: SIZE, prot: PROT_RW });
    expect(pinnedKiB() - pinnedBefore).toBe(Number(SIZE / 1024n));

    // In use: BAR0 mapped, a DMA through the IOMMU, an MSI vector enabled.
    const edu = new Edu(device);
    expect(edu.id() & 0xff).toBe(0xed);
    buffer.bytes.set([1, 2, 3, 4]);
    await edu.fromRam(IOVA, 0, 4);
    await edu.toRam(0, IOVA + 0x100n, 4);
    expect([...buffer.bytes.subarray(0x100, 0x104)]).toEqual([1, 2, 3, 4]);
    const bar = device.mmap(0);
    const msi = device.irqs('msi');
    // Settled now, looked at later (a rejection nobody handles yet is an unhandled one).
    const msiEnd = msi.vectors[0]!.wait().then(() => null, (err: unknown) => err);

    expect(requestSupported(device)).toBe(true);
    const watch = watchRequests(device, { release: true });
    const requests: Array<{ at: number; event: DeviceRequestEvent; openAfter?: boolean }> = [];
    watch.addEventListener('request', (e) => {
      const event = e as DeviceRequestEvent;
      // Kept through the first request: the kernel must ask again.
      if (requests.length === 0) event.preventDefault();
      requests.push({ at: Date.now(), event });
    });

    const t0 = Date.now();
    writeFileSync(`${unplugDir}/removal-${process.pid}.request`, `${qemuId}\n`);
    const reply = JSON.parse(await until('QEMU\'s answer to device_del', 30_000,
      () => existsSync(`${unplugDir}/removal-${process.pid}.reply`) && readFileSync(`${unplugDir}/removal-${process.pid}.reply`, 'utf8'))) as unknown;
    expect(reply).toEqual({ return: {} });

    // The first request: the device stays open (prevented).
    const first = await watch.next({ timeoutMs: 60_000 });
    expect(first).toBe(1n);
    expect(device.closed).toBe(false);
    expect(edu.id() & 0xff).toBe(0xed); // still usable while the kernel waits
    // The second: the watch releases the device (release: true, not prevented).
    await until('the second request (vfio_unregister_group_dev asks every 10 s)', 45_000, () => watch.released);
    const [r1, r2] = requests;
    console.log(`device_del -> request #1 after ${r1!.at - t0} ms, #2 ${r2!.at - r1!.at} ms later (released then)`);
    expect(requests).toHaveLength(2);
    expect(r1!.event).toMatchObject({ count: 1n, total: 1n });
    expect(r2!.event).toMatchObject({ count: 1n, total: 2n });
    expect(r2!.at - r1!.at).toBeGreaterThan(8_000); // HZ * 10 in the kernel, timers under TCG aside

    // Released: every vector, the BAR view and the device fd went.
    expect(device.closed).toBe(true);
    expect(watch.stopped).toBe(true);
    expect(bar.byteLength).toBe(0);
    expect(await msiEnd).toMatchObject({ errno: Errno.EBADF });

    // The unplug completes: gone from the guest's PCI bus, and QEMU says so.
    const goneMs = await until(`${bdf} gone from ${PCI}`, 60_000, () => !existsSync(`${PCI}/${bdf}`) && Date.now() - t0);
    const deleted = await until('QEMU\'s DEVICE_DELETED', 30_000,
      () => existsSync(`${unplugDir}/removal-${process.pid}.deleted`));
    expect(deleted).toBe(true);
    const log = kmsg.drain();
    console.log(`${bdf} gone from sysfs ${goneMs} ms after device_del; kernel log:\n  ${log.filter((l) => /vfio|pci|edu|request|0000:/i.test(l)).join('\n  ')}`);
    expect(log.some((l) => /Relaying device request to user \(#0\)/.test(l))).toBe(true);

    // Later calls: ENODEV, saying why.
    for (const call of [() => device!.info(), () => device!.read(0, 0n, 4), () => device!.irqs('msi'), () => device!.reset()]) {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(VfioError);
      expect(thrown).toMatchObject({ errno: Errno.ENODEV, args: { device: bdf } });
      expect((thrown as VfioError).hint).toMatch(/released because the kernel asked for it back/);
    }
    // Opening it again: the group has no such device any more.
    let reopen: unknown;
    try {
      grp.openDevice(bdf);
    } catch (err) {
      reopen = err;
    }
    expect(reopen).toBeInstanceOf(VfioError);
    console.log(`openDevice(${bdf}) after the unplug: ${(reopen as Error).message}`);

    // The device was its group's last, and the group the container's last:
    // vfio_device_remove_group() detached the group from the container
    // (vfio_group_detach_container()), which released the IOMMU and every
    // mapping with it. The pages are unpinned already; the container has no
    // IOMMU left to unmap from.
    expect(pinnedKiB()).toBe(pinnedBefore);
    let unmap: unknown;
    try {
      container.unmap(IOVA, SIZE);
    } catch (err) {
      unmap = err;
    }
    expect(unmap).toMatchObject({ errno: Errno.EINVAL });
    expect((unmap as VfioError).hint).toMatch(/no IOMMU any more/);
    grp.close();
    container.close();
    buffer.close();
    expect(vfioFds(newFds(fdsBefore, openFds()!))).toEqual([]);
    expect(newEventfds(eventfdsBefore)).toEqual([]);
    expect(pinnedKiB()).toBe(pinnedBefore);
  }
});
