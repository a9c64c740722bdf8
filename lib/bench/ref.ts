// `vfio bench --ref`: the same plans, timed by a small C program issuing the
// same ioctls (scripts/ref/ref.c), so the addon's overhead over plain C is a
// figure rather than a guess. The program is compiled with the system cc on
// first use into a cache directory, keyed by a hash of its source.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR } from '../backend.js';
import type { KeptPlan } from './planner.js';

/** lib/bench and dist/bench both sit two levels below the package root. */
export const REF_SOURCE = fileURLToPath(new URL('../../scripts/ref/ref.c', import.meta.url));

export function refCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'node-vfio');
}

/** Compiles ref.c unless this exact source was built before; returns the binary's path. */
export function buildRef(cacheDir = refCacheDir(), source = REF_SOURCE): string {
  const text = readFileSync(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const bin = join(cacheDir, `vfio-ref-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(cacheDir, { recursive: true });
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-Wall', '-o', bin, source], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not build the C reference with ${cc} (${source}): ${(err as Error).message}\n${stderr}`);
  }
  return bin;
}

const h = (v: bigint | number) => v.toString(16);

/** The input ref.c reads: the group, then each plan with vaddrs as offsets into its own buffer. */
export function refInput(group: number, plans: Array<[string, KeptPlan]>, reps: number, warmup: number): string {
  const lines = [`group ${group}`];
  plans.forEach(([, p], index) => {
    lines.push(`cell ${h(index)} ${p.backing} ${h(p.bufferSize)} ${p.op} ${h(reps)} ${h(warmup)} ${h(p.count)}`);
    for (let k = 0; k < p.count; k++) {
      const o = k * PLAN_STRIDE;
      lines.push(`${h(p.entries[o + PLAN_VADDR]! - p.bufferVaddr)} ${h(p.entries[o + PLAN_IOVA]!)} ${h(p.entries[o + PLAN_SIZE]!)}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

export interface RefOutcome {
  samples: Map<string, number[]>;
  errors: string[];
}

export function parseRefOutput(stdout: string, ids: string[]): RefOutcome {
  const samples = new Map<string, number[]>();
  const errors: string[] = [];
  for (const line of stdout.split('\n')) {
    const cell = /^cell (\d+)((?: \d+)*)$/.exec(line);
    const err = /^error (\d+) (\d+) (.*)$/.exec(line);
    if (cell) {
      const id = ids[Number(cell[1])];
      if (id) samples.set(id, cell[2]!.trim().split(' ').filter(Boolean).map(Number));
    } else if (err) {
      errors.push(`C reference, ${ids[Number(err[1])] ?? `cell ${err[1]}`}: ${err[3]} failed, errno ${err[2]}`);
    }
  }
  return { samples, errors };
}

/** Runs the reference over the kept plans. The group must not be open in this process (a group opens once). */
export function runRef(bin: string, group: number, plans: Map<string, KeptPlan>, reps: number, warmup: number): RefOutcome {
  const list = [...plans];
  const r = spawnSync(bin, [], { input: refInput(group, list, reps, warmup), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const out = parseRefOutput(r.stdout, list.map(([id]) => id));
  if (r.status !== 0) out.errors.push(`C reference exited with ${r.status}: ${r.stderr.trim()}`);
  return out;
}
