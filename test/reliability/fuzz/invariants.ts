// What must hold for any backend, whatever the sequence: the checks the fuzzer
// makes where it has only one backend to run (outside the HIL lane), and on
// both backends inside it. Each is a property of the API's contract, not of
// the model: a refused call changes nothing, a mapping charges exactly its
// size, an unmap gives back exactly what it reports, closing leaks nothing.
import { PAGE, type FdSequence, type Op, type Sequence } from './ops.js';
import type { Outcome, SequenceRun } from './execute.js';

function planBytes(op: Extract<Op, { op: 'runPlan' }>, completed: number): bigint {
  return op.items.slice(0, completed).reduce((s, it) => s + it.size, 0n);
}

const TOP = 1n << 64n;

/**
 * Bytes of this op's successful maps that end exactly at 2^64: Linux 6.12's
 * type1 can never uncharge them (vfio_unmap_unpin() and
 * vfio_find_dma_first_node() compare against dma->iova + dma->size, which
 * wraps to 0), so they stay charged past every unmap and the close. Only a
 * 64-bit aperture (AMD-Vi) lets one be made; the IOVA allocator never does.
 */
function stuckBytes(op: Op, o: Outcome): bigint {
  if (o.kind !== 'ok') return 0n;
  if (op.op === 'map') return op.iova + op.size === TOP ? op.size : 0n;
  if (op.op === 'runPlan' && op.kind === 'map') {
    return op.items.slice(0, o.plan!.completed).reduce((s, it) => s + (it.iova + it.size === TOP ? it.size : 0n), 0n);
  }
  return 0n;
}

/** Violations, each naming the operation index; empty when the run is sound. */
export function checkInvariants(seq: Sequence, run: SequenceRun): string[] {
  if (seq.type === 'iommufd') return checkFdInvariants(seq, run);
  const bad: string[] = [];
  let prev: { locked: bigint; avail: number | null } = { locked: 0n, avail: seq.entryLimit };
  // What the kernel can no longer give back (stuckBytes): what "nothing left" means from then on.
  let stuck = 0n;
  seq.ops.forEach((op, i) => {
    const o: Outcome = run.outcomes[i]!;
    const say = (what: string) => bad.push(`op ${i} (${op.op}): ${what}`);
    const dLocked = o.locked - prev.locked;
    const dAvail = o.avail !== null && prev.avail !== null ? o.avail - prev.avail : 0;
    if (o.kind === 'CRASH') say(`threw something that is not a VfioError, TypeError or RangeError: ${o.detail}`);
    if (o.kind !== 'ok' && (dLocked !== 0n || dAvail !== 0)) {
      say(`refused (${o.kind} ${o.detail}) but changed state: locked ${dLocked}, avail ${dAvail}`);
    }
    if (o.avail !== null && (o.avail < 0 || o.avail > seq.entryLimit)) say(`dma_avail ${o.avail} outside [0, ${seq.entryLimit}]`);
    if (o.locked < 0n) say(`locked fell below where it started (${o.locked})`);
    const stuckBefore = stuck;
    stuck += stuckBytes(op, o);
    if (o.kind === 'ok') {
      switch (op.op) {
        case 'map':
          if (dLocked !== op.size) say(`mapped ${op.size} bytes but locked changed by ${dLocked}`);
          if (dAvail !== -1) say(`mapped one entry but dma_avail changed by ${dAvail}`);
          break;
        case 'unmap':
        case 'unmapAll':
        case 'unmapWithDirty':
          // A stuck mapping the walk reaches is counted as unmapped but stays charged.
          if (dLocked !== -o.unmapped! && !(stuckBefore > 0n && dLocked <= 0n && -dLocked >= o.unmapped! - stuckBefore)) {
            say(`unmapped ${o.unmapped} bytes but locked changed by ${dLocked}`);
          }
          if (dAvail < 0) say(`an unmap used up DMA entries (${dAvail})`);
          if (op.op === 'unmapAll' && (o.locked !== stuck || (stuck === 0n && o.avail !== seq.entryLimit))) {
            say(`after UNMAP_ALL locked is ${o.locked} and dma_avail ${o.avail}, not ${stuck} and ${seq.entryLimit}`);
          }
          if (op.op === 'unmapWithDirty') checkBitmap(op.size, op.pgsize, o.bits!, say);
          if (op.op === 'unmap' && (o.unmapped! < 0n || (op.size !== 0n && o.unmapped! % PAGE !== 0n))) {
            say(`unmapped ${o.unmapped} is not whole pages`);
          }
          break;
        case 'dirtyStart':
        case 'dirtyStop':
        case 'dirtyGet':
          if (dLocked !== 0n || dAvail !== 0) say(`dirty tracking changed the mappings: locked ${dLocked}, avail ${dAvail}`);
          if (op.op === 'dirtyGet') checkBitmap(op.size, op.pgsize, o.bits!, say);
          break;
        case 'runPlan': {
          const p = o.plan!;
          const n = op.items.length;
          const expectCompleted = p.failedIndex < 0 ? n : p.failedIndex;
          if (p.completed !== expectCompleted) say(`completed ${p.completed} of ${n} with failedIndex ${p.failedIndex}`);
          if ((p.failedIndex < 0) !== (p.errno === 0)) say(`failedIndex ${p.failedIndex} with errno ${p.errno}`);
          if (p.timings !== p.completed + (p.failedIndex < 0 ? 0 : 1)) say(`${p.timings} timings for ${p.completed} completed entries`);
          if (op.kind === 'map') {
            if (dLocked !== planBytes(op, p.completed)) say(`map plan locked ${dLocked}, entries mapped ${planBytes(op, p.completed)}`);
            if (dAvail !== -p.completed) say(`map plan completed ${p.completed} but dma_avail changed by ${dAvail}`);
            if (p.unmapped !== 0n) say(`a map plan reported ${p.unmapped} bytes unmapped`);
          } else if (dLocked !== -p.unmapped) {
            say(`unmap plan reported ${p.unmapped} bytes but locked changed by ${dLocked}`);
          }
          break;
        }
        case 'misuse':
          say(`accepted a call with arguments of the wrong type or range (${op.what})`);
          break;
        case 'detach':
          // The last group left: the IOMMU went, and with it every mapping and pin.
          if (o.locked !== stuck) say(`the last group left but ${o.locked} bytes are still locked`);
          if (o.avail !== null) say('the last group left but GET_INFO still answers');
          break;
        case 'reattach':
          if (dLocked !== 0n) say(`joining a group changed locked memory by ${dLocked}`);
          if (o.avail !== seq.entryLimit) say(`a fresh IOMMU reports dma_avail ${o.avail}, not ${seq.entryLimit}`);
          break;
      }
    }
    prev = { locked: o.locked, avail: o.avail };
  });
  if (run.lockedAfterClose !== stuck) bad.push(`close: ${run.lockedAfterClose} bytes still locked after the container closed`);
  return bad;
}

