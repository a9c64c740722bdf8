// The backends the fuzzer runs on. The sim is set up like the kernel it is
// compared with (same IOMMU page sizes and IOVA ranges, read from GET_INFO),
// so that any difference left is a difference of behaviour.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Backend, IommuInfo } from '../../../lib/backend.js';
import { NativeBackend } from '../../../lib/native/index.js';
import { DEFAULT_DMA_ENTRY_LIMIT, SIM_DEFAULT_GROUP, SimBackend, type SimOptions } from '../../../lib/sim/index.js';
import type { FuzzTarget } from './execute.js';

export const DMA_ENTRY_LIMIT_PARAM = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';

export function simTarget(opts: SimOptions = {}, group = SIM_DEFAULT_GROUP): FuzzTarget {
  const backend = new SimBackend(opts);
  const initial = backend.dmaEntryLimit;
  return {
    label: 'sim',
    backend,
    group,
    // The sim's cdevs are numbered in group order: vfio0 is the first group's first device.
    cdev: 'vfio0',
    setEntryLimit(limit) {
      backend.dmaEntryLimit = limit;
    },
    restore() {
      backend.dmaEntryLimit = initial;
    },
  };
}

/**
 * The real kernel: dma_entry_limit is the module parameter, read at
 * VFIO_SET_IOMMU; `cdev` the test device's /dev/vfio/devices node for
 * iommufd sequences (null: none, or no iommufd).
 */
export function nativeTarget(group: number, cdev: string | null = null): FuzzTarget {
  const backend: Backend = new NativeBackend();
  const initial = readFileSync(DMA_ENTRY_LIMIT_PARAM, 'utf8').trim();
  let current = initial;
  return {
    label: 'kernel',
    backend,
    group,
    cdev,
    setEntryLimit(limit) {
      if (String(limit) === current) return;
      writeFileSync(DMA_ENTRY_LIMIT_PARAM, String(limit));
      current = String(limit);
    },
    restore() {
      if (current === initial) return;
      writeFileSync(DMA_ENTRY_LIMIT_PARAM, initial);
      current = initial;
    },
  };
}

/** What the real container reports, to configure the sim alike. */
export function probeIommu(backend: Backend, group: number): IommuInfo {
  const c = backend.openContainer();
  const g = backend.openGroup(group);
  try {
    g.setContainer(c);
    c.setIommu('type1v2');
    return c.info();
  } finally {
    c.close();
    g.close();
  }
}

/** A sim with the kernel's page sizes, IOVA ranges and group. */
export function simLike(info: IommuInfo, group: number, device: string): FuzzTarget {
  return simTarget({
    pageSizes: info.pageSizes,
    iovaRanges: info.ranges,
    dmaEntryLimit: DEFAULT_DMA_ENTRY_LIMIT,
    groups: [{ id: group, viable: true, devices: [device] }],
  }, group);
}
