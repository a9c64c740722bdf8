// Child of lifetimes.test.ts, run as `node --expose-gc --import <register-ts> gc-mapped.ts <native|sim>`.
// Maps a buffer, drops every JS reference to it and collects garbage, then
// proves the mapping and the memory behind it survived: the kernel still has
// the mapping (unmap reports its size), the pages are still in /proc/self/maps
// and still locked, and (native, edu) the device reads the buffer's contents
// through the IOMMU. Only after the unmap may the pages go. Prints one JSON line.
import { readFileSync } from 'node:fs';
import type { Backend, Container, DmaBuffer } from '../../../lib/backend.js';
import { NativeBackend } from '../../../lib/native/index.js';
import { SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SimBackend } from '../../../lib/sim/index.js';
import { Edu } from '../../hil/edu.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const which = process.argv[2];
const backend: Backend = which === 'native' ? new NativeBackend() : new SimBackend();
const groupId = which === 'native' ? Number(process.env['VFIO_TEST_GROUP']) : SIM_DEFAULT_GROUP;
const deviceName = which === 'native' ? process.env['VFIO_TEST_DEVICE']! : SIM_DEFAULT_DEVICE;
const useEdu = which === 'native' && process.env['GC_EDU'] === '1';

const IOVA_DROPPED = 0x10_0000n;
const IOVA_KEPT = 0x20_0000n;
const SIZE = 0x4000n;
const COUNT = 2048;

function inMaps(addr: bigint): boolean {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').some((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    return m !== null && addr >= BigInt(`0x${m[1]}`) && addr < BigInt(`0x${m[2]}`);
  });
}

async function collect(): Promise<void> {
  for (let i = 0; i < 8; i++) {
    // Garbage to make the collector work, then a full collection and a turn of the loop for finalizers.
    for (let j = 0; j < 200; j++) new ArrayBuffer(64 * 1024);
    gc!();
    await new Promise((r) => setImmediate(r));
  }
}

const container: Container = backend.openContainer();
const group = backend.openGroup(groupId);
group.setContainer(container);
container.setIommu('type1v2');
const lockedBefore = container.memlock().locked;

// The buffer that will lose every JS reference: filled, mapped, then dropped.
let vaddr = 0n;
let collected = false;
const registry = new FinalizationRegistry(() => {
  collected = true;
});
(() => {
  const b: DmaBuffer = backend.allocBuffer({ size: SIZE, backing: '4k', prefault: true });
  for (let i = 0; i < b.bytes.length; i++) b.bytes[i] = (i * 131 + 7) & 0xff;
  container.map({ vaddr: b.vaddr, iova: IOVA_DROPPED, size: SIZE });
  vaddr = b.vaddr;
  registry.register(b, 'dropped');
})();
const kept = backend.allocBuffer({ size: SIZE, backing: '4k', prefault: true });
kept.bytes.fill(0);
container.map({ vaddr: kept.vaddr, iova: IOVA_KEPT, size: SIZE });

await collect();
const mappedAfterGc = inMaps(vaddr);
const lockedAfterGc = container.memlock().locked - lockedBefore;

let deviceRead: boolean | null = null;
if (useEdu) {
  // The device copies the dropped buffer, through the IOMMU, into the kept one.
  const device = group.openDevice(deviceName);
  const edu = new Edu(device);
  await edu.fromRam(IOVA_DROPPED, 0, COUNT);
  await edu.toRam(0, IOVA_KEPT, COUNT);
  deviceRead = kept.bytes.subarray(0, COUNT).every((v, i) => v === ((i * 131 + 7) & 0xff));
  device.close();
}

const unmapped = container.unmap(IOVA_DROPPED, SIZE);
await collect();
const goneAfterUnmap = !inMaps(vaddr);
container.close();
group.close();
kept.close();
process.stdout.write(`${JSON.stringify({
  backend: which,
  wrapperCollected: collected,
  mappedAfterGc,
  lockedAfterGc: lockedAfterGc.toString(),
  expectedLocked: (2n * SIZE).toString(),
  deviceRead,
  unmapped: unmapped.toString(),
  goneAfterUnmap,
  lockedAfterClose: (container.memlock().locked - lockedBefore).toString(),
})}\n`);
