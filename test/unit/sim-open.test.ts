// openBackend: which backend, and the reason it gives.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { openBackend, type NativeModule, type OpenDeps } from '../../lib/open.js';
import { SimBackend } from '../../lib/sim/index.js';

class FakeNative {
  readonly name = 'native' as const;
  readonly simulated = false;
}

function nativeModule(available: boolean, reason?: string, node: string | null = null): OpenDeps {
  const native: NativeModule = {
    nativeAvailability: () => (reason === undefined ? { available } : { available, reason }),
    NativeBackend: FakeNative as unknown as new () => Backend,
  };
  return { native, containerNode: () => node };
}

describe('openBackend', () => {
  it('gives the sim when asked, with its options', () => {
    const r = openBackend({ backend: 'sim', sim: { dmaEntryLimit: 7 } }, nativeModule(true));
    expect(r.backend).toBeInstanceOf(SimBackend);
    expect((r.backend as SimBackend).options.dmaEntryLimit).toBe(7);
    expect(r.reason).toBe('sim: requested');
  });

  it('auto: native when /dev/vfio/vfio is usable, else the sim with the reason', () => {
    const yes = openBackend({ backend: 'auto' }, nativeModule(true));
    expect(yes.backend).toBeInstanceOf(FakeNative);
    expect(yes.reason).toMatch(/^native:/);
    const no = openBackend({ backend: 'auto' }, nativeModule(false, 'no /dev/vfio/vfio'));
    expect(no.backend).toBeInstanceOf(SimBackend);
    expect(no.reason).toBe('sim: native backend unavailable (no /dev/vfio/vfio)');
  });

  it('auto: falls back when the native module is missing or its check throws', () => {
    expect(openBackend({ backend: 'auto' }, { native: null }).reason).toMatch(/^sim: native backend unavailable \(native module not loaded/);
    const broken: NativeModule = {
      nativeAvailability: () => { throw new Error('addon ABI mismatch'); },
      NativeBackend: FakeNative as unknown as new () => Backend,
    };
    expect(openBackend({ backend: 'auto' }, { native: broken }).reason).toMatch(/addon ABI mismatch/);
  });

  it('auto: an addon that loads is not enough without a usable /dev/vfio/vfio', () => {
    const r = openBackend({ backend: 'auto' }, nativeModule(true, undefined, 'vfio not loaded: no /dev/vfio/vfio'));
    expect(r.backend).toBeInstanceOf(SimBackend);
    expect(r.reason).toBe('sim: native backend unavailable (vfio not loaded: no /dev/vfio/vfio)');
  });

  it('native: refuses with ENODEV and the reason when it cannot be used', () => {
    expect(() => openBackend({ backend: 'native' }, nativeModule(false, 'vfio not loaded'))).toThrow(VfioError);
    expect(() => openBackend({ backend: 'native' }, nativeModule(false, 'vfio not loaded'))).toThrow(/vfio not loaded/);
    expect(openBackend({ backend: 'native' }, nativeModule(true)).reason).toBe('native: requested');
  });

  it('rejects an unknown choice', () => {
    expect(() => openBackend({ backend: 'fast' as never })).toThrow(TypeError);
  });

  it('loads without crashing on this machine and picks something for auto', () => {
    const r = openBackend({ backend: 'auto' });
    expect(['native', 'sim']).toContain(r.backend.name);
    expect(r.reason).toMatch(new RegExp(`^${r.backend.name}:`));
  });
});
