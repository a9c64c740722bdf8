// VFIO_DEVICE_SET_IRQS for the simulated vfio-pci device, modelled on
// drivers/vfio/pci/vfio_pci_intrs.c and vfio_pci_core.c (Linux 6.12), and the
// interrupt line of the simulated edu. Function names in comments are the
// kernel's; lib/sim/MODEL.md lists what each one decides.
//
// An eventfd is a counter: signal() adds one, a read takes the sum. Reads are
// scheduled with setImmediate, so delivery is asynchronous on the event loop
// as it is with libuv polling a real eventfd, and signals that land before the
// read coalesce into one event.
import { Errno, VfioError } from '../errors.js';
import { openIrqs, type IrqAction, type IrqPort, type IrqSet, type IrqSink } from '../irq.js';
import type { IrqInfo } from '../backend.js';

const INTX = 0;
const MSI = 1;
const MSIX = 2;
const ERR = 3;
const REQ = 4;
const NUM_IRQS = 5; // VFIO_PCI_NUM_IRQS
const NAMES = ['intx', 'msi', 'msix', 'err', 'req'];
const OP = 'VFIO_DEVICE_SET_IRQS';

// uapi/linux/vfio.h
const DATA_NONE = 1 << 0;
const DATA_EVENTFD = 1 << 2;
const ACTION_MASK = 1 << 3;
const ACTION_UNMASK = 1 << 4;
const ACTION_TRIGGER = 1 << 5;
const ACTION_OF: Record<IrqAction, number> = { mask: ACTION_MASK, unmask: ACTION_UNMASK, trigger: ACTION_TRIGGER };

/** A simulated eventfd whose reader is the event loop. */
class SimEventfd {
  #count = 0n;
  #scheduled = false;
  polling = true;
  closed = false;

  constructor(private readonly onRead: (count: bigint) => void) {}

  signal(): void {
    if (this.closed) return;
    this.#count++;
    this.#schedule();
  }

  resume(): void {
    this.polling = true;
    this.#schedule();
  }

  #schedule(): void {
    if (!this.polling || this.#scheduled || this.#count === 0n) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.closed || !this.polling || this.#count === 0n) return;
      const n = this.#count;
      this.#count = 0n;
      this.onRead(n);
    });
  }
}

/** What the controller needs of the device it belongs to. */
export interface SimIrqHost {
  isClosed(): boolean;
  irqInfo(index: number): IrqInfo;
  /** The MSI capability's enable bit, which pci_alloc_irq_vectors sets and edu reads. */
  setMsiEnable(on: boolean): void;
}

export class SimIrqController {
  /** vdev->irq_type: VFIO_PCI_NUM_IRQS stands for VFIO_PCI_NUM_IRQS ("none"). */
  #irqType = NUM_IRQS;
  /** INTx: ctx->masked, and the device's line level. */
  #intxMasked = false;
  #line = false;
  /** vdev->ctx (INTx / MSI vectors), err_trigger, req_trigger. */
  readonly #triggers = new Map<number, Array<SimEventfd | null>>();
  readonly #sinks = new Map<number, IrqSink>();

  constructor(private readonly host: SimIrqHost) {}

