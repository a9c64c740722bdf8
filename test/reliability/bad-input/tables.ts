// The bad-input tables for everything behind the Backend seam. The same
// tables run on the sim and, in the HIL lane, on the native backend.
import {
  PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, PciRegion,
  type Backend, type Container, type DmaMapping, type Device, type Group, type PlanOp,
} from '../../../lib/backend.js';
import { BAD_NUMBERS, NOT_BIGINT, NOT_INTEGER, NOT_U64, type Case, type Expected } from './table.js';
import { EXISTING, FREE_IOVA, PAGE, type World } from './world.js';

const U64 = 1n << 64n;
// Calls with wrong types are the point of these tables: go around the types.
type Loose = Record<string, (...args: unknown[]) => unknown>;
const loose = (o: object): Loose => o as unknown as Loose;
const NUMBER_ERRORS: Expected[] = ['TypeError', 'RangeError'];

export function backendCases(backend: Backend): Case[] {
  const b = loose(backend);
  const cases: Case[] = [];
  const alloc = (opts: unknown) => () => {
    const buf = b['allocBuffer']!.call(backend, opts) as { close(): void };
    buf.close(); // reached only when the case fails: do not keep the memory
  };
  for (const [what, v] of NOT_INTEGER) cases.push({ name: `openGroup(${what})`, call: () => b['openGroup']!.call(backend, v), expect: 'TypeError' });
  cases.push({ name: 'openGroup(1.5)', call: () => backend.openGroup(1.5), expect: NUMBER_ERRORS });
  cases.push({ name: 'openGroup(NaN)', call: () => backend.openGroup(Number.NaN), expect: NUMBER_ERRORS });
  cases.push({ name: 'openGroup(-1)', call: () => backend.openGroup(-1), expect: 'RangeError' });
  cases.push({ name: 'openGroup(2^31)', call: () => backend.openGroup(2 ** 31), expect: 'RangeError' });
  cases.push({ name: 'openGroup(2^53)', call: () => backend.openGroup(2 ** 53), expect: 'RangeError' });
  cases.push({ name: 'openGroup(99999), no such group', call: () => backend.openGroup(99999), expect: 'VfioError:ENOENT' });

  for (const [what, v] of [['undefined', undefined], ['null', null], ['a number', 4096], ['a string', '4k']] as const) {
    cases.push({ name: `allocBuffer(${what})`, call: alloc(v), expect: 'TypeError' });
  }
  for (const [what, v] of [['undefined', undefined], ['null', null], ['a string', '4096'], ['an object', {}]] as const) {
    cases.push({ name: `allocBuffer size ${what}`, call: alloc({ size: v, backing: '4k' }), expect: 'TypeError' });
  }
  for (const [what, v] of [['0', 0], ['0n', 0n], ['-1', -1], ['-4096n', -4096n], ['2^64', U64], ['2^53 + 1 (unsafe)', 2 ** 53 + 2], ['Infinity', Infinity]] as const) {
    cases.push({ name: `allocBuffer size ${what}`, call: alloc({ size: v, backing: '4k' }), expect: 'RangeError' });
  }
  cases.push({ name: 'allocBuffer size 1.5', call: alloc({ size: 1.5, backing: '4k' }), expect: NUMBER_ERRORS });
  cases.push({ name: 'allocBuffer size NaN', call: alloc({ size: Number.NaN, backing: '4k' }), expect: NUMBER_ERRORS });
  cases.push({ name: 'allocBuffer size 2^63 (no such memory)', call: alloc({ size: 1n << 63n, backing: '4k' }), expect: ['VfioError:ENOMEM', 'RangeError'] });
  for (const [what, v] of [['undefined', undefined], ['"huge"', 'huge'], ['"4K"', '4K'], ['1', 1], ['"__proto__"', '__proto__']] as const) {
    cases.push({ name: `allocBuffer backing ${what}`, call: alloc({ size: PAGE, backing: v }), expect: 'TypeError' });
  }
  cases.push({ name: 'allocBuffer hugePageSize 4096n', call: alloc({ size: 0x20_0000n, backing: 'hugetlb', hugePageSize: PAGE }), expect: 'RangeError' });
  cases.push({ name: 'allocBuffer hugePageSize 2^21 as a number', call: alloc({ size: 0x20_0000n, backing: 'hugetlb', hugePageSize: 2 ** 21 }), expect: 'TypeError' });
  cases.push({ name: 'allocBuffer prefault "yes"', call: alloc({ size: PAGE, backing: '4k', prefault: 'yes' }), expect: 'TypeError' });
  return cases;
}

