// One HTML <table> from headers and rows of text: numbers right-aligned, a
// skipped row's reason spanning the figures, every cell escaped.
import { escapeXml, type ChartSpec } from './svg-chart.js';

export interface TableRow {
  cells: string[];
  /** A skipped measurement: shown after the leading cells, across the remaining columns. */
  skipped?: string;
}

export interface TableSpec {
  /** Class of the <table>: "cells" marks the one table per suite with one row per measurement. */
  className: string;
  caption: string;
  headers: string[];
  /** Right-aligned (numeric) columns, by index. */
  numeric: boolean[];
  rows: TableRow[];
}

export function htmlTable(t: TableSpec): string {
  const th = t.headers.map((h, i) => `<th scope="col"${t.numeric[i] ? ' class="num"' : ''}>${escapeXml(h)}</th>`).join('');
  const body = t.rows.map((r) => {
    const tds = r.cells.map((c, i) => `<td${t.numeric[i] ? ' class="num"' : ''}>${escapeXml(c)}</td>`);
    if (r.skipped !== undefined) {
      const span = t.headers.length - r.cells.length;
      tds.push(`<td class="skipped" colspan="${span}">skipped: ${escapeXml(r.skipped)}</td>`);
    }
    return `<tr${r.skipped !== undefined ? ' class="skipped"' : ''}>${tds.join('')}</tr>`;
  });
  return `<table class="${escapeXml(t.className)}"><caption>${escapeXml(t.caption)}</caption>\n`
    + `<thead><tr>${th}</tr></thead>\n<tbody>\n${body.join('\n')}\n</tbody></table>`;
}

/** What a report shows of one suite: its tables and charts (report-suites.ts and report-irq.ts make them). */
export interface SuiteView {
  /** The suite's name, as in the JSON (cells' `suite`, or `kernel-pin`). */
  key: string;
  title: string;
  /** One table with a row per measurement (class "cells"), then any others. */
  tables: TableSpec[];
  charts: ChartSpec[];
  /** Set when the suite could not run at all, with the reason. */
  unavailable?: string;
  /** Measured whatever the run's backend (kernel-pin, overhead): never labelled simulated. */
  measured?: boolean;
}
