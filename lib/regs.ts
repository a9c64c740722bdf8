// Named device registers over one region of a device: a layout (name ->
// offset, width, access) checked once, then read('status') / write('cmd', v)
// as single aligned accesses of the register's width.
//
// Two ways in, one API:
//  - 'mmap': a typed array over device.mmap(region). One load or store per
//    access, no system call: what a driver wants on a real device. Typed
//    arrays (not a DataView, which V8 reads byte by byte) keep every access a
//    single access of the register's width, which devices such as QEMU's edu
//    require (they ignore narrower ones).
//  - 'io': device.read() / device.write() (pread / pwrite on the device fd at
//    the region's offset). One system call per access; it works where a region
//    cannot be mapped (vfio-pci leaves e.g. the MSI-X table out of mmap) and on
//    the simulator, whose mmap() is plain memory the model never sees.
// 'auto' (the default) takes mmap when the region is mappable and the
// device's mappings reach it (Device.mmapLive is not false), else io.
import type { Device } from './backend.js';

export type RegisterWidth = 32 | 64;
/** 'ro' registers refuse write(), 'wo' ones refuse read(): a TypeError, before any access. */
export type RegisterAccess = 'rw' | 'ro' | 'wo';

export interface RegisterSpec {
  /** Byte offset in the region; a multiple of the width in bytes. */
  offset: number;
  /** Bits; default 32. 64-bit registers read and write as bigint. */
  width?: RegisterWidth;
  /** Default 'rw'. */
  access?: RegisterAccess;
}

export type RegisterLayout = Readonly<Record<string, RegisterSpec>>;

/** number for a 32-bit register, bigint for a 64-bit one. */
export type RegisterValue<S extends RegisterSpec> = S extends { width: 64 } ? bigint : number;

export type RegisterAccessMode = 'mmap' | 'io' | 'auto';

export interface OpenRegistersOptions {
  /** Default 'auto': mmap where the region is mappable and the mapping is live, else io. */
  access?: RegisterAccessMode;
}

/**
 * Checks a layout (offsets non-negative integers aligned to their width, no two
 * registers overlapping, known widths and access modes) and returns it, typed
 * as given, so `read()` knows which names exist and which are 64-bit.
 */
export function defineRegisters<const L extends RegisterLayout>(layout: L): L {
  if (typeof layout !== 'object' || layout === null) throw new TypeError('register layout must be an object');
  const spans: Array<{ name: string; start: number; end: number }> = [];
  for (const [name, spec] of Object.entries(layout)) {
    if (typeof spec !== 'object' || spec === null) throw new TypeError(`register ${name}: spec must be an object`);
    const width = spec.width ?? 32;
    if (width !== 32 && width !== 64) throw new RangeError(`register ${name}: width must be 32 or 64, got ${String(width)}`);
    const access = spec.access ?? 'rw';
    if (access !== 'rw' && access !== 'ro' && access !== 'wo') {
      throw new RangeError(`register ${name}: access must be rw, ro or wo, got ${String(access)}`);
    }
    const bytes = width / 8;
    if (!Number.isSafeInteger(spec.offset) || spec.offset < 0) {
      throw new RangeError(`register ${name}: offset must be a non-negative integer, got ${String(spec.offset)}`);
    }
    if (spec.offset % bytes !== 0) throw new RangeError(`register ${name}: offset 0x${spec.offset.toString(16)} is not ${bytes}-byte aligned`);
    spans.push({ name, start: spec.offset, end: spec.offset + bytes });
  }
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]!.start < spans[i - 1]!.end) throw new RangeError(`registers ${spans[i - 1]!.name} and ${spans[i]!.name} overlap`);
  }
  return layout;
}

/** How the block reaches the device: one access of 4 or 8 bytes at a byte offset. */
interface Port {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  read64(offset: number): bigint;
  write64(offset: number, value: bigint): void;
}

function mmapPort(buffer: ArrayBuffer): Port {
  const u32 = new Uint32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
  const u64 = new BigUint64Array(buffer, 0, Math.floor(buffer.byteLength / 8));
  return {
    read32: (o) => u32[o >>> 2]!,
    write32: (o, v) => { u32[o >>> 2] = v; },
    read64: (o) => u64[o >>> 3]!,
    write64: (o, v) => { u64[o >>> 3] = v; },
  };
}

function ioPort(device: Device, region: number): Port {
  // Reused scratch: one allocation per block, not per access.
  const b4 = new Uint8Array(4);
  const v4 = new DataView(b4.buffer);
  const b8 = new Uint8Array(8);
  const v8 = new DataView(b8.buffer);
  return {
    read32: (o) => {
      const b = device.read(region, BigInt(o), 4);
      return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
    },
    write32: (o, v) => {
      v4.setUint32(0, v, true);
      device.write(region, BigInt(o), b4);
    },
    read64: (o) => {
      const b = device.read(region, BigInt(o), 8);
      return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    },
    write64: (o, v) => {
      v8.setBigUint64(0, v, true);
      device.write(region, BigInt(o), b8);
    },
  };
}

