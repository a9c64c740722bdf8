// VFIO_IOMMU_GET_INFO parsing against byte images laid out as
// include/uapi/linux/vfio.h defines them: struct vfio_iommu_type1_info (24
// bytes), then capabilities, each starting with vfio_info_cap_header
// {u16 id, u16 version, u32 next}, offsets from the start of the reply.
import { describe, expect, it } from 'vitest';
import { VfioError } from '../../lib/errors.js';
import {
  CAP_DMA_AVAIL, CAP_IOVA_RANGE, CAP_MIGRATION, INFO_FLAG_CAPS, INFO_FLAG_PGSIZES, INFO_SIZE, parseIommuInfo,
} from '../../lib/native/iommu-info.js';

const U64_MAX = (1n << 64n) - 1n;
const PGSIZES_4K_2M_1G = (1n << 12n) | (1n << 21n) | (1n << 30n);

type Cap = { id: number; version?: number; body: (v: DataView, at: number) => void; size: number; next?: number };

const iovaRanges = (ranges: Array<[bigint, bigint]>): Cap => ({
  id: CAP_IOVA_RANGE,
  size: 16 + ranges.length * 16,
  body: (v, at) => {
    v.setUint32(at + 8, ranges.length, true);
    ranges.forEach(([s, e], i) => {
      v.setBigUint64(at + 16 + i * 16, s, true);
      v.setBigUint64(at + 24 + i * 16, e, true);
    });
  },
});
const migration = (flags: number, pgsizes: bigint, max: bigint): Cap => ({
  id: CAP_MIGRATION,
  size: 32,
  body: (v, at) => {
    v.setUint32(at + 8, flags, true);
    v.setBigUint64(at + 16, pgsizes, true);
    v.setBigUint64(at + 24, max, true);
  },
});
const dmaAvail = (n: number): Cap => ({ id: CAP_DMA_AVAIL, size: 12, body: (v, at) => v.setUint32(at + 8, n, true) });
const unknownCap = (id: number): Cap => ({ id, size: 24, body: (v, at) => v.setBigUint64(at + 8, 0xdeadbeefn, true) });

/** Lays out caps back to back (8-byte aligned) after the header, linked in order unless `next` overrides. */
function reply(caps: Cap[], opts: { flags?: number; argsz?: number; capOffset?: number; pgsizes?: bigint } = {}): Uint8Array {
  const offsets: number[] = [];
  let end = INFO_SIZE;
  for (const c of caps) {
    offsets.push(end);
    end += Math.ceil(c.size / 8) * 8;
  }
  const bytes = new Uint8Array(end);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, opts.argsz ?? end, true);
  v.setUint32(4, opts.flags ?? (INFO_FLAG_PGSIZES | (caps.length ? INFO_FLAG_CAPS : 0)), true);
  v.setBigUint64(8, opts.pgsizes ?? PGSIZES_4K_2M_1G, true);
  v.setUint32(16, opts.capOffset ?? (caps.length ? INFO_SIZE : 0), true);
  caps.forEach((c, i) => {
    const at = offsets[i]!;
    v.setUint16(at, c.id, true);
    v.setUint16(at + 2, c.version ?? 1, true);
    v.setUint32(at + 4, c.next ?? offsets[i + 1] ?? 0, true);
    c.body(v, at);
  });
  return bytes;
}

