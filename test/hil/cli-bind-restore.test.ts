// `vfio bind BDF --yes` takes a device from its own driver and `vfio unbind
// BDF --yes` gives it back, on the lane's virtio-rng-pci: virtio-pci holds it
// (and virtio_rng its virtio device, on debian, where the initramfs loads the
// module; the built kernel has no virtio_rng), so "its driver works again" is
// checked as the kernel shows it: the virtio device is back under the PCI
// device, and on debian the hwrng is virtio again and /dev/hwrng reads. In the
// VM only (it rebinds a device); it starts from and leaves the device with
// virtio-pci, whatever ran before it (msix-loopback rebinds the same device).
import { existsSync, openSync, readFileSync, readSync, closeSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PciRegion } from '../../lib/backend.js';
import { IrqIndex } from '../../lib/irq.js';
import { bindRecord, bindRecordPath } from '../../lib/sysfs.js';
import { runCli } from '../unit/cli.helpers.js';
import { inLaneVm } from './lane.js';
import { nativeBackend } from './native-backend.js';

const PCI = '/sys/bus/pci/devices';
const RNG_IDS = new Set(['0x1005', '0x1044']);
const HWRNG = '/sys/class/misc/hw_random';

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

/** The virtio device virtio-pci registers under the PCI device (virtioN), with its virtio device ID (4 = entropy). */
function virtioChild(bdf: string): { name: string; id: string; driver: string | null } | null {
  const name = readdirSync(`${PCI}/${bdf}`).find((n) => /^virtio\d+$/.test(n));
  if (!name) return null;
  const dir = `${PCI}/${bdf}/${name}`;
  return {
    name, id: readFileSync(`${dir}/device`, 'utf8').trim(),
    driver: existsSync(`${dir}/driver`) ? basename(readlinkSync(`${dir}/driver`)) : null,
  };
}

const hwrng = (f: string): string => (existsSync(`${HWRNG}/${f}`) ? readFileSync(`${HWRNG}/${f}`, 'utf8').trim() : '');

function readHwrng(n: number): Buffer {
  const fd = openSync('/dev/hwrng', 'r');
  try {
    const b = Buffer.alloc(n);
    let got = 0;
    while (got < n) got += readSync(fd, b, got, n - got, null);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Back to virtio-pci the way the kernel would pick it: whatever state an earlier file left. */
function handBack(bdf: string): void {
  if (driverOf(bdf) === 'vfio-pci') writeFileSync(`${PCI}/${bdf}/driver/unbind`, bdf);
  writeFileSync(`${PCI}/${bdf}/driver_override`, '\n');
  if (driverOf(bdf) === null) writeFileSync('/sys/bus/pci/drivers_probe', bdf);
}

const rng = findRng();
const why = !inLaneVm ? 'the lane VM only (it rebinds a device)' : rng === null ? 'no virtio-rng-pci on the bus (scripts/hil/run.sh adds one)' : null;
const kernel = process.env.VFIO_HIL_KERNEL ?? 'debian';

describe.skipIf(why !== null)(`vfio bind / unbind give a virtio device back to its driver${why ? ` (skipped: ${why})` : ''}`, () => {
  beforeAll(() => {
    handBack(rng!);
  });

  afterAll(() => {
    handBack(rng!);
  });

  it('takes the virtio-rng from virtio-pci, lets it be used through VFIO, and gives it back working', async () => {
    const bdf = rng!;
    const record = bindRecordPath(bdf);
    // Before: virtio-pci holds it and its virtio device is the entropy device.
    expect(driverOf(bdf)).toBe('virtio-pci');
    const before = virtioChild(bdf);
    expect(before).toMatchObject({ id: '0x0004' });
    const withRngDriver = before!.driver === 'virtio_rng';
    if (kernel === 'debian') expect(withRngDriver).toBe(true); // the initramfs loads virtio_rng there
    if (withRngDriver) expect(hwrng('rng_current')).toMatch(/^virtio_rng\.\d+$/);
    expect(existsSync(record)).toBe(false);

    // Without --yes: nothing happens.
    const dry = await runCli(['bind', bdf]);
    expect(dry.code).toBe(2);
    expect(dry.stderr).toMatch(/now: virtio-pci/);
    expect(driverOf(bdf)).toBe('virtio-pci');
    expect(existsSync(record)).toBe(false);

    const bound = await runCli(['bind', bdf, '--yes', '--json']);
    expect(bound.code, bound.stderr).toBe(0);
    expect(JSON.parse(bound.stdout)).toMatchObject({ previousDriver: 'virtio-pci', driver: 'vfio-pci', record });
    expect(driverOf(bdf)).toBe('vfio-pci');
    expect(bindRecord(bdf)).toMatchObject({ previousDriver: 'virtio-pci', vendor: 0x1af4 });
    expect(virtioChild(bdf)).toBeNull();
    if (withRngDriver) expect(hwrng('rng_available')).not.toMatch(/virtio_rng/);

    // Used through VFIO: its config space and its interrupts.
    const group = Number(basename(readlinkSync(`${PCI}/${bdf}/iommu_group`)));
    {
      const backend = await nativeBackend();
      using container = backend.openContainer();
      using grp = backend.openGroup(group);
      grp.setContainer(container);
      container.setIommu('type1v2');
      using dev = grp.openDevice(bdf);
      const cfg = dev.read(PciRegion.CONFIG, 0n, 4);
      expect(cfg[0]! | (cfg[1]! << 8)).toBe(0x1af4);
      expect(dev.irqInfo(IrqIndex.msix).count).toBeGreaterThanOrEqual(1);
    }

    // unbind without --yes: nothing happens, and it says where the device would go.
    const dryBack = await runCli(['unbind', bdf]);
    expect(dryBack.code).toBe(2);
    expect(dryBack.stderr).toMatch(/would go back to virtio-pci/);
    expect(driverOf(bdf)).toBe('vfio-pci');

    const back = await runCli(['unbind', bdf, '--yes']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(new RegExp(`${bdf}: vfio-pci -> virtio-pci`));
    expect(back.stdout).toMatch(/drivers\/virtio-pci\/bind <- /);
    expect(driverOf(bdf)).toBe('virtio-pci');
    expect(readFileSync(`${PCI}/${bdf}/driver_override`, 'utf8').trim()).toBe('(null)');
    expect(existsSync(record)).toBe(false);

    // Its driver works again: virtio-pci found the entropy device, and where virtio_rng is there the hwrng is virtio's and reads.
    const after = virtioChild(bdf);
    expect(after).toMatchObject({ id: '0x0004' });
    if (withRngDriver) {
      expect(after!.driver).toBe('virtio_rng');
      expect(hwrng('rng_current')).toMatch(/^virtio_rng\.\d+$/);
      const bytes = readHwrng(32);
      expect(bytes.some((b) => b !== 0)).toBe(true);
    }
    console.log(`[bind] ${bdf}: virtio-pci -> vfio-pci (record ${record}) -> virtio-pci; virtio device ${after!.name} `
      + `${withRngDriver ? `bound to virtio_rng, hwrng ${hwrng('rng_current')}, /dev/hwrng read 32 bytes` : '(no virtio_rng in this kernel)'}`);
  });
});
