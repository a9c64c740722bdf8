// Plain monospace tables: right-aligned numbers, left-aligned words, no colour
// (output is often piped into CI logs).

export type Align = 'l' | 'r';

export function renderTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells
    .map((c, i) => ((align[i] ?? 'l') === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Integer nanoseconds with thousands separators; '-' for a missing figure. */
export function ns(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return Math.round(v).toLocaleString('en-US');
}

export function ratio(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return `${v.toFixed(digits)}x`;
}

/** Like ns(), with one decimal below 100 ns, where rounding would hide the figure (ns per page of big regions). */
export function nsFine(v: number | null | undefined): string {
  if (v !== null && v !== undefined && Number.isFinite(v) && Math.abs(v) < 100) return v.toFixed(1);
  return ns(v);
}
