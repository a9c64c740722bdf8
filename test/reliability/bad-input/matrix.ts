// The bad-input matrix for one backend: each table runs its cases, prints
// their count, and then proves nothing stayed mapped or pinned.
import { afterAll, describe, expect, it } from 'vitest';
import { PciRegion, type Backend, type Container } from '../../../lib/backend.js';
import { casesRun, runTable } from './table.js';
import { backendCases, closedCases, containerCases, deviceCases, dirtyCases, groupCases, v1Cases } from './tables.js';
import { expectOnlyExisting, openWorld, type World } from './world.js';

export interface MatrixTarget {
  label: string;
  backend: Backend;
  group: number;
  device: string;
  /** A container of some other backend, which this one must refuse. */
  foreignContainer: () => Container;
}

export function defineMatrix(t: MatrixTarget): void {
  const count = (n: number) => n;
  afterAll(() => console.log(`[bad-input] ${t.label}: ${casesRun.get(t.label) ?? 0} cases in all`));

  const world = (fn: (w: World) => void) => () => {
    const w = openWorld(t.backend, t.group);
    try {
      fn(w);
    } finally {
      w.close();
    }
  };

  describe(`bad input: ${t.label}`, () => {
    it('Backend: openGroup and allocBuffer', () => {
      count(runTable('Backend', t.label, backendCases(t.backend)));
    });

    it('Container: map, unmap, dirty bitmaps, plans, extensions; nothing left mapped', world((w) => {
      count(runTable('Container', t.label, containerCases(w)));
      expectOnlyExisting(w);
    }));

    it('Container with dirty tracking on: the bitmap checks; nothing left mapped', world((w) => {
      w.container.dirtyStart();
      count(runTable('Container (dirty tracking)', t.label, dirtyCases(w)));
      w.container.dirtyStop();
      expectOnlyExisting(w);
    }));

    it('TYPE1 (v1) container: dirty tracking refused with EACCES whatever the range; nothing left mapped', () => {
      const w = openWorld(t.backend, t.group, 'type1');
      try {
        count(runTable('Container (TYPE1 v1)', t.label, v1Cases(w.container)));
        expectOnlyExisting(w);
      } finally {
        w.close();
      }
    });

    it('Group: containers, device names, exclusivity', world((w) => {
      const foreign = t.foreignContainer();
      try {
        count(runTable('Group', t.label, groupCases(w, t.group, t.device, foreign)));
      } finally {
        foreign.close();
      }
      expect(w.group.status()).toEqual({ viable: true, containerSet: true });
      expectOnlyExisting(w);
    }));

    it('Device: regions, reads and writes out of bounds, IRQ indexes', world((w) => {
      const d = w.group.openDevice(t.device);
      try {
        count(runTable('Device', t.label, deviceCases(d)));
        // Still usable afterwards: config space reads back the vendor id.
        expect(d.read(PciRegion.CONFIG, 0n, 2).length).toBe(2);
      } finally {
        d.close();
      }
      expectOnlyExisting(w);
    }));

    it('closed Container, Group and Device: every method is EBADF, close twice is harmless', () => {
      const w = openWorld(t.backend, t.group);
      const d = w.group.openDevice(t.device);
      const locked = w.lockedBefore;
      d.close();
      w.container.close();
      w.group.close();
      const fresh = t.backend.openContainer();
      try {
        count(runTable('closed objects', t.label, closedCases(w.container, w.group, d, fresh)));
      } finally {
        fresh.close();
      }
      w.container.close();
      w.group.close();
      d.close();
      // Closing the container unmapped EXISTING: nothing pinned any more.
      expect(fresh.memlock().locked).toBe(locked);
      w.buffer.close();
      expect(w.buffer.closed).toBe(true);
      expect(w.buffer.bytes.byteLength).toBe(0);
    });
  });
}
