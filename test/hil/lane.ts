// Where the HIL tests are and what they may touch. The lane (scripts/hil/run.sh)
// sets VFIO_HIL=1 plus the group and device it bound to vfio-pci; `--host` mode
// sets VFIO_TEST_GROUP/VFIO_TEST_DEVICE for a device on a real VFIO host.
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

/** True inside the QEMU guest of the lane (emulated intel-iommu or amd-iommu, edu device). */
export const inLaneVm = process.env.VFIO_HIL === '1';

/** The lane VM's emulated IOMMU (run.sh --iommu): 'intel' (VT-d, the default), 'amd' (AMD-Vi) or 'none'. */
export const laneIommu = (process.env.VFIO_HIL_IOMMU ?? 'intel') as 'intel' | 'amd' | 'none';

/**
 * What the lane's IOMMU logs when it blocks a device write at `iova`: intel-iommu's DMAR fault. null on AMD-Vi:
 * QEMU 7.2's amd-iommu blocks the write (the memory stays untouched) but the guest kernel logs no IO_PAGE_FAULT
 * event for it (seen in the lane, Debian 6.12.107: nothing at all in the kernel log), so there the memory is the proof.
 */
export function blockedWritePattern(iova: bigint): RegExp | null {
  if (laneIommu === 'amd') return null;
  return new RegExp(`DMAR: \\[DMA Write.*fault addr 0x${iova.toString(16)}\\b`);
}

/** True wherever these tests may use real /dev/vfio (lane VM or --host). */
export const onVfioHost = inLaneVm || process.env.VFIO_TEST_GROUP !== undefined;

/** The reason shown next to every skipped HIL suite. */
export const SKIP_REASON = 'needs real VFIO: run `npm run test:hil` (QEMU lane) or `npm run test:hil -- --host`';

export const EDU_VENDOR = 0x1234;
export const EDU_DEVICE = 0x11e8;

export interface TestDevice {
  /** PCI address, e.g. 0000:00:03.0. */
  address: string;
  group: number;
  vendor: number;
  device: number;
  driver: string | null;
}

function readHex(path: string): number {
  return Number.parseInt(readFileSync(path, 'utf8').trim(), 16);
}

/** The device the lane handed over, read back from sysfs (not from the env alone). */
export function testDevice(): TestDevice {
  const address = process.env.VFIO_TEST_DEVICE;
  const groupEnv = process.env.VFIO_TEST_GROUP;
  if (!address || !groupEnv) throw new Error('VFIO_TEST_DEVICE and VFIO_TEST_GROUP must both be set');
  const dir = `/sys/bus/pci/devices/${address}`;
  const driverLink = `${dir}/driver`;
  return {
    address,
    group: Number(groupEnv),
    vendor: readHex(`${dir}/vendor`),
    device: readHex(`${dir}/device`),
    driver: existsSync(driverLink) ? basename(readlinkSync(driverLink)) : null,
  };
}

export function isEdu(dev: TestDevice): boolean {
  return dev.vendor === EDU_VENDOR && dev.device === EDU_DEVICE;
}
