// Differential fuzzing. Seeded random sequences, with good and bad arguments,
// on both of the kernel's interfaces:
// - type1: map, unmap (whole, partial, spanning), UNMAP_ALL, dirty tracking,
//   plans, group detach;
// - iommufd: IOAS_MAP at a fixed IOVA and at one the kernel chooses, IOAS_UNMAP
//   (whole, partial, spanning, unmap-all), IOAS_COPY between two IOASes,
//   ALLOW_IOVAS, IOVA_RANGES, plans, the device attached / detached.
// Always: on the sim, checking the invariants every backend must keep and
// that a sequence run twice gives the same outcomes. In the HIL lane: on the
// real kernel and on a sim set up like it, in this one process, every outcome
// (value or errno, the IOVA chosen, bytes unmapped, bytes locked or pinned,
// DMA entries left) compared operation by operation. The kernel is right by
// definition. FUZZ_SEED replays a run; FUZZ_SEQUENCES sets how many type1
// sequences, FUZZ_FD_SEQUENCES how many iommufd ones.
import { existsSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { onVfioHost, SKIP_REASON } from '../hil/lane.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { differential, solo, type CampaignResult } from './fuzz/campaign.js';
import { generateFdSequences, generateSequences, type Sequence } from './fuzz/ops.js';
import { fuzzCount, fuzzSeed, Rng } from './fuzz/rng.js';
import { knownSimBugs } from './fuzz/known.js';
import { nativeTarget, probeIommu, simLike, simTarget } from './fuzz/targets.js';
import { scaled } from '../long.js';

const seed = fuzzSeed();
// The iommufd sequences come from their own stream, so the type1 ones of a seed are what they always were.
const fdSeed = (seed ^ 0xfd) >>> 0;
const group = process.env['VFIO_TEST_GROUP'];
const device = process.env['VFIO_TEST_DEVICE'];
const hil = onVfioHost && Boolean(group && device);

function report(label: string, r: CampaignResult): void {
  console.log(`[fuzz] ${label}: seed ${seed} (FUZZ_SEED=${seed} replays), ${r.sequences} sequences, ${r.ops} operations, `
    + `${r.findings.length} finding(s)${r.known.size ? `, known bugs: ${[...r.known].map(([k, n]) => `${k} in ${n} sequence(s)`).join('; ')}` : ''}`);
  for (const f of r.findings) console.log(`[fuzz] ${f.signature} (sequence ${f.sequence}, shrunk to ${f.length} ops):\n${f.report}`);
}

const findings = (r: CampaignResult) => r.findings.map((f) => `${f.signature}\n${f.report}`);

// Sim alone: 1,000 + 1,000 sequences under test:long, 150 + 100 in npm test; in the lane, where the
// kernel campaigns below run, the npm test sample. FUZZ_SEQUENCES / FUZZ_FD_SEQUENCES override all of these.
const soloType1 = fuzzCount('FUZZ_SEQUENCES', hil ? 150 : scaled(1000, 150));
const soloFd = fuzzCount('FUZZ_FD_SEQUENCES', hil ? 100 : scaled(1000, 100));

describe('differential fuzzing: sim alone (invariants, determinism)', () => {
  it(`keeps every invariant over ${soloType1} type1 sequences (seed ${seed})`, () => {
    const r = solo(simTarget(), generateSequences(new Rng(seed), soloType1));
    report('sim invariants, type1', r);
    expect(r.ops).toBeGreaterThan(0);
    expect(findings(r)).toEqual([]);
  }, 120_000);

  it(`keeps every invariant over ${soloFd} iommufd sequences (seed ${seed})`, () => {
    const r = solo(simTarget(), generateFdSequences(new Rng(fdSeed), soloFd, 'mixed'));
    report('sim invariants, iommufd', r);
    expect(r.ops).toBeGreaterThan(0);
    expect(findings(r)).toEqual([]);
  }, 120_000);
});

// The kernel: 1,000 type1 + 1,000 iommufd sequences per lane run (iommufd where the kernel has /dev/iommu,
// three in four of them with the test device's cdev attached where it has one).
const cdev = hil ? eduCdev() : null;
const cdevName = typeof cdev === 'string' ? cdev : null;
const noFd = !hil ? SKIP_REASON
  : !existsSync('/dev/iommu') ? `no /dev/iommu: this kernel (${process.env['VFIO_HIL_KERNEL'] ?? 'host'}) has no iommufd`
  : null;

if (hil && noFd !== null) console.log(`[fuzz] kernel vs sim, iommufd: skipped (${noFd}); type1 runs alone`);

describe.skipIf(!hil)(`differential fuzzing: real kernel vs sim${hil ? ` (group ${group})` : ` (skipped: ${SKIP_REASON})`}`, () => {
  const setUp = () => {
    const kernel = nativeTarget(Number(group), cdevName);
    const info = probeIommu(kernel.backend, Number(group));
    console.log(`[fuzz] kernel IOMMU: page sizes 0x${info.pageSizes.toString(16)}, ranges ${info.ranges
      .map((r) => `0x${r.start.toString(16)}-0x${r.last.toString(16)}`).join(' ')}, dma_avail ${info.dmaAvail}`);
    return { kernel, sim: simLike(info, Number(group), device!) };
  };
  const run = (label: string, sequences: Sequence[]) => {
    const { kernel, sim } = setUp();
    const t0 = performance.now();
    // Straight to fd 1: the campaign never yields to the event loop, so vitest's console would hold these until the end.
    const r = differential(kernel, sim, sequences, 8, knownSimBugs, (done, ops, found) => writeSync(1,
      `[fuzz] kernel vs sim, ${label}: ${done} of ${sequences.length} sequences, ${ops} operations, ${found} finding(s) so far, `
      + `${((performance.now() - t0) / 1000).toFixed(1)} s\n`));
    report(`kernel vs sim, ${label} (${((performance.now() - t0) / 1000).toFixed(1)} s)`, r);
    expect(r.ops).toBeGreaterThan(0);
    expect(findings(r)).toEqual([]);
  };

  // A second per sequence at most (the lane's TCG on a loaded 2-core host: ~0.06-0.25 s), so long runs get their time.
  const timeout = (n: number) => Math.max(900_000, n * 1000);
  // 1,000 + 1,000 where both interfaces run (the built kernel); 500 type1 on a
  // kernel without /dev/iommu (Debian's), which the built boot's 1,000 cover too.
  const type1Count = fuzzCount('FUZZ_SEQUENCES', noFd === null ? 1000 : 500);
  const fdCount = fuzzCount('FUZZ_FD_SEQUENCES', 1000);

  it.skipIf(noFd !== null)(`iommufd: gives the kernel's outcome for every operation (seed ${seed}; ${noFd ?? (cdevName
    ? `device ${cdevName} attached in 3 of 4 sequences` : `no device cdev: ${(cdev as { none: string } | null)?.none}`)})`, () => {
    run(`iommufd${cdevName ? '' : ' (no device)'}`,
      generateFdSequences(new Rng(fdSeed), fdCount, cdevName ? 'mixed' : false));
  }, timeout(fdCount));

  it(`type1: gives the kernel's outcome for every operation (seed ${seed})`, () => {
    run('type1', generateSequences(new Rng(seed), type1Count));
  }, timeout(type1Count));

  it('keeps every invariant on the real kernel too', () => {
    const kernel = nativeTarget(Number(group), cdevName);
    const t1 = generateSequences(new Rng(seed ^ 0x5eed), type1Count >> 3);
    const r = solo(kernel, t1);
    report('kernel invariants, type1', r);
    const out = findings(r);
    if (noFd === null) {
      const f = solo(kernel, generateFdSequences(new Rng(fdSeed ^ 0x5eed), fdCount >> 3,
        cdevName ? 'mixed' : false));
      report('kernel invariants, iommufd', f);
      out.push(...findings(f));
    } else {
      console.log(`[fuzz] kernel invariants, iommufd: skipped (${noFd})`);
    }
    expect(out).toEqual([]);
  }, timeout((type1Count + fdCount) >> 2));
});
