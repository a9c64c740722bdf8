import { defineConfig } from 'vitest/config';

// Native addons and worker threads mix badly: every test file runs in a forked
// child process instead. The HIL lane (test/hil, real kernel) has its own config.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/{unit,conformance,native,reliability}/**/*.test.ts'],
    testTimeout: 20_000,
    reporters: ['default'],
  },
});
