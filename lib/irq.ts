// Device interrupts as the JS side sees them, the same on every backend: an
// IrqSet of IrqVectors, each an EventTarget ('interrupt' events) that can also
// be awaited (wait()) or iterated (for await). A backend supplies an IrqPort
// per enabled index (native: eventfds polled by libuv, native/irq.cc; sim:
// lib/sim/irq.ts) and feeds events in through the IrqSink it is handed.
//
// Counting follows the eventfd: every delivery carries how many interrupts one
// read of the counter coalesced, and interrupts nobody has awaited yet are
// kept (summed) for the next wait(), so an interrupt that lands between two
// awaits is never lost.
import { Errno, VfioError } from './errors.js';

/** VFIO_DEVICE_GET_IRQ_INFO: an IRQ index, its VFIO_IRQ_INFO_* flags and how many vectors it has. */
export interface IrqInfo {
  index: number;
  flags: number;
  count: number;
}

export type IrqKind = 'intx' | 'msi' | 'msix' | 'err' | 'req';

/** VFIO_PCI_*_IRQ_INDEX. */
export const IrqIndex: Readonly<Record<IrqKind, number>> = { intx: 0, msi: 1, msix: 2, err: 3, req: 4 };

/** VFIO_IRQ_INFO_* flags. */
export const IRQ_INFO_EVENTFD = 1 << 0;
export const IRQ_INFO_MASKABLE = 1 << 1;
export const IRQ_INFO_AUTOMASKED = 1 << 2;
export const IRQ_INFO_NORESIZE = 1 << 3;

export interface IrqOptions {
  /** Vectors to enable, from 0; default every vector irqInfo() reports (at least 1). */
  count?: number;
}

export interface IrqWaitOptions {
  /** Reject with a TimeoutError DOMException after this many ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type IrqAction = 'mask' | 'unmask' | 'trigger';

/** What a backend does for one enabled index. */
export interface IrqPort {
  /** VFIO_DEVICE_SET_IRQS ACTION_MASK / UNMASK / TRIGGER with DATA_NONE for one vector. */
  action(vector: number, action: IrqAction): void;
  /** Stop / resume reading the vector's eventfd (the eventfd keeps counting meanwhile). */
  poll(vector: number, on: boolean): void;
  /** Whether the vector keeps the event loop alive. */
  ref(vector: number, on: boolean): void;
  /** Detach one vector, or the whole index when vector is undefined. */
  disable(vector?: number): void;
}

/** How a backend reports to the set it enabled. */
export interface IrqSink {
  event(vector: number, count: bigint): void;
  /** The device (or its container, group or iommufd) closed: every vector is gone. */
  closed(errno: number): void;
}

export class IrqEvent extends Event {
  constructor(readonly vector: number, readonly count: bigint) {
    super('interrupt');
  }
}

interface Waiter {
  resolve(count: bigint): void;
  reject(err: unknown): void;
}

export class IrqVector extends EventTarget implements AsyncIterable<bigint> {
  readonly kind: IrqKind;
  readonly vector: number;
  readonly #set: IrqSet;
  readonly #port: IrqPort;
  #backlog = 0n;
  #delivered = 0n;
  readonly #waiters = new Set<Waiter>();
  #closedBy: VfioError | null = null;
  #masked = false;
  #refd = false;
  #refCheckPending = false;

  /** @internal IrqSet creates these. */
  constructor(set: IrqSet, port: IrqPort, vector: number) {
    super();
    this.#set = set;
    this.#port = port;
    this.kind = set.kind;
    this.vector = vector;
  }

  get closed(): boolean {
    return this.#closedBy !== null;
  }

  get masked(): boolean {
    return this.#masked;
  }

  /** Interrupts received so far (the sum of every eventfd read). */
  get delivered(): bigint {
    return this.#delivered;
  }

