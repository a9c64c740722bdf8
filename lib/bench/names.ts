// The benchmark's names for what it varies: the planner's strategies and the
// buffers' backings, in report order. A leaf: the report schema and the suites
// both read it, so neither needs the other for a name.
import type { Backing } from '../backend.js';

export type Strategy = 'per-page' | 'coalesced' | 'kernel';
export const STRATEGIES: readonly Strategy[] = ['per-page', 'coalesced', 'kernel'];
export const BACKINGS: readonly Backing[] = ['4k', 'thp', 'hugetlb'];
