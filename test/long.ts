// The long campaigns (thousands of fuzz sequences, million-page plans, timing
// runs) run in full under `npm run test:long` (vitest.long.config.ts sets
// VFIO_TEST_LONG=1; CI and the HIL lane run it). `npm test`, a contributor's
// loop, runs a seeded sample of the same checks: the same code and the same
// assertions on fewer cases, so it still fails where the sample reaches.
export const LONG = process.env['VFIO_TEST_LONG'] === '1';

/** `full` under test:long, else `sample`. */
export function scaled(full: number, sample: number): number {
  return LONG ? full : sample;
}

/**
 * All of `items` under test:long, else `count` of them spread evenly across
 * the list (first and last included), so a sample still covers every kind of
 * case a list ordered by kind holds. Deterministic: the same sample each run.
 */
export function sampled<T>(items: readonly T[], count: number): T[] {
  if (LONG || count >= items.length) return [...items];
  if (count <= 1) return items.slice(0, count);
  const step = (items.length - 1) / (count - 1);
  return Array.from({ length: count }, (_, i) => items[Math.round(i * step)]!);
}

/** Suffix for test names: says what npm test leaves to test:long. */
export const IN_FULL = LONG ? '' : ' [sample; in full: npm run test:long]';
