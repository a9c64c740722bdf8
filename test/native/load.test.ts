// Loading never throws at import; what is unavailable says why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NativeBackend, nativeAvailability, nativeUapiVersion } from '../../lib/native/index.js';
import { loadAddon } from '../../lib/native/load.js';

describe('loading the addon', () => {
  it('is available here (the build or the prebuild is present)', () => {
    expect(nativeAvailability()).toEqual({ available: true });
    const b = new NativeBackend();
    expect(b.name).toBe('native');
    expect(b.simulated).toBe(false);
    expect(nativeUapiVersion()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('off Linux it is unavailable, with the reason', () => {
    const r = loadAddon('/nonexistent', 'darwin');
    expect(r.addon).toBeNull();
    expect('reason' in r && r.reason).toMatch(/Linux-only.*darwin/);
  });

  it('without a binary it is unavailable, with the reason, and does not throw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfio-noaddon-'));
    try {
      const r = loadAddon(dir);
      expect(r.addon).toBeNull();
      expect('reason' in r && r.reason).toMatch(/failed to load.*apt-get install g\+\+ make python3.*npm rebuild node-vfio$/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
