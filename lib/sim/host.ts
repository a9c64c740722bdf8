// The simulated machine and process that every sim object of one SimBackend
// shares: the process's locked-memory account (mm->locked_vm against
// RLIMIT_MEMLOCK), the vfio_iommu_type1 module parameters, its buffers and
// which group nodes are open.
import type { MemlockStatus } from '../backend.js';
import { BufferRegistry } from './buffers.js';
import type { ResolvedSimOptions } from './options.js';

const PAGE_SHIFT = 12n;

export class ProcessMemlock {
  /** RLIMIT_MEMLOCK soft limit in bytes, null = RLIM_INFINITY. */
  limit: bigint | null;
  /** CAP_IPC_LOCK. */
  exempt: boolean;
  /** mm->locked_vm in pages. */
  #lockedPages: bigint;

  constructor(limit: bigint | null, lockedBytes: bigint, exempt: boolean) {
    this.limit = limit;
    this.exempt = exempt;
    this.#lockedPages = lockedBytes >> PAGE_SHIFT;
  }

  status(): MemlockStatus {
    return { limit: this.limit, locked: this.#lockedPages << PAGE_SHIFT, exempt: this.exempt };
  }

  /**
   * Charge `pages` 4 KiB pages, or refuse the way vfio_pin_pages_remote()
   * does: locked_vm + 1 > (rlimit >> PAGE_SHIFT) for some page -> ENOMEM,
   * nothing kept. With CAP_IPC_LOCK the pages are counted but never refused.
   * Returns the refusal's explanation, or null when charged.
   */
  charge(pages: bigint): string | null {
    const refused = this.refusal(pages);
    if (refused === null) this.#lockedPages += pages;
    return refused;
  }

  /** Why charging `pages` would be refused, or null if it would not be. */
  refusal(pages: bigint): string | null {
    if (!this.exempt && this.limit !== null && this.#lockedPages + pages > this.limit >> PAGE_SHIFT) {
      return `RLIMIT_MEMLOCK (${this.limit} bytes) exceeded: ${this.#lockedPages << PAGE_SHIFT} bytes already locked, `
        + `${pages << PAGE_SHIFT} more requested; raise ulimit -l or run with CAP_IPC_LOCK`;
    }
    return null;
  }

  uncharge(pages: bigint): void {
    this.#lockedPages -= pages;
    if (this.#lockedPages < 0n) this.#lockedPages = 0n;
  }
}

export class SimHost {
  readonly options: ResolvedSimOptions;
  readonly memlock: ProcessMemlock;
  readonly buffers = new BufferRegistry();
  /** /sys/module/vfio_iommu_type1/parameters/dma_entry_limit, read at VFIO_SET_IOMMU. */
  dmaEntryLimit: number;
  /** Groups whose /dev/vfio/<id> is open (a group node opens once at a time). */
  readonly openGroups = new Set<number>();

  constructor(options: ResolvedSimOptions) {
    this.options = options;
    this.memlock = new ProcessMemlock(options.memlock.limit, options.memlock.locked, options.memlock.exempt);
    this.dmaEntryLimit = options.dmaEntryLimit;
  }
}