export function containerCases(w: World): Case[] {
  const c = w.container;
  const lc = loose(c);
  const cases: Case[] = [];
  const good: DmaMapping = { vaddr: w.buffer.vaddr + 4n * PAGE, iova: FREE_IOVA, size: PAGE };
  // A case that maps by mistake must not leave the mapping behind for the next case.
  const map = (m: unknown) => () => {
    lc['map']!.call(c, m);
    c.unmapAll();
    c.map({ vaddr: w.buffer.vaddr, iova: EXISTING.iova, size: EXISTING.size });
  };
  const mapWith = (patch: Record<string, unknown>) => map({ ...good, ...patch });

  for (const [what, v] of [['undefined', undefined], ['null', null], ['a number', 42], ['a string', 'map']] as const) {
    cases.push({ name: `map(${what})`, call: map(v), expect: 'TypeError' });
  }
  for (const field of ['vaddr', 'iova', 'size'] as const) {
    for (const [what, v] of NOT_BIGINT) cases.push({ name: `map ${field} ${what}`, call: mapWith({ [field]: v }), expect: 'TypeError' });
    for (const [what, v] of NOT_U64) cases.push({ name: `map ${field} ${what}`, call: mapWith({ [field]: v }), expect: 'RangeError' });
  }
  for (const [what, v] of [['"3"', '3'], ['1.5', 1.5], ['NaN', Number.NaN], ['3n', 3n]] as const) {
    cases.push({ name: `map prot ${what}`, call: mapWith({ prot: v }), expect: 'TypeError' });
  }
  for (const [what, v] of [['-1', -1], ['4', 4], ['8 (VADDR is not for users)', 8], ['2^32 + 3', 2 ** 32 + 3], ['2^31 | 3', 2 ** 31 + 3]] as const) {
    cases.push({ name: `map prot ${what}`, call: mapWith({ prot: v }), expect: 'RangeError' });
  }
  const einval: Array<[string, Record<string, unknown>]> = [
    ['prot 0 (no access)', { prot: 0 }],
    ['size 0', { size: 0n }],
    ['size half a page', { size: 0x800n }],
    ['iova unaligned', { iova: FREE_IOVA + 0x800n }],
    ['vaddr unaligned', { vaddr: good.vaddr + 0x800n }],
    ['iova + size wraps 2^64', { iova: U64 - PAGE, size: 2n * PAGE }],
    ['vaddr + size wraps 2^64', { vaddr: U64 - PAGE, size: 2n * PAGE }],
    ['size 2^64 - 4096', { size: U64 - PAGE }],
    ['iova in the MSI window', { iova: 0xfee0_0000n }],
    ['iova beyond the IOMMU aperture (2^62)', { iova: 1n << 62n }],
  ];
  for (const [what, patch] of einval) cases.push({ name: `map ${what}`, call: mapWith(patch), expect: 'VfioError:EINVAL' });
  const eexist: Array<[string, Record<string, unknown>]> = [
    ['the existing range', { iova: EXISTING.iova, size: EXISTING.size }],
    ['over its second page', { iova: EXISTING.iova + PAGE, size: 2n * PAGE }],
    ['over all of it and more', { iova: EXISTING.iova, size: 8n * PAGE }],
    ['its first page only', { iova: EXISTING.iova, size: PAGE }],
  ];
  for (const [what, patch] of eexist) cases.push({ name: `map overlapping ${what}`, call: mapWith(patch), expect: 'VfioError:EEXIST' });
  cases.push({ name: 'map vaddr 0x1000 (nothing there to pin)', call: mapWith({ vaddr: 0x1000n }), expect: 'VfioError:EFAULT' });
  cases.push({ name: 'map vaddr 2^64 - 4096 (above user space)', call: mapWith({ vaddr: U64 - PAGE }), expect: 'VfioError:EFAULT' });

  const unmap = (iova: unknown, size: unknown) => () => lc['unmap']!.call(c, iova, size);
  for (const [what, v] of NOT_BIGINT) {
    cases.push({ name: `unmap iova ${what}`, call: unmap(v, PAGE), expect: 'TypeError' });
    cases.push({ name: `unmap size ${what}`, call: unmap(FREE_IOVA, v), expect: 'TypeError' });
  }
  for (const [what, v] of NOT_U64) {
    cases.push({ name: `unmap iova ${what}`, call: unmap(v, PAGE), expect: 'RangeError' });
    cases.push({ name: `unmap size ${what}`, call: unmap(FREE_IOVA, v), expect: 'RangeError' });
  }
  for (const [what, iova, size] of [
    ['size 0', FREE_IOVA, 0n], ['iova unaligned', FREE_IOVA + 0x800n, PAGE], ['size unaligned', FREE_IOVA, 0x800n],
    ['wrapping 2^64', U64 - PAGE, 2n * PAGE], ['starting inside a mapping (v2)', EXISTING.iova + PAGE, PAGE],
    ['ending inside a mapping (v2)', EXISTING.iova, PAGE],
  ] as const) {
    cases.push({ name: `unmap ${what}`, call: unmap(iova, size), expect: 'VfioError:EINVAL' });
  }

  const dirtyGet = (iova: unknown, size: unknown, pg: unknown) => () => lc['dirtyGet']!.call(c, iova, size, pg);
  const unmapDirty = (iova: unknown, size: unknown, pg: unknown) => () => lc['unmapWithDirty']!.call(c, iova, size, pg);
  for (const [name, fn] of [['dirtyGet', dirtyGet], ['unmapWithDirty', unmapDirty]] as const) {
    for (const [what, v] of NOT_BIGINT) cases.push({ name: `${name} pageSize ${what}`, call: fn(EXISTING.iova, EXISTING.size, v), expect: 'TypeError' });
    for (const [what, v] of NOT_U64) cases.push({ name: `${name} pageSize ${what}`, call: fn(EXISTING.iova, EXISTING.size, v), expect: 'RangeError' });
    cases.push({ name: `${name} pageSize 0`, call: fn(EXISTING.iova, EXISTING.size, 0n), expect: 'RangeError' });
    cases.push({ name: `${name} iova -1n`, call: fn(-1n, PAGE, PAGE), expect: 'RangeError' });
    cases.push({ name: `${name} while tracking is off`, call: fn(EXISTING.iova, EXISTING.size, PAGE), expect: 'VfioError:EINVAL' });
    cases.push({ name: `${name} of 2^63 bytes (bitmap past the kernel maximum)`, call: fn(0n, 1n << 63n, PAGE), expect: 'VfioError:EINVAL' });
  }

  const runPlan = (op: unknown, plan: unknown) => () => lc['runPlan']!.call(c, op, plan);
  const entry = (flags: bigint) => {
    const w = new BigUint64Array(PLAN_STRIDE);
    w[PLAN_VADDR] = good.vaddr;
    w[PLAN_IOVA] = good.iova;
    w[PLAN_SIZE] = good.size;
    w[PLAN_FLAGS] = flags;
    return w;
  };
  for (const [what, op] of [['"remap"', 'remap'], ['undefined', undefined], ['1', 1], ['"MAP"', 'MAP']] as const) {
    cases.push({ name: `runPlan op ${what}`, call: runPlan(op, entry(3n)), expect: 'TypeError' });
  }
  for (const [what, plan] of [
    ['an Array', [0n, 0n, 0n, 0n]], ['a Uint32Array', new Uint32Array(4)], ['a BigInt64Array', new BigInt64Array(4)],
    ['a Float64Array', new Float64Array(4)], ['null', null], ['undefined', undefined], ['a DataView', new DataView(new ArrayBuffer(32))],
  ] as const) {
    cases.push({ name: `runPlan plan ${what}`, call: runPlan('map', plan), expect: 'TypeError' });
  }
  cases.push({ name: 'runPlan plan of 3 words', call: runPlan('map', new BigUint64Array(3)), expect: 'RangeError' });
  cases.push({ name: 'runPlan map entry flags 8', call: runPlan('map', entry(8n)), expect: 'RangeError' });
  cases.push({ name: 'runPlan map entry flags 2^32 + 3', call: runPlan('map', entry((1n << 32n) + 3n)), expect: 'RangeError' });
  cases.push({ name: 'runPlan unmap op given as PlanOp "map " (trailing space)', call: runPlan('map ' as PlanOp, entry(3n)), expect: 'TypeError' });

  for (const [what, v] of [['"NOPE"', 'NOPE'], ['1', 1], ['undefined', undefined], ['"toString"', 'toString'], ['"__proto__"', '__proto__'], ['"type1"', 'type1']] as const) {
    cases.push({ name: `checkExtension(${what})`, call: () => lc['checkExtension']!.call(c, v), expect: 'TypeError' });
  }
  for (const [what, v] of [['"type2"', 'type2'], ['undefined', undefined], ['1', 1], ['"TYPE1"', 'TYPE1']] as const) {
    cases.push({ name: `setIommu(${what})`, call: () => lc['setIommu']!.call(c, v), expect: 'TypeError' });
  }
  cases.push({ name: 'setIommu("type1v2") a second time', call: () => c.setIommu('type1v2'), expect: 'VfioError:EINVAL' });
  return cases;
}

