// The two fixtures: the sim (always) and the native backend on a real VFIO
// host or in the HIL guest (VFIO_TEST_GROUP / VFIO_TEST_DEVICE set by the lane).
import { readFileSync, writeFileSync, accessSync, constants } from 'node:fs';
import type { Backend } from '../../lib/backend.js';
import {
  DEFAULT_SIM_IOMMU, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SIM_IOMMU_NAMES, SIM_NONVIABLE_GROUP, SimBackend, type SimIommuName,
} from '../../lib/sim/index.js';
import type { ConformanceFixture, FixtureSession, SessionOptions } from './fixture.js';

/** The sim imitating one IOMMU profile (lib/sim/profiles.ts); the suites run on every one. */
export function simFixtureFor(iommu: SimIommuName): ConformanceFixture {
  return {
    label: `sim ${iommu}`,
    group: SIM_DEFAULT_GROUP,
    device: SIM_DEFAULT_DEVICE,
    nonViableGroup: SIM_NONVIABLE_GROUP,
    dmaEntryLimitUnsupported: () => null,
    open(opts: SessionOptions = {}): FixtureSession {
      const backend = new SimBackend({
        iommu,
        ...(opts.dmaEntryLimit !== undefined ? { dmaEntryLimit: opts.dmaEntryLimit } : {}),
        // A limit asked for is a limit enforced: no CAP_IPC_LOCK.
        ...(opts.memlockLimit !== undefined ? { memlock: { limit: opts.memlockLimit, exempt: false } } : {}),
      });
      return { backend, close() {} };
    },
  };
}

/** Every profile, the default first. */
export const simFixtures: ConformanceFixture[] = [DEFAULT_SIM_IOMMU, ...SIM_IOMMU_NAMES.filter((n) => n !== DEFAULT_SIM_IOMMU)]
  .map(simFixtureFor);

/** The sim with its default profile. */
export const simFixture: ConformanceFixture = simFixtureFor(DEFAULT_SIM_IOMMU);

const DMA_ENTRY_LIMIT = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';

/**
 * The native backend. dma_entry_limit is a module parameter the kernel reads
 * when a container gets its IOMMU type (vfio_iommu_type1_open), so the session
 * writes it on open and restores it on close. Memlock limits are the process's
 * own: the suite skips that test when this process holds CAP_IPC_LOCK.
 */
export function nativeFixture(open: () => Backend, group: number, device: string,
  nonViableGroup: number | null): ConformanceFixture {
  return {
    label: 'native',
    group,
    device,
    nonViableGroup: nonViableGroup ?? 'no non-viable group named (set VFIO_TEST_NONVIABLE_GROUP)',
    dmaEntryLimitUnsupported() {
      try {
        accessSync(DMA_ENTRY_LIMIT, constants.R_OK | constants.W_OK);
        return null;
      } catch (err) {
        return `${DMA_ENTRY_LIMIT} is not writable here (${(err as Error).message})`;
      }
    },
    open(opts: SessionOptions = {}): FixtureSession {
      let restore: string | null = null;
      if (opts.dmaEntryLimit !== undefined) {
        restore = readFileSync(DMA_ENTRY_LIMIT, 'utf8').trim();
        writeFileSync(DMA_ENTRY_LIMIT, String(opts.dmaEntryLimit));
      }
      try {
        const backend = open();
        return {
          backend,
          close() {
            if (restore !== null) writeFileSync(DMA_ENTRY_LIMIT, restore);
            restore = null;
          },
        };
      } catch (err) {
        if (restore !== null) writeFileSync(DMA_ENTRY_LIMIT, restore);
        throw err;
      }
    },
  };
}
