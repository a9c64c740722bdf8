// `vfio bench --report DIR`: one self-contained HTML page (inline CSS and SVG,
// no script to run, the JSON embedded for later tooling), readable offline and
// attachable to a CI run. Per suite: a table of every cell, then its charts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { iommuTag, type BenchReport } from './schema.js';
import { suiteViews } from './report-suites.js';
import type { SuiteView } from './report-table.js';
import { htmlTable } from './report-table.js';
import { dotChart, escapeXml, pointCount } from './svg-chart.js';

const CSS = `
body{font-family:sans-serif;margin:2em auto;max-width:76em;padding:0 1em;color:#222;line-height:1.4}
.sim{background:#fff3cd;border:2px solid #e0b040;padding:.6em 1em;font-size:1.05em}
section{margin:2.5em 0}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;white-space:nowrap}
th{background:#f3f3f3}
tbody tr:nth-child(even){background:#fafafa}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.skipped{color:#8a5a00;font-style:italic;white-space:normal}
.wide{overflow-x:auto}
figure{margin:1.5em 0}
figure svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#444}
.unavailable{color:#8a5a00}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em}
dl.meta dt{font-weight:bold}
dl.meta dd{margin:0}
`;

const EXPLAIN = 'Strategies: per-page = one MAP_DMA per 4 KiB page (user space\'s version of the unpatched loop); '
  + 'coalesced = contiguous runs merged by the planner; kernel = the whole region in one MAP_DMA, the kernel batching the pins. '
  + 'ns/page = median / pages covered; speed-up = per-page median / this median; '
  + 'JS end-to-end = process.hrtime around the mapBatch (unmap suite: unmapBatch) call, N-API included.';

/** `tag` names the IOMMU (empty for the sections that never touch one: kernel pin path, library overhead). */
function section(v: SuiteView, sim: string, tag: string): string {
  const parts = [`<section id="suite-${escapeXml(v.key)}" data-suite="${escapeXml(v.key)}">`,
    `<h2>${escapeXml(`${v.title}${tag}`)}${sim}</h2>`];
  if (v.unavailable !== undefined) parts.push(`<p class="unavailable">Unavailable: ${escapeXml(v.unavailable)}</p>`);
  for (const c of v.charts) {
    const skipped = c.series.reduce((n, s) => n + s.points.length, 0) - pointCount(c);
    parts.push(`<figure>${dotChart(c)}<figcaption>${escapeXml(`${c.title}${sim}: ${pointCount(c)} measurements in `
      + `${c.series.length} series${c.encoding ? ` (${c.encoding})` : ''}; `
      + `${c.link ? 'lines join only neighbouring sizes that were both measured' : 'no line joins two categories: each was measured on its own'}`
      + `${skipped ? `; ${skipped} without a measured value, not plotted` : ''}. Exact figures in the table.`)}</figcaption></figure>`);
  }
  for (const t of v.tables) parts.push(`<div class="wide">${htmlTable(t)}</div>`);
  parts.push('</section>');
  return parts.join('\n');
}

export function renderHtml(r: BenchReport): string {
  const sim = r.simulated ? ' (simulated)' : '';
  const views = suiteViews(r);
  // Keep "</script>" out of the embedded JSON.
  const json = JSON.stringify(r).replace(/</g, '\\u003c');
  const meta: Array<[string, string]> = [
    ['created', r.createdAt], ['backend', `${r.backend}${sim} (${r.backendReason})`],
    ...(r.iommu ? [['IOMMU', `${r.iommu.name}: ${r.iommu.description}`] as [string, string]] : []),
    ['host', `${r.host.hostname}, ${r.host.cpuModel} x${r.host.cpus}`], ['kernel', r.kernel], ['node', r.node],
    ['repetitions', `${r.options.reps} after ${r.options.warmup} warm-up`], ['schema', r.schema],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>node-vfio bench: ${escapeXml(r.host.hostname)} ${escapeXml(r.backend)}${sim}</title>
<style>${CSS}</style></head><body>
<h1>node-vfio bench${sim}</h1>
${r.simulated ? `<p class="sim" role="note"><b>Simulated.</b> Every figure comes from the sim backend's cost model, not from a kernel${views.some((v) => v.measured) ? ', except in the sections not marked simulated (measured on this host whatever the backend)' : ''}. Use --group N or --device BDF on a VFIO host for real figures.</p>` : ''}
<dl class="meta">${meta.map(([k, v]) => `<dt>${k}</dt><dd>${escapeXml(v)}</dd>`).join('')}</dl>
<p>${escapeXml(EXPLAIN)}</p>
${views.map((v) => section(v, v.measured ? '' : sim, v.measured ? '' : iommuTag(r))).join('\n')}
${r.notes.length ? `<section id="notes"><h2>Notes</h2><ul>${r.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul></section>` : ''}
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
