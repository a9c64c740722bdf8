// The register model of QEMU's "edu" teaching device (hw/misc/edu.c), the
// device the HIL lane passes through: 1 MiB BAR0 with an identification
// register, a liveness check, a factorial unit and a DMA engine that moves up
// to 4 KiB between an internal buffer (at 0x40000) and IOVA space. The sim
// completes work at once where QEMU uses a thread or a 100 ms timer, so the
// "busy" bits read as done.

export const EDU_VENDOR = 0x1234;
export const EDU_DEVICE = 0x11e8;
export const EDU_BAR0_SIZE = 1 << 20;
export const EDU_DMA_START = 0x40000;
export const EDU_DMA_SIZE = 4096;
const EDU_DMA_MASK = (1n << 28n) - 1n;
const DMA_RUN = 1n;
const DMA_TO_PCI = 2n; // direction bit: set = device buffer -> memory
const DMA_IRQ_ENABLE = 4n;
const DMA_IRQ = 0x100;
const FACT_IRQ = 1;
const STATUS_IRQFACT = 0x80;
const ALL_ONES = 0xffff_ffff_ffff_ffffn;

/** What the device reaches through the IOMMU; null means the access faulted. */
export interface DmaPort {
  read(iova: bigint, length: number): Uint8Array | null;
  write(iova: bigint, data: Uint8Array): boolean;
}

/**
 * Where edu's interrupts go (edu_raise_irq / edu_lower_irq in edu.c): an MSI
 * message when the MSI capability is enabled, else the INTx line level.
 */
export interface EduIrqLine {
  msiEnabled(): boolean;
  msi(): void;
  intx(level: boolean): void;
}

export class EduRegisters {
  #addr4 = 0n;
  #fact = 0n;
  #status = 0n;
  #irqStatus = 0;
  #src = 0n;
  #dst = 0n;
  #cnt = 0n;
  #cmd = 0n;
  readonly #buf = new Uint8Array(EDU_DMA_SIZE);
  /** DMA transfers that hit an unmapped or read-only IOVA (a DMAR fault on real hardware). */
  faults = 0;
  /** Set by the device that owns these registers (lib/sim/device.ts). */
  irq: EduIrqLine | null = null;

