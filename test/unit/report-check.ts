// What every rendered report must show, checked the same way on a strict parse
// of the HTML (test/unit) and on the DOM of a real browser (test/report): each
// suite in the JSON has a section, a table with one row per cell and charts
// whose marks are exactly its measured cells, with their values; no "NaN",
// "undefined" or "null" anywhere a reader looks; the banner iff simulated.
// Expectations come from the JSON alone, never from the report's own code.
import { expect } from 'vitest';
import type { BenchReport, CellResult } from '../../lib/bench/schema.js';
import { all, hasClass, parseStrict, visibleText, type El } from './report-dom.js';

export interface ObservedChart {
  metric: string;
  marks: Array<{ id: string; value: number }>;
  /** Lines drawn between categories. */
  links: number;
}

export interface ObservedSection {
  suite: string;
  /** Rows of its "cells" table; null when it has none. */
  rows: number | null;
  /** Rows of its "stall" table (the irq suite); null when it has none. */
  stallRows: number | null;
  charts: ObservedChart[];
  unavailable: boolean;
}

export interface ObservedPage {
  sections: ObservedSection[];
  text: string;
  banner: boolean;
  data: unknown;
}

/** The figure a chart's data-metric names, from a cell as the JSON holds it. */
const VALUE: Record<string, (c: CellResult) => number | null> = {
  median: (c) => c.median,
  nsPerPage: (c) => c.nsPerPage,
  jsPerPage: (c) => (c.jsMedian === null ? null : c.jsMedian / c.pages),
};

const measured = (v: number | null): v is number => v !== null && Number.isFinite(v) && v > 0;

export function observeParsed(html: string): ObservedPage {
  const root = parseStrict(html);
  const sections = all(root, (e) => e.tag === 'section' && 'data-suite' in e.attrs).map((s): ObservedSection => {
    const rowsOf = (cls: string): number | null => {
      const table = all(s, (e) => e.tag === 'table' && hasClass(e, cls))[0];
      const tbody = table && all(table, (e) => e.tag === 'tbody')[0];
      return tbody ? tbody.children.filter((c): c is El => typeof c !== 'string' && c.tag === 'tr').length : null;
    };
    return {
      suite: s.attrs['data-suite']!,
      rows: rowsOf('cells'),
      stallRows: rowsOf('stall'),
      charts: all(s, (e) => e.tag === 'svg' && hasClass(e, 'chart')).map((svg) => ({
        metric: svg.attrs['data-metric']!,
        marks: all(svg, (e) => hasClass(e, 'mark')).map((m) => ({ id: m.attrs['data-id']!, value: Number(m.attrs['data-value']) })),
        links: all(svg, (e) => hasClass(e, 'link')).length,
      })),
      unavailable: all(s, (e) => hasClass(e, 'unavailable')).length > 0,
    };
  });
  const script = all(root, (e) => e.tag === 'script' && e.attrs.id === 'bench-data')[0];
  return {
    sections,
    text: visibleText(root),
    banner: all(root, (e) => hasClass(e, 'sim')).length > 0,
    data: script ? JSON.parse(script.children[0] as string) : undefined,
  };
}

/** Suites as the JSON names them, in the order the page must show them. */
export function expectedSuites(r: BenchReport): string[] {
  const names = [...new Set<string>([...r.options.suites, ...r.cells.map((c) => c.suite)])].filter((s) => r.cells.some((c) => c.suite === s));
  return [...names, ...(r.kernelPin ? ['kernel-pin'] : []), ...(r.overhead ? ['overhead'] : []), ...(r.irq ? ['irq'] : [])];
}

/** One mark per measured cell, carrying that cell's value. */
function sameMarks(marks: ObservedChart['marks'], want: Array<{ id: string; value: number }>, what: string): void {
  const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
  const got = [...marks].sort(byId);
  const exp = [...want].sort(byId);
  expect(got.map((m) => m.id), `${what}: one mark per measured cell`).toEqual(exp.map((w) => w.id));
  got.forEach((m, i) => expect(m.value / exp[i]!.value, `${what}: value of ${m.id}`).toBeCloseTo(1, 9));
}

/** `r` as the page embeds it (through JSON: NaN is null). */
export function checkPage(page: ObservedPage, rendered: BenchReport): void {
  const r = JSON.parse(JSON.stringify(rendered)) as BenchReport;
  expect(page.data).toEqual(r);
  expect(page.banner).toBe(r.simulated);
  expect(page.text).not.toMatch(/\b(NaN|undefined|null|Infinity)\b|\[object /);
  expect(page.sections.map((s) => s.suite)).toEqual(expectedSuites(r));
  for (const s of page.sections) {
    if (s.suite === 'kernel-pin') {
      const k = r.kernelPin!;
      expect(s.unavailable, 'kernel-pin unavailable').toBe(!k.available);
      expect(s.rows).toBe(k.available ? k.cells.length : null);
      const want = k.cells.filter((c) => measured(c.median)).map((c) => ({ id: `kernel-pin/${c.pages}/${c.backing}/${c.mode}`, value: c.median }));
      expect(s.charts.map((c) => c.metric)).toEqual(k.available ? ['median'] : []);
      for (const c of s.charts) sameMarks(c.marks, want, 'kernel-pin');
      continue;
    }
    if (s.suite === 'overhead') {
      const o = r.overhead!;
      expect(s.unavailable, 'overhead unavailable').toBe(!o.available);
      expect(s.rows, 'one row per overhead figure').toBe(o.available ? o.figures.length : null);
      expect(s.charts, 'the overhead suite draws no chart').toEqual([]);
      continue;
    }
    if (s.suite === 'irq') {
      const q = r.irq!;
      const stall = q.stall?.available ? q.stall : null;
      expect(s.unavailable, 'irq unavailable').toBe(!q.available || (q.stall !== null && !q.stall.available));
      expect(s.rows, 'one latency row per kind and waiter').toBe(q.available ? q.rows.length : null);
      expect(s.stallRows, 'one stall row per phase').toBe(stall ? stall.phases.length : null);
      expect(s.charts.map((c) => c.metric)).toEqual([...(q.available ? ['irqMedian'] : []), ...(stall ? ['stallLongestMs'] : [])]);
      for (const c of s.charts) {
        const want = c.metric === 'irqMedian'
          ? q.rows.filter((x) => measured(x.median)).map((x) => ({ id: `irq/${x.kind}/${x.side}`, value: x.median }))
          : stall!.phases.filter((p) => measured(p.worstMs)).map((p) => ({ id: `stall/${p.id}`, value: p.worstMs }));
        sameMarks(c.marks, want, `irq ${c.metric}`);
      }
      continue;
    }
    const cells = r.cells.filter((c) => c.suite === s.suite);
    expect(s.rows, `rows of ${s.suite}`).toBe(cells.length);
    expect(s.charts.length, `charts of ${s.suite}`).toBeGreaterThan(0);
    for (const chart of s.charts) {
      const value = VALUE[chart.metric];
      expect(value, `known metric ${chart.metric}`).toBeDefined();
      sameMarks(chart.marks, cells.filter((c) => measured(value!(c))).map((c) => ({ id: c.id, value: value!(c)! })), `${s.suite} ${chart.metric}`);
    }
  }
}
