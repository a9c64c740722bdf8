// The README's promise: `vfio bind BDF --yes` is the only command that changes
// the host. Every command and flag combination runs here against a fake sysfs
// root, and afterwards every file under it is byte for byte what it was
// (paths, contents, links). The one writer is checked to really write, so the
// snapshot is known to see a change.
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendOpener } from '../../lib/cli/backends.js';
import { VfioError } from '../../lib/errors.js';
import { noNative, runCli } from './cli.helpers.js';
import { EDU, NIC, fakeHost, snapshot, type FakeHost } from './sysfs.fixture.js';

let host: FakeHost | undefined;
afterEach(() => host?.cleanup());


/** All subsets of `flags`, each a flat argv fragment. */
function subsets(flags: string[][]): string[][] {
  return flags.reduce<string[][]>((acc, f) => acc.concat(acc.map((a) => [...a, ...f])), [[]]);
}

const quickBench = ['--reps', '1', '--warmup', '0', '--no-progress', '--suite', 'matrix'];
const invocations: string[][] = [
  [], ['help'], ['--help'], ['--version'], ['nonsense'],
  ...subsets([['--json'], ['--group', '3'], ['--debug']]).map((f) => ['probe', ...f]),
  ['probe', '--group', '2'], ['probe', '--bind', NIC.address], ['probe', '--bind', EDU.address, '--json'],
  ['probe', '--help'], ['help', 'probe'], ['help', 'bench'], ['help', 'bind'], ['help', 'nonsense'],
  ['bench', '--help'], ['bind', '--help'], ['bind', NIC.address, '--help'], ['bench', '--fast'], ['bench', '--warmup=-1'],
  ...subsets([['--json'], ['--device', NIC.address]]).map((f) => ['bench', ...quickBench, ...f]),
  ['bench', ...quickBench, '--group', '2'], ['bench', ...quickBench, '--backend', 'native'], ['bench', '--reps', '-5'],
  ...subsets([['--json'], ['--debug']]).flatMap((f) => [['bind', NIC.address, ...f], ['bind', EDU.address, ...f]]),
  ['bind'], ['bind', 'not-an-address', '--yes'], ['bind', NIC.address, EDU.address, '--yes'],
  ...subsets([['--json'], ['--debug']]).flatMap((f) => [['unbind', NIC.address, ...f], ['unbind', EDU.address, ...f]]),
  ['unbind'], ['unbind', '--help'], ['help', 'unbind'], ['unbind', 'not-an-address', '--yes'], ['unbind', NIC.address, EDU.address, '--yes'],
  ['unbind', '0000:00:09.0', '--yes'], ['unbind', NIC.address, '--restore', '--yes'],
  ['bind', NIC.address, '--restore'], ['bind', EDU.address, '--restore', '--json'], ['bind', NIC.address, '--restore', '--yes'],
];

describe('no command but `bind BDF --yes` and `unbind BDF --yes` writes to the host', () => {
  it.each(invocations.map((argv) => [argv.join(' ') || '(no arguments)', argv]))('vfio %s leaves sysfs as it was', async (_, argv) => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true, hugepages: { '2048kB': { nr: 16, free: 12 } }, thp: '[always] madvise never' });
    const before = snapshot(host.root);
    await runCli(argv as string[], { sysfsRoot: host.root, open: noNative });
    expect(snapshot(host.root)).toEqual(before);
  }, 60_000);

  it('unbind without --yes leaves a bound device and its record as they were, and says where it would go', async () => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true });
    expect((await runCli(['bind', NIC.address, '--yes'], { sysfsRoot: host.root })).code).toBe(0);
    const before = snapshot(host.root);
    for (const argv of [['unbind', NIC.address], ['unbind', NIC.address, '--json'], ['unbind', NIC.address, '--debug']]) {
      const r = await runCli(argv, { sysfsRoot: host.root, open: noNative });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/would go back to e1000e, recorded by vfio bind at .*Add --yes/);
    }
    expect(snapshot(host.root)).toEqual(before);
  });

  it('bind BDF --restore is unbind: without --yes it says where the device would go and writes nothing', async () => {
    host = fakeHost({ devices: [EDU, { ...NIC, driver: 'vfio-pci' }], vfio: true });
    const before = snapshot(host.root);
    const r = await runCli(['bind', NIC.address, '--restore'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unbind changes the host: .*no record from vfio bind/);
    expect(snapshot(host.root)).toEqual(before);
    const done = await runCli(['bind', NIC.address, '--restore', '--yes'], { sysfsRoot: host.root, open: noNative });
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/drivers\/vfio-pci\/unbind <- /);
  });

  it('unbind BDF --yes does write', async () => {
    host = fakeHost({ devices: [EDU, { ...NIC, driver: 'vfio-pci' }], vfio: true });
    const before = snapshot(host.root);
    const r = await runCli(['unbind', NIC.address, '--yes'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    const changed = [...snapshot(host.root)].filter(([k, v]) => before.get(k) !== v).map(([k]) => k.slice(host!.root.length));
    expect(changed).toContain('/sys/bus/pci/drivers/vfio-pci/unbind');
    expect(changed).toContain('/sys/bus/pci/drivers_probe');
  });

  it('bind BDF --yes does write, so the snapshot sees a change', async () => {
    host = fakeHost({ devices: [EDU, NIC], vfio: true });
    const before = snapshot(host.root);
    const r = await runCli(['bind', NIC.address, '--yes'], { sysfsRoot: host.root, open: noNative });
    expect(r.code).toBe(0);
    const after = snapshot(host.root);
    const changed = [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k.slice(host!.root.length));
    expect(changed).toContain(`/sys/devices/pci0000:00/${NIC.address}/driver_override`);
    expect(changed).toContain('/sys/bus/pci/drivers_probe');
  });
});
