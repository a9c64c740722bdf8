// A driver kit to copy: a small typed driver for QEMU's `edu` teaching device
// (hw/misc/edu.c, docs/specs/edu.rst) on node-vfio. It has the three pieces a
// user-space driver needs, each on a public API:
//   - named registers over BAR0 (defineRegisters / openRegisters, lib/regs.ts);
//   - interrupts awaited on the event loop (device.irqs: MSI, or INTx with
//     acknowledge + unmask), never a busy-bit poll;
//   - DMA buffers placed and mapped by the planner (IovaAllocator, buildPlan,
//     mapBatch / unmapBatch), inside the device's 28-bit DMA window.
// The same code runs on the simulator (npm test) and on a real edu bound to
// vfio-pci (the HIL lane): test/conformance/edu-driver.test.ts runs it on both,
// through a type1 container. It takes any DmaSpace and Device, so it runs
// unchanged through the iommufd cdev too (an IOAS and a bound CdevDevice):
// test/hil/edu-irq-cdev.test.ts runs it that way on the lane's built kernel.
import {
  buildPlan, buildUnmapPlan, defineRegisters, IovaAllocator, mapBatch, openRegisters, PciRegion, PROT_READ, PROT_WRITE,
  SZ_4K, unmapBatch,
  type Backend, type DmaBuffer, type DmaSpace, type Device, type IrqSet, type IrqVector, type Plan, type RegisterBlock,
} from '../lib/index.js';

/** edu's BAR0, as its spec lists it. */
export const EDU_REGISTERS = defineRegisters({
  id: { offset: 0x00, access: 'ro' }, // 0xRRrr00ed: major RR, minor rr
  liveness: { offset: 0x04 }, // reads back the bitwise NOT of what was written
  factorial: { offset: 0x08 }, // write n, read n! (32 bits)
  status: { offset: 0x20 }, // 0x01 computing, 0x80 interrupt when the factorial is done
  irqStatus: { offset: 0x24, access: 'ro' }, // causes raised and not yet acknowledged
  irqRaise: { offset: 0x60, access: 'wo' }, // status |= value, and an interrupt
  irqAck: { offset: 0x64, access: 'wo' }, // status &= ~value (INTx drops when nothing is left)
  dmaSrc: { offset: 0x80, width: 64 },
  dmaDst: { offset: 0x88, width: 64 },
  dmaCount: { offset: 0x90, width: 64 },
  dmaCmd: { offset: 0x98, width: 64 }, // 0x1 run (cleared when done), 0x2 device -> RAM, 0x4 interrupt when done
});

export const FACT_IRQ = 0x1;
export const DMA_IRQ = 0x100;
const STATUS_IRQFACT = 0x80;
const CMD_RUN = 1n;
const CMD_TO_RAM = 2n;
const CMD_IRQ = 4n;
/** The device's internal DMA buffer, in its own address space. */
export const EDU_BUFFER = 0x40000;
export const EDU_BUFFER_SIZE = 4096;
/** edu masks bus addresses to 28 bits: every IOVA it is given must lie below. */
export const EDU_DMA_LIMIT = 1n << 28n;

const PCI_COMMAND = 0x04n;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4; // DMA, and MSI (a memory write) need bus mastering

export interface EduDriverOptions {
  /** 'msi' (default) or 'intx'. */
  irq?: 'msi' | 'intx';
  /** How long one operation may wait for its interrupt; default 10 s (edu's DMA runs off a 100 ms timer). */
  timeoutMs?: number;
}

/** A buffer the device can reach: its memory, and the IOVA the planner mapped it at. */
export interface EduBuffer extends Disposable {
  readonly bytes: Uint8Array;
  readonly iova: bigint;
  readonly size: bigint;
  close(): void;
}

/**
 * DMA buffers for edu: memory from the backend, an IOVA from an IovaAllocator
 * limited to edu's 28-bit window, mapped and unmapped by the planner.
 */
