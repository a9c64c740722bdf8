// What the report shows for each suite: one table with a row per cell and the
// charts of its cells. Nothing here is specific to a suite but titles, axis
// words and which figures to chart: a suite this file has never heard of (the
// next one) gets a table and a chart from whatever its cells vary in. The
// suites outside the cells (kernel pin path, overhead, irq) have views of their own.
import { iommuTag, type BenchReport, type CellResult } from './schema.js';
import { irqView } from './report-irq.js';
import { KERNEL_THREAD_LABEL, threadFigure } from './kernel-thread.js';
import { formatSize } from './suites.js';
import { styleSeries } from './report-style.js';
import type { SuiteView, TableRow, TableSpec } from './report-table.js';
import type { ChartSpec, DotSeries } from './svg-chart.js';
import { ns, nsFine, ratio } from './text-table.js';
import { OVERHEAD_FIGURE_HEADERS, OVERHEAD_TARGET_HEADERS, figureRows, overheadNote, overheadTitle, targetRows } from './overhead-format.js';

/** A figure a chart can plot; the tests recompute it from the JSON by the same name. */
export type Metric = 'median' | 'nsPerPage' | 'jsPerPage';
const METRIC: Record<Metric, (c: CellResult) => number | null> = {
  median: (c) => c.median,
  nsPerPage: (c) => c.nsPerPage,
  jsPerPage: (c) => (c.jsMedian === null || c.pages === null ? null : c.jsMedian / c.pages),
};

interface ChartPlan { metric: Metric; yLabel: string; title: string }
interface SuitePlan { title: string; charts: ChartPlan[]; link?: boolean }

const PLANS: Record<string, SuitePlan> = {
  matrix: {
    title: 'Map cost: the kernel thread\'s matrix',
    charts: [{ metric: 'median', title: 'Map cost by region size', yLabel: 'median ns per map of the whole region' }],
  },
  scaling: {
    title: 'Scaling: region size from 1 page to 1 GiB (contiguous)',
    link: true,
    charts: [
      { metric: 'nsPerPage', title: 'Time per page vs region size, plan executor', yLabel: 'median ns per 4 KiB page' },
      { metric: 'jsPerPage', title: 'Time per page vs region size, end-to-end from JS', yLabel: 'JS median ns per 4 KiB page' },
    ],
  },
  patterns: {
    title: 'Realistic patterns (64 MiB region)',
    charts: [{ metric: 'median', title: 'Map cost by request pattern', yLabel: 'median ns per map of the region' }],
  },
  unmap: {
    title: 'Unmap cost',
    charts: [{ metric: 'median', title: 'Unmap cost by region size', yLabel: 'median ns per unmap of the whole region' }],
  },
  dirty: {
    title: 'Dirty-bitmap read cost (GET_BITMAP, whole region, 4 KiB granularity; timed from JS)',
    charts: [{ metric: 'median', title: 'Dirty-bitmap read cost by region size', yLabel: 'median ns per GET_BITMAP' }],
  },
};

function genericPlan(suite: string): SuitePlan {
  return { title: `Suite "${suite}"`, charts: [{ metric: 'median', title: `${suite}: median by cell`, yLabel: 'median ns' }] };
}

/** The ways cells of a suite can differ, in the order categories and table columns use them. */
interface Dim { name: string; head: string; raw: (c: CellResult) => string | number; label: (c: CellResult) => string }
const DIMS: Dim[] = [
  { name: 'interface', head: 'interface', raw: (c) => c.interface ?? 'type1', label: (c) => c.interface ?? 'type1' },
  { name: 'op', head: 'op', raw: (c) => c.op, label: (c) => c.op },
  { name: 'size', head: 'size', raw: (c) => c.size, label: (c) => formatSize(c.size) },
  { name: 'pattern', head: 'pattern', raw: (c) => c.pattern, label: (c) => c.pattern },
  { name: 'backing', head: 'backing', raw: (c) => c.backing, label: (c) => c.backing },
  { name: 'strategy', head: 'strategy', raw: (c) => c.strategy ?? '-', label: (c) => c.strategy ?? '-' },
];
const SERIES_DIMS = ['backing', 'strategy'];

