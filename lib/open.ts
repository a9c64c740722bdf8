// Picks the backend: the native one (real /dev/vfio ioctls) when this host can
// use it, the simulated one otherwise, and always says which and why. A
// missing or unloadable addon is a reason to fall back, never a crash.
import { accessSync, constants } from 'node:fs';
import type { Backend } from './backend.js';
import { Errno, VfioError } from './errors.js';
import { NativeBackend, nativeAvailability } from './native/index.js';
import { SimBackend } from './sim/index.js';
import type { SimOptions } from './sim/options.js';
import { vfioPresence } from './sysfs.js';

export type BackendChoice = 'native' | 'sim' | 'auto';

export interface OpenBackendOptions {
  backend: BackendChoice;
  /** Options for the simulated backend, when it is the one picked. */
  sim?: SimOptions;
}

export interface OpenedBackend {
  backend: Backend;
  /** Which backend and why, e.g. "sim: native backend unavailable (no /dev/vfio/vfio)". */
  reason: string;
}

/** What lib/native provides (lib/open.ts may import lib/native; lib/sim never does). */
export interface NativeModule {
  nativeAvailability(): { available: boolean; reason?: string };
  NativeBackend: new () => Backend;
}

/** Replaceable pieces, for tests. */
export interface OpenDeps {
  /** The native module; null when it could not be loaded. */
  native?: NativeModule | null;
  /** null when /dev/vfio/vfio can be opened read-write, else why not. */
  containerNode?: () => string | null;
}

const CONTAINER_NODE = '/dev/vfio/vfio';

function containerNodeProblem(): string | null {
  try {
    accessSync(CONTAINER_NODE, constants.R_OK | constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return vfioPresence().reason;
    return `${CONTAINER_NODE} is not usable (${code ?? String(err)}): run as root or get access to the node`;
  }
}

/**
 * Opens a backend. 'auto' takes native when the addon loads and
 * /dev/vfio/vfio is usable, else the sim; 'native' throws (ENODEV, with the
 * reason) when it is not usable.
 */
export function openBackend(opts: OpenBackendOptions, deps: OpenDeps = {}): OpenedBackend {
  if (opts === null || typeof opts !== 'object') throw new TypeError('openBackend: options object required');
  const choice = opts.backend;
  if (choice !== 'native' && choice !== 'sim' && choice !== 'auto') {
    throw new TypeError(`openBackend: backend must be 'native', 'sim' or 'auto', not ${String(choice)}`);
  }
  if (choice === 'sim') return { backend: new SimBackend(opts.sim), reason: 'sim: requested' };

  const native = deps.native === undefined ? { nativeAvailability, NativeBackend } : deps.native;
  const why = nativeUnavailable(native, deps.containerNode ?? containerNodeProblem);
  if (why === null) {
    const backend = new native!.NativeBackend();
    return { backend, reason: choice === 'native' ? 'native: requested' : `native: ${CONTAINER_NODE} is usable` };
  }
  if (choice === 'native') {
    throw new VfioError(Errno.ENODEV, 'openBackend', { backend: 'native' }, `native backend unavailable: ${why}`);
  }
  return { backend: new SimBackend(opts.sim), reason: `sim: native backend unavailable (${why})` };
}

/** null when the native backend can be used, else why not. */
function nativeUnavailable(native: NativeModule | null, containerNode: () => string | null): string | null {
  if (!native) return 'native module not loaded';
  try {
    const a = native.nativeAvailability();
    if (!a.available) return a.reason ?? 'unavailable (no reason given)';
  } catch (err) {
    return `availability check failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  return containerNode();
}