/** With dirty tracking on: the bitmap checks the kernel makes. */
export function dirtyCases(w: World): Case[] {
  const c = w.container;
  return [
    ['page size 8 KiB (not the IOMMU page)', EXISTING.iova, EXISTING.size, 2n * PAGE],
    ['iova unaligned', EXISTING.iova + 0x800n, PAGE, PAGE],
    ['size 0', EXISTING.iova, 0n, PAGE],
    ['starting inside a mapping', EXISTING.iova + PAGE, PAGE, PAGE],
    ['ending inside a mapping', EXISTING.iova, PAGE, PAGE],
    ['wrapping 2^64', U64 - PAGE, 2n * PAGE, PAGE],
  ].flatMap(([what, iova, size, pg]) => [
    { name: `dirtyGet ${what}`, call: () => c.dirtyGet(iova as bigint, size as bigint, pg as bigint), expect: 'VfioError:EINVAL' as const },
    { name: `unmapWithDirty ${what}`, call: () => c.unmapWithDirty(iova as bigint, size as bigint, pg as bigint), expect: 'VfioError:EINVAL' as const },
  ]);
}

/** A TYPE1 (v1) container: dirty tracking is v2 only, and the kernel says so (EACCES) before looking at the range. */
export function v1Cases(c: Container): Case[] {
  const wrap = [U64 - PAGE, 2n * PAGE] as const;
  return [
    { name: 'dirtyStart on v1', call: () => c.dirtyStart(), expect: 'VfioError:EACCES' },
    { name: 'dirtyStop on v1', call: () => c.dirtyStop(), expect: 'VfioError:EACCES' },
    { name: 'dirtyGet on v1', call: () => c.dirtyGet(EXISTING.iova, EXISTING.size, PAGE), expect: 'VfioError:EACCES' },
    { name: 'dirtyGet on v1, wrapping range', call: () => c.dirtyGet(wrap[0], wrap[1], PAGE), expect: 'VfioError:EACCES' },
    { name: 'dirtyGet on v1, 2^63 bytes', call: () => c.dirtyGet(0n, 1n << 63n, PAGE), expect: 'VfioError:EACCES' },
    { name: 'dirtyGet on v1, page size 0', call: () => c.dirtyGet(EXISTING.iova, EXISTING.size, 0n), expect: 'RangeError' },
    { name: 'unmapWithDirty on v1 (tracking cannot be on)', call: () => c.unmapWithDirty(EXISTING.iova, EXISTING.size, PAGE), expect: 'VfioError:EINVAL' },
    { name: 'unmapWithDirty on v1, page size 0', call: () => c.unmapWithDirty(EXISTING.iova, EXISTING.size, 0n), expect: 'RangeError' },
  ];
}

