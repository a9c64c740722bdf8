// Backend Group over the addon's group.
import type { Container, Device, Group, GroupStatus } from '../backend.js';
import type { NativeGroup } from './addon.js';
import { nativeContainerOf } from './container.js';
import { NativeBackendDevice } from './device.js';

const GROUP_FLAGS_VIABLE = 1 << 0;
const GROUP_FLAGS_CONTAINER_SET = 1 << 1;

export class NativeBackendGroup implements Group {
  readonly #n: NativeGroup;

  constructor(n: NativeGroup) {
    this.#n = n;
  }

  get id(): number {
    return this.#n.id;
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  status(): GroupStatus {
    const flags = this.#n.status();
    return {
      viable: (flags & GROUP_FLAGS_VIABLE) !== 0,
      containerSet: (flags & GROUP_FLAGS_CONTAINER_SET) !== 0,
    };
  }

  setContainer(container: Container): void {
    const n = nativeContainerOf(container);
    if (!n) throw new TypeError('setContainer: not a container of the native backend');
    this.#n.setContainer(n);
  }

  unsetContainer(): void {
    this.#n.unsetContainer();
  }

  openDevice(name: string): Device {
    return new NativeBackendDevice(this.#n.openDevice(name));
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