function varying(cells: CellResult[]): Dim[] {
  return DIMS.filter((d) => new Set(cells.map(d.raw)).size > 1);
}

/** Categories in measurement order, sizes numerically: a chart reads left to right as the table does. */
function categorize(cells: CellResult[], dims: Dim[]): { labels: string[]; of: (c: CellResult) => number } {
  const key = (c: CellResult) => dims.map((d) => String(d.raw(c))).join('\u0000');
  const first = new Map<string, CellResult>();
  for (const c of cells) if (!first.has(key(c))) first.set(key(c), c);
  const seen = dims.map((d) => [...new Set(cells.map((c) => String(d.raw(c))))]);
  const cmp = (a: CellResult, b: CellResult) => {
    for (const [i, d] of dims.entries()) {
      const x = d.raw(a);
      const y = d.raw(b);
      const diff = typeof x === 'number' && typeof y === 'number' ? x - y : seen[i]!.indexOf(String(x)) - seen[i]!.indexOf(String(y));
      if (diff !== 0) return diff;
    }
    return 0;
  };
  const reps = [...first.values()].sort(cmp);
  const index = new Map(reps.map((c, i) => [key(c), i]));
  return { labels: reps.map((c) => dims.map((d) => d.label(c)).join(' · ') || c.suite), of: (c) => index.get(key(c))! };
}

/** Links are honest only along a sweep where neighbouring categories are neighbouring sizes (x2). */
function isDoublingSweep(cells: CellResult[], dims: Dim[]): boolean {
  if (dims.length !== 1 || dims[0]!.name !== 'size') return false;
  const sizes = [...new Set(cells.map((c) => c.size))].sort((a, b) => a - b);
  return sizes.every((s, i) => i === 0 || s === sizes[i - 1]! * 2);
}

function cellCharts(suite: string, cells: CellResult[], plan: SuitePlan): ChartSpec[] {
  const vary = varying(cells);
  const seriesDims = vary.filter((d) => SERIES_DIMS.includes(d.name));
  const catDims = vary.filter((d) => !SERIES_DIMS.includes(d.name));
  const cats = categorize(cells, catDims);
  const seriesKey = (c: CellResult) => seriesDims.map((d) => d.label(c));
  const names = [...new Set(cells.map((c) => seriesKey(c).join(' ')))];
  const keys = names.map((n) => seriesKey(cells.find((c) => seriesKey(c).join(' ') === n)!));
  const styles = styleSeries(keys);
  const link = Boolean(plan.link) && isDoublingSweep(cells, catDims);
  const xLabel = catDims.map((d) => d.head).join(' · ') || suite;
  const [d1, d2] = seriesDims;
  const encoding = !d1 ? ''
    : d2 ? `colour and order within each slot: ${d1.head}; marker shape${plan.link ? ' and line dash' : ''}: ${d2.head}`
    : `colour, marker shape${plan.link ? ', line dash' : ''} and order within each slot: ${d1.head}`;
  return plan.charts.map((cp, k) => {
    const series: DotSeries[] = names.map((name, i) => ({
      name: name || suite, ...styles[i]!,
      // Skipped cells stay in as points without a value: not drawn, but counted in the caption.
      points: cells.filter((c) => seriesKey(c).join(' ') === name)
        .map((c) => ({ id: c.id, category: cats.of(c), value: (c.skipped ? null : METRIC[cp.metric](c)) ?? NaN })),
    }));
    return { id: `chart-${suite}-${k}`, title: cp.title, yLabel: cp.yLabel, xLabel, metric: cp.metric, categories: cats.labels, series, link, encoding };
  });
}