export function groupCases(w: World, groupId: number, deviceName: string, otherBackendContainer: Container): Case[] {
  const g = w.group;
  const lg = loose(g);
  const cases: Case[] = [];
  const open = (name: unknown) => () => {
    const d = lg['openDevice']!.call(g, name) as Device;
    d.close();
  };
  for (const [what, v] of [['null', null], ['undefined', undefined], ['{}', {}], ['42', 42]] as const) {
    cases.push({ name: `setContainer(${what})`, call: () => lg['setContainer']!.call(g, v), expect: 'TypeError' });
  }
  cases.push({ name: 'setContainer(a container of the other backend)', call: () => g.setContainer(otherBackendContainer), expect: ['TypeError', 'VfioError'] });
  cases.push({ name: 'setContainer again (already in one)', call: () => g.setContainer(w.container), expect: 'VfioError:EINVAL' });
  for (const [what, v] of [['undefined', undefined], ['42', 42], ['null', null], ['{}', {}]] as const) {
    cases.push({ name: `openDevice(${what})`, call: open(v), expect: 'TypeError' });
  }
  for (const [what, v] of [
    ['""', ''], ['"nope"', 'nope'], ['a path', '../../../../etc/passwd'], ['the name with a NUL and more', `${deviceName}\0junk`],
    ['the name with a newline', `${deviceName}\n`], ['5000 characters', 'a'.repeat(5000)], ['the name upper-cased', deviceName.toUpperCase() === deviceName ? 'X' : deviceName.toUpperCase()],
  ] as const) {
    cases.push({ name: `openDevice(${what})`, call: open(v), expect: ['VfioError', 'RangeError'] });
  }
  cases.push({ name: `openGroup(${groupId}) while open`, call: () => w.backend.openGroup(groupId).close(), expect: 'VfioError:EBUSY' });
  cases.push({
    name: 'unsetContainer with a device open',
    call: () => {
      const d = g.openDevice(deviceName);
      try {
        g.unsetContainer();
      } finally {
        d.close();
      }
    },
    expect: 'VfioError:EBUSY',
  });
  return cases;
}

