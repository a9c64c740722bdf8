// The edu DMA round trip through iommufd instead of a type1 container: the
// device's cdev (/dev/vfio/devices/vfioN) is bound to /dev/iommu and attached
// to an IOAS; IOMMU_IOAS_MAP puts buffers where the device can reach them,
// IOMMU_IOAS_UNMAP or a detach takes them away again. Needs the lane's built
// kernel (IOMMUFD + VFIO_DEVICE_CDEV); Debian's 6.12.107 has neither.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CdevDevice, DmaBuffer, Ioas, Iommufd } from '../../lib/backend.js';
import { PROT_READ, PROT_RW, SZ_4K } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, nativeIommufdOf } from '../../lib/native/index.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { Edu, EDU_DMA_LIMIT } from './edu.js';
import { expectBlockedWrite } from './blocked-write.js';
import { isEdu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const cdev = onVfioHost && isEdu(testDevice()) ? eduCdev() : { none: SKIP_REASON };
const why = typeof cdev !== 'string' ? cdev.none
  : !existsSync('/dev/iommu') ? 'no /dev/iommu (kernel without IOMMUFD: use the lane\'s built kernel)'
  : null;

const IOVA_SRC = 0x10_0000n;
const IOVA_DST = 0x20_0000n;
const IOVA_RO = 0x30_0000n;
const COUNT = 2048;
const POISON = 0xa5;

function pattern(buf: Uint8Array, seed: number): void {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + seed) & 0xff;
}

describe.skipIf(why !== null)(`edu DMA through iommufd${why ? ` (skipped: ${why})` : ''}`, () => {
  let fd: Iommufd;
  let ioas: Ioas;
  let dev: CdevDevice;
  let edu: Edu;
  let src: DmaBuffer;
  let dst: DmaBuffer;

  beforeAll(async () => {
    const backend = await nativeBackend();
    fd = backend.openIommufd!();
    ioas = fd.allocIoas();
    dev = fd.bindDevice(cdev as string);
    dev.attach(ioas);
    edu = new Edu(dev);
    src = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    dst = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
  });

  afterAll(() => {
    fd?.close(); // devices, then the IOAS (unmap all), then /dev/iommu
    src?.close();
    dst?.close();
  });

  it('reaches edu\'s registers through the bound cdev, and the IOAS shows the domain\'s alignment and reserved regions', () => {
    expect(edu.id() & 0xff).toBe(0xed);
    expect(edu.liveness(0x1234_5678)).toBe(~0x1234_5678 >>> 0);
    const r = ioas.iovaRanges();
    expect(r.alignment).toBe(SZ_4K);
    for (const iova of [IOVA_SRC, IOVA_DST, IOVA_RO]) {
      expect(r.ranges.some((x) => x.start <= iova && iova + SZ_4K - 1n <= x.last)).toBe(true);
    }
    expect(r.ranges.some((x) => x.start <= 0xfee0_0000n && x.last >= 0xfee0_0000n)).toBe(false);
  });

  it('copies RAM -> device -> RAM through two IOAS mappings, then an unmap blocks the device', async () => {
    pattern(src.bytes, 3);
    dst.bytes.fill(0);
    ioas.map({ vaddr: src.vaddr, iova: IOVA_SRC, size: SZ_4K, prot: PROT_READ });
    ioas.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
    await edu.fromRam(IOVA_SRC, 0, COUNT);
    await edu.toRam(0, IOVA_DST, COUNT);
    expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
    expect(dst.bytes.subarray(COUNT).every((b) => b === 0)).toBe(true);

    expect(ioas.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
    dst.bytes.fill(POISON);
    const fault = await expectBlockedWrite(() => edu.toRam(0, IOVA_DST, COUNT), IOVA_DST);
    expect(dst.bytes.every((b) => b === POISON)).toBe(true);
    fault();
  });

  it('blocks writes through a read-only mapping', async () => {
    ioas.map({ vaddr: dst.vaddr, iova: IOVA_RO, size: SZ_4K, prot: PROT_READ });
    dst.bytes.fill(POISON);
    const fault = await expectBlockedWrite(() => edu.toRam(0, IOVA_RO, COUNT), IOVA_RO);
    expect(dst.bytes.every((b) => b === POISON)).toBe(true);
    fault();
    expect(ioas.unmap(IOVA_RO, SZ_4K)).toBe(SZ_4K);
  });

  it('DMA works at a kernel-chosen IOVA confined by ALLOW_IOVAS to edu\'s 28-bit reach', async () => {
    ioas.allowIovas([{ start: 0x100_0000n, last: EDU_DMA_LIMIT - 1n }]);
    const at = ioas.mapAuto(dst.vaddr, SZ_4K, PROT_RW);
    expect(at >= 0x100_0000n && at + SZ_4K <= EDU_DMA_LIMIT).toBe(true);
    dst.bytes.fill(0);
    await edu.toRam(0, at, COUNT);
    expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
    expect(ioas.unmap(at, SZ_4K)).toBe(SZ_4K);
    ioas.allowIovas([]);
  });

  it('DMA works through an IOMMU_IOAS_COPY from an IOAS no device is attached to', async () => {
    const staging = fd.allocIoas();
    try {
      staging.map({ vaddr: dst.vaddr, iova: 0x5000n, size: SZ_4K });
      expect(ioas.copy(staging, 0x5000n, SZ_4K, IOVA_DST)).toBe(IOVA_DST);
      staging.close();
      dst.bytes.fill(0);
      await edu.toRam(0, IOVA_DST, COUNT);
      expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
    } finally {
      staging.close();
    }
    expect(ioas.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
  });

  it('detaching blocks DMA even where a mapping stays; attaching again restores it', async () => {
    ioas.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
    dev.detach();
    dst.bytes.fill(POISON);
    const fault = await expectBlockedWrite(() => edu.toRam(0, IOVA_DST, COUNT), IOVA_DST);
    expect(dst.bytes.every((b) => b === POISON)).toBe(true);
    fault();
    dev.attach(ioas);
    await edu.toRam(0, IOVA_DST, COUNT);
    expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
    expect(ioas.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
  });

  it('dirty tracking: IOMMU_HWPT_ALLOC with DIRTY_TRACKING succeeds exactly when the IOMMU reports the capability', () => {
    const n = nativeIommufdOf(fd)!;
    const caps = n.hwInfo(dev.devId).capabilities;
    const capable = (caps & IOMMU_HW_CAP_DIRTY_TRACKING) !== 0n;
    let err: unknown = null;
    let hwpt = 0;
    try {
      hwpt = n.hwptAlloc(dev.devId, ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    } catch (e) {
      err = e;
    }
    console.log(`IOMMU_GET_HW_INFO capabilities 0x${caps.toString(16)}: dirty tracking ${capable ? 'supported' : 'not supported (emulated VT-d without SSADS)'}`);
    if (capable) {
      expect(err).toBeNull();
      n.hwptSetDirty(hwpt, true);
      n.hwptSetDirty(hwpt, false);
      n.destroy(hwpt);
    } else {
      expect(err).toBeInstanceOf(VfioError);
      expect((err as VfioError).errno).toBe(Errno.EOPNOTSUPP);
    }
  });
});
