// The one place that knows the concrete backends: a registry of them, in the
// order 'auto' prefers them, each saying whether this host can use it. The
// CLI and the benchmark get a Backend (and its HostView) from here and never
// import a backend module. A missing or unloadable addon is a reason to fall
// back, never a crash. A third backend is one more registry entry.
import { accessSync, constants } from 'node:fs';
import type { Backend, BackendName, KernelPinner, OverheadProbe } from './backend.js';
import type { IrqHostProbe } from './irq.js';
import { Errno, VfioError } from './errors.js';
import { NativeBackend, nativeAvailability } from './native/index.js';
import { nativeIrqHostProbe } from './native/irq-host.js';
import { SimBackend } from './sim/index.js';
import type { SimOptions } from './sim/options.js';
import { sysfsHostView, type MachineHostView } from './sysfs-host.js';
import { vfioPresence } from './sysfs.js';

// The sim's IOMMU profiles, for the CLI (which names them in --sim-iommu and matches a host against them in probe)
// without importing a backend module.
export {
  DEFAULT_SIM_IOMMU, SIM_IOMMU_NAMES, SIM_IOMMU_PROFILES, isSimIommuName, profilesMatching, type SimIommuName,
} from './sim/profiles.js';

export type { MachineFacts, MachineHostView } from './sysfs-host.js';

/**
 * The machine this process runs on, as sysfs and procfs show it: a HostView
 * plus the facts only a real host has (MachineFacts). It needs no backend, so
 * `vfio probe` answers where the addon does not load; a backend's own view of
 * its host (the sim's is the one its options describe) is Backend.host().
 */
export function machineHostView(root = '/'): MachineHostView {
  return sysfsHostView(root);
}

export type BackendChoice = BackendName | 'auto';

export interface OpenBackendOptions {
  /** Default 'auto'. */
  backend?: BackendChoice;
  /** Options for the simulated backend, when it is the one picked. */
  sim?: SimOptions;
}

export interface OpenedBackend {
  backend: Backend;
  /** Which backend and why, e.g. "sim: native backend unavailable (no /dev/vfio/vfio)". */
  reason: string;
}

/** What lib/native provides (lib/open.ts may import lib/native; lib/sim never does). */
export interface NativeModule {
  nativeAvailability(): { available: boolean; reason?: string };
  NativeBackend: new () => Backend;
}

/** Replaceable pieces, for tests. */
export interface OpenDeps {
  /** The native module; null when it could not be loaded. */
  native?: NativeModule | null;
  /** null when /dev/vfio/vfio can be opened read-write, else why not. */
  containerNode?: () => string | null;
}

/** One backend the registry knows. */
interface BackendEntry {
  readonly name: BackendName;
  /** null when this host can use it, else why not. */
  unavailable(deps: OpenDeps): string | null;
  /** The reason 'auto' gives when it picks this one. */
  readonly autoReason: string;
  create(opts: OpenBackendOptions, deps: OpenDeps): Backend;
}

const CONTAINER_NODE = '/dev/vfio/vfio';

