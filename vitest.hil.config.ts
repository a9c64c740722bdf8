import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Run inside the HIL guest (or on a real VFIO host with --host): the same
// conformance suite as `npm test`, now against the native backend, plus the
// tests that only make sense on a real kernel.

// The files that time the event loop or the kernel path (stall tables,
// interrupt latency, the bench): each in a fresh process, so no heap or
// modules another file left behind (a major GC is 65-175 ms under TCG)
// lands in their figures.
const TIMED = ['test/hil/plan-async.test.ts', 'test/hil/bench-irq.test.ts', 'test/hil/cli-bench.test.ts', 'test/hil/bench-iommufd.test.ts'];

/** test/hil/device-removal unplugs the hot-plug edu for the rest of the boot: it runs last. */
class DeviceRemovalLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = (f: TestSpecification) => f.moduleId.endsWith('/test/hil/device-removal.test.ts');
    return [...sorted.filter((f) => !last(f)), ...sorted.filter(last)];
  }
}

const shared = {
  pool: 'forks' as const,
  testTimeout: 120_000,
  hookTimeout: 120_000,
  // The lane runs the long campaigns in full, as it always did (test/long.ts).
  env: { VFIO_TEST_LONG: '1' },
};

export default defineConfig({
  cacheDir: process.env.VFIO_HIL_CACHE ?? 'node_modules/.vite-hil',
  test: {
    fileParallelism: false,
    reporters: ['default'],
    sequence: { sequencer: DeviceRemovalLast },
    projects: [
      {
        test: {
          ...shared,
          name: 'hil',
          include: ['test/{hil,conformance,native,reliability}/**/*.test.ts'],
          exclude: TIMED,
          // Under TCG a fork per file cost ~5 s (a Node start, vitest and lib/
          // imported again): ~40% of a boot's wall time over 60 files. One
          // process runs them all, as `npm test` does (vitest.config.ts says
          // what that asks of a test); a file that leaves a group, a mapping
          // or an eventfd behind then fails the next one, which the lane wants
          // to know anyway.
          isolate: false,
        },
      },
      { test: { ...shared, name: 'hil-timed', include: TIMED } },
    ],
  },
});
