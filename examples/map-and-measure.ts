// The README's example: open a backend (real VFIO when this host has it, the
// simulation otherwise), map a 2 MiB THP buffer as 512 pages, coalesced, then
// unmap it. test/unit/readme-example.test.ts runs this file.
import {
  openBackend, usableVfioGroup, buildPlan, mapBatch, unmapBatch, IovaAllocator,
  PROT_RW, SZ_4K, SIM_DEFAULT_GROUP, VfioError,
} from '../lib/index.js';

export function mapAndMeasure() {
  const { backend, reason } = openBackend({ backend: 'auto' });
  console.log(`backend: ${reason}`);
  // A group whose devices are all bound to vfio-pci (see `vfio probe`).
  const group = backend.simulated ? SIM_DEFAULT_GROUP : usableVfioGroup();
  if (group === null) throw new Error('no viable IOMMU group bound to vfio-pci');

  using container = backend.openContainer();
  using grp = backend.openGroup(group);
  grp.setContainer(container);
  container.setIommu('type1v2');

  using buffer = backend.allocBuffer({ size: 2n << 20n, backing: 'thp', prefault: true });
  const iova = new IovaAllocator(container.info()).alloc(buffer.size, { backing: 'thp', vaddr: buffer.vaddr });

  // What a driver would hand over: 512 separate 4 KiB pages.
  const pages = [];
  for (let off = 0n; off < buffer.size; off += SZ_4K) {
    pages.push({ vaddr: buffer.vaddr + off, iova: iova + off, size: SZ_4K, prot: PROT_RW });
  }
  const plan = buildPlan(pages, 'coalesced', container.info());
  try {
    const mapped = mapBatch(container, plan); // all or nothing; limits checked first
    console.log(`${pages.length} pages -> ${plan.count} MAP_DMA call(s), ${mapped.totalNs} ns`
      + (container.simulated ? ' (simulated)' : ''));
    unmapBatch(container, plan);
    return { calls: plan.count, ns: mapped.totalNs, simulated: container.simulated };
  } catch (err) {
    if (err instanceof VfioError) console.error(`${err.code}: ${err.hint ?? err.message}`);
    throw err;
  } finally {
    container.close(); // unmaps anything left, before the buffer is released
  }
}
