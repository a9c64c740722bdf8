// VfioError's code and hint come from the errno and the operation alone, so both
// backends give the same hint for the same failure.
import { describe, expect, it } from 'vitest';
import { Errno, VfioError, errnoCode } from '../../lib/errors.js';

describe('VfioError', () => {
  it('keeps errno, code, op and args, and names them in the message', () => {
    const e = new VfioError(Errno.EEXIST, 'VFIO_IOMMU_MAP_DMA', { iova: 0x10000n, size: 0x1000n });
    expect(e).toBeInstanceOf(Error);
    expect([e.errno, e.code, e.op]).toEqual([17, 'EEXIST', 'VFIO_IOMMU_MAP_DMA']);
    expect(e.message).toContain('iova=0x10000');
    expect(e.hint).toMatch(/overlaps/);
  });

  it('maps Linux errnos to their names, unknown ones to E<n>', () => {
    expect(errnoCode(Errno.ENOSPC)).toBe('ENOSPC');
    expect(errnoCode(Errno.EADDRINUSE)).toBe('EADDRINUSE');
    expect(errnoCode(4095)).toBe('E4095');
  });

  it.each([
    [Errno.ENOMEM, 'VFIO_IOMMU_MAP_DMA', /RLIMIT_MEMLOCK/],
    [Errno.ENOMEM, 'MAP_DMA plan', /RLIMIT_MEMLOCK/],
    [Errno.ENOSPC, 'VFIO_IOMMU_MAP_DMA', /dma_entry_limit/],
    [Errno.EINVAL, 'VFIO_IOMMU_MAP_DMA', /aligned/],
    // UNMAP_DMA contains "MAP_DMA": it must get the unmap hint, not the mapping one.
    [Errno.EINVAL, 'VFIO_IOMMU_UNMAP_DMA', /unmap must cover whole mappings/],
    [Errno.EPERM, 'VFIO_GROUP_SET_CONTAINER', /not viable/],
    [Errno.EINVAL, 'VFIO_GROUP_SET_CONTAINER', /already in a container/],
    [Errno.EACCES, 'VFIO_IOMMU_DIRTY_PAGES', /TYPE1v2/],
    [Errno.EBUSY, 'open /dev/vfio/7 (group)', /group in use/],
    [Errno.ENOENT, 'open /dev/vfio/vfio', /modprobe vfio-pci/],
  ])('errno %i in %s gets a hint matching %s', (errno, op, hint) => {
    expect(new VfioError(errno, op).hint).toMatch(hint);
  });

  it('an explicit hint wins over the table', () => {
    expect(new VfioError(Errno.EINVAL, 'VFIO_IOMMU_MAP_DMA', {}, 'IOVA outside 0..0x7fffffffff').hint)
      .toBe('IOVA outside 0..0x7fffffffff');
  });
});