function malformed(bytes: Uint8Array, why: RegExp): void {
  let caught: unknown;
  try {
    parseIommuInfo(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(VfioError);
  const e = caught as VfioError;
  expect(e.code).toBe('EINVAL');
  expect(e.op).toBe('VFIO_IOMMU_GET_INFO');
  expect(e.hint).toMatch(why);
}

describe('parseIommuInfo', () => {
  it('no capabilities: page sizes only, the whole 64-bit space, nothing else reported', () => {
    expect(parseIommuInfo(reply([]))).toEqual({
      pageSizes: PGSIZES_4K_2M_1G,
      ranges: [{ start: 0n, last: U64_MAX }],
      dmaAvail: null,
      migration: null,
    });
  });

  it('IOVA ranges come back sorted, inclusive ends kept', () => {
    // What intel-iommu reports around the MSI window, listed out of order.
    const info = parseIommuInfo(reply([iovaRanges([[0xfef00000n, 0xffffffffffffn], [0n, 0xfedfffffn]])]));
    expect(info.ranges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: 0xffffffffffffn },
    ]);
  });

  it('migration and DMA-available capabilities', () => {
    const info = parseIommuInfo(reply([migration(0, 1n << 12n, 256n << 20n), dmaAvail(65535)]));
    expect(info.migration).toEqual({ flags: 0, pageSizes: 4096n, maxDirtyBitmapSize: 256n << 20n });
    expect(info.dmaAvail).toBe(65535);
    expect(info.ranges).toEqual([{ start: 0n, last: U64_MAX }]);
  });

  it('all three, with an unknown capability in the middle skipped', () => {
    const info = parseIommuInfo(reply([
      iovaRanges([[0n, 0xfedfffffn]]), unknownCap(99), migration(1, 4096n, 1n << 20n), dmaAvail(7),
    ]));
    expect(info.ranges).toEqual([{ start: 0n, last: 0xfedfffffn }]);
    expect(info.migration?.flags).toBe(1);
    expect(info.dmaAvail).toBe(7);
  });

  it('accepts the reply as an ArrayBuffer (what the addon returns)', () => {
    const bytes = reply([dmaAvail(3)]);
    expect(parseIommuInfo(bytes.buffer as ArrayBuffer).dmaAvail).toBe(3);
  });

  it('ignores the chain when VFIO_IOMMU_INFO_CAPS is clear (a reply too small for it)', () => {
    const bytes = reply([dmaAvail(3)], { flags: INFO_FLAG_PGSIZES });
    expect(parseIommuInfo(bytes).dmaAvail).toBeNull();
  });

  it('reads no further than argsz', () => {
    // The kernel wrote 24 bytes only; what lies past argsz in our buffer is not a capability.
    malformed(reply([dmaAvail(3)], { argsz: INFO_SIZE }), /past the end/);
  });

  it('a truncated chain: header or body past the end', () => {
    const full = reply([iovaRanges([[0n, 0xffffn]])]);
    malformed(full.subarray(0, INFO_SIZE + 4), /capability header runs past the end/);
    malformed(full.subarray(0, full.length - 8), /IOVA range capability \(1 ranges\) runs past the end/);
    const lying = reply([iovaRanges([[0n, 0xffffn]])]);
    new DataView(lying.buffer).setUint32(INFO_SIZE + 8, 1000, true); // nr_iovas far beyond the buffer
    malformed(lying, /1000 ranges/);
    malformed(reply([migration(0, 4096n, 0n)]).subarray(0, INFO_SIZE + 24), /migration capability runs past/);
  });

  it('a cycle: next pointing at itself or backwards', () => {
    const self = reply([dmaAvail(1), dmaAvail(2)]);
    new DataView(self.buffer).setUint32(INFO_SIZE + 4, INFO_SIZE, true);
    malformed(self, /does not move forward/);
    const back = reply([dmaAvail(1), dmaAvail(2)]);
    new DataView(back.buffer).setUint32(INFO_SIZE + 16 + 4, INFO_SIZE, true);
    malformed(back, /does not move forward/);
    // Into the middle of the current header also counts as not moving forward.
    const overlap = reply([dmaAvail(1), dmaAvail(2)]);
    new DataView(overlap.buffer).setUint32(INFO_SIZE + 4, INFO_SIZE + 4, true);
    malformed(overlap, /does not move forward/);
  });

  it('a first capability inside the fixed header, inverted or overlapping ranges', () => {
    malformed(reply([dmaAvail(1)], { capOffset: 8 }), /overlaps the fixed header/);
    malformed(reply([iovaRanges([[0x2000n, 0x1000n]])]), /ends before it starts/);
    malformed(reply([iovaRanges([[0n, 0x2000n], [0x1000n, 0x3000n]])]), /overlap/);
  });

  it('a reply shorter than the fixed header', () => {
    malformed(new Uint8Array(12), /shorter than the fixed header/);
  });
});
