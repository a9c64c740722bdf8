// A log-log line chart as an SVG string: no script, no fonts to fetch, so the
// report opens anywhere, offline.

export interface Series {
  name: string;
  color: string;
  dash: string;
  points: Array<[number, number]>;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  formatX: (v: number) => string;
}

const W = 760;
const H = 360;
const M = { left: 70, right: 180, top: 30, bottom: 45 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function lineChart(spec: ChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
  if (pts.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60" role="img"><text x="10" y="35">${escapeXml(spec.title)}: no data</text></svg>`;
  }
  const lx = pts.map(([x]) => Math.log2(x));
  const ly = pts.map(([, y]) => Math.log10(y));
  const x0 = Math.min(...lx);
  const x1 = Math.max(...lx, x0 + 1);
  const y0 = Math.floor(Math.min(...ly));
  const y1 = Math.max(Math.ceil(Math.max(...ly)), y0 + 1);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((Math.log2(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<text x="${M.left}" y="18" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (let d = y0; d <= y1; d++) {
    const y = sy(10 ** d);
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${(10 ** d).toLocaleString('en-US')}</text>`);
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let e = Math.ceil(x0); e <= x1; e += step) {
    const x = sx(2 ** e);
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${x.toFixed(1)}" y="${M.top + ph + 15}" text-anchor="middle">${escapeXml(spec.formatX(2 ** e))}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (good.length) {
      const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-dasharray="${s.dash}"><title>${escapeXml(s.name)}</title></path>`);
      for (const [x, y] of good) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.2" fill="${s.color}"/>`);
    }
    const ly2 = M.top + 10 + i * 16;
    out.push(`<line x1="${W - M.right + 12}" x2="${W - M.right + 40}" y1="${ly2}" y2="${ly2}" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash}"/>`,
      `<text x="${W - M.right + 46}" y="${ly2 + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