export class EduBuffers implements Disposable {
  readonly #backend: Backend;
  readonly #space: DmaSpace;
  readonly #iovas: IovaAllocator;
  readonly #live = new Set<EduBuffer>();

  constructor(backend: Backend, space: DmaSpace) {
    this.#backend = backend;
    this.#space = space;
    const info = space.info();
    const ranges = info.ranges
      .filter((r) => r.start < EDU_DMA_LIMIT)
      .map((r) => ({ start: r.start, last: r.last < EDU_DMA_LIMIT ? r.last : EDU_DMA_LIMIT - 1n }));
    this.#iovas = new IovaAllocator({ ...info, ranges });
  }

  /** Allocates, places and maps `size` bytes (rounded up to 4 KiB); `prot` says what the device may do. */
  alloc(size: number, prot: number = PROT_READ | PROT_WRITE): EduBuffer {
    const bytes = (BigInt(size) + SZ_4K - 1n) & ~(SZ_4K - 1n);
    const mem: DmaBuffer = this.#backend.allocBuffer({ size: bytes, backing: '4k', prefault: true });
    let iova: bigint | null = null;
    let plan: Plan;
    try {
      iova = this.#iovas.alloc(bytes, { vaddr: mem.vaddr });
      plan = buildPlan([{ vaddr: mem.vaddr, iova, size: bytes, prot }], 'coalesced', this.#space.info());
      mapBatch(this.#space, plan);
    } catch (err) {
      if (iova !== null) this.#iovas.free(iova, bytes);
      mem.close();
      throw err;
    }
    const at = iova;
    let closed = false;
    const buf: EduBuffer = {
      bytes: mem.bytes,
      iova: at,
      size: bytes,
      close: () => {
        if (closed) return;
        closed = true;
        this.#live.delete(buf);
        try {
          unmapBatch(this.#space, buildUnmapPlan(plan)); // before the memory goes
        } finally {
          this.#iovas.free(at, bytes);
          mem.close();
        }
      },
      [Symbol.dispose]: () => buf.close(),
    };
    this.#live.add(buf);
    return buf;
  }

  /** Unmaps and frees every buffer still open. */
  close(): void {
    for (const b of [...this.#live]) b.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export class EduDriver implements Disposable {
  readonly regs: RegisterBlock<typeof EDU_REGISTERS>;
  readonly irqs: IrqSet;
  readonly #vector: IrqVector;
  readonly #timeoutMs: number;
  #busy = false;

  /** Enables the device (memory decode, bus mastering), maps BAR0 and enables its interrupt. */
  constructor(readonly device: Device, opts: EduDriverOptions = {}) {
    const cmd = device.read(PciRegion.CONFIG, PCI_COMMAND, 2);
    const value = (cmd[0]! | (cmd[1]! << 8)) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    device.write(PciRegion.CONFIG, PCI_COMMAND, new Uint8Array([value & 0xff, value >> 8]));
    this.regs = openRegisters(device, PciRegion.BAR0, EDU_REGISTERS);
    if ((this.regs.read('id') & 0xff) !== 0xed) throw new Error(`${device.name} is not an edu device (id 0x${this.regs.read('id').toString(16)})`);
    this.irqs = device.irqs(opts.irq ?? 'msi', { count: 1 });
    this.#vector = this.irqs.vectors[0]!;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.regs.write('irqAck', 0xffff_ffff); // nothing left over from a previous user
  }

  /** The device's version, from its identification register. */
  version(): { major: number; minor: number } {
    const id = this.regs.read('id');
    return { major: id >>> 24, minor: (id >>> 16) & 0xff };
  }

  /** n! modulo 2^32, computed by the device; resolves on its interrupt. */
  async factorial(n: number): Promise<number> {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError('n must be a 32-bit unsigned integer');
    return this.#exclusive(async () => {
      this.regs.write('status', STATUS_IRQFACT);
      this.regs.write('factorial', n);
      await this.#interrupt(FACT_IRQ);
      return this.regs.read('factorial');
    });
  }

  /** The device copies `count` bytes from `buf` (at `offset`) into its own buffer at `at`. */
  async copyIn(buf: EduBuffer, offset: number, count: number, at = 0): Promise<void> {
    this.#checkDma(buf, offset, count, at);
    await this.#exclusive(() => this.#dma(buf.iova + BigInt(offset), BigInt(EDU_BUFFER + at), count, 0n));
  }

  /** The device copies `count` bytes from its own buffer at `at` into `buf` (at `offset`). */
  async copyOut(buf: EduBuffer, offset: number, count: number, at = 0): Promise<void> {
    this.#checkDma(buf, offset, count, at);
    await this.#exclusive(() => this.#dma(BigInt(EDU_BUFFER + at), buf.iova + BigInt(offset), count, CMD_TO_RAM));
  }

  /** Disables the interrupt; the device itself stays open (its owner closes it). Harmless twice. */
  close(): void {
    this.irqs.disable();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #dma(src: bigint, dst: bigint, count: number, direction: bigint): Promise<void> {
    this.regs.write('dmaSrc', src);
    this.regs.write('dmaDst', dst);
    this.regs.write('dmaCount', BigInt(count));
    this.regs.write('dmaCmd', CMD_RUN | CMD_IRQ | direction);
    await this.#interrupt(DMA_IRQ);
  }

  /**
   * Waits until `cause` is raised: each wake-up reads the interrupt status,
   * acknowledges what it finds and, for INTx (level-triggered, masked by the
   * kernel on delivery), unmasks the line again.
   */
  async #interrupt(cause: number): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      await this.#vector.wait({ timeoutMs: Math.max(0, deadline - Date.now()) });
      const status = this.regs.read('irqStatus');
      if (status) this.regs.write('irqAck', status);
      if (this.irqs.automasked) this.#vector.unmask();
      if (status & cause) return;
    }
  }

  async #exclusive<T>(op: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new Error('edu runs one operation at a time: await the previous one first');
    this.#busy = true;
    try {
      return await op();
    } finally {
      this.#busy = false;
    }
  }

  #checkDma(buf: EduBuffer, offset: number, count: number, at: number): void {
    if (!Number.isInteger(count) || count <= 0) throw new RangeError('count must be a positive integer');
    if (!Number.isInteger(offset) || offset < 0 || BigInt(offset + count) > buf.size) throw new RangeError('the transfer must lie inside the buffer');
    // QEMU 7.2's edu stops the whole VM (hw_error) on a transfer that reaches
    // the end of its buffer: refuse it here.
    if (!Number.isInteger(at) || at < 0 || at + count >= EDU_BUFFER_SIZE) {
      throw new RangeError(`a transfer must end before byte ${EDU_BUFFER_SIZE} of edu's buffer`);
    }
  }
}

