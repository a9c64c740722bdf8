// Table-driven bad-input tests: each case is a call that must fail cleanly,
// with one of the error classes the API promises (TypeError for wrong types,
// RangeError for values that do not fit, VfioError with a given code for what
// the kernel refuses). Anything else, including success, fails the table.
import { expect } from 'vitest';
import { VfioError } from '../../../lib/errors.js';

/** 'TypeError', 'RangeError', 'VfioError' (any code) or 'VfioError:EINVAL' (that code). */
export type Expected = 'TypeError' | 'RangeError' | 'VfioError' | `VfioError:${string}`;

export interface Case {
  name: string;
  call: () => unknown;
  /** Accepted outcomes; the first is the one the API documents. */
  expect: Expected | Expected[];
  /** A known, reported divergence of one backend (notes/*-bugs.md id): logged, not asserted, for that backend. */
  known?: { backend: string; bug: string };
}

export function outcomeOf(call: () => unknown): string {
  try {
    call();
    return 'returned';
  } catch (err) {
    if (err instanceof VfioError) return `VfioError:${err.code}`;
    if (err instanceof TypeError) return 'TypeError';
    if (err instanceof RangeError) return 'RangeError';
    return `other ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }
}

function accepts(expected: Expected, got: string): boolean {
  return expected === 'VfioError' ? got.startsWith('VfioError:') : got === expected;
}

/**
 * Runs every case, prints how many ran, and asserts them all at once (so one
 * report lists every failure). Returns the number of cases.
 */
/** Cases run so far in this process, per backend label. */
export const casesRun = new Map<string, number>();

export function runTable(label: string, backend: string, cases: Case[]): number {
  casesRun.set(backend, (casesRun.get(backend) ?? 0) + cases.length);
  const failures: string[] = [];
  const known: string[] = [];
  for (const c of cases) {
    const got = outcomeOf(c.call);
    const want = Array.isArray(c.expect) ? c.expect : [c.expect];
    if (want.some((w) => accepts(w, got))) continue;
    const line = `${c.name}: expected ${want.join(' or ')}, got ${got}`;
    if (c.known && c.known.backend === backend) known.push(`${line} (known: ${c.known.bug})`);
    else failures.push(line);
  }
  console.log(`[bad-input] ${label} (${backend}): ${cases.length} cases, ${failures.length} failed`
    + `${known.length ? `, ${known.length} known divergence(s):\n  ${known.join('\n  ')}` : ''}`);
  expect(failures).toEqual([]);
  return cases.length;
}

const U64 = 1n << 64n;

/** Wrong types for an argument that must be a bigint. */
export const NOT_BIGINT: ReadonlyArray<[string, unknown]> = [
  ['undefined', undefined], ['null', null], ['a number', 4096], ['a string', '4096'], ['a float', 1.5],
  ['an object', {}], ['an array', [4096n]], ['a boolean', true], ['NaN', Number.NaN],
];
/** bigints that do not fit in a u64. */
export const NOT_U64: ReadonlyArray<[string, bigint]> = [
  ['-1', -1n], ['-2^64', -U64], ['2^64', U64], ['2^64 + 4096', U64 + 4096n], ['2^100', 1n << 100n],
];
/** Wrong types for an argument that must be an integer Number. */
export const NOT_INTEGER: ReadonlyArray<[string, unknown]> = [
  ['undefined', undefined], ['null', null], ['a string', '1'], ['a bigint', 1n], ['an object', {}],
];
/** Numbers that are not usable integers: TypeError or RangeError both say so clearly. */
export const BAD_NUMBERS: ReadonlyArray<[string, number]> = [
  ['-1', -1], ['1.5', 1.5], ['NaN', Number.NaN], ['Infinity', Number.POSITIVE_INFINITY], ['2^32', 2 ** 32], ['2^53', 2 ** 53],
];
