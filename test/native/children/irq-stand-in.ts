// Child of test/native/irq-stand-in.test.ts (`node --import register-ts.mjs`):
// the stand-in's vectors through the library's own IrqSet, in a process of
// their own so that its eventfds and its exit can be checked.
//   close      a raiser mid-run and a wait() pending on each vector, then
//              close(): the waiters get EBADF, no eventfd of ours is left, and
//              the process returns to exit on its own (no libuv handle left).
//   idle       awaits wait() in a loop (its ref kept between awaits), then
//              returns with the stand-in open and its vector idle: the
//              process must exit on its own (the ref was dropped after the last).
//   teardown   the main thread and a worker each return with a stand-in open,
//              a listener on it and its raiser still writing: environment
//              teardown must stop the raiser and close every handle (a handle
//              left aborts a worker: "uv_loop_close() while having open handles").
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { nativeIrqHostProbe } from '../../../lib/native/irq-host.js';
import { VfioError } from '../../../lib/errors.js';
import { eventfdSet, newEventfds } from '../../hil/eventfds.js';

const mode = process.argv[2] ?? (isMainThread ? 'close' : 'teardown');
const probe = nativeIrqHostProbe()!;

if (mode === 'close') {
  const base = eventfdSet();
  const s = probe.open(2);
  const set = s.irqs();
  const [v0, v1] = set.vectors as [NonNullable<typeof set.vectors[0]>, NonNullable<typeof set.vectors[0]>];
  const opened = newEventfds(base).length;
  s.raise(0, { events: 1_000_000, gapMinNs: 20_000, gapMaxNs: 40_000, seed: 7 });
  let got = 0n;
  for (let k = 0; k < 5; k++) {
    got += await v0.wait();
    s.ack();
  }
  const pending = [v0.wait(), v1.wait()].map((p) => p.then(() => 'resolved', (e: unknown) => (e instanceof VfioError ? e.code : String(e))));
  s.close();
  const outcomes = await Promise.all(pending);
  console.log(JSON.stringify({ opened, got: String(got), outcomes, closed: [v0.closed, v1.closed, set.disabled], left: newEventfds(base) }));
} else if (mode === 'idle') {
  const s = probe.open(1);
  const v = s.irqs().vectors[0]!;
  s.raise(0, { events: 1_000_000, gapMinNs: 10_000, gapMaxNs: 20_000, seed: 13 });
  let got = 0n;
  for (let k = 0; k < 50; k++) {
    got += await v.wait();
    s.ack();
  }
  console.log(JSON.stringify({ got: String(got) }));
  (globalThis as { keep?: unknown }).keep = s;
} else if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url), { execArgv: process.execArgv, argv: ['teardown'] });
  const fromWorker = await new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const workerExit = await new Promise<number>((resolve) => worker.once('exit', resolve));
  const s = probe.open(1);
  const v = s.irqs().vectors[0]!;
  let seen = 0;
  v.addEventListener('interrupt', () => { seen++; s.ack(); });
  s.raise(0, { events: 1_000_000, gapMinNs: 10_000, gapMaxNs: 20_000, seed: 3 });
  await v.wait();
  console.log(JSON.stringify({ fromWorker, workerExit, seen: seen > 0 }));
  (globalThis as { keep?: unknown }).keep = s;
} else {
  const s = probe.open(1);
  const v = s.irqs().vectors[0]!;
  v.addEventListener('interrupt', () => s.ack());
  s.raise(0, { events: 1_000_000, gapMinNs: 10_000, gapMaxNs: 20_000, seed: 5 });
  const n = await v.wait();
  parentPort!.postMessage({ count: String(n) });
  (globalThis as { keep?: unknown }).keep = s;
}
