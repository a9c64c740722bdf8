// A categorical dot chart as an SVG string: one x slot per measured category
// (a matrix size, a pattern ...), one marker per measurement, log y. No script,
// no fonts to fetch, so the report opens anywhere, offline.
//
// Categories are discrete on purpose: a line between "1 page" and "2 MiB" would
// invent the sizes in between. Only a sweep whose neighbours were both measured
// (the scaling suite) may ask for links, and a skipped size breaks the link.

export type Shape = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangle-down';
export const SHAPES: readonly Shape[] = ['circle', 'square', 'triangle', 'diamond', 'triangle-down'];

export interface DotPoint {
  /** Stable id of the measurement (a cell id): the page's tests match marks to data with it. */
  id: string;
  /** Index into ChartSpec.categories. */
  category: number;
  value: number;
}

export interface DotSeries {
  name: string;
  color: string;
  shape: Shape;
  /** stroke-dasharray of the links, '' for solid. */
  dash: string;
  points: DotPoint[];
}

export interface ChartSpec {
  /** Unique in the page: ids of the title and desc derive from it. */
  id: string;
  title: string;
  /** What one value is, e.g. "median ns per map of the whole region". */
  yLabel: string;
  xLabel: string;
  /** Which figure of a cell the marks plot (data-metric): the tests read it to know what to expect. */
  metric: string;
  categories: string[];
  series: DotSeries[];
  /** Join neighbouring categories measured in the same series (a sweep of every size); never across a gap. */
  link: boolean;
  /** How the series are told apart, in words, e.g. "colour and order in each slot: backing; shape: strategy"; '' for one series. */
  encoding: string;
}

const W = 900;
const M = { left: 70, right: 210, top: 34, bottom: 48 };
const PLOT_H = 300;
const LEGEND_ROW = 17;
const CHAR_W = 6.2; // rough width of an 11px sans-serif character, to decide when x labels must slant

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A plotted value must be finite and positive: the y axis is logarithmic. */
export function plottable(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** Axis labels: 1-2-5 steps read as 500, 2k, 1M. */
export function compact(v: number): string {
  const units: Array<[number, string]> = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [u, s] of units) if (v >= u) return `${+(v / u).toPrecision(3)}${s}`;
  return `${+v.toPrecision(3)}`;
}

/** The 1-2-5 values (1, 2, 5, 10, 20 ...) from the last at or below lo to the first at or above hi. */
function niceSteps(lo: number, hi: number): number[] {
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; all.length === 0 || all[all.length - 1]! < hi; e++) {
    for (const m of [1, 2, 5]) all.push(m * 10 ** e);
  }
  let first = 0;
  while (all[first + 1]! <= lo) first++;
  let last = all.findIndex((v) => v >= hi);
  if (last === first) last++; // one value: give the axis some height
  return all.slice(first, last + 1);
}

function yTicks(lo: number, hi: number): number[] {
  const steps = niceSteps(lo, hi);
  if (steps.length <= 9) return steps;
  // Many decades: decade lines only, still covering both ends.
  const decades: number[] = [];
  for (let e = Math.floor(Math.log10(steps[0]!)); 10 ** (e - 1) < steps[steps.length - 1]!; e++) decades.push(10 ** e);
  return decades;
}

/** The marker as a path centred on (x, y); every shape has about the same area. */
export function markerPath(shape: Shape, x: number, y: number, r: number): string {
  const f = (v: number) => v.toFixed(1);
  switch (shape) {
    case 'circle':
      return `M${f(x - r)} ${f(y)}a${r} ${r} 0 1 0 ${f(2 * r)} 0a${r} ${r} 0 1 0 ${f(-2 * r)} 0Z`;
    case 'square': {
      const s = r * 0.9;
      return `M${f(x - s)} ${f(y - s)}H${f(x + s)}V${f(y + s)}H${f(x - s)}Z`;
    }
    case 'triangle':
      return `M${f(x)} ${f(y - r * 1.25)}L${f(x + r * 1.15)} ${f(y + r * 0.85)}L${f(x - r * 1.15)} ${f(y + r * 0.85)}Z`;
    case 'triangle-down':
      return `M${f(x)} ${f(y + r * 1.25)}L${f(x + r * 1.15)} ${f(y - r * 0.85)}L${f(x - r * 1.15)} ${f(y - r * 0.85)}Z`;
    case 'diamond':
      return `M${f(x)} ${f(y - r * 1.3)}L${f(x + r * 1.3)} ${f(y)}L${f(x)} ${f(y + r * 1.3)}L${f(x - r * 1.3)} ${f(y)}Z`;
  }
}

/** Counts the points a chart will draw (what its marks must number). */
export function pointCount(spec: ChartSpec): number {
  return spec.series.reduce((n, s) => n + s.points.filter((p) => plottable(p.value)).length, 0);
}

/** Per shape: size (about equal areas) and outline or filled, so coinciding markers stay visible. */
const MARKER: Record<Shape, { r: number; hollow: boolean }> = {
  circle: { r: 4, hollow: false },
  square: { r: 5.4, hollow: true },
  triangle: { r: 3.6, hollow: false },
  diamond: { r: 4.6, hollow: true },
  'triangle-down': { r: 3.6, hollow: false },
};

function marker(s: DotSeries, x: number, y: number): string {
  const m = MARKER[s.shape];
  const paint = m.hollow ? `fill="none" stroke="${s.color}" stroke-width="1.8"` : `fill="${s.color}" stroke="#222" stroke-width="0.6"`;
  return `d="${markerPath(s.shape, x, y, m.r)}" ${paint}`;
}

