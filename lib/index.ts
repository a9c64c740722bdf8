// The public API of node-vfio. Layers, bottom up: the Backend seam, its
// argument checks and its errors; the two backends and openBackend() that
// picks one; the planner (plans, batches, IOVA allocation, dirty bitmaps); the
// host helpers (sysfs); the benchmark. The CLI (dist/cli/main.js) uses these
// and a few internals not exported here (the kernel pin path, the C reference,
// the progress bar).
export * from './backend.js';
export { VfioError, Errno, Op, errnoCode, type OpName, type VfioErrorArgs } from './errors.js';
export {
  IrqEvent, IrqIndex, IrqSet, IrqVector,
  type IrqKind, type IrqOptions, type IrqWaitOptions,
} from './irq.js';
export {
  DeviceRequestEvent, DeviceRequestWatch, REQUEST_RELEASE_REASON, releasedError, requestSupported, watchRequests,
  type DeviceRequestOptions,
} from './device-request.js';

export {
  defineRegisters, openRegisters, RegisterBlock,
  type RegisterSpec, type RegisterLayout, type RegisterValue, type RegisterWidth, type RegisterAccess,
  type RegisterAccessMode, type OpenRegistersOptions,
} from './regs.js';

// Optional capabilities, asked for without casts (a backend without one answers EOPNOTSUPP by itself).
export {
  deviceCallOf, dirtyTrackingOf, hwptDirtyOf, memlockAsyncOf, planAsyncOf, planCyclesOf,
  type Cycles, type PlanAsync,
} from './seam/capabilities.js';

export { openBackend, BACKEND_CHOICES, type BackendChoice, type OpenBackendOptions, type OpenedBackend } from './open.js';
export { NativeBackend, nativeAvailability, nativeUapiVersion, type NativeAvailability } from './native/index.js';
export {
  SimBackend, defaultCostModel, COST_MODEL_SOURCE, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP,
  type CostModel, type BackingCost, type SimOptions, type SimGroupSpec, type SimMemlockOptions,
} from './sim/index.js';

export * from './plan/index.js';

export {
  PCI_ADDRESS, isPciAddress, assertPciAddress, pciDevice, listIommuGroups, iommuGroup, vfioPresence, memlockLimit,
  hugepagePools, thpMode, dmaEntryLimit, bindToVfioPci, usableVfioGroup,
  type PciDevice, type IommuGroupInfo, type VfioPresence, type MemlockLimit, type HugepagePool, type ThpMode, type BindResult,
} from './sysfs.js';

export { runBenchSession, type SessionOptions } from './bench/session.js';
export { BenchRunner, type BenchPlanner, type MemoryBudget, type RunOptions, type RunOutput } from './bench/runner.js';
export { cellsFor, type CellSpec } from './bench/suites.js';
export {
  BENCH_SCHEMA, SUITES, type BenchReport, type CellResult, type PlannerOverhead, type SuiteName, type PatternName, type CellOp,
} from './bench/schema.js';
export { summarize, type Summary } from './bench/stats.js';
export {
  compareReports, parseBaseline, parseThreshold, formatComparison, BaselineError, type Comparison, type CompareOptions,
} from './bench/compare.js';
export { formatTable } from './bench/format-table.js';
export { formatCsv, formatJson } from './bench/format-csv.js';
export { renderHtml, writeHtmlReport } from './bench/report-html.js';
export { KERNEL_THREAD, KERNEL_THREAD_LABEL, type ThreadFigure } from './bench/kernel-thread.js';
