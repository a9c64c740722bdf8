// `vfio bench`: choose the backend, attach a group, run the suites, print the
// report in the asked format, optionally time the C reference, and gate on a
// baseline.
import { readFileSync } from 'node:fs';
import { arch, cpus, freemem, hostname, release, totalmem } from 'node:os';
import type { Backend, DmaSpace } from '../backend.js';
import { SZ_1G, SZ_2M } from '../backend.js';
import { compareReports, formatComparison, parseBaseline, BaselineError } from '../bench/compare.js';
import { formatCsv, formatJson } from '../bench/format-csv.js';
import { formatTable } from '../bench/format-table.js';
import { formatKernelPin, runKernelPin, type KernelPinReport } from '../bench/kernel-pin.js';
import { progressBar } from '../bench/progress.js';
import { buildRef, runRef } from '../bench/ref.js';
import { writeHtmlReport } from '../bench/report-html.js';
import { BenchRunner, type BenchPlanner, type MemoryBudget, type RunOutput } from '../bench/runner.js';
import { BENCH_SCHEMA, type BenchReport } from '../bench/schema.js';
import { summarize } from '../bench/stats.js';
import { cellsFor } from '../bench/suites.js';
import { Errno, VfioError } from '../errors.js';
import { NativeBackend, nativeAvailability } from '../native/index.js';
import { nativeKernelPinner } from '../native/kernel-pin.js';
import { SIM_DEFAULT_GROUP } from '../sim/index.js';
import { hugepagePools, pciDevice, usableVfioGroup } from '../sysfs.js';
import type { BenchArgs } from './args.js';
import { attachGroup, type BackendOpener } from './backends.js';
import { openIommufdSpace } from './bench-iommufd.js';
import { EXIT_OK, EXIT_REGRESSION } from './exit-codes.js';
import type { CliIo } from './io.js';


export interface BenchDeps {
  open: BackendOpener;
  planner: BenchPlanner;
}

function loadBaseline(path: string): BenchReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BaselineError(`cannot read baseline ${path}: ${(err as Error).message}`);
  }
  return parseBaseline(text, path);
}

function chooseGroup(args: BenchArgs, backend: Backend, root: string): number {
  if (backend.simulated) return SIM_DEFAULT_GROUP;
  if (args.group !== null) return args.group;
  if (args.device !== null) {
    const dev = pciDevice(args.device, root);
    if (!dev) throw new VfioError(Errno.ENODEV, 'bench', { device: args.device }, `no PCI device ${args.device} in sysfs`);
    if (dev.iommuGroup === null) {
      throw new VfioError(Errno.ENODEV, 'bench', { device: args.device }, 'the device has no IOMMU group (IOMMU off?)');
    }
    return dev.iommuGroup;
  }
  const usable = usableVfioGroup(root);
  if (usable === null) {
    throw new VfioError(Errno.ENODEV, 'bench', {}, 'no viable IOMMU group with a vfio-pci device: pass --group N (see vfio probe)');
  }
  return usable;
}

function budgetFor(args: BenchArgs, backend: Backend, container: DmaSpace, root: string): MemoryBudget {
  const quarterFree = BigInt(freemem()) / 4n;
  const maxBuffer = args.maxMemory ?? (quarterFree < SZ_1G ? quarterFree : SZ_1G);
  const ml = container.memlock();
  const lockable = ml.exempt || ml.limit === null ? null : ml.limit - ml.locked;
  // The sim models hugetlb pools itself; on a real host, count what is reserved and free.
  const pool = backend.simulated ? undefined : hugepagePools(root).find((p) => p.pageSize === SZ_2M);
  const hugetlbFree = backend.simulated ? null : pool ? pool.pageSize * BigInt(pool.free) : 0n;
  return { maxBuffer, hugetlbFree, lockable: lockable !== null && lockable < 0n ? 0n : lockable };
}

// The kernel's pin path is real or nothing, whatever --backend says: the
// native backend in use, else one opened for the purpose where the addon
// loads (it needs no IOMMU group); never the sim.
function kernelPinReport(args: BenchArgs, backend: Backend): KernelPinReport {
  const native = !backend.simulated ? backend : nativeAvailability().available ? new NativeBackend() : null;
  return runKernelPin({ reps: args.reps, warmup: args.warmup, backend: native, pinner: native ? nativeKernelPinner : null });
}

