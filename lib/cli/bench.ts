// `vfio bench`: open the backend, run a benchmark session on it
// (lib/bench/session.ts), print the report in the asked format, and gate on a
// baseline. No backend module and no host fact is reached from here except
// through lib/open.ts and the backend's HostView.
import { readFileSync } from 'node:fs';
import { compareReports, formatComparison, parseBaseline, BaselineError } from '../bench/compare.js';
import { formatCsv, formatJson } from '../bench/format-csv.js';
import { formatTable } from '../bench/format-table.js';
import { formatIrqBench, runIrqBench, type IrqBenchReport } from '../bench/irq.js';
import { formatKernelPin } from '../bench/kernel-pin.js';
import { progressBar } from '../bench/progress.js';
import { reportEnvelope } from '../bench/report-envelope.js';
import { writeHtmlReport } from '../bench/report-html.js';
import type { BenchPlanner } from '../bench/runner.js';
import type { BenchReport } from '../bench/schema.js';
import { formatOverhead } from '../bench/overhead-format.js';
import { kernelPinOnly, overheadOnly, runBenchSession } from '../bench/session.js';
import { irqHostSource, kernelPinSource, overheadSource } from '../open.js';
import type { BenchArgs } from './args.js';
import type { BackendOpener } from './backends.js';
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

export async function runBench(args: BenchArgs, io: CliIo, deps: BenchDeps): Promise<number> {
  const root = io.sysfsRoot ?? '/';
  // A bad baseline is a usage error: find out before spending minutes measuring.
  const baseline = args.compare !== null ? loadBaseline(args.compare) : null;
  const opened = deps.open(args.backend, args.simIommu ? { sim: { iommu: args.simIommu } } : undefined);
  const { backend } = opened;
  // --backend auto may have found a VFIO host: --sim-iommu then chooses nothing. Say so rather than label a real run with it.
  if (args.simIommu && backend.host(root).iommu().simProfile !== args.simIommu) {
    io.stderr.write(`vfio: --sim-iommu ${args.simIommu} ignored: ${opened.reason}\n`);
  }
  // args.ts picks sim exactly when neither is given (--backend sim with either is a usage error).
  const reason = args.backend === 'sim' ? 'no --group or --device given' : opened.reason;
  // kernel-pin and overhead alone need no IOMMU group: neither times MAP_DMA.
  // Alone, each prints its own object; together, one object with both.
  // The irq suite is async (it awaits interrupts) and opens the group itself: after the others.
  const irqRun = (): Promise<IrqBenchReport> => runIrqBench({
    backend, host: backend.host(root), group: args.group, device: args.device, maxMemory: args.maxMemory,
    ...(args.warmup === 0 ? { warmup: 0 } : {}),
    ...(args.irqRuns ? { runs: args.irqRuns } : {}),
    // Where no real edu is measured: the addon's delivery on this host, beside C epoll (no VFIO needed).
    hostSource: irqHostSource,
    hostOptions: { ...(args.warmup === 0 ? { warmup: 0 } : {}), ...(args.irqRuns ? { events: args.irqRuns } : {}) },
  });
  if (args.suites.length === 0) {
    const kernelPin = args.kernelPin ? kernelPinOnly({ reps: args.reps, warmup: args.warmup, kernelPinSource: () => kernelPinSource(backend) }) : null;
    const overhead = args.overhead ? overheadOnly({ planner: deps.planner, warmup: args.warmup, overheadSource: () => overheadSource(backend) }) : null;
    const irq = args.irq ? await irqRun() : null;
    const parts = { kernelPin, overhead, irq };
    const present = Object.entries(parts).filter(([, v]) => v !== null);
    if (args.report !== null) {
      const doc = reportEnvelope({
        backend, host: backend.host(root), reason, reps: args.reps, warmup: args.warmup, group: args.group ?? irq?.group ?? null,
        device: args.device, parts: { ...(kernelPin ? { kernelPin } : {}), ...(overhead ? { overhead } : {}), ...(irq ? { irq } : {}) },
      });
      io.stderr.write(`report written to ${writeHtmlReport(args.report, doc)}\n`);
    }
    if (args.format === 'json') {
      const out = present.length === 1 ? present[0]![1] : Object.fromEntries(present);
      io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      io.stdout.write(`${[kernelPin && formatKernelPin(kernelPin), overhead && formatOverhead(overhead), irq && formatIrqBench(irq)]
        .filter(Boolean).join('\n\n')}\n`);
    }
    return EXIT_OK;
  }
  const useBar = args.progress && io.stderr.isTTY === true;
  const report = runBenchSession(backend, backend.host(root), {
    reps: args.reps,
    warmup: args.warmup,
    suites: args.suites,
    group: args.group,
    device: args.device,
    interfaces: args.interfaces ?? ['type1'],
    maxMemory: args.maxMemory,
    ref: args.ref,
    kernelPin: args.kernelPin === true,
    reason,
    planner: deps.planner,
    kernelPinSource: () => kernelPinSource(backend),
    overhead: args.overhead === true,
    overheadSource: () => overheadSource(backend),
    ...(useBar ? { onProgress: progressBar(io.stderr) } : {}),
  });

  if (args.irq) report.irq = await irqRun();
  const text = args.format === 'json' ? formatJson(report) : args.format === 'csv' ? formatCsv(report) : formatTable(report);
  io.stdout.write(text);
  // CSV has rows of cells only: the irq table goes to stderr beside it.
  if (report.irq && args.format === 'csv') io.stderr.write(formatIrqBench(report.irq));
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

