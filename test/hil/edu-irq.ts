// edu's interrupt registers and its DMA engine started with completion
// interrupts, for the interrupt tests. Nothing here polls: completion is what
// the test awaits on a vector. Register map from QEMU hw/misc/edu.c.
import type { Device } from '../../lib/backend.js';
import { PciRegion } from '../../lib/backend.js';
import { EDU_BUFFER } from './edu.js';

const REG_FACT = 0x08;
const REG_STATUS = 0x20;
const REG_IRQ_STATUS = 0x24;
const REG_IRQ_RAISE = 0x60;
const REG_IRQ_ACK = 0x64;
const REG_DMA_SRC = 0x80;
const REG_DMA_DST = 0x88;
const REG_DMA_COUNT = 0x90;
const REG_DMA_CMD = 0x98;

export const STATUS_IRQ_FACT = 0x80;
export const FACT_IRQ = 0x1;
export const DMA_IRQ = 0x100;
const CMD_RUN = 0x1;
const CMD_TO_RAM = 0x2;
const CMD_IRQ = 0x4;

/** Offset of the MSI capability's control word in edu's config space (capability at 0x40). */
const MSI_CONTROL = 0x42n;
const MSI_ENABLE = 0x1;

export class EduIrq {
  private readonly regs: Uint32Array;

  /** BAR0 must already be enabled (new Edu(device) does it). */
  constructor(private readonly device: Device) {
    this.regs = new Uint32Array(device.mmap(PciRegion.BAR0));
  }

  /** Interrupt status (0x24): which causes are raised and not yet acknowledged. */
  status(): number {
    return this.regs[REG_IRQ_STATUS / 4]!;
  }

  /** 0x60: status |= value, and an interrupt (MSI: one message per write). */
  raise(value: number): void {
    this.regs[REG_IRQ_RAISE / 4] = value >>> 0;
  }

  /** 0x64: status &= ~value; INTx drops when nothing is left. */
  ack(value: number): void {
    this.regs[REG_IRQ_ACK / 4] = value >>> 0;
  }

  /** Factorial of n; interrupt FACT_IRQ when done if `irq`. */
  factorial(n: number, irq: boolean): void {
    this.regs[REG_STATUS / 4] = irq ? STATUS_IRQ_FACT : 0;
    this.regs[REG_FACT / 4] = n;
  }

  factorialResult(): number {
    return this.regs[REG_FACT / 4]!;
  }

  /** Starts a device-buffer -> RAM (toRam) or RAM -> device-buffer transfer that raises DMA_IRQ when done. */
  startDma(dir: 'toRam' | 'fromRam', iova: bigint, offset: number, count: number): void {
    const local = EDU_BUFFER + offset;
    this.regs[REG_DMA_SRC / 4] = dir === 'toRam' ? local : Number(iova);
    this.regs[REG_DMA_DST / 4] = dir === 'toRam' ? Number(iova) : local;
    this.regs[REG_DMA_COUNT / 4] = count;
    this.regs[REG_DMA_CMD / 4] = CMD_RUN | CMD_IRQ | (dir === 'toRam' ? CMD_TO_RAM : 0);
  }

  dmaRunning(): boolean {
    return (this.regs[REG_DMA_CMD / 4]! & CMD_RUN) !== 0;
  }

  /** What edu itself reads to choose MSI over INTx (msi_enabled() in edu.c). */
  msiEnabled(): boolean {
    const c = this.device.read(PciRegion.CONFIG, MSI_CONTROL, 2);
    return ((c[0]! | (c[1]! << 8)) & MSI_ENABLE) !== 0;
  }
}