export async function runBench(args: BenchArgs, io: CliIo, deps: BenchDeps): Promise<number> {
  const root = io.sysfsRoot ?? '/';
  // A bad baseline is a usage error: find out before spending minutes measuring.
  const baseline = args.compare !== null ? loadBaseline(args.compare) : null;
  const opened = deps.open(args.backend);
  const { backend } = opened;
  const reason = backend.simulated && args.backend === 'sim' ? 'no --group or --device given' : opened.reason;
  // kernel-pin alone needs no IOMMU group: it times the kernel's pin path, not MAP_DMA.
  if (args.suites.length === 0) {
    const kernelPin = kernelPinReport(args, backend);
    io.stdout.write(args.format === 'json' ? `${JSON.stringify(kernelPin, null, 2)}\n` : `${formatKernelPin(kernelPin)}\n`);
    return EXIT_OK;
  }
  const groupId = chooseGroup(args, backend, root);
  const notes: string[] = [];
  const wantRef = args.ref && !backend.simulated;
  if (args.ref && backend.simulated) {
    notes.push('--ref unavailable: the C reference times real ioctls on /dev/vfio, and this run is simulated '
      + '(run with --group N or --device BDF on a VFIO host)');
  }

  const useBar = args.progress && io.stderr.isTTY === true;
  const runIn = (space: DmaSpace, iface: 'type1' | 'iommufd'): RunOutput => new BenchRunner(backend, space, deps.planner, {
    reps: args.reps,
    warmup: args.warmup,
    budget: budgetFor(args, backend, space, root),
    keepPlans: wantRef && iface === 'type1',
    iface,
    ...(useBar ? { onProgress: progressBar(io.stderr) } : {}),
  }).run(args.suites.flatMap(cellsFor));
  const out: RunOutput = { cells: [], plannerOverhead: [], notes: [], plans: new Map() };
  // One interface after the other: a group open for type1 blocks binding its device's cdev (EBUSY).
  for (const iface of args.interfaces ?? ['type1']) {
    let part: RunOutput;
    if (iface === 'type1') {
      const attached = attachGroup(backend, groupId);
      try {
        part = runIn(attached.container, 'type1');
      } finally {
        attached.close();
      }
    } else {
      let space;
      try {
        space = openIommufdSpace(backend, groupId, root);
      } catch (err) {
        out.notes.push(`iommufd not measured: ${(err as Error).message}`);
        continue;
      }
      try {
        part = runIn(space.ioas, 'iommufd');
      } finally {
        space.close();
      }
      part.notes.unshift(`iommufd: IOAS ${space.ioas.id} with ${space.cdev} attached; IOMMU_IOAS_MAP/UNMAP timed by the same plan executor`
        + (backend.simulated ? ' (sim: the same cost model as type1, so the two columns only differ where the semantics do)' : ''));
      // The planner's single-page overhead is an addon/JS figure; keep type1's when both ran.
      if (out.plannerOverhead.length) part.plannerOverhead = [];
    }
    out.cells.push(...part.cells);
    out.plannerOverhead.push(...part.plannerOverhead);
    out.notes.push(...part.notes.filter((n) => !out.notes.includes(n)));
    for (const [k, v] of part.plans) out.plans.set(k, v);
  }

  if (wantRef) {
    // After close(): the C program opens the same group, and a group node opens once.
    try {
      const matrixPlans = new Map([...out.plans].filter(([id]) => id.startsWith('matrix/')));
      const ref = runRef(buildRef(), groupId, matrixPlans, args.reps, args.warmup);
      notes.push(...ref.errors);
      for (const cell of out.cells) {
        const s = ref.samples.get(cell.id);
        if (!s?.length) continue;
        const { median } = summarize(s);
        cell.ref = { median, ratio: cell.median / median, samples: s };
      }
    } catch (err) {
      notes.push(`--ref failed: ${(err as Error).message}`);
    }
  }

  const kernelPin = args.kernelPin ? kernelPinReport(args, backend) : undefined;
  const cpu = cpus();
  const report: BenchReport = {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    host: { hostname: hostname(), arch: arch(), cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', memBytes: totalmem() },
    kernel: release(),
    node: process.version,
    backend: backend.name,
    simulated: backend.simulated,
    backendReason: reason,
    options: { reps: args.reps, warmup: args.warmup, suites: args.suites, group: backend.simulated ? null : groupId, device: args.device },
    cells: out.cells,
    plannerOverhead: out.plannerOverhead,
    notes: [...notes, ...out.notes],
    ...(kernelPin ? { kernelPin } : {}),
  };

  const text = args.format === 'json' ? formatJson(report) : args.format === 'csv' ? formatCsv(report) : formatTable(report);
  io.stdout.write(text);
  if (args.report !== null) {
    const path = writeHtmlReport(args.report, report);
    io.stderr.write(`report written to ${path}\n`);
  }
  if (!baseline) return EXIT_OK;
  const opts = { maxRegression: args.maxRegression, minDeltaNs: args.minDeltaNs };
  const cmp = compareReports(baseline, report, opts);
  // Keep stdout parseable when it carries JSON or CSV.
  (args.format === 'table' ? io.stdout : io.stderr).write(formatComparison(cmp, opts));
  return cmp.regressions.length ? EXIT_REGRESSION : EXIT_OK;
}

