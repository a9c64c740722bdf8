// The seam as a whole: backends come from lib/open.ts and tell their host
// through a HostView; optional capabilities are asked for without casts; and
// the layers point only down (checked on the sources).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SZ_2M, type Backend } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { BACKEND_CHOICES, openBackend } from '../../lib/open.js';
import { dirtyTrackingOf, hwptDirtyOf, unsupported } from '../../lib/seam/capabilities.js';
import { SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { sysfsHostView } from '../../lib/sysfs-host.js';
import { EDU, NIC, fakeHost, type FakeHost } from './sysfs.fixture.js';

const LIB = join(import.meta.dirname, '../../lib');

describe('openBackend', () => {
  it('means auto when given nothing', () => {
    const r = openBackend();
    expect(['native', 'sim']).toContain(r.backend.name);
    expect(r.reason).toMatch(new RegExp(`^${r.backend.name}:`));
  });

  it('lists its choices from the registry', () => {
    expect(BACKEND_CHOICES).toEqual(['native', 'sim', 'auto']);
  });
});

describe('HostView', () => {
  it('of the sim: the groups and devices of its options, cdevs in group order, no pools to count', () => {
    const host = new SimBackend().host();
    expect(host.groups()).toEqual([7, 8]);
    expect(host.deviceNames(SIM_DEFAULT_GROUP)).toEqual(['0000:00:03.0']);
    expect(host.groupOfDevice('0000:00:04.0')).toBe(8);
    expect(host.groupOfDevice('0000:00:09.0')).toBeUndefined();
    expect(host.defaultGroup()).toBe(SIM_DEFAULT_GROUP);
    expect([host.cdevOfGroup(7), host.cdevOfGroup(8), host.cdevOfGroup(99)]).toEqual(['vfio0', 'vfio1', null]);
    expect(host.hugetlbFree(SZ_2M)).toBeNull();
    expect(host.foreignIoctls()).toMatch(/simulated/);
  });

  it('follows the sim options: no viable group, no default', () => {
    const host = new SimBackend({ groups: [{ id: 3, viable: false, devices: ['0000:00:05.0'] }] }).host();
    expect(host.defaultGroup()).toBeNull();
  });

  describe('of a real host (sysfs)', () => {
    let h: FakeHost | undefined;
    afterEach(() => h?.cleanup());

    it('reads groups, devices, the default group and the hugetlb pool from sysfs', () => {
      h = fakeHost({ devices: [EDU, { ...NIC, group: 4 }], vfio: true, hugepages: { '2048kB': { nr: 16, free: 12 } } });
      const host = sysfsHostView(h.root);
      expect(host.groups()).toEqual([3, 4]);
      expect(host.deviceNames(3)).toEqual([EDU.address]);
      expect(host.groupOfDevice(EDU.address)).toBe(3);
      expect(host.groupOfDevice('0000:00:1f.0')).toBeUndefined();
      expect(host.hugetlbFree(SZ_2M)).toBe(12n * SZ_2M);
      expect(host.cdevOfGroup(3)).toBeNull(); // no vfio-dev node in this tree
      expect(host.foreignIoctls()).toBeNull();
    });
  });
});

describe('optional capabilities', () => {
  it('a type1 container tracks dirty pages; an IOAS says it cannot; the sim iommufd tracks through a HWPT', () => {
    const b: Backend = new SimBackend();
    const c = b.openContainer();
    const g = b.openGroup(SIM_DEFAULT_GROUP);
    try {
      g.setContainer(c);
      c.setIommu('type1v2');
      const dirty = dirtyTrackingOf(c)!;
      dirty.start();
      dirty.stop();
    } finally {
      g.close();
      c.close();
    }
    const fd = b.openIommufd!();
    try {
      const ioas = fd.allocIoas();
      expect(dirtyTrackingOf(ioas)).toBeNull();
      // lib/sim/hwpt-dirty.ts: the capability is there; the default IOMMU (vtd) refuses a dirty-tracking HWPT as VT-d without SSADS does.
      const hwpt = hwptDirtyOf(fd)!;
      const dev = fd.bindDevice('vfio0');
      expect(hwpt.supported(dev)).toBe(false);
      expect(() => hwpt.alloc(dev, ioas)).toThrow(expect.objectContaining({ errno: Errno.EOPNOTSUPP }));
    } finally {
      fd.close();
    }
    const e = unsupported('IOMMU_HWPT_GET_DIRTY_BITMAP', 'no HWPT here');
    expect(e).toBeInstanceOf(VfioError);
    expect([e.errno, e.hint]).toEqual([Errno.EOPNOTSUPP, 'no HWPT here']);
  });

  it('are the public API\'s too (the package root exports every one)', async () => {
    const api = await import('../../lib/index.js');
    const b = new SimBackend();
    const c = b.openContainer();
    try {
      // The sim has no thread to pin on and no /proc to read: the fallbacks say so, and still answer.
      expect(api.planAsyncOf(c).offLoop).toBe(false);
      expect(api.planCyclesOf(c).native).toBe(false);
      expect(await api.memlockAsyncOf(c)()).toEqual(c.memlock());
      expect([api.deviceCallOf, api.dirtyTrackingOf, api.hwptDirtyOf].map((f) => typeof f)).toEqual(['function', 'function', 'function']);
    } finally {
      c.close();
    }
  });
});

// ---- layering, on the sources ----

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
}

