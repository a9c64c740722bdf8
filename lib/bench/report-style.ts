// How the report tells overlapping series apart: colour by the first varying
// dimension (the backing), marker shape and line dash by the second (the
// strategy), so two series never differ by colour alone. Known values keep
// one style across every chart of the page; unknown ones (a new suite's) take
// the next free one. Okabe-Ito colours: distinguishable with colour blindness.
import { SHAPES, type Shape } from './svg-chart.js';

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
export const DASHES = ['', '6 3', '2 2', '9 3 2 3', '1 3'];

const KNOWN: Record<string, number> = {
  '4k': 0, thp: 1, hugetlb: 2,
  'per-page': 0, coalesced: 1, kernel: 2, 'one-call': 1,
};

export interface SeriesStyle {
  color: string;
  shape: Shape;
  dash: string;
}

/** Index of a value in its dimension: the known one, else its rank among the unknown values seen. */
function indexer(values: string[]): (v: string) => number {
  const unknown = [...new Set(values.filter((v) => !(v in KNOWN)))];
  const base = Math.max(-1, ...values.filter((v) => v in KNOWN).map((v) => KNOWN[v]!)) + 1;
  return (v) => KNOWN[v] ?? base + unknown.indexOf(v);
}

/** Styles for series named by up to two dimension values each ([backing, strategy], [backing], []). */
export function styleSeries(keys: string[][]): SeriesStyle[] {
  const first = indexer(keys.map((k) => k[0] ?? ''));
  const second = indexer(keys.map((k) => k[1] ?? ''));
  return keys.map((k, i) => {
    const c = k.length ? first(k[0]!) : i;
    // With one dimension, shape and dash follow the colour: still two cues, not one.
    const s = k.length > 1 ? second(k[1]!) : c;
    return { color: PALETTE[c % PALETTE.length]!, shape: SHAPES[s % SHAPES.length]!, dash: DASHES[s % DASHES.length]! };
  });
}
