// The CLI's one way to a backend: lib/open.ts's openBackend, behind a function
// type so tests can hand the commands another opener.
import type { Backend } from '../backend.js';
import { Extension } from '../backend.js';
import { openBackend, type BackendChoice } from '../open.js';

export { attachGroup, type Attached } from '../seam/attach.js';

export interface Opened {
  backend: Backend;
  /** Why this backend (e.g. "native: /dev/vfio/vfio present" or "sim: requested"). */
  reason: string;
}

export type BackendOpener = (choice: BackendChoice) => Opened;

export const defaultOpener: BackendOpener = (backend) => openBackend({ backend });

export const EXTENSION_NAMES = Object.keys(Extension) as Array<keyof typeof Extension>;