/**
 * A dirty bitmap is whole u64 words covering the range. (Not "no more bits than
 * mapped pages": vfio_iommu_type1 shifts each mapping's bitmap in place, and
 * bits shifted past a mapping show up again in later reports. Reporting a clean
 * page dirty is allowed; the HIL differential run checks the exact bits.)
 */
function checkBitmap(size: bigint, pgsize: bigint, bits: BigUint64Array, say: (w: string) => void): void {
  const pages = size / pgsize;
  const words = (pages + 63n) / 64n;
  if (BigInt(bits.length) !== words) say(`bitmap has ${bits.length} words for ${pages} pages`);
}

/** Pages of user memory [vaddr, vaddr + size) spans (what one IOAS_MAP pins once a domain is filled). */
function pagesSpanned(vaddr: bigint, size: bigint): bigint {
  const first = vaddr & ~(PAGE - 1n);
  return (vaddr + size - first + PAGE - 1n) / PAGE;
}

/**
 * What iopt_alloc_iova (6.12) promises of an IOVA it chooses: it aligns to
 * min(roundup_pow_of_two(length), the lowest set bit of the user address) and
 * ORs in the address's offset in its page. So the IOVA is aligned to that and
 * holds the offset's bits, and equals the offset modulo a page only when that
 * alignment reaches a page: 0x800 bytes from a page-aligned address may land at
 * IOVA 0x1800 (seen on 6.12.117, fuzz seed 445930585). `offset` is the address's
 * page offset (the fuzz's addresses: 0 or 0x800, their lowest bit a page or 0x800).
 */
function keepsOffset(iova: bigint, length: bigint, offset: bigint): boolean {
  let align = 1n;
  while (align < length) align <<= 1n;
  const lowest = offset === 0n ? PAGE : offset;
  if (lowest < align) align = lowest;
  return iova % align === 0n && ((iova % PAGE) & offset) === offset && (align < PAGE || iova % PAGE === offset);
}

/**
 * iommufd: pins exist only while the device's domain is attached to an IOAS
 * (iopt_fill_domain), so with no device "locked" never moves; a refused call
 * changes nothing (but an unmap that stops with ENOENT keeps what it removed:
 * iopt_unmap_iova_range); unmaps never pin; an unmap-all of the attached IOAS,
 * a detach and the close leave nothing pinned; a map into the attached IOAS
 * pins exactly the pages it spans (each MAP is its own iopt_pages).
 */
