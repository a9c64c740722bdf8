// Bad input to what touches the host: the sysfs helpers (the only code that
// writes outside /dev/vfio) and the CLI. Every refusal leaves the (fake) sysfs
// tree byte for byte as it was; the CLI answers bad arguments with exit code 2
// and a message, never a stack trace or a change to the host.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assertPciAddress, bindToVfioPci, iommuGroup, isPciAddress, pciDevice, writePciAttribute,
} from '../../lib/sysfs.js';
import { EDU, NIC, fakeHost, snapshot, type FakeHost } from '../unit/sysfs.fixture.js';
import { runCli } from '../unit/cli.helpers.js';
import { casesRun, runTable, type Case } from './bad-input/table.js';


const BAD_ADDRESSES: ReadonlyArray<[string, string]> = [
  ['empty', ''], ['trailing newline', '0000:00:03.0\n'], ['leading space', ' 0000:00:03.0'], ['trailing space', '0000:00:03.0 '],
  ['device 0x20', '0000:00:20.0'], ['function 8', '0000:00:03.8'], ['no function', '0000:00:03'], ['no domain', '00:03.0'],
  ['upper case', '0000:00:0A.0'], ['5-digit domain', '10000:00:03.0'], ['path after', '0000:00:03.0/../../../../etc'],
  ['path before', '../0000:00:03.0'], ['NUL inside', '0000:00:03.0\0'], ['fullwidth digits', '０000:00:03.0'],
  ['bad hex', '0000:0g:03.0'], ['a glob', '0000:00:0?.0'], ['dot-dot', '..'], ['a slash', '/'], ['a driver name', 'vfio-pci'],
];
const NOT_STRINGS: ReadonlyArray<[string, unknown]> = [['undefined', undefined], ['null', null], ['a number', 3], ['an object', {}], ['a String object', new String('0000:00:03.0')]];

let host: FakeHost | undefined;
afterEach(() => {
  host?.cleanup();
  host = undefined;
});

