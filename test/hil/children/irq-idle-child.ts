// Child of edu-irq.test.ts: enables edu's MSI in a worker thread and in the
// main thread and then returns without closing anything. It must exit on its
// own: an idle vector does not keep the event loop alive, and environment
// teardown (worker first, then the process) closes every eventfd and libuv
// handle (a handle left open aborts a worker: "uv_loop_close() while having
// open handles"). One raised interrupt is awaited first: a pending wait() does
// keep the loop alive until it resolves.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { nativeBackend } from '../native-backend.js';
import { EduIrq } from '../edu-irq.js';
import { Edu } from '../edu.js';

const group = Number(process.env.VFIO_TEST_GROUP);
const t0 = Date.now();
/** Progress on stderr: the parent shows it if the child hangs. */
const step = (what: string): void => {
  process.stderr.write(`[${isMainThread ? 'main' : 'worker'} +${Date.now() - t0} ms] ${what}\n`);
};
const address = process.env.VFIO_TEST_DEVICE ?? '';

async function enable(): Promise<{ edu: EduIrq; vector: import('../../../lib/irq.js').IrqVector }> {
  const backend = await nativeBackend();
  const container = backend.openContainer();
  const grp = backend.openGroup(group);
  grp.setContainer(container);
  container.setIommu('type1v2');
  const device = grp.openDevice(address);
  new Edu(device);
  const set = device.irqs('msi');
  step('msi enabled');
  return { edu: new EduIrq(device), vector: set.vectors[0]! };
}

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url), { execArgv: process.execArgv });
  const fromWorker = await new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  step('worker reported');
  const workerExit = await new Promise<number>((resolve) => worker.once('exit', resolve));
  step(`worker exited ${workerExit}`);
  const { edu, vector } = await enable();
  // Delivered on this thread's loop: the raise happens after wait() was armed.
  const pending = vector.wait({ timeoutMs: 20_000 });
  edu.raise(0x4);
  const count = await pending;
  edu.ack(0x4);
  console.log(JSON.stringify({ fromWorker, workerExit, count: String(count) }));
  step('returning with everything open');
} else {
  const { edu, vector } = await enable();
  const pending = vector.wait({ timeoutMs: 20_000 });
  edu.raise(0x8);
  const count = await pending;
  edu.ack(0x8);
  parentPort!.postMessage({ count: String(count) });
  step('returning with everything open');
  // ...and returns with the device, its group, its container and the vector open.
}
