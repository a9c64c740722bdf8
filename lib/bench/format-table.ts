// The human-readable report: the kernel thread's matrix first (with the
// thread's own figures beside it), then one table per extra suite.
import { formatIrqBench } from './irq.js';
import { formatKernelPin } from './kernel-pin.js';
import { formatOverhead } from './overhead-format.js';
import { KERNEL_THREAD_LABEL, threadFigure } from './kernel-thread.js';
import { iommuTag, type BenchReport, type CellResult, type SuiteName } from './schema.js';
import { formatSize } from './suites.js';
import { ns, nsFine, ratio, renderTable, type Align } from './text-table.js';

const SUITE_TITLES: Record<SuiteName, string> = {
  matrix: 'Map cost: the kernel thread\'s matrix (ns per map of the whole region)',
  scaling: 'Scaling: region size from 1 page to 1 GiB (contiguous)',
  patterns: 'Realistic patterns (64 MiB region)',
  unmap: 'Unmap cost (ns per unmap of the whole region)',
  dirty: 'Dirty-bitmap read cost (VFIO_IOMMU_DIRTY_PAGES GET_BITMAP, whole region, 4 KiB granularity; timed from JS)',
};

export function header(r: BenchReport): string {
  const lines = [
    `node-vfio bench  backend: ${r.backend}${r.simulated ? ' (SIMULATED)' : ''}  (${r.backendReason})`,
    `host ${r.host.hostname}, ${r.host.cpuModel} x${r.host.cpus}; kernel ${r.kernel}; node ${r.node}`,
    `${r.options.reps} repetitions after ${r.options.warmup} warm-up; min / median / p99 in ns`,
  ];
  if (r.iommu) lines.splice(2, 0, `IOMMU: ${r.iommu.name}: ${r.iommu.description}`);
  if (r.simulated) {
    // kernel-pin and overhead are measured whatever the backend (their tables carry no [simulated] tag).
    const measured = [r.kernelPin && 'kernel pin path', r.overhead && 'library overhead'].filter(Boolean);
    lines.push(`SIMULATED: every figure below comes from the sim backend's cost model, not from a kernel${
      measured.length ? ` (except the ${measured.join(' and ')} table${measured.length > 1 ? 's' : ''}, measured on this host)` : ''}. `
      + 'Use --group N or --device BDF on a VFIO host for real figures.');
  }
  return lines.join('\n');
}

function sim(r: BenchReport): string {
  return r.simulated ? ' [simulated]' : '';
}

function suiteTable(r: BenchReport, suite: SuiteName, cells: CellResult[]): string {
  const withThread = suite === 'matrix';
  const headers = ['size', 'pattern', 'backing', 'strategy', 'entries', 'min', 'median', 'p99', 'ns/page', 'speed-up',
    'JS end-to-end', 'JS / inside'];
  if (suite === 'matrix') headers.splice(1, 1);
  if (withThread) headers.push(`${KERNEL_THREAD_LABEL}: unpatched / patched`);
  // The interface column appears once a run measured iommufd too (--interface iommufd|both).
  const ifaceCol = r.cells.some((c) => c.interface === 'iommufd');
  if (ifaceCol) headers.splice(0, 0, 'interface');
  const align: Align[] = headers.map((h) => (['interface', 'size', 'pattern', 'backing', 'strategy'].includes(h) || h.startsWith('kernel') ? 'l' : 'r'));
  let lastGroup = '';
  const rows = cells.map((c) => {
    if (c.skipped) {
      const row = [formatSize(c.size), c.pattern, c.backing, c.strategy ?? '-', 'skipped', '', '', '', '', '', '', ''];
      if (suite === 'matrix') row.splice(1, 1);
      if (withThread) row.push('');
      if (ifaceCol) row.splice(0, 0, c.interface ?? 'type1');
      return row;
    }
    const row = [formatSize(c.size), c.pattern, c.backing, c.strategy ?? '-', String(c.entries), ns(c.min), ns(c.median),
      ns(c.p99), nsFine(c.nsPerPage), ratio(c.speedup), ns(c.jsMedian), ratio(c.jsOverInside)];
    if (suite === 'matrix') row.splice(1, 1);
    if (withThread) {
      const group = `${c.size}/${c.backing}`;
      const f = threadFigure(c.pages, c.backing);
      row.push(group !== lastGroup && f ? `${ns(f.unpatched)} / ${ns(f.patched)}` : '');
      lastGroup = group;
    }
    if (ifaceCol) row.splice(0, 0, c.interface ?? 'type1');
    return row;
  });
  return `${SUITE_TITLES[suite]}${iommuTag(r)}${sim(r)}\n${renderTable(headers, rows, align)}`;
}

/** How warm the planner-overhead figures are: JS timings fall for thousands of calls while V8 compiles. */
function warmNote(calls: number[]): string {
  if (calls.length && calls.every((n) => n === 0)) {
    return 'Cold figures: --warmup 0 skipped the warm-up, so V8 had not compiled the planner yet; they read several times the warm ones.';
  }
  const range = Math.min(...calls) === Math.max(...calls) ? `${calls[0]}` : `${Math.min(...calls)}-${Math.max(...calls)}`;
  return `Warm figures: measured after ${range} warm-up calls, run until the timings stopped falling `
    + '(V8 compiles the planner as it runs); cold = the median of the first 100 calls.';
}

