// DMA buffers of every backing (4 KiB pages, transparent huge pages, hugetlb
// 2 MiB pages) against the real kernel: the memory is what it claims to be,
// MAP_DMA pins and maps all of it, and (on edu) the device reaches bytes deep
// inside a huge page at the right IOVA offset.
import { readFileSync } from 'node:fs';
import type { Backend, Backing, Container, Device, DmaBuffer, Group } from '../../lib/backend.js';
import { PROT_RW, SZ_2M, SZ_4K } from '../../lib/backend.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Edu } from './edu.js';
import { inLaneVm, isEdu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const SIZE = 2n * SZ_2M; // two huge pages, so an offset can land in the second
const IOVA = 0x400_0000n; // 2 MiB aligned, inside edu's 28-bit mask
const SCRATCH_IOVA = 0x80_0000n;
const COUNT = 1536;

function meminfoKiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? Number.NaN);
}

/** AnonHugePages of the mapping that holds `vaddr`, from /proc/self/smaps. */
function anonHugeKiB(vaddr: bigint): number {
  const blocks = readFileSync('/proc/self/smaps', 'utf8').split(/^(?=[0-9a-f]+-[0-9a-f]+ )/m);
  for (const block of blocks) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(block);
    if (range && BigInt(`0x${range[1]}`) <= vaddr && vaddr < BigInt(`0x${range[2]}`)) {
      return Number(/^AnonHugePages:\s+(\d+) kB/m.exec(block)?.[1] ?? Number.NaN);
    }
  }
  return Number.NaN;
}

const hugetlbFree = () => meminfoKiB('HugePages_Free');
const thpMode = () => /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];

const cases: { backing: Backing; pageSize: bigint; usable: () => boolean }[] = [
  { backing: '4k', pageSize: SZ_4K, usable: () => true },
  { backing: 'thp', pageSize: SZ_2M, usable: () => thpMode() !== 'never' },
  { backing: 'hugetlb', pageSize: SZ_2M, usable: () => hugetlbFree() >= Number(SIZE / SZ_2M) },
];

describe.skipIf(!onVfioHost)(`DMA buffers of every backing on the real kernel (${SKIP_REASON})`, () => {
  let backend: Backend;
  let container: Container;
  let group: Group;
  let device: Device | undefined;
  let edu: Edu | undefined;
  let scratch: DmaBuffer;

  beforeAll(async () => {
    const dev = testDevice();
    backend = await nativeBackend();
    container = backend.openContainer();
    group = backend.openGroup(dev.group);
    group.setContainer(container);
    container.setIommu('type1v2');
    if (isEdu(dev)) {
      device = group.openDevice(dev.address);
      edu = new Edu(device);
      }
    scratch = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    container.map({ vaddr: scratch.vaddr, iova: SCRATCH_IOVA, size: SZ_4K, prot: PROT_RW });
  });

  // Container first: closing it unmaps everything, and a buffer that is still
  // DMA-mapped refuses to be freed.
  afterAll(() => {
    device?.close();
    group?.close();
    container?.close();
    scratch?.close();
  });

  for (const { backing, pageSize, usable } of cases) {
    // In the lane VM every backing must work (run.sh reserves hugetlb pages).
    it.skipIf(!inLaneVm && !usable())(`${backing}: allocates, maps, moves data, unmaps`, async () => {
      const hugeFreeBefore = hugetlbFree();
      const buf = backend.allocBuffer({ size: SIZE, backing, prefault: true });
      try {
        expect(buf.backing).toBe(backing);
        expect(buf.size).toBe(SIZE);
        expect(buf.pageSize).toBe(pageSize);
        expect(buf.vaddr % pageSize).toBe(0n);
        expect(buf.bytes.byteLength).toBe(Number(SIZE));
        // The kernel agrees about what backs it.
        if (backing === 'hugetlb') expect(hugeFreeBefore - hugetlbFree()).toBe(Number(SIZE / SZ_2M));
        if (backing === 'thp' && inLaneVm) expect(anonHugeKiB(buf.vaddr)).toBeGreaterThanOrEqual(2048);

        container.map({ vaddr: buf.vaddr, iova: IOVA, size: SIZE, prot: PROT_RW });
        if (edu) {
          // Device reads from deep inside the second page and writes back into
          // the scratch buffer; then writes those bytes back into the buffer.
          const readAt = Number(SZ_2M) + 0x1234;
          for (let i = 0; i < COUNT; i++) buf.bytes[readAt + i] = (i * 17 + 5) & 0xff;
          scratch.bytes.fill(0);
          await edu.fromRam(IOVA + BigInt(readAt), 0, COUNT);
          await edu.toRam(0, SCRATCH_IOVA, COUNT);
          expect(Buffer.compare(scratch.bytes.subarray(0, COUNT), buf.bytes.subarray(readAt, readAt + COUNT))).toBe(0);

          // Straddles the boundary between the two (huge) pages, which need
          // not be physically adjacent: the IOMMU makes them look so.
          const writeAt = Number(SZ_2M) - 0x100;
          buf.bytes.fill(0, writeAt, writeAt + COUNT);
          await edu.toRam(0, IOVA + BigInt(writeAt), COUNT);
          expect(Buffer.compare(buf.bytes.subarray(writeAt, writeAt + COUNT), scratch.bytes.subarray(0, COUNT))).toBe(0);
        }
        expect(container.unmap(IOVA, SIZE)).toBe(SIZE);
        // Unmapping again finds nothing.
        expect(container.unmap(IOVA, SIZE)).toBe(0n);
      } finally {
        buf.close();
      }
      if (backing === 'hugetlb') expect(hugetlbFree()).toBe(hugeFreeBefore);
    });
  }
});