function offenders(files: string[], bad: (spec: string) => boolean): string[] {
  return files.flatMap((f) => importsOf(f).filter(bad).map((s) => `${relative(LIB, f)} -> ${s}`));
}

describe('layers point only down', () => {
  const all = sources(LIB);
  const under = (d: string) => all.filter((f) => relative(LIB, f).startsWith(`${d}/`));

  it('the seam (backend, device-calls, errors, irq, seam/) imports nothing above it', () => {
    // irq.ts: the interrupt vectors both backends hand out (an EventTarget over their delivery), seam-level like VfioError.
    // device-calls.ts: the device's optional calls, which the seam's Device and the hints both read.
    const base = ['backend.ts', 'device-calls.ts', 'errors.ts', 'error-hints.ts', 'irq.ts'].map((f) => join(LIB, f));
    expect(offenders(base, (s) => !/^(node:|\.\/(backend|device-calls|errors|error-hints|irq)\.js$)/.test(s))).toEqual([]);
    expect(offenders([join(LIB, 'device-calls.ts')], () => true), 'device-calls.ts imports nothing').toEqual([]);
    expect(offenders(under('seam'), (s) => !/^(node:|\.\.\/(backend|device-calls|errors|error-hints|irq)\.js$|\.\/[a-z-]+\.js$)/.test(s))).toEqual([]);
  });

  it('lib/native and lib/sim never import each other', () => {
    expect(offenders(under('native'), (s) => s.includes('/sim/'))).toEqual([]);
    expect(offenders(under('sim'), (s) => s.includes('/native/'))).toEqual([]);
  });

  it('the CLI, the bench and the planner import no backend module', () => {
    const files = [...under('cli'), ...under('bench'), ...under('plan')];
    expect(offenders(files, (s) => /\/(native|sim)\//.test(s))).toEqual([]);
  });

  it('node-vfio/testing reaches backends only through lib/open.ts, imports no test runner and never branches on simulated', () => {
    const files = under('testing');
    expect(files.length).toBeGreaterThan(0);
    expect(offenders(files, (s) => /\/(native|sim)\/|vitest/.test(s))).toEqual([]);
    expect(files.filter((f) => /\.simulated\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(LIB, f))).toEqual([]);
  });

  it('the CLI never branches on simulated', () => {
    expect(under('cli').filter((f) => /\.simulated\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(LIB, f))).toEqual([]);
  });

  it('the CLI reads host facts through lib/open.ts (a HostView), not sysfs: only the bind writer and the PCI-address check use lib/sysfs', () => {
    expect(offenders(under('cli'), (s) => /sysfs-host/.test(s))).toEqual([]);
    const valueImports = under('cli').filter((f) => /^import \{[^}]*\} from '\.\.\/sysfs\.js'/m.test(readFileSync(f, 'utf8')));
    expect(valueImports.map((f) => relative(LIB, f)).sort()).toEqual(['cli/args.ts', 'cli/bind.ts']);
  });
});