  /** Device.irqs() for the sim: the native backend's checks, then the kernel model. */
  open(kind: unknown, opts: unknown): IrqSet {
    return openIrqs(this.host, kind, opts, (index, count, attach) => {
      this.#precheck(index, count);
      const fds = Array.from({ length: count }, (_, v) => new SimEventfd((n) => this.#sinks.get(index)?.event(v, n)));
      this.#setIrqs(DATA_EVENTFD | ACTION_TRIGGER, index, 0, count, fds);
      const port: IrqPort = {
        action: (vector, action) => {
          this.#live();
          this.#vector(index, vector);
          this.#setIrqs(DATA_NONE | ACTION_OF[action], index, vector, 1, null);
        },
        poll: (vector, on) => {
          this.#live();
          const fd = this.#vector(index, vector);
          if (on) fd.resume();
          else fd.polling = false;
        },
        // Nothing here holds the loop open: a pending read is one setImmediate.
        ref: () => {},
        disable: (vector) => this.#disable(index, vector),
      };
      this.#sinks.set(index, attach(port));
    });
  }

  // ---- the device side (edu) ----

  /** msi_notify(): one message per call when MSI is enabled. */
  msi(): void {
    if (this.#irqType !== MSI) return;
    this.#triggers.get(MSI)?.[0]?.signal();
  }

  /** pci_set_irq(level), then vfio_intx_handler() on the rising edge. */
  intx(level: boolean): void {
    const rising = level && !this.#line;
    this.#line = level;
    if (rising) this.#intxHandler();
  }

  /**
   * vfio_pci_core_request(): the kernel wants the device back; signals the
   * request eventfd if user space gave one (false when it gave none: the
   * kernel then only logs "No device request channel registered").
   */
  request(): boolean {
    const fd = this.#triggers.get(REQ)?.[0];
    if (!fd) return false;
    fd.signal();
    return true;
  }

  /** vfio_pci_core_close_device() -> vfio_pci_core_disable(): every index off; each set hears EBADF. */
  deviceClosed(): void {
    for (const index of [...this.#triggers.keys()]) this.#teardown(index);
    this.#irqType = NUM_IRQS;
    const sinks = [...this.#sinks.values()];
    this.#sinks.clear();
    for (const s of sinks) s.closed(Errno.EBADF);
  }

  // ---- the kernel ----

  /** The native layer's checks, in the kernel's order (native/irq.cc: IrqMethods::Enable). */
  #precheck(index: number, count: number): void {
    if (this.host.isClosed()) throw new VfioError(Errno.EBADF, OP, {}, 'the device is closed');
    const args = { index, start: 0, count };
    if (index >= NUM_IRQS) {
      throw new VfioError(Errno.EINVAL, OP, args, `the device has ${NUM_IRQS} IRQ indexes (0-${NUM_IRQS - 1})`);
    }
    const have = this.#irqCount(index);
    if (count > have) {
      throw new VfioError(Errno.EINVAL, OP, args, `the device has ${have} ${NAMES[index]} vector(s) (irqInfo(${index}).count)`);
    }
    if (this.#sinks.has(index)) {
      throw new VfioError(Errno.EBUSY, OP, args, `${NAMES[index]} is already enabled on this device: disable() it first`);
    }
    if (index <= MSIX && this.#irqType !== NUM_IRQS) {
      throw new VfioError(Errno.EINVAL, OP, args,
        `INTx, MSI and MSI-X exclude each other: ${NAMES[this.#irqType]} is enabled, disable() it first`);
    }
  }

  /** vfio_pci_get_irq_count(): what GET_IRQ_INFO reports (0 where it refuses). */
  #irqCount(index: number): number {
    try {
      return this.host.irqInfo(index).count;
    } catch {
      return 0;
    }
  }

  /** vfio_pci_ioctl_set_irqs(): vfio_set_irqs_validate_and_prepare(), then vfio_pci_set_irqs_ioctl(). */
  #setIrqs(flags: number, index: number, start: number, count: number, fds: Array<SimEventfd | null> | null): void {
    const args = { index, start, count };
    const max = index < NUM_IRQS ? this.#irqCount(index) : 0;
    if (index >= NUM_IRQS) throw new VfioError(Errno.EINVAL, OP, args);
    if (start >= max || start + count > max) throw new VfioError(Errno.EINVAL, OP, args);
    const action = flags & (ACTION_MASK | ACTION_UNMASK | ACTION_TRIGGER);
    // vfio_pci_set_irqs_ioctl(): MSI and MSI-X have no mask handler, ERR only exists on PCIe.
    switch (index) {
      case INTX:
        if (action === ACTION_MASK) return this.#intxMask(start, count);
        if (action === ACTION_UNMASK) return this.#intxUnmask(start, count);
        return this.#intxTrigger(flags, start, count, fds);
      case MSI:
      case MSIX:
        if (action !== ACTION_TRIGGER) {
          throw new VfioError(Errno.ENOTTY, OP, args, 'the kernel cannot mask MSI or MSI-X vectors (only INTx)');
        }
        return this.#msiTrigger(index, flags, start, count, fds);
      case ERR:
      case REQ:
        if (action !== ACTION_TRIGGER) throw new VfioError(Errno.ENOTTY, OP, args);
        return this.#ctxTriggerSingle(index, flags, count, fds);
      default:
        throw new VfioError(Errno.ENOTTY, OP, args);
    }
  }

  /** vfio_pci_set_intx_mask() -> vfio_pci_intx_mask(). */
  #intxMask(start: number, count: number): void {
    if (this.#irqType !== INTX || start !== 0 || count !== 1) throw new VfioError(Errno.EINVAL, OP, { index: INTX, start, count });
    this.#intxMasked = true;
  }

  /** vfio_pci_set_intx_unmask() -> __vfio_pci_intx_unmask(): a line still asserted is re-sent and stays masked. */
  #intxUnmask(start: number, count: number): void {
    if (this.#irqType !== INTX || start !== 0 || count !== 1) throw new VfioError(Errno.EINVAL, OP, { index: INTX, start, count });
    if (!this.#intxMasked) return;
    if (this.#line) {
      this.#signalIntx();
      return;
    }
    this.#intxMasked = false;
  }

  /** vfio_pci_set_intx_trigger(). */
  #intxTrigger(flags: number, start: number, count: number, fds: Array<SimEventfd | null> | null): void {
    const args = { index: INTX, start, count };
    if (this.#irqType === INTX && count === 0 && flags & DATA_NONE) {
      this.#teardown(INTX); // vfio_intx_disable()
      return;
    }
    if (!(this.#irqType === INTX || this.#irqType === NUM_IRQS) || start !== 0 || count !== 1) {
      throw new VfioError(Errno.EINVAL, OP, args);
    }
    if (flags & DATA_EVENTFD) {
      // vfio_intx_enable(): starts unmasked; a line already high fires at once.
      this.#triggers.set(INTX, [fds![0]!]);
      this.#irqType = INTX;
      this.#intxMasked = false;
      if (this.#line) this.#intxHandler();
      return;
    }
    if (this.#irqType !== INTX) throw new VfioError(Errno.EINVAL, OP, args);
    this.#signalIntx(); // vfio_send_intx_eventfd(): loopback, no masking
  }

  /** vfio_pci_set_msi_trigger(). */
  #msiTrigger(index: number, flags: number, start: number, count: number, fds: Array<SimEventfd | null> | null): void {
    if (this.#irqType === index && count === 0 && flags & DATA_NONE) {
      this.#teardown(index); // vfio_msi_disable()
      return;
    }
    if (!(this.#irqType === index || this.#irqType === NUM_IRQS)) {
      throw new VfioError(Errno.EINVAL, OP, { index, start, count });
    }
    if (flags & DATA_EVENTFD) {
      if (this.#irqType !== index) {
        // vfio_msi_enable(): pci_alloc_irq_vectors() sets the capability's enable bit.
        this.#irqType = index;
        this.#triggers.set(index, []);
        if (index === MSI) this.host.setMsiEnable(true);
      }
      // vfio_msi_set_block(): fd -1 (null) detaches a vector.
      const ctx = this.#triggers.get(index)!;
      for (let i = 0; i < count; i++) {
        const old = ctx[start + i];
        if (old) old.closed = true;
        ctx[start + i] = fds![i] ?? null;
      }
      return;
    }
    if (this.#irqType !== index) throw new VfioError(Errno.EINVAL, OP, { index, start, count });
    for (let i = start; i < start + count; i++) this.#triggers.get(index)?.[i]?.signal();
  }

  /** vfio_pci_set_err_trigger / vfio_pci_set_req_trigger -> vfio_pci_set_ctx_trigger_single(). */
  #ctxTriggerSingle(index: number, flags: number, count: number, fds: Array<SimEventfd | null> | null): void {
    const ctx = this.#triggers.get(index)?.[0] ?? null;
    if (flags & DATA_NONE) {
      if (!ctx) return;
      if (count) ctx.signal();
      else this.#teardown(index);
      return;
    }
    if (!count) throw new VfioError(Errno.EINVAL, OP, { index, start: 0, count });
    if (ctx) ctx.closed = true;
    if (fds![0]) this.#triggers.set(index, [fds![0]]);
    else this.#triggers.delete(index);
  }

  /** vfio_intx_handler(): signal and auto-mask, unless already masked. */
  #intxHandler(): void {
    if (this.#irqType !== INTX || this.#intxMasked) return;
    this.#intxMasked = true;
    this.#signalIntx();
  }

  #signalIntx(): void {
    if (this.#irqType === INTX) this.#triggers.get(INTX)?.[0]?.signal();
  }

  #teardown(index: number): void {
    for (const fd of this.#triggers.get(index) ?? []) if (fd) fd.closed = true;
    this.#triggers.delete(index);
    if (index === this.#irqType) {
      this.#irqType = NUM_IRQS;
      this.#intxMasked = false;
      if (index === MSI) this.host.setMsiEnable(false);
    }
  }

  /** The port's disable: one vector with fd -1 (MSI / MSI-X), or the whole index. */
  #disable(index: number, vector?: number): void {
    if (!this.#sinks.has(index)) return;
    const ctx = this.#triggers.get(index) ?? [];
    const live = ctx.filter((fd) => fd && !fd.closed).length;
    if (vector !== undefined && live > 1 && (index === MSI || index === MSIX)) {
      if (this.host.isClosed()) return;
      this.#setIrqs(DATA_EVENTFD | ACTION_TRIGGER, index, vector, 1, [null]);
      return;
    }
    this.#sinks.delete(index);
    if (this.host.isClosed()) return;
    this.#setIrqs(DATA_NONE | ACTION_TRIGGER, index, 0, 0, null);
  }

  #vector(index: number, vector: number): SimEventfd {
    const fd = this.#triggers.get(index)?.[vector];
    if (!fd || fd.closed || !this.#sinks.has(index)) {
      throw new VfioError(Errno.EBADF, OP, { index, start: vector, count: 1 }, 'the vector is not enabled (disabled, or never enabled)');
    }
    return fd;
  }

  #live(): void {
    if (this.host.isClosed()) throw new VfioError(Errno.EBADF, OP, {}, 'the device is closed');
  }
}
