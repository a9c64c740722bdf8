// The argument checks of the seam, written once and called by every backend
// on entry: what a C caller could not get wrong because the ioctl structs are
// fixed-width (wrong type -> TypeError, does not fit -> RangeError) and the
// names this API adds (extensions, IOMMU types, rlimit modes). Whatever the
// kernel itself judges (alignment, overlap, limits) is not checked here, so a
// backend still answers it with the kernel's errno, in the kernel's order.
//
// These run on every map(); they allocate nothing and build no closures:
// messages are made only when thrown.
import {
  Extension, PLAN_FLAGS, PLAN_STRIDE, PROT_RW,
  type DmaMapping, type ExtensionName, type IommuType, type PlanOp, type RlimitMode,
} from '../backend.js';

export const U64_MAX = (1n << 64n) - 1n;

// Bits a plan entry's flags may hold, inverted: made once, not per entry.
const NOT_PROT = ~BigInt(PROT_RW);

export function toU64(value: unknown, name: string): bigint {
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  // One asUintN, not two comparisons: on the hot path (three per map()) each BigInt comparison is a runtime call.
  if (BigInt.asUintN(64, value) !== value) throw new RangeError(`${name} must fit in an unsigned 64-bit integer`);
  return value;
}

export function toU32(value: unknown, name: string, max = 0xffff_ffff): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${name} must be an integer in [0, ${max}]`);
  return value;
}

/** PROT_READ | PROT_WRITE (default both). 0 passes: the kernel refuses it with EINVAL itself. */
export function checkProt(prot: unknown, op: string): number {
  const p = prot ?? PROT_RW;
  if (typeof p !== 'number' || !Number.isInteger(p)) throw new TypeError(`${op}: prot must be an integer`);
  // A comparison, not a mask: bitwise operators would cut 2^32 + 3 down to 3.
  if (p < 0 || p > PROT_RW) throw new RangeError(`${op}: prot may only hold PROT_READ | PROT_WRITE`);
  return p;
}

/** A DmaMapping's fields, for map(); returns the prot to pass on. */
export function checkMapping(m: DmaMapping): number {
  if (m === null || typeof m !== 'object') throw new TypeError('map: mapping object required');
  toU64(m.vaddr, 'vaddr');
  toU64(m.iova, 'iova');
  toU64(m.size, 'size');
  return checkProt(m.prot, 'map');
}

/** An (iova, size) pair, for unmap and the dirty-bitmap calls. */
export function checkRange(iova: unknown, size: unknown): void {
  toU64(iova, 'iova');
  toU64(size, 'size');
}

/** A dirty-bitmap page size: a u64 and not 0 (the kernel judges the rest). */
export function checkPageSize(pageSize: unknown): bigint {
  if (toU64(pageSize, 'pageSize') === 0n) throw new RangeError('pageSize must be non-zero');
  return pageSize as bigint;
}

/** A plan's op and shape (a BigUint64Array of whole entries); returns the entries. checkPlan adds the flags. */
export function checkPlanShape(op: PlanOp, plan: BigUint64Array): number {
  if (op !== 'map' && op !== 'unmap') throw new TypeError(`runPlan: op must be 'map' or 'unmap'`);
  if (!(plan instanceof BigUint64Array)) throw new TypeError('runPlan: plan must be a BigUint64Array');
  if (plan.length % PLAN_STRIDE !== 0) {
    throw new RangeError(`runPlan: plan length must be a multiple of ${PLAN_STRIDE} (vaddr, iova, size, flags)`);
  }
  return plan.length / PLAN_STRIDE;
}

/** A plan for runPlan: the op, the shape, and (for maps) flags that are only PROT_READ | PROT_WRITE. */
export function checkPlan(op: PlanOp, plan: BigUint64Array): number {
  const entries = checkPlanShape(op, plan);
  if (op === 'map') {
    for (let i = 0; i < entries; i++) {
      if ((plan[i * PLAN_STRIDE + PLAN_FLAGS]! & NOT_PROT) !== 0n) {
        throw new RangeError(`runPlan: plan entry ${i}: flags may only hold PROT_READ | PROT_WRITE`);
      }
    }
  }
  return entries;
}

/** An IOMMU group number as /dev/vfio/<id> can name it. */
export function checkGroupId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new TypeError('openGroup: id must be an integer');
  if (id < 0 || id > 0x7fff_ffff) throw new RangeError('openGroup: id out of range');
  return id;
}

/** VFIO_CHECK_EXTENSION's argument for an extension name. */
export function extensionValue(ext: ExtensionName): number {
  if (typeof ext !== 'string' || !Object.hasOwn(Extension, ext)) {
    throw new TypeError(`checkExtension: unknown extension ${String(ext)}`);
  }
  return Extension[ext];
}

export function checkIommuType(type: IommuType): IommuType {
  if (type !== 'type1' && type !== 'type1v2') throw new TypeError(`setIommu: unknown IOMMU type ${String(type)}`);
  return type;
}

export function checkRlimitMode(mode: RlimitMode): RlimitMode {
  if (mode !== 'user' && mode !== 'mm') throw new TypeError(`setRlimitMode: mode must be 'user' or 'mm'`);
  return mode;
}

/** IOMMU_IOAS_ALLOW_IOVAS's ranges: an array of u64 {start, last}. */
export function checkIovaRanges(ranges: unknown): void {
  if (!Array.isArray(ranges)) throw new TypeError('allowIovas: ranges must be an array');
  for (const r of ranges as Array<{ start?: unknown; last?: unknown } | null>) {
    toU64(r?.start, 'allowIovas: start');
    toU64(r?.last, 'allowIovas: last');
  }
}

/**
 * A cdev for bindDevice: 'vfio0' -> /dev/vfio/devices/vfio0; a path is taken
 * as it is (the open decides whether it exists).
 */
export function cdevPath(pathOrName: string): string {
  if (typeof pathOrName !== 'string' || pathOrName === '') throw new TypeError('bindDevice: a path or cdev name is required');
  if (pathOrName.startsWith('/')) return pathOrName;
  if (!/^vfio\d+$/.test(pathOrName)) throw new RangeError(`bindDevice: ${pathOrName} is neither a path nor a cdev name like vfio0`);
  return `/dev/vfio/devices/${pathOrName}`;
}
