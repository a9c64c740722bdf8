// The report document around suites that run without cells (`--suite irq`,
// `kernel-pin`, `overhead` alone): the same envelope runBenchSession writes,
// with no cells, so `--report DIR` charts them too.
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import type { Backend, HostView } from '../backend.js';
import { BENCH_SCHEMA, type BenchReport } from './schema.js';

export interface EnvelopeOptions {
  backend: Backend;
  host: HostView;
  reason: string;
  reps: number;
  warmup: number;
  group: number | null;
  device: string | null;
  parts: Pick<BenchReport, 'kernelPin' | 'overhead' | 'irq'>;
}

/** When and where a report was made: the same in every report document. */
export function runFacts(): Pick<BenchReport, 'createdAt' | 'host' | 'kernel' | 'node'> {
  const cpu = cpus();
  return {
    createdAt: new Date().toISOString(),
    host: { hostname: hostname(), arch: arch(), cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', memBytes: totalmem() },
    kernel: release(),
    node: process.version,
  };
}

export function reportEnvelope(o: EnvelopeOptions): BenchReport {
  let iommu: BenchReport['iommu'];
  try {
    const h = o.host.iommu(o.group ?? undefined);
    iommu = { name: h.name, description: h.description, driver: h.driver, simProfile: h.simProfile };
  } catch {
    iommu = undefined;
  }
  const parts = Object.fromEntries(Object.entries(o.parts).filter(([, v]) => v !== undefined && v !== null));
  return {
    schema: BENCH_SCHEMA,
    ...runFacts(),
    backend: o.backend.name,
    simulated: o.backend.simulated,
    backendReason: o.reason,
    ...(iommu ? { iommu } : {}),
    options: { reps: o.reps, warmup: o.warmup, suites: [], group: o.backend.simulated ? null : o.group, device: o.device },
    cells: [],
    plannerOverhead: [],
    notes: [],
    ...parts,
  };
}