  /**
   * Resolves with the number of interrupts since the last wait() returned
   * (at once if some are pending). Rejects with a VfioError (EBADF) once the
   * vector is disabled or its device closed.
   */
  wait(opts: IrqWaitOptions = {}): Promise<bigint> {
    if (typeof opts !== 'object' || opts === null) return Promise.reject(new TypeError('wait options must be an object'));
    const { timeoutMs, signal } = opts;
    if (timeoutMs !== undefined) {
      if (typeof timeoutMs !== 'number') return Promise.reject(new TypeError('timeoutMs must be a number'));
      if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) return Promise.reject(new RangeError('timeoutMs must be a finite number >= 0'));
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(new TypeError('signal must be an AbortSignal'));
    if (this.#backlog > 0n) return Promise.resolve(this.#take());
    if (this.#closedBy) return Promise.reject(this.#closedBy);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<bigint>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => settle(() => reject(signal!.reason));
      const settle = (fn: () => void): void => {
        if (!this.#waiters.delete(w)) return;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
        this.#releaseRefLater();
      };
      const w: Waiter = {
        resolve: (n) => settle(() => resolve(n)),
        reject: (err) => settle(() => reject(err)),
      };
      this.#waiters.add(w);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => settle(() => reject(new DOMException(
          `no ${this.kind} interrupt on vector ${this.vector} within ${timeoutMs} ms`, 'TimeoutError'))), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#updateRef();
    });
  }

  /** Ends (done) when the vector is disabled or its device closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<bigint, void, undefined> {
    for (;;) {
      try {
        yield await this.wait();
      } catch (err) {
        if (err === this.#closedBy) return;
        throw err;
      }
    }
  }

  /**
   * Nothing is delivered until unmask(). INTx: the kernel masks the line
   * (ACTION_MASK). MSI / MSI-X, which the kernel cannot mask (ENOTTY): the
   * eventfd stops being read and keeps counting, so unmask() delivers what
   * came meanwhile as one coalesced event.
   */
  mask(): void {
    this.#live('mask');
    if (this.#set.maskable) this.#port.action(this.vector, 'mask');
    else this.#port.poll(this.vector, false);
    this.#masked = true;
  }

  /** Also what a level-triggered INTx handler calls after acknowledging the device (the kernel auto-masked it). */
  unmask(): void {
    this.#live('unmask');
    if (this.#set.maskable) this.#port.action(this.vector, 'unmask');
    else this.#port.poll(this.vector, true);
    this.#masked = false;
  }

  /** The kernel's loopback: signals this vector's eventfd as if the device had interrupted. */
  trigger(): void {
    this.#live('trigger');
    this.#port.action(this.vector, 'trigger');
  }

  /** Detaches this vector (the whole index if it is its last); waiters get EBADF. Harmless twice. */
  disable(): void {
    if (this.#closedBy) return;
    this.#port.disable(this.vector);
    this.#set._vectorGone(this);
    this._close(closedError(this, 'the vector was disabled'));
  }

  /** @internal */
  _deliver(count: bigint): void {
    if (this.#closedBy) return;
    this.#delivered += count;
    this.dispatchEvent(new IrqEvent(this.vector, count));
    this.#backlog += count;
    if (this.#waiters.size === 0) return;
    const n = this.#take();
    for (const w of [...this.#waiters]) w.resolve(n);
  }

  /** @internal */
  _close(err: VfioError): void {
    if (this.#closedBy) return;
    this.#closedBy = err;
    for (const w of [...this.#waiters]) w.reject(err);
  }

  #take(): bigint {
    const n = this.#backlog;
    this.#backlog = 0n;
    return n;
  }

  #updateRef(): void {
    const want = this.#waiters.size > 0;
    if (want === this.#refd || this.#closedBy) return;
    this.#port.ref(this.vector, want);
    this.#refd = want;
  }

  /**
   * A settled waiter's ref is dropped in a promise job queued after the
   * settlement, so after the awaiting code's continuation: a caller that
   * awaits again at once (`await vector.wait()` in a loop) keeps the ref
   * instead of paying two native calls per interrupt to drop it and take it
   * back. The job runs before the loop decides whether it is alive.
   */
  #releaseRefLater(): void {
    if (this.#refCheckPending || !this.#refd) return;
    this.#refCheckPending = true;
    queueMicrotask(() => {
      this.#refCheckPending = false;
      this.#updateRef();
    });
  }

  #live(op: string): void {
    if (this.#closedBy) throw this.#closedBy;
    void op;
  }
}

function closedError(v: IrqVector, why: string): VfioError {
  return new VfioError(Errno.EBADF, 'VFIO_DEVICE_SET_IRQS', { kind: v.kind, vector: v.vector }, why);
}

export class IrqSet implements Iterable<IrqVector>, Disposable {
  readonly kind: IrqKind;
  readonly index: number;
  /** The kernel masks this index (INTx); otherwise mask() stops reading the eventfd. */
  readonly maskable: boolean;
  /** The kernel masks the line on every interrupt: call unmask() after handling (INTx). */
  readonly automasked: boolean;
  readonly vectors: readonly IrqVector[];
  #port: IrqPort | null = null;
  #live: number;

  /** @internal openIrqs() creates these. */
  constructor(kind: IrqKind, info: IrqInfo, count: number) {
    this.kind = kind;
    this.index = IrqIndex[kind];
    this.maskable = (info.flags & IRQ_INFO_MASKABLE) !== 0;
    this.automasked = (info.flags & IRQ_INFO_AUTOMASKED) !== 0;
    const port: IrqPort = {
      action: (v, a) => this.#need().action(v, a),
      poll: (v, on) => this.#need().poll(v, on),
      ref: (v, on) => this.#need().ref(v, on),
      disable: (v) => this.#need().disable(v),
    };
    this.vectors = Array.from({ length: count }, (_, i) => new IrqVector(this, port, i));
    this.#live = count;
  }

  get disabled(): boolean {
    return this.#live === 0;
  }

  /** Disables the whole index; every waiter gets EBADF. Harmless twice. */
  disable(): void {
    if (this.#live === 0) return;
    this.#live = 0;
    const port = this.#port;
    this.#port = null;
    port?.disable();
    for (const v of this.vectors) v._close(closedError(v, 'the vector was disabled'));
  }

  [Symbol.dispose](): void {
    this.disable();
  }

  [Symbol.iterator](): Iterator<IrqVector> {
    return this.vectors[Symbol.iterator]();
  }

  /** @internal */
  _attach(port: IrqPort): IrqSink {
    this.#port = port;
    return {
      event: (vector, count) => this.vectors[vector]?._deliver(count),
      closed: (errno) => {
        this.#live = 0;
        this.#port = null;
        for (const v of this.vectors) {
          v._close(new VfioError(errno, 'VFIO_DEVICE_SET_IRQS', { kind: v.kind, vector: v.vector }, 'the device was closed'));
        }
      },
    };
  }

  /** @internal A vector disabled on its own; the last one takes the index with it. */
  _vectorGone(v: IrqVector): void {
    void v;
    if (--this.#live === 0) this.#port = null;
  }

  #need(): IrqPort {
    if (!this.#port) throw new VfioError(Errno.EBADF, 'VFIO_DEVICE_SET_IRQS', { kind: this.kind }, 'the interrupts were disabled');
    return this.#port;
  }
}

/** What openIrqs needs of a device. */
export interface IrqCapable {
  irqInfo(index: number): IrqInfo;
}

/**
 * Argument checks shared by every backend (TypeError / RangeError, no system
 * call), then `enable` does the kernel's part and returns the port. The
 * kernel's own refusals (EINVAL for an index or count the device lacks, or MSI
 * while INTx is on) come from `enable`, before it creates any eventfd.
 */
export function openIrqs(
  device: IrqCapable,
  kind: unknown,
  opts: unknown,
  enable: (index: number, count: number, sink: (port: IrqPort) => IrqSink) => void,
): IrqSet {
  if (typeof kind !== 'string') throw new TypeError('kind must be a string: intx, msi, msix, err or req');
  if (!Object.hasOwn(IrqIndex, kind)) throw new RangeError(`unknown interrupt kind ${JSON.stringify(kind)}: intx, msi, msix, err or req`);
  const k = kind as IrqKind;
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw new TypeError('options must be an object');
  const requested = (opts as IrqOptions | undefined)?.count;
  if (requested !== undefined) {
    if (typeof requested !== 'number') throw new TypeError('count must be a number');
    if (!Number.isInteger(requested) || requested < 1 || requested > 0xffff_ffff) {
      throw new RangeError('count must be an integer in [1, 2^32 - 1]');
    }
  }
  const index = IrqIndex[k];
  // irqInfo refuses an index the device lacks; enable() then refuses it with
  // SET_IRQS's own errno, which is the one to report.
  let info: IrqInfo = { index, flags: 0, count: 0 };
  try {
    info = device.irqInfo(index);
  } catch (err) {
    if (!(err instanceof VfioError)) throw err;
  }
  const count = requested ?? Math.max(1, info.count);
  const set = new IrqSet(k, info, count);
  enable(index, count, (port) => set._attach(port));
  return set;
}

/** How a native raiser writes a stand-in's eventfd: `events` writes, each once the previous was acknowledged, after a seeded random gap. */
export interface IrqRaiseOptions {
  events: number;
  gapMinNs: number;
  gapMaxNs: number;
  /** Seeds the gaps: every waiter of one run sees the same sequence. */
  seed: number;
  /** The CPU the raiser thread pins itself to; absent: wherever the scheduler puts it. */
  raiserCpu?: number;
  /** floor() only: the CPU its waiter thread pins itself to. */
  waiterCpu?: number;
}

/**
 * Interrupt delivery with no device (native/overhead_irq.h): vectors over
 * eventfds the addon makes, delivered through the same polling and the same
 * IrqSet / IrqVector as a device's, and written by a native raiser thread.
 */
export interface IrqStandIn {
  /** MSI-like vectors (the kernel cannot mask MSI: mask() stops reading; trigger() writes the eventfd), as device.irqs('msi') returns them. */
  irqs(opts?: IrqOptions): IrqSet;
  /** Starts the raiser on an enabled vector: write i comes once ack() was called i times. */
  raise(vector: number, opts: IrqRaiseOptions): void;
  /** The waiter has the last event: the raiser may write the next. */
  ack(): void;
  /** Stops the raiser; CLOCK_MONOTONIC ns (process.hrtime's clock) just before each write it made. */
  raised(): BigInt64Array;
  /** Stops the raiser, closes every eventfd and handle; waiters get EBADF. */
  close(): void;
}

/** The stand-in, and the same raiser against native waiters (no JS): the floors its figures are judged against. */
export interface IrqHostProbe {
  open(vectors?: number): IrqStandIn;
  /**
   * A native thread waits: 'epoll' with epoll_wait + read (scripts/ref/irq-ref.c's way),
   * 'uv' with uv_poll in a private libuv loop. ns[i]: write i -> the waiter's read.
   */
  floor(mode: 'epoll' | 'uv', opts: IrqRaiseOptions): { ns: Float64Array; coalesced: number };
  /** The calling (JS) thread's CPUs (sched_getaffinity); with `cpus`, sets them (sched_setaffinity) and returns the old ones. */
  threadCpus(cpus?: readonly number[]): number[];
}
