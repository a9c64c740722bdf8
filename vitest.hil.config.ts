import { defineConfig } from 'vitest/config';

// Run inside the HIL guest (or on a real VFIO host with --host): the same
// conformance suite as `npm test`, now against the native backend, plus the
// tests that only make sense on a real kernel.
export default defineConfig({
  cacheDir: process.env.VFIO_HIL_CACHE ?? 'node_modules/.vite-hil',
  test: {
    pool: 'forks',
    include: ['test/{hil,conformance,native,reliability}/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The lane runs the long campaigns in full, as it always did (test/long.ts).
    env: { VFIO_TEST_LONG: '1' },
    reporters: ['default'],
  },
});
