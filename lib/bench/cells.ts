// A benchmark cell's result, built from its spec and samples (or the reason it
// was skipped), and the speed-ups between cells of one row.
import { cellId, type CellResult } from './schema.js';
import { PAGE } from './patterns.js';
import { summarize } from './stats.js';
import type { CellSpec } from './suites.js';

function baseCell(spec: CellSpec): Omit<CellResult, 'entries' | 'samples' | 'min' | 'median' | 'p99' | 'mean' | 'nsPerPage' | 'jsSamples' | 'jsMedian'> {
  return {
    id: cellId(spec),
    suite: spec.suite,
    op: spec.op,
    pattern: spec.pattern,
    size: Number(spec.size),
    pages: Number(spec.size / PAGE),
    backing: spec.backing,
    strategy: spec.strategy,
    speedup: null,
  };
}

export function emptyCell(spec: CellSpec, reason: string): CellResult {
  return {
    ...baseCell(spec), entries: 0, samples: [], min: NaN, median: NaN, p99: NaN, mean: NaN, nsPerPage: NaN,
    jsSamples: [], jsMedian: NaN, skipped: reason,
  };
}

/** How the samples were taken, and the same ioctls driven one call from JS at a time. */
export interface LoopTimes {
  timing: 'native-loop' | 'js-loop';
  jsLoopSamples: number[];
  /** The ioctl times were measured (not a cost model's): jsOverInside compares like with like. */
  measured: boolean;
}

/** The median of a[i] / b[i]: each JS call against the ioctl time inside that same call. */
function pairedRatio(a: number[], b: number[]): number | undefined {
  if (a.length === 0 || a.length !== b.length || b.some((x) => !(x > 0))) return undefined;
  return summarize(a.map((x, i) => x / (b[i] as number))).median;
}

export function fullCell(spec: CellSpec, entries: number, samples: number[], jsSamples: number[], bytes: number, loop?: LoopTimes): CellResult {
  const s = summarize(samples);
  const jsOverInside = loop?.measured ? pairedRatio(jsSamples, loop.jsLoopSamples) : undefined;
  return {
    ...baseCell(spec),
    // Patterns that skip pages (strided, scatter, vm-map) cover fewer pages than the region.
    pages: bytes / 4096,
    entries,
    samples,
    min: s.min,
    median: s.median,
    p99: s.p99,
    mean: s.mean,
    nsPerPage: s.median / (bytes / 4096),
    jsSamples,
    jsMedian: summarize(jsSamples).median,
    ...(loop ? { timing: loop.timing, jsLoopSamples: loop.jsLoopSamples, jsLoopMedian: summarize(loop.jsLoopSamples).median } : {}),
    ...(jsOverInside !== undefined ? { jsOverInside } : {}),
  };
}

/** speed-up = the per-page cell's median over this cell's, within the same suite/op/pattern/size/backing. */
export function fillSpeedups(cells: CellResult[]): void {
  const base = new Map<string, number>();
  const key = (c: CellResult) => [c.interface ?? 'type1', c.suite, c.op, c.pattern, c.size, c.backing].join('/');
  for (const c of cells) if (c.strategy === 'per-page' && !c.skipped) base.set(key(c), c.median);
  for (const c of cells) {
    const b = base.get(key(c));
    c.speedup = c.strategy !== null && !c.skipped && b !== undefined && c.median > 0 ? b / c.median : null;
  }
}