export function deviceCases(d: Device): Case[] {
  const ld = loose(d);
  const cases: Case[] = [];
  const cfg = PciRegion.CONFIG;
  for (const m of ['regionInfo', 'irqInfo', 'mmap'] as const) {
    for (const [what, v] of NOT_INTEGER) cases.push({ name: `${m}(${what})`, call: () => ld[m]!.call(d, v), expect: 'TypeError' });
    for (const [what, v] of BAD_NUMBERS) cases.push({ name: `${m}(${what})`, call: () => ld[m]!.call(d, v), expect: NUMBER_ERRORS });
    cases.push({ name: `${m}(9999), no such index`, call: () => ld[m]!.call(d, 9999), expect: 'VfioError:EINVAL' });
  }
  cases.push({ name: 'mmap(CONFIG), not mmappable', call: () => d.mmap(cfg), expect: 'VfioError:EINVAL' });
  const read = (r: unknown, off: unknown, len: unknown) => () => ld['read']!.call(d, r, off, len);
  const write = (r: unknown, off: unknown, data: unknown) => () => ld['write']!.call(d, r, off, data);
  for (const [what, v] of NOT_BIGINT) {
    cases.push({ name: `read offset ${what}`, call: read(cfg, v, 4), expect: 'TypeError' });
    cases.push({ name: `write offset ${what}`, call: write(cfg, v, new Uint8Array(2)), expect: 'TypeError' });
  }
  for (const [what, v] of NOT_U64) {
    cases.push({ name: `read offset ${what}`, call: read(cfg, v, 4), expect: 'RangeError' });
    cases.push({ name: `write offset ${what}`, call: write(cfg, v, new Uint8Array(2)), expect: 'RangeError' });
  }
  for (const [what, v] of NOT_INTEGER) cases.push({ name: `read length ${what}`, call: read(cfg, 0n, v), expect: 'TypeError' });
  for (const [what, v] of BAD_NUMBERS) cases.push({ name: `read length ${what}`, call: read(cfg, 0n, v), expect: NUMBER_ERRORS });
  for (const [what, v] of [['undefined', undefined], ['an Array', [1, 2]], ['a string', 'ab'], ['a Uint16Array', new Uint16Array(1)], ['a DataView', new DataView(new ArrayBuffer(2))], ['a Buffer-like object', { length: 2 }]] as const) {
    cases.push({ name: `write data ${what}`, call: write(cfg, 0x40n, v), expect: 'TypeError' });
  }
  const outside: Expected[] = ['RangeError', 'VfioError'];
  cases.push({ name: 'read past the end of config space', call: read(cfg, 0x1000n, 4), expect: outside });
  cases.push({ name: 'read straddling the end of config space', call: read(cfg, 0xfen, 4), expect: outside });
  cases.push({ name: 'read at offset 2^64 - 1', call: read(cfg, U64 - 1n, 4), expect: outside });
  cases.push({ name: 'read 2^31 bytes', call: read(cfg, 0n, 2 ** 31), expect: outside });
  cases.push({ name: 'read region 9999', call: read(9999, 0n, 4), expect: ['VfioError:EINVAL', 'RangeError'] });
  cases.push({ name: 'read region VGA (absent)', call: read(PciRegion.VGA, 0n, 4), expect: ['VfioError:EINVAL', 'RangeError'] });
  cases.push({ name: 'write past the end of config space', call: write(cfg, 0x1000n, new Uint8Array(4)), expect: outside });
  cases.push({ name: 'write at offset 2^64 - 1', call: write(cfg, U64 - 1n, new Uint8Array(4)), expect: outside });
  cases.push({ name: 'write past the end of BAR0', call: write(PciRegion.BAR0, 1n << 40n, new Uint8Array(4)), expect: outside });
  return cases;
}

