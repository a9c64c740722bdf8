// The CLI as a user meets it: help per command, a bare `vfio`, the tool's own
// words for bad values, the progress line, probe on a host with the IOMMU off,
// and --report refused before the run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OPTION_NAMES } from '../../lib/cli/args.js';
import { COMMANDS, COMMAND_USAGE } from '../../lib/cli/usage.js';
import { formatEta, progressBar } from '../../lib/bench/progress.js';
import { VfioError } from '../../lib/errors.js';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { noNative, runCli } from './cli.helpers.js';
import { fakeHost, type FakeHost } from './sysfs.fixture.js';

const quick = ['--reps', '1', '--warmup', '0', '--no-progress'];

describe('help', () => {
  it.each(COMMANDS.map((c) => [c, c]))('`vfio %s --help` and `vfio help %s` print the same page, exit 0', async (cmd: string) => {
    const a = await runCli([cmd, '--help']);
    const b = await runCli(['help', cmd]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`^Usage: vfio ${cmd}`));
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).not.toBe((await runCli(['--help'])).stdout);
  });

  it.each(COMMANDS.map((c) => [c]))('the %s page documents every option the parser accepts', (cmd) => {
    const missing = OPTION_NAMES[cmd].filter((o) => !COMMAND_USAGE[cmd].includes(`--${o}`));
    expect(missing).toEqual([]);
  });

  it('bare `vfio` prints the overview on stderr and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: vfio <command>/);
    expect(r.stderr).toMatch(/vfio help <command>/);
  });

  it('help on something that is not a command is a usage error', async () => {
    const r = await runCli(['help', 'nonsense']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no help on "nonsense"; commands: probe, bench, bind, unbind/);
  });
});

describe('bad values, in the tool\'s words', () => {
  it('--reps -5 is out of range, not an "ambiguous argument"', async () => {
    const r = await runCli(['bench', '--reps', '-5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vfio: --reps must be a whole number from 1 to 1000000, got -5\n/);
    expect(r.stderr).not.toMatch(/ambiguous/);
    expect(r.stderr).toMatch(/Run "vfio bench --help" for usage/);
  });

  it('--warmup=-1 and --group -3 the same way', async () => {
    expect((await runCli(['bench', '--warmup=-1'])).stderr).toMatch(/--warmup must be a whole number from 0 to 1000000, got -1/);
    expect((await runCli(['probe', '--group', '-3'])).stderr).toMatch(/--group must be a whole number from 0 to 4294967295, got -3/);
  });

  it('unknown options, missing values, values on switches, stray arguments', async () => {
    expect((await runCli(['bench', '--fast'])).stderr).toMatch(/^vfio: bench has no option --fast \(see "vfio bench --help"\)/);
    expect((await runCli(['bench', '--reps'])).stderr).toMatch(/^vfio: --reps needs a value/);
    expect((await runCli(['probe', '--json=yes'])).stderr).toMatch(/^vfio: --json is a switch and takes no value/);
    expect((await runCli(['bench', 'matrix'])).stderr).toMatch(/^vfio: bench takes no argument "matrix"/);
    for (const argv of [['bench', '--fast'], ['bench', '--reps'], ['probe', '--json=yes'], ['bench', 'matrix']]) {
      expect((await runCli(argv)).code).toBe(2);
    }
  });
});

describe('progress line', () => {
  it('estimates the time left from the mean cell time so far', () => {
    let t = 0;
    const out: string[] = [];
    const bar = progressBar({ write: (s) => out.push(s), isTTY: true }, 10, () => t);
    bar(0, 10, 'matrix contiguous 4 KiB 4k per-page');
    expect(out.at(-1)).not.toMatch(/left/); // nothing measured yet
    t = 2_000;
    bar(1, 10, 'matrix contiguous 2 MiB 4k per-page');
    expect(out.at(-1)).toMatch(/1\/10 ~18s left matrix contiguous 2 MiB 4k per-page/);
    t = 100_000;
    bar(5, 10, 'x');
    expect(out.at(-1)).toMatch(/5\/10 ~1m40s left x/);
    bar(10, 10, 'done');
    expect(out.at(-1)!.trim()).toBe('');
  });

  it('formats durations short', () => {
    expect([formatEta(0), formatEta(59.4), formatEta(61), formatEta(3725)]).toEqual(['0s', '59s', '1m01s', '1h02m']);
  });

  it('stays silent off a terminal', () => {
    const out: string[] = [];
    progressBar({ write: (s) => out.push(s), isTTY: false })(1, 2, 'x');
    expect(out).toEqual([]);
  });

  it('the bench labels cells with human sizes on a terminal', async () => {
    const r = await runCli(['bench', '--reps', '1', '--warmup', '0'], { tty: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/matrix contiguous 2 MiB thp kernel/);
    expect(r.stderr).toMatch(/~\d+s left/);
    expect(r.stderr).not.toMatch(/2097152/);
  });
});

describe('probe with the IOMMU off', () => {
  let host: FakeHost | undefined;
  afterEach(() => host?.cleanup());

  it('says how to turn it on: firmware VT-d / AMD-Vi, intel_iommu=on / amd_iommu=on', async () => {
    host = fakeHost();
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/IOMMU groups: none\n {2}The IOMMU is off/);
    for (const s of ['VT-d', 'AMD-Vi', 'intel_iommu=on', 'amd_iommu=on']) expect(r.stdout).toContain(s);
  });
});

describe('--report is checked before the run', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  // A planner that records whether the run started at all.
  async function bench(report: string) {
    let planned = 0;
    const { defaultPlanner } = await import('../../lib/bench/planner.js');
    const planner = { ...defaultPlanner, buildPlan: (...a: Parameters<typeof defaultPlanner.buildPlan>) => (planned++, defaultPlanner.buildPlan(...a)) };
    const r = await runCli(['bench', ...quick, '--report', report], { planner });
    return { ...r, planned };
  }

  it('a file where the directory should be: exit 2, nothing measured', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vfio-report-'));
    writeFileSync(join(dir, 'taken'), 'x');
    const r = await bench(join(dir, 'taken'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report .*taken: exists and is not a directory/);
    expect(r.planned).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('a path under a file: exit 2, nothing measured, nothing created', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vfio-report-'));
    writeFileSync(join(dir, 'taken'), 'x');
    const r = await bench(join(dir, 'taken', 'sub', 'out'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a directory/);
    expect(r.planned).toBe(0);
  });

  it('a new directory inside a writable one passes and is written after the run', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vfio-report-'));
    mkdirSync(join(dir, 'a'));
    const r = await bench(join(dir, 'a', 'b', 'c'));
    expect(r.code).toBe(0);
    expect(r.planned).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'a', 'b', 'c', 'index.html'))).toBe(true);
  });
});