function cellTable(suite: string, cells: CellResult[], title: string): TableSpec {
  const vary = new Set(varying(cells).map((d) => d.name));
  const lead = DIMS.filter((d) => vary.has(d.name) || d.name === 'size' || d.name === 'backing'
    || (d.name === 'pattern' && cells.some((c) => c.pattern !== 'contiguous'))
    || (d.name === 'strategy' && cells.some((c) => c.strategy !== null)));
  const withRef = cells.some((c) => c.ref);
  const withThread = suite === 'matrix';
  const heads = ['entries', 'min', 'median', 'p99', 'ns/page', 'speed-up', 'JS end-to-end', 'JS / inside'];
  if (withRef) heads.push('C reference median', 'addon / C');
  if (withThread) heads.push(`${KERNEL_THREAD_LABEL}: unpatched / patched`);
  let lastGroup = '';
  const rows: TableRow[] = cells.map((c) => {
    const leading = lead.map((d) => d.label(c));
    if (c.skipped) return { cells: leading, skipped: c.skipped };
    const figs = [String(c.entries), ns(c.min), ns(c.median), ns(c.p99), nsFine(c.nsPerPage), ratio(c.speedup), ns(c.jsMedian),
      ratio(c.jsOverInside)];
    if (withRef) figs.push(ns(c.ref?.median), ratio(c.ref?.ratio, 3));
    if (withThread) {
      const group = `${c.interface ?? 'type1'}/${c.size}/${c.backing}`;
      const f = threadFigure(c.pages, c.backing);
      figs.push(group !== lastGroup && f ? `${ns(f.unpatched)} / ${ns(f.patched)}` : '');
      lastGroup = group;
    }
    return { cells: [...leading, ...figs] };
  });
  return {
    className: 'cells', caption: `${title}: ns per repetition, min / median / p99`,
    headers: [...lead.map((d) => d.head), ...heads],
    numeric: [...lead.map((d) => d.name === 'size'), ...heads.map((h) => !h.startsWith(KERNEL_THREAD_LABEL))],
    rows,
  };
}

function overheadTable(r: BenchReport): TableSpec {
  return {
    className: 'overhead', caption: 'Planner overhead on the single-page path (timed from JS, ns)',
    headers: ['backing', 'direct map()', 'buildPlan+mapBatch', 'overhead', 'of which: buildPlan', 'mapBatch', '(limits check)'],
    numeric: [false, true, true, true, true, true, true],
    rows: r.plannerOverhead.map((o) => ({
      cells: [o.backing, ns(o.directNs), ns(o.plannedNs), `${o.overheadNs >= 0 ? '+' : ''}${ns(o.overheadNs)}`,
        ns(o.buildNs), ns(o.batchNs), ns(o.limitsNs)],
    })),
  };
}

