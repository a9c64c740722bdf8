import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Run inside the HIL guest (or on a real VFIO host with --host): the same
// conformance suite as `npm test`, now against the native backend, plus the
// tests that only make sense on a real kernel.

/** test/hil/device-removal unplugs the hot-plug edu for the rest of the boot: it runs last. */
class DeviceRemovalLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = (f: TestSpecification) => f.moduleId.endsWith('/test/hil/device-removal.test.ts');
    return [...sorted.filter((f) => !last(f)), ...sorted.filter(last)];
  }
}

export default defineConfig({
  cacheDir: process.env.VFIO_HIL_CACHE ?? 'node_modules/.vite-hil',
  test: {
    pool: 'forks',
    include: ['test/{hil,conformance,native,reliability}/**/*.test.ts'],
    // What needs no kernel: the simulator's and the planner's own suites (pure
    // JS; npm test runs them on the host, and under TCG they cost a boot ~1 min).
    exclude: [...configDefaults.exclude,
      'test/conformance/{sim,irq-sim,iommufd-sim,hwpt-dirty-sim}.test.ts',
      'test/reliability/{bad-input.sim,bad-input.planner,fuzz-selftest}.test.ts',
      'test/reliability/fuzz/fd-selftest.test.ts'],
    // After each file, the guest's page pins are back where they were (a file
    // that keeps a mapping open would change what the later ones count).
    setupFiles: ['test/hil/pins-per-file.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // Under TCG a fork per file cost ~5 s (a Node start, vitest and lib/
    // imported again): ~40% of a boot's wall time over 60 files. One process
    // runs them all, as `npm test` does (vitest.config.ts says what that asks
    // of a test); a file that leaves a group, a mapping or an eventfd behind
    // then fails a later one, which the lane wants to know anyway. The benches
    // that time the event loop in this process (the stall table of
    // plan-async) collect the heap before each phase (--expose-gc) so that
    // garbage other files left is not counted; the CLI benches run in a child.
    isolate: false,
    // Transformed modules kept on disk (node_modules/.experimental-vitest-cache),
    // filled by scripts/hil/run.sh on the host before the boot: under TCG the
    // guest's own transforms and imports cost a boot 1-3 minutes.
    experimental: { fsModuleCache: true },
    execArgv: ['--expose-gc'],
    sequence: { sequencer: DeviceRemovalLast },
    // The lane runs the long campaigns in full, as it always did (test/long.ts).
    env: { VFIO_TEST_LONG: '1' },
    reporters: ['default'],
  },
});
