// A setup file of the lane (vitest.hil.config.ts): every file runs in one
// process there, so one that leaves pages pinned (a container or IOAS it kept
// open) changes what the files after it count, and crash.test's exact pin
// count once failed on a baseline it did not own. After each file, with the
// heap collected (the addon's finalizers close what a file dropped unclosed),
// the guest's pins must be back where they were before the file. Only in the
// lane VM: on a real host (--host) other processes pin pages too.
import { afterAll, beforeAll, expect } from 'vitest';
import { inLaneVm } from './lane.js';
import { pinsHeld } from './pins.js';

let before = 0;

beforeAll(() => {
  if (inLaneVm) before = pinsHeld();
});

// vitest hands a hook its fixtures first (destructured) and the file's suite second.
afterAll(async ({}, suite) => {
  if (!inLaneVm) return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((resolve) => setImmediate(resolve)); // finalizers run after the collection
  const now = pinsHeld();
  const file = (suite as { filepath?: string }).filepath ?? suite.name;
  if (now !== before) console.log(`[pins] ${file}: ${before} page pins held before the file, ${now} after`);
  expect(now, `page pins the file left held (${file})`).toBe(before);
});
