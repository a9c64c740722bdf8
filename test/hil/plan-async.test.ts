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
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Backend, Container, Group } from '../../lib/backend.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStall, HEAP_COLLECTED_NOTE, runStallBench, stallSize, watchLoop } from '../../lib/bench/stall.js';
import { buildPlan, checkLimits, mapBatch, mapBatchAsync, unmapBatch, BatchError } from '../../lib/plan/index.js';
import { forgetLimits } from '../../lib/plan/limits.js';
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
const setCpus = (tid: number, cpus: string) => expect(spawnSync('taskset', ['-p', '-c', cpus, String(tid)]).status).toBe(0);

describe.skipIf(!onVfioHost)(`the event-loop stall table on the real kernel (${SKIP_REASON})`, () => {
  it('the stall table: the sync map holds the loop for the pin, the async one does not (idle baseline beside)', async () => {
    const dev = testDevice();
    const mem = readFileSync('/proc/meminfo', 'utf8').match(/^(MemTotal|MemAvailable):\s+\d+ kB$/gm)!.join(', ');
    const picked = stallSize(false, null);
    const s = await runStallBench({ backend: await nativeBackend(), group: dev.group, rounds: 3 });
    console.log(`[plan-async] guest ${mem}; region ${picked.reason}\n${formatStall(s)}`);
    expect(s.reason).toBeNull();
    // Nothing left mapped between phases; the lane's process exposes gc, so each phase started on a collected heap.
    expect(s.notes.filter((n) => n !== HEAP_COLLECTED_NOTE)).toEqual([]);
    expect(s.notes.includes(HEAP_COLLECTED_NOTE)).toBe(typeof (globalThis as { gc?: unknown }).gc === 'function');
    expect(s.offLoop).toBe(true);
    const [idle, sync, async, chunked] = s.phases;
    expect(s.phases.map((p) => p.id)).toEqual(['idle', 'sync', 'async', 'async-chunked']);
    expect(async!.entries).toBe(1);
    expect(chunked!.entries).toBe(s.size / (2 << 20));
    // The sync map holds the loop for the whole map: each round's stall covers it, and the interval
    // hardly ticks (once before, a few times in the 5 ms after). The async one leaves the loop turning:
    // the interval ticks on through the map, and in the median round no gap comes near the map's length.
    // (Not asserted against the 10 ms target: a loaded host starves the TCG guest for hundreds of ms
    // even when nothing runs, as the idle row shows.)
    sync!.longestMs.forEach((v, i) => expect(v).toBeGreaterThan(sync!.wallMs[i]! * 0.8));
    expect(sync!.ticks).toBeLessThanOrEqual(s.rounds * 10);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    for (const p of [async!, chunked!]) {
      expect(p.ticks, `${p.id}: the loop ticks through the map`).toBeGreaterThan(total(p.wallMs) / 20);
      expect(med(p.longestMs), `${p.id}: the median round's stall is not the map`).toBeLessThan(med(p.wallMs) / 2);
    }
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

  // A diagnosis (~1-1.5 min of TCG), on request only (VFIO_HIL_DIAGNOSE=1;
  // in the lane through VFIO_HIL_EXEC, scripts/hil/README.md): turning the
  // lock tracepoints on patches live kernel text, and under TCG that once
  // oopsed the guest (int3 in __schedule, built kernel), which took the whole
  // boot's remaining tests with it. Its findings are in the README.
  it.skipIf(process.env['VFIO_HIL_DIAGNOSE'] !== '1')('where the async stall comes from: the guest\'s own jitter, lock contention on the JS thread, thread placement (vCPUs)', async () => {
    const size = stallSize(false, null).size;
    const b = backend.allocBuffer({ size, backing: '4k', prefault: true });
    const c = container;
    const me = process.pid;
    const cpusWas = /: (\S+)\s*$/.exec(spawnSync('taskset', ['-p', '-c', String(me)], { encoding: 'utf8' }).stdout)?.[1] ?? '0-1';
    try {
      const one = buildPlan([{ vaddr: b.vaddr, iova: IOVA, size }], 'coalesced', c.info());
      const chunked = buildPlan([{ vaddr: b.vaddr, iova: IOVA, size }], 'coalesced', c.info(), { maxEntrySize: 2n << 20n });
      await mapBatchAsync(c, one); // the pool threads exist from here on
      unmapBatch(c, one);

      // 1. Which threads run, and on which vCPU, while the pool pins (sampled from the loop every 2 ms).
      const seen = new Map<string, number>();
      const sampler = setInterval(() => {
        const all = tasks();
        const main = all.find((t) => t.tid === me);
        for (const t of all) {
          if (t.tid === me || (t.state !== 'R' && t.state !== 'D')) continue;
          const k = `main@vCPU${main?.cpu} other thread ${t.tid}(${t.comm},${t.state})@vCPU${t.cpu}`;
          seen.set(k, (seen.get(k) ?? 0) + 1);
        }
      }, 2);
      await mapBatchAsync(c, one);
      clearInterval(sampler);
      unmapBatch(c, one);
      console.log(`[plan-async] threads seen running while the pool pins ${size >> 20n} MiB: ${[...seen].map(([k, n]) => `${k} x${n}`).join(', ') || 'none'}`);

      // 2. Does the JS thread wait on a kernel lock (mmap_lock: V8's mmap/munmap against the pinning thread's
      // pin_user_pages_remote) during the async map? lock:contention_begin/end, this process's threads only.
      const T = '/sys/kernel/tracing';
      if (!existsSync(`${T}/trace`)) spawnSync('mount', ['-t', 'tracefs', 'nodev', T]);
      if (existsSync(`${T}/events/lock/contention_begin`)) {
        const w = (f: string, v: string) => writeFileSync(`${T}/${f}`, v);
        w('trace', '');
        w('set_event_pid', String(me));
        w('set_event', 'lock:contention_begin lock:contention_end');
        w('tracing_on', '1');
        const asy = await watchLoop(() => mapBatchAsync(c, one));
        w('tracing_on', '0');
        const trace = readFileSync(`${T}/trace`, 'utf8');
        w('set_event', '');
        w('set_event_pid', '');
        unmapBatch(c, one);
        // "node-123 [001] ..... 12.345678: contention_begin: 0xffff... (flags=READ)"
        const open = new Map<string, number>();
        const waits: Array<{ tid: string; ms: number; flags: string }> = [];
        const flagsOf = new Map<string, string>();
        for (const m of trace.matchAll(/-(\d+)\s+\[\d+\]\s+(?:\S+\s+)?([\d.]+): contention_(begin|end): (0x[0-9a-f]+)(?: \(flags=([^)]*)\))?/g)) {
          const key = `${m[1]} ${m[4]}`;
          if (m[3] === 'begin') { open.set(key, Number(m[2])); flagsOf.set(key, m[5] ?? ''); } else if (open.has(key)) {
            waits.push({ tid: m[1]!, ms: (Number(m[2]) - open.get(key)!) * 1000, flags: flagsOf.get(key)! });
            open.delete(key);
          }
        }
        const mainWaits = waits.filter((x) => Number(x.tid) === me);
        const sumMain = mainWaits.reduce((t, x) => t + x.ms, 0);
        const top = [...mainWaits].sort((x, y) => y.ms - x.ms).slice(0, 5).map((x) => `${x.ms.toFixed(2)} ms (${x.flags})`);
        console.log(`[plan-async] lock contention during one async map (${asy.wallMs.toFixed(0)} ms, longest loop gap ${Math.max(...asy.gaps).toFixed(1)} ms): `
          + `${waits.length} waits in this process, ${mainWaits.length} on the JS thread totalling ${sumMain.toFixed(2)} ms, longest ${top.join(', ') || '-'}; `
          + `other threads ${waits.length - mainWaits.length} waits, longest ${Math.max(0, ...waits.filter((x) => Number(x.tid) !== me).map((x) => x.ms)).toFixed(2)} ms`);
      } else {
        console.log(`[plan-async] no lock:contention tracepoints here (${existsSync(`${T}/events`) ? 'tracefs without them' : 'no tracefs'})`);
      }

      // 3. What the JS thread itself spends in mapBatchAsync before it returns (the library's share of a
      // stall): the limits check (lib/plan/limits.ts: /proc reads, RLIMIT) and the job's start (runPlanAsync).
      const limitsMs: number[] = [];
      const startMs: number[] = [];
      const callMs: number[] = [];
      for (let r = 0; r < 5; r++) {
        let t = performance.now();
        forgetLimits(c);
        checkLimits(c, one);
        limitsMs.push(performance.now() - t);
        t = performance.now();
        const job = c.runPlanAsync!('map', one.entries);
        startMs.push(performance.now() - t);
        await job;
        unmapBatch(c, one);
        forgetLimits(c);
        t = performance.now();
        const whole = mapBatchAsync(c, one);
        callMs.push(performance.now() - t);
        await whole;
        unmapBatch(c, one);
      }
      const f = (xs: number[]) => xs.map((v) => v.toFixed(2)).join(' / ');
      console.log(`[plan-async] the JS thread's own time, ms, 5 rounds: checkLimits ${f(limitsMs)}; runPlanAsync start ${f(startMs)}; `
        + `mapBatchAsync until it returns ${f(callMs)}`);

      // 4. The same async maps with the threads placed by hand, each beside an idle watch of the same length.
      const row = async (what: string) => {
        const cells: string[] = [];
        for (let r = 0; r < 3; r++) {
          const asy = await watchLoop(() => mapBatchAsync(c, one));
          unmapBatch(c, one);
          const chk = await watchLoop(() => mapBatchAsync(c, chunked));
          unmapBatch(c, chunked);
          const idle = await watchLoop(() => new Promise((res) => setTimeout(res, asy.wallMs)));
          const g = (x: { gaps: number[]; wallMs: number }) => `${Math.max(...x.gaps).toFixed(1)} (${(x.gaps.filter((v) => v > 5).length * 1000 / x.wallMs).toFixed(1)}/s > 5 ms)`;
          cells.push(`idle ${g(idle)} / async ${g(asy)} in ${asy.wallMs.toFixed(0)} ms / 2 MiB entries ${g(chk)}`);
        }
        console.log(`[plan-async] ${what}: longest gap, ms: ${cells.join('; ')}`);
      };
      await row('as scheduled');
      setCpus(me, '0');
      for (const t of tasks()) if (t.tid !== me) setCpus(t.tid, '1');
      await row('JS thread on vCPU 0, every other thread (the pool) on vCPU 1');
      for (const t of tasks()) setCpus(t.tid, '0');
      await row('every thread on vCPU 0');
    } finally {
      for (const t of tasks()) spawnSync('taskset', ['-p', '-c', cpusWas, String(t.tid)]);
      c.unmapAll();
      b.close();
    }
  }, 900_000);

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
