// The device a test suite drives: opened from the environment (select.ts,
// resolve.ts) through openBackend, attached to a type1v2 container, reset
// between tests where VFIO_DEVICE_RESET works, and checked after each test
// for what it left behind (leaks.ts). No test runner is imported: callers
// hand their hooks to hooks(), or call begin() / checkClean() themselves.
import type { Backend, Container, Device, Group } from '../backend.js';
import { openBackend, type OpenBackendOptions } from '../open.js';
import { findLeaks, LeakError, takeBaseline, type Baseline, type Leak } from './leaks.js';
import { resolveDevice } from './resolve.js';
import { wantedFromEnv, type TestEnv } from './select.js';

export interface DeviceUnderTestOptions {
  /** Where VFIO_TEST_DEVICE / VFIO_TEST_GROUP are read; default process.env. */
  env?: TestEnv;
  /** Options for the simulator, when no device is named in `env`. */
  sim?: OpenBackendOptions['sim'];
  /** Where one-off notes go (a device without reset); default console.warn. */
  log?: (line: string) => void;
}

/** The per-test hooks of vitest, jest or node:test, taken as parameters so this module needs none of them. */
export interface TestHooks {
  beforeEach(fn: () => void): unknown;
  afterEach(fn: () => void): unknown;
  afterAll?(fn: () => void): unknown;
}

export type ResetOutcome = 'reset' | 'unsupported';

export class DeviceUnderTest implements Disposable {
  #baseline: Baseline;
  #resetNoted = false;
  readonly #log: (line: string) => void;

  constructor(
    readonly backend: Backend,
    readonly container: Container,
    readonly group: Group,
    readonly device: Device,
    /** Which backend and device, and why (the environment, or the simulator's default). */
    readonly reason: string,
    log: (line: string) => void,
  ) {
    this.#log = log;
    this.#baseline = takeBaseline(container);
  }

  /** The IOMMU group number of the device. */
  get groupId(): number {
    return this.group.id;
  }

  /** VFIO_DEVICE_INFO says the device has a reset method (FLR, PM or bus reset). */
  get resetSupported(): boolean {
    return this.device.info().resetSupported;
  }

  /**
   * VFIO_DEVICE_RESET when the device supports it; otherwise says once that
   * tests share the device's state. A reset that is supported but fails throws.
   */
  reset(): ResetOutcome {
    if (this.resetSupported) {
      this.device.reset();
      return 'reset';
    }
    if (!this.#resetNoted) {
      this.#resetNoted = true;
      this.#log(`node-vfio/testing: ${this.device.name} has no VFIO_DEVICE_RESET (no FLR, PM or bus reset); `
        + 'tests share its register state');
    }
    return 'unsupported';
  }

  /** Before each test: reset the device and take the baseline the test is checked against. */
  begin(): ResetOutcome {
    const outcome = this.reset();
    this.#baseline = takeBaseline(this.container);
    return outcome;
  }

  /**
   * What the test left behind since begin() (or open): mappings (then unmapped),
   * pinned memory, fds. Takes a new baseline, so one leak is reported once.
   */
  leaks(): Leak[] {
    const found = findLeaks(this.container, this.#baseline);
    if (!this.container.closed) this.#baseline = takeBaseline(this.container);
    return found;
  }

  /** Throws a LeakError naming each leak; returns quietly when the test cleaned up. */
  checkClean(): void {
    const found = this.leaks();
    if (found.length > 0) throw new LeakError(found);
  }

  /** Registers begin() before each test, checkClean() after each, close() after all. */
  hooks(h: TestHooks): this {
    h.beforeEach(() => void this.begin());
    h.afterEach(() => this.checkClean());
    h.afterAll?.(() => this.close());
    return this;
  }

  /** Device, then group, then container (which unmaps whatever is left). Harmless twice. */
  close(): void {
    this.device.close();
    this.group.close();
    this.container.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens the device under test: VFIO_TEST_DEVICE (its group from the host's
 * sysfs) or VFIO_TEST_GROUP on the native backend, which must then work;
 * with neither, the simulator's default device. The container gets type1v2.
 */
export async function openDeviceUnderTest(opts: DeviceUnderTestOptions = {}): Promise<DeviceUnderTest> {
  const wanted = wantedFromEnv(opts.env ?? process.env);
  const { backend } = openBackend({ backend: wanted.backend, sim: opts.sim });
  const { group: groupId, device: name, why } = resolveDevice(wanted, backend.host());
  const container = backend.openContainer();
  let group: Group | null = null;
  try {
    group = backend.openGroup(groupId);
    group.setContainer(container);
    container.setIommu('type1v2');
    const device = group.openDevice(name);
    return new DeviceUnderTest(backend, container, group, device, `${backend.name}: ${why}`, opts.log ?? console.warn);
  } catch (err) {
    group?.close();
    container.close();
    throw err;
  }
}
