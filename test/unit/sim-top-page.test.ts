// A type1 mapping that ends exactly at 2^64, which only a 64-bit aperture
// (AMD-Vi) lets one make: Linux 6.12 can never take it down, because
// vfio_find_dma_first_node() and vfio_unmap_unpin() compare against
// dma->iova + dma->size, which wraps to 0. The lane's differential fuzz found
// it on AMD-Vi; the sim answers the same (an unmap finds nothing, the pages
// stay charged after the container closes), and the IOVA allocator never
// hands that page out (plan-allocator.test.ts).
import { describe, expect, it } from 'vitest';
import { SZ_4K } from '../../lib/backend.js';
import { SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';

const TOP = (1n << 64n) - SZ_4K;

function opened(b: SimBackend) {
  const c = b.openContainer();
  const g = b.openGroup(SIM_DEFAULT_GROUP);
  g.setContainer(c);
  c.setIommu('type1v2');
  return { c, g };
}

describe('type1: a mapping that ends at 2^64 (sim, amd-vi)', () => {
  it('an unmap never finds it first; walked to, it goes but its page stays charged', () => {
    const b = new SimBackend({ iommu: 'amd-vi' });
    const buf = b.allocBuffer({ size: 2n * SZ_4K, backing: '4k' });
    const { c, g } = opened(b);
    const before = c.memlock().locked;
    c.map({ vaddr: buf.vaddr, iova: TOP, size: SZ_4K });
    c.map({ vaddr: buf.vaddr + SZ_4K, iova: TOP - SZ_4K, size: SZ_4K });
    expect(c.memlock().locked - before).toBe(2n * SZ_4K);
    expect(c.unmap(TOP, SZ_4K)).toBe(0n); // not found: it would be the first match
    // Walked to from the page below it, it goes and is counted, but its page stays charged.
    expect(c.unmapAll()).toBe(2n * SZ_4K);
    expect(c.memlock().locked - before).toBe(SZ_4K);
    g.close();
    c.close();
    const again = opened(b);
    expect(again.c.memlock().locked - before).toBe(SZ_4K); // still charged, as on the kernel
    again.g.close();
    again.c.close();
  });

  it('closing the container leaves its page charged; a mapping one page lower goes as any other', () => {
    const b = new SimBackend({ iommu: 'amd-vi' });
    const buf = b.allocBuffer({ size: SZ_4K, backing: '4k' });
    const { c, g } = opened(b);
    const before = c.memlock().locked;
    c.map({ vaddr: buf.vaddr, iova: TOP, size: SZ_4K });
    expect(c.unmapAll()).toBe(0n); // the first match: not found
    g.close();
    c.close();
    const again = opened(b);
    expect(again.c.memlock().locked - before).toBe(SZ_4K);
    again.g.close();
    again.c.close();
  });

  it('a mapping one page lower goes as any other', () => {
    const b = new SimBackend({ iommu: 'amd-vi' });
    const buf = b.allocBuffer({ size: SZ_4K, backing: '4k' });
    const { c, g } = opened(b);
    const before = c.memlock().locked;
    c.map({ vaddr: buf.vaddr, iova: TOP - SZ_4K, size: SZ_4K });
    expect(c.unmap(TOP - SZ_4K, SZ_4K)).toBe(SZ_4K);
    expect(c.memlock().locked).toBe(before);
    g.close();
    c.close();
  });
});
