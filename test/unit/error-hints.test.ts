// Hints are keyed on what an operation does: every op the addon can name has
// a hint for each errno the kernel can return from it, and a type1 map and an
// IOAS map get the same hints.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE_CALLS } from '../../lib/device-calls.js';
import { Errno, Op, VfioError, type OpName } from '../../lib/errors.js';

type Code = keyof typeof Errno;

// What the kernel (6.12) returns from each op besides EBADF (every op on a closed fd), from its ioctl handlers.
const ERRNOS: Record<OpName, Code[]> = {
  VFIO_GET_API_VERSION: [],
  VFIO_CHECK_EXTENSION: [],
  VFIO_SET_IOMMU: ['EINVAL', 'EBUSY', 'ENODEV', 'EPERM'],
  VFIO_IOMMU_GET_INFO: ['EINVAL', 'EFAULT', 'ENOMEM'],
  VFIO_IOMMU_MAP_DMA: ['EINVAL', 'EEXIST', 'ENOMEM', 'ENOSPC', 'EFAULT', 'EPERM', 'EBUSY'],
  VFIO_IOMMU_UNMAP_DMA: ['EINVAL', 'EFAULT', 'EBUSY'],
  VFIO_IOMMU_DIRTY_PAGES: ['EINVAL', 'EACCES', 'E2BIG', 'ENOMEM', 'EFAULT'],
  VFIO_GROUP_GET_STATUS: ['EFAULT'],
  VFIO_GROUP_SET_CONTAINER: ['EINVAL', 'EPERM', 'EBUSY'],
  VFIO_GROUP_UNSET_CONTAINER: ['EINVAL', 'EBUSY'],
  VFIO_GROUP_GET_DEVICE_FD: ['EINVAL', 'ENODEV', 'EBUSY', 'EPERM'],
  VFIO_DEVICE_GET_INFO: ['EFAULT', 'EINVAL'],
  VFIO_DEVICE_GET_REGION_INFO: ['EINVAL', 'EFAULT'],
  VFIO_DEVICE_GET_IRQ_INFO: ['EINVAL', 'EFAULT'],
  VFIO_DEVICE_SET_IRQS: ['EINVAL', 'ENOTTY', 'EBUSY', 'ENOMEM', 'EFAULT'],
  VFIO_DEVICE_RESET: ['EINVAL', 'ENOTTY'],
  // vfio_pci_ioctl_get_pci_hot_reset_info (EAGAIN: the fill walk met more devices than it counted; ERANGE: it
  // counted none, a WARN_ON), and vfio_device_fops_unl_ioctl's EINVAL for an unbound cdev.
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: ['EFAULT', 'EINVAL', 'ENODEV', 'ERANGE', 'ENOSPC', 'ENOMEM', 'EAGAIN', 'EPERM', 'ENOTTY'],
  VFIO_DEVICE_BIND_IOMMUFD: ['EINVAL', 'EBUSY', 'EPERM', 'ENODEV'],
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: ['EINVAL', 'ENOENT', 'EBUSY', 'EADDRINUSE', 'ENOMEM'],
  VFIO_DEVICE_DETACH_IOMMUFD_PT: ['EINVAL'],
  IOMMU_IOAS_ALLOC: ['ENOMEM', 'EOPNOTSUPP'],
  IOMMU_IOAS_MAP: ['EINVAL', 'EEXIST', 'ENOMEM', 'ENOSPC', 'EFAULT', 'EOVERFLOW', 'ENOENT', 'EADDRINUSE', 'EPERM'],
  IOMMU_IOAS_UNMAP: ['ENOENT', 'EINVAL', 'EOVERFLOW'],
  IOMMU_IOAS_COPY: ['ENOENT', 'EINVAL', 'EEXIST', 'EOVERFLOW', 'ENOMEM', 'ENOSPC'],
  IOMMU_IOAS_IOVA_RANGES: ['EMSGSIZE', 'ENOENT'],
  IOMMU_IOAS_ALLOW_IOVAS: ['EINVAL', 'EADDRINUSE', 'ENOENT'],
  IOMMU_OPTION: ['EPERM', 'EBUSY', 'EINVAL', 'EOPNOTSUPP'],
  IOMMU_DESTROY: ['ENOENT', 'EBUSY'],
  IOMMU_GET_HW_INFO: ['EOPNOTSUPP', 'ENOENT', 'EINVAL'],
  IOMMU_HWPT_ALLOC: ['EOPNOTSUPP', 'EINVAL', 'ENOENT', 'ENOMEM'],
  IOMMU_HWPT_SET_DIRTY_TRACKING: ['EOPNOTSUPP', 'EINVAL', 'ENOENT'],
  IOMMU_HWPT_GET_DIRTY_BITMAP: ['EINVAL', 'EOPNOTSUPP', 'ENOENT', 'EFAULT'],
  IOMMU_TEST_CMD: ['ENOTTY', 'EINVAL', 'ENOENT', 'ENOMEM'],
  IOMMU_TEST_OP_ACCESS_PAGES: ['ENOTTY', 'EINVAL', 'ENOMEM', 'EFAULT'],
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: ['ENOTTY', 'ENOENT'],
  IOMMU_TEST_OP_DIRTY: ['ENOTTY', 'EINVAL', 'ENOENT'],
  IOMMU_TEST_OP_MOCK_DOMAIN: ['ENOTTY', 'ENOENT', 'ENOMEM'],
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: ['ENOTTY', 'ENOENT', 'EINVAL'],
  plan: ['EINVAL', 'EEXIST', 'ENOMEM', 'ENOSPC', 'EFAULT', 'ENOENT', 'EOVERFLOW', 'EADDRINUSE'],
  'MAP_DMA plan': ['ENOMEM', 'ENOSPC', 'EEXIST'],
  MAP_DMA: ['EINVAL', 'EEXIST', 'ENOMEM', 'ENOSPC', 'EFAULT', 'ENOENT', 'EOVERFLOW', 'EADDRINUSE'],
  mmap: ['ENOMEM', 'EINVAL'],
  read: ['EINVAL', 'EIO', 'EFAULT'],
  write: ['EINVAL', 'EIO', 'EFAULT'],
};

