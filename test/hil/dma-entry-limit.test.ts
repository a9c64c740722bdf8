// vfio_iommu_type1's dma_entry_limit module parameter: each container may hold
// at most that many mappings (read when the IOMMU is set on the container);
// one more fails with ENOSPC, and VFIO_IOMMU_GET_INFO's CAP_DMA_AVAIL counts down.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Backend, Container, DmaBuffer, Group } from '../../lib/backend.js';
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, PLAN_FLAGS, PROT_RW, SZ_4K } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const PARAM = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';
const LIMIT = 8;
const IOVA_BASE = 0x100_0000n;
// Every other page: no two mappings touch, so nothing could be merged.
const iovaOf = (i: number) => IOVA_BASE + BigInt(i) * 2n * SZ_4K;

describe.skipIf(!onVfioHost)(`dma_entry_limit (${SKIP_REASON})`, () => {
  let backend: Backend;
  let original: string;
  let buffer: DmaBuffer;
  let group: Group | undefined;
  let container: Container | undefined;

  beforeAll(async () => {
    backend = await nativeBackend();
    original = readFileSync(PARAM, 'utf8').trim();
    buffer = backend.allocBuffer({ size: 2n * BigInt(LIMIT) * SZ_4K, backing: '4k', prefault: true });
  });

  afterEach(() => {
    group?.close();
    container?.close();
    group = container = undefined;
    writeFileSync(PARAM, original);
  });

  afterAll(() => {
    buffer?.close();
    if (original !== undefined) writeFileSync(PARAM, original);
  });

  /** A container whose IOMMU was set while the limit was `limit`. */
  function openLimited(limit: number): Container {
    writeFileSync(PARAM, String(limit));
    container = backend.openContainer();
    group = backend.openGroup(testDevice().group);
    group.setContainer(container);
    container.setIommu('type1v2');
    writeFileSync(PARAM, original); // only containers set up from now on are affected
    return container;
  }

  it('counts down CAP_DMA_AVAIL and refuses mapping number limit+1 with ENOSPC', () => {
    const c = openLimited(LIMIT);
    expect(c.info().dmaAvail).toBe(LIMIT);
    let failure: unknown = null;
    let mapped = 0;
    for (let i = 0; i < 2 * LIMIT && failure === null; i++) {
      try {
        c.map({ vaddr: buffer.vaddr + BigInt(i) * SZ_4K, iova: iovaOf(i), size: SZ_4K });
        mapped++;
      } catch (err) {
        failure = err;
      }
    }
    expect(mapped).toBe(LIMIT);
    expect(failure).toBeInstanceOf(VfioError);
    expect((failure as VfioError).errno).toBe(Errno.ENOSPC);
    expect(c.info().dmaAvail).toBe(0);

    // One unmap frees one entry, and exactly one.
    expect(c.unmap(iovaOf(0), SZ_4K)).toBe(SZ_4K);
    expect(c.info().dmaAvail).toBe(1);
    c.map({ vaddr: buffer.vaddr, iova: iovaOf(0), size: SZ_4K });
    expect(() => c.map({ vaddr: buffer.vaddr + SZ_4K, iova: iovaOf(LIMIT), size: SZ_4K })).toThrow(VfioError);
  });

  it('stops a map plan at the first refused entry and reports ENOSPC there', () => {
    const c = openLimited(LIMIT);
    const entries = LIMIT + 4;
    const plan = new BigUint64Array(entries * PLAN_STRIDE);
    for (let i = 0; i < entries; i++) {
      plan[i * PLAN_STRIDE + PLAN_VADDR] = buffer.vaddr + BigInt(i % (2 * LIMIT)) * SZ_4K;
      plan[i * PLAN_STRIDE + PLAN_IOVA] = iovaOf(i);
      plan[i * PLAN_STRIDE + PLAN_SIZE] = SZ_4K;
      plan[i * PLAN_STRIDE + PLAN_FLAGS] = BigInt(PROT_RW);
    }
    const mapped = c.runPlan('map', plan);
    expect(mapped.simulated).toBe(false);
    expect(mapped.completed).toBe(LIMIT);
    expect(mapped.failedIndex).toBe(LIMIT);
    expect(mapped.errno).toBe(Errno.ENOSPC);
    expect(c.info().dmaAvail).toBe(0);

    const unmapped = c.runPlan('unmap', plan.subarray(0, LIMIT * PLAN_STRIDE));
    expect(unmapped.failedIndex).toBe(-1);
    expect(unmapped.completed).toBe(LIMIT);
    expect(unmapped.unmapped).toBe(BigInt(LIMIT) * SZ_4K);
    expect(c.info().dmaAvail).toBe(LIMIT);
  });
});
