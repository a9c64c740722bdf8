// Why async plans exist, on the real type1 driver: pinning a big region of
// 4 KiB pages in one MAP_DMA holds the event loop for the whole pin when it
// runs on the JS thread, and not when it runs on libuv's pool. The stall table
// of `vfio bench --suite irq` (lib/bench/stall.ts) measures it: a 1 ms
// setInterval watches the loop, beside the idle loop's own gaps in the same
// run. The region is the largest the guest holds (1 GiB of its 2 GiB when
// MemAvailable allows, stated in the output). Asserted: the sync stall is the
// pin, the async one is not (ratios measured in this run); the 10 ms target is
// printed, with where the async stall comes from: the idle baseline, the GCs,
// the vCPU the pool thread pins on, and the same with the threads placed by
// hand (main thread and pool on different vCPUs, then all on one).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Backend, Container, Group } from '../../lib/backend.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStall, runStallBench, stallSize, watchLoop } from '../../lib/bench/stall.js';
import { buildPlan, mapBatch, mapBatchAsync, unmapBatch, BatchError } from '../../lib/plan/index.js';
import { onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const SIZE = 512n << 20n;
const IOVA = 1n << 32n;

interface Task { tid: number; comm: string; state: string; cpu: number }
/** This process's threads: name, state (R running, D waiting in the kernel, S asleep) and the CPU each last ran on. */
function tasks(): Task[] {
  const out: Task[] = [];
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      out.push({ tid: Number(t), comm: stat.slice(stat.indexOf('(') + 1, close), state: f[0]!, cpu: Number(f[36]) });
    } catch { /* exited */ }
  }
  return out;
}
const poolThreads = () => tasks().filter((t) => t.comm.startsWith('libuv-worker'));
const setCpus = (tid: number, cpus: string) => expect(spawnSync('taskset', ['-p', '-c', cpus, String(tid)]).status).toBe(0);

describe.skipIf(!onVfioHost)(`the event-loop stall table on the real kernel (${SKIP_REASON})`, () => {
  it('the stall table: the sync map holds the loop for the pin, the async one does not (idle baseline beside)', async () => {
    const dev = testDevice();
    const mem = readFileSync('/proc/meminfo', 'utf8').match(/^(MemTotal|MemAvailable):\s+\d+ kB$/gm)!.join(', ');
    const picked = stallSize(false, null);
    const s = await runStallBench({ backend: await nativeBackend(), group: dev.group, rounds: 3 });
    console.log(`[plan-async] guest ${mem}; region ${picked.reason}\n${formatStall(s)}`);
    expect(s.reason).toBeNull();
    expect(s.notes).toEqual([]);
    expect(s.offLoop).toBe(true);
    const [idle, sync, async, chunked] = s.phases;
    expect(s.phases.map((p) => p.id)).toEqual(['idle', 'sync', 'async', 'async-chunked']);
    expect(async!.entries).toBe(1);
    expect(chunked!.entries).toBe(s.size / (2 << 20));
    // Each sync round's stall covers its map; async ones are a fraction of it.
    sync!.longestMs.forEach((v, i) => expect(v).toBeGreaterThan(sync!.wallMs[i]! * 0.8));
    expect(async!.worstMs).toBeLessThan(sync!.worstMs / 4);
    expect(chunked!.worstMs).toBeLessThan(sync!.worstMs / 4);
    expect(idle!.ticks).toBeGreaterThan(0);
  }, 600_000);

});

