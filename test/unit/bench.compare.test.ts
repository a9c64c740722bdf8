import { describe, expect, it } from 'vitest';
import {
  BaselineError, compareReports, formatComparison, parseBaseline, parseThreshold,
} from '../../lib/bench/compare.js';
import { formatJson } from '../../lib/bench/format-csv.js';
import { syntheticReport } from './bench.fixture.js';

const opts = { maxRegression: 0.1, minDeltaNs: 25 };

describe('regression gate', () => {
  it('parses thresholds as percentages', () => {
    expect(parseThreshold('10%')).toBeCloseTo(0.1);
    expect(parseThreshold('2.5')).toBeCloseTo(0.025);
    for (const bad of ['', 'ten', '-5%', '10%%']) expect(() => parseThreshold(bad)).toThrow(RangeError);
  });

  it('passes an identical run and one within the threshold', () => {
    const base = syntheticReport();
    expect(compareReports(base, syntheticReport(), opts).regressions).toEqual([]);
    expect(compareReports(base, syntheticReport(1.09), opts).regressions).toEqual([]);
  });

  it('names every cell whose median grew past the threshold', () => {
    const base = syntheticReport();
    const cur = syntheticReport();
    const slow = cur.cells.find((c) => c.size === 4096 && c.backing === 'thp' && c.strategy === 'coalesced')!;
    slow.median *= 1.5;
    const cmp = compareReports(base, cur, opts);
    expect(cmp.regressions.map((c) => c.id)).toEqual([slow.id]);
    const text = formatComparison(cmp, opts);
    expect(text).toMatch(/REGRESSION: 1 cell/);
    expect(text).toContain('matrix map contiguous 1 page thp coalesced');
    expect(text).toContain('+50.0%');
  });

  it('compares medians, so a noisy p99 or min alone does not fail the gate', () => {
    const base = syntheticReport();
    const cur = syntheticReport();
    for (const c of cur.cells) {
      c.p99 *= 3;
      c.min *= 0.5;
    }
    expect(compareReports(base, cur, opts).regressions).toEqual([]);
  });

  it('ignores growth below the absolute floor', () => {
    const base = syntheticReport();
    const cur = syntheticReport();
    base.cells[0]!.median = 100;
    cur.cells[0]!.median = 120; // +20%, but only 20 ns
    expect(compareReports(base, cur, opts).regressions).toEqual([]);
    expect(compareReports(base, cur, { maxRegression: 0.1, minDeltaNs: 0 }).regressions).toHaveLength(1);
  });

  it('reports improvements, missing and skipped cells without failing', () => {
    const base = syntheticReport();
    const cur = syntheticReport(0.5);
    cur.cells.pop();
    cur.cells[0]!.median = NaN;
    cur.cells[0]!.skipped = 'no memory';
    const cmp = compareReports(base, cur, opts);
    expect(cmp.regressions).toEqual([]);
    const statuses = new Set(cmp.cells.map((c) => c.status));
    expect(statuses).toEqual(new Set(['improved', 'missing', 'skipped']));
    expect(cmp.warnings.join()).toMatch(/not in this run/);
  });

  it('round-trips a baseline through JSON and refuses other files', () => {
    const base = syntheticReport();
    const parsed = parseBaseline(formatJson(base));
    expect(compareReports(parsed, syntheticReport(), opts).regressions).toEqual([]);
    expect(() => parseBaseline('not json')).toThrow(BaselineError);
    expect(() => parseBaseline('{"schema":"something/else@1","cells":[]}')).toThrow(/expected node-vfio\/bench@1/);
  });

  it('refuses to compare simulated figures with real ones', () => {
    expect(() => compareReports(syntheticReport(1, true), syntheticReport(1, false), opts)).toThrow(BaselineError);
  });
});
