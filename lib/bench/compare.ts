// The CI gate: compare this run with a saved --json baseline, cell by cell
// (matched by id), on medians. A cell regresses when its median grew by more
// than the allowed fraction AND by more than an absolute floor: on a 1-page
// cell a few tens of ns are timer and cache noise, not a regression.
import { BENCH_SCHEMA, type BenchReport } from './schema.js';
import { formatSize } from './suites.js';
import { ns, renderTable } from './text-table.js';

export interface CompareOptions {
  /** Allowed growth of the median, as a fraction (0.1 = 10%). */
  maxRegression: number;
  /** Growth below this many ns never counts. */
  minDeltaNs: number;
}

export const DEFAULT_MIN_DELTA_NS = 25;

export type CellStatus = 'regressed' | 'improved' | 'unchanged' | 'missing' | 'new' | 'skipped';

export interface CellComparison {
  id: string;
  label: string;
  baseline: number | null;
  current: number | null;
  /** current / baseline medians. */
  ratio: number | null;
  status: CellStatus;
}

export interface Comparison {
  cells: CellComparison[];
  regressions: CellComparison[];
  warnings: string[];
}

/** A baseline the gate cannot use: wrong file, wrong schema, or not comparable. Maps to exit code 2. */
export class BaselineError extends Error {
  override readonly name = 'BaselineError';
}

/** "10%", "10" (percent) or "0.1%"; returns a fraction. */
export function parseThreshold(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  if (!m) throw new RangeError(`--max-regression wants a percentage such as 10%, got ${JSON.stringify(text)}`);
  return Number(m[1]) / 100;
}

export function parseBaseline(text: string, source = 'baseline'): BenchReport {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new BaselineError(`${source}: not JSON (${(err as Error).message})`);
  }
  const r = data as Partial<BenchReport> | null;
  if (!r || typeof r !== 'object' || r.schema !== BENCH_SCHEMA) {
    throw new BaselineError(`${source}: schema is ${JSON.stringify(r?.schema)}, expected ${BENCH_SCHEMA} (written by vfio bench --json)`);
  }
  if (!Array.isArray(r.cells)) throw new BaselineError(`${source}: no cells array`);
  return r as BenchReport;
}

function label(c: { suite: string; pattern: string; size: number; backing: string; strategy: string | null; op: string }): string {
  return `${c.suite} ${c.op} ${c.pattern} ${formatSize(c.size)} ${c.backing} ${c.strategy ?? ''}`.trim();
}

const usable = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

export function compareReports(baseline: BenchReport, current: BenchReport, opts: CompareOptions): Comparison {
  if (baseline.simulated !== current.simulated) {
    throw new BaselineError(`baseline is ${baseline.simulated ? 'simulated' : 'from a real kernel'}, this run is `
      + `${current.simulated ? 'simulated' : 'from a real kernel'}: the figures are not comparable`);
  }
  const warnings: string[] = [];
  if (baseline.kernel !== current.kernel) warnings.push(`kernel differs: baseline ${baseline.kernel}, now ${current.kernel}`);
  if (baseline.host?.hostname !== current.host.hostname) warnings.push(`host differs: baseline ${baseline.host?.hostname}, now ${current.host.hostname}`);
  // Another IOMMU maps with other page sizes: the same cell may take other entries. Said, not refused (a host's driver is what it is).
  if (baseline.iommu && current.iommu && baseline.iommu.name !== current.iommu.name) {
    warnings.push(`IOMMU differs: baseline ${baseline.iommu.name}, now ${current.iommu.name}`);
  }
  if (current.options.reps < 5) warnings.push(`only ${current.options.reps} repetitions: medians of so few samples are noisy (use --reps 20 or more)`);

  const base = new Map(baseline.cells.map((c) => [c.id, c]));
  const seen = new Set<string>();
  const cells: CellComparison[] = [];
  for (const c of current.cells) {
    seen.add(c.id);
    const b = base.get(c.id);
    const entry: CellComparison = { id: c.id, label: label(c), baseline: b?.median ?? null, current: c.median, ratio: null, status: 'new' };
    if (!b) {
      cells.push(entry);
      continue;
    }
    if (!usable(b.median) || !usable(c.median)) {
      cells.push({ ...entry, current: usable(c.median) ? c.median : null, baseline: usable(b.median) ? b.median : null, status: 'skipped' });
      continue;
    }
    const ratio = c.median / b.median;
    const delta = c.median - b.median;
    const status: CellStatus = ratio > 1 + opts.maxRegression && delta > opts.minDeltaNs
      ? 'regressed'
      : ratio < 1 - opts.maxRegression && -delta > opts.minDeltaNs ? 'improved' : 'unchanged';
    cells.push({ ...entry, ratio, status });
  }
  for (const b of baseline.cells) {
    if (!seen.has(b.id)) cells.push({ id: b.id, label: label(b), baseline: b.median, current: null, ratio: null, status: 'missing' });
  }
  const missing = cells.filter((c) => c.status === 'missing').length;
  if (missing) warnings.push(`${missing} baseline cell(s) not in this run (different --suite?)`);
  return { cells, regressions: cells.filter((c) => c.status === 'regressed'), warnings };
}

export function formatComparison(cmp: Comparison, opts: CompareOptions): string {
  const pct = (r: number | null) => (r === null ? '-' : `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`);
  const shown = cmp.cells.filter((c) => c.status !== 'new');
  const table = renderTable(
    ['cell', 'baseline median', 'median', 'change', 'verdict'],
    shown.map((c) => [c.label, ns(c.baseline), ns(c.current), pct(c.ratio), c.status]),
    ['l', 'r', 'r', 'r', 'l'],
  );
  const verdict = cmp.regressions.length
    ? `REGRESSION: ${cmp.regressions.length} cell(s) slower than the baseline by more than `
      + `${(opts.maxRegression * 100).toFixed(1)}% (and ${opts.minDeltaNs} ns):\n${cmp.regressions.map((c) => `  - ${c.label}: ${ns(c.baseline)} -> ${ns(c.current)} ns (${pct(c.ratio)})`).join('\n')}`
    : `no regression beyond ${(opts.maxRegression * 100).toFixed(1)}% (medians compared)`;
  const warn = cmp.warnings.map((w) => `warning: ${w}`).join('\n');
  return `Comparison with the baseline\n${table}\n${warn ? `${warn}\n` : ''}${verdict}\n`;
}
