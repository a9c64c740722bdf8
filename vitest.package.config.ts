import { defineConfig } from 'vitest/config';

// npm run test:package: the package as a consumer gets it. The global setup
// packs this checkout once (npm pack, which runs prepare); the tests install
// that tarball into scratch consumer projects. Not in `npm test`: it installs
// from the npm registry (cache first) and takes a minute or two.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/package/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