function kernelPinView(r: BenchReport): SuiteView | null {
  const k = r.kernelPin;
  if (!k) return null;
  const title = `Kernel pin path: iommufd_access_pin_pages through an IOMMUFD_TEST access, kernel ${k.kernel}`;
  if (!k.available) return { key: 'kernel-pin', title, tables: [], charts: [], unavailable: k.reason ?? 'unavailable' };
  const pagesList = [...new Set(k.cells.map((c) => c.pages))].sort((a, b) => a - b);
  // Backing by backing, one call per page before one call for the run, as the table reads.
  const modeKeys = [...new Set(k.cells.map((c) => `${c.backing} ${c.mode}`))]
    .sort((a, b) => rank(a) - rank(b));
  const styles = styleSeries(modeKeys.map((m) => m.split(' ')));
  const label = (p: number) => (p === 1 ? '1 page' : `${p} pages`);
  let last = '';
  const table: TableSpec = {
    className: 'cells', caption: `${title}: ns to pin the pages (${k.reps} repetitions after ${k.warmup} warm-up)`,
    headers: ['pages', 'backing', 'calls', 'min', 'median', 'p99', 'ns/page', 'speed-up', 'unpin median',
      `${KERNEL_THREAD_LABEL}: unpatched / patched`],
    numeric: [true, false, true, true, true, true, true, true, true, false],
    rows: k.cells.map((c) => {
      const calls = c.mode === 'per-page' ? `${c.calls} (per page)` : String(c.calls);
      if (c.skipped) return { cells: [String(c.pages), c.backing, calls], skipped: c.skipped };
      const f = threadFigure(c.pages, c.backing);
      const group = `${c.pages}/${c.backing}`;
      const thread = group !== last && f ? `${ns(f.unpatched)} / ${ns(f.patched)}` : '';
      last = group;
      return { cells: [String(c.pages), c.backing, calls, ns(c.min), ns(c.median), ns(c.p99), nsFine(c.nsPerPage),
        ratio(c.speedup), ns(c.unpinMedian), thread] };
    }),
  };
  const chart: ChartSpec = {
    id: 'chart-kernel-pin-0', title: 'Kernel pin cost: one call per page vs one call for the run', yLabel: 'median ns to pin the pages',
    xLabel: 'pages pinned', metric: 'median', categories: pagesList.map(label), link: false,
    encoding: 'colour and order within each slot: backing; marker shape: one call per page or one for the run',
    series: modeKeys.map((m, i) => ({
      name: m, ...styles[i]!,
      points: k.cells.filter((c) => `${c.backing} ${c.mode}` === m)
        .map((c) => ({ id: kernelPinId(c), category: pagesList.indexOf(c.pages), value: (c.skipped ? null : c.median) ?? NaN })),
    })),
  };
  return { key: 'kernel-pin', title, tables: [table], charts: [chart], measured: true };
}

function rank(key: string): number {
  const [backing, mode] = key.split(' ');
  return ['4k', 'thp', 'hugetlb'].indexOf(backing!) * 2 + (mode === 'per-page' ? 0 : 1);
}

/** kernelPin cells have no id in the JSON; the page names them this way. */
export function kernelPinId(c: { pages: number; backing: string; mode: string }): string {
  return `kernel-pin/${c.pages}/${c.backing}/${c.mode}`;
}

/** Suites in the order asked for, then any the cells name that the options do not. */
export function suiteViews(r: BenchReport): SuiteView[] {
  const order = [...new Set<string>([...r.options.suites, ...r.cells.map((c) => c.suite)])];
  const views: SuiteView[] = [];
  for (const suite of order) {
    const cells = r.cells.filter((c) => c.suite === suite);
    if (cells.length === 0) continue;
    const plan = PLANS[suite] ?? genericPlan(suite);
    const tables = [cellTable(suite, cells, plan.title)];
    if (suite === 'matrix' && r.plannerOverhead.length) tables.push(overheadTable(r));
    // Every table of a suite that went through the IOMMU says which one (the kernel pin path and the overhead suite never do).
    for (const t of tables) t.caption += iommuTag(r);
    views.push({ key: suite, title: plan.title, tables, charts: cellCharts(suite, cells, plan) });
  }
  const kp = kernelPinView(r);
  if (kp) views.push(kp);
  const ov = overheadView(r);
  if (ov) views.push(ov);
  const irq = irqView(r);
  if (irq) views.push(irq);
  return views;
}

/** The overhead suite: two plain tables (figures, targets), no chart: the figures are of different kinds. */
function overheadView(r: BenchReport): SuiteView | null {
  const o = r.overhead;
  if (!o) return null;
  const title = overheadTitle(o);
  if (!o.available) return { key: 'overhead', title, tables: [], charts: [], unavailable: o.reason ?? 'unavailable', measured: true };
  const rows = (xs: string[][]): TableRow[] => xs.map((cells) => ({ cells }));
  return {
    key: 'overhead', title, charts: [], measured: true,
    tables: [
      { className: 'cells', caption: `${title}. ${overheadNote(o)}`, headers: OVERHEAD_FIGURE_HEADERS, numeric: [false, true, true, true], rows: rows(figureRows(o)) },
      { className: 'targets', caption: 'Targets', headers: OVERHEAD_TARGET_HEADERS, numeric: [false, true, true, false], rows: rows(targetRows(o)) },
    ],
  };
}
