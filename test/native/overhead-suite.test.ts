// `vfio bench --suite overhead` end to end through the real addon: the CLI
// finds the stand-in even on the sim (this host has no VFIO), and the JSON has
// every figure. Timings are never compared with the targets here: whether a
// target is met depends on the machine; that the report says so does not.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTable } from '../../lib/bench/format-table.js';
import { suiteViews } from '../../lib/bench/report-suites.js';
import type { BenchReport } from '../../lib/bench/schema.js';
import { parseCli } from '../../lib/cli/args.js';
import { runOverhead } from '../../lib/bench/overhead.js';
import { formatOverhead } from '../../lib/bench/overhead-format.js';
import { defaultPlanner } from '../../lib/bench/planner.js';
import { runCli } from '../unit/cli.helpers.js';

const FIGURES = ['syscall', 'syscall-timed', 'syscall-timed-wall', 'map', 'run-plan-1', 'planned-1', 'plan-512-js', 'plan-512-executor', 'plan-512-loop'];

// In the HIL guest the stand-in (no VFIO needed) would measure QEMU for ~96 s: it runs in npm test on the host.
describe.skipIf(process.env.VFIO_HIL === '1')('bench --suite overhead (host only: in the HIL lane it would time the emulator)', () => {
  it('parses alone, beside cell suites, and through all', () => {
    expect(parseCli(['bench', '--suite', 'overhead'])).toMatchObject({ suites: [], overhead: true, kernelPin: false });
    expect(parseCli(['bench', '--suite', 'matrix,overhead'])).toMatchObject({ suites: ['matrix'], overhead: true });
    expect(parseCli(['bench', '--suite', 'all'])).toMatchObject({ overhead: true });
    expect(parseCli(['bench'])).toMatchObject({ overhead: false });
  });

  // One CLI run (each times ~10^6 calls): the figures and targets, beside a cell suite on the sim.
  it('beside a cell suite on the sim: every figure positive, each target judged, in the JSON, the table and the HTML report, never labelled simulated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfio-overhead-'));
    try {
      const res = await runCli(['bench', '--suite', 'matrix,overhead', '--reps', '1', '--warmup', '0', '--no-progress', '--json', '--report', dir]);
      expect(res.code).toBe(0);
      const report = JSON.parse(res.stdout) as BenchReport;
      expect(report.simulated).toBe(true);
      const r = report.overhead!;
      expect(r).toMatchObject({ available: true, reason: null });
      expect(r.syscall).toMatch(/FIONBIO/);
      expect(r.figures.map((f) => f.id)).toEqual(FIGURES);
      for (const f of r.figures) {
        for (const v of [f.ns, f.min, f.max]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThan(0);
        }
        expect(f.min).toBeLessThanOrEqual(f.ns);
        expect(f.ns).toBeLessThanOrEqual(f.max);
      }
      expect(r.targets.map((t) => t.id)).toEqual(['map-vs-syscall', 'planned-vs-map', 'plan-512-vs-loop', 'plan-512-vs-timed-loop']);
      for (const t of r.targets) {
        expect(Number.isFinite(t.value)).toBe(true);
        expect(t.met).toBe(t.value <= t.limit);
      }
      const text = formatTable(report);
      expect(text).toContain('except the library overhead table, measured on this host');
      expect(text).toMatch(/512-entry plan per entry over the C loop\s+[+-]/);
      const view = suiteViews(report).find((v) => v.key === 'overhead');
      expect(view).toMatchObject({ measured: true });
      expect(view!.tables.map((t) => t.rows.length)).toEqual([report.overhead!.figures.length, report.overhead!.targets.length]);
      const html = readFileSync(join(dir, 'index.html'), 'utf8');
      expect(html).toMatch(/<h2>Library overhead[^<]*no VFIO</);
      expect(html).toMatch(/<h2>Map cost[^<]*\(simulated\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('says unavailable, and why, where there is no addon', () => {
    const r = runOverhead({ backend: null, probe: null, reason: 'VFIO is Linux-only (this is darwin)' }, { rounds: 1, samples: 1, planner: defaultPlanner });
    expect(r).toMatchObject({ available: false, figures: [], targets: [] });
    expect(formatOverhead(r)).toContain('unavailable: VFIO is Linux-only (this is darwin)');
  });
});