  /**
   * One access of `size` bytes. QEMU refuses 1- and 2-byte accesses before
   * edu sees them (valid.min_access_size = 4: they read as 0, as on the HIL
   * guest); edu itself answers all-ones to an 8-byte read below 0x80.
   */
  read(addr: number, size: number): bigint {
    if (size < 4) return 0n;
    if ((addr < 0x80 && size !== 4) || (addr >= 0x80 && size !== 4 && size !== 8)) return mask(ALL_ONES, size);
    switch (addr) {
      case 0x00: return 0x010000edn;
      case 0x04: return this.#addr4;
      case 0x08: return this.#fact;
      case 0x20: return this.#status;
      case 0x24: return BigInt(this.#irqStatus);
      case 0x80: return mask(this.#src, size);
      case 0x88: return mask(this.#dst, size);
      case 0x90: return mask(this.#cnt, size);
      case 0x98: return mask(this.#cmd, size);
      default: return mask(ALL_ONES, size);
    }
  }

  write(addr: number, size: number, value: bigint, port: DmaPort): void {
    if ((addr < 0x80 && size !== 4) || (addr >= 0x80 && size !== 4 && size !== 8)) return;
    switch (addr) {
      case 0x04: this.#addr4 = ~value & 0xffff_ffffn; break;
      case 0x08: this.#fact = factorial32(value & 0xffff_ffffn); break;
      case 0x20:
        this.#status = value & BigInt(STATUS_IRQFACT) ? this.#status | BigInt(STATUS_IRQFACT)
          : this.#status & ~BigInt(STATUS_IRQFACT);
        break;
      case 0x60: this.#raise(Number(value & 0xffff_ffffn)); break;
      case 0x64: this.#lower(Number(value & 0xffff_ffffn)); break;
      case 0x80: this.#src = value; break;
      case 0x88: this.#dst = value; break;
      case 0x90: this.#cnt = value; break;
      case 0x98:
        if (!(value & DMA_RUN)) break;
        this.#cmd = value;
        this.#runDma(port);
        break;
      default: break;
    }
    if (addr === 0x08 && this.#status & BigInt(STATUS_IRQFACT)) this.#raise(FACT_IRQ);
  }

  /** edu_raise_irq(): every raise is one MSI; INTx is a level held while any cause is set. */
  #raise(val: number): void {
    this.#irqStatus = (this.#irqStatus | val) >>> 0;
    if (!this.#irqStatus || !this.irq) return;
    if (this.irq.msiEnabled()) this.irq.msi();
    else this.irq.intx(true);
  }

  /** edu_lower_irq(): the INTx line drops once nothing is left to acknowledge. */
  #lower(val: number): void {
    this.#irqStatus = (this.#irqStatus & ~val) >>> 0;
    if (!this.#irqStatus && this.irq && !this.irq.msiEnabled()) this.irq.intx(false);
  }

  #runDma(port: DmaPort): void {
    const cnt = Number(this.#cnt & 0xffff_ffffn);
    const toPci = (this.#cmd & DMA_TO_PCI) !== 0n;
    const local = Number((toPci ? this.#src : this.#dst) - BigInt(EDU_DMA_START));
    const remote = (toPci ? this.#dst : this.#src) & EDU_DMA_MASK;
    // QEMU only logs an out-of-range transfer (edu_check_range); the sim drops it.
    if (local >= 0 && local + cnt <= EDU_DMA_SIZE) {
      if (toPci) {
        if (!port.write(remote, this.#buf.slice(local, local + cnt))) this.faults++;
      } else {
        const data = port.read(remote, cnt);
        if (data) this.#buf.set(data, local);
        else this.faults++;
      }
    }
    this.#cmd &= ~DMA_RUN;
    if (this.#cmd & DMA_IRQ_ENABLE) this.#raise(DMA_IRQ);
  }
}

function mask(v: bigint, size: number): bigint {
  return size === 8 ? v & ALL_ONES : v & 0xffff_ffffn;
}

function factorial32(n: bigint): bigint {
  // 34! has 32 factors of two: from there on the 32-bit product is 0.
  if (n >= 34n) return 0n;
  let r = 1n;
  for (let i = n; i > 0n; i--) r = (r * i) & 0xffff_ffffn;
  return r;
}

/** Conventional PCI configuration space of edu as vfio-pci shows it (256 bytes). */
export function eduConfigSpace(): Uint8Array {
  const c = new Uint8Array(256);
  const v = new DataView(c.buffer);
  v.setUint16(0x00, EDU_VENDOR, true);
  v.setUint16(0x02, EDU_DEVICE, true);
  v.setUint16(0x04, 0x0103, true); // command: I/O, memory, SERR (as read on the HIL guest)
  v.setUint16(0x06, 0x0010, true); // status: capability list present
  c[0x08] = 0x10; // revision
  v.setUint16(0x0a, 0x00ff, true); // class code PCI_CLASS_OTHERS (0x00ff): sub-class 0xff, base class 0
  v.setUint32(0x10, 0xfea0_0000, true); // BAR0: 32-bit non-prefetchable memory
  v.setUint16(0x2c, 0x1af4, true); // subsystem vendor (QEMU default)
  v.setUint16(0x2e, 0x1100, true);
  c[0x34] = 0x40; // capabilities pointer
  c[0x3c] = 0x0b; // interrupt line, as SeaBIOS assigns it on q35
  c[0x3d] = 0x01; // interrupt pin A
  c[0x40] = 0x05; // MSI capability, last in the list
  v.setUint16(0x42, 0x0080, true); // 64-bit address capable, one vector
  return c;
}