describe('bad input: sysfs', () => {
  it('PCI addresses: a strict pattern, checked before any path is built', () => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true });
    const root = host.root;
    const before = snapshot(root);
    const cases: Case[] = [];
    for (const [what, v] of NOT_STRINGS) {
      cases.push({ name: `assertPciAddress(${what})`, call: () => assertPciAddress(v), expect: 'TypeError' });
      cases.push({ name: `bindToVfioPci(${what})`, call: () => bindToVfioPci(v as string, root), expect: 'TypeError' });
      cases.push({ name: `pciDevice(${what})`, call: () => pciDevice(v as string, root), expect: 'TypeError' });
    }
    for (const [what, v] of BAD_ADDRESSES) {
      cases.push({ name: `assertPciAddress(${what})`, call: () => assertPciAddress(v), expect: 'RangeError' });
      cases.push({ name: `bindToVfioPci(${what})`, call: () => bindToVfioPci(v, root), expect: 'RangeError' });
      cases.push({ name: `pciDevice(${what})`, call: () => pciDevice(v, root), expect: 'RangeError' });
    }
    for (const [what, v] of [['-1', -1], ['1.5', 1.5], ['NaN', Number.NaN], ['"3"', '3']] as const) {
      cases.push({ name: `iommuGroup(${what})`, call: () => iommuGroup(v as number, root), expect: ['RangeError', 'TypeError'] });
    }
    cases.push({ name: 'bindToVfioPci of an absent device', call: () => bindToVfioPci('0000:00:1f.7', root), expect: 'VfioError:ENODEV' });
    runTable('PCI addresses', 'sysfs', cases);
    for (const [, v] of BAD_ADDRESSES) expect(isPciAddress(v)).toBe(false);
    expect(snapshot(root)).toEqual(before);
  });

  it('writes stay inside <root>/sys/bus/pci, whatever the relative path', () => {
    host = fakeHost({ devices: [EDU], vfio: true });
    const root = host.root;
    const before = snapshot(root);
    const w = (rel: string) => () => writePciAttribute(root, rel, 'x');
    const cases: Case[] = [
      ['..', '..'], ['../../..', '../../..'], ['an absolute path', '/etc/passwd'], ['the directory itself', ''], ['.', '.'],
      ['devices/../../../../x', 'devices/../../../../x'], ['up and back into a sibling', '../pci_express/x'],
      ['a NUL byte', 'drivers_probe\0/../../x'], ['climbing out from a device', `devices/${EDU.address}/../../../../../tmp/x`],
    ].map(([what, rel]) => ({ name: `writePciAttribute(${what})`, call: w(rel!), expect: ['RangeError', 'TypeError'] as const }))
      .map((c) => ({ ...c, expect: [...c.expect] }));
    runTable('sysfs writes', 'sysfs', cases);
    expect(snapshot(root)).toEqual(before);
  });

  it('does not follow a symlink in the tree out of <root>/sys', () => {
    host = fakeHost({ devices: [EDU], vfio: true });
    const outside = mkdtempSync(join(tmpdir(), 'vfio-outside-'));
    try {
      // A device entry that points outside the tree: a write through it would land in `outside`.
      const addr = '0000:00:05.0';
      mkdirSync(join(host.root, 'sys/bus/pci/devices'), { recursive: true });
      writeFileSync(join(outside, 'driver_override'), '(null)\n');
      writeFileSync(join(outside, 'vendor'), '0x1234\n');
      symlinkSync(outside, join(host.root, 'sys/bus/pci/devices', addr));
      const cases: Case[] = [
        { name: 'bindToVfioPci through a link that leaves the tree', call: () => bindToVfioPci(addr, host!.root), expect: ['RangeError', 'VfioError'] },
        { name: 'writePciAttribute through a link that leaves the tree', call: () => writePciAttribute(host!.root, `devices/${addr}/driver_override`, 'x'), expect: ['RangeError', 'VfioError'] },
      ];
      runTable('sysfs symlinks', 'sysfs', cases);
      expect(readFileSync(join(outside, 'driver_override'), 'utf8')).toBe('(null)\n');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('bad input: CLI', () => {
  const argvs: ReadonlyArray<[string, string[]]> = [
    ['an unknown command', ['frobnicate']], ['an unknown option', ['probe', '--frob']], ['bind without an address', ['bind']],
    ['bind with two addresses', ['bind', EDU.address, NIC.address, '--yes']], ['bind a path', ['bind', '../../../etc/passwd', '--yes']],
    ['bind an upper-case address', ['bind', '0000:00:0A.0', '--yes']], ['bind with a trailing newline', ['bind', `${EDU.address}\n`, '--yes']],
    ['bind with --yes=false', ['bind', EDU.address, '--yes=false']], ['probe --bind with a path', ['probe', '--bind', '/sys/bus/pci']],
    ['probe --bind without a value', ['probe', '--bind']], ['probe --group -1', ['probe', '--group', '-1']],
    ['probe --group 2^32', ['probe', '--group', '4294967296']], ['bench --reps 0', ['bench', '--reps', '0']],
    ['bench --reps 1e3', ['bench', '--reps', '1e3']], ['bench --reps -5', ['bench', '--reps', '-5']],
    ['bench --backend gpu', ['bench', '--backend', 'gpu']], ['bench --suite nope', ['bench', '--suite', 'nope']],
    ['bench --suite ,', ['bench', '--suite', ',']], ['bench --max-memory lots', ['bench', '--max-memory', 'lots']],
    ['bench --max-memory -1G', ['bench', '--max-memory', '-1G']], ['bench --json --csv', ['bench', '--json', '--csv']],
    ['bench --device bad', ['bench', '--device', '0000:00:03']], ['bench --group and --device', ['bench', '--group', '3', '--device', EDU.address]],
    ['bench --max-regression without --compare', ['bench', '--max-regression', '5%']], ['bench --warmup 1.5', ['bench', '--warmup', '1.5']],
    ['bench --backend sim --group 3', ['bench', '--backend', 'sim', '--group', '3']],
  ];

  it('answers every bad command line with exit 2 and a message, and changes nothing', async () => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true });
    const before = snapshot(host.root);
    const failures: string[] = [];
    for (const [what, argv] of argvs) {
      const r = await runCli(argv, { sysfsRoot: host.root });
      if (r.code !== 2 || !/^vfio: /.test(r.stderr) || /\n\s+at /.test(r.stderr)) {
        failures.push(`${what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 200))}`);
      }
    }
    casesRun.set('cli', (casesRun.get('cli') ?? 0) + argvs.length);
    console.log(`[bad-input] CLI (cli): ${argvs.length} cases, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(snapshot(host.root)).toEqual(before);
  });

  it('bind changes nothing without --yes, and with it says exactly what it wrote', async () => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true });
    const before = snapshot(host.root);
    const dry = await runCli(['bind', NIC.address], { sysfsRoot: host.root });
    expect(dry.code).toBe(2);
    expect(dry.stderr).toMatch(/--yes/);
    expect(snapshot(host.root)).toEqual(before);

    const r = await runCli(['bind', NIC.address, '--yes'], { sysfsRoot: host.root });
    expect(r.code).toBe(0);
    const after = snapshot(host.root);
    // New directories (run/node-vfio, for the record) are not writes of their own.
    const changed = new Set([...after.keys()].filter((k) => after.get(k) !== before.get(k) && after.get(k) !== 'dir'));
    // The output names every write, each under sys/bus/pci but the record of the driver (under run/node-vfio),
    // and they are exactly the files that changed.
    const written = r.stdout.split('\n').filter((l) => l.includes(' <- ')).map((l) => l.trim().split(' <- ')[0]!);
    expect(written.length).toBe(4);
    expect(written[0]).toBe(join(host.root, 'run/node-vfio', `bind-${NIC.address}.json`));
    for (const path of written.slice(1)) expect(path.startsWith(join(host.root, 'sys/bus/pci') + '/')).toBe(true);
    expect(new Set(written.map((w) => realpathSync(w)))).toEqual(new Set([...changed].map((c) => realpathSync(c))));
  });
});
