// Prints sequences and operations so that a failure can be read, and replayed
// by hand, without the generator.
import type { Op, PlanItem, Sequence, Va } from './ops.js';

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function va(v: Va): string {
  switch (v.kind) {
    case 'buf':
      return `buf+${hex(BigInt(v.page) * 0x1000n)}`;
    case 'bufOdd':
      return `buf+${hex(BigInt(v.page) * 0x1000n + 0x800n)}`;
    case 'unmapped':
      return 'vaddr 0x1000 (unmapped)';
    case 'wrap':
      return 'vaddr 2^64-0x1000';
  }
}

function item(it: PlanItem, withVa: boolean): string {
  return `${withVa ? `${va(it.va)} -> ` : ''}iova ${hex(it.iova)} size ${hex(it.size)}${withVa ? ` prot ${it.prot}` : ''}`;
}

export function formatOp(op: Op): string {
  switch (op.op) {
    case 'map':
      return `map ${item(op, true)}`;
    case 'unmap':
      return `unmap iova ${hex(op.iova)} size ${hex(op.size)}`;
    case 'unmapWithDirty':
    case 'dirtyGet':
      return `${op.op} iova ${hex(op.iova)} size ${hex(op.size)} pgsize ${hex(op.pgsize)}`;
    case 'runPlan':
      return `runPlan ${op.kind} [${op.items.map((it) => item(it, op.kind === 'map')).join('; ')}]`;
    case 'misuse':
      return `misuse ${op.what}`;
    case 'fdMap':
      return `ioas${op.ioas} map ${va(op.va)} -> ${op.iova === null ? 'iova (kernel chooses)' : `iova ${hex(op.iova)}`} size ${hex(op.size)} prot ${op.prot}`;
    case 'fdUnmap':
      return `ioas${op.ioas} unmap iova ${hex(op.iova)} size ${hex(op.size)}`;
    case 'fdCopy':
      return `ioas${op.dst} copy from ioas${op.src} iova ${hex(op.srcIova)} size ${hex(op.size)} -> `
        + `${op.dstIova === null ? 'iova (kernel chooses)' : `iova ${hex(op.dstIova)}`} prot ${op.prot}`;
    case 'fdAllow':
      return `ioas${op.ioas} allow_iovas [${op.ranges.map((r) => `${hex(r.start)}-${hex(r.last)}`).join(', ')}]`;
    case 'fdRanges':
      return `ioas${op.ioas} iova_ranges`;
    case 'fdAttach':
      return `device attach ioas${op.ioas}`;
    case 'fdDetach':
      return 'device detach';
    case 'fdPlan':
      return `ioas${op.ioas} runPlan ${op.kind} [${op.items.map((it) => item(it, op.kind === 'map')).join('; ')}]`;
    default:
      return op.op;
  }
}

export function formatSequence(seq: Sequence, annotate?: (i: number) => string): string {
  const head = seq.type === 'iommufd'
    ? `iommufd, two IOASes${seq.device ? ', the device attached to ioas0' : ', no device'}`
    : `container ${seq.type}, dma_entry_limit ${seq.entryLimit}`;
  return [head, ...seq.ops.map((op, i) => `  ${String(i).padStart(2)}: ${formatOp(op)}${annotate ? `  => ${annotate(i)}` : ''}`)].join('\n');
}
