// Which cells each suite runs. The matrix is the kernel thread's table; the
// other suites answer the reviewer's "what do real workloads see?".
import type { Backing } from '../backend.js';
import { BACKINGS, STRATEGIES, type CellOp, type PatternName, type Strategy, type SuiteName } from './schema.js';

export interface CellSpec {
  suite: SuiteName;
  op: CellOp;
  pattern: PatternName;
  size: bigint;
  backing: Backing;
  strategy: Strategy | null;
  /** Repetitions cap for cells big enough that the default count would take minutes. */
  maxReps?: number;
}

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;

export const MATRIX_SIZES = [4n * KiB, 2n * MiB]; // 1 page, 512 pages
export const PATTERN_SIZE = 64n * MiB;
export const DIRTY_SIZES = [2n * MiB, 64n * MiB, 1n * GiB];

/** Powers of two from one page to 1 GiB. */
export const SCALING_SIZES: bigint[] = Array.from({ length: 19 }, (_, i) => 4n * KiB << BigInt(i));

/** Big cells: a few repetitions already cost seconds on real hardware. */
function repCap(size: bigint): number | undefined {
  if (size >= 256n * MiB) return 3;
  if (size >= 16n * MiB) return 10;
  return undefined;
}

function grid(suite: SuiteName, op: CellOp, pattern: PatternName, sizes: bigint[]): CellSpec[] {
  const out: CellSpec[] = [];
  for (const size of sizes) {
    for (const backing of BACKINGS) {
      for (const strategy of STRATEGIES) {
        const maxReps = repCap(size);
        out.push({ suite, op, pattern, size, backing, strategy, ...(maxReps ? { maxReps } : {}) });
      }
    }
  }
  return out;
}

export function cellsFor(suite: SuiteName): CellSpec[] {
  switch (suite) {
    case 'matrix':
      return grid('matrix', 'map', 'contiguous', MATRIX_SIZES);
    case 'scaling':
      return grid('scaling', 'map', 'contiguous', SCALING_SIZES);
    case 'patterns':
      return (['pool', 'strided', 'scatter', 'vm-map'] as const).flatMap((p) => grid('patterns', 'map', p, [PATTERN_SIZE]));
    case 'unmap':
      return grid('unmap', 'unmap', 'contiguous', [...MATRIX_SIZES, PATTERN_SIZE]);
    case 'dirty':
      return DIRTY_SIZES.flatMap((size) => BACKINGS.map((backing): CellSpec => {
        const maxReps = repCap(size);
        return { suite: 'dirty', op: 'dirty', pattern: 'contiguous', size, backing, strategy: null, ...(maxReps ? { maxReps } : {}) };
      }));
  }
}

export function formatSize(bytes: bigint | number): string {
  const b = BigInt(bytes);
  if (b === 4096n) return '1 page';
  if (b >= GiB && b % GiB === 0n) return `${b / GiB} GiB`;
  if (b >= MiB && b % MiB === 0n) return `${b / MiB} MiB`;
  if (b >= KiB && b % KiB === 0n) return `${b / KiB} KiB`;
  return `${b} B`;
}

/** Any byte count, to one decimal in the largest unit that keeps it >= 1 (notes: memory budgets, free pools). */
export function formatBytes(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(bytes);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

export function pagesLabel(bytes: number): string {
  const pages = bytes / 4096;
  return pages === 1 ? '1 page' : `${pages} pages`;
}
