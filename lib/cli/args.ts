// Command-line parsing with node:util parseArgs (no dependency). Everything is
// validated here, so the commands receive typed, in-range values and any
// mistake becomes a UsageError (exit 2) before the host is touched.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseThreshold, DEFAULT_MIN_DELTA_NS } from '../bench/compare.js';
import { SUITES, type SuiteName } from '../bench/schema.js';
import type { DmaInterface } from '../backend.js';
import { isPciAddress } from '../sysfs.js';
import { SIM_IOMMU_NAMES, isSimIommuName, type SimIommuName } from '../open.js';
import { UsageError } from './exit-codes.js';
import { isCommand, type CommandName } from './usage.js';

export type OutputFormat = 'table' | 'json' | 'csv';
import type { BackendChoice } from '../open.js';

export type { BackendChoice };

export interface ProbeArgs {
  cmd: 'probe';
  debug: boolean;
  json: boolean;
  group: number | null;
}

export interface BenchArgs {
  cmd: 'bench';
  debug: boolean;
  format: OutputFormat;
  backend: BackendChoice;
  group: number | null;
  device: string | null;
  suites: SuiteName[];
  /** --suite kernel-pin (alone or with others): time the kernel's own pin path too. */
  kernelPin?: boolean;
  /** --suite overhead (alone or with others): time the library's own cost against a stand-in system call. */
  overhead?: boolean;
  /** --suite irq (alone or with others; not part of `all`): edu interrupt delivery latency, JS vs a C epoll loop. */
  irq?: boolean;
  /** --irq-runs: timed interrupts per row of the irq suite (device and host tables); null: the suite's defaults. */
  irqRuns?: number | null;
  reps: number;
  warmup: number;
  report: string | null;
  ref: boolean;
  compare: string | null;
  maxRegression: number;
  minDeltaNs: number;
  maxMemory: bigint | null;
  progress: boolean;
  /** --interface type1|iommufd|both: which kernel interfaces to measure, in that order. */
  interfaces?: DmaInterface[];
  /** --sim-iommu NAME: the IOMMU the simulated backend imitates (lib/sim/profiles.ts); null = its default. */
  simIommu?: SimIommuName | null;
}

export interface BindArgs {
  cmd: 'bind';
  debug: boolean;
  address: string;
  yes: boolean;
  json: boolean;
}

export interface UnbindArgs {
  cmd: 'unbind';
  debug: boolean;
  address: string;
  yes: boolean;
  json: boolean;
}

export interface HelpArgs {
  cmd: 'help';
  debug: boolean;
  /** One command's page, or null for the overview. */
  topic: CommandName | null;
  /** `vfio` with nothing after it: the overview, then exit 2 (nothing was asked). */
  bare: boolean;
}

export type CliArgs = ProbeArgs | BenchArgs | BindArgs | UnbindArgs | HelpArgs | { cmd: 'version'; debug: boolean };

const GLOBAL = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies ParseArgsConfig['options'];

// No --bind: probe only reads the host. `vfio bind BDF --yes` and `vfio unbind BDF --yes` are the commands that write to it.
const PROBE = { ...GLOBAL, json: { type: 'boolean' }, group: { type: 'string' } } as const;

const BENCH = {
  ...GLOBAL,
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  backend: { type: 'string' },
  group: { type: 'string' },
  device: { type: 'string' },
  suite: { type: 'string' },
  reps: { type: 'string' },
  warmup: { type: 'string' },
  report: { type: 'string' },
  ref: { type: 'boolean' },
  compare: { type: 'string' },
  'max-regression': { type: 'string' },
  'min-delta-ns': { type: 'string' },
  'max-memory': { type: 'string' },
  'irq-runs': { type: 'string' },
  'no-progress': { type: 'boolean' },
  interface: { type: 'string' },
  'sim-iommu': { type: 'string' },
} as const;

const UNBIND = { ...GLOBAL, yes: { type: 'boolean', short: 'y' }, json: { type: 'boolean' } } as const;
// `vfio bind BDF --restore --yes` is `vfio unbind BDF --yes` (the spelling dpdk-devbind users look for).
const BIND = { ...UNBIND, restore: { type: 'boolean' } } as const;

/**
 * parseArgs reads the "-5" of `--reps -5` as an option of its own and refuses
 * it as ambiguous; a value that looks like a negative number is the option's
 * value, so join the two and let the range check say what is wrong with it.
 */
