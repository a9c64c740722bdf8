// node-vfio/testing: the device under test for a suite (from VFIO_TEST_DEVICE /
// VFIO_TEST_GROUP, or the simulator), reset between tests, and a check that a
// test left no DMA mapping, pinned page or fd behind. Bring your own runner:
//
//   const dut = (await openDeviceUnderTest()).hooks({ beforeEach, afterEach, afterAll });
export {
  DeviceUnderTest, openDeviceUnderTest, type DeviceUnderTestOptions, type ResetOutcome, type TestHooks,
} from './device-under-test.js';
export { LeakError, type Leak, type LeakKind } from './leaks.js';
export type { TestEnv } from './select.js';
