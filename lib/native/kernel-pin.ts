// The kernel's own pinning path, timed in C++ (native/iommufd_test_access.cc):
// an IOMMUFD_TEST access object pinning pages through
// iommufd_access_pin_pages(), one call per page or one call for the run.
// Only kernels built with CONFIG_IOMMUFD_TEST have it; availability says why not.
import type { DmaBuffer } from '../backend.js';
import type { NativeAddon } from './addon.js';
import { nativeAvailability, requireAddon } from './load.js';

interface KernelPinAddon {
  kernelPinProbe(): { available: boolean; errno: number; step: string; reason: string };
  kernelPinRun(vaddr: bigint, pages: number, perPage: boolean, reps: number, warmup: number): KernelPinTimes;
}

export interface KernelPinTimes {
  /** ns per repetition to pin all the pages (the calls together). */
  pinNs: Float64Array;
  /** ns per repetition to unpin them again (DESTROY_ACCESS_PAGES, one per pin call). */
  unpinNs: Float64Array;
  /** ioctls per repetition for the pins. */
  calls: number;
}

export interface KernelPinAvailability {
  available: boolean;
  /** Why not, in plain words; null when available. */
  reason: string | null;
}

/** Largest run one ACCESS_PAGES call takes (selftest.c refuses more than 16 MiB). */
export const KERNEL_PIN_MAX_PAGES = 4096;

function addon(): NativeAddon & KernelPinAddon {
  return requireAddon() as NativeAddon & KernelPinAddon;
}

/** Whether this kernel can run kernelPinRun (opens /dev/iommu and creates a test access, then closes both). */
export function kernelPinAvailability(): KernelPinAvailability {
  const native = nativeAvailability();
  if (!native.available) return { available: false, reason: native.reason ?? 'native addon unavailable' };
  const p = addon().kernelPinProbe();
  return p.available ? { available: true, reason: null } : { available: false, reason: p.reason };
}

/**
 * Pins the first `pages` 4 KiB pages of `buffer` (a native DmaBuffer) through
 * an IOMMUFD_TEST access, `reps` times after `warmup` discarded ones, and
 * unpins them after each. perPage: one ACCESS_PAGES call per page; otherwise
 * one call for the whole run.
 */
export function kernelPinRun(buffer: DmaBuffer, pages: number, perPage: boolean, reps: number, warmup = 0): KernelPinTimes {
  if (!Number.isInteger(pages) || pages < 1 || pages > KERNEL_PIN_MAX_PAGES) {
    throw new RangeError(`kernelPinRun: pages must be an integer in [1, ${KERNEL_PIN_MAX_PAGES}]`);
  }
  if (BigInt(pages) * 4096n > buffer.size) throw new RangeError('kernelPinRun: the buffer is smaller than the pages asked for');
  return addon().kernelPinRun(buffer.vaddr, pages, perPage, reps, warmup);
}

/** The two functions above as the seam's KernelPinner (NativeBackend.kernelPinner()). */
export const nativeKernelPinner = { availability: kernelPinAvailability, run: kernelPinRun };
