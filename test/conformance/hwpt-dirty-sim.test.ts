// The HWPT dirty-tracking conformance suite on the simulated /dev/iommu (npm test): the IOMMUFD_TEST mock domain on
// every IOMMU profile, a cdev on each profile as the kernel answers it (no profile tracks: EOPNOTSUPP) and on a host
// whose IOMMU does (SimOptions.dirtyTracking), where the simulated edu's DMA writes dirty the PTEs.
import { describe, expect, it } from 'vitest';
import { PROT_RW, SZ_4K } from '../../lib/backend.js';
import { hwptDirtyOf } from '../../lib/seam/capabilities.js';
import { SimBackend, SimCdevDevice, SimIommufd, SIM_IOMMU_NAMES, type SimOptions } from '../../lib/sim/index.js';
import { simIommufdCalls } from '../../lib/sim/hwpt-dirty.js';
import type { Iommufd } from '../../lib/backend.js';
import { bitsOf, defineHwptDirtyConformance } from './hwpt-dirty-suite.js';

function simCalls(fd: Iommufd) {
  if (!(fd instanceof SimIommufd)) throw new TypeError('not a simulated iommufd');
  return simIommufdCalls(fd);
}

for (const iommu of SIM_IOMMU_NAMES) {
  defineHwptDirtyConformance({
    label: `sim-hwpt-dirty ${iommu}`,
    open: () => new SimBackend({ iommu }),
    calls: simCalls,
    mockSkip: null,
    cdev: { name: 'vfio0', dirtyTracking: false },
  });
}
defineHwptDirtyConformance({
  label: 'sim-hwpt-dirty vtd + dirtyTracking',
  open: () => new SimBackend({ iommu: 'vtd', dirtyTracking: true }),
  calls: simCalls,
  mockSkip: null,
  cdev: { name: 'vfio0', dirtyTracking: true },
});

describe('sim: a cdev on an IOMMU that tracks dirty pages (SimOptions.dirtyTracking)', () => {
  function edu(opts: SimOptions = { dirtyTracking: true }) {
    const sim = new SimBackend(opts);
    const fd = sim.openIommufd();
    const ioas = fd.allocIoas();
    const dev = fd.bindDevice('vfio0');
    if (!(dev instanceof SimCdevDevice)) throw new TypeError('not a simulated cdev');
    const dirty = hwptDirtyOf(fd)!;
    const reg = (offset: number, value: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, value, true);
      dev.write(0, BigInt(offset), b);
    };
    /** edu copies `length` bytes from its buffer (0x40000) to `iova` (cmd 3: run, device -> memory), or reads them. */
    const dma = (iova: bigint, length: bigint, toMemory = true) => {
      reg(0x80, toMemory ? 0x40000n : iova);
      reg(0x88, toMemory ? iova : 0x40000n);
      reg(0x90, length);
      reg(0x98, toMemory ? 3n : 1n);
    };
    return { sim, fd, ioas, dev, dirty, dma };
  }

  it('the device\'s DMA writes dirty the 4 KiB pages they touch, only while tracking is on; its reads dirty nothing', () => {
    const { sim, fd, ioas, dev, dirty, dma } = edu();
    const buf = sim.allocBuffer({ size: 16n * SZ_4K, backing: '4k', prefault: true });
    try {
      const hwpt = dirty.alloc(dev, ioas);
      dev.attach(hwpt);
      ioas.map({ vaddr: buf.vaddr, iova: 0x10_0000n, size: buf.size, prot: PROT_RW });
      dma(0x10_0000n + 2n * SZ_4K, 64n); // before tracking: not recorded
      dirty.setTracking(hwpt, true);
      dma(0x10_0000n + 5n * SZ_4K + 0xff0n, 32n); // straddles pages 5 and 6
      dma(0x10_0000n + 9n * SZ_4K, 64n, false); // a read
      expect(dev.dmaFaults).toBe(0);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, buf.size, SZ_4K, { noClear: true }).bits)).toEqual([5, 6]);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, buf.size, SZ_4K).bits)).toEqual([5, 6]);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, buf.size, SZ_4K).bits)).toEqual([]);
      dirty.setTracking(hwpt, false);
      dma(0x10_0000n + 7n * SZ_4K, 64n);
      dirty.setTracking(hwpt, true);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, buf.size, SZ_4K).bits)).toEqual([]);
      // Back on the IOAS's automatic domain (no dirty ops), its writes reach nothing the HWPT records.
      dev.attach(ioas);
      dma(0x10_0000n + 3n * SZ_4K, 64n);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, buf.size, SZ_4K).bits)).toEqual([]);
      dirty.destroy(hwpt);
    } finally {
      fd.close();
      buf.close();
    }
  });

  it('a cdev HWPT joins the IOAS on allocation: the IOMMU\'s alignment and reserved ranges, before any attach', () => {
    const { fd, ioas, dev, dirty } = edu();
    try {
      dirty.alloc(dev, ioas);
      const r = ioas.iovaRanges();
      expect(r.alignment).toBe(SZ_4K);
      expect(r.ranges.some((x) => x.start <= 0xfee0_0000n && x.last >= 0xfee0_0000n)).toBe(false);
    } finally {
      fd.close();
    }
  });

  it('a cdev cannot attach to a mock domain, and a mock device not to a cdev\'s HWPT (another driver\'s domain: EINVAL)', () => {
    const { fd, ioas, dev, dirty } = edu();
    try {
      const calls = simIommufdCalls(fd);
      const mock = calls.mockDomain(ioas.id, 0);
      expect(() => dev.attach(mock.hwptId)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      const hwpt = dirty.alloc(dev, ioas);
      expect(() => calls.mockDomainReplace(mock.stdevId, hwpt)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    } finally {
      fd.close();
    }
  });
});
