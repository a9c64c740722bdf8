// On a VFIO host: a worker opens the container and group, maps a buffer and
// exits without closing anything (argv[3] 'exit'), or is terminated by the
// main thread while it spins in JS ('terminate'). Its environment teardown
// must unmap, unset and close either way, so that the main thread can open the
// (exclusive) group again and the pages it pinned are no longer charged.
'use strict';
const { rawSpace } = require('./raw-space.cjs');
const fs = require('node:fs');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const lockedKb = () => Number(/^VmLck:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

if (isMainThread) {
  const root = process.argv[2];
  const group = Number(process.env.VFIO_TEST_GROUP);
  const before = lockedKb();
  const mode = process.argv[3] ?? 'exit';
  const w = new Worker(__filename, { workerData: { root, group, mode } });
  let duringKb = -1;
  w.on('message', (m) => {
    duringKb = m;
    if (mode === 'terminate') w.terminate();
  });
  w.on('exit', (code) => {
    const addon = require('node-gyp-build')(root);
    let reopened = false;
    try {
      addon.openGroup(group).close();
      reopened = true;
    } catch (e) {
      reopened = e.code;
    }
    console.log(JSON.stringify({ code, pinnedKb: duringKb - before, afterKb: lockedKb() - before, reopened }));
  });
} else {
  const addon = require('node-gyp-build')(workerData.root);
  const c = addon.openContainer();
  const g = addon.openGroup(workerData.group);
  g.setContainer(c);
  c.setIommu(3);
  const space = rawSpace(c);
  const b = addon.allocBuffer(1n << 21n, '4k', 0n, true);
  space.map(b.vaddr, 0x100000n, b.size, 3);
  globalThis.keep = { c, g, b };
  parentPort.postMessage(lockedKb());
  // Busy in JS, never returning to the loop: only terminate() ends it.
  if (workerData.mode === 'terminate') for (;;);
}
