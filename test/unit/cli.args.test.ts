import { describe, expect, it } from 'vitest';
import { parseCli, parseSize, parseSuites } from '../../lib/cli/args.js';
import { UsageError } from '../../lib/cli/exit-codes.js';

describe('CLI argument parsing', () => {
  it('bench defaults: sim, the matrix, table output, 30 reps after 3 warm-up', () => {
    expect(parseCli(['bench'])).toMatchObject({
      cmd: 'bench', backend: 'sim', suites: ['matrix'], format: 'table', reps: 30, warmup: 3, group: null, device: null,
      compare: null, maxRegression: 0.1, minDeltaNs: 25, ref: false, progress: true, report: null,
    });
  });

  it('--group or --device selects the native backend', () => {
    expect(parseCli(['bench', '--group', '12'])).toMatchObject({ backend: 'native', group: 12 });
    expect(parseCli(['bench', '--device', '0000:00:03.0'])).toMatchObject({ backend: 'native', device: '0000:00:03.0' });
  });

  it('parses every bench option', () => {
    const a = parseCli(['bench', '--suite', 'unmap,matrix', '--reps', '5', '--warmup', '0', '--csv', '--report', 'out',
      '--compare', 'b.json', '--max-regression', '7.5%', '--min-delta-ns', '0', '--max-memory', '256M', '--no-progress', '--ref']);
    expect(a).toMatchObject({
      suites: ['matrix', 'unmap'], reps: 5, warmup: 0, format: 'csv', report: 'out', compare: 'b.json',
      maxRegression: 0.075, minDeltaNs: 0, maxMemory: 256n << 20n, progress: false, ref: true,
    });
    expect(parseCli(['bench', '--suite', 'all'])).toMatchObject({ suites: ['matrix', 'scaling', 'patterns', 'unmap', 'dirty'] });
  });

  it.each([
    [['bench', '--reps', '0']],
    [['bench', '--reps', 'ten']],
    [['bench', '--reps', '-3']],
    [['bench', '--json', '--csv']],
    [['bench', '--suite', 'bogus']],
    [['bench', '--group', '1', '--device', '0000:00:03.0']],
    [['bench', '--device', '00:03.0']],
    [['bench', '--backend', 'sim', '--group', '1']],
    [['bench', '--backend', 'qemu']],
    [['bench', '--max-regression', '10%']], // without --compare
    [['bench', '--compare', 'x', '--max-regression', 'lots']],
    [['bench', '--max-memory', 'huge']],
    [['bench', '--frobnicate']],
    [['bench', 'extra-positional']],
    [['probe', '--bind', '../../etc']],
    [['bind']],
    [['bind', '0000:00:03.0', '0000:00:04.0']],
    [['bind', '0000:00:03.0/..']],
    [['teleport']],
  ])('refuses %j with a UsageError', (argv) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
  });

  it('help and version', () => {
    expect(parseCli([]).cmd).toBe('help');
    expect(parseCli(['--help']).cmd).toBe('help');
    expect(parseCli(['bench', '-h'])).toMatchObject({ cmd: 'help', topic: 'bench', bare: false });
    expect(parseCli([])).toMatchObject({ cmd: 'help', topic: null, bare: true });
    expect(parseCli(['-V']).cmd).toBe('version');
  });

  it('bind needs the address; --yes is a separate flag', () => {
    expect(parseCli(['bind', '0000:00:03.0'])).toMatchObject({ cmd: 'bind', address: '0000:00:03.0', yes: false });
    expect(parseCli(['bind', '0000:00:03.0', '--yes'])).toMatchObject({ yes: true });
  });

  it('sizes and suites', () => {
    expect(parseSize('1G')).toBe(1n << 30n);
    expect(parseSize('64MiB')).toBe(64n << 20n);
    expect(parseSize('4096')).toBe(4096n);
    expect(parseSuites('dirty,matrix')).toEqual(['matrix', 'dirty']);
    expect(() => parseSuites(',')).toThrow(UsageError);
  });
});