export function formatTable(r: BenchReport): string {
  const parts = [header(r)];
  for (const suite of r.options.suites) {
    const cells = r.cells.filter((c) => c.suite === suite);
    if (cells.length) parts.push(suiteTable(r, suite, cells));
    if (suite === 'matrix' && r.plannerOverhead.length) {
      const cold = r.plannerOverhead.some((o) => o.coldPlannedNs !== undefined);
      const warmed = r.plannerOverhead.map((o) => o.warmupCalls).filter((n): n is number => n !== undefined);
      parts.push(`Planner overhead on the single-page path (timed from JS)${iommuTag(r)}${sim(r)}\n${renderTable(
        ['backing', 'direct map()', 'buildPlan+mapBatch', 'overhead', 'of which: buildPlan', 'mapBatch', '(limits check)',
          ...(cold ? ['cold buildPlan+mapBatch'] : [])],
        r.plannerOverhead.map((o) => [o.backing, ns(o.directNs), ns(o.plannedNs), `${o.overheadNs >= 0 ? '+' : ''}${ns(o.overheadNs)}`,
          ns(o.buildNs), ns(o.batchNs), ns(o.limitsNs), ...(cold ? [ns(o.coldPlannedNs)] : [])]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', ...(cold ? ['r' as const] : [])],
      )}${warmed.length ? `\n${warmNote(warmed)}` : ''}`);
    }
  }
  const withRef = r.cells.filter((c) => c.ref);
  if (withRef.length) {
    const jsLoop = (c: CellResult) => (c.jsLoopMedian === undefined ? '-' : ns(c.jsLoopMedian));
    const jsLoopRatio = (c: CellResult) => (c.jsLoopMedian === undefined ? '-' : ratio(c.jsLoopMedian / c.ref!.median, 3));
    parts.push(`Addon vs the C reference (same plan, same ioctls, ns summed over the plan's ioctls)${iommuTag(r)}\n${renderTable(
      ['size', 'backing', 'strategy', 'C median', 'addon median', 'addon / C', 'called from JS', 'from JS / C'],
      withRef.map((c) => [formatSize(c.size), c.backing, c.strategy ?? '-', ns(c.ref!.median), ns(c.ref!.addonMedian ?? c.median), ratio(c.ref!.ratio, 3),
        jsLoop(c), jsLoopRatio(c)]),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r'],
    )}\naddon = the addon's executor with every repetition inside one native call (${withRef.some((c) => c.timing === 'native-loop') ? 'runPlanCycles' : 'not available here'}), `
      + 'as the C program loops, run before C and again after it (addon, C, addon: the median of both passes, so a drift over the run cancels); '
      + 'called from JS = the same executor, one mapBatch call from JS per repetition. '
      + 'What separates the two is what runs between the calls (V8, the planner, their effect on caches; under emulation far larger).');
  }
  const withFloor = r.cells.filter((c) => c.floor);
  if (withFloor.length) {
    const addonMedian = (c: CellResult) => c.floor!.ratio * c.floor!.median;
    parts.push(`Addon vs the C loop in this process (same space, same plan, timed alternately)${iommuTag(r)}\n${renderTable(
      ['interface', 'size', 'backing', 'strategy', 'C loop median', 'addon median', 'addon / C loop'],
      withFloor.map((c) => [c.interface ?? 'type1', formatSize(c.size), c.backing, c.strategy ?? '-', ns(c.floor!.median), ns(addonMedian(c)),
        ratio(c.floor!.ratio, 3)]),
      ['l', 'l', 'l', 'l', 'r', 'r', 'r'],
    )}\nC loop = scripts/ref/ref.c's loop (each ioctl timed, nothing else) run by the addon in this process, on the space the cell used; `
      + 'addon = the executor (runPlanCycles), which also keeps the books; timed executor, loop, executor, loop, so both see the same stretch of the run.');
  }
  if (r.kernelPin) parts.push(formatKernelPin(r.kernelPin));
  if (r.overhead) parts.push(formatOverhead(r.overhead));
  if (r.irq) parts.push(formatIrqBench(r.irq));
  parts.push('Strategies: per-page = one MAP_DMA per 4 KiB page (user space\'s version of the unpatched loop); '
    + 'coalesced = contiguous runs merged by the planner; kernel = the whole region in one MAP_DMA, the kernel batching the pins.\n'
    + 'ns/page = median / pages covered; speed-up = per-page median / this median; '
    + 'JS end-to-end = process.hrtime around the mapBatch (unmap suite: unmapBatch) call, N-API included; '
    + 'JS / inside = that over the time inside the same call\'s ioctls (median per repetition; - on the simulator, whose times are '
    + 'a cost model\'s, and for cells the executor does not time).');
  if (r.notes.length) parts.push(`Notes:\n${r.notes.map((n) => `  - ${n}`).join('\n')}`);
  return `${parts.join('\n\n')}\n`;
}