function containerNodeProblem(): string | null {
  try {
    accessSync(CONTAINER_NODE, constants.R_OK | constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return vfioPresence().reason;
    return `${CONTAINER_NODE} is not usable (${code ?? String(err)}): run as root or get access to the node`;
  }
}

const nativeModule = (deps: OpenDeps): NativeModule | null =>
  deps.native === undefined ? { nativeAvailability, NativeBackend } : deps.native;

/** Preference order for 'auto': the first usable one wins; the last must always be usable. */
const REGISTRY: readonly BackendEntry[] = [
  {
    name: 'native',
    autoReason: `native: ${CONTAINER_NODE} is usable`,
    unavailable: (deps) => nativeUnavailable(nativeModule(deps), deps.containerNode ?? containerNodeProblem),
    create: (_opts, deps) => new (nativeModule(deps)!.NativeBackend)(),
  },
  {
    name: 'sim',
    autoReason: 'sim',
    unavailable: () => null,
    create: (opts) => new SimBackend(opts.sim),
  },
];

export const BACKEND_CHOICES: readonly BackendChoice[] = [...REGISTRY.map((e) => e.name), 'auto'];

/**
 * Opens a backend. 'auto' (the default) takes the first backend this host can
 * use, native before sim, and says why the ones before it could not be used;
 * a backend named explicitly is opened or refused (ENODEV, with the reason).
 */
export function openBackend(opts: OpenBackendOptions = {}, deps: OpenDeps = {}): OpenedBackend {
  if (opts === null || typeof opts !== 'object') throw new TypeError('openBackend: options object required');
  const choice = opts.backend ?? 'auto';
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new TypeError(`openBackend: backend must be ${BACKEND_CHOICES.map((c) => `'${c}'`).join(', ')}, not ${String(choice)}`);
  }
  if (choice !== 'auto') {
    const entry = REGISTRY.find((e) => e.name === choice)!;
    const why = entry.unavailable(deps);
    if (why !== null) {
      throw new VfioError(Errno.ENODEV, 'openBackend', { backend: choice }, `${choice} backend unavailable: ${why}`);
    }
    return { backend: entry.create(opts, deps), reason: `${choice}: requested` };
  }
  const skipped: string[] = [];
  for (const entry of REGISTRY) {
    const why = entry.unavailable(deps);
    if (why === null) {
      const reason = skipped.length ? `${entry.name}: ${skipped.join('; ')}` : entry.autoReason;
      return { backend: entry.create(opts, deps), reason };
    }
    skipped.push(`${entry.name} backend unavailable (${why})`);
  }
  throw new VfioError(Errno.ENODEV, 'openBackend', { backend: 'auto' }, `no backend usable: ${skipped.join('; ')}`);
}

/** null when the native backend can be used, else why not. */
function nativeUnavailable(native: NativeModule | null, containerNode: () => string | null): string | null {
  if (!native) return 'native module not loaded';
  try {
    const a = native.nativeAvailability();
    if (!a.available) return a.reason ?? 'unavailable (no reason given)';
  } catch (err) {
    return `availability check failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  return containerNode();
}

export interface KernelPinSource {
  /** Opens the buffers; null when no backend reaches the kernel's pin path. */
  backend: Backend | null;
  pinner: KernelPinner | null;
}

/**
 * The kernel's pin path is real or nothing, whatever backend a run uses: the
 * backend in use when it has the capability, else a native one opened for the
 * purpose where the addon loads (it needs no IOMMU group and no /dev/vfio).
 * The sim has no kernel to pin with.
 */
export function kernelPinSource(current: Backend): KernelPinSource {
  if (current.kernelPinner) return { backend: current, pinner: current.kernelPinner() };
  const native = nativeAvailability().available ? new NativeBackend() : null;
  return { backend: native, pinner: native?.kernelPinner() ?? null };
}

export interface OverheadSource {
  /** Opens the buffers the stand-in maps (a native backend); null with the probe. */
  backend: Backend | null;
  probe: OverheadProbe | null;
  /** Why there is no probe; null when there is one. */
  reason: string | null;
}

/**
 * The addon's own cost is measured by the addon or not at all, whatever
 * backend a run uses: the backend in use when it has the capability, else a
 * native one opened for the purpose where the addon loads (the stand-in needs
 * no /dev/vfio, so a run on the sim still gets it).
 */
export function overheadSource(current: Backend): OverheadSource {
  if (current.overheadProbe) return { backend: current, probe: current.overheadProbe(), reason: null };
  const a = nativeAvailability();
  if (!a.available) return { backend: null, probe: null, reason: a.reason ?? 'the native addon is not loaded' };
  const native = new NativeBackend();
  return { backend: native, probe: native.overheadProbe(), reason: null };
}

export interface IrqHostSource {
  probe: IrqHostProbe | null;
  /** Why there is no probe; null when there is one. */
  reason: string | null;
}

/**
 * Interrupt delivery on this host with no device (native/overhead_irq.h):
 * the addon's or nothing, whatever backend a run uses (it needs no
 * /dev/vfio, so a run on the sim still gets it).
 */
export function irqHostSource(): IrqHostSource {
  const a = nativeAvailability();
  if (!a.available) return { probe: null, reason: a.reason ?? 'the native addon is not loaded' };
  const probe = nativeIrqHostProbe();
  return probe ? { probe, reason: null } : { probe: null, reason: 'this build of the addon has no irq stand-in: rebuild it (npm run build:native)' };
}
