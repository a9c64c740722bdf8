// Which /dev/vfio/devices node the test device has (native iommufd tests).
import { existsSync, readdirSync } from 'node:fs';

/** The edu device's cdev (vfioN under its sysfs node), or why there is none. */
export function eduCdev(): string | { none: string } {
  const named = process.env['VFIO_TEST_CDEV'];
  if (named) return named;
  const dev = process.env['VFIO_TEST_DEVICE'];
  if (!dev) return { none: 'no VFIO_TEST_DEVICE / VFIO_TEST_CDEV (run in the HIL lane)' };
  const dir = `/sys/bus/pci/devices/${dev}/vfio-dev`;
  try {
    const node = readdirSync(dir).find((n) => /^vfio\d+$/.test(n));
    if (node && existsSync(`/dev/vfio/devices/${node}`)) return node;
    return { none: `${dev} has no /dev/vfio/devices node (CONFIG_VFIO_DEVICE_CDEV off?)` };
  } catch {
    return { none: `no ${dir}: the kernel lacks CONFIG_VFIO_DEVICE_CDEV or ${dev} is not bound to vfio-pci` };
  }
}
