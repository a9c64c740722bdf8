// Child of crash.test.ts: maps one big per-page batch in a single plan
// execution (the kernel pins page after page) and is SIGKILLed by the parent
// in the middle of it. Type1 (INTERFACE=type1) or iommufd's IOAS with edu's
// cdev attached (INTERFACE=iommufd, CDEV=vfioN). Prints one JSON line before
// the batch; a second one only if the batch finished, which the parent treats
// as "too quick to kill".
import { PROT_RW, SZ_4K, type Backing, type DmaSpace } from '../../../lib/backend.js';
import { buildPlan, mapBatch } from '../../../lib/plan/index.js';
import { nativeBackend } from '../native-backend.js';

const iface = process.env.INTERFACE ?? 'type1';
const backing = (process.env.BACKING ?? '4k') as Backing;
const size = BigInt(process.env.SIZE ?? 64n << 20n);
const iova = BigInt(process.env.IOVA ?? 0x100_0000n);

const backend = await nativeBackend();
let space: DmaSpace;
if (iface === 'iommufd') {
  const fd = backend.openIommufd!();
  const ioas = fd.allocIoas();
  fd.bindDevice(process.env.CDEV ?? 'vfio0').attach(ioas);
  space = ioas;
} else {
  const container = backend.openContainer();
  backend.openGroup(Number(process.env.VFIO_TEST_GROUP)).setContainer(container);
  container.setIommu('type1v2');
  space = container;
}
const buf = backend.allocBuffer({ size, backing, prefault: true });
const pages = [];
for (let off = 0n; off < size; off += SZ_4K) pages.push({ vaddr: buf.vaddr + off, iova: iova + off, size: SZ_4K, prot: PROT_RW });
const plan = buildPlan(pages, 'per-page', space.info());
process.stdout.write(`${JSON.stringify({ ready: true, entries: plan.count })}\n`);
// No limits pre-check: the kernel starts pinning at once.
mapBatch(space, plan, { checkLimits: false });
process.stdout.write(`${JSON.stringify({ finished: true })}\n`);
