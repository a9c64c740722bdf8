// --suite kernel-pin off the HIL lane: parsing, and the report on machines
// without the kernel path, which must say "unavailable" and why, never a figure.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatKernelPin, runKernelPin } from '../../lib/bench/kernel-pin.js';
import { parseCli, parseSuites, wantsKernelPin } from '../../lib/cli/args.js';
import { NativeBackend, nativeAvailability } from '../../lib/native/index.js';
import { nativeKernelPinner } from '../../lib/native/kernel-pin.js';
import { SimBackend } from '../../lib/sim/index.js';

describe('bench --suite kernel-pin', () => {
  it('is a suite name of its own: alone it runs no cell grid, with others it rides along, all includes it', () => {
    expect(parseCli(['bench', '--suite', 'kernel-pin'])).toMatchObject({ suites: [], kernelPin: true });
    expect(parseCli(['bench', '--suite', 'matrix,kernel-pin'])).toMatchObject({ suites: ['matrix'], kernelPin: true });
    expect(parseCli(['bench'])).toMatchObject({ suites: ['matrix'], kernelPin: false });
    expect(wantsKernelPin('all')).toBe(true);
    expect(() => parseSuites('kernel-pins')).toThrow(/kernel-pin, overhead, irq, all/);
  });

  it('is never simulated: with the sim backend it says unavailable and why', () => {
    const r = runKernelPin({ reps: 3, warmup: 0, backend: new SimBackend(), pinner: nativeKernelPinner });
    expect(r).toMatchObject({ available: false, cells: [] });
    expect(r.reason).toMatch(/never simulated/);
    expect(formatKernelPin(r)).toMatch(/\n {2}unavailable: needs the native backend/);
  });

  it.skipIf(!nativeAvailability().available || existsSync('/dev/iommu'))(
    'on a kernel without /dev/iommu it names the missing piece',
    () => {
      const r = runKernelPin({ reps: 3, warmup: 0, backend: new NativeBackend(), pinner: nativeKernelPinner });
      expect(r.available).toBe(false);
      expect(r.reason).toMatch(/no \/dev\/iommu/);
      expect(formatKernelPin(r)).not.toMatch(/\d,\d{3}/);
    },
  );
});
