// The kernel's count of page pins held system-wide (FOLL_PIN: what VFIO takes
// for DMA), read exactly.
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * nr_foll_pin_acquired - nr_foll_pin_released from /proc/vmstat. Each CPU keeps
 * its own share of a counter until it passes a threshold or the vmstat worker
 * folds it (about once a second), so pins taken on one CPU and released on
 * another can read a few off for a while; writing /proc/sys/vm/stat_refresh
 * (root) folds every CPU's share first (vmstat_refresh, mm/vmstat.c). NaN where
 * the kernel does not count FOLL_PIN.
 */
export function pinsHeld(): number {
  writeFileSync('/proc/sys/vm/stat_refresh', '1');
  const vmstat = readFileSync('/proc/vmstat', 'utf8');
  const n = (f: string) => Number(new RegExp(`^${f} (\\d+)$`, 'm').exec(vmstat)?.[1] ?? NaN);
  return n('nr_foll_pin_acquired') - n('nr_foll_pin_released');
}
