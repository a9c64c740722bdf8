// VFIO_IOMMU_GET_INFO's reply, parsed in TS from the raw bytes the addon
// returns (struct vfio_iommu_type1_info followed by its capability chain,
// include/uapi/linux/vfio.h). The chain comes from the kernel, but we still
// walk it defensively: every capability must lie inside the reply, and each
// `next` must move strictly forward, which also rules out cycles. A chain that
// breaks those rules throws VfioError EINVAL (op VFIO_IOMMU_GET_INFO) whose
// hint says what was wrong; unknown capability ids are skipped.
import type { IommuInfo, IovaRange, MigrationCap } from '../backend.js';
import { U64_MAX } from '../seam/args.js';
import { Errno, VfioError } from '../errors.js';

export const INFO_FLAG_PGSIZES = 1;
export const INFO_FLAG_CAPS = 2;
export const CAP_IOVA_RANGE = 1;
export const CAP_MIGRATION = 2;
export const CAP_DMA_AVAIL = 3;

/** offsetofend(struct vfio_iommu_type1_info, cap_offset): what the kernel always fills. */
export const INFO_MIN_SIZE = 20;
/** sizeof(struct vfio_iommu_type1_info), where the kernel places the first capability. */
export const INFO_SIZE = 24;
export const CAP_HEADER_SIZE = 8;
const IOVA_RANGE_FIXED = 16; // header, nr_iovas, reserved
const IOVA_RANGE_ENTRY = 16; // {start, end}
const MIGRATION_SIZE = 32; // header, flags, pad, pgsize_bitmap, max_dirty_bitmap_size
const DMA_AVAIL_SIZE = 12; // header, avail


function malformed(why: string, args: Record<string, unknown>): VfioError {
  return new VfioError(Errno.EINVAL, 'VFIO_IOMMU_GET_INFO', args, `malformed capability chain: ${why}`);
}

export function parseIommuInfo(raw: ArrayBuffer | Uint8Array): IommuInfo {
  const view = raw instanceof Uint8Array
    ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    : new DataView(raw);
  if (view.byteLength < INFO_MIN_SIZE) throw malformed('reply shorter than the fixed header', { length: view.byteLength });
  const argsz = view.getUint32(0, true);
  const flags = view.getUint32(4, true);
  const pageSizes = view.getBigUint64(8, true);
  const capOffset = view.getUint32(16, true);
  // The kernel writes no further than the argsz we passed, and we hold no more than byteLength.
  const end = Math.min(argsz, view.byteLength);

  let ranges: IovaRange[] | null = null;
  let migration: MigrationCap | null = null;
  let dmaAvail: number | null = null;

  let off = (flags & INFO_FLAG_CAPS) !== 0 ? capOffset : 0;
  if (off !== 0 && off < INFO_MIN_SIZE) throw malformed('first capability overlaps the fixed header', { offset: off });
  while (off !== 0) {
    const need = (size: number, what: string): void => {
      if (off + size > end) throw malformed(`${what} runs past the end of the reply`, { offset: off, length: end });
    };
    need(CAP_HEADER_SIZE, 'capability header');
    const id = view.getUint16(off, true);
    const next = view.getUint32(off + 4, true);
    switch (id) {
      case CAP_IOVA_RANGE: {
        need(IOVA_RANGE_FIXED, 'IOVA range capability');
        const n = view.getUint32(off + 8, true);
        need(IOVA_RANGE_FIXED + n * IOVA_RANGE_ENTRY, `IOVA range capability (${n} ranges)`);
        if (ranges === null) {
          ranges = [];
          for (let i = 0; i < n; i++) {
            const at = off + IOVA_RANGE_FIXED + i * IOVA_RANGE_ENTRY;
            const start = view.getBigUint64(at, true);
            const last = view.getBigUint64(at + 8, true);
            if (start > last) throw malformed(`IOVA range ${i} ends before it starts`, { offset: at });
            ranges.push({ start, last });
          }
        }
        break;
      }
      case CAP_MIGRATION:
        need(MIGRATION_SIZE, 'migration capability');
        migration ??= {
          flags: view.getUint32(off + 8, true),
          pageSizes: view.getBigUint64(off + 16, true),
          maxDirtyBitmapSize: view.getBigUint64(off + 24, true),
        };
        break;
      case CAP_DMA_AVAIL:
        need(DMA_AVAIL_SIZE, 'DMA available capability');
        dmaAvail ??= view.getUint32(off + 8, true);
        break;
      default:
        break; // a capability this version does not know
    }
    if (next !== 0 && next < off + CAP_HEADER_SIZE) {
      throw malformed(`next (${next}) does not move forward from ${off}`, { offset: off, next });
    }
    off = next;
  }

  const sorted = ranges === null ? [{ start: 0n, last: U64_MAX }] : [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.last) throw malformed('IOVA ranges overlap', { range: i });
  }
  return { pageSizes, ranges: sorted, dmaAvail, migration };
}