function joinNegativeValues(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : null;
    if (name !== null && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** parseArgs' TypeErrors (ERR_PARSE_ARGS_*) in this tool's words, naming the command whose help lists the options. */
function ownMessage(err: Error & { code?: string }, command: string): string {
  const opt = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
  const arg = /argument '([^']*)'/i.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${command} has no option ${opt ?? '(unknown)'} (see "vfio ${command} --help")`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `${command} takes no argument ${JSON.stringify(arg ?? '')}; options start with --`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(err.message)) return `${opt} is a switch and takes no value`;
      return `${opt} needs a value (see "vfio ${command} --help")`;
    default:
      return err.message;
  }
}

/** Every option each command accepts (the help pages are checked against these). */
export const OPTION_NAMES: Record<CommandName, string[]> = {
  probe: Object.keys(PROBE),
  bench: Object.keys(BENCH),
  bind: Object.keys(BIND),
  unbind: Object.keys(UNBIND),
};

function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, positionals: boolean, command: string) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new UsageError(ownMessage(err as Error, command));
  }
}

function integer(text: string | undefined, name: string, min: number, max: number): number | null {
  if (text === undefined) return null;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${name} wants a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${n}`);
  return n;
}

function pciAddress(text: string | undefined, name: string): string | null {
  if (text === undefined) return null;
  if (!isPciAddress(text)) {
    throw new UsageError(`${name} wants a PCI address like 0000:00:03.0 (domain:bus:device.function, lower-case hex), got ${JSON.stringify(text)}`);
  }
  return text;
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n };

export function parseSize(text: string, name = 'size'): bigint {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${name} wants a size such as 512M or 1G, got ${JSON.stringify(text)}`);
  return BigInt(m[1]!) * SIZE_UNITS[m[2]!.toLowerCase()]!;
}

/** The suite that is not a cell grid: the kernel's own pin path (lib/bench/kernel-pin.ts). */
export const KERNEL_PIN_SUITE = 'kernel-pin';

/** Whether --suite asks for kernel-pin (named, or through all). */
export function wantsKernelPin(text: string | undefined): boolean {
  const names = text?.split(',').map((s) => s.trim()) ?? [];
  return names.includes(KERNEL_PIN_SUITE) || names.includes('all');
}

/** The other suite that is not a cell grid: the library's own cost (lib/bench/overhead.ts). */
export const OVERHEAD_SUITE = 'overhead';

/** Whether --suite asks for overhead (named, or through all: it takes seconds and needs no VFIO). */
export function wantsOverhead(text: string | undefined): boolean {
  const names = text?.split(',').map((s) => s.trim()) ?? [];
  return names.includes(OVERHEAD_SUITE) || names.includes('all');
}

/** The interrupt-latency suite (lib/bench/irq.ts): asked for by name only, it needs an edu device. */
export const IRQ_SUITE = 'irq';

export function wantsIrq(text: string | undefined): boolean {
  return text?.split(',').map((s) => s.trim()).includes(IRQ_SUITE) ?? false;
}

export function parseSuites(text: string | undefined): SuiteName[] {
  if (text === undefined) return ['matrix'];
  const all = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (all.includes('all')) return [...SUITES]; // irq is not in all: it needs an edu device
  const names = all.filter((n) => n !== KERNEL_PIN_SUITE && n !== OVERHEAD_SUITE && n !== IRQ_SUITE);
  for (const n of names) {
    if (!(SUITES as readonly string[]).includes(n)) {
      throw new UsageError(`unknown suite ${JSON.stringify(n)}; choose from ${SUITES.join(', ')}, ${KERNEL_PIN_SUITE}, ${OVERHEAD_SUITE}, ${IRQ_SUITE}, all`);
    }
  }
  if (all.length === 0) throw new UsageError('--suite needs at least one suite name');
  // The order of SUITES, whatever order they were asked in, so reports read the same.
  return SUITES.filter((s) => names.includes(s));
}

