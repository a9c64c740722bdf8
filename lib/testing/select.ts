// Which device a test run is about, from the environment the HIL lane (or a
// CI job on a VFIO host) sets: VFIO_TEST_DEVICE (a PCI address) and/or
// VFIO_TEST_GROUP. With neither, the simulator. Only the backend choice is
// made here; the group and device are looked up in the chosen backend's
// HostView (resolve.ts), so sysfs is read on a host and the options on the sim.
import type { BackendName } from '../backend.js';
import { isPciAddress } from '../sysfs.js';

export type TestEnv = Readonly<Record<string, string | undefined>>;

export interface Wanted {
  backend: BackendName;
  /** PCI address from VFIO_TEST_DEVICE, when given. */
  address: string | null;
  /** Group from VFIO_TEST_GROUP, when given. */
  group: number | null;
}

/** Reads VFIO_TEST_DEVICE / VFIO_TEST_GROUP; throws on values that cannot name a device or group. */
export function wantedFromEnv(env: TestEnv): Wanted {
  const address = nonEmpty(env.VFIO_TEST_DEVICE);
  const groupText = nonEmpty(env.VFIO_TEST_GROUP);
  if (address !== null && !isPciAddress(address)) {
    throw new Error(`VFIO_TEST_DEVICE=${address} is not a PCI address (dddd:bb:dd.f, lower case)`);
  }
  let group: number | null = null;
  if (groupText !== null) {
    if (!/^\d+$/.test(groupText)) throw new Error(`VFIO_TEST_GROUP=${groupText} is not an IOMMU group number`);
    group = Number(groupText);
  }
  // Either variable means "a real device was handed over": the test must run
  // on it or fail, never quietly fall back to the simulator.
  const backend: BackendName = address !== null || group !== null ? 'native' : 'sim';
  return { backend, address, group };
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value.trim() === '' ? null : value.trim();
}
