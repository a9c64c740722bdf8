// README example (Interrupts): edu copies 256 bytes from RAM into its buffer
// through the IOMMU, and the program awaits the completion MSI instead of
// polling the busy bit. Runs on the sim anywhere, and on a host (or in the HIL
// lane) with QEMU's edu bound to vfio-pci, named by VFIO_TEST_GROUP and VFIO_TEST_DEVICE.
import { openBackend, PciRegion, PROT_READ, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SZ_4K } from '../lib/index.js';

const reg = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);

export async function eduInterrupt() {
  const bdf = process.env.VFIO_TEST_DEVICE; // an edu bound to vfio-pci, or the sim's
  const { backend } = openBackend({ backend: bdf ? 'native' : 'sim' });
  const group = bdf ? Number(process.env.VFIO_TEST_GROUP) : SIM_DEFAULT_GROUP;
  using container = backend.openContainer();
  using grp = backend.openGroup(group);
  grp.setContainer(container);
  container.setIommu('type1v2');
  using buffer = backend.allocBuffer({ size: SZ_4K, backing: '4k' });
  using device = grp.openDevice(bdf ?? SIM_DEFAULT_DEVICE);
  device.write(PciRegion.CONFIG, 4n, reg(0x106).subarray(0, 2)); // memory decode + bus master
  container.map({ vaddr: buffer.vaddr, iova: 0x10_0000n, size: SZ_4K, prot: PROT_READ });

  using irqs = device.irqs('msi'); // VFIO_DEVICE_SET_IRQS, one eventfd
  const [msi] = irqs.vectors;
  const done = msi!.wait({ timeoutMs: 5_000 });
  device.write(PciRegion.BAR0, 0x80n, reg(0x10_0000)); // source: the IOVA
  device.write(PciRegion.BAR0, 0x88n, reg(0x40000)); // destination: edu's buffer
  device.write(PciRegion.BAR0, 0x90n, reg(256));
  device.write(PciRegion.BAR0, 0x98n, reg(0x1 | 0x4)); // run, interrupt when done
  const count = await done; // interrupts this wake-up coalesced: 1
  device.write(PciRegion.BAR0, 0x64n, reg(0x100)); // acknowledge the DMA interrupt
  container.unmapAll(); // before `using` frees the buffer
  return { count, simulated: backend.simulated };
}
