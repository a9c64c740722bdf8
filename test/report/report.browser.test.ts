// The HTML report as a reader gets it: rendered by Chromium. Each suite in the
// JSON must have its table (one row per cell) and charts with one visible mark
// per measured cell, placed by value, inside the plot; no NaN/undefined text;
// the simulated banner shown; no request leaves the page (self-contained).
// Run by `npm run test:report` (needs /usr/bin/chromium: scripts/ensure-chromium.sh).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { renderHtml } from '../../lib/bench/report-html.js';
import type { BenchReport } from '../../lib/bench/schema.js';
import { SimBackend } from '../../lib/sim/index.js';
import { fullReport } from '../unit/bench.report.fixture.js';
import { checkPage } from '../unit/report-check.js';
import { runCli } from '../unit/cli.helpers.js';
import { launch } from './browser.js';
import { layout, observeDom } from './observe.js';

const dir = mkdtempSync(join(tmpdir(), 'vfio-report-browser-'));
let browser: Awaited<ReturnType<typeof launch>>;
let context: BrowserContext;

beforeAll(async () => {
  browser = await launch();
  context = browser.context;
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a report file; fails on any request other than the file itself, and on page errors. */
async function open(file: string): Promise<Page> {
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const foreign: string[] = [];
  page.on('request', (req) => { if (req.url() !== url) foreign.push(req.url()); });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url, { waitUntil: 'load' });
  expect(foreign, 'requests beyond the page itself').toEqual([]);
  expect(errors).toEqual([]);
  // CI can keep what the browser showed: REPORT_SCREENSHOTS=DIR.
  const shots = process.env.REPORT_SCREENSHOTS;
  if (shots) await page.screenshot({ path: join(shots, `${file.split('/').slice(-2).join('-')}.png`), fullPage: true });
  return page;
}

async function checkRendered(file: string, r: BenchReport): Promise<void> {
  const page = await open(file);
  try {
    checkPage(await observeDom(page), r);
    const { charts } = await layout(page);
    expect(charts.length).toBeGreaterThan(0);
    for (const c of charts) {
      expect(c.overflowing, `text drawn outside "${c.title}"`).toEqual([]);
      const f = c.frame;
      if (f === null) {
        expect(c.marks, `"${c.title}" has no plot area, so no marks`).toEqual([]);
        continue;
      }
      for (const m of c.marks) {
        expect(m.box.width * m.box.height, `${m.id} is drawn`).toBeGreaterThan(4);
        const cy = m.box.y + m.box.height / 2;
        const cx = m.box.x + m.box.width / 2;
        expect(cy >= f.y && cy <= f.y + f.height && cx >= f.x && cx <= f.x + f.width, `${m.id} inside the plot of "${c.title}"`).toBe(true);
      }
      // Placed by value: a clearly larger figure is drawn higher (log y, so compare ratios).
      const ys = c.marks.map((m) => ({ v: m.value, y: m.box.y + m.box.height / 2 })).sort((a, b) => a.v - b.v);
      for (let i = 1; i < ys.length; i++) {
        for (let j = 0; j < i; j++) {
          if (ys[i]!.v > ys[j]!.v * 1.05) expect(ys[i]!.y, `"${c.title}": ${ys[i]!.v} above ${ys[j]!.v}`).toBeLessThan(ys[j]!.y);
        }
      }
    }
  } finally {
    await page.close();
  }
}

describe('the HTML report in Chromium', () => {
  it('a synthetic run with every suite, iommufd, skipped cells, kernel-pin, the irq suite (latency beside C, the stall table) and a future suite the report has no code for', async () => {
    const r = fullReport();
    const file = join(dir, 'full.html');
    writeFileSync(file, renderHtml(r));
    await checkRendered(file, r);
  });

  it('a real (not simulated) run whose kernel pin path was unavailable: no banner, the reason shown; the irq suite with the C reference and the stall target', async () => {
    const r = fullReport({ simulated: false, kernelPin: false });
    const file = join(dir, 'native.html');
    writeFileSync(file, renderHtml(r));
    await checkRendered(file, r);
    const page = await open(file);
    expect(await page.locator('.sim').count()).toBe(0);
    expect(await page.locator('#suite-kernel-pin .unavailable').innerText()).toMatch(/no \/dev\/iommu/);
    const irq = await page.locator('#suite-irq').innerText();
    expect(irq).toMatch(/C reference \(epoll\)/);
    expect(irq).toMatch(/async map's longest stall <= 10 ms: 12\.2 ms, NOT met/);
    await page.close();
  });

  it('what `vfio bench --suite all --report DIR` writes on the sim', async () => {
    const out = join(dir, 'cli');
    const sim: BackendOpener = () => ({ backend: new SimBackend(), reason: 'sim: requested' });
    // 16 MiB at most: the big scaling cells are skipped, which the report must show as skipped rows.
    const res = await runCli(['bench', '--suite', 'all', '--reps', '2', '--warmup', '0', '--max-memory', '16M', '--json', '--report', out], { open: sim });
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as BenchReport;
    expect(new Set(r.cells.map((c) => c.suite))).toEqual(new Set(['matrix', 'scaling', 'patterns', 'unmap', 'dirty']));
    expect(r.cells.some((c) => c.skipped)).toBe(true);
    await checkRendered(join(out, 'index.html'), r);
    const page = await open(join(out, 'index.html'));
    expect(await page.locator('.sim').innerText()).toMatch(/^Simulated\./);
    expect(await page.locator('h2').first().innerText()).toMatch(/\(simulated\)$/);
    await page.close();
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('id="bench-data"');
  });
});
