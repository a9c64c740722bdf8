// The README's quick start in plain JavaScript (no TypeScript, no `using`):
// map one buffer for a device and give everything back in finally blocks.
// test/unit/readme-example.test.ts runs it and checks the README shows it.
import { openBackend, IovaAllocator, PROT_RW } from '../lib/index.js';

export function quickStart() {
  // 'auto': the real VFIO where this host has it, the simulator elsewhere; `reason` says which and why.
  const { backend, reason } = openBackend();
  const group = backend.host().defaultGroup(); // a viable group whose devices are bound to vfio-pci
  if (group === null) throw new Error(`no usable IOMMU group (${reason}); see vfio probe`);

  const container = backend.openContainer();
  try {
    const grp = backend.openGroup(group);
    grp.setContainer(container);
    container.setIommu('type1v2');
    const buffer = backend.allocBuffer({ size: 1n << 20n, backing: '4k', prefault: true });
    try {
      const iova = new IovaAllocator(container.info()).alloc(buffer.size);
      container.map({ vaddr: buffer.vaddr, iova, size: buffer.size, prot: PROT_RW });
      // ... the device may now read and write the buffer at `iova` ...
      const unmapped = container.unmap(iova, buffer.size);
      return { backend: backend.name, simulated: backend.simulated, iova, unmapped };
    } finally {
      buffer.close();
    }
  } finally {
    container.close(); // unmaps whatever is left and detaches the group
  }
}
