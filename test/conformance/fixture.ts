// What the conformance suite needs from a backend under test. The sim takes
// limits as options; the kernel takes them from sysfs and the process, so each
// fixture turns "a backend whose containers get dma_entry_limit N" into what
// its backend understands.
import type { Backend } from '../../lib/backend.js';

export interface FixtureSession {
  backend: Backend;
  /** Closes what the test left open and restores anything the fixture changed. */
  close(): void;
}

export interface SessionOptions {
  /** dma_entry_limit for containers that get their IOMMU type while the session is open. */
  dmaEntryLimit?: number;
  /** A RLIMIT_MEMLOCK to enforce (sim only: a real process's limit is what it is). */
  memlockLimit?: bigint;
}

export interface ConformanceFixture {
  label: string;
  /** IOMMU group holding `device`, viable, bound to vfio-pci. */
  group: number;
  /** PCI address of a device in `group`; QEMU's edu (1234:11e8) for the edu register tests. */
  device: string;
  /** A group that exists but is not viable, or why there is none. */
  nonViableGroup: number | string;
  /** null when dma_entry_limit can be set, else why not. */
  dmaEntryLimitUnsupported(): string | null;
  open(opts?: SessionOptions): FixtureSession;
}
