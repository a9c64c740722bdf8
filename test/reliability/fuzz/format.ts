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
    default:
      return op.op;
  }
}

export function formatSequence(seq: Sequence, annotate?: (i: number) => string): string {
  const head = `container ${seq.type}, dma_entry_limit ${seq.entryLimit}`;
  return [head, ...seq.ops.map((op, i) => `  ${String(i).padStart(2)}: ${formatOp(op)}${annotate ? `  => ${annotate(i)}` : ''}`)].join('\n');
}