/** Every method of closed objects: a VfioError (EBADF), never a crash or a silent success. */
export function closedCases(c: Container, g: Group, d: Device, freshContainer: Container): Case[] {
  const ebadf: Expected = 'VfioError:EBADF';
  const plan = new BigUint64Array(PLAN_STRIDE);
  return [
    { name: 'container.apiVersion', call: () => c.apiVersion(), expect: ebadf },
    { name: 'container.checkExtension', call: () => c.checkExtension('TYPE1v2'), expect: ebadf },
    { name: 'container.setIommu', call: () => c.setIommu('type1v2'), expect: ebadf },
    { name: 'container.info', call: () => c.info(), expect: ebadf },
    { name: 'container.map', call: () => c.map({ vaddr: 0x1000n, iova: FREE_IOVA, size: PAGE }), expect: ebadf },
    { name: 'container.unmap', call: () => c.unmap(EXISTING.iova, EXISTING.size), expect: ebadf },
    { name: 'container.unmapAll', call: () => c.unmapAll(), expect: ebadf },
    { name: 'container.unmapWithDirty', call: () => c.unmapWithDirty(EXISTING.iova, EXISTING.size, PAGE), expect: ebadf },
    { name: 'container.dirtyStart', call: () => c.dirtyStart(), expect: ebadf },
    { name: 'container.dirtyStop', call: () => c.dirtyStop(), expect: ebadf },
    { name: 'container.dirtyGet', call: () => c.dirtyGet(EXISTING.iova, EXISTING.size, PAGE), expect: ebadf },
    { name: 'container.runPlan map', call: () => c.runPlan('map', plan), expect: ebadf },
    { name: 'container.runPlan unmap', call: () => c.runPlan('unmap', plan), expect: ebadf },
    { name: 'group.status', call: () => g.status(), expect: ebadf },
    { name: 'group.setContainer', call: () => g.setContainer(freshContainer), expect: ebadf },
    { name: 'group.unsetContainer', call: () => g.unsetContainer(), expect: ebadf },
    { name: 'group.openDevice', call: () => g.openDevice(d.name), expect: ebadf },
    { name: 'device.info', call: () => d.info(), expect: ebadf },
    { name: 'device.regionInfo', call: () => d.regionInfo(PciRegion.CONFIG), expect: ebadf },
    { name: 'device.read', call: () => d.read(PciRegion.CONFIG, 0n, 4), expect: ebadf },
    { name: 'device.write', call: () => d.write(PciRegion.CONFIG, 0x40n, new Uint8Array(1)), expect: ebadf },
    { name: 'device.mmap', call: () => d.mmap(PciRegion.BAR0), expect: ebadf },
    { name: 'device.irqInfo', call: () => d.irqInfo(0), expect: ebadf },
    { name: 'device.reset', call: () => d.reset(), expect: ebadf },
  ];
}
