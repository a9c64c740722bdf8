import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { VfioError } from '../../lib/errors.js';
import { EDU, NIC, fakeHost, type FakeHost } from './sysfs.fixture.js';
import { noNative, runCli } from './cli.helpers.js';

let host: FakeHost | undefined;
afterEach(() => host?.cleanup());


function richHost(): FakeHost {
  const h = fakeHost({
    devices: [EDU, NIC], vfio: true, memlock: '65536                65536',
    hugepages: { '2048kB': { nr: 16, free: 12 } }, thp: 'always madvise [never]', dmaEntryLimit: 4096,
  });
  h.write('dev/vfio/3', '');
  return h;
}

describe('vfio probe', () => {
  it('prints groups, drivers, viability, limits, huge pages and THP as a table', async () => {
    host = richHost();
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/VFIO: present/);
    expect(r.stdout).toMatch(/Native backend: unavailable \(open \/dev\/vfio\/vfio failed: ENOENT/);
    expect(r.stdout).toMatch(/IOMMU groups \(2\)/);
    expect(r.stdout).toMatch(/2\s+no\s+-\s+0000:00:02\.0\s+8086:10d3\s+020000\s+e1000e/);
    // Group 3 has its /dev/vfio node (this user may open it); group 2's device is not bound to vfio-pci: no node.
    expect(r.stdout).toMatch(/3\s+yes\s+yours\s+0000:00:03\.0\s+1234:11e8/);
    expect(r.stdout).toMatch(/not viable until bound to vfio-pci: 0000:00:02\.0 \(e1000e\)/);
    expect(r.stdout).toMatch(/RLIMIT_MEMLOCK: soft 64 KiB, hard 64 KiB/);
    expect(r.stdout).toMatch(/Huge pages: 2 MiB: 12 free of 16/);
    expect(r.stdout).toMatch(/THP: never/);
    expect(r.stdout).toMatch(/dma_entry_limit 4096/);
  });

  it('--json gives the same facts in a versioned document', async () => {
    host = richHost();
    const r = await runCli(['probe', '--json'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.schema).toBe('node-vfio/probe@1');
    expect(doc.native.available).toBe(false);
    expect(doc.groups.map((g: { id: number; viable: boolean }) => [g.id, g.viable])).toEqual([[2, false], [3, true]]);
    expect(doc.memlock).toEqual({ soft: 65536, hard: 65536 });
    expect(doc.hugepages).toEqual([{ pageSize: 2097152, total: 16, free: 12 }]);
    expect(doc.thp).toBe('never');
    expect(doc.dmaEntryLimit).toBe(4096);
  });

  it('on a host without VFIO says why, and still succeeds', async () => {
    host = fakeHost();
    const r = await runCli(['probe'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/VFIO: absent \(vfio not loaded/);
    expect(r.stdout).toMatch(/IOMMU groups: none/);
  });

  it('has no --bind: binding is `vfio bind BDF --yes` alone, and nothing is written', async () => {
    host = richHost();
    for (const argv of [['probe', '--bind', NIC.address], [`probe`, `--bind=${NIC.address}`], ['probe', '--json', '--bind', NIC.address]]) {
      const r = await runCli(argv, { sysfsRoot: host.root, open: noNative });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/probe only reads the host; to bind a device to vfio-pci: vfio bind BDF --yes/);
    }
    expect(readFileSync(join(host.root, 'sys/bus/pci/devices', NIC.address, 'driver_override'), 'utf8')).toBe('(null)\n');
  });
});

describe('vfio bind', () => {
  it('without --yes changes nothing and exits 2', async () => {
    host = richHost();
    const r = await runCli(['bind', NIC.address], { sysfsRoot: host.root });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/add --yes/);
    expect(r.stderr).toMatch(/now: e1000e/);
    expect(readFileSync(join(host.root, 'sys/bus/pci/drivers_probe'), 'utf8')).toBe('');
  });

  it('with --yes binds and lists each write', async () => {
    host = richHost();
    const r = await runCli(['bind', NIC.address, '--yes'], { sysfsRoot: host.root });
    expect(r.code).toBe(0);
    // The record of its driver (for vfio unbind), driver_override, unbind, drivers_probe.
    expect(r.stdout.split('\n').filter((l) => l.includes(' <- '))).toHaveLength(4);
    expect(r.stdout).toMatch(/to give it back: vfio unbind 0000:00:02\.0 --yes/);
  });

  it('a device that is absent is a runtime error (exit 1) with the hint, no stack', async () => {
    host = richHost();
    const r = await runCli(['bind', '0000:00:09.0', '--yes'], { sysfsRoot: host.root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vfio: bind failed: ENODEV/);
    expect(r.stderr).toMatch(/no PCI device 0000:00:09\.0/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--debug adds the stack', async () => {
    host = richHost();
    const r = await runCli(['bind', '0000:00:09.0', '--yes', '--debug'], { sysfsRoot: host.root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('exit codes and help', () => {
  it('help is exit 0 and documents the exit codes', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: vfio <command>/);
    expect(r.stdout).toMatch(/3\s+regression/);
  });

  it('a usage error is exit 2 with a pointer to --help', async () => {
    const r = await runCli(['bench', '--reps', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reps wants a whole number/);
    expect(r.stderr).toMatch(/vfio bench --help/); // the page that lists the option
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
