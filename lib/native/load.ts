// Loads the addon without ever throwing at import: on a laptop without a
// build, or on macOS, the simulated backend must still work. The prebuilt
// binary (prebuilds/linux-x64) or build/Release is found by node-gyp-build
// from the package root, which is two levels above this file both as
// lib/native/load.ts and as dist/native/load.js.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { VfioError, type VfioErrorArgs } from '../errors.js';
import type { NativeAddon } from './addon.js';

export interface NativeAvailability {
  available: boolean;
  reason?: string;
}

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What a consumer can do when neither the prebuild nor a compile gave an
 * addon: the same advice scripts/install.cjs prints at install time (a
 * checkout of this repository can also run npm run build:native).
 */
export const REBUILD_HINT = 'compile it for this machine: install g++, make and python3 '
  + '(apt-get install g++ make python3, or dnf install gcc-c++ make python3), then run npm rebuild node-vfio';

export type Loaded = { addon: NativeAddon } | { addon: null; reason: string };
let loaded: Loaded | undefined;

/** Loads the addon found under `root` (exported for tests; never throws). */
export function loadAddon(root: string, platform: string = process.platform): Loaded {
  if (platform !== 'linux') {
    return { addon: null, reason: `VFIO is Linux-only (this is ${platform})` };
  }
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const addon = nodeGypBuild(root) as NativeAddon;
    addon.setErrorFactory((errno: number, op: string, args: VfioErrorArgs, hint?: string) =>
      new VfioError(errno, op, args, hint));
    return { addon };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { addon: null, reason: `native addon failed to load (${why}); ${REBUILD_HINT}` };
  }
}

function loadOnce(): Loaded {
  loaded ??= loadAddon(packageRoot);
  return loaded;
}

export function nativeAvailability(): NativeAvailability {
  const l = loadOnce();
  return l.addon ? { available: true } : { available: false, reason: l.reason };
}

/** The addon, or an Error carrying the reason it is unavailable. */
export function requireAddon(): NativeAddon {
  const l = loadOnce();
  if (!l.addon) throw new Error(`native backend unavailable: ${l.reason}`);
  return l.addon;
}