function checkFdInvariants(seq: FdSequence, run: SequenceRun): string[] {
  const bad: string[] = [];
  let prev = 0n;
  let attached: number | null = seq.device ? 0 : null;
  const U64_MAX = (1n << 64n) - 1n;
  seq.ops.forEach((op, i) => {
    const o: Outcome = run.outcomes[i]!;
    const say = (what: string) => bad.push(`op ${i} (${op.op}): ${what}`);
    const d = o.locked - prev;
    if (o.kind === 'CRASH') say(`threw something that is not a VfioError, TypeError or RangeError: ${o.detail}`);
    if (o.locked < 0n) say(`locked fell below where it started (${o.locked})`);
    if (!seq.device && o.locked !== 0n) say(`nothing can pin without a device, yet locked is ${o.locked}`);
    if (o.kind !== 'ok' && d !== 0n && !(op.op === 'fdUnmap' && o.detail.startsWith('ENOENT') && d < 0n)) {
      say(`refused (${o.kind} ${o.detail}) but changed locked memory by ${d}`);
    }
    if (o.kind === 'ok') {
      switch (op.op) {
        case 'fdMap': {
          const want = attached === op.ioas ? pagesSpanned(0n, op.size) * PAGE : 0n;
          // The buffer's pages are page aligned (va 'buf'); a misaligned user address is refused under a domain.
          if (op.va.kind === 'buf' && d !== want) say(`mapped ${op.size} bytes ${attached === op.ioas ? 'under the domain' : 'with no domain'} but locked changed by ${d}, not ${want}`);
          if (op.iova === null) {
            const iova = BigInt(o.detail.replace(/^iova /, ''));
            if (iova === 0n) say('the kernel chose IOVA 0 (iopt_alloc_iova never does)');
            if (!keepsOffset(iova, op.size, op.va.kind === 'bufOdd' ? 0x800n : 0n)) {
              say(`the chosen IOVA 0x${iova.toString(16)} does not keep the user address's page offset as iopt_alloc_iova does`);
            }
          }
          break;
        }
        case 'fdUnmap':
          if (d > 0n) say(`an unmap pinned ${d} bytes`);
          if (attached !== op.ioas && d !== 0n) say(`an unmap of an IOAS with no domain changed locked by ${d}`);
          if (op.iova === 0n && op.size === U64_MAX && attached === op.ioas && o.locked !== 0n) {
            say(`after unmap-all of the attached IOAS ${o.locked} bytes are still pinned`);
          }
          if (o.unmapped! === 0n && !(op.iova === 0n && op.size === U64_MAX)) say('an unmap succeeded with 0 bytes (iommufd says ENOENT)');
          break;
        case 'fdCopy':
          if (attached !== op.dst && d !== 0n) say(`a copy into an IOAS with no domain changed locked by ${d}`);
          break;
        case 'fdAllow':
        case 'fdRanges':
          if (d !== 0n) say(`changed locked memory by ${d}`);
          if (op.op === 'fdRanges') {
            const m = /^align (0x[0-9a-f]+)/.exec(o.detail);
            const align = m ? BigInt(m[1]!) : -1n;
            const want = attached === op.ioas ? PAGE : 1n;
            if (align !== want) say(`IOVA alignment ${align}, not ${want} (${attached === op.ioas ? 'a domain' : 'no domain'})`);
          }
          break;
        case 'fdAttach':
          attached = op.ioas;
          break;
        case 'fdDetach':
          attached = null;
          if (o.locked !== 0n) say(`the device left but ${o.locked} bytes are still pinned`);
          break;
        case 'fdPlan': {
          const p = o.plan!;
          const n = op.items.length;
          const expectCompleted = p.failedIndex < 0 ? n : p.failedIndex;
          if (p.completed !== expectCompleted) say(`completed ${p.completed} of ${n} with failedIndex ${p.failedIndex}`);
          if ((p.failedIndex < 0) !== (p.errno === 0)) say(`failedIndex ${p.failedIndex} with errno ${p.errno}`);
          if (op.kind === 'map' && attached !== op.ioas && d !== 0n) say(`a map plan with no domain changed locked by ${d}`);
          if (op.kind === 'unmap' && d > 0n) say(`an unmap plan pinned ${d} bytes`);
          break;
        }
        default:
          say('a container operation in an iommufd sequence');
      }
    }
    prev = o.locked;
  });
  if (run.lockedAfterClose !== 0n) bad.push(`close: ${run.lockedAfterClose} bytes still pinned after the IOASes closed`);
  return bad;
}
