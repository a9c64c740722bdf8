// Object lifetimes: use after close is an error, not a crash; closing a
// container (or letting its last group go) unpins everything it mapped; a
// buffer whose every JS reference is gone while it is mapped stays alive and
// mapped (never unmapped under the IOMMU) until the mapping goes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Backend, Container, DmaBuffer, Group } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { NativeBackend } from '../../lib/native/index.js';
import { SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { isEdu, onVfioHost, SKIP_REASON, testDevice } from '../hil/lane.js';
import { outcomeOf } from './bad-input/table.js';

const PAGE = 0x1000n;
const group = process.env['VFIO_TEST_GROUP'];
const hil = onVfioHost && Boolean(group && process.env['VFIO_TEST_DEVICE']);

/** VmLck + VmPin of this process, in bytes, straight from the kernel. */
function lockedBytes(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (f: string) => BigInt(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? '0') * 1024n;
  return kb('VmLck') + kb('VmPin');
}

interface GcReport {
  backend: string;
  wrapperCollected: boolean;
  mappedAfterGc: boolean;
  lockedAfterGc: string;
  expectedLocked: string;
  deviceRead: boolean | null;
  unmapped: string;
  goneAfterUnmap: boolean;
  lockedAfterClose: string;
}

function runGcChild(backend: 'native' | 'sim', env: Record<string, string> = {}): GcReport {
  const register = fileURLToPath(new URL('../hil/children/register-ts.mjs', import.meta.url));
  const script = fileURLToPath(new URL('./children/gc-mapped.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', register, script, backend], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`gc child exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(last) as GcReport;
}

function world(backend: Backend, id: number): { c: Container; g: Group; bufs: DmaBuffer[] } {
  const c = backend.openContainer();
  const g = backend.openGroup(id);
  g.setContainer(c);
  c.setIommu('type1v2');
  return { c, g, bufs: [] };
}

function closingMappedBuffer(backend: Backend, id: number): void {
  const { c, g } = world(backend, id);
  const b = backend.allocBuffer({ size: 4n * PAGE, backing: '4k' });
  c.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: b.size });
  // The memory is the device's while it is mapped: closing it then is refused...
  expect(outcomeOf(() => b.close())).toBe('VfioError:EBUSY');
  expect(b.closed).toBe(false);
  expect(b.bytes.byteLength).toBe(Number(4n * PAGE));
  // ...and allowed once the container that mapped it is gone.
  c.close();
  g.close();
  b.close();
  expect(b.closed).toBe(true);
  expect(b.bytes.byteLength).toBe(0);
  b.close();
}

describe('lifetimes: sim', () => {
  it('a buffer mapped and then unreachable from JS keeps its mapping; the unmap gives back all of it', () => {
    const r = runGcChild('sim');
    console.log(`[lifetimes] sim gc child: ${JSON.stringify(r)}`);
    expect(r.lockedAfterGc).toBe(r.expectedLocked);
    expect(r.unmapped).toBe((4n * PAGE).toString());
    expect(r.lockedAfterClose).toBe('0');
  });

  it('closing a mapped buffer is refused (EBUSY) until the container is closed', () => {
    closingMappedBuffer(new SimBackend(), SIM_DEFAULT_GROUP);
  });

  it('use after close of a buffer: bytes detached, mapping it is EFAULT, close twice harmless', () => {
    const backend = new SimBackend();
    const { c, g } = world(backend, SIM_DEFAULT_GROUP);
    const b = backend.allocBuffer({ size: PAGE, backing: '4k' });
    const view = b.bytes;
    b.close();
    expect(view.byteLength).toBe(0);
    expect(b.bytes.byteLength).toBe(0);
    expect(outcomeOf(() => c.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: PAGE }))).toBe('VfioError:EFAULT');
    expect(c.memlock().locked).toBe(0n);
    c.close();
    g.close();
  });
});

describe.skipIf(!hil)(`lifetimes: native on a real kernel${hil ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  const id = Number(group);

  it('closing the container returns VmLck/VmPin to where they were, for every backing mapped', () => {
    const backend = new NativeBackend();
    const before = lockedBytes();
    const { c, g } = world(backend, id);
    const small = backend.allocBuffer({ size: 64n * PAGE, backing: '4k', prefault: true });
    const thp = backend.allocBuffer({ size: 0x40_0000n, backing: 'thp', prefault: true });
    c.map({ vaddr: small.vaddr, iova: 0x10_0000n, size: small.size });
    c.map({ vaddr: small.vaddr, iova: 0x20_0000n, size: 8n * PAGE }); // the same pages twice: charged twice
    c.map({ vaddr: thp.vaddr, iova: 0x40_0000n, size: thp.size });
    const mapped = small.size + 8n * PAGE + thp.size;
    expect(lockedBytes() - before).toBe(mapped);
    c.close();
    expect(lockedBytes()).toBe(before);
    // Closed objects answer with errors; the buffers can go now.
    expect(outcomeOf(() => c.unmapAll())).toBe('VfioError:EBADF');
    g.close();
    small.close();
    thp.close();
    expect(lockedBytes()).toBe(before);
  });

  it('the last group leaving releases the IOMMU and unpins everything, with the container still open', () => {
    const backend = new NativeBackend();
    const before = lockedBytes();
    const { c, g } = world(backend, id);
    const b = backend.allocBuffer({ size: 16n * PAGE, backing: '4k', prefault: true });
    c.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: b.size });
    expect(lockedBytes() - before).toBe(b.size);
    g.close();
    expect(lockedBytes()).toBe(before);
    // No IOMMU any more: EINVAL, as container.c answers an ioctl with no driver.
    const err = (() => { try { c.unmap(0x10_0000n, b.size); } catch (e) { return e; } return null; })();
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).code).toBe('EINVAL');
    c.close();
    b.close();
  });

  it('closing a mapped buffer is refused (EBUSY) until the container is closed', () => {
    const before = lockedBytes();
    closingMappedBuffer(new NativeBackend(), id);
    expect(lockedBytes()).toBe(before);
  });

  it('a buffer unreachable from JS while mapped stays mapped and readable by the device; it goes after the unmap', () => {
    const edu = isEdu(testDevice());
    const r = runGcChild('native', edu ? { GC_EDU: '1' } : {});
    console.log(`[lifetimes] native gc child: ${JSON.stringify(r)}`);
    expect(r.mappedAfterGc).toBe(true);
    expect(r.lockedAfterGc).toBe(r.expectedLocked);
    if (edu) expect(r.deviceRead).toBe(true);
    expect(r.unmapped).toBe((4n * PAGE).toString());
    expect(r.goneAfterUnmap).toBe(true);
    expect(r.lockedAfterClose).toBe('0');
  });
});
