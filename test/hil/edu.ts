// QEMU's `edu` teaching device, driven through a VFIO BAR0 mapping. Its DMA
// engine copies between guest RAM (by bus address: an IOVA once an IOMMU is in
// front of it) and a 4 KiB buffer inside the device at 0x40000. Register map
// and semantics from QEMU hw/misc/edu.c and docs/specs/edu.rst.
import type { Device } from '../../lib/backend.js';
import { PciRegion } from '../../lib/backend.js';

const REG_ID = 0x00;
const REG_LIVENESS = 0x04; // reads back the bitwise NOT of what was written
const REG_DMA_SRC = 0x80;
const REG_DMA_DST = 0x88;
const REG_DMA_COUNT = 0x90;
const REG_DMA_CMD = 0x98;
const CMD_RUN = 0x1; // cleared by the device when the transfer is done
const CMD_TO_RAM = 0x2; // direction: 0 = RAM -> device buffer, 1 = device buffer -> RAM

/** Start of the device's internal DMA buffer, in its own address space. */
export const EDU_BUFFER = 0x40000;
export const EDU_BUFFER_SIZE = 0x1000;
/** The engine masks bus addresses to 28 bits (edu's dma_mask). */
export const EDU_DMA_LIMIT = 1n << 28n;

/**
 * PCI command register: memory space enable (the BAR decodes) and bus master
 * enable (the device may issue DMA at all), what pci_enable_device() and
 * pci_set_master() would set for an in-kernel driver.
 */
const PCI_COMMAND = 0x04n;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4;

export class Edu {
  // A Uint32Array, not a DataView: every access must be one aligned 32-bit
  // load or store. edu rejects narrower ones (QEMU reads them as 0), and
  // DataView reads MMIO byte by byte.
  private readonly regs: Uint32Array;

  /** Enables the device (memory decode, bus mastering) and maps BAR0. */
  constructor(private readonly device: Device) {
    this.enable();
    this.regs = new Uint32Array(device.mmap(PciRegion.BAR0));
  }

  /** Identification register: 0xRRrr00ed, RR.rr the version. */
  id(): number {
    return this.read(REG_ID);
  }

  /** Writes a value and reads back its complement: proves the MMIO path is live. */
  liveness(value: number): number {
    this.write(REG_LIVENESS, value);
    return this.read(REG_LIVENESS);
  }

  private enable(): void {
    const cmd = this.device.read(PciRegion.CONFIG, PCI_COMMAND, 2);
    const value = (cmd[0]! | (cmd[1]! << 8)) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    this.device.write(PciRegion.CONFIG, PCI_COMMAND, new Uint8Array([value & 0xff, value >> 8]));
  }

  busMasterEnabled(): boolean {
    return (this.device.read(PciRegion.CONFIG, PCI_COMMAND, 1)[0]! & PCI_COMMAND_MASTER) !== 0;
  }

  /** Device reads `count` bytes at bus address `iova` into its buffer at `offset`. */
  async fromRam(iova: bigint, offset: number, count: number): Promise<void> {
    await this.transfer(iova, BigInt(EDU_BUFFER + offset), count, 0);
  }

  /** Device writes `count` bytes from its buffer at `offset` to bus address `iova`. */
  async toRam(offset: number, iova: bigint, count: number): Promise<void> {
    await this.transfer(BigInt(EDU_BUFFER + offset), iova, count, CMD_TO_RAM);
  }

  private async transfer(src: bigint, dst: bigint, count: number, direction: number): Promise<void> {
    const bus = direction === CMD_TO_RAM ? dst : src;
    const offset = Number((direction === CMD_TO_RAM ? src : dst) - BigInt(EDU_BUFFER));
    // QEMU 7.2's edu aborts the whole VM (hw_error) on a transfer that reaches
    // the end of its buffer, so a full 4096 bytes is refused here, not there.
    if (!Number.isInteger(count) || count <= 0 || offset < 0 || offset + count >= EDU_BUFFER_SIZE) {
      throw new RangeError(`edu DMA of ${count} bytes at buffer offset ${offset} must end before ${EDU_BUFFER_SIZE}`);
    }
    if (bus < 0n || bus + BigInt(count) > EDU_DMA_LIMIT) {
      throw new RangeError(`bus address 0x${bus.toString(16)} is beyond edu's 28-bit DMA mask`);
    }
    await this.waitIdle();
    this.write(REG_DMA_SRC, Number(src));
    this.write(REG_DMA_DST, Number(dst));
    this.write(REG_DMA_COUNT, count);
    this.write(REG_DMA_CMD, CMD_RUN | direction);
    await this.waitIdle();
  }

  /** The engine runs off a 100 ms (virtual clock) timer; poll, do not spin hard. */
  private async waitIdle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.read(REG_DMA_CMD) & CMD_RUN) {
      if (Date.now() > deadline) throw new Error(`edu DMA still running after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  // 32-bit accesses only: edu ignores other sizes below 0x80, and a 4-byte
  // write to a 64-bit DMA register sets the whole register (bus addresses here
  // fit in 28 bits anyway).
  private read(reg: number): number {
    return this.regs[reg / 4]!;
  }

  private write(reg: number, value: number): void {
    this.regs[reg / 4] = value >>> 0;
  }
}