/** Segments between neighbouring categories only: a category without a point breaks the line. */
function linkPath(s: DotSeries, at: (p: DotPoint) => readonly [number, number]): string[] {
  const byCat = new Map(s.points.map((p) => [p.category, p]));
  const segs: string[] = [];
  for (const p of s.points) {
    const next = byCat.get(p.category + 1);
    if (!next) continue;
    const [x1, y1] = at(p);
    const [x2, y2] = at(next);
    segs.push(`M${x1.toFixed(1)} ${y1.toFixed(1)}L${x2.toFixed(1)} ${y2.toFixed(1)}`);
  }
  if (!segs.length) return [];
  return [`<path class="link" d="${segs.join('')}" fill="none" stroke="${s.color}" stroke-width="1.4" stroke-opacity="0.7"`
    + `${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`];
}

export function dotChart(spec: ChartSpec): string {
  const series = spec.series.map((s) => ({ ...s, points: s.points.filter((p) => plottable(p.value)) }));
  const values = series.flatMap((s) => s.points.map((p) => p.value));
  const nCat = Math.max(1, spec.categories.length);
  const pw = W - M.left - M.right;
  const band = pw / nCat;
  const longest = Math.max(...spec.categories.map((c) => c.length), 1);
  const slant = longest * CHAR_W > band - 4;
  const bottom = M.bottom + (slant ? longest * CHAR_W * 0.6 : 0);
  const legendH = M.top + series.length * LEGEND_ROW + 10;
  const H = Math.ceil(Math.max(M.top + PLOT_H + bottom, legendH));
  const ph = H - M.top - bottom;
  const titleId = `${spec.id}-title`;
  const descId = `${spec.id}-desc`;
  const desc = `${values.length} measurements in ${series.length} series over ${spec.categories.length} categories `
    + `(${spec.xLabel}); y: ${spec.yLabel}, logarithmic. ${spec.encoding ? `${spec.encoding[0]!.toUpperCase()}${spec.encoding.slice(1)}. ` : ''}`
    + (spec.link ? 'Lines join neighbouring sizes that were both measured.' : 'No lines: each category is measured on its own.');
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-metric="${escapeXml(spec.metric)}" width="${W}" height="${H}" `
      + `viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${titleId} ${descId}" font-family="sans-serif" font-size="11">`,
    `<title id="${titleId}">${escapeXml(spec.title)}</title>`,
    `<desc id="${descId}">${escapeXml(desc)}</desc>`,
    `<text x="${M.left}" y="20" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  if (values.length === 0) {
    out.push(`<text x="${M.left}" y="${M.top + 30}">no measured value to plot (see the table)</text>`, '</svg>');
    return out.join('\n');
  }
  const ticks = yTicks(Math.min(...values), Math.max(...values));
  // A little room past the outer ticks, so a marker on a tick is not cut by the frame.
  const pad = (Math.log10(ticks[ticks.length - 1]!) - Math.log10(ticks[0]!)) * 0.04;
  const lo = Math.log10(ticks[0]!) - pad;
  const hi = Math.log10(ticks[ticks.length - 1]!) + pad;
  const sy = (v: number) => M.top + ph - ((Math.log10(v) - lo) / (hi - lo)) * ph;
  const cx = (i: number) => M.left + band * (i + 0.5);
  // Series sit side by side inside their category's slot, so equal values stay visible.
  const spread = Math.min(band * 0.7, series.length * 9);
  const offset = (j: number) => (series.length > 1 ? (j / (series.length - 1) - 0.5) * spread : 0);

  for (const t of ticks) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#e2e2e2"/>`,
      `<text x="${M.left - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end">${compact(t)}</text>`);
  }
  spec.categories.forEach((c, i) => {
    if (i > 0) {
      const x = (M.left + band * i).toFixed(1);
      out.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
    }
    const x = cx(i).toFixed(1);
    const y = M.top + ph + 15;
    out.push(slant
      ? `<text x="${x}" y="${y}" text-anchor="end" transform="rotate(-40 ${x} ${y})">${escapeXml(c)}</text>`
      : `<text x="${x}" y="${y}" text-anchor="middle">${escapeXml(c)}</text>`);
  });
  out.push(`<rect class="frame" x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`);

  const at = (j: number, p: DotPoint) => [cx(p.category) + offset(j), sy(p.value)] as const;
  // Links under every marker; outline markers over filled ones, so a filled
  // marker never hides an outline that coincides with it (equal figures).
  if (spec.link) series.forEach((s, j) => out.push(...linkPath(s, (p) => at(j, p))));
  const order = series.map((s, j) => j).sort((a, b) => Number(MARKER[series[a]!.shape].hollow) - Number(MARKER[series[b]!.shape].hollow));
  for (const j of order) {
    const s = series[j]!;
    for (const p of s.points) {
      const [x, y] = at(j, p);
      const label = `${s.name}, ${spec.categories[p.category] ?? '?'}: ${compact(p.value)} (${Math.round(p.value * 10) / 10})`;
      out.push(`<path class="mark" data-id="${escapeXml(p.id)}" data-value="${p.value}" ${marker(s, x, y)}>`
        + `<title>${escapeXml(label)}</title></path>`);
    }
  }
  series.forEach((s, j) => {
    const ly = M.top + 8 + j * LEGEND_ROW;
    const lx = W - M.right + 14;
    out.push('<g class="legend-item">'
      + (spec.link ? `<line x1="${lx}" x2="${lx + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="1.6"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>` : '')
      + `<path ${marker(s, lx + 15, ly)}/>`
      + `<text x="${lx + 38}" y="${ly + 4}">${escapeXml(s.name)}</text></g>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