describe.skipIf(!onVfioHost)(`async plans on the real kernel (${SKIP_REASON})`, () => {
  let backend: Backend;
  let container: Container;
  let group: Group;

  beforeAll(async () => {
    const dev = testDevice();
    backend = await nativeBackend();
    container = backend.openContainer();
    group = backend.openGroup(dev.group);
    group.setContainer(container);
    container.setIommu('type1v2');
  });

  afterAll(() => {
    container?.unmapAll();
    group?.close();
    container?.close();
  });

  it('where the async stall comes from: thread placement (vCPUs) and the guest\'s own jitter', async () => {
    const size = stallSize(false, null).size;
    const b = backend.allocBuffer({ size, backing: '4k', prefault: true });
    const c = container;
    try {
      const plan = buildPlan([{ vaddr: b.vaddr, iova: IOVA, size }], 'coalesced', c.info());
      await mapBatchAsync(c, plan); // the pool threads exist from here on
      unmapBatch(c, plan);
      // Which vCPU the pinning thread is on while it pins, sampled from the loop every 2 ms.
      const seen: string[] = [];
      const sampler = setInterval(() => {
        const me = tasks().find((t) => t.tid === process.pid);
        const busy = poolThreads().filter((t) => t.state === 'R' || t.state === 'D');
        for (const t of busy) seen.push(`main@${me?.cpu} ${t.comm}(${t.state})@${t.cpu}`);
      }, 2);
      await mapBatchAsync(c, plan);
      clearInterval(sampler);
      unmapBatch(c, plan);
      const hist = new Map<string, number>();
      for (const x of seen) hist.set(x, (hist.get(x) ?? 0) + 1);
      console.log(`[plan-async] while the pool pins ${size >> 20n} MiB: ${[...hist].map(([k, n]) => `${k} x${n}`).join(', ') || 'no sample saw it running'}`);

      const me = process.pid;
      const cpusWas = /: (\S+)\s*$/.exec(spawnSync('taskset', ['-p', '-c', String(me)], { encoding: 'utf8' }).stdout)?.[1] ?? '0-1';
      const row = async (what: string) => {
        const phases: string[] = [];
        for (let r = 0; r < 2; r++) {
          const idle = await watchLoop(() => new Promise((res) => setTimeout(res, 300)));
          const asy = await watchLoop(() => mapBatchAsync(c, plan));
          unmapBatch(c, plan);
          const syn = await watchLoop(() => mapBatch(c, plan));
          unmapBatch(c, plan);
          const w = (g: number[]) => Math.max(...g).toFixed(1);
          const big = asy.gaps.filter((g) => g > 5).map((g) => g.toFixed(1));
          phases.push(`idle ${w(idle.gaps)} / async ${w(asy.gaps)} (map ${asy.wallMs.toFixed(0)} ms; gaps > 5 ms: ${big.join(' ') || 'none'}) / sync ${w(syn.gaps)} ms`);
        }
        console.log(`[plan-async] ${what}: longest gap ${phases.join('; ')}`);
      };
      try {
        await row('as scheduled');
        setCpus(me, '0');
        for (const t of poolThreads()) setCpus(t.tid, '1');
        await row('main thread on vCPU 0, pool threads on vCPU 1');
        for (const t of tasks()) setCpus(t.tid, '0');
        await row('every thread on vCPU 0');
      } finally {
        for (const t of tasks()) spawnSync('taskset', ['-p', '-c', cpusWas, String(t.tid)]);
      }
    } finally {
      c.unmapAll();
      b.close();
    }
  }, 600_000);

  it('an abort mid-pin unwinds: nothing stays mapped, the region maps again', async () => {
    using buf = backend.allocBuffer({ size: SIZE, backing: '4k', prefault: true });
    const info = container.info();
    // One entry per 2 MiB, so the abort lands between entries.
    const plan = buildPlan([{ vaddr: buf.vaddr, iova: IOVA, size: SIZE }], 'coalesced', info, { maxEntrySize: 2n << 20n });
    const ac = new AbortController();
    const running = mapBatchAsync(container, plan, { signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    const e = await running.then(() => null, (x: unknown) => x);
    if (e !== null) {
      expect(e).toBeInstanceOf(BatchError);
      expect((e as BatchError).code).toBe('ECANCELED');
      expect((e as BatchError).leaked.length).toBe(0);
    }
    expect(container.unmap(IOVA, SIZE)).toBe(e === null ? SIZE : 0n);
    const again = mapBatch(container, plan);
    expect(again.bytes).toBe(SIZE);
    expect(container.unmap(IOVA, SIZE)).toBe(SIZE);
    console.log(`[plan-async] abort after 5 ms of ${plan.count} entries: ${e === null ? 'finished first' : `stopped at entry ${(e as BatchError).index}, unwound`}`);
  });
});
