import { defineConfig } from 'vitest/config';

// `npm run test:report`: the HTML report rendered by a real browser (Debian's
// chromium, driven by playwright-core; scripts/ensure-chromium.sh installs it).
// Kept out of `npm test`, which checks the same page with a strict parse.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/report/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
