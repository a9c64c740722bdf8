// The hints VfioError gives for the causes people actually hit, keyed on what
// the operation does (its kind), not on substrings of its name: an
// IOMMU_IOAS_MAP is a mapping as much as a VFIO_IOMMU_MAP_DMA is. Kept as data
// so that every backend gives the same hint for the same failure; the test
// (test/unit/error-hints.test.ts) checks that every op the addon can name has
// a hint for each errno the kernel returns from it.

import { DEVICE_CALLS, type DeviceCallOpName } from './device-calls.js';

/** Every operation a VfioError names, by its uapi name (or what the addon calls it). */
export const Op = {
  GET_API_VERSION: 'VFIO_GET_API_VERSION',
  CHECK_EXTENSION: 'VFIO_CHECK_EXTENSION',
  SET_IOMMU: 'VFIO_SET_IOMMU',
  IOMMU_GET_INFO: 'VFIO_IOMMU_GET_INFO',
  MAP_DMA: 'VFIO_IOMMU_MAP_DMA',
  UNMAP_DMA: 'VFIO_IOMMU_UNMAP_DMA',
  DIRTY_PAGES: 'VFIO_IOMMU_DIRTY_PAGES',
  GROUP_GET_STATUS: 'VFIO_GROUP_GET_STATUS',
  GROUP_SET_CONTAINER: 'VFIO_GROUP_SET_CONTAINER',
  GROUP_UNSET_CONTAINER: 'VFIO_GROUP_UNSET_CONTAINER',
  GROUP_GET_DEVICE_FD: 'VFIO_GROUP_GET_DEVICE_FD',
  DEVICE_GET_INFO: 'VFIO_DEVICE_GET_INFO',
  DEVICE_GET_REGION_INFO: 'VFIO_DEVICE_GET_REGION_INFO',
  DEVICE_GET_IRQ_INFO: 'VFIO_DEVICE_GET_IRQ_INFO',
  DEVICE_SET_IRQS: 'VFIO_DEVICE_SET_IRQS',
  DEVICE_RESET: 'VFIO_DEVICE_RESET',
  DEVICE_BIND_IOMMUFD: 'VFIO_DEVICE_BIND_IOMMUFD',
  DEVICE_ATTACH_IOMMUFD_PT: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  DEVICE_DETACH_IOMMUFD_PT: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
  IOAS_ALLOC: 'IOMMU_IOAS_ALLOC',
  IOAS_MAP: 'IOMMU_IOAS_MAP',
  IOAS_UNMAP: 'IOMMU_IOAS_UNMAP',
  IOAS_COPY: 'IOMMU_IOAS_COPY',
  IOAS_IOVA_RANGES: 'IOMMU_IOAS_IOVA_RANGES',
  IOAS_ALLOW_IOVAS: 'IOMMU_IOAS_ALLOW_IOVAS',
  OPTION: 'IOMMU_OPTION',
  DESTROY: 'IOMMU_DESTROY',
  GET_HW_INFO: 'IOMMU_GET_HW_INFO',
  HWPT_ALLOC: 'IOMMU_HWPT_ALLOC',
  HWPT_SET_DIRTY_TRACKING: 'IOMMU_HWPT_SET_DIRTY_TRACKING',
  HWPT_GET_DIRTY_BITMAP: 'IOMMU_HWPT_GET_DIRTY_BITMAP',
  TEST_CMD: 'IOMMU_TEST_CMD',
  TEST_OP_ACCESS_PAGES: 'IOMMU_TEST_OP_ACCESS_PAGES',
  TEST_OP_DESTROY_ACCESS_PAGES: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES',
  TEST_OP_DIRTY: 'IOMMU_TEST_OP_DIRTY',
  TEST_OP_MOCK_DOMAIN: 'IOMMU_TEST_OP_MOCK_DOMAIN',
  TEST_OP_MOCK_DOMAIN_REPLACE: 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE',
  /** A plan entry (the executors) or a whole map plan (the planner's checks before pinning). */
  PLAN: 'plan',
  MAP_PLAN: 'MAP_DMA plan',
  /** A failed plan entry, as lib/plan reports it whatever the interface. */
  MAP: 'MAP_DMA',
  MMAP: 'mmap',
  READ: 'read',
  WRITE: 'write',
} as const;
/** The ops above, and the ioctls of a device's optional calls (lib/device-calls.ts, where their hints are too). */
export type OpName = (typeof Op)[keyof typeof Op] | DeviceCallOpName;

/** What an operation does, as far as the hints care. */
type Kind =
  | 'open' | 'map' | 'unmap' | 'ioas-unmap' | 'dirty' | 'hwpt-dirty' | 'set-container' | 'set-iommu'
  | 'info' | 'group' | 'device' | 'irq' | 'bind' | 'attach' | 'ioas' | 'option' | 'memory' | 'test' | 'other';