const U64 = (1n << 64n) - 1n;

/** The registers of one region, by name. Accesses after the device closes throw (mmap: the mapping is detached; io: EBADF). */
export class RegisterBlock<L extends RegisterLayout> {
  readonly layout: L;
  readonly region: number;
  /** How accesses reach the device. */
  readonly access: 'mmap' | 'io';
  readonly #port: Port;
  readonly #buffer: ArrayBuffer | null;

  /** @internal openRegisters() creates these. */
  constructor(layout: L, region: number, access: 'mmap' | 'io', port: Port, buffer: ArrayBuffer | null) {
    this.layout = layout;
    this.region = region;
    this.access = access;
    this.#port = port;
    this.#buffer = buffer;
  }

  /** One aligned access of the register's width. */
  read<K extends keyof L & string>(name: K): RegisterValue<L[K]> {
    const spec = this.#spec(name);
    if (spec.access === 'wo') throw new TypeError(`register ${name} is write-only`);
    this.#live();
    return (spec.width === 64 ? this.#port.read64(spec.offset) : this.#port.read32(spec.offset)) as RegisterValue<L[K]>;
  }

  /** One aligned store of the register's width; 32-bit values are taken modulo 2^32 (negative numbers too). */
  write<K extends keyof L & string>(name: K, value: RegisterValue<L[K]>): void {
    const spec = this.#spec(name);
    if (spec.access === 'ro') throw new TypeError(`register ${name} is read-only`);
    if (spec.width === 64) {
      if (typeof value !== 'bigint') throw new TypeError(`register ${name} is 64-bit: value must be a bigint`);
      if (value < 0n || value > U64) throw new RangeError(`register ${name}: ${value} does not fit in 64 bits`);
      this.#live();
      this.#port.write64(spec.offset, value);
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`register ${name} is 32-bit: value must be an integer number`);
      if (value < -0x8000_0000 || value > 0xffff_ffff) throw new RangeError(`register ${name}: ${value} does not fit in 32 bits`);
      this.#live();
      this.#port.write32(spec.offset, value >>> 0);
    }
  }

  /** Read, change, write back (two accesses: not atomic against the device). */
  update<K extends keyof L & string>(name: K, fn: (value: RegisterValue<L[K]>) => RegisterValue<L[K]>): void {
    this.write(name, fn(this.read(name)));
  }

  #spec(name: string): { offset: number; width: RegisterWidth; access: RegisterAccess } {
    const spec = Object.hasOwn(this.layout, name) ? this.layout[name] : undefined;
    if (!spec) throw new RangeError(`no register named ${JSON.stringify(name)} (have: ${Object.keys(this.layout).join(', ')})`);
    return { offset: spec.offset, width: spec.width ?? 32, access: spec.access ?? 'rw' };
  }

  #live(): void {
    // A detached mapping would read as undefined and drop writes silently.
    if (this.#buffer !== null && this.#buffer.byteLength === 0) {
      throw new TypeError('the register block\'s mapping is gone (its device was closed)');
    }
  }
}

/**
 * The registers of `layout` in region `region` of `device` (e.g. PciRegion.BAR0).
 * Refuses (RangeError) a layout that does not fit the region.
 */
export function openRegisters<const L extends RegisterLayout>(
  device: Device, region: number, layout: L, opts: OpenRegistersOptions = {},
): RegisterBlock<L> {
  defineRegisters(layout);
  const mode = opts.access ?? 'auto';
  if (mode !== 'auto' && mode !== 'mmap' && mode !== 'io') throw new RangeError(`access must be mmap, io or auto, got ${String(mode)}`);
  const info = device.regionInfo(region);
  for (const [name, spec] of Object.entries(layout)) {
    const end = BigInt(spec.offset + (spec.width ?? 32) / 8);
    if (end > info.size) throw new RangeError(`register ${name} (0x${spec.offset.toString(16)}) lies beyond region ${region} (0x${info.size.toString(16)} bytes)`);
  }
  const access = mode === 'auto' ? (info.mmappable && device.mmapLive !== false ? 'mmap' : 'io') : mode;
  if (access === 'mmap') {
    const buffer = device.mmap(region);
    return new RegisterBlock(layout, region, 'mmap', mmapPort(buffer), buffer);
  }
  return new RegisterBlock(layout, region, 'io', ioPort(device, region), null);
}
