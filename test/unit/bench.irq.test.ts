// `vfio bench --suite irq`: on the simulator it runs (labelled simulated, no C
// reference) through the same code the lane runs on edu; the C reference
// builds and fails cleanly without /dev/vfio; the table and the CLI wiring.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIrqBench, IRQ_REF_SOURCE, runIrqBench, type IrqBenchReport } from '../../lib/bench/irq.js';
import { buildRef } from '../../lib/bench/ref.js';
import { parseSuites, wantsIrq } from '../../lib/cli/args.js';
import { SimBackend } from '../../lib/sim/index.js';
import { runCli } from './cli.helpers.js';

const cache = mkdtempSync(join(tmpdir(), 'vfio-irq-ref-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('bench --suite irq', () => {
  it('on the sim: MSI and INTx rows from the JS listener, labelled simulated, no C reference, one interrupt per raise', async () => {
    const r = await runCli(['bench', '--suite', 'irq', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as IrqBenchReport;
    expect(doc).toMatchObject({ available: true, simulated: true, runs: 1000, rounds: 2, stall: null, ratios: {} });
    expect(doc.ref).toEqual({ available: false, reason: 'the simulator has no kernel: nothing for C to wait on' });
    expect(doc.rows.map((x) => `${x.kind}/${x.side}`)).toEqual(['msi/js', 'intx/js']);
    for (const row of doc.rows) {
      expect(row.samples).toHaveLength(1000);
      expect(row.coalesced).toBe(0);
      expect(row.min).toBeGreaterThan(0);
      expect(row.min).toBeLessThanOrEqual(row.median);
      expect(row.median).toBeLessThanOrEqual(row.p99);
    }
    const table = await runCli(['bench', '--suite', 'irq', '--warmup', '0']);
    expect(table.stdout).toMatch(/Interrupt latency: edu raise register \(BAR0 \+ 0x60\).*\[SIMULATED/);
    expect(table.stdout).toMatch(/MSI\s+node-vfio \(JS listener\)/);
    expect(table.stdout).toMatch(/INTX\s+node-vfio \(JS listener\)/);
    expect(table.stdout).toMatch(/C reference: unavailable \(the simulator has no kernel/);
    expect(table.stdout).toMatch(/Event-loop stall while mapping \(async plans\): not measured yet/);
  });

  it('beside other suites: the table follows theirs, and JSON carries it as irq', async () => {
    const quick = ['--reps', '1', '--warmup', '0', '--no-progress'];
    const t = await runCli(['bench', ...quick, '--suite', 'matrix,irq']);
    expect(t.code).toBe(0);
    expect(t.stdout.indexOf('Interrupt latency')).toBeGreaterThan(t.stdout.indexOf('Map cost'));
    const j = JSON.parse((await runCli(['bench', ...quick, '--suite', 'matrix,irq', '--json'])).stdout);
    expect(j.irq.rows).toHaveLength(2);
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
      ref: { available: true, reason: null }, ratios: { msi: 1.5, intx: 1.2 }, notes: [], stall: null,
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
