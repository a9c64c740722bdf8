import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:long`: every file of `npm test`, with the long campaigns in
// full (test/long.ts reads VFIO_TEST_LONG): the 1,000-sequence fuzz, the
// 1M-page plans, the timing runs. CI runs this; `npm test` runs samples.
export default mergeConfig(base, defineConfig({
  test: {
    env: { VFIO_TEST_LONG: '1' },
    testTimeout: 120_000,
  },
}));