function benchArgs(argv: string[]): BenchArgs {
  const { values: v } = parse(argv, BENCH, false, 'bench');
  if (v.json && v.csv) throw new UsageError('choose one of --json and --csv');
  const group = integer(v.group, '--group', 0, 0xffff_ffff);
  const device = pciAddress(v.device, '--device');
  if (group !== null && device !== null) throw new UsageError('give --group or --device, not both');
  const backend = (v.backend ?? (group !== null || device !== null ? 'native' : 'sim')) as BackendChoice;
  if (!['sim', 'native', 'auto'].includes(backend)) throw new UsageError(`--backend must be sim, native or auto, got ${JSON.stringify(v.backend)}`);
  if (backend === 'sim' && (group !== null || device !== null)) throw new UsageError('--group/--device need the native backend; drop --backend sim');
  const simIommu = v['sim-iommu'] ?? null;
  if (simIommu !== null) {
    if (!isSimIommuName(simIommu)) {
      throw new UsageError(`--sim-iommu must be one of ${SIM_IOMMU_NAMES.join(', ')}, got ${JSON.stringify(simIommu)}`);
    }
    if (backend === 'native') {
      throw new UsageError('--sim-iommu chooses the IOMMU the simulated backend imitates; a native run measures the host\'s own '
        + '(drop --sim-iommu, or --group/--device/--backend native)');
    }
  }
  let maxRegression = 0.1;
  try {
    if (v['max-regression'] !== undefined) maxRegression = parseThreshold(v['max-regression']);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (v['max-regression'] !== undefined && v.compare === undefined) throw new UsageError('--max-regression only makes sense with --compare FILE');
  return {
    cmd: 'bench',
    debug: Boolean(v.debug),
    format: v.json ? 'json' : v.csv ? 'csv' : 'table',
    backend,
    group,
    device,
    suites: parseSuites(v.suite),
    kernelPin: wantsKernelPin(v.suite),
    overhead: wantsOverhead(v.suite),
    irq: wantsIrq(v.suite),
    irqRuns: integer(v['irq-runs'], '--irq-runs', 1, 1_000_000) ?? null,
    reps: integer(v.reps, '--reps', 1, 1_000_000) ?? 30,
    warmup: integer(v.warmup, '--warmup', 0, 1_000_000) ?? 3,
    report: v.report ?? null,
    ref: Boolean(v.ref),
    compare: v.compare ?? null,
    maxRegression,
    minDeltaNs: integer(v['min-delta-ns'], '--min-delta-ns', 0, 1e12) ?? DEFAULT_MIN_DELTA_NS,
    maxMemory: v['max-memory'] !== undefined ? parseSize(v['max-memory'], '--max-memory') : null,
    progress: !v['no-progress'],
    interfaces: parseInterfaces(v.interface),
    simIommu,
  };
}

function parseInterfaces(v: string | undefined): DmaInterface[] {
  if (v === undefined || v === 'type1') return ['type1'];
  if (v === 'iommufd') return ['iommufd'];
  if (v === 'both') return ['type1', 'iommufd'];
  throw new UsageError(`--interface must be type1, iommufd or both, got ${JSON.stringify(v)}`);
}

export function parseCli(argv: string[]): CliArgs {
  const [command, ...rest] = argv;
  const debug = argv.includes('--debug');
  if (command === undefined) return { cmd: 'help', debug, topic: null, bare: true };
  if (command === '--help' || command === '-h') return { cmd: 'help', debug, topic: null, bare: false };
  if (command === 'help') {
    const topics = rest.filter((a) => a !== '--debug');
    const topic = topics[0];
    if (topic === undefined) return { cmd: 'help', debug, topic: null, bare: false };
    if (!isCommand(topic) || topics.length > 1) {
      throw new UsageError(`no help on ${JSON.stringify(topics.join(' '))}; commands: probe, bench, bind, unbind`);
    }
    return { cmd: 'help', debug, topic, bare: false };
  }
  if (command === '--version' || command === '-V') return { cmd: 'version', debug };
  if (isCommand(command) && (rest.includes('--help') || rest.includes('-h'))) return { cmd: 'help', debug, topic: command, bare: false };
  switch (command) {
    case 'probe': {
      if (rest.some((a) => a === '--bind' || a.startsWith('--bind='))) {
        throw new UsageError('probe only reads the host; to bind a device to vfio-pci: vfio bind BDF --yes');
      }
      const { values: v } = parse(rest, PROBE, false, 'probe');
      return { cmd: 'probe', debug, json: Boolean(v.json), group: integer(v.group, '--group', 0, 0xffff_ffff) };
    }
    case 'bench':
      return benchArgs(rest);
    case 'bind': {
      const { values: v, positionals } = parse(rest, BIND, true, 'bind');
      if (positionals.length !== 1) throw new UsageError('bind takes exactly one PCI address: vfio bind 0000:00:03.0 --yes');
      const address = pciAddress(positionals[0], 'bind')!;
      if (v.restore) return { cmd: 'unbind', debug, address, yes: Boolean(v.yes), json: Boolean(v.json) };
      return { cmd: 'bind', debug, address, yes: Boolean(v.yes), json: Boolean(v.json) };
    }
    case 'unbind': {
      const { values: v, positionals } = parse(rest, UNBIND, true, 'unbind');
      if (positionals.length !== 1) throw new UsageError('unbind takes exactly one PCI address: vfio unbind 0000:00:03.0 --yes');
      return { cmd: 'unbind', debug, address: pciAddress(positionals[0], 'unbind')!, yes: Boolean(v.yes), json: Boolean(v.json) };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; commands: probe, bench, bind, unbind`);
  }
}
