// One row per cell, for spreadsheets and plotting scripts. Samples are left out
// (use --json for them); skipped cells keep their row with the reason; every
// row says the IOMMU it ran on (the report's iommu.name).
import type { BenchReport, CellResult } from './schema.js';

export const CSV_COLUMNS = [
  'id', 'suite', 'op', 'pattern', 'size_bytes', 'pages', 'backing', 'strategy', 'entries', 'reps',
  'min_ns', 'median_ns', 'p99_ns', 'mean_ns', 'ns_per_page', 'speedup', 'js_median_ns', 'ref_median_ns',
  'addon_over_ref', 'simulated', 'skipped', 'iommu', 'js_over_inside',
] as const;

function field(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function row(c: CellResult, simulated: boolean, iommu: string | undefined): string {
  return [
    c.id, c.suite, c.op, c.pattern, c.size, c.pages, c.backing, c.strategy, c.entries, c.samples.length,
    c.min, c.median, c.p99, c.mean, c.nsPerPage, c.speedup, c.jsMedian, c.ref?.median, c.ref?.ratio, simulated, c.skipped, iommu,
    c.jsOverInside,
  ].map(field).join(',');
}

export function formatCsv(r: BenchReport): string {
  return `${[CSV_COLUMNS.join(','), ...r.cells.map((c) => row(c, r.simulated, r.iommu?.name))].join('\n')}\n`;
}

export function formatJson(r: BenchReport): string {
  // NaN (skipped cells) serialises as null, which SCHEMA.md documents.
  return `${JSON.stringify(r, null, 2)}\n`;
}
