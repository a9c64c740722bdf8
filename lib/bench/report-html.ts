// `vfio bench --report DIR`: one self-contained HTML page (inline CSS and SVG,
// the JSON embedded for later tooling), readable offline and attachable to a CI run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable } from './format-table.js';
import type { BenchReport, CellResult } from './schema.js';
import { formatSize } from './suites.js';
import { escapeXml, lineChart, type Series } from './svg-chart.js';

const COLORS: Record<string, string> = { '4k': '#1f77b4', thp: '#d62728', hugetlb: '#2ca02c' };
const DASH: Record<string, string> = { 'per-page': '0', coalesced: '6 3', kernel: '2 2' };

/** Contiguous map cells (matrix and scaling), one series per backing x strategy. */
function series(cells: CellResult[], y: (c: CellResult) => number): Series[] {
  const by = new Map<string, Map<number, number>>();
  for (const c of cells) {
    if (c.op !== 'map' || c.pattern !== 'contiguous' || c.skipped || !c.strategy) continue;
    const key = `${c.backing} ${c.strategy}`;
    const pts = by.get(key) ?? new Map<number, number>();
    pts.set(c.size, y(c));
    by.set(key, pts);
  }
  return [...by].map(([name, pts]) => {
    const [backing, strategy] = name.split(' ') as [string, string];
    return { name, color: COLORS[backing] ?? '#555', dash: DASH[strategy] ?? '0', points: [...pts] };
  });
}

export function renderHtml(r: BenchReport): string {
  const sim = r.simulated ? ' (simulated)' : '';
  const charts = [
    lineChart({
      title: `Time per page vs region size, plan executor${sim}`, xLabel: 'region size', yLabel: 'ns per 4 KiB page',
      formatX: formatSize, series: series(r.cells, (c) => c.nsPerPage),
    }),
    lineChart({
      title: `Time per page vs region size, end-to-end from JS${sim}`, xLabel: 'region size', yLabel: 'ns per 4 KiB page',
      formatX: formatSize, series: series(r.cells, (c) => c.jsMedian / c.pages),
    }),
  ];
  // Keep "</script>" out of the embedded JSON.
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>node-vfio bench: ${escapeXml(r.host.hostname)} ${escapeXml(r.backend)}${sim}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:72em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}
.sim{background:#fff3cd;border:1px solid #e0c36a;padding:.6em 1em}
figure{margin:1.5em 0}
</style></head><body>
<h1>node-vfio bench</h1>
<p>${escapeXml(r.createdAt)} &middot; backend <b>${escapeXml(r.backend)}</b> &middot; kernel ${escapeXml(r.kernel)} &middot; node ${escapeXml(r.node)} &middot; schema ${escapeXml(r.schema)}</p>
${r.simulated ? '<p class="sim"><b>Simulated.</b> Every figure comes from the sim backend\'s cost model, not from a kernel.</p>' : ''}
${charts.map((c) => `<figure>${c}</figure>`).join('\n')}
<h2>Tables</h2>
<pre>${escapeXml(formatTable(r))}</pre>
<script type="application/json" id="bench-data">${json}</script>
</body></html>
`;
}

/** Writes DIR/index.html (creating DIR) and returns its path. */
export function writeHtmlReport(dir: string, r: BenchReport): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'index.html');
  writeFileSync(path, renderHtml(r));
  return path;
}