const KIND: Record<(typeof Op)[keyof typeof Op], Kind> = {
  VFIO_GET_API_VERSION: 'other',
  VFIO_CHECK_EXTENSION: 'other',
  VFIO_SET_IOMMU: 'set-iommu',
  VFIO_IOMMU_GET_INFO: 'info',
  VFIO_IOMMU_MAP_DMA: 'map',
  VFIO_IOMMU_UNMAP_DMA: 'unmap',
  VFIO_IOMMU_DIRTY_PAGES: 'dirty',
  VFIO_GROUP_GET_STATUS: 'group',
  VFIO_GROUP_SET_CONTAINER: 'set-container',
  VFIO_GROUP_UNSET_CONTAINER: 'group',
  VFIO_GROUP_GET_DEVICE_FD: 'group',
  VFIO_DEVICE_GET_INFO: 'device',
  VFIO_DEVICE_GET_REGION_INFO: 'device',
  VFIO_DEVICE_GET_IRQ_INFO: 'device',
  VFIO_DEVICE_SET_IRQS: 'irq',
  VFIO_DEVICE_RESET: 'device',
  VFIO_DEVICE_BIND_IOMMUFD: 'bind',
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: 'attach',
  VFIO_DEVICE_DETACH_IOMMUFD_PT: 'attach',
  IOMMU_IOAS_ALLOC: 'ioas',
  IOMMU_IOAS_MAP: 'map',
  IOMMU_IOAS_UNMAP: 'ioas-unmap',
  IOMMU_IOAS_COPY: 'map',
  IOMMU_IOAS_IOVA_RANGES: 'ioas',
  IOMMU_IOAS_ALLOW_IOVAS: 'ioas',
  IOMMU_OPTION: 'option',
  IOMMU_DESTROY: 'ioas',
  IOMMU_GET_HW_INFO: 'hwpt-dirty',
  IOMMU_HWPT_ALLOC: 'hwpt-dirty',
  IOMMU_HWPT_SET_DIRTY_TRACKING: 'hwpt-dirty',
  IOMMU_HWPT_GET_DIRTY_BITMAP: 'hwpt-dirty',
  IOMMU_TEST_CMD: 'test',
  IOMMU_TEST_OP_ACCESS_PAGES: 'test',
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: 'test',
  IOMMU_TEST_OP_DIRTY: 'test',
  IOMMU_TEST_OP_MOCK_DOMAIN: 'test',
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: 'test',
  plan: 'map',
  'MAP_DMA plan': 'map',
  MAP_DMA: 'map',
  mmap: 'memory',
  read: 'device',
  write: 'device',
};

const byName = new Map<string, Kind>(Object.entries(KIND));

/** The optional device calls' hints, by their ioctl. */
const CALL_HINTS = new Map<string, Readonly<Record<string, string>>>(
  Object.values(DEVICE_CALLS).map((c) => [c.op, c.hints]));

/**
 * The kind of an op. Besides the names in Op, an op may carry its object:
 * "open <path>", "IOMMU_TEST_CMD CREATE_ACCESS", "mmap MAP_HUGETLB", "madvise MADV_HUGEPAGE".
 */
function kindOf(op: string): Kind {
  const exact = byName.get(op);
  if (exact !== undefined) return exact;
  const word = op.slice(0, op.indexOf(' ') >>> 0);
  if (word === 'open') return 'open';
  if (word === 'mmap' || word === 'madvise' || word === 'mbind') return 'memory';
  return byName.get(word) ?? 'other';
}

const MAP_EINVAL = 'IOVA, vaddr and size must be aligned to the smallest IOMMU page size, size non-zero, '
  + 'the range must not wrap and must lie inside the IOVA ranges GET_INFO reports';
const MEMLOCK = 'locked-memory limit reached: raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK';
const GROUP_BUSY = 'group in use: another process or container holds it, or its devices are still open';
const NOT_VIABLE = 'group not viable: bind every device of the group to vfio-pci (or unbind it)';

type Hints = Partial<Record<string, string>>;

