// Runs a sequence on one backend and records what every operation did: its
// result (a value, or the error's kind and errno) and the state it left behind
// (bytes locked since the container opened, DMA entries still available).
// Two backends agree when these records are equal, operation by operation.
import {
  PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR,
  type Backend, type CdevDevice, type Container, type DmaBuffer, type DmaMapping, type DmaSpace, type Group, type Ioas,
  type IommuType, type Iommufd, type PlanOp,
} from '../../../lib/backend.js';
import { VfioError } from '../../../lib/errors.js';
import {
  BUFFER_PAGES, IOVA_BASE, PAGE, type FdSequence, type Misuse, type Op, type PlanItem, type Sequence, type Type1Sequence,
  type Va,
} from './ops.js';

const U64 = 1n << 64n;
const UNMAPPED_VA = 0x1000n;

export type OutcomeKind = 'ok' | 'VfioError' | 'TypeError' | 'RangeError' | 'CRASH';

export interface Outcome {
  kind: OutcomeKind;
  /** The value returned, or the errno code and operation of a VfioError, or the message of anything else. */
  detail: string;
  /** Bytes the process has locked (VmLck + VmPin, or the sim's account) more than when the container opened. */
  locked: bigint;
  /** CAP_DMA_AVAIL after the operation. */
  avail: number | null;
  /** runPlan's result fields (timings aside). */
  plan?: { completed: number; failedIndex: number; errno: number; unmapped: bigint; timings: number };
  /** Bytes an unmap reported. */
  unmapped?: bigint;
  bits?: BigUint64Array;
}

export function renderOutcome(o: Outcome): string {
  return `${o.kind}${o.detail ? ` ${o.detail}` : ''} | locked ${o.locked >= 0n ? '+' : '-'}0x${(o.locked < 0n ? -o.locked : o.locked).toString(16)} avail ${o.avail}`;
}

/** What differs between one backend and another: how to set dma_entry_limit. */
export interface FuzzTarget {
  readonly label: string;
  readonly backend: Backend;
  readonly group: number;
  setEntryLimit(limit: number): void;
  /** Puts dma_entry_limit back as it was. */
  restore(): void;
  /** Tests of the fuzzer itself: a deliberately broken view of the container the operations go to. */
  wrapContainer?(c: Container): Container;
  /** Tests of the fuzzer itself: a deliberately broken view of an IOAS the operations go to. */
  wrapIoas?(i: Ioas): Ioas;
  /** The device cdev iommufd sequences attach (vfio0 ...), or null where there is none (those sequences then fail). */
  readonly cdev?: string | null;
}

export interface SequenceRun {
  outcomes: Outcome[];
  /** Locked bytes, relative to before the container opened, once it closed: anything but 0 is a leak. */
  lockedAfterClose: bigint;
}

/** Where a sequence's buffer pages are: page 0 at `vaddr`. */
export interface FuzzBuf {
  readonly vaddr: bigint;
}

/** iopt_alloc_iova() keeps the user address's alignment up to 2 MiB: page 0 of the fuzz buffer is 2 MiB aligned on every backend. */
const BUF_ALIGN = 0x20_0000n;

/** One iommufd context per target for a whole run, with the test device bound (binding is a device open: slow). */
interface FdContext {
  fd: Iommufd;
  dev: CdevDevice | null;
}

/** One buffer per target, kept for the whole run: sequences map pages of it. */
export class FuzzBuffers {
  readonly #bufs = new Map<FuzzTarget, { buf: DmaBuffer; at: FuzzBuf }>();
  readonly #fds = new Map<FuzzTarget, FdContext>();

  of(t: FuzzTarget): FuzzBuf {
    let b = this.#bufs.get(t);
    if (!b) {
      const buf = t.backend.allocBuffer({ size: BigInt(BUFFER_PAGES) * PAGE + BUF_ALIGN, backing: '4k', prefault: true });
      b = { buf, at: { vaddr: (buf.vaddr + BUF_ALIGN - 1n) & ~(BUF_ALIGN - 1n) } };
      this.#bufs.set(t, b);
    }
    return b.at;
  }

