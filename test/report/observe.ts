// Reads the rendered page back from the browser's DOM into the same shape the
// strict parse gives (test/unit/report-check.ts), plus layout facts only a
// browser knows: where each mark and label ended up.
import type { Page } from 'playwright-core';
import type { ObservedPage } from '../unit/report-check.js';

export interface Box { x: number; y: number; width: number; height: number }

export interface Layout {
  charts: Array<{
    title: string;
    svg: Box;
    /** The plot area; null for a chart with nothing to plot. */
    frame: Box | null;
    marks: Array<{ id: string; value: number; box: Box }>;
    /** Every <text> of the chart that is drawn outside the chart's own box. */
    overflowing: string[];
  }>;
}

// The functions below run inside the page; this project's TypeScript has no
// DOM library, so the page's globals are reached untyped.
export async function observeDom(page: Page): Promise<ObservedPage> {
  return page.evaluate(() => {
    const doc = (globalThis as any).document;
    const sections = [...doc.querySelectorAll('section[data-suite]')].map((s: any) => {
      const table = s.querySelector('table.cells');
      const stall = s.querySelector('table.stall');
      return {
        suite: s.dataset.suite,
        rows: table ? table.tBodies[0].rows.length : null,
        stallRows: stall ? stall.tBodies[0].rows.length : null,
        charts: [...s.querySelectorAll('svg.chart')].map((svg: any) => ({
          metric: svg.dataset.metric,
          marks: [...svg.querySelectorAll('.mark')].map((m: any) => ({ id: m.dataset.id, value: Number(m.dataset.value) })),
          links: svg.querySelectorAll('.link').length,
        })),
        unavailable: s.querySelector('.unavailable') !== null,
      };
    });
    const script = doc.getElementById('bench-data');
    return {
      sections,
      text: doc.body.innerText,
      banner: doc.querySelector('.sim') !== null && doc.querySelector('.sim').getBoundingClientRect().height > 0,
      data: script ? JSON.parse(script.textContent) : undefined,
    };
  });
}

export async function layout(page: Page): Promise<Layout> {
  return page.evaluate(() => {
    const doc = (globalThis as any).document;
    const box = (e: any): Box => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    return {
      charts: [...doc.querySelectorAll('svg.chart')].map((svg: any) => {
        const s = box(svg);
        const inside = (b: Box) => b.x >= s.x - 1 && b.y >= s.y - 1 && b.x + b.width <= s.x + s.width + 1 && b.y + b.height <= s.y + s.height + 1;
        return {
          title: svg.querySelector('title').textContent,
          svg: s,
          frame: svg.querySelector('rect.frame') ? box(svg.querySelector('rect.frame')) : null,
          marks: [...svg.querySelectorAll('.mark')].map((m: any) => ({ id: m.dataset.id, value: Number(m.dataset.value), box: box(m) })),
          overflowing: [...svg.querySelectorAll('text')].filter((t: any) => !inside(box(t))).map((t: any) => t.textContent),
        };
      }),
    };
  });
}