// By kind first; what a kind leaves out comes from GENERIC below.
const BY_KIND: Record<Kind, Hints> = {
  open: {
    EPERM: 'not permitted: run as root, or give this user access to the /dev/vfio node',
    EACCES: 'not permitted: run as root, or give this user access to the /dev/vfio node',
    ENOENT: 'no such node: is vfio loaded (modprobe vfio-pci) and the device bound to vfio-pci?',
  },
  map: {
    EINVAL: MAP_EINVAL,
    ENOMEM: MEMLOCK,
    ENOENT: 'no such IOAS, or (IOMMU_IOAS_COPY) nothing is mapped at the source IOVA',
  },
  unmap: { EINVAL: 'unmap must cover whole mappings (TYPE1v2) and be page aligned' },
  'ioas-unmap': {
    EINVAL: 'length must be non-zero and IOVA and length aligned to the IOAS alignment',
    ENOENT: 'nothing is mapped there, or the range cuts a mapping (iommufd never splits one)',
  },
  dirty: {
    EACCES: 'dirty tracking needs a TYPE1v2 container',
    EINVAL: 'dirty tracking must be started, and the range must cover whole mappings at a page size GET_INFO reports',
  },
  'hwpt-dirty': {
    EINVAL: 'dirty tracking needs a HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, and aligned ranges',
    EOPNOTSUPP: 'the IOMMU cannot track dirty pages (IOMMU_HW_CAP_DIRTY_TRACKING not set)',
    ENOENT: 'no such device, IOAS or HWPT id',
  },
  'set-container': {
    EPERM: NOT_VIABLE,
    EACCES: NOT_VIABLE,
    EINVAL: 'the group is already in a container',
  },
  'set-iommu': {
    EINVAL: 'attach a group to the container before choosing the IOMMU type',
    ENODEV: 'no IOMMU driver for this type: is vfio_iommu_type1 loaded?',
  },
  info: { EINVAL: 'no IOMMU type set on this container yet (setIommu after attaching a group)' },
  group: {
    EINVAL: 'the group is not in a container, or the device name is not in this group',
    EPERM: NOT_VIABLE,
  },
  device: {
    EINVAL: 'no such region or IRQ index, an access outside the region, or a device that does not support this (reset)',
    EIO: 'the device did not answer (disabled memory decoding, or a device in error)',
  },
  irq: {
    EINVAL: 'no such IRQ index or vector (irqInfo(index).count), or another interrupt type is on: '
      + 'INTx, MSI and MSI-X exclude each other (disable() the one that is on first)',
    ENOTTY: 'the kernel cannot do that on this index: only INTx can be masked or unmasked',
    EBUSY: 'this index is already enabled here: disable() it first',
    ENOMEM: 'the kernel could not allocate the vectors',
  },
  bind: {
    EINVAL: 'the cdev is already bound, or the iommufd is not valid',
    EPERM: NOT_VIABLE,
  },
  attach: {
    EINVAL: 'bind the device to an iommufd first; detach needs a device attached',
    ENOENT: 'no such IOAS or HWPT id (destroyed?)',
  },
  ioas: {
    EINVAL: 'bad ranges: each must be start <= last, and aligned',
    ENOENT: 'no such object id (destroyed?)',
  },
  option: {
    EPERM: 'changing the rlimit mode needs CAP_SYS_RESOURCE',
    EINVAL: 'unknown option or value',
  },
  memory: { EINVAL: 'a size or alignment this backing cannot give (hugetlb: a multiple of the huge page size)' },
  test: {
    ENOTTY: 'IOMMU_TEST_CMD needs a kernel built with CONFIG_IOMMUFD_TEST',
    EINVAL: 'the test object does not accept this (wrong id or range)',
    ENOENT: 'no such test object id (destroyed, or from another iommufd)',
  },
  other: {},
};

const GENERIC: Hints = {
  EPERM: 'not permitted: this needs CAP_SYS_RAWIO/root or a device node you own',
  EACCES: 'not permitted: this needs CAP_SYS_RAWIO/root or a device node you own',
  EBUSY: 'busy: the object is still in use',
  EEXIST: 'IOVA range overlaps an existing mapping',
  ENOMEM: 'out of memory (for hugetlb: reserve pages in /proc/sys/vm/nr_hugepages)',
  ENOSPC: 'DMA entry limit reached (vfio_iommu_type1 dma_entry_limit): coalesce mappings or raise the limit',
  E2BIG: 'dirty bitmap larger than the maximum GET_INFO reports: ask for a smaller range',
  ENODEV: 'no such device or group here',
  ENXIO: 'no such device or group here',
  ENOTTY: 'ioctl not supported by this kernel or this object',
  EBADF: 'the object has been closed',
  EFAULT: 'bad address: the memory is not mapped in this process (or the kernel could not copy the arguments)',
  EOVERFLOW: 'an address or length is at the top of the 64-bit space, or the range wraps around',
  EADDRINUSE: 'the range meets a reserved region (e.g. the MSI window) or an allowed range',
  EOPNOTSUPP: 'not supported by this IOMMU, kernel or backend',
  EMSGSIZE: 'the answer did not fit the buffer given: retry with the size the kernel reported',
  EINTR: 'interrupted: retry',
  EAGAIN: 'try again',
  EIO: 'I/O error from the device',
};

/** The hint for errno `code` from `op`, or undefined when there is none worth giving. */
export function hintFor(code: string, op: string): string | undefined {
  const call = CALL_HINTS.get(op);
  if (call) return call[code] ?? GENERIC[code];
  const kind = kindOf(op);
  // Opening a group node that is already open: the group's EBUSY, not the generic one.
  if (code === 'EBUSY' && (kind === 'group' || kind === 'set-container' || kind === 'bind' || (kind === 'open' && isGroupOpen(op)))) {
    return GROUP_BUSY;
  }
  return BY_KIND[kind][code] ?? GENERIC[code];
}

// "open /dev/vfio/7" (and the sim's "open /dev/vfio/7 (group)"): a group node, by its path.
function isGroupOpen(op: string): boolean {
  return /^open \/dev\/vfio\/\d+\b/.test(op) || op.endsWith('(group)');
}
