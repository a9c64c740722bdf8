// `vfio bench --suite kernel-pin`: the kernel's own pinning path, which the
// review thread measured from inside the kernel, measured here too: an
// IOMMUFD_TEST access object pins pages through iommufd_access_pin_pages()
// (the successor of the vfio_pin_pages() the thread patched), one call per
// page vs one call for the run, 1 and 512 pages, 4K / THP / hugetlb. Only on
// kernels built with CONFIG_IOMMUFD_TEST (the HIL lane's "built" kernel);
// anywhere else the table says "unavailable" and why. Never simulated.
import { release } from 'node:os';
import type { Backend, Backing, DmaBuffer, KernelPinner } from '../backend.js';
import { KERNEL_THREAD_LABEL, threadFigure } from './kernel-thread.js';
import { BACKINGS } from './names.js';
import { summarize } from './stats.js';
import { ns, nsFine, ratio, renderTable } from './text-table.js';

export type KernelPinMode = 'per-page' | 'one-call';

export interface KernelPinCell {
  pages: number;
  backing: Backing;
  mode: KernelPinMode;
  /** ACCESS_PAGES ioctls per repetition. */
  calls: number;
  /** ns to pin all the pages, per repetition (CLOCK_MONOTONIC around the ioctls, in C++). */
  samples: number[];
  min: number;
  median: number;
  p99: number;
  nsPerPage: number;
  /** Median ns to unpin them again (DESTROY_ACCESS_PAGES, one per pin call). */
  unpinMedian: number;
  /** per-page median / this median, same pages and backing; null for the per-page row itself. */
  speedup: number | null;
  /** Set when the cell could not run (no hugetlb page free, ...); figures are then NaN. */
  skipped?: string;
}

export interface KernelPinReport {
  /** `uname -r`: the figures are this kernel's. */
  kernel: string;
  available: boolean;
  /** Why the table is empty, when it is. */
  reason: string | null;
  reps: number;
  warmup: number;
  cells: KernelPinCell[];
}

export const KERNEL_PIN_PAGES = [1, 512] as const;

// The kernel's pin path as the benchmark needs it: a Backend capability (lib/backend.ts).
export type { KernelPinner } from '../backend.js';

export interface KernelPinOptions {
  reps: number;
  warmup: number;
  /** Opens the buffers (a native backend); null when there is none. */
  backend: Backend | null;
  /** The kernel pin path; null when the native addon is not there. */
  pinner: KernelPinner | null;
}

function skippedCell(pages: number, backing: Backing, mode: KernelPinMode, why: string): KernelPinCell {
  return { pages, backing, mode, calls: mode === 'per-page' ? pages : 1, samples: [], min: NaN, median: NaN, p99: NaN,
    nsPerPage: NaN, unpinMedian: NaN, speedup: null, skipped: why };
}

function allocFor(backend: Backend, backing: Backing, pages: number): DmaBuffer {
  // A whole huge page for THP and hugetlb, so even one 4 KiB pin sits inside a huge page.
  const size = BigInt(Math.max(pages, 512)) * 4096n;
  return backend.allocBuffer({ size, backing, prefault: true });
}

export function runKernelPin(opts: KernelPinOptions): KernelPinReport {
  const base = { kernel: release(), reps: opts.reps, warmup: opts.warmup, cells: [] as KernelPinCell[] };
  if (opts.backend === null || opts.backend.simulated) {
    return { ...base, available: false, reason: 'needs the native backend: the kernel path is never simulated' };
  }
  if (opts.pinner === null) return { ...base, available: false, reason: 'the native addon is not loaded' };
  const pinner = opts.pinner;
  const avail = pinner.availability();
  if (!avail.available) return { ...base, available: false, reason: avail.reason };

  for (const pages of KERNEL_PIN_PAGES) {
    for (const backing of BACKINGS) {
      // One page: one call either way, so one row.
      const modes: KernelPinMode[] = pages === 1 ? ['one-call'] : ['per-page', 'one-call'];
      let buffer: DmaBuffer;
      try {
        buffer = allocFor(opts.backend, backing, pages);
      } catch (err) {
        const why = `cannot allocate a ${backing} buffer: ${(err as Error).message}`;
        for (const mode of modes) base.cells.push(skippedCell(pages, backing, mode, why));
        continue;
      }
      try {
        let perPageMedian: number | null = null;
        for (const mode of modes) {
          const t = pinner.run(buffer, pages, mode === 'per-page', opts.reps, opts.warmup);
          const pin = summarize(t.pinNs);
          if (mode === 'per-page') perPageMedian = pin.median;
          base.cells.push({
            pages, backing, mode, calls: t.calls, samples: Array.from(t.pinNs),
            min: pin.min, median: pin.median, p99: pin.p99, nsPerPage: pin.median / pages,
            unpinMedian: summarize(t.unpinNs).median,
            speedup: mode === 'per-page' || perPageMedian === null ? null : perPageMedian / pin.median,
          });
        }
      } finally {
        buffer.close();
      }
    }
  }
  return { ...base, available: true, reason: null };
}

export function formatKernelPin(r: KernelPinReport): string {
  const title = `Kernel pin path: iommufd_access_pin_pages through an IOMMUFD_TEST access, kernel ${r.kernel} `
    + `(ns to pin the pages; ${r.reps} repetitions after ${r.warmup} warm-up)`;
  if (!r.available) return `${title}\n  unavailable: ${r.reason}`;
  const headers = ['pages', 'backing', 'calls', 'min', 'median', 'p99', 'ns/page', 'speed-up', 'unpin median',
    `${KERNEL_THREAD_LABEL}: unpatched / patched`];
  let last = '';
  const rows = r.cells.map((c) => {
    const f = threadFigure(c.pages, c.backing);
    const group = `${c.pages}/${c.backing}`;
    const thread = group !== last && f ? `${ns(f.unpatched)} / ${ns(f.patched)}` : '';
    last = group;
    const calls = c.mode === 'per-page' ? `${c.calls} (per page)` : '1';
    if (c.skipped) return [String(c.pages), c.backing, calls, 'skipped', '', '', '', '', '', thread];
    return [String(c.pages), c.backing, calls, ns(c.min), ns(c.median), ns(c.p99), nsFine(c.nsPerPage), ratio(c.speedup),
      ns(c.unpinMedian), thread];
  });
  const skips = r.cells.filter((c) => c.skipped).map((c) => `  - ${c.pages} x ${c.backing}: ${c.skipped}`);
  return `${title}\n${renderTable(headers, rows, ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])}\n`
    + 'speed-up = one call per page / one call for the run; the thread\'s figures (4.19, vfio_pin_pages from a mediated '
    + 'driver, unpatched = page by page, patched = contiguous runs together) are context, not a baseline.'
    + (skips.length ? `\n${skips.join('\n')}` : '');
}
