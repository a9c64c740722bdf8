import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, formatCsv, formatJson } from '../../lib/bench/format-csv.js';
import { fullCell } from '../../lib/bench/cells.js';
import { formatTable } from '../../lib/bench/format-table.js';
import { BENCH_SCHEMA } from '../../lib/bench/schema.js';
import { syntheticReport } from './bench.fixture.js';

describe('bench output formats', () => {
  it('table: the matrix with speed-ups, the kernel thread beside it, and the simulated label', () => {
    const text = formatTable(syntheticReport());
    expect(text).toMatch(/backend: sim \(SIMULATED\)/);
    expect(text).toMatch(/kernel thread, 4\.19, in-kernel pin: unpatched \/ patched/);
    expect(text).toContain('223,651 / 167,286');
    expect(text).toContain('1,638 / 1,735');
    // 512 pages per-page median = 1100*512 = 563,200 ns; coalesced = 1000 + 300*512 = 154,600 ns -> 3.64x.
    expect(text).toContain('563,200');
    expect(text).toContain('3.64x');
    expect(text).toMatch(/Planner overhead on the single-page path/);
    expect(text).toContain('+200');
  });

  it('table: a real run has no simulated label', () => {
    expect(formatTable(syntheticReport(1, false))).not.toMatch(/simulated/i);
  });

  it('json: versioned schema with one cell per matrix entry and its samples', () => {
    const parsed = JSON.parse(formatJson(syntheticReport()));
    expect(parsed.schema).toBe(BENCH_SCHEMA);
    expect(parsed.cells).toHaveLength(18);
    expect(parsed.cells[0]).toMatchObject({ size: 4096, backing: '4k', strategy: 'per-page', samples: [1000, 1100, 1200], median: 1100 });
    for (const key of ['host', 'kernel', 'node', 'backend', 'simulated']) expect(parsed).toHaveProperty(key);
  });

  it('json: skipped cells carry nulls and the reason', () => {
    const r = syntheticReport();
    Object.assign(r.cells[0]!, { samples: [], median: NaN, min: NaN, p99: NaN, skipped: 'no huge pages' });
    const parsed = JSON.parse(formatJson(r));
    expect(parsed.cells[0]).toMatchObject({ median: null, skipped: 'no huge pages' });
  });

  it('csv: a header and one row per cell, quoting what needs it', () => {
    const r = syntheticReport();
    r.cells[1]!.skipped = 'has, a comma';
    const lines = formatCsv(r).trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(19);
    const first = lines[1]!.split(',');
    expect(first[CSV_COLUMNS.indexOf('median_ns')]).toBe('1100');
    expect(first[CSV_COLUMNS.indexOf('simulated')]).toBe('true');
    expect(lines[2]).toMatch(/"has, a comma",[^,]*,[^,]*$/);
    expect(first[CSV_COLUMNS.indexOf('iommu')]).toBe(r.iommu?.name ?? '');
    // The synthetic report is simulated: no JS-over-inside ratio, an empty field.
    expect(first[CSV_COLUMNS.indexOf('js_over_inside')]).toBe('');
  });

  it('JS / inside: each JS call over the ioctl time inside that same call, median per repetition; only where the times are measured', () => {
    const spec = { suite: 'matrix', op: 'map', pattern: 'contiguous', size: 4096n, backing: '4k', strategy: 'coalesced' } as const;
    // Paired, the ratios are 2, 1.5 and 1.2 (median 1.5); medians of each side alone would give 1200 / 800.
    const measured = fullCell(spec, 1, [100, 100, 100], [2000, 1200, 600], 4096,
      { timing: 'native-loop', jsLoopSamples: [1000, 800, 500], measured: true });
    expect(measured.jsOverInside).toBe(1.5);
    const r = syntheticReport();
    r.simulated = false;
    r.cells = [{ ...measured, interface: 'type1' }];
    expect(formatTable(r)).toMatch(/JS \/ inside[\s\S]*\b1\.50x?\b/);
    expect(formatCsv(r).trimEnd().split('\n')[1]!.split(',').at(-1)).toBe('1.500');
    const modelled = fullCell(spec, 1, [100], [2000], 4096, { timing: 'js-loop', jsLoopSamples: [1000], measured: false });
    expect(modelled).not.toHaveProperty('jsOverInside');
  });
});
