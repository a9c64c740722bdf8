// The overhead suite's targets compare figures of the same round (lib/bench/overhead.ts targetsOf): this
// machine's speed changes in steps, and figures taken in different stretches compared unlike with unlike.
import { describe, expect, it } from 'vitest';
import { targetsOf, type OverheadFigureId } from '../../lib/bench/overhead.js';

// Three rounds; the second round's C loop ran in a fast stretch, its map() in a slow one.
const ROUNDS: Partial<Record<OverheadFigureId, number[]>> = {
  syscall: [300, 310, 460],
  'syscall-timed-wall': [330, 340, 490],
  map: [500, 660, 670],
  'planned-1': [1000, 1650, 1340],
  'plan-512-js': [340, 520, 500],
};

describe('overhead targets, judged round by round', () => {
  const t = targetsOf((id, r) => ROUNDS[id]![r]!, 3);
  const value = (id: string) => t.find((x) => x.id === id)!.value;

  it('each target is the median of its per-round comparisons, not a comparison of medians', () => {
    // Per round: map - syscall = 200, 350, 210 -> 210 (medians compared: 660 - 310 = 350).
    expect(value('map-vs-syscall')).toBe(210);
    // planned / map = 2, 2.5, 2 -> 2.
    expect(value('planned-vs-map')).toBe(2);
    // plan - syscall = 40, 210, 40 -> 40; plan - timed loop = 10, 180, 10 -> 10.
    expect(value('plan-512-vs-loop')).toBe(40);
    expect(value('plan-512-vs-timed-loop')).toBe(10);
  });

  it('met is the value against the limit', () => {
    expect(t.map((x) => [x.id, x.met])).toEqual([
      ['map-vs-syscall', true], ['planned-vs-map', false], ['plan-512-vs-loop', true], ['plan-512-vs-timed-loop', true],
    ]);
  });
});
