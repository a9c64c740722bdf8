// MSI-X, which edu lacks, on the lane's second device: a virtio-rng (QEMU
// virtio-rng-pci, 1af4:1005 transitional or 1af4:1044 modern) that run.sh adds
// (virtio-pci holds it, and virtio_rng on debian). This file binds it to vfio-pci (in the VM
// only), enables every MSI-X vector with its own eventfd, and fires each one
// through the kernel's loopback (SET_IRQS ACTION_TRIGGER, DATA_NONE): exactly
// that vector must deliver, and the others nothing.
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Device, Group } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { IrqIndex } from '../../lib/irq.js';
import { newEventfds, eventfdSet } from './eventfds.js';
import { inLaneVm } from './lane.js';
import { nativeBackend } from './native-backend.js';

const PCI = '/sys/bus/pci/devices';
const RNG_IDS = new Set(['0x1005', '0x1044']);

function findRng(): string | null {
  if (!inLaneVm || !existsSync(PCI)) return null;
  for (const bdf of readdirSync(PCI)) {
    const id = (f: string) => readFileSync(`${PCI}/${bdf}/${f}`, 'utf8').trim();
    if (id('vendor') === '0x1af4' && RNG_IDS.has(id('device'))) return bdf;
  }
  return null;
}

const driverOf = (bdf: string): string | null =>
  existsSync(`${PCI}/${bdf}/driver`) ? basename(readlinkSync(`${PCI}/${bdf}/driver`)) : null;

/** Hands the device to vfio-pci (unbinding virtio-pci, which the initramfs loads for 9p) and returns its group. */
function bindVfio(bdf: string): number {
  const dev = `${PCI}/${bdf}`;
  const driver = () => driverOf(bdf);
  if (driver() !== 'vfio-pci') {
    writeFileSync(`${dev}/driver_override`, 'vfio-pci');
    if (driver()) writeFileSync(`${dev}/driver/unbind`, bdf);
    writeFileSync('/sys/bus/pci/drivers_probe', bdf);
  }
  expect(driver()).toBe('vfio-pci');
  return Number(basename(readlinkSync(`${dev}/iommu_group`)));
}

const rng = findRng();
const why = !inLaneVm ? 'the lane VM only (it rebinds a device)' : rng === null ? 'no virtio-rng-pci on the bus (scripts/hil/run.sh adds one)' : null;

describe.skipIf(why !== null)(`MSI-X loopback on a virtio device${why ? ` (skipped: ${why})` : ''}`, () => {
  let container: Container;
  let group: Group;
  let device: Device;

  beforeAll(async () => {
    const id = bindVfio(rng!);
    const backend = await nativeBackend();
    container = backend.openContainer();
    group = backend.openGroup(id);
    group.setContainer(container);
    container.setIommu('type1v2');
    device = group.openDevice(rng!);
  });

  // Gives the device back to whatever driver wants it (virtio-pci), so the
  // files after this one see the lane as it was: edu the only vfio-pci device.
  afterAll(() => {
    device?.close();
    group?.close();
    container?.close();
    if (driverOf(rng!) === 'vfio-pci') writeFileSync(`${PCI}/${rng}/driver/unbind`, rng!);
    writeFileSync(`${PCI}/${rng}/driver_override`, '\n');
    writeFileSync('/sys/bus/pci/drivers_probe', rng!);
  });

  it('enables every MSI-X vector with its own eventfd, and each loopback trigger reaches only its vector', async () => {
    const info = device.irqInfo(IrqIndex.msix);
    expect(info.count).toBeGreaterThanOrEqual(2);
    const base = eventfdSet();
    const set = device.irqs('msix');
    expect(set.vectors).toHaveLength(info.count);
    expect(newEventfds(base)).toHaveLength(info.count);
    const seen = set.vectors.map(() => 0n);
    for (const v of set.vectors) v.addEventListener('interrupt', (e) => { seen[v.vector]! += (e as unknown as { count: bigint }).count; });
    for (const v of set.vectors) {
      const before = [...seen];
      const got = v.wait({ timeoutMs: 5_000 });
      v.trigger();
      expect(await got).toBe(1n);
      // Others had the same loop turns to deliver, and delivered nothing.
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.map((n, i) => n - before[i]!)).toEqual(set.vectors.map((x) => (x === v ? 1n : 0n)));
    }
    // One vector off (fd -1 through SET_IRQS): its eventfd goes, the rest stay and still work.
    set.vectors[0]!.disable();
    expect(newEventfds(base)).toHaveLength(info.count - 1);
    const last = set.vectors[info.count - 1]!;
    const got = last.wait({ timeoutMs: 5_000 });
    last.trigger();
    expect(await got).toBe(1n);
    set.disable();
    expect(newEventfds(base)).toEqual([]);
    console.log(`[irq] MSI-X on ${rng}: ${info.count} vectors, each triggered alone, each delivered once to itself only`);
    // MSI-X and MSI and INTx exclude each other on this device too.
    const msix = device.irqs('msix', { count: 1 });
    expect(() => device.irqs('intx')).toThrow(/exclude/);
    msix.disable();
  });

  it('the error and request indexes: enabled where the device reports them, refused (EINVAL) where not', async () => {
    for (const kind of ['err', 'req'] as const) {
      let count = 0;
      try {
        count = device.irqInfo(IrqIndex[kind]).count;
      } catch (err) {
        expect((err as VfioError).errno).toBe(Errno.EINVAL); // ERR off PCIe
      }
      if (count === 0) {
        expect(() => device.irqs(kind)).toThrow(VfioError);
        continue;
      }
      const set = device.irqs(kind);
      const got = set.vectors[0]!.wait({ timeoutMs: 5_000 });
      set.vectors[0]!.trigger();
      expect(await got).toBe(1n);
      set.disable();
      console.log(`[irq] ${kind} index on ${rng}: ${count} vector, loopback delivered`);
    }
  });
});
