// The irq suite in the HTML report: the latency table (edu's raise register ->
// JS listener, beside the C epoll loop) and the event-loop stall table, each
// with its chart. Marks carry stable ids the page's checks recompute from the
// JSON: `irq/<kind>/<side>` (median ns) and `stall/<phase>` (longest gap, ms).
import { IRQ_HOST_HEADERS, irqHostRows, irqHostTargetLine, irqHostTitle } from './irq-host.js';
import type { IrqBenchReport } from './irq.js';
import { iommuTag, type BenchReport } from './schema.js';
import { styleSeries } from './report-style.js';
import type { SuiteView, TableSpec } from './report-table.js';
import { STALL_HEADERS, stallRows, stallTargetLine, stallTitle, stallWarmupLine } from './stall.js';
import type { ChartSpec } from './svg-chart.js';
import { ratio } from './text-table.js';

const us = (v: number) => (Number.isFinite(v) ? `${(v / 1000).toFixed(v < 10_000 ? 1 : 0)} us` : '-');
const WAITER = { js: 'node-vfio (JS listener)', c: 'C reference (epoll)' } as const;

export function irqLatencyId(row: { kind: string; side: string }): string {
  return `irq/${row.kind}/${row.side}`;
}

export function stallPhaseId(phase: { id: string }): string {
  return `stall/${phase.id}`;
}

function latencyParts(r: IrqBenchReport): { table: TableSpec; chart: ChartSpec } {
  const kinds = [...new Set(r.rows.map((x) => x.kind))];
  const sides = (['js', 'c'] as const).filter((s) => r.rows.some((x) => x.side === s));
  const styles = styleSeries(sides.map((s) => [WAITER[s]]));
  const cref = r.ref.available ? '' : ` C reference: unavailable (${r.ref.reason}).`;
  const table: TableSpec = {
    className: 'cells',
    caption: `Interrupt latency, edu raise register (BAR0 + 0x60) -> ${r.simulated ? 'callback' : 'JS listener / C epoll_wait + read'}: `
      + `ns over ${r.runs} runs per row in ${r.rounds} alternating block(s), ${r.warmup} warm-up per block; `
      + `target: JS median within 1.5x of C's, same run (reported, not asserted).${cref}`,
    headers: ['irq', 'waiter', 'min', 'median', 'p99', 'coalesced', 'JS / C median'],
    numeric: [false, false, true, true, true, true, true],
    rows: r.rows.map((x) => {
      const c = x.side === 'js' ? r.rows.find((y) => y.kind === x.kind && y.side === 'c') : undefined;
      return { cells: [x.kind.toUpperCase(), WAITER[x.side], us(x.min), us(x.median), us(x.p99), String(x.coalesced), c ? ratio(x.median / c.median) : ''] };
    }),
  };
  const chart: ChartSpec = {
    id: 'chart-irq-latency', title: 'Interrupt latency, raise -> waiter', yLabel: 'median ns, raise register write to the waiter',
    xLabel: 'interrupt kind', metric: 'irqMedian', categories: kinds.map((k) => k.toUpperCase()), link: false,
    encoding: sides.length > 1 ? 'colour, marker shape and order within each slot: waiter' : '',
    series: sides.map((side, i) => ({
      name: WAITER[side], ...styles[i]!,
      points: r.rows.filter((x) => x.side === side).map((x) => ({ id: irqLatencyId(x), category: kinds.indexOf(x.kind), value: x.median })),
    })),
  };
  return { table, chart };
}

function stallParts(r: IrqBenchReport): { table: TableSpec; chart: ChartSpec } | { unavailable: string } | null {
  const s = r.stall;
  if (!s) return null;
  if (!s.available) return { unavailable: `${stallTitle(s)}: ${s.reason ?? 'unavailable'}` };
  const [style] = styleSeries([['longest gap']]);
  return {
    table: {
      className: 'stall', caption: `${stallTitle(s)}. Region: ${s.sizeReason}. ${stallTargetLine(s)}${s.warmup ? `. ${stallWarmupLine(s.warmup)}` : ''}`,
      headers: STALL_HEADERS, numeric: [false, true, true, true, true, true, true, true, true], rows: stallRows(s).map((cells) => ({ cells })),
    },
    chart: {
      id: 'chart-irq-stall', title: 'Longest event-loop stall by phase', yLabel: 'longest gap between 1 ms ticks, ms',
      xLabel: 'phase', metric: 'stallLongestMs', categories: s.phases.map((p) => p.label), link: false, encoding: '',
      series: [{ name: 'longest gap', ...style!, points: s.phases.map((p, i) => ({ id: stallPhaseId(p), category: i, value: p.worstMs })) }],
    },
  };
}

/** Every table names the IOMMU: the stall maps through it, MSI goes through its interrupt remapping. */
export function irqView(r: Pick<BenchReport, 'irq' | 'iommu'>): SuiteView | null {
  const q = r.irq;
  if (!q) return null;
  const title = `Interrupts: latency on ${q.device ?? 'no device'} and the event-loop stall while mapping, kernel ${q.kernel}`;
  const view: SuiteView = { key: 'irq', title, tables: [], charts: [] };
  if (q.available) {
    const l = latencyParts(q);
    view.tables.push(l.table);
    view.charts.push(l.chart);
  } else view.unavailable = `latency: ${q.reason ?? 'unavailable'}`;
  // Where no device was measured: delivery on the host that ran the bench, beside C (no chart: one figure per waiter).
  if (q.host?.available) {
    view.tables.push({
      className: 'irq-host', caption: `${irqHostTitle(q.host)}. ${irqHostTargetLine(q.host)}`,
      headers: IRQ_HOST_HEADERS, numeric: [false, true, true, true, true, true, true], rows: irqHostRows(q.host).map((cells) => ({ cells })),
    });
  }
  const st = stallParts(q);
  if (st && 'unavailable' in st) view.unavailable = [view.unavailable, `stall: ${st.unavailable}`].filter(Boolean).join('; ');
  else if (st) {
    view.tables.push(st.table);
    view.charts.push(st.chart);
  }
  const hostNotes = q.host ? [...(q.host.available ? [] : [`host delivery table unavailable: ${q.host.reason}`]), ...q.host.notes] : [];
  const notes = [...q.notes, ...hostNotes, ...(q.stall?.notes ?? [])];
  if (notes.length) view.tables.push({ className: 'notes', caption: 'Notes', headers: ['note'], numeric: [false], rows: notes.map((n) => ({ cells: [n] })) });
  for (const t of view.tables) t.caption += iommuTag(r);
  return view;
}
