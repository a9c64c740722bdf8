// The HTML report without a browser: a strict parse of the page, then the same
// checks the browser test (test/report) makes on the rendered DOM.
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../lib/bench/report-html.js';
import { all, hasClass, parseStrict, visibleText, type El } from './report-dom.js';
import { checkPage, observeParsed } from './report-check.js';
import { cell, fullReport, viaJson } from './bench.report.fixture.js';

const section = (root: El, suite: string) => all(root, (e) => e.tag === 'section' && e.attrs['data-suite'] === suite)[0]!;
const charts = (e: El) => all(e, (x) => x.tag === 'svg' && hasClass(x, 'chart'));

describe('HTML report, strict parse', () => {
  it('every suite has a table of all its cells and charts of exactly its measured cells', () => {
    const r = fullReport();
    checkPage(observeParsed(renderHtml(r)), r);
  });

  it('renders the same from a JSON file, where unmeasured figures are null', () => {
    const r = viaJson(fullReport());
    checkPage(observeParsed(renderHtml(r)), r);
  });

  it('a real (not simulated) run has no banner, and an unavailable kernel pin path says why', () => {
    const r = fullReport({ simulated: false, kernelPin: false, overhead: false });
    const html = renderHtml(r);
    checkPage(observeParsed(html), r);
    expect(visibleText(parseStrict(html))).not.toMatch(/simulated/i);
    const kp = section(parseStrict(html), 'kernel-pin');
    expect(visibleText(section(parseStrict(html), 'overhead'))).toMatch(/Unavailable: the addon is not built/);
    expect(visibleText(kp)).toMatch(/Unavailable: no \/dev\/iommu/);
    expect(charts(kp)).toHaveLength(0);
  });

  it('the simulated banner comes before any figure, and every heading says simulated but the kernel pin path\'s and the overhead suite\'s', () => {
    const root = parseStrict(renderHtml(fullReport()));
    const body = all(root, (e) => e.tag === 'body')[0]!;
    const order = all(body, (e) => hasClass(e, 'sim') || e.tag === 'section');
    expect(hasClass(order[0]!, 'sim')).toBe(true);
    // The kernel's pin path and the library's overhead are measured on this host whatever the backend: never simulated.
    let measured = 0;
    for (const h of all(body, (e) => e.tag === 'h2')) {
      const text = visibleText(h).trim();
      if (text === 'Notes') continue;
      if (text.startsWith('Kernel pin path') || text.startsWith('Library overhead')) {
        measured++;
        expect(text).not.toMatch(/simulated/);
        // Neither goes through an IOMMU: no IOMMU named.
        expect(text).not.toMatch(/\[IOMMU:/);
      } else {
        expect(text).toMatch(/ \[IOMMU: sim amd-vi-qemu\] \(simulated\)$/);
      }
    }
    expect(measured).toBe(2);
    expect(visibleText(all(body, (e) => hasClass(e, 'sim'))[0]!)).toMatch(/except in the sections not marked simulated/);
  });

  it('`--suite kernel-pin` alone: a page with the kernel pin path only', () => {
    const r = fullReport();
    r.cells = [];
    r.plannerOverhead = [];
    r.options.suites = [];
    delete r.overhead;
    delete r.irq;
    const page = observeParsed(renderHtml(r));
    checkPage(page, r);
    expect(page.sections.map((s) => s.suite)).toEqual(['kernel-pin']);
  });

  it('a suite the report has no code for (future) still gets a table and a chart of its cells', () => {
    const irq = section(parseStrict(renderHtml(fullReport())), 'future');
    const rows = all(irq, (e) => e.tag === 'tr' && !all(e, (x) => x.tag === 'th').length);
    expect(rows).toHaveLength(6);
    const [chart] = charts(irq);
    expect(all(chart!, (e) => hasClass(e, 'mark'))).toHaveLength(6);
    // Its categories are what its cells vary in: size and pattern.
    expect(visibleText(chart!)).toMatch(/eventfd/);
    expect(visibleText(chart!)).toMatch(/16 pages|64 KiB/);
  });

  it('no line joins two matrix sizes, or any two categories outside the scaling sweep', () => {
    const root = parseStrict(renderHtml(fullReport()));
    for (const s of all(root, (e) => e.tag === 'section' && 'data-suite' in e.attrs)) {
      if (s.attrs['data-suite'] === 'scaling') continue;
      for (const c of charts(s)) expect(all(c, (e) => hasClass(e, 'link') || e.tag === 'polyline')).toHaveLength(0);
    }
  });

  it('scaling lines join neighbouring sizes only and break where a size was skipped', () => {
    const scaling = section(parseStrict(renderHtml(fullReport())), 'scaling');
    for (const c of charts(scaling)) {
      const links = all(c, (e) => hasClass(e, 'link'));
      expect(links).toHaveLength(9);
      // 8 sizes: 7 segments per series; hugetlb skipped 128 KiB (the 6th), which removes 2 segments.
      const segments = links.map((l) => l.attrs.d!.match(/M/g)!.length);
      expect(segments.filter((n) => n === 7)).toHaveLength(6);
      expect(segments.filter((n) => n === 5)).toHaveLength(3);
      for (const l of links) {
        // Each segment spans one category slot: the same x distance, give or take the series offset.
        const xs = [...l.attrs.d!.matchAll(/M([\d.]+) [\d.]+L([\d.]+)/g)].map((m) => Number(m[2]) - Number(m[1]));
        for (const dx of xs) expect(dx).toBeCloseTo(xs[0]!, 0);
      }
    }
  });

  it('overlapping series are told apart: each has its own colour and marker pair, a legend entry and an offset', () => {
    const root = parseStrict(renderHtml(fullReport()));
    for (const c of charts(root)) {
      const legend = all(c, (e) => hasClass(e, 'legend-item'));
      const names = legend.map((g) => visibleText(g).trim());
      expect(new Set(names).size).toBe(names.length);
      const looks = legend.map((g) => {
        const m = all(g, (e) => e.tag === 'path')[0]!;
        return `${m.attrs.d!.replace(/[^A-Za-z]/g, '')} ${m.attrs.fill} ${m.attrs.stroke}`;
      });
      expect(new Set(looks).size, `distinct markers in ${all(c, (e) => e.tag === 'title')[0]!.children[0]}`).toBe(looks.length);
    }
    // 1 page, matrix: nine equal-looking cells still sit at nine x positions.
    const matrix = charts(section(root, 'matrix'))[0]!;
    const firstSlot = all(matrix, (e) => hasClass(e, 'mark') && /\/4096\//.test(e.attrs['data-id']!) && !e.attrs['data-id']!.startsWith('iommufd'));
    expect(firstSlot).toHaveLength(9);
    const x = (m: El) => Number(/^M([\d.]+)/.exec(m.attrs.d!)![1]);
    const byStrategy = (s: string) => firstSlot.filter((m) => m.attrs['data-id']!.endsWith(`/${s}`)).map(x);
    for (const s of ['per-page', 'coalesced', 'kernel']) expect(new Set(byStrategy(s)).size).toBe(3);
  });

  it('is self-contained and accessible: no external resource or script, labelled charts, captioned tables', () => {
    const html = renderHtml(fullReport());
    const root = parseStrict(html);
    expect(all(root, (e) => e.tag === 'link' || e.tag === 'img' || e.tag === 'iframe')).toHaveLength(0);
    expect(all(root, (e) => Object.values(e.attrs).some((v) => /^(https?:)?\/\//.test(v) && !v.startsWith('http://www.w3.org/2000/svg')))).toHaveLength(0);
    expect(all(root, (e) => e.tag === 'script').map((s) => s.attrs.type)).toEqual(['application/json']);
    expect(html).not.toMatch(/url\(|@import/);
    const ids = all(root, (e) => 'id' in e.attrs).map((e) => e.attrs.id!);
    expect(new Set(ids).size).toBe(ids.length);
    for (const svg of charts(root)) {
      expect(svg.attrs.role).toBe('img');
      const [t, d] = svg.attrs['aria-labelledby']!.split(' ');
      expect(all(svg, (e) => e.tag === 'title' && e.attrs.id === t)).toHaveLength(1);
      expect(visibleText(all(svg, (e) => e.tag === 'desc' && e.attrs.id === d)[0]!)).toMatch(/\d+ measurements in \d+ series/);
    }
    for (const f of all(root, (e) => e.tag === 'figure')) expect(all(f, (e) => e.tag === 'figcaption')).toHaveLength(1);
    for (const t of all(root, (e) => e.tag === 'table')) {
      expect(all(t, (e) => e.tag === 'caption')).toHaveLength(1);
      expect(all(t, (e) => e.tag === 'th').every((th) => th.attrs.scope === 'col')).toBe(true);
    }
  });

  it('names the IOMMU in the page\'s facts and in the caption of every table that went through it', () => {
    const root = parseStrict(renderHtml(fullReport()));
    const meta = visibleText(all(root, (e) => e.tag === 'dl')[0]!);
    expect(meta).toMatch(/IOMMU\s*sim amd-vi-qemu: simulated: AMD-Vi as QEMU 7\.2 emulates it/);
    let tagged = 0;
    for (const sec of all(root, (e) => e.tag === 'section' && e.attrs['data-suite'] !== undefined)) {
      const measured = ['kernel-pin', 'overhead'].includes(sec.attrs['data-suite']!);
      for (const cap of all(sec, (e) => e.tag === 'caption')) {
        if (measured) expect(visibleText(cap)).not.toMatch(/\[IOMMU:/);
        else {
          expect(visibleText(cap)).toMatch(/\[IOMMU: sim amd-vi-qemu\]$/);
          tagged++;
        }
      }
    }
    expect(tagged).toBeGreaterThan(5);
  });

  it('skipped cells are table rows with their reason, and not marks', () => {
    const r = fullReport();
    const scaling = section(parseStrict(renderHtml(r)), 'scaling');
    const skipped = all(scaling, (e) => e.tag === 'tr' && hasClass(e, 'skipped'));
    expect(skipped).toHaveLength(3);
    expect(visibleText(skipped[0]!)).toMatch(/skipped: cannot allocate a hugetlb buffer/);
    expect(all(scaling, (e) => hasClass(e, 'mark') && /\/131072\/hugetlb\//.test(e.attrs['data-id']!))).toHaveLength(0);
    for (const f of all(scaling, (e) => e.tag === 'figcaption')) expect(visibleText(f)).toMatch(/69 measurements .*; 3 without a measured value, not plotted/);
  });

  it('a suite with every cell skipped keeps its table and says there is nothing to plot', () => {
    const r = fullReport();
    r.cells = r.cells.map((c) => (c.suite === 'dirty' ? cell(c, 'no dirty tracking') : c));
    const html = renderHtml(r);
    checkPage(observeParsed(html), r);
    expect(visibleText(section(parseStrict(html), 'dirty'))).toMatch(/no measured value to plot/);
  });

  it('escapes what the host reports', () => {
    const r = fullReport();
    r.host.hostname = '<script>alert(1)</script> & co';
    r.notes = ['a <b>note</b>'];
    const root = parseStrict(renderHtml(r));
    expect(visibleText(root)).toContain('<script>alert(1)</script> & co');
    expect(all(root, (e) => e.tag === 'script')).toHaveLength(1);
    expect(all(root, (e) => e.tag === 'b' && visibleText(e) === 'note')).toHaveLength(0);
  });

  it('the strict parser refuses what a browser would quietly repair', () => {
    const page = (body: string) => `<!doctype html><html><body>${body}</body></html>`;
    expect(() => parseStrict(page('<p><b>x</p></b>'))).toThrow(/closes <b>/);
    expect(() => parseStrict(page('<p class=x>y</p>'))).toThrow(/malformed tag/);
    expect(() => parseStrict(page('<p a="1" a="2">y</p>'))).toThrow(/duplicate attribute/);
    expect(() => parseStrict(page('a & b'))).toThrow(/entity/);
    expect(() => parseStrict(page('<div>'))).toThrow(/closes <div>|unclosed/);
  });

  it('the page checks fail on a missing mark, a missing row, a NaN or a missing banner', () => {
    const r = fullReport();
    const good = observeParsed(renderHtml(r));
    const broken = (f: (p: typeof good) => void) => {
      const p = structuredClone(good);
      f(p);
      return () => checkPage(p, r);
    };
    expect(broken(() => {})).not.toThrow();
    expect(broken((p) => p.sections[0]!.charts[0]!.marks.pop())).toThrow();
    expect(broken((p) => { p.sections.find((s) => s.suite === 'irq')!.rows! -= 1; })).toThrow();
    expect(broken((p) => { p.text += ' NaN'; })).toThrow();
    expect(broken((p) => { p.banner = false; })).toThrow();
    expect(broken((p) => { p.sections.find((s) => s.suite === 'kernel-pin')!.charts[0]!.marks[0]!.value *= 2; })).toThrow();
    expect(broken((p) => { p.sections = p.sections.filter((s) => s.suite !== 'irq'); })).toThrow();
  });
});

describe('HTML report: the irq suite', () => {
  for (const [what, opts] of [
    ['a real run: MSI and INTx beside C, and the stall table', { simulated: false, irq: 'full' }],
    ['the C reference failed: JS rows only, the note shown', { simulated: false, irq: 'no-c' }],
    ['no edu: the latency is unavailable, the stall table still there', { simulated: false, irq: 'no-edu' }],
    ['on the sim: labelled simulated, no target judged', { simulated: true, irq: 'full' }],
  ] as const) {
    it(what, () => {
      const r = fullReport(opts);
      const html = renderHtml(r);
      checkPage(observeParsed(html), r);
      const sec = section(parseStrict(html), 'irq');
      const text = visibleText(sec);
      expect(text).toMatch(/Event-loop stall while mapping 1 GiB of 4 KiB pages/);
      expect(text).toMatch(/nothing running \(baseline\)/);
      // The cold first calls are shown beside the table, not dropped.
      expect(text).toMatch(/warm-up, before the rounds .* mapBatchAsync 7\.93 ms in the call, longest stall 21\.6 ms/);
      if (opts.irq === 'full' && !opts.simulated) {
        expect(text).toMatch(/C reference \(epoll\)/);
        expect(text).toMatch(/longest stall <= 10 ms: 12\.2 ms, NOT met/);
      }
      if (opts.irq === 'no-c') expect(text).toMatch(/msi, C reference: cc not found/);
      if (opts.irq === 'no-edu') expect(text).toMatch(/Unavailable: latency: 0000:00:03\.0 is not QEMU's edu/);
      if (opts.simulated) expect(text).toMatch(/not judged: the sim has no kernel pinning/);
    });
  }
});
