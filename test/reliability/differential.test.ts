// Differential fuzzing. Seeded random sequences of map, unmap (whole, partial,
// spanning), UNMAP_ALL, dirty tracking and plans, with good and bad arguments:
// - always: on the sim, checking the invariants every backend must keep and
//   that a sequence run twice gives the same outcomes;
// - in the HIL lane: on the real kernel and on a sim set up like it, in this
//   one process, every outcome (value or errno, bytes locked, DMA entries
//   left) compared operation by operation. The kernel is right by definition.
// FUZZ_SEED replays a run; FUZZ_SEQUENCES sets how many sequences.
import { describe, expect, it } from 'vitest';
import { onVfioHost, SKIP_REASON } from '../hil/lane.js';
import { differential, solo, type CampaignResult } from './fuzz/campaign.js';
import { generateSequences } from './fuzz/ops.js';
import { fuzzCount, fuzzSeed, Rng } from './fuzz/rng.js';
import { knownSimBugs } from './fuzz/known.js';
import { nativeTarget, probeIommu, simLike, simTarget } from './fuzz/targets.js';
import { scaled } from '../long.js';

const seed = fuzzSeed();
const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];

function report(label: string, r: CampaignResult): void {
  console.log(`[fuzz] ${label}: seed ${seed} (FUZZ_SEED=${seed} replays), ${r.sequences} sequences, ${r.ops} operations, `
    + `${r.findings.length} finding(s)${r.known.size ? `, known bugs: ${[...r.known].map(([k, n]) => `${k} in ${n} sequence(s)`).join('; ')}` : ''}`);
  for (const f of r.findings) console.log(`[fuzz] ${f.signature} (sequence ${f.sequence}, shrunk to ${f.length} ops):\n${f.report}`);
}

describe('differential fuzzing: sim alone (invariants, determinism)', () => {
  it(`keeps every invariant over FUZZ_SEQUENCES sequences (seed ${seed})`, () => {
    // 1,000 sequences under test:long (and in the lane), 150 in npm test; FUZZ_SEQUENCES overrides both.
    const sequences = generateSequences(new Rng(seed), fuzzCount('FUZZ_SEQUENCES', scaled(1000, 150)));
    const r = solo(simTarget(), sequences);
    report('sim invariants', r);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.findings.map((f) => `${f.signature}\n${f.report}`)).toEqual([]);
  }, 120_000);
});

const hil = onVfioHost && Boolean(group && device);
describe.skipIf(!hil)(`differential fuzzing: real kernel vs sim${hil ? ` (group ${group})` : ` (skipped: ${SKIP_REASON})`}`, () => {
  it(`gives the kernel's outcome for every operation (seed ${seed})`, () => {
    const kernel = nativeTarget(Number(group));
    const info = probeIommu(kernel.backend, Number(group));
    console.log(`[fuzz] kernel IOMMU: page sizes 0x${info.pageSizes.toString(16)}, ranges ${info.ranges
      .map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(' ')}, dma_avail ${info.dmaAvail}`);
    const sim = simLike(info, Number(group), device!);
    const sequences = generateSequences(new Rng(seed), fuzzCount('FUZZ_SEQUENCES', 500));
    const r = differential(kernel, sim, sequences, 8, knownSimBugs);
    report('kernel vs sim', r);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.findings.map((f) => `${f.signature}\n${f.report}`)).toEqual([]);
  }, 600_000);

  it('keeps every invariant on the real kernel too', () => {
    const kernel = nativeTarget(Number(group));
    const sequences = generateSequences(new Rng(seed ^ 0x5eed), fuzzCount('FUZZ_SEQUENCES', 500) >> 1);
    const r = solo(kernel, sequences);
    report('kernel invariants', r);
    expect(r.findings.map((f) => `${f.signature}\n${f.report}`)).toEqual([]);
  }, 600_000);
});
