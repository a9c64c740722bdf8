// allocBuffer's size rounding is said out loud (a Node warning), once per
// request shape; exact page multiples stay silent. The warning is remembered
// per process and forks are shared between files (vitest.config.ts): the
// sizes here are used by no other test.
import { afterEach, describe, expect, it } from 'vitest';
import { SZ_2M, SZ_4K } from '../../lib/backend.js';
import { checkBufferOptions, SIZE_ROUNDED_WARNING } from '../../lib/buffer-options.js';
import { SimBackend } from '../../lib/sim/index.js';

function captureWarnings(): { list: Error[]; stop(): void } {
  const list: Error[] = [];
  const on = (w: Error) => list.push(w);
  process.on('warning', on);
  return { list, stop: () => process.off('warning', on) };
}

// emitWarning delivers on the next tick.
const tick = () => new Promise((r) => setImmediate(r));

describe('allocBuffer size rounding', () => {
  let cap: ReturnType<typeof captureWarnings> | null = null;
  afterEach(() => cap?.stop());

  it('warns that 1000 bytes became a 4 KiB page, naming both sizes', async () => {
    cap = captureWarnings();
    const buf = new SimBackend().allocBuffer({ size: 1000, backing: '4k' });
    expect(buf.size).toBe(SZ_4K);
    await tick();
    const w = cap.list.filter((e) => (e as Error & { code?: string }).code === SIZE_ROUNDED_WARNING);
    expect(w).toHaveLength(1);
    expect(w[0]!.name).toBe('VfioWarning');
    expect(w[0]!.message).toMatch(/size 1000 rounded up to 4096 bytes/);
  });

  it('says it once per size and backing, not on every call', async () => {
    cap = captureWarnings();
    for (let i = 0; i < 5; i++) checkBufferOptions({ size: 5003n, backing: 'thp' });
    checkBufferOptions({ size: 5003n, backing: '4k' });
    await tick();
    const msgs = cap.list.map((e) => e.message);
    expect(msgs.filter((m) => m.includes(`size 5003 rounded up to ${SZ_2M}`))).toHaveLength(1);
    expect(msgs.filter((m) => m.includes('size 5003 rounded up to 8192'))).toHaveLength(1);
  });

  it('stays silent for whole pages', async () => {
    cap = captureWarnings();
    checkBufferOptions({ size: 3n * SZ_4K, backing: '4k' });
    checkBufferOptions({ size: SZ_2M, backing: 'thp' });
    await tick();
    expect(cap.list.filter((e) => (e as Error & { code?: string }).code === SIZE_ROUNDED_WARNING)).toEqual([]);
  });
});