const NATIVE = join(import.meta.dirname, '../../native');
// Every op a VfioError can name: the seam's, and the ioctls of the optional device calls (lib/device-calls.ts).
const ALL_OPS: OpName[] = [...Object.values(Op), ...Object.values(DEVICE_CALLS).map((c) => c.op)];

describe('error hints', () => {
  it('know every ioctl the addon names', () => {
    const named = new Set<string>();
    for (const f of readdirSync(NATIVE).filter((n) => n.endsWith('.cc'))) {
      for (const m of readFileSync(join(NATIVE, f), 'utf8').matchAll(/"((?:VFIO|IOMMU)_[A-Z0-9_]+)/g)) named.add(m[1]!);
    }
    const known = new Set<string>(ALL_OPS);
    expect([...named].filter((op) => !known.has(op))).toEqual([]);
  });

  it('have a hint for each errno every op can return', () => {
    const missing: string[] = [];
    for (const op of ALL_OPS) {
      for (const code of ['EBADF', ...ERRNOS[op]] as Code[]) {
        if (new VfioError(Errno[code], op).hint === undefined) missing.push(`${op} ${code}`);
      }
    }
    for (const open of ['open /dev/vfio/vfio', 'open /dev/vfio/7', 'open /dev/iommu', 'open /dev/vfio/devices/vfio0']) {
      for (const code of ['ENOENT', 'EACCES', 'EPERM', 'EBUSY', 'ENODEV'] as Code[]) {
        if (new VfioError(Errno[code], open).hint === undefined) missing.push(`${open} ${code}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it.each([
    ['ENOMEM', /RLIMIT_MEMLOCK/],
    ['EINVAL', /aligned/],
    ['EEXIST', /overlaps/],
  ] as const)('give an IOAS map the %s hint a type1 map gets', (code, hint) => {
    const ioas = new VfioError(Errno[code], Op.IOAS_MAP).hint;
    expect(ioas).toMatch(hint);
    expect(ioas).toBe(new VfioError(Errno[code], Op.MAP_DMA).hint);
  });

  it('tell an IOAS unmap from a type1 one', () => {
    expect(new VfioError(Errno.ENOENT, Op.IOAS_UNMAP).hint).toMatch(/never splits/);
    expect(new VfioError(Errno.EINVAL, Op.UNMAP_DMA).hint).toMatch(/whole mappings/);
  });

  it('give a group node that is open already the group hint, a cdev the generic one', () => {
    expect(new VfioError(Errno.EBUSY, 'open /dev/vfio/7').hint).toMatch(/group in use/);
    expect(new VfioError(Errno.EBUSY, 'open /dev/vfio/devices/vfio0').hint).toMatch(/busy/);
  });
});
