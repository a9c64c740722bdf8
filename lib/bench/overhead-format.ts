// The overhead suite as text and as report rows: one place that says how its
// figures and targets read, so the terminal table and the HTML table agree.
import type { OverheadReport, OverheadTarget } from './overhead.js';
import { ns, nsFine, ratio, renderTable } from './text-table.js';

export function overheadTitle(r: OverheadReport): string {
  return `Library overhead: the addon path against a stand-in system call${r.syscall ? ` (${r.syscall})` : ''}, no VFIO`;
}

export const OVERHEAD_FIGURE_HEADERS = ['measurement', 'ns per call', 'rounds: min', 'max'];
export const OVERHEAD_TARGET_HEADERS = ['target', 'measured', 'limit', 'met'];

export function figureRows(r: OverheadReport): string[][] {
  return r.figures.map((f) => [f.label, nsFine(f.ns), nsFine(f.min), nsFine(f.max)]);
}

function value(t: OverheadTarget, v: number): string {
  return t.unit === 'x' ? ratio(v) : `${v >= 0 ? '+' : ''}${ns(v)} ns`;
}

export function targetRows(r: OverheadReport): string[][] {
  return r.targets.map((t) => [t.label, value(t, t.value), t.unit === 'x' ? ratio(t.limit) : `<= ${ns(t.limit)} ns`, t.met ? 'yes' : 'NO']);
}

export function overheadNote(r: OverheadReport): string {
  return `Medians of ${r.rounds} rounds, each taking every figure (per call; the 512-entry plan per entry); a target compares the figures of `
    + `each round and is the median over the rounds; load average ${r.loadAverage.toFixed(2)} at the start`
    + `${r.stable ? '' : '; some JS timings were not warmed until stable (--warmup 0, or still falling): they may read high'}. Single calls are timed in batches of 32 `
    + '(one clock pair per batch). Targets are reported, never asserted: a loaded machine reads high.';
}

export function formatOverhead(r: OverheadReport): string {
  const title = overheadTitle(r);
  if (!r.available) return `${title}\n  unavailable: ${r.reason}`;
  return `${title}\n${renderTable(OVERHEAD_FIGURE_HEADERS, figureRows(r), ['l', 'r', 'r', 'r'])}\n\n`
    + `${renderTable(OVERHEAD_TARGET_HEADERS, targetRows(r), ['l', 'r', 'r', 'l'])}\n${overheadNote(r)}`;
}
