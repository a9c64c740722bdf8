import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Native addons and worker threads mix badly: every test file runs in a forked
// child process instead. The HIL lane (test/hil, real kernel) has its own config.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/{unit,conformance,native,reliability}/**/*.test.ts'],
    testTimeout: 20_000,
    reporters: ['default'],
    // Vitest's default is one worker less than the CPUs: one on a 2-core
    // machine, where every file then waits for the one before. The files are
    // mostly CPU-bound and independent (scratch dirs are per process), so
    // use every core.
    maxWorkers: availableParallelism(),
    // A fork per file costs a Node start and a fresh import of vitest and lib/
    // (~0.3 s of CPU each, 50+ files); reusing forks saves ~15 s of CPU per
    // run. Files in one fork share module instances, so a test must not rely
    // on module state another file may have left (state is per object, and
    // the one per-process memo, allocBuffer's rounding warning, is tested
    // with sizes no other file uses).
    isolate: false,
  },
});
