// Picks the backend: the native one (real /dev/vfio ioctls) when this host can
// use it, the simulated one otherwise, and always says which and why. A
// missing or unloadable addon is a reason to fall back, never a crash.
import type { Backend } from './backend.js';
import { Errno, VfioError } from './errors.js';
import { SimBackend } from './sim/index.js';
import type { SimOptions } from './sim/options.js';

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

/** What lib/native/index.js provides (lib/open.ts may import lib/native; lib/sim never does). */
export interface NativeModule {
  nativeAvailability(): { available: boolean; reason?: string };
  NativeBackend: new () => Backend;
}

// Loaded once, at import: a failure (module or addon missing, wrong ABI) is
// kept as the reason the native backend is unavailable.
const NATIVE_MODULE = './native/index.js';
const nativeLoad: { module: NativeModule | null; error: string | null } = await import(NATIVE_MODULE).then(
  (m: NativeModule) => ({ module: m, error: null }),
  (err: unknown) => ({ module: null, error: err instanceof Error ? err.message : String(err) }),
);

/**
 * Opens a backend. 'auto' takes native when nativeAvailability() says
 * /dev/vfio/vfio is usable, else the sim; 'native' throws (ENODEV, with the
 * reason) when it is not. `native` replaces the loaded module (tests).
 */
export function openBackend(opts: OpenBackendOptions, native: NativeModule | null = nativeLoad.module): OpenedBackend {
  if (opts === null || typeof opts !== 'object') throw new TypeError('openBackend: options object required');
  const choice = opts.backend;
  if (choice !== 'native' && choice !== 'sim' && choice !== 'auto') {
    throw new TypeError(`openBackend: backend must be 'native', 'sim' or 'auto', not ${String(choice)}`);
  }
  if (choice === 'sim') return { backend: new SimBackend(opts.sim), reason: 'sim: requested' };

  const why = nativeUnavailable(native);
  if (why === null) {
    const backend = new native!.NativeBackend();
    return { backend, reason: choice === 'native' ? 'native: requested' : 'native: /dev/vfio/vfio is usable' };
  }
  if (choice === 'native') {
    throw new VfioError(Errno.ENODEV, 'openBackend', { backend: 'native' }, `native backend unavailable: ${why}`);
  }
  return { backend: new SimBackend(opts.sim), reason: `sim: native backend unavailable (${why})` };
}

/** null when the native backend can be used, else why not. */
function nativeUnavailable(native: NativeModule | null): string | null {
  if (!native) return `native module not loaded: ${nativeLoad.error ?? 'not provided'}`;
  try {
    const a = native.nativeAvailability();
    return a.available ? null : (a.reason ?? 'unavailable (no reason given)');
  } catch (err) {
    return `availability check failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}
