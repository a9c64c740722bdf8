// The backend under test in the lane: the real one. Loaded lazily so that the
// files still collect (and skip visibly) where the addon cannot load.
import type { Backend } from '../../lib/backend.js';

export async function nativeBackend(): Promise<Backend> {
  // A variable specifier until lib/native lands, so this compiles without it.
  const spec = '../../lib/native/index.js';
  const mod = (await import(/* @vite-ignore */ spec)) as Record<string, unknown>;
  for (const value of Object.values(mod)) {
    if (typeof value === 'function' && 'prototype' in value && typeof value.prototype?.openContainer === 'function') {
      return new (value as new () => Backend)();
    }
  }
  throw new Error(`lib/native exports no Backend (exports: ${Object.keys(mod).join(', ')})`);
}
