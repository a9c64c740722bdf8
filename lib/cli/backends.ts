// The CLI's one way to a backend: lib/open.ts's openBackend, behind a function
// type so tests can hand the commands another opener.
import type { Backend } from '../backend.js';
import { Extension } from '../backend.js';
import { openBackend, type BackendChoice, type OpenBackendOptions } from '../open.js';

export { attachGroup, type Attached } from '../seam/attach.js';

export interface Opened {
  backend: Backend;
  /** Why this backend (e.g. "native: /dev/vfio/vfio present" or "sim: requested"). */
  reason: string;
}

/** `sim`: options for the simulated backend when it is the one opened (e.g. the IOMMU profile of --sim-iommu). */
export type BackendOpener = (choice: BackendChoice, opts?: Pick<OpenBackendOptions, 'sim'>) => Opened;

export const defaultOpener: BackendOpener = (backend, opts) => openBackend({ backend, ...(opts?.sim ? { sim: opts.sim } : {}) });

export const EXTENSION_NAMES = Object.keys(Extension) as Array<keyof typeof Extension>;