  /** The target's /dev/iommu, with its device cdev bound when it has one. */
  fdOf(t: FuzzTarget): FdContext {
    let c = this.#fds.get(t);
    if (!c) {
      const fd = t.backend.openIommufd!();
      try {
        c = { fd, dev: t.cdev ? fd.bindDevice(t.cdev) : null };
      } catch (err) {
        fd.close();
        throw err;
      }
      this.#fds.set(t, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#fds.values()) c.fd.close();
    this.#fds.clear();
    for (const b of this.#bufs.values()) b.buf.close();
    this.#bufs.clear();
  }
}

export function vaddrOf(buf: FuzzBuf, va: Va): bigint {
  switch (va.kind) {
    case 'buf':
      return buf.vaddr + BigInt(va.page) * PAGE;
    case 'bufOdd':
      return buf.vaddr + BigInt(va.page) * PAGE + 0x800n;
    case 'unmapped':
      return UNMAPPED_VA;
    case 'wrap':
      return U64 - PAGE;
  }
}

export function runSequence(t: FuzzTarget, buffers: FuzzBuffers, seq: Sequence): SequenceRun {
  return seq.type === 'iommufd' ? runFdSequence(t, buffers, seq) : runType1Sequence(t, buffers, seq);
}

function runType1Sequence(t: FuzzTarget, buffers: FuzzBuffers, seq: Type1Sequence): SequenceRun {
  const buf = buffers.of(t);
  const container = t.backend.openContainer();
  const before = container.memlock().locked;
  const group = t.backend.openGroup(t.group);
  const outcomes: Outcome[] = [];
  const c = t.wrapContainer ? t.wrapContainer(container) : container;
  let closed = false;
  try {
    t.setEntryLimit(seq.entryLimit);
    group.setContainer(container);
    container.setIommu(seq.type);
    // With no group attached there is no IOMMU to ask (GET_INFO is EINVAL): no figure.
    const avail = (): number | null => {
      try {
        return c.info().dmaAvail;
      } catch {
        return null;
      }
    };
    const state = () => ({ locked: c.memlock().locked - before, avail: avail() });
    const ctx: Attachment = { container, group, type: seq.type };
    for (const op of seq.ops) outcomes.push({ ...perform(c, buf, op, ctx), ...state() });
    c.close();
    closed = true;
    return { outcomes, lockedAfterClose: container.memlock().locked - before };
  } finally {
    if (!closed) container.close();
    group.close();
    t.restore();
  }
}

type Result = Omit<Outcome, 'locked' | 'avail'>;

/** What detach / reattach work on: the real container (not a test's wrapper), its group and IOMMU type. */
export interface Attachment {
  container: Container;
  group: Group;
  type: IommuType;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function bitsText(bits: BigUint64Array): string {
  return `[${Array.from(bits, (w) => w.toString(16)).join(',')}]`;
}

/** Performs one operation; never throws (a thrown error is the outcome). */
export function perform(c: Container, buf: FuzzBuf, op: Op, at?: Attachment): Result {
  try {
    return attempt(c, buf, op, at);
  } catch (err) {
    if (err instanceof VfioError) return { kind: 'VfioError', detail: `${err.code} ${err.op}` };
    if (err instanceof TypeError) return { kind: 'TypeError', detail: '' };
    if (err instanceof RangeError) return { kind: 'RangeError', detail: '' };
    return { kind: 'CRASH', detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

function planWords(buf: FuzzBuf, items: PlanItem[]): BigUint64Array {
  const w = new BigUint64Array(items.length * PLAN_STRIDE);
  items.forEach((it, i) => {
    w[i * PLAN_STRIDE + PLAN_VADDR] = vaddrOf(buf, it.va);
    w[i * PLAN_STRIDE + PLAN_IOVA] = it.iova;
    w[i * PLAN_STRIDE + PLAN_SIZE] = it.size;
    w[i * PLAN_STRIDE + PLAN_FLAGS] = BigInt(it.prot);
  });
  return w;
}

function attempt(c: Container, buf: FuzzBuf, op: Op, at?: Attachment): Result {
  switch (op.op) {
    case 'detach':
      if (!at) throw new Error('detach needs the attachment');
      at.group.unsetContainer();
      return { kind: 'ok', detail: '' };
    case 'reattach':
      if (!at) throw new Error('reattach needs the attachment');
      at.group.setContainer(at.container);
      at.container.setIommu(at.type);
      return { kind: 'ok', detail: '' };
    case 'map':
      c.map({ vaddr: vaddrOf(buf, op.va), iova: op.iova, size: op.size, prot: op.prot });
      return { kind: 'ok', detail: '' };
    case 'unmap': {
      const n = c.unmap(op.iova, op.size);
      return { kind: 'ok', detail: hex(n), unmapped: n };
    }
    case 'unmapAll': {
      const n = c.unmapAll();
      return { kind: 'ok', detail: hex(n), unmapped: n };
    }
    case 'unmapWithDirty': {
      const r = c.unmapWithDirty(op.iova, op.size, op.pgsize);
      return { kind: 'ok', detail: `${hex(r.unmapped)} ${bitsText(r.dirty.bits)}`, unmapped: r.unmapped, bits: r.dirty.bits };
    }
    case 'dirtyStart':
      c.dirtyStart();
      return { kind: 'ok', detail: '' };
    case 'dirtyStop':
      c.dirtyStop();
      return { kind: 'ok', detail: '' };
    case 'dirtyGet': {
      const d = c.dirtyGet(op.iova, op.size, op.pgsize);
      return { kind: 'ok', detail: bitsText(d.bits), bits: d.bits };
    }
    case 'runPlan':
      return runPlan(c, buf, op.kind, op.items);
    case 'misuse':
      misuse(c, buf, op.what);
      return { kind: 'ok', detail: 'misuse accepted' };
    default:
      throw new Error(`${op.op} is an iommufd operation, not a container's`);
  }
}

function runPlan(s: DmaSpace, buf: FuzzBuf, kind: PlanOp, items: PlanItem[]): Result {
  const r = s.runPlan(kind, planWords(buf, items));
  const plan = { completed: r.completed, failedIndex: r.failedIndex, errno: r.errno, unmapped: r.unmapped, timings: r.ns.length };
  return {
    kind: 'ok',
    detail: `completed ${r.completed} failed ${r.failedIndex} errno ${r.errno} unmapped ${hex(r.unmapped)} timings ${r.ns.length}`,
    plan,
  };
}

/** What iommufd operations work on: the sequence's two IOASes and the device (null without one). */
export interface FdAttachment {
  ioases: Ioas[];
  /** The IOASes themselves (not a test's wrappers): what the device attaches to. */
  real: Ioas[];
  dev: CdevDevice | null;
}

/**
 * An iommufd sequence: two fresh IOASes in the target's /dev/iommu, the device
 * attached to IOAS 0 first when the sequence says so. "locked" is what the
 * process has pinned (VmLck + VmPin) beyond the start; with no domain nothing
 * is pinned (iommufd maps lazily), so it moves only while the device is attached.
 */
function runFdSequence(t: FuzzTarget, buffers: FuzzBuffers, seq: FdSequence): SequenceRun {
  const buf = buffers.of(t);
  const { fd, dev } = buffers.fdOf(t);
  if (seq.device && !dev) throw new Error(`${t.label}: this sequence attaches a device, and the target has none`);
  const real: Ioas[] = [];
  const outcomes: Outcome[] = [];
  let closed = false;
  try {
    real.push(fd.allocIoas(), fd.allocIoas());
    const before = real[0]!.memlock().locked;
    const ioases = t.wrapIoas ? real.map((i) => t.wrapIoas!(i)) : real;
    if (seq.device) dev!.attach(real[0]!);
    const at: FdAttachment = { ioases, real, dev: seq.device ? dev : null };
    for (const op of seq.ops) outcomes.push({ ...performFd(at, buf, op), locked: real[0]!.memlock().locked - before, avail: null });
    if (seq.device) dev!.detach();
    for (const i of ioases) i.close();
    closed = true;
    return { outcomes, lockedAfterClose: real[0]!.memlock().locked - before };
  } finally {
    if (!closed) {
      if (seq.device) {
        try {
          dev!.detach();
        } catch { /* reported by the run */ }
      }
      for (const i of real) i.close();
    }
  }
}

/** Performs one iommufd operation; never throws (a thrown error is the outcome). */
export function performFd(at: FdAttachment, buf: FuzzBuf, op: Op): Result {
  try {
    return attemptFd(at, buf, op);
  } catch (err) {
    if (err instanceof VfioError) return { kind: 'VfioError', detail: `${err.code} ${err.op}` };
    if (err instanceof TypeError) return { kind: 'TypeError', detail: '' };
    if (err instanceof RangeError) return { kind: 'RangeError', detail: '' };
    return { kind: 'CRASH', detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

function attemptFd(at: FdAttachment, buf: FuzzBuf, op: Op): Result {
  const io = (n: number): Ioas => at.ioases[n]!;
  switch (op.op) {
    case 'fdMap': {
      const vaddr = vaddrOf(buf, op.va);
      if (op.iova === null) return { kind: 'ok', detail: `iova ${hex(io(op.ioas).mapAuto(vaddr, op.size, op.prot))}` };
      io(op.ioas).map({ vaddr, iova: op.iova, size: op.size, prot: op.prot });
      return { kind: 'ok', detail: '' };
    }
    case 'fdUnmap': {
      const all = op.iova === 0n && op.size === (1n << 64n) - 1n;
      const n = all ? io(op.ioas).unmapAll() : io(op.ioas).unmap(op.iova, op.size);
      return { kind: 'ok', detail: hex(n), unmapped: n };
    }
    case 'fdCopy': {
      const iova = io(op.dst).copy(io(op.src), op.srcIova, op.size, op.dstIova, op.prot);
      return { kind: 'ok', detail: `iova ${hex(iova)}` };
    }
    case 'fdAllow':
      io(op.ioas).allowIovas(op.ranges);
      return { kind: 'ok', detail: '' };
    case 'fdRanges': {
      const r = io(op.ioas).iovaRanges();
      return { kind: 'ok', detail: `align ${hex(r.alignment)} ${r.ranges.map((x) => `${hex(x.start)}-${hex(x.last)}`).join(' ')}` };
    }
    case 'fdAttach':
      if (!at.dev) throw new Error('fdAttach needs a device');
      at.dev.attach(at.real[op.ioas]!);
      return { kind: 'ok', detail: '' };
    case 'fdDetach':
      if (!at.dev) throw new Error('fdDetach needs a device');
      at.dev.detach();
      return { kind: 'ok', detail: '' };
    case 'fdPlan':
      return runPlan(io(op.ioas), buf, op.kind, op.items);
    default:
      throw new Error(`${op.op} is a container's operation, not an IOAS's`);
  }
}

// Wrong types on purpose: the casts are the point.
function misuse(c: Container, buf: FuzzBuf, what: Misuse): void {
  const good: DmaMapping = { vaddr: buf.vaddr, iova: IOVA_BASE, size: PAGE };
  const anyC = c as unknown as Record<string, (...a: unknown[]) => unknown>;
  switch (what) {
    case 'map-null':
      anyC['map']!.call(c, null);
      return;
    case 'map-number-iova':
      anyC['map']!.call(c, { ...good, iova: Number(IOVA_BASE) });
      return;
    case 'map-negative-size':
      c.map({ ...good, size: -PAGE });
      return;
    case 'map-2^64-iova':
      c.map({ ...good, iova: U64 });
      return;
    case 'map-prot-4':
      c.map({ ...good, prot: 4 });
      return;
    case 'map-prot-float':
      c.map({ ...good, prot: 1.5 });
      return;
    case 'unmap-string-size':
      anyC['unmap']!.call(c, IOVA_BASE, '4096');
      return;
    case 'unmap-number-iova':
      anyC['unmap']!.call(c, Number(IOVA_BASE), PAGE);
      return;
    case 'dirty-zero-pgsize':
      c.dirtyGet(IOVA_BASE, PAGE, 0n);
      return;
    case 'dirty-negative-iova':
      c.dirtyGet(-PAGE, PAGE, PAGE);
      return;
    case 'plan-uint32':
      anyC['runPlan']!.call(c, 'map', new Uint32Array(PLAN_STRIDE));
      return;
    case 'plan-ragged':
      c.runPlan('map', new BigUint64Array(PLAN_STRIDE - 1));
      return;
    case 'plan-bad-op':
      c.runPlan('remap' as PlanOp, new BigUint64Array(PLAN_STRIDE));
      return;
    case 'plan-flags-8': {
      const w = new BigUint64Array(PLAN_STRIDE);
      w[PLAN_VADDR] = buf.vaddr;
      w[PLAN_IOVA] = IOVA_BASE;
      w[PLAN_SIZE] = PAGE;
      w[PLAN_FLAGS] = 8n;
      c.runPlan('map', w);
      return;
    }
  }
}
