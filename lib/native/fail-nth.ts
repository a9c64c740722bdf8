// Kernel fault injection around one plan execution (native/fail_nth.cc): the
// n-th fault-injectable allocation the kernel makes for this thread, counted
// from just before the plan's first ioctl, fails. The way the kernel's
// tools/testing/selftests/iommu/iommufd_fail_nth.c sweeps its error paths,
// applied to the library's batches. Needs CONFIG_FAULT_INJECTION (and, for
// sleeping allocations to count, failslab/fail_page_alloc with ignore-gfp-wait
// set to N in debugfs: prepareFailNth does that).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { NativeAddon } from './addon.js';
import { requireAddon } from './load.js';

interface FailNthAddon {
  armFailNth(n: number): void;
  failNthResult(): { ran: boolean; fired: boolean };
  disarmFailNth(): void;
}

export const FAIL_NTH_FILE = '/proc/thread-self/fail-nth';
const DEBUGFS = '/sys/kernel/debug';

function addon(): NativeAddon & FailNthAddon {
  return requireAddon() as NativeAddon & FailNthAddon;
}

/** null when this kernel can inject faults per task; otherwise why not. */
export function failNthUnavailable(): string | null {
  if (!existsSync(FAIL_NTH_FILE)) return `no ${FAIL_NTH_FILE}: the kernel has no CONFIG_FAULT_INJECTION`;
  if (!existsSync(`${DEBUGFS}/failslab`)) return `no ${DEBUGFS}/failslab: CONFIG_FAILSLAB off, or debugfs not mounted`;
  return null;
}

export interface FailNthSetup {
  /** The fault attributes touched, to hand back to restoreFailNth. */
  saved: Map<string, string>;
}

/**
 * Lets fail-nth reach sleeping allocations too (failslab and fail_page_alloc
 * ignore GFP_KERNEL ones by default, which is nearly all of them) and single
 * pages, and quiets the per-failure stack dumps. Returns what it changed.
 */
export function prepareFailNth(): FailNthSetup {
  const saved = new Map<string, string>();
  const set = (path: string, value: string) => {
    if (!existsSync(path)) return;
    saved.set(path, readFileSync(path, 'utf8').trim());
    writeFileSync(path, value);
  };
  for (const attr of ['failslab', 'fail_page_alloc']) {
    set(`${DEBUGFS}/${attr}/ignore-gfp-wait`, 'N');
    set(`${DEBUGFS}/${attr}/verbose`, '0');
  }
  set(`${DEBUGFS}/fail_page_alloc/ignore-gfp-highmem`, 'N');
  // Order-0 pages too (the default min-order is 1): page-table and pin-batch pages are single pages.
  set(`${DEBUGFS}/fail_page_alloc/min-order`, '0');
  return { saved };
}

export function restoreFailNth(setup: FailNthSetup): void {
  for (const [path, value] of setup.saved) writeFileSync(path, value);
}

export interface FailNthOutcome<T> {
  /** The injection point was reached: the n-th allocation failed. */
  fired: boolean;
  /** A plan execution consumed the arming (false: fn never reached the executor). */
  ran: boolean;
  value?: T;
  error?: unknown;
}

/**
 * Runs fn with the next plan execution on this thread armed to fail its n-th
 * kernel allocation. fn's own work before and after the executor (planning,
 * the unwind) runs without injection. Never throws fn's error: it is returned.
 */
export function withFailNth<T>(n: number, fn: () => T): FailNthOutcome<T> {
  const a = addon();
  a.armFailNth(n);
  let out: FailNthOutcome<T>;
  try {
    out = { fired: false, ran: false, value: fn() };
  } catch (error) {
    out = { fired: false, ran: false, error };
  } finally {
    a.disarmFailNth();
  }
  const r = a.failNthResult();
  return { ...out, fired: r.fired, ran: r.ran };
}
