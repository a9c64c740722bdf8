// One error class for everything the kernel (or the simulation of it) refuses.
// It keeps the numeric errno and its symbolic code, what was attempted and with
// which arguments, and a hint for the causes people actually hit. Misuse of the
// API (wrong types) is a TypeError and out-of-range values a RangeError; those
// are not VfioErrors because no system call was involved.
import { constants } from 'node:os';

const codeByErrno = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!codeByErrno.has(value)) codeByErrno.set(value, name);
}
// Linux numbers, so a sim on another OS still reports what the kernel would.
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOTTY: 25,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  // iommufd: a reserved region meets a mapping or an allowed range.
  EADDRINUSE: 98,
} as const;
for (const [name, value] of Object.entries(Errno)) codeByErrno.set(value, name);

export function errnoCode(errno: number): string {
  return codeByErrno.get(errno) ?? `E${errno}`;
}

export type VfioErrorArgs = Record<string, unknown>;

export class VfioError extends Error {
  override readonly name = 'VfioError';
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly args: VfioErrorArgs;
  readonly hint: string | undefined;

  constructor(errno: number, op: string, args: VfioErrorArgs = {}, hint?: string) {
    const code = errnoCode(errno);
    const why = hint ?? hintFor(code, op, args);
    super(`${op} failed: ${code} (errno ${errno})${formatArgs(args)}${why ? `: ${why}` : ''}`);
    this.errno = errno;
    this.code = code;
    this.op = op;
    this.args = args;
    this.hint = why;
  }
}

function formatArgs(args: VfioErrorArgs): string {
  const parts = Object.entries(args).map(([k, v]) =>
    `${k}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v)}`);
  return parts.length ? ` [${parts.join(' ')}]` : '';
}

// The common causes, by what failed and how. Kept as data so that both backends
// give the same hint for the same failure.
function hintFor(code: string, op: string, args: VfioErrorArgs): string | undefined {
  // UNMAP_DMA contains MAP_DMA: unmaps are never "mapping" for the hints.
  const unmapping = op.includes('UNMAP');
  const mapping = !unmapping && (op.includes('MAP_DMA') || op.includes('plan'));
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      // Linux 6.x refuses a group whose devices are not all owned by vfio (iommu_group_claim_dma_owner).
      if (op.includes('SET_CONTAINER')) return 'group not viable: bind every device of the group to vfio-pci (or unbind it)';
      if (code === 'EACCES' && op.includes('DIRTY')) return 'dirty tracking needs a TYPE1v2 container';
      return op.startsWith('open')
        ? 'not permitted: run as root, or give this user access to the /dev/vfio node'
        : 'not permitted: this needs CAP_SYS_RAWIO/root or a device node you own';
    case 'ENOENT':
      return op.startsWith('open')
        ? 'no such node: is vfio loaded (modprobe vfio-pci) and the device bound to vfio-pci?'
        : undefined;
    case 'EBUSY':
      return op.includes('GROUP') || op.includes('group')
        ? 'group in use: another process or container holds it, or its devices are still open'
        : 'busy: the object is still in use';
    case 'EEXIST':
      return 'IOVA range overlaps an existing mapping';
    case 'EINVAL':
      if (mapping) {
        return 'IOVA, vaddr and size must be aligned to the smallest IOMMU page size, size non-zero, '
          + 'the range must not wrap and must lie inside the IOVA ranges GET_INFO reports';
      }
      if (unmapping) return 'unmap must cover whole mappings (TYPE1v2) and be page aligned';
      if (op.includes('SET_CONTAINER')) return 'the group is already in a container';
      if (op.includes('SET_IOMMU')) return 'attach a group to the container before choosing the IOMMU type';
      return undefined;
    case 'ENOMEM':
      return mapping
        ? 'locked-memory limit reached: raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK'
        : 'out of memory (for hugetlb: reserve pages in /proc/sys/vm/nr_hugepages)';
    case 'ENOSPC':
      return 'DMA entry limit reached (vfio_iommu_type1 dma_entry_limit): coalesce mappings or raise the limit';
    case 'E2BIG':
      return 'dirty bitmap larger than the maximum GET_INFO reports: ask for a smaller range';
    case 'ENODEV':
    case 'ENXIO':
      return 'no such device or group here';
    case 'ENOTTY':
      return 'ioctl not supported by this kernel or this object';
    default:
      void args;
      return undefined;
  }
}