/** What the demo did, for its test and for a reader. */
export interface EduDemoResult {
  version: { major: number; minor: number };
  factorial10: number;
  roundTrip: boolean;
  interrupts: bigint;
}

/**
 * The demo: 10! by interrupt, then 1000 bytes RAM -> device -> another buffer,
 * each DMA's completion awaited as an interrupt. Nothing stays mapped after.
 */
export async function eduDemo(backend: Backend, space: DmaSpace, device: Device, opts: EduDriverOptions = {}): Promise<EduDemoResult> {
  using edu = new EduDriver(device, opts);
  using buffers = new EduBuffers(backend, space);
  const src = buffers.alloc(4096, PROT_READ); // the device only reads it
  const dst = buffers.alloc(4096); // read-write (a write-only IOMMU mapping is not portable)
  for (let i = 0; i < 1000; i++) src.bytes[i] = (i * 7 + 3) & 0xff;
  const factorial10 = await edu.factorial(10);
  await edu.copyIn(src, 0, 1000);
  await edu.copyOut(dst, 0, 1000);
  const roundTrip = Buffer.compare(src.bytes.subarray(0, 1000), dst.bytes.subarray(0, 1000)) === 0;
  return { version: edu.version(), factorial10, roundTrip, interrupts: edu.irqs.vectors[0]!.delivered };
}
