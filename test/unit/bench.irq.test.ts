// `vfio bench --suite irq`: on the simulator it runs (labelled simulated, no C
// reference) through the same code the lane runs on edu; the C reference
// builds and fails cleanly without /dev/vfio; the table and the CLI wiring.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIrqBench, IRQ_REF_SOURCE, runIrqBench, type IrqBenchReport } from '../../lib/bench/irq.js';
import { buildRef } from '../../lib/bench/ref.js';
import type { BenchReport } from '../../lib/bench/schema.js';
import { stallSize } from '../../lib/bench/stall.js';
import { checkPage, observeParsed } from './report-check.js';
import { parseSuites, wantsIrq } from '../../lib/cli/args.js';
import { SimBackend } from '../../lib/sim/index.js';
import { runCli } from './cli.helpers.js';

const cache = mkdtempSync(join(tmpdir(), 'vfio-irq-ref-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('bench --suite irq', () => {
  it('on the sim: MSI and INTx rows from the JS listener, labelled simulated, no C reference, one interrupt per raise', async () => {
    const r = await runCli(['bench', '--suite', 'irq', '--irq-runs', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as IrqBenchReport;
    // --irq-runs sizes both tables: the device's (here the sim's) and the host delivery table.
    expect(doc).toMatchObject({ available: true, simulated: true, runs: 200, rounds: 2, ratios: {} });
    expect(doc.host?.events).toBe(200);
    // The stall table ran on the sim too, labelled: its async is the fallback on the loop, no target judged.
    expect(doc.stall).toMatchObject({ available: true, simulated: true, offLoop: false, size: 64 << 20, pages: 16384, target: null, notes: [] });
    expect(doc.stall!.phases.map((p) => [p.id, p.entries])).toEqual([['idle', 0], ['sync', 1], ['async', 1], ['async-chunked', 32]]);
    for (const p of doc.stall!.phases) {
      expect(p.longestMs).toHaveLength(3);
      expect(p.wallMs).toHaveLength(3);
      expect(p.ticks).toBeGreaterThan(0);
      expect(p.worstMs).toBe(Math.max(...p.longestMs));
      expect(p.worstMs).toBeGreaterThanOrEqual(p.p99Ms);
      expect(p.p99Ms).toBeGreaterThanOrEqual(p.medianGapMs);
      expect(p.callMs).toHaveLength(3);
      // The time inside the call is part of the phase's wall time: all of it for sync, none for idle.
      p.callMs.forEach((c, i) => expect(c).toBeLessThanOrEqual(p.wallMs[i]!));
      if (p.id === 'idle') expect(p.callMs).toEqual([0, 0, 0]);
    }
    // The warm-up's cold calls are in the report: one page each way, timed, with the async call's stall.
    const w = doc.stall!.warmup!;
    for (const v of [w.syncCallMs, w.asyncCallMs, w.asyncStallMs]) expect(v).toBeGreaterThan(0);
    expect(doc.ref).toEqual({ available: false, reason: 'the simulator has no kernel: nothing for C to wait on' });
    expect(doc.rows.map((x) => `${x.kind}/${x.side}`)).toEqual(['msi/js', 'intx/js']);
    for (const row of doc.rows) {
      expect(row.samples).toHaveLength(200);
      expect(row.coalesced).toBe(0);
      expect(row.min).toBeGreaterThan(0);
      expect(row.min).toBeLessThanOrEqual(row.median);
      expect(row.median).toBeLessThanOrEqual(row.p99);
    }
    const table = await runCli(['bench', '--suite', 'irq', '--irq-runs', '200', '--warmup', '0']);
    expect(table.stdout).toMatch(/Interrupt latency: edu raise register \(BAR0 \+ 0x60\).*\[SIMULATED/);
    expect(table.stdout).toMatch(/MSI\s+node-vfio \(JS listener\)/);
    expect(table.stdout).toMatch(/INTX\s+node-vfio \(JS listener\)/);
    expect(table.stdout).toMatch(/C reference: unavailable \(the simulator has no kernel/);
    expect(table.stdout).toMatch(/Event-loop stall while mapping 64 MiB of 4 KiB pages \(16,384 pages\).*\[SIMULATED: no kernel, no pool thread/);
    expect(table.stdout).toMatch(/nothing running \(baseline\)\s+-\s+\d+\.\d ms/);
    expect(table.stdout).toMatch(/mapBatchAsync, one entry \[sim fallback: on the loop after one turn\]\s+1\s/);
    expect(table.stdout).toMatch(/target \(async longest stall <= 10 ms\): not judged: the sim has no kernel pinning/);
    expect(table.stdout).toMatch(/warm-up, before the rounds .*: one page, mapBatchAsync \d+\.\d\d ms in the call, longest stall \d+\.\d ms; mapBatch \d+\.\d\d ms/);
  });

  it('beside other suites: the table follows theirs, and JSON carries it as irq', async () => {
    const quick = ['--reps', '1', '--warmup', '0', '--no-progress'];
    const t = await runCli(['bench', ...quick, '--suite', 'matrix,irq', '--irq-runs', '200']);
    expect(t.code).toBe(0);
    expect(t.stdout.indexOf('Interrupt latency')).toBeGreaterThan(t.stdout.indexOf('Map cost'));
    const j = JSON.parse((await runCli(['bench', ...quick, '--suite', 'matrix,irq', '--irq-runs', '200', '--json'])).stdout);
    expect(j.irq.rows).toHaveLength(2);
  });

  it('--report DIR: the page has the irq section, latency and stall, charted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfio-irq-report-'));
    try {
      const r = await runCli(['bench', '--suite', 'irq', '--irq-runs', '200', '--warmup', '0', '--json', '--report', dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/report written to .*index\.html/);
      const doc = JSON.parse(r.stdout) as IrqBenchReport;
      const page = observeParsed(readFileSync(join(dir, 'index.html'), 'utf8'));
      expect(page.sections.map((s) => s.suite)).toEqual(['irq']);
      expect((page.data as BenchReport).irq).toEqual(JSON.parse(JSON.stringify(doc)));
      checkPage(page, page.data as BenchReport);
      expect(page.sections[0]!.charts.map((c) => c.marks.length)).toEqual([2, 4]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the stall region: 1 GiB where memory allows, else the largest power of two leaving 384 MiB; --max-memory caps it', () => {
    const MiB = 2 ** 20;
    expect(stallSize(false, null, 1700 * MiB)).toMatchObject({ size: 1n << 30n });
    expect(stallSize(false, null, 1300 * MiB)).toMatchObject({ size: 512n << 20n });
    expect(stallSize(false, null, 1300 * MiB).reason).toMatch(/512 MiB: the largest power of two leaving 384 MiB of the 1300 MiB available/);
    expect(stallSize(false, 100n * BigInt(MiB), 1700 * MiB)).toMatchObject({ size: 64n << 20n });
    expect(stallSize(false, null, 0)).toMatchObject({ size: 1n << 20n });
    expect(stallSize(true, null)).toMatchObject({ size: 64n << 20n });
  });

  it('is asked for by name only (all needs no edu)', () => {
    expect(parseSuites('irq')).toEqual([]);
    expect(wantsIrq('irq')).toBe(true);
    expect(wantsIrq('matrix, irq')).toBe(true);
    expect(wantsIrq('all')).toBe(false);
    expect(wantsIrq(undefined)).toBe(false);
  });

  it('says why it is unavailable: no such device', async () => {
    const backend = new SimBackend();
    const r = await runIrqBench({ backend, host: backend.host(), group: null, device: '0000:00:09.0' });
    expect(r.available).toBe(false);
    expect(r.reason).toMatch(/no PCI device 0000:00:09\.0/);
    expect(formatIrqBench(r)).toMatch(/unavailable: no PCI device/);
  });

  it('prints the C reference and the JS / C ratio when both ran', () => {
    const row = (kind: 'msi' | 'intx', side: 'js' | 'c', median: number) => ({ kind, side, samples: [], min: median / 2, median, p99: median * 2, coalesced: 0 });
    const r: IrqBenchReport = {
      kernel: '6.12.0', available: true, reason: null, simulated: false, device: '0000:00:03.0', runs: 1000, warmup: 50, rounds: 2,
      rows: [row('msi', 'js', 30_000), row('msi', 'c', 20_000), row('intx', 'js', 60_000), row('intx', 'c', 50_000)],
      ref: { available: true, reason: null }, ratios: { msi: 1.5, intx: 1.2 }, notes: [], stall: null, group: 3,
    };
    const text = formatIrqBench(r);
    expect(text).toMatch(/MSI\s+node-vfio \(JS listener\)\s+15 us\s+30 us\s+60 us\s+0\s+1\.50x/);
    expect(text).toMatch(/MSI\s+C reference \(epoll\)\s+10 us\s+20 us/);
    expect(text).toMatch(/INTX\s+node-vfio \(JS listener\).*1\.20x/);
    expect(text).not.toMatch(/SIMULATED/);
  });

  it.skipIf(!existsSync('/usr/bin/cc') && !process.env.CC)('the C reference builds once per source and fails cleanly without /dev/vfio', () => {
    const bin = buildRef(cache, IRQ_REF_SOURCE);
    expect(buildRef(cache, IRQ_REF_SOURCE)).toBe(bin);
    const r = spawnSync(bin, ['4242', '0000:00:03.0', 'msi', '10', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^error \d+ open (\/dev\/vfio\/vfio|group)/);
  });
});
