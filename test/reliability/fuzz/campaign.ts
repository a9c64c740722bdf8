// A fuzzing campaign: runs generated sequences on one backend (checking the
// invariants) or on two (checking that every outcome matches), shrinks what
// fails, and counts what it ran.
import { checkInvariants } from './invariants.js';
import { FuzzBuffers, renderOutcome, runSequence, type FuzzTarget, type SequenceRun } from './execute.js';
import { formatSequence } from './format.js';
import type { Sequence } from './ops.js';
import { shrink } from './shrink.js';

export interface Finding {
  sequence: number;
  /** The shrunk sequence, printed with each side's outcomes. */
  report: string;
  /** Operations in the shrunk sequence. */
  length: number;
  /** A short description used to group findings: the operation and both outcomes' kinds. */
  signature: string;
}

export interface CampaignResult {
  sequences: number;
  ops: number;
  findings: Finding[];
  /** Sequences whose first difference is a known, reported bug: bug id -> how many. */
  known: Map<string, number>;
}

/** Names the reported bug a difference is, or null: (sequence, index of the differing op, outcome texts). */
export type KnownBug = (seq: Sequence, at: number, ref: string, other: string) => string | null;

const outcomeText = (run: SequenceRun, i: number): string =>
  i < run.outcomes.length ? renderOutcome(run.outcomes[i]!) : `close: locked +0x${run.lockedAfterClose.toString(16)}`;

/** Index of the first operation (or the close, at ops.length) whose records differ; -1 when they agree. */
export function firstDifference(seq: Sequence, a: SequenceRun, b: SequenceRun): number {
  for (let i = 0; i <= seq.ops.length; i++) if (outcomeText(a, i) !== outcomeText(b, i)) return i;
  return -1;
}

function opName(seq: Sequence, i: number): string {
  return i < seq.ops.length ? seq.ops[i]!.op : 'close';
}

/** The outcome without its figures: the errno for a plan, the kind and errno otherwise. */
function kindAt(run: SequenceRun, i: number): string {
  const t = outcomeText(run, i).split(' | ')[0]!;
  const plan = / errno (\d+) /.exec(t);
  if (t.startsWith('ok completed') && plan) return `ok, plan errno ${plan[1]}`;
  return t.replace(/ (0x[0-9a-f]+|\[).*$/, '');
}

/**
 * Runs `sequences` on `ref` and `other` and compares them; `progress` (if
 * given) is told every `every` sequences how far it got, so a long run that
 * is stopped still says what it covered.
 */
export function differential(ref: FuzzTarget, other: FuzzTarget, sequences: Sequence[], maxFindings = 5,
  isKnown: KnownBug = () => null, progress?: (done: number, ops: number, findings: number) => void, every = 1000): CampaignResult {
  const buffers = new FuzzBuffers();
  const findings: Finding[] = [];
  const known = new Map<string, number>();
  const seen = new Set<string>();
  let ops = 0;
  try {
    sequences.forEach((seq, n) => {
      const a = runSequence(ref, buffers, seq);
      const b = runSequence(other, buffers, seq);
      ops += seq.ops.length;
      if (progress && (n + 1) % every === 0 && n + 1 < sequences.length) progress(n + 1, ops, findings.length);
      const at = firstDifference(seq, a, b);
      if (at < 0) return;
      const bug = isKnown(seq, at, outcomeText(a, at), outcomeText(b, at));
      if (bug !== null) {
        known.set(bug, (known.get(bug) ?? 0) + 1);
        return;
      }
      const signature = `${opName(seq, at)}: ${ref.label} ${kindAt(a, at)} / ${other.label} ${kindAt(b, at)}`;
      if (seen.has(signature) || findings.length >= maxFindings) return;
      seen.add(signature);
      const fails = (s: Sequence): boolean => {
        const x = runSequence(ref, buffers, s);
        const y = runSequence(other, buffers, s);
        const i = firstDifference(s, x, y);
        return i >= 0 && `${opName(s, i)}: ${ref.label} ${kindAt(x, i)} / ${other.label} ${kindAt(y, i)}` === signature;
      };
      const small = shrink(seq, fails).seq;
      const x = runSequence(ref, buffers, small);
      const y = runSequence(other, buffers, small);
      const report = `${formatSequence(small, (i) => `${ref.label}: ${outcomeText(x, i)}  ${other.label}: ${outcomeText(y, i)}`)}\n`
        + `  close: ${ref.label}: ${outcomeText(x, small.ops.length)}  ${other.label}: ${outcomeText(y, small.ops.length)}`;
      findings.push({ sequence: n, report, length: small.ops.length, signature });
    });
  } finally {
    buffers.close();
  }
  return { sequences: sequences.length, ops, findings, known };
}

/** One backend: invariants on every run, and the same outcomes when a sequence is run twice. */
export function solo(target: FuzzTarget, sequences: Sequence[], maxFindings = 5): CampaignResult {
  const buffers = new FuzzBuffers();
  const findings: Finding[] = [];
  let ops = 0;
  try {
    sequences.forEach((seq, n) => {
      const run = runSequence(target, buffers, seq);
      ops += seq.ops.length;
      let bad = checkInvariants(seq, run);
      if (bad.length === 0) {
        const again = runSequence(target, buffers, seq);
        const at = firstDifference(seq, run, again);
        if (at >= 0) bad = [`op ${at}: not deterministic: ${outcomeText(run, at)} then ${outcomeText(again, at)}`];
      }
      if (bad.length === 0 || findings.length >= maxFindings) return;
      const signature = `${target.label}: ${bad[0]!.replace(/^op \d+ /, '')}`;
      const fails = (s: Sequence): boolean => checkInvariants(s, runSequence(target, buffers, s)).length > 0;
      const small = shrink(seq, fails).seq;
      const r = runSequence(target, buffers, small);
      const report = `${formatSequence(small, (i) => outcomeText(r, i))}\n  violations:\n${checkInvariants(small, r).map((v) => `    ${v}`).join('\n')}`;
      findings.push({ sequence: n, report, length: small.ops.length, signature });
    });
  } finally {
    buffers.close();
  }
  return { sequences: sequences.length, ops, findings, known: new Map() };
}
