// What a conformance test opened, closed after it whatever happened: newest
// first; a buffer still mapped refuses to close until its container has gone,
// so whatever failed gets a second try at the end.
import { afterEach } from 'vitest';

export interface Cleanups {
  /** Run after the test, newest first. */
  cleanups: Array<() => void>;
  /** Closes x after the test; returns it. */
  track<T extends { close(): void }>(x: T): T;
}

export function closeAfterEach(): Cleanups {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    const retry: Array<() => void> = [];
    while (cleanups.length) {
      const fn = cleanups.pop()!;
      try {
        fn();
      } catch {
        retry.push(fn);
      }
    }
    for (const fn of retry) {
      try {
        fn();
      } catch {
        /* the backend says why in its own tests */
      }
    }
  });
  return {
    cleanups,
    track(x) {
      cleanups.push(() => x.close());
      return x;
    },
  };
}
